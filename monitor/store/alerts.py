"""Queries on ``alerts``, the durable outbox: enqueue, claim with a lease, release."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from monitor.clock import iso, parse_iso
from monitor.model import Alert, AlertState, Outcome
from monitor.store.db import Store


def enqueue(
    store: Store,
    event_id: int | None,
    channel: str,
    kind: str,
    title: str,
    body: str,
    now: datetime,
    *,
    body_format: str = "text",
    held: bool = False,
    not_before: datetime | None = None,
    rule_id: str = "",
    severity: str = "",
) -> int | None:
    """Add an alert to the outbox; None when this Event already owes this Channel one.

    A held alert waits for the channel's next digest instead of being sent on its own.
    """
    cursor = store.execute(
        "INSERT INTO alerts (event_id, channel, kind, title, body, body_format, state,"
        " created_at, next_attempt_at, rule_id, severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (event_id, channel, kind) DO NOTHING",
        (
            event_id,
            channel,
            kind,
            title,
            body,
            body_format,
            AlertState.HELD if held else AlertState.PENDING,
            iso(now),
            iso(not_before or now),
            rule_id,
            severity,
        ),
    )
    return int(cursor.lastrowid) if cursor.rowcount and cursor.lastrowid else None


def sent_recently(store: Store, channel: str, since: datetime) -> int:
    """Count alerts a channel sent or will send on their own since a time (for rate limits)."""
    return int(
        store.scalar(
            "SELECT count(*) FROM alerts WHERE channel = ? AND created_at >= ?"
            " AND state NOT IN ('held', 'digested')",
            (channel, iso(since)),
        )
        or 0
    )


def held(store: Store, channel: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM alerts WHERE channel = ? AND state = 'held' ORDER BY created_at DESC, id",
        (channel,),
    )


def add_digest(
    store: Store,
    channel: str,
    title: str,
    body: str,
    body_format: str,
    members: list[int],
    now: datetime,
) -> int:
    """Create one digest alert and mark its members as digested into it."""
    cursor = store.execute(
        "INSERT INTO alerts (event_id, channel, kind, title, body, body_format, state,"
        " created_at, next_attempt_at) VALUES (NULL, ?, 'digest', ?, ?, ?, 'pending', ?, ?)",
        (channel, title, body, body_format, iso(now), iso(now)),
    )
    digest_id = int(cursor.lastrowid or 0)
    for alert_id in members:
        store.execute(
            "UPDATE alerts SET state = 'digested', digest_id = ? WHERE id = ? AND state = 'held'",
            (digest_id, alert_id),
        )
    return digest_id


def last_digest_at(store: Store, channel: str) -> str | None:
    value = store.scalar(
        "SELECT max(created_at) FROM alerts WHERE channel = ? AND kind = 'digest'", (channel,)
    )
    return str(value) if value else None


def requeue(store: Store, alert_id: int, now: datetime) -> bool:
    """Send a dead or failed alert again: attempts start over."""
    cursor = store.execute(
        "UPDATE alerts SET state = 'pending', attempts = 0, next_attempt_at = ?,"
        " lease_until = NULL WHERE id = ? AND state IN ('dead', 'retry', 'pending')",
        (iso(now), alert_id),
    )
    return cursor.rowcount == 1


def requeue_dead(store: Store, now: datetime) -> int:
    cursor = store.execute(
        "UPDATE alerts SET state = 'pending', attempts = 0, next_attempt_at = ?,"
        " lease_until = NULL WHERE state = 'dead'",
        (iso(now),),
    )
    return cursor.rowcount


def get_alert(store: Store, alert_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM alerts WHERE id = ?", (alert_id,))


def claim_due(
    store: Store, now: datetime, lease_until: datetime, owner: str, limit: int
) -> list[Alert]:
    """Lease up to ``limit`` alerts that are due, or whose sender's lease expired."""
    with store.transaction():
        rows = store.query(
            "UPDATE alerts SET state = ?, lease_until = ?, lease_owner = ?,"
            " attempts = attempts + 1 WHERE id IN ("
            "  SELECT id FROM alerts WHERE"
            "   (state IN ('pending', 'retry') AND next_attempt_at <= ?)"
            "   OR (state = 'sending' AND lease_until <= ?)"
            "  ORDER BY next_attempt_at, id LIMIT ?)"
            " RETURNING *",
            (AlertState.SENDING, iso(lease_until), owner, iso(now), iso(now), limit),
        )
    rows.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
    return [_alert(row) for row in rows]


def release(
    store: Store,
    alert_id: int,
    owner: str,
    outcome: Outcome,
    now: datetime,
    *,
    next_attempt: datetime | None = None,
    error: str = "",
) -> bool:
    """Record the outcome of one attempt; False when the lease was lost to another sender."""
    with store.transaction():
        if outcome is Outcome.SENT:
            cursor = store.execute(
                "UPDATE alerts SET state = ?, sent_at = ?, lease_until = NULL, last_error = ''"
                " WHERE id = ? AND lease_owner = ? AND state = 'sending'",
                (AlertState.SENT, iso(now), alert_id, owner),
            )
        else:
            state = AlertState.RETRY if outcome is Outcome.RETRY else AlertState.DEAD
            cursor = store.execute(
                "UPDATE alerts SET state = ?, next_attempt_at = ?, lease_until = NULL,"
                " last_error = ? WHERE id = ? AND lease_owner = ? AND state = 'sending'",
                (state, iso(next_attempt or now), error, alert_id, owner),
            )
    return cursor.rowcount == 1


def list_alerts(
    store: Store, states: tuple[str, ...] = (), limit: int = 100
) -> list[dict[str, Any]]:
    if states:
        marks = ", ".join("?" for _ in states)
        return store.query(
            f"SELECT * FROM alerts WHERE state IN ({marks}) ORDER BY id DESC LIMIT ?",
            (*states, limit),
        )
    return store.query("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))


def count_by_state(store: Store) -> dict[str, int]:
    rows = store.query("SELECT state, count(*) AS n FROM alerts GROUP BY state")
    return {str(r["state"]): int(r["n"]) for r in rows}


def _alert(row: dict[str, Any]) -> Alert:
    return Alert(
        id=int(row["id"]),
        event_id=int(row["event_id"] or 0),
        body_format=str(row["body_format"]),
        channel=str(row["channel"]),
        kind=str(row["kind"]),
        title=str(row["title"]),
        body=str(row["body"]),
        state=AlertState(row["state"]),
        attempts=int(row["attempts"]),
        created_at=parse_iso(row["created_at"]),
        next_attempt_at=parse_iso(row["next_attempt_at"]),
        last_error=str(row["last_error"] or ""),
    )


def clamp_waits(store: Store, now: datetime, longest: timedelta) -> int:
    """Bring retry times that lie beyond the longest backoff back to it (the clock went back)."""
    limit = iso(now + longest)
    cursor = store.execute(
        "UPDATE alerts SET next_attempt_at = ? WHERE state IN ('pending', 'retry')"
        " AND next_attempt_at > ?",
        (limit, limit),
    )
    return cursor.rowcount


def channel_health(store: Store) -> list[dict[str, Any]]:
    """Per channel: dead and retrying alerts, and the newest error."""
    return store.query(
        "SELECT channel, sum(state = 'dead') AS dead, sum(state = 'retry') AS retry,"
        " (SELECT last_error FROM alerts b WHERE b.channel = a.channel AND b.last_error != ''"
        "  ORDER BY b.id DESC LIMIT 1) AS last_error"
        " FROM alerts a GROUP BY channel"
    )
