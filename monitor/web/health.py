"""What /healthz reports: scheduler alive, database writable, age of the last completed cycle."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from monitor.store.dashboard import database_writable


class HealthProbe(Protocol):
    """What the daemon tells the web server about itself."""

    @property
    def max_cycle_age(self) -> timedelta:
        """Return how old the last completed cycle may be before the daemon counts as stuck."""
        ...

    def scheduler_alive(self) -> bool:
        """Return whether the scheduler still runs its jobs."""
        ...

    def last_cycle_at(self) -> datetime | None:
        """Return when the last cycle completed, or None before the first one."""
        ...


@dataclass
class StaticProbe:
    """A probe whose answers are plain attributes; for tests and tools."""

    alive: bool = True
    last_cycle: datetime | None = None
    max_cycle_age: timedelta = timedelta(minutes=5)

    def scheduler_alive(self) -> bool:
        """Return the ``alive`` attribute."""
        return self.alive

    def last_cycle_at(self) -> datetime | None:
        """Return the ``last_cycle`` attribute."""
        return self.last_cycle


@dataclass
class CycleProbe:
    """A probe for the daemon: ask ``is_alive`` and call ``cycle_completed`` after each cycle."""

    is_alive: Callable[[], bool]
    max_cycle_age: timedelta = timedelta(minutes=5)
    _last: datetime | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def cycle_completed(self, at: datetime) -> None:
        """Record that a cycle completed at ``at``."""
        with self._lock:
            self._last = at

    def scheduler_alive(self) -> bool:
        """Return what ``is_alive`` says; an exception counts as dead."""
        try:
            return bool(self.is_alive())
        except Exception:
            return False

    def last_cycle_at(self) -> datetime | None:
        """Return the time given to the last ``cycle_completed``."""
        with self._lock:
            return self._last


def health_report(probe: HealthProbe, writable_uri: str, now: datetime) -> dict[str, Any]:
    """Return the /healthz document; ``status`` is "ok" only when nothing is wrong."""
    problems: list[str] = []
    try:
        alive = bool(probe.scheduler_alive())
    except Exception as exc:
        alive = False
        problems.append(f"cannot ask the scheduler whether it is alive: {exc}")
    if not alive and not problems:
        problems.append("the scheduler is not running")
    writable, why = database_writable(writable_uri)
    if not writable:
        problems.append(why)
    age: float | None = None
    try:
        last = probe.last_cycle_at()
    except Exception as exc:
        problems.append(f"cannot ask when the last cycle completed: {exc}")
    else:
        if last is None:
            problems.append("no cycle has completed yet")
        else:
            if last.tzinfo is None:
                last = last.replace(tzinfo=UTC)  # the daemon's clock speaks UTC
            age = max(0.0, (now - last).total_seconds())
            limit = probe.max_cycle_age.total_seconds()
            if age > limit:
                problems.append(f"the last cycle completed {age:.0f}s ago, more than {limit:.0f}s")
    return {
        "status": "unhealthy" if problems else "ok",
        "scheduler_alive": alive,
        "database_writable": writable,
        "last_cycle_age_seconds": age,
        "problems": problems,
    }
