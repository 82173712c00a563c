"""Queries for retention: remove old articles that no rule matched."""

from __future__ import annotations

from datetime import datetime

from monitor.clock import iso
from monitor.store.db import Store


def prunable(store: Store, before: datetime, limit: int) -> list[tuple[int, str, str]]:
    """Return up to ``limit`` (id, source, guid) of articles fetched before ``before`` that no
    rule matched, oldest first."""
    rows = store.query(
        "SELECT id, source_id, guid FROM articles a WHERE fetched_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.article_id = a.id)"
        " ORDER BY fetched_at LIMIT ?",
        (iso(before), limit),
    )
    return [(int(r["id"]), str(r["source_id"]), str(r["guid"])) for r in rows]


def count_prunable(store: Store, before: datetime) -> int:
    return int(
        store.scalar(
            "SELECT count(*) FROM articles a WHERE fetched_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.article_id = a.id)",
            (iso(before),),
        )
    )


def prune(store: Store, articles: list[tuple[int, str, str]], now: datetime) -> None:
    """Delete articles (their search entries go with them, by trigger) and remember their
    guids; call in a transaction."""
    store.executemany(
        "INSERT OR IGNORE INTO pruned_articles (source_id, guid, pruned_at) VALUES (?, ?, ?)",
        [(source, guid, iso(now)) for _, source, guid in articles],
    )
    # Only matched articles have story signatures (story_bands), and those are never pruned.
    store.executemany("DELETE FROM articles WHERE id = ?", [(i,) for i, _, _ in articles])


def was_pruned(store: Store, source_id: str, guid: str) -> bool:
    found = store.scalar(
        "SELECT 1 FROM pruned_articles WHERE source_id = ? AND guid = ?", (source_id, guid)
    )
    return found is not None
