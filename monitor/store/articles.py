"""Queries on ``articles`` and ``matches``: dedupe on save, evidence of each match."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from monitor.clock import iso
from monitor.model import Article, Match
from monitor.store.db import Store


class Saved(enum.StrEnum):
    NEW = "new"
    UPDATED = "updated"
    SAME = "same"
    DUPLICATE = "duplicate"


def save_article(store: Store, article: Article, now: datetime) -> tuple[int, Saved]:
    """Insert a new article, update a changed one, or recognise one already stored."""
    row = store.one(
        "SELECT id, content_hash FROM articles WHERE source_id = ? AND guid = ?",
        (article.source_id, article.guid),
    )
    if row is not None:
        if row["content_hash"] == article.content_hash:
            return int(row["id"]), Saved.SAME
        store.execute(
            "UPDATE articles SET url = ?, title = ?, summary = ?, text = ?, publisher = ?,"
            " published_at = ?, updated_at = ?, content_hash = ? WHERE id = ?",
            (
                article.url,
                article.title,
                article.summary,
                article.text,
                article.publisher,
                iso(article.published_at),
                iso(now),
                article.content_hash,
                row["id"],
            ),
        )
        return int(row["id"]), Saved.UPDATED
    same = store.one(
        "SELECT id FROM articles WHERE (url != '' AND url = ?)"
        " OR (source_id = ? AND content_hash = ?) LIMIT 1",
        (article.url, article.source_id, article.content_hash),
    )
    if same is not None:
        return int(same["id"]), Saved.DUPLICATE
    cursor = store.execute(
        "INSERT INTO articles (source_id, guid, url, title, summary, text, publisher, language,"
        " published_at, fetched_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            article.source_id,
            article.guid,
            article.url,
            article.title,
            article.summary,
            article.text,
            article.publisher,
            article.language,
            iso(article.published_at),
            iso(article.fetched_at),
            article.content_hash,
        ),
    )
    return int(cursor.lastrowid or 0), Saved.NEW


def insert_match(store: Store, match: Match, article_id: int, now: datetime) -> int | None:
    """Record a match; return its id, or None when this rule already matched this article."""
    hits = [
        {"term": h.term, "field": h.field, "start": h.start, "end": h.end, "text": h.matched}
        for h in match.hits
    ]
    cursor = store.execute(
        "INSERT INTO matches (rule_id, article_id, matched_at, hits, snippet)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (rule_id, article_id) DO NOTHING",
        (match.rule_id, article_id, iso(now), json.dumps(hits, ensure_ascii=False), match.snippet),
    )
    return int(cursor.lastrowid) if cursor.rowcount and cursor.lastrowid else None


def set_match_event(store: Store, match_id: int, event_id: int) -> None:
    store.execute("UPDATE matches SET event_id = ? WHERE id = ?", (event_id, match_id))


def get_article(store: Store, article_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM articles WHERE id = ?", (article_id,))


def count_articles(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM articles") or 0)


def count_matches(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM matches") or 0)
