"""Queries on ``events``: find the open Event of a rule, open, join, close."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.clock import iso
from monitor.model import EventState
from monitor.store.db import Store


def open_event_for(store: Store, rule_id: str, key: str) -> dict[str, Any] | None:
    return store.one(
        "SELECT * FROM events WHERE rule_id = ? AND key = ? AND state = 'open'", (rule_id, key)
    )


def open_event(
    store: Store, rule_id: str, key: str, title: str, severity: str, now: datetime
) -> int:
    cursor = store.execute(
        "INSERT INTO events (rule_id, key, state, title, severity, first_seen_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (rule_id, key, EventState.OPEN, title, severity, iso(now), iso(now)),
    )
    return int(cursor.lastrowid or 0)


_SLICE = 500


def touch_event(store: Store, event_id: int, now: datetime, match_ids: list[int]) -> None:
    """Count matches that just joined an Event: articles, new sources, new stories.

    Sources and stories are kept per Event (``event_sources``, ``event_stories``), so a
    join costs the same however many matches the Event already has.
    """
    new_sources = new_stories = 0
    # In slices, as SQLite bounds the number of parameters (a frequency threshold can hold
    # thousands of waiting matches).
    for at in range(0, len(match_ids), _SLICE):
        ids = match_ids[at : at + _SLICE]
        marks = ", ".join("?" for _ in ids)
        joined = (
            f" FROM matches m JOIN articles a ON a.id = m.article_id WHERE m.id IN ({marks})"
            " AND m.event_id = ?"
        )
        new_sources += store.execute(
            "INSERT OR IGNORE INTO event_sources (event_id, source_id)"
            f" SELECT ?, a.source_id{joined}",
            (event_id, *ids, event_id),
        ).rowcount
        new_stories += store.execute(
            "INSERT OR IGNORE INTO event_stories (event_id, story)"
            f" SELECT ?, coalesce(a.story_id, a.id){joined}",
            (event_id, *ids, event_id),
        ).rowcount
    store.execute(
        "UPDATE events SET last_seen_at = max(last_seen_at, ?), article_count = article_count + ?,"
        " source_count = source_count + ?, story_count = story_count + ? WHERE id = ?",
        (iso(now), len(match_ids), new_sources, new_stories, event_id),
    )


def get_event(store: Store, event_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM events WHERE id = ?", (event_id,))


def mark_notified(store: Store, event_id: int, now: datetime, *, update: bool) -> None:
    """Remember what the last alert about this Event told its readers."""
    store.execute(
        "UPDATE events SET last_notified_at = ?, notified_sources = source_count,"
        " notified_stories = story_count, updates = updates + ? WHERE id = ?",
        (iso(now), int(update), event_id),
    )


def last_closed(store: Store, rule_id: str, key: str) -> dict[str, Any] | None:
    return store.one(
        "SELECT * FROM events WHERE rule_id = ? AND key = ? AND state = 'closed'"
        " ORDER BY closed_at DESC LIMIT 1",
        (rule_id, key),
    )


def close_event(store: Store, event_id: int, now: datetime) -> None:
    store.execute(
        "UPDATE events SET state = ?, closed_at = ? WHERE id = ?",
        (EventState.CLOSED, iso(now), event_id),
    )


def open_events(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM events WHERE state = 'open' ORDER BY id")


def list_events(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    return store.query(
        "SELECT e.*, (SELECT group_concat(DISTINCT a.source_id) FROM matches m"
        "  JOIN articles a ON a.id = m.article_id WHERE m.event_id = e.id) AS sources"
        " FROM events e ORDER BY e.last_seen_at DESC, e.id DESC LIMIT ?",
        (limit,),
    )


def count_events(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM events") or 0)
