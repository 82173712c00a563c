"""The ``daemon_state`` table: what the running daemon wants ``status`` to show."""

from __future__ import annotations

from datetime import datetime

from monitor.clock import iso
from monitor.store.db import Store


def set_state(store: Store, key: str, value: str, now: datetime) -> None:
    store.execute(
        "INSERT INTO daemon_state (key, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (key, value, iso(now)),
    )


def clear_state(store: Store, key: str) -> None:
    store.execute("DELETE FROM daemon_state WHERE key = ?", (key,))


def all_state(store: Store) -> dict[str, tuple[str, str]]:
    rows = store.query("SELECT key, value, updated_at FROM daemon_state ORDER BY key")
    return {str(r["key"]): (str(r["value"]), str(r["updated_at"])) for r in rows}
