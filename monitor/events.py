"""Group Matches into Events: one per rule while its matches keep arriving within the window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.clock import parse_iso
from monitor.store import Store
from monitor.store import events as q


@dataclass(frozen=True)
class Assignment:
    """Where one Match went: the Event id, and whether the Event was opened by it."""

    event_id: int
    opened: bool


def is_expired(last_seen_at: str, window: timedelta, now: datetime) -> bool:
    """An Event expires when no match joined it for a whole window."""
    return now - parse_iso(last_seen_at) > window


def assign(
    store: Store,
    *,
    rule_id: str,
    key: str,
    title: str,
    severity: str,
    window: timedelta,
    now: datetime,
) -> Assignment:
    """Join the rule's open Event, or open a new one (closing an expired one first)."""
    current = q.open_event_for(store, rule_id, key)
    if current is not None and is_expired(current["last_seen_at"], window, now):
        q.close_event(store, int(current["id"]), now)
        current = None
    if current is not None:
        return Assignment(int(current["id"]), opened=False)
    return Assignment(q.open_event(store, rule_id, key, title, severity, now), opened=True)


def close_expired(store: Store, windows: dict[str, timedelta], now: datetime) -> list[int]:
    """Close every open Event whose rule's window passed without a new match."""
    closed: list[int] = []
    default = timedelta(hours=24)
    with store.transaction():
        for event in q.open_events(store):
            window = windows.get(str(event["rule_id"]), default)
            if is_expired(event["last_seen_at"], window, now):
                q.close_event(store, int(event["id"]), now)
                closed.append(int(event["id"]))
    return closed
