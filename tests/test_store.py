from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import LockError, StoreError
from monitor.model import Article, Hit, Match
from monitor.store import alerts as alert_q
from monitor.store import articles as article_q
from monitor.store import events as event_q
from monitor.store import open_store
from monitor.store import sources as source_q
from monitor.store.db import DaemonLock
from monitor.store.migrations import migrations

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_article(guid: str = "g1", text: str = "a missile launch", url: str = "") -> Article:
    return Article("s1", guid, url, "Title", "", text, NOW, NOW, f"hash-{text}")


def test_fresh_database_is_migrated_in_wal_mode(tmp_path: Path) -> None:
    store = open_store(tmp_path / "db" / "m.db")
    tables = set(store.db.table_names())
    assert {"sources", "articles", "matches", "events", "alerts", "articles_fts"} <= tables
    assert store.scalar("PRAGMA journal_mode") == "wal"
    assert store.scalar("PRAGMA foreign_keys") == 1
    store.close()
    # Opening again applies nothing twice.
    again = open_store(tmp_path / "db" / "m.db")
    assert migrations.pending(again.db) == []
    applied = again.scalar("SELECT count(*) FROM _sqlite_migrations")
    assert applied == len(migrations.applied(again.db)) >= 2
    again.close()


def test_article_dedupe_update_and_search(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    source_q.sync_sources(store, [("s1", "feed", "http://127.0.0.1/f"), ("s2", "feed", "")])
    with store.transaction():
        first, saved = article_q.save_article(store, make_article(), NOW)
        assert saved is article_q.Saved.NEW
        assert article_q.save_article(store, make_article(), NOW) == (first, article_q.Saved.SAME)
        changed = make_article(text="a missile launch, updated")
        assert article_q.save_article(store, changed, NOW) == (first, article_q.Saved.UPDATED)
        linked = make_article("g2", "other", url="https://example.com/x")
        article_q.save_article(store, linked, NOW)
        # The same link and content from another feed is the same item...
        again = Article("s2", "z", "https://example.com/x", "T", "", "o2", NOW, NOW, "hash-other")
        assert article_q.save_article(store, again, NOW)[1] is article_q.Saved.DUPLICATE
        # ...but another feed cannot claim a link with other content and keep it out.
        claimed = Article("s2", "c", "https://example.com/y", "T", "", "benign", NOW, NOW, "h-b")
        assert article_q.save_article(store, claimed, NOW)[1] is article_q.Saved.NEW
        real = make_article("g3", "the real story", url="https://example.com/y")
        assert article_q.save_article(store, real, NOW)[1] is article_q.Saved.NEW
        # Within one feed, a link that comes back under a new guid is still the same item.
        reissued = make_article("g4", "the real story, reissued", url="https://example.com/y")
        assert article_q.save_article(store, reissued, NOW)[1] is article_q.Saved.DUPLICATE
    assert article_q.count_articles(store) == 4
    found = list(store.db["articles"].search("updated", quote=True))
    assert [row["guid"] for row in found] == ["g1"]
    store.close()


def test_matches_are_unique_per_rule_and_article(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    source_q.sync_sources(store, [("s1", "feed", "")])
    match = Match("r1", (Hit("missile", "text", 2, 9, "missile"),), "a missile launch")
    with store.transaction():
        article_id, _ = article_q.save_article(store, make_article(), NOW)
        assert article_q.insert_match(store, match, article_id, NOW) is not None
        assert article_q.insert_match(store, match, article_id, NOW) is None
    row = store.one("SELECT hits, snippet FROM matches")
    assert row is not None
    assert '"start": 2' in row["hits"]
    store.close()


def test_transaction_rolls_back_everything(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    source_q.sync_sources(store, [("s1", "feed", "")])
    with pytest.raises(RuntimeError), store.transaction():
        article_q.save_article(store, make_article(), NOW)
        raise RuntimeError("crash in the middle of a poll")
    assert article_q.count_articles(store) == 0
    store.close()


def test_outbox_claim_lease_and_release(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    with store.transaction():
        event_id = event_q.open_event(store, "r1", "", "T", "info", NOW)
        assert alert_q.enqueue(store, event_id, "mail", "open", "t", "b", NOW) is not None
        assert alert_q.enqueue(store, event_id, "mail", "open", "t", "b", NOW) is None
    lease = timedelta(minutes=2)
    [alert] = alert_q.claim_due(store, NOW, NOW + lease, "a", 10)
    assert alert.attempts == 1
    # Leased: nobody else gets it until the lease expires.
    assert alert_q.claim_due(store, NOW, NOW + lease, "b", 10) == []
    later = NOW + lease
    [taken] = alert_q.claim_due(store, later, later + lease, "b", 10)
    assert taken.attempts == 2
    # The first sender's release is refused: its lease was taken over.
    assert not alert_q.release(store, alert.id, "a", alert_q.Outcome.SENT, later)
    assert alert_q.release(store, alert.id, "b", alert_q.Outcome.SENT, later)
    assert alert_q.count_by_state(store) == {"sent": 1}
    store.close()


def test_corrupt_database_is_refused_not_repaired(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    open_store(path).close()
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(0)
        handle.write(b"garbage" * 20)
    with pytest.raises(StoreError, match="database file is corrupt"):
        open_store(path)
    assert path.stat().st_size == size


def test_read_only_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    open_store(path).close()
    store = open_store(path, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.execute("INSERT INTO sources (id, kind) VALUES ('x', 'feed')")
    store.close()


def test_second_daemon_lock_names_the_holder(tmp_path: Path) -> None:
    first = DaemonLock(tmp_path / "m.db")
    first.acquire()
    try:
        with pytest.raises(LockError, match=r"another news-monitor \(pid \d+\) holds"):
            DaemonLock(tmp_path / "m.db").acquire()
    finally:
        first.release()
    second = DaemonLock(tmp_path / "m.db")
    second.acquire()
    second.release()


def test_search_index_follows_text_changes_only(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    source_q.sync_sources(store, [("s1", "feed", "http://127.0.0.1/f")])
    with store.transaction():
        article_id, _ = article_q.save_article(store, make_article(text="alpha words"), NOW)

    def found(word: str) -> list[int]:
        rows = store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", (word,))
        return [int(r["rowid"]) for r in rows]

    def index_writes(sql: str, params: tuple[object, ...]) -> int:
        pages = "SELECT count(*), coalesce(sum(length(block)), 0) FROM articles_fts_data"
        before = store.conn.execute(pages).fetchone()
        with store.transaction():
            store.execute(sql, params)
        return 0 if store.conn.execute(pages).fetchone() == before else 1

    # Filing the article under a Story does not touch the search index...
    filed = "UPDATE articles SET story_id = ? WHERE id = ?"
    assert index_writes(filed, (article_id, article_id)) == 0
    # ...a new text does, and search follows it.
    assert index_writes("UPDATE articles SET text = ? WHERE id = ?", ("beta", article_id)) == 1
    assert found("beta") == [article_id]
    assert found("alpha") == []
    store.close()


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        (
            "SELECT * FROM events WHERE rule_id = ? AND key = ? AND state = 'closed'"
            " ORDER BY closed_at DESC LIMIT 1",
            ("r", ""),
            "events_last_closed",
        ),
        (
            "SELECT * FROM events ORDER BY last_seen_at DESC, id DESC LIMIT ?",
            (50,),
            "events_recent",
        ),
        ("SELECT * FROM events WHERE first_seen_at >= ?", ("2026",), "events_first_seen"),
        ("SELECT * FROM events WHERE state = 'open' ORDER BY id", (), "events_by_state"),
        (
            "SELECT * FROM alerts ORDER BY created_at DESC, id DESC LIMIT ?",
            (50,),
            "alerts_recent",
        ),
        # Retention: the old articles, each checked for a match.
        (
            "SELECT id FROM articles a WHERE fetched_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM matches m WHERE m.article_id = a.id) ORDER BY fetched_at LIMIT ?",
            ("2026", 10),
            "articles_fetched",
        ),
        (
            "SELECT 1 FROM matches m WHERE m.article_id = ?",
            (1,),
            "matches_article",
        ),
    ],
)
def test_queries_that_grow_with_history_use_an_index(
    tmp_path: Path, sql: str, params: tuple[object, ...], index: str
) -> None:
    # Events and alerts pile up for years: these run per match or per page view.
    store = open_store(tmp_path / "m.db")
    plan = store.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert index in details and "TEMP B-TREE" not in details, details
    store.close()


def test_new_articles_are_indexed_in_their_transaction(tmp_path: Path) -> None:
    # No INSERT trigger indexes them (one made every article an FTS5 segment of its own):
    # save_article() does, at once or, with index_later, at the end of the poll.
    store = open_store(tmp_path / "m.db")
    triggers = {
        r["name"]
        for r in store.query("SELECT name FROM sqlite_master WHERE type = ?", ("trigger",))
    }
    assert "articles_ai" not in triggers and {"articles_au", "articles_ad"} <= triggers
    source_q.sync_sources(store, [("s1", "feed", "http://127.0.0.1/f")])
    later: list[tuple[int, str, str, str]] = []
    with store.transaction():
        now_id, _ = article_q.save_article(store, make_article("g1", "alpha launch"), NOW)
        late_id, _ = article_q.save_article(
            store, make_article("g2", "beta launch"), NOW, index_later=later
        )
        same = article_q.save_article(
            store, make_article("g2", "beta launch"), NOW, index_later=later
        )
        assert same == (late_id, article_q.Saved.SAME)
        assert [row[0] for row in later] == [late_id]
        article_q.index_articles(store, later)

    def found(word: str) -> list[int]:
        rows = store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", (word,))
        return sorted(int(r["rowid"]) for r in rows)

    assert found("launch") == [now_id, late_id]
    assert found("beta") == [late_id]
    # rank 1: also compare the index with the articles table it was built from.
    store.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")
    store.close()


def test_a_sources_newest_articles_are_read_from_an_index(tmp_path: Path) -> None:
    # Read after every poll: sorting a source's whole history each time would grow with it.
    store = open_store(tmp_path / "m.db")
    plan = store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT fetched_at FROM articles WHERE source_id = ?"
        " ORDER BY id DESC LIMIT ?",
        ("s1", 20),
    ).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "articles_source_newest" in details and "TEMP B-TREE" not in details
    store.close()


def test_due_sources_come_longest_waiting_first(tmp_path: Path) -> None:
    # The daemon hands a busy host's free connections out in this order: by config order,
    # the sources listed last on a busy host were starved (found by a hostile-feed run).
    store = open_store(tmp_path / "m.db")
    ids = ["a-first", "b-recent", "c-oldest", "d-never", "e-later"]
    source_q.sync_sources(store, [(i, "feed", f"http://127.0.0.1/{i}") for i in ids])
    waits = {"a-first": 5, "b-recent": 1, "c-oldest": 30, "e-later": -10}
    with store.transaction():
        for source_id, minutes in waits.items():
            store.execute(
                "UPDATE sources SET next_poll_at = ? WHERE id = ?",
                ((NOW - timedelta(minutes=minutes)).isoformat(), source_id),
            )
    assert source_q.due_source_ids(store, NOW) == ["d-never", "c-oldest", "a-first", "b-recent"]
    store.close()
