"""Queries on the ``sources`` table: poll state and health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.clock import iso
from monitor.store.db import Store


def sync_sources(store: Store, sources: list[tuple[str, str, str]]) -> None:
    """Make sure every configured (id, kind, url) has a row; keep the poll state of known ones."""
    with store.transaction():
        for source_id, kind, url in sources:
            store.execute(
                "INSERT INTO sources (id, kind, url) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, url = excluded.url",
                (source_id, kind, url),
            )


def get_source(store: Store, source_id: str) -> dict[str, Any] | None:
    return store.one("SELECT * FROM sources WHERE id = ?", (source_id,))


def list_sources(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM sources ORDER BY id")


def record_success(
    store: Store,
    source_id: str,
    now: datetime,
    next_poll: datetime,
    *,
    new_items: int,
    etag: str | None = None,
    last_modified: str | None = None,
    warning: str = "",
) -> None:
    """Save a successful poll; it resets the failure count."""
    store.execute(
        "UPDATE sources SET last_poll_at = ?, last_success_at = ?, failures = 0,"
        " next_poll_at = ?, items_seen = items_seen + ?, etag = coalesce(?, etag),"
        " last_modified = coalesce(?, last_modified), warning = ? WHERE id = ?",
        (iso(now), iso(now), iso(next_poll), new_items, etag, last_modified, warning, source_id),
    )


def record_failure(
    store: Store, source_id: str, now: datetime, next_poll: datetime, error: str
) -> int:
    """Save a failed poll with its error; return the consecutive failure count."""
    store.execute(
        "UPDATE sources SET last_poll_at = ?, last_error = ?, last_error_at = ?,"
        " failures = failures + 1, next_poll_at = ? WHERE id = ?",
        (iso(now), error, iso(now), iso(next_poll), source_id),
    )
    return int(store.scalar("SELECT failures FROM sources WHERE id = ?", (source_id,)) or 0)
