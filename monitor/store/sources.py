"""Queries on the ``sources`` table: poll state and health."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from monitor.clock import iso, parse_iso
from monitor.store.db import Store


def sync_sources(store: Store, sources: list[tuple[str, str, str]]) -> None:
    """Make sure every configured (id, kind, url) has a row; keep the poll state of known ones.

    When the configured URL changes, the source starts afresh: a stored redirect target, a
    ``gone`` state and the validators belonged to the old URL.
    """
    with store.transaction():
        for source_id, kind, url in sources:
            store.execute(
                "INSERT INTO sources (id, kind, url, config_url) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind",
                (source_id, kind, url, url),
            )
            store.execute(
                "UPDATE sources SET url = ?, config_url = ?, state = 'active', state_reason = '',"
                " etag = NULL, last_modified = NULL, next_poll_at = NULL, failures = 0,"
                " failing_since = NULL WHERE id = ? AND config_url != ?",
                (url, url, source_id, url),
            )


def get_source(store: Store, source_id: str) -> dict[str, Any] | None:
    return store.one("SELECT * FROM sources WHERE id = ?", (source_id,))


def list_sources(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM sources ORDER BY id")


def quota(store: Store, source_id: str) -> tuple[datetime | None, int, int]:
    """Return when a source's quota window opened (None: no window open), and how many new
    articles, and bytes of their text, it has used (see pipeline._Quota)."""
    row = store.one(
        "SELECT quota_since, quota_used, quota_bytes FROM sources WHERE id = ?", (source_id,)
    )
    if row is None or not row["quota_since"]:
        return None, 0, 0
    return parse_iso(str(row["quota_since"])), int(row["quota_used"]), int(row["quota_bytes"])


def save_quota(store: Store, source_id: str, since: datetime, used: int, used_bytes: int) -> None:
    store.execute(
        "UPDATE sources SET quota_since = ?, quota_used = ?, quota_bytes = ? WHERE id = ?",
        (iso(since), used, used_bytes, source_id),
    )


def record_success(
    store: Store,
    source_id: str,
    now: datetime,
    next_poll: datetime,
    *,
    new_items: int,
    interval: float,
    status: int | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    warning: str = "",
    new_url: str | None = None,
    forget_validators: bool = False,
) -> None:
    """Save a successful poll; it resets the failure count. ``forget_validators`` drops the
    ETag and Last-Modified, so that the next poll gets the whole feed again."""
    if forget_validators:
        etag = last_modified = None
        store.execute(
            "UPDATE sources SET etag = NULL, last_modified = NULL WHERE id = ?", (source_id,)
        )
    store.execute(
        "UPDATE sources SET last_poll_at = ?, last_success_at = ?, failures = 0,"
        " failing_since = NULL, next_poll_at = ?, items_seen = items_seen + ?,"
        " etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), warning = ?,"
        " interval_s = ?, last_status = ?, url = coalesce(?, url),"
        " last_new_at = CASE WHEN ? > 0 THEN ? ELSE last_new_at END WHERE id = ?",
        (
            iso(now),
            iso(now),
            iso(next_poll),
            new_items,
            etag,
            last_modified,
            warning,
            interval,
            status,
            new_url,
            new_items,
            iso(now),
            source_id,
        ),
    )


def record_failure(
    store: Store,
    source_id: str,
    now: datetime,
    next_poll: datetime,
    error: str,
    *,
    status: int | None = None,
    gone: bool = False,
) -> int:
    """Save a failed poll with its error; return the consecutive failure count."""
    store.execute(
        "UPDATE sources SET last_poll_at = ?, last_error = ?, last_error_at = ?,"
        " failures = failures + 1, failing_since = coalesce(failing_since, ?),"
        " next_poll_at = ?, last_status = ? WHERE id = ?",
        (iso(now), error, iso(now), iso(now), iso(next_poll), status, source_id),
    )
    if gone:
        store.execute(
            "UPDATE sources SET state = 'gone', state_reason = ? WHERE id = ?",
            (
                f"{error} at {iso(now)}; polling stopped until the URL in the config changes",
                source_id,
            ),
        )
    return int(store.scalar("SELECT failures FROM sources WHERE id = ?", (source_id,)) or 0)


def recent_new_times(store: Store, source_id: str, limit: int = 20) -> list[str]:
    """Return the fetch times of the source's newest articles, newest first."""
    rows = store.query(
        "SELECT fetched_at FROM articles WHERE source_id = ? ORDER BY id DESC LIMIT ?",
        (source_id, limit),
    )
    return [str(r["fetched_at"]) for r in rows]


def due_source_ids(store: Store, now: datetime, longest: timedelta | None = None) -> list[str]:
    """Return the ids of active sources whose next poll time has come (or was never set).

    Longest waiting first (never polled, then by next poll time), so that when a host's
    connections are all busy, the source that has waited longest gets the next free one,
    whatever its place in the config. A next poll further away than ``longest`` (the
    longest wait any schedule sets) means the clock went back; such a source is due now.
    """
    rows = store.query(
        "SELECT id FROM sources WHERE state != 'gone'"
        " AND (next_poll_at IS NULL OR next_poll_at <= ? OR next_poll_at > ?)"
        " ORDER BY next_poll_at IS NOT NULL, next_poll_at > ?, next_poll_at, id",
        (iso(now), iso(now + (longest or timedelta(days=1, hours=1))), iso(now)),
    )
    return [str(r["id"]) for r in rows]


def unproven_source_ids(store: Store) -> set[str]:
    """Return the ids of sources whose last poll failed, or that never had a good poll."""
    rows = store.query("SELECT id FROM sources WHERE failures > 0 OR last_success_at IS NULL")
    return {str(r["id"]) for r in rows}


def rebase_after_clock_jump(store: Store, now: datetime) -> int:
    """Keep each source's planned wait when the clock went back.

    A last poll in the future means the wall clock moved backwards; the next poll is then
    put the same distance after ``now`` as it was after that last poll.
    """
    rows = store.query(
        "SELECT id, last_poll_at, next_poll_at FROM sources"
        " WHERE last_poll_at > ? AND next_poll_at IS NOT NULL",
        (iso(now + timedelta(minutes=1)),),
    )
    if not rows:
        # The usual case, met on every tick: no write transaction (and no wait for the lock).
        return 0
    with store.transaction():
        for row in rows:
            wait = parse_iso(str(row["next_poll_at"])) - parse_iso(str(row["last_poll_at"]))
            store.execute(
                "UPDATE sources SET last_poll_at = ?, next_poll_at = ? WHERE id = ?",
                (iso(now), iso(now + max(wait, timedelta(0))), row["id"]),
            )
    return len(rows)
