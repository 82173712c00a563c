"""Read-only SQL for the dashboard, the JSON API, /metrics and /healthz."""

# These queries run on a connection opened with ``mode=ro`` and ``PRAGMA query_only``.

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from monitor.store.db import probe_write

# An alert that is still owed to its channel: not yet sent, not given up, not folded into a digest.
OUTBOX_STATES = ("held", "pending", "sending", "retry")


def readonly_uri(db_path: Path) -> str:
    """Return the SQLite URI that opens ``db_path`` read-only without creating it."""
    return f"file:{quote(str(db_path.absolute()))}?mode=ro"


def writable_uri(db_path: Path) -> str:
    """Return the SQLite URI that opens ``db_path`` read-write without creating it."""
    return f"file:{quote(str(db_path.absolute()))}?mode=rw"


def connect_readonly(db_path: Path, timeout: float = 2.0) -> sqlite3.Connection:
    """Open a read-only connection whose statements cannot write even by mistake."""
    conn = sqlite3.connect(readonly_uri(db_path), uri=True, timeout=timeout, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sql, params).fetchall()]


def _count(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0] or 0) if row else 0


def parse_hits(raw: object) -> list[dict[str, Any]]:
    """Decode a match's stored hits, dropping anything that is not a well-formed hit."""
    try:
        data = json.loads(str(raw))
    except ValueError:
        return []
    hits: list[dict[str, Any]] = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        start, end = item.get("start"), item.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        hits.append(
            {
                "term": str(item.get("term", "")),
                "field": str(item.get("field", "")),
                "start": start,
                "end": end,
                "text": str(item.get("text", "")),
            }
        )
    return hits


# --- events -------------------------------------------------------------------------------


def _where(**equals: str | None) -> tuple[str, tuple[Any, ...]]:
    """Build ``WHERE column = ? AND ...`` for the filters that are set (column names are ours)."""
    given = {column: value for column, value in equals.items() if value}
    clauses = " AND ".join(f"{column} = ?" for column in given)
    return (f" WHERE {clauses}" if given else ""), tuple(given.values())


def _event_filter(rule: str | None, state: str | None) -> tuple[str, tuple[Any, ...]]:
    return _where(rule_id=rule, state=state)


_EVENT_COLUMNS = (
    "id, rule_id, key, state, title, severity, first_seen_at, last_seen_at, closed_at,"
    " article_count, source_count, story_count"
)


def list_events(
    conn: sqlite3.Connection, *, rule: str | None, state: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Return events, most recently active first."""
    where, params = _event_filter(rule, state)
    return _rows(
        conn,
        f"SELECT {_EVENT_COLUMNS} FROM events{where}"
        " ORDER BY last_seen_at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )


def count_events(conn: sqlite3.Connection, *, rule: str | None, state: str | None) -> int:
    """Count the events ``list_events`` pages through."""
    where, params = _event_filter(rule, state)
    return _count(conn, f"SELECT count(*) FROM events{where}", params)


def get_event(conn: sqlite3.Connection, event_id: int) -> dict[str, Any] | None:
    """Return one event, or None."""
    rows = _rows(conn, f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,))
    return rows[0] if rows else None


def event_matches(
    conn: sqlite3.Connection, event_id: int, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Return an event's matches with their article (including its field texts), oldest first.

    Each article is given as it was when it matched: when its feed rewrote it afterwards,
    the kept revision (``revised`` is then 1, and ``current_title`` and ``current_url`` say
    what the feed says now).
    """
    rows = _rows(
        conn,
        "SELECT m.id AS match_id, m.rule_id, m.matched_at, m.hits, m.snippet, m.modality,"
        " m.modality_cue, m.reason, a.id AS article_id, a.source_id,"
        " coalesce(r.url, a.url) AS url, coalesce(r.title, a.title) AS title,"
        " coalesce(r.summary, a.summary) AS summary, coalesce(r.text, a.text) AS text,"
        " a.publisher, coalesce(r.published_at, a.published_at) AS published_at, a.story_id,"
        " r.id IS NOT NULL AS revised, a.title AS current_title, a.url AS current_url"
        " FROM matches m JOIN articles a ON a.id = m.article_id"
        " LEFT JOIN article_revisions r ON r.id = (SELECT id FROM article_revisions"
        " WHERE article_id = a.id AND replaced_at >= m.matched_at ORDER BY id LIMIT 1)"
        " WHERE m.event_id = ? ORDER BY a.published_at, m.id LIMIT ? OFFSET ?",
        (event_id, limit, offset),
    )
    for row in rows:
        row["hits"] = parse_hits(row["hits"])
    return rows


def count_event_matches(conn: sqlite3.Connection, event_id: int) -> int:
    """Count an event's matches."""
    return _count(conn, "SELECT count(*) FROM matches WHERE event_id = ?", (event_id,))


def event_sources(conn: sqlite3.Connection, event_id: int) -> list[str]:
    """Return the ids of the sources whose articles joined an event."""
    rows = conn.execute(
        "SELECT DISTINCT a.source_id FROM matches m JOIN articles a ON a.id = m.article_id"
        " WHERE m.event_id = ? ORDER BY a.source_id",
        (event_id,),
    ).fetchall()
    return [str(row[0]) for row in rows]


def event_alerts(conn: sqlite3.Connection, event_id: int) -> list[dict[str, Any]]:
    """Return the alerts owed or sent for an event, with the digest that carried a held one."""
    return _rows(
        conn,
        "SELECT a.id, a.event_id, a.channel, a.kind, a.title, a.state, a.attempts,"
        " a.created_at, a.next_attempt_at, a.sent_at, a.last_error, a.digest_id, a.rule_id,"
        " a.severity, d.state AS digest_state, d.sent_at AS digest_sent_at"
        " FROM alerts a LEFT JOIN alerts d ON d.id = a.digest_id"
        " WHERE a.event_id = ? ORDER BY a.created_at, a.id",
        (event_id,),
    )


def timeline(conn: sqlite3.Connection, since_day: str) -> list[tuple[str, str, int]]:
    """Return (UTC day, rule, events opened) for every day from ``since_day`` on."""
    rows = conn.execute(
        "SELECT substr(first_seen_at, 1, 10) AS day, rule_id, count(*) FROM events"
        " WHERE first_seen_at >= ? GROUP BY day, rule_id ORDER BY day, rule_id",
        (since_day,),
    ).fetchall()
    return [(str(day), str(rule), int(n)) for day, rule, n in rows]


# --- articles -----------------------------------------------------------------------------

# Marks around the matched words in FTS5 snippets; control characters that normalized feed
# text does not contain, and that the renderer treats defensively if it ever does.
MARK_OPEN = "\x02"
MARK_CLOSE = "\x03"


def fts_query(text: str) -> str:
    """Turn user input into an FTS5 query of quoted phrases that can never be a syntax error."""
    # Each whitespace-separated word becomes a "phrase" (inner quotes doubled), and all must
    # match; words with no letter or digit are dropped since the tokenizer would ignore them.
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


_ARTICLE_COLUMNS = "a.id, a.source_id, a.url, a.title, a.publisher, a.published_at, a.fetched_at"


def search_articles(
    conn: sqlite3.Connection, query: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Return articles matching an ``fts_query``, best first, with marked title and snippet."""
    return _rows(
        conn,
        f"SELECT {_ARTICLE_COLUMNS},"
        f" highlight(articles_fts, 0, '{MARK_OPEN}', '{MARK_CLOSE}') AS title_marked,"
        f" snippet(articles_fts, -1, '{MARK_OPEN}', '{MARK_CLOSE}', '…', 32) AS snippet_marked"
        " FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
        " WHERE articles_fts MATCH ? ORDER BY rank, a.id DESC LIMIT ? OFFSET ?",
        (query, limit, offset),
    )


def count_search(conn: sqlite3.Connection, query: str) -> int:
    """Count the articles matching an ``fts_query``."""
    return _count(conn, "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", (query,))


def recent_articles(conn: sqlite3.Connection, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Return the most recently stored articles with the start of their summary or text."""
    rows = _rows(
        conn,
        f"SELECT {_ARTICLE_COLUMNS}, a.title AS title_marked,"
        " substr(CASE WHEN a.summary != '' THEN a.summary ELSE a.text END, 1, 240)"
        " AS snippet_marked FROM articles a ORDER BY a.id DESC"
        " LIMIT ? OFFSET ?",
        (limit, offset),
    )
    for row in rows:
        row["title_marked"] = _unmark(row["title_marked"])
        row["snippet_marked"] = _unmark(row["snippet_marked"])
    return rows


def _unmark(value: object) -> str:
    return str(value or "").replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


def count_articles(conn: sqlite3.Connection) -> int:
    """Count every stored article."""
    return _count(conn, "SELECT count(*) FROM articles")


def article_events(
    conn: sqlite3.Connection, article_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """Return, per article, the rules that matched it and the event each match joined."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in article_ids}
    if not article_ids:
        return found
    marks = ",".join("?" * len(article_ids))
    for row in _rows(
        conn,
        "SELECT article_id, rule_id, event_id, modality FROM matches"
        f" WHERE article_id IN ({marks}) ORDER BY rule_id",
        tuple(article_ids),
    ):
        found[int(row["article_id"])].append(
            {"rule_id": row["rule_id"], "event_id": row["event_id"], "modality": row["modality"]}
        )
    return found


# --- sources and alerts ---------------------------------------------------------------------

_SOURCE_COLUMNS = (
    "id, kind, url, config_url, state, state_reason, last_poll_at, last_success_at, last_error,"
    " last_error_at, failures, next_poll_at, items_seen, warning, interval_s, last_status,"
    " last_new_at, failing_since"
)


def list_sources(conn: sqlite3.Connection, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Return sources, failing ones first, then by id."""
    return _rows(
        conn,
        f"SELECT {_SOURCE_COLUMNS} FROM sources"
        " ORDER BY failures > 0 DESC, state != 'active' DESC, id LIMIT ? OFFSET ?",
        (limit, offset),
    )


def count_sources(conn: sqlite3.Connection) -> int:
    """Count every source."""
    return _count(conn, "SELECT count(*) FROM sources")


def _alert_filter(state: str | None, channel: str | None) -> tuple[str, tuple[Any, ...]]:
    return _where(state=state, channel=channel)


def list_alerts(
    conn: sqlite3.Connection, *, state: str | None, channel: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Return outbox rows, newest first."""
    where, params = _alert_filter(state, channel)
    return _rows(
        conn,
        "SELECT id, event_id, channel, kind, title, state, attempts, created_at,"
        f" next_attempt_at, sent_at, last_error, digest_id, rule_id, severity FROM alerts{where}"
        " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )


def alert_state_counts(conn: sqlite3.Connection, *, channel: str | None) -> dict[str, int]:
    """Count alerts per state, for one channel or all."""
    where, params = _alert_filter(None, channel)
    rows = conn.execute(f"SELECT state, count(*) FROM alerts{where} GROUP BY state", params)
    return {str(state): int(n) for state, n in rows}


def count_alerts(conn: sqlite3.Connection, *, state: str | None, channel: str | None) -> int:
    """Count the alerts ``list_alerts`` pages through."""
    where, params = _alert_filter(state, channel)
    return _count(conn, f"SELECT count(*) FROM alerts{where}", params)


# --- metrics --------------------------------------------------------------------------------


@dataclass
class DbStats:
    """Counts from the database that /metrics exposes."""

    articles: int = 0
    matches: dict[str, int] = field(default_factory=dict)
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)
    outbox_depth: int = 0
    source_failures: dict[str, int] = field(default_factory=dict)
    source_last_success: dict[str, str] = field(default_factory=dict)


def db_stats(conn: sqlite3.Connection) -> DbStats:
    """Collect every database-derived metric in one read transaction."""
    stats = DbStats()
    conn.execute("BEGIN")
    try:
        stats.articles = count_articles(conn)
        for rule, n in conn.execute("SELECT rule_id, count(*) FROM matches GROUP BY rule_id"):
            stats.matches[str(rule)] = int(n)
        for rule, state, n in conn.execute(
            "SELECT rule_id, state, count(*) FROM events GROUP BY rule_id, state"
        ):
            stats.events[(str(rule), str(state))] = int(n)
        for channel, state, n in conn.execute(
            "SELECT channel, state, count(*) FROM alerts GROUP BY channel, state"
        ):
            stats.alerts[(str(channel), str(state))] = int(n)
        marks = ",".join("?" * len(OUTBOX_STATES))
        stats.outbox_depth = _count(
            conn, f"SELECT count(*) FROM alerts WHERE state IN ({marks})", OUTBOX_STATES
        )
        for source, failures, last_success in conn.execute(
            "SELECT id, failures, last_success_at FROM sources ORDER BY id"
        ):
            stats.source_failures[str(source)] = int(failures or 0)
            if last_success:
                stats.source_last_success[str(source)] = str(last_success)
    finally:
        conn.execute("COMMIT")
    return stats


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Run several reads on one consistent state of the database (a read transaction)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def database_writable(uri: str, timeout: float = 1.0) -> tuple[bool, str]:
    """Take the write lock, write nothing, roll back; return (writable, problem)."""
    # A lock held by another writer for longer than ``timeout`` means the file accepts
    # writes, so SQLITE_BUSY counts as writable.
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        return False, f"cannot open the database read-write: {exc}"
    try:
        probe_write(conn)
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
            return True, ""
        return False, f"the database is not writable: {exc}"
    except sqlite3.Error as exc:
        return False, f"the database is not writable: {exc}"
    finally:
        conn.close()
    return True, ""
