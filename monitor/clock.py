"""Time comes from a Clock so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    def set(self, when: datetime) -> None:
        self._now = when


def iso(when: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC text for storage."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """Parse text written by :func:`iso`."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Parse ``90``, ``"30s"``, ``"10m"``, ``"1h30m"`` or ``"2d"`` into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '10m', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return _bounded(float(value), value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a duration such as '10m', got {value!r}")
    text = value.strip().lower().replace(" ", "")
    total = 0.0
    number = ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            total += float(number) * _UNITS[char]
            number = ""
        else:
            raise ValueError(f"invalid duration {value!r}: use a number with s, m, h, d or w")
    if number:
        total += float(number)
    return _bounded(total, value)


MAX_DURATION = timedelta(days=3650)


def _bounded(seconds: float, value: object) -> timedelta:
    """Refuse durations no schedule needs; timedelta itself overflows near 10**14 days."""
    if not seconds <= MAX_DURATION.total_seconds():  # also catches NaN and infinity
        raise ValueError(f"duration {value!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)
