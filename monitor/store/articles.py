"""Queries on ``articles`` and ``matches``: dedupe on save, evidence of each match."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from monitor.clock import iso
from monitor.model import Article, Match
from monitor.store.db import Store
from monitor.store.retention import was_pruned


class Saved(enum.StrEnum):
    NEW = "new"
    UPDATED = "updated"
    SAME = "same"
    DUPLICATE = "duplicate"
    # Removed by retention earlier: still in the feed, but not news any more.
    PRUNED = "pruned"
    # New, but not stored: the source used up its quota of new articles (``insert=False``).
    OVER_QUOTA = "over_quota"


def save_article(
    store: Store,
    article: Article,
    now: datetime,
    *,
    index_later: list[tuple[int, str, str, str]] | None = None,
    insert: bool = True,
) -> tuple[int, Saved]:
    """Insert a new article, update a changed one, or recognise one already stored.

    A new article is added to the full-text index at once, or, with ``index_later``, appended
    to it for ``index_articles`` to add later in the same transaction. With ``insert=False``
    a new article is not stored (``Saved.OVER_QUOTA``); changes to stored ones still are.
    """
    row = store.one(
        "SELECT id, content_hash FROM articles WHERE source_id = ? AND guid = ?",
        (article.source_id, article.guid),
    )
    if row is not None:
        if row["content_hash"] == article.content_hash:
            return int(row["id"]), Saved.SAME
        keep_revision(store, int(row["id"]), now)
        if index_later:
            # The update's trigger takes the old text out of the index, so what this poll has
            # added must be in it first: the same item can come twice in one feed, and removing
            # terms FTS5 does not hold corrupts the index (silently, or as "database disk image
            # is malformed"). Updates are rare, so all pending rows go in, not just this one.
            index_articles(store, index_later)
            index_later.clear()
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
    if was_pruned(store, article.source_id, article.guid):
        return 0, Saved.PRUNED
    # The same link from another feed is the same item only with the same content: otherwise
    # any feed could claim another's links first and keep their articles (and alerts) out.
    same = store.one(
        "SELECT id FROM articles WHERE (url != '' AND url = ?"
        " AND (source_id = ? OR content_hash = ?)) OR (source_id = ? AND content_hash = ?)"
        " LIMIT 1",
        (
            article.url,
            article.source_id,
            article.content_hash,
            article.source_id,
            article.content_hash,
        ),
    )
    if same is not None:
        return int(same["id"]), Saved.DUPLICATE
    if not insert:
        return 0, Saved.OVER_QUOTA
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
    article_id = int(cursor.lastrowid or 0)
    searchable = (article_id, article.title, article.summary, article.text)
    if index_later is None:
        index_articles(store, [searchable])
    else:
        index_later.append(searchable)
    return article_id, Saved.NEW


# At most this many earlier versions of one article are kept (the earliest: the first is
# the one its first match was made on), so a feed rewriting a matched item on every poll
# cannot grow the database without limit.
MAX_REVISIONS = 20


def keep_revision(store: Store, article_id: int, now: datetime) -> None:
    """Before a matched article is updated, keep the version its matches were made on."""
    matched = store.scalar("SELECT 1 FROM matches WHERE article_id = ? LIMIT 1", (article_id,))
    if matched is None:
        return
    kept = int(
        store.scalar("SELECT count(*) FROM article_revisions WHERE article_id = ?", (article_id,))
    )
    if kept >= MAX_REVISIONS:
        return
    store.execute(
        "INSERT INTO article_revisions (article_id, url, title, summary, text, published_at,"
        " content_hash, replaced_at) SELECT id, url, title, summary, text, published_at,"
        " content_hash, ? FROM articles WHERE id = ?",
        (iso(now), article_id),
    )


def index_articles(store: Store, rows: list[tuple[int, str, str, str]]) -> None:
    """Add new articles (id, title, summary, text) to the full-text index.

    This replaces an INSERT trigger (dropped by migration 0010). FTS5 writes out the terms it
    holds at every statement savepoint, and a trigger gives each INSERT one, so every article
    became an index segment of its own, to be merged later. Added together at the end of a
    poll's transaction, indexing costs about half (bench articles: 103 -> 54 us each).
    """
    if rows:
        store.executemany(
            "INSERT INTO articles_fts (rowid, title, summary, text) VALUES (?, ?, ?, ?)", rows
        )


def insert_match(
    store: Store,
    match: Match,
    article_id: int,
    now: datetime,
    *,
    counted: bool = True,
    reason: str = "",
) -> int | None:
    """Record a match; return its id, or None when this rule already matched this article."""
    hits = [
        {"term": h.term, "field": h.field, "start": h.start, "end": h.end, "text": h.matched}
        for h in match.hits
    ]
    cursor = store.execute(
        "INSERT INTO matches (rule_id, article_id, matched_at, hits, snippet, modality,"
        " modality_cue, counted, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (rule_id, article_id) DO NOTHING",
        (
            match.rule_id,
            article_id,
            iso(now),
            json.dumps(hits, ensure_ascii=False),
            match.snippet,
            match.modality,
            match.cue,
            int(counted),
            reason,
        ),
    )
    return int(cursor.lastrowid) if cursor.rowcount and cursor.lastrowid else None


def set_match_event(store: Store, match_id: int, event_id: int) -> None:
    store.execute("UPDATE matches SET event_id = ?, reason = '' WHERE id = ?", (event_id, match_id))


def set_match_key(store: Store, match_id: int, key: str) -> None:
    store.execute("UPDATE matches SET key = ? WHERE id = ?", (key, match_id))


def set_match_reason(store: Store, match_id: int, reason: str) -> None:
    store.execute("UPDATE matches SET reason = ? WHERE id = ?", (reason, match_id))


def pending_matches(store: Store, rule_id: str, key: str, since: datetime) -> list[dict[str, Any]]:
    """Counted matches of a rule and key that no Event holds yet, newest last."""
    return store.query(
        "SELECT m.id, m.matched_at, a.source_id, a.story_id FROM matches m"
        " JOIN articles a ON a.id = m.article_id"
        " WHERE m.rule_id = ? AND m.key = ? AND m.counted = 1 AND m.event_id IS NULL"
        " AND m.matched_at >= ? ORDER BY m.id",
        (rule_id, key, iso(since)),
    )


def count_counted(store: Store, rule_id: str, since: datetime, until: datetime) -> int:
    """Count a rule's counted matches in a time range (for spike baselines)."""
    return int(
        store.scalar(
            "SELECT count(*) FROM matches WHERE rule_id = ? AND counted = 1"
            " AND matched_at >= ? AND matched_at < ?",
            (rule_id, iso(since), iso(until)),
        )
        or 0
    )


def last_counted_at(store: Store, rule_id: str) -> str | None:
    value = store.scalar(
        "SELECT max(matched_at) FROM matches WHERE rule_id = ? AND counted = 1", (rule_id,)
    )
    return str(value) if value else None


def get_article(store: Store, article_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM articles WHERE id = ?", (article_id,))


def count_articles(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM articles") or 0)


def count_matches(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM matches") or 0)


def articles_since(store: Store, since: datetime) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM articles WHERE fetched_at >= ? ORDER BY id", (iso(since),))


def stored_match(store: Store, rule_id: str, article_id: int) -> dict[str, Any] | None:
    return store.one(
        "SELECT * FROM matches WHERE rule_id = ? AND article_id = ?", (rule_id, article_id)
    )


def match_title(store: Store, match_id: int) -> str:
    """Return the title of the article a match was found in ('' when there is none)."""
    return str(
        store.scalar(
            "SELECT a.title FROM matches m JOIN articles a ON a.id = m.article_id WHERE m.id = ?",
            (match_id,),
        )
        or ""
    )
