"""When to poll a source next: its interval, what the server asks for, backoff after failures."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_SERVER_DELAY = timedelta(hours=24)


def jittered(seconds: float, rng: random.Random, spread: float = 0.1) -> float:
    """Spread polls so that sources with one interval do not all fire in the same second."""
    return seconds * rng.uniform(1 - spread, 1 + spread)


def next_interval(
    *,
    every: timedelta,
    current: float | None,
    new_items: int,
    max_every: timedelta | None,
) -> float:
    """Return the source's interval in seconds: adaptive sources slow down while they are quiet."""
    base = every.total_seconds()
    if max_every is None or new_items > 0 or current is None:
        return base
    return min(max(current, base) * 1.5, max_every.total_seconds())


def after_success(
    *,
    now: datetime,
    interval: float,
    rng: random.Random,
    max_age: float | None = None,
    ttl: float | None = None,
) -> datetime:
    """Schedule the next poll after a success; the server's hints only ever lengthen the wait."""
    wait = jittered(interval, rng)
    for hint in (max_age, ttl):
        if hint is not None and hint > wait:
            wait = min(hint, MAX_SERVER_DELAY.total_seconds())
    return now + timedelta(seconds=wait)


def after_failure(
    *,
    now: datetime,
    every: timedelta,
    failures: int,
    rng: random.Random,
    cap: timedelta,
    retry_after: float | None = None,
) -> datetime:
    """Back off exponentially with jitter up to ``cap``, and keep probing at the cap forever."""
    base = every.total_seconds() * 2 ** min(max(failures - 1, 0), 30)
    wait = jittered(min(base, cap.total_seconds()), rng)
    wait = min(wait, cap.total_seconds())
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_SERVER_DELAY.total_seconds()))
    return now + timedelta(seconds=wait)


# A feed whose poll costs more than this much CPU (parsing in a worker plus storing) is
# polled less often...
SLOW_POLL_SECONDS = 1.0
# ...at most once per this many times that cost: at most about 2% of one core each.
SLOW_POLL_FACTOR = 60


def costly_poll_wait(cpu_seconds: float) -> timedelta | None:
    """The least wait before the next poll of a feed this costly to parse and store, or None.

    A hostile or bloated feed that parses in just under the parse time limit, or brings
    megabytes of new text on every poll, would otherwise take seconds of CPU on every poll
    while every other feed's parse and store waits.
    """
    if cpu_seconds <= SLOW_POLL_SECONDS:
        return None
    return timedelta(seconds=cpu_seconds * SLOW_POLL_FACTOR)
