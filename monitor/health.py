"""Source health: one alert when a source fails too long or goes silent, one on recovery."""

from __future__ import annotations

import itertools
import statistics
from datetime import datetime, timedelta

from monitor.alerts.render import render_health
from monitor.clock import parse_iso
from monitor.config import HealthSpec
from monitor.store import Store
from monitor.store import alerts as alert_q
from monitor.store import events as event_q
from monitor.store import sources as source_q

RULE = "source-health"


def usual_gap(times: list[datetime]) -> timedelta | None:
    """Return the median gap between a source's new articles, or None with too little history."""
    ordered = sorted(set(times))
    if len(ordered) < 5:
        return None
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered)]
    positive = [g for g in gaps if g > 0]
    return timedelta(seconds=statistics.median(positive)) if positive else None


def is_silent(
    last_new_at: datetime | None, gap: timedelta | None, now: datetime, spec: HealthSpec
) -> bool:
    """A source is silent when nothing new came for far longer than its usual rhythm."""
    if last_new_at is None or gap is None:
        return False
    limit = max(gap * spec.silent_factor, spec.silent_min)
    return now - last_new_at > limit


def _open(
    store: Store, channels: list[str], source_id: str, kind: str, detail: str, now: datetime
) -> None:
    key = f"{kind}:{source_id}"
    if event_q.open_event_for(store, RULE, key) is not None:
        return
    event_id = event_q.open_event(store, RULE, key, f"{source_id} {kind}", "warning", now)
    rendered = render_health(source_id=source_id, kind=kind, detail=detail, event_id=event_id)
    for channel in channels:
        alert_q.enqueue(store, event_id, channel, "open", rendered.title, rendered.body, now)


def _close(store: Store, channels: list[str], source_id: str, kind: str, now: datetime) -> None:
    event = event_q.open_event_for(store, RULE, f"{kind}:{source_id}")
    if event is None:
        return
    event_id = int(event["id"])
    event_q.close_event(store, event_id, now)
    since = parse_iso(str(event["first_seen_at"]))
    detail = (
        f"Back to normal after {_human(now - since)} ({kind} since {since:%Y-%m-%d %H:%M} UTC)."
    )
    rendered = render_health(
        source_id=source_id, kind="recovered", detail=detail, event_id=event_id
    )
    for channel in channels:
        alert_q.enqueue(store, event_id, channel, "recovered", rendered.title, rendered.body, now)


def after_poll(
    store: Store,
    spec: HealthSpec,
    channels: list[str],
    source_id: str,
    now: datetime,
    *,
    new_items: int = 0,
) -> None:
    """Open or close the source's health Events after a poll; call inside its transaction."""
    if not channels:
        return
    row = source_q.get_source(store, source_id)
    if row is None:
        return
    failing_since = row["failing_since"]
    if failing_since:
        since = parse_iso(str(failing_since))
        if now - since >= spec.failing_after:
            detail = (
                f"Failing for {_human(now - since)} ({row['failures']} polls in a row)."
                f" Last error: {row['last_error']}"
            )
            _open(store, channels, source_id, "failing", detail, now)
        return
    _close(store, channels, source_id, "failing", now)
    if new_items > 0:
        _close(store, channels, source_id, "silent", now)
        return
    last_new = parse_iso(str(row["last_new_at"])) if row["last_new_at"] else None
    # Silence takes at least silent_min without news: only then is the usual rhythm worth
    # reading (it is read from the source's 20 newest articles, after every poll otherwise).
    if last_new is None or now - last_new <= spec.silent_min:
        return
    gap = usual_gap([parse_iso(t) for t in source_q.recent_new_times(store, source_id)])
    if is_silent(last_new, gap, now, spec):
        assert gap is not None
        detail = (
            f"No new items for {_human(now - last_new)}; it usually publishes every {_human(gap)}."
        )
        _open(store, channels, source_id, "silent", detail, now)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
