"""Schema migrations; each runs in its own transaction."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("news-monitor")


@migrations(name="0001_create_core_tables")
def create_core_tables(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE sources (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            url TEXT NOT NULL DEFAULT '',
            etag TEXT,
            last_modified TEXT,
            state TEXT NOT NULL DEFAULT 'active',
            state_reason TEXT NOT NULL DEFAULT '',
            last_poll_at TEXT,
            last_success_at TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            last_error_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            next_poll_at TEXT,
            items_seen INTEGER NOT NULL DEFAULT 0,
            warning TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            source_id TEXT NOT NULL REFERENCES sources(id),
            guid TEXT NOT NULL,
            url TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            publisher TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL DEFAULT '',
            published_at TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            updated_at TEXT,
            content_hash TEXT NOT NULL,
            UNIQUE (source_id, guid)
        )
        """
    )
    db.execute("CREATE INDEX articles_url ON articles(url) WHERE url != ''")
    db.execute("CREATE INDEX articles_source_hash ON articles(source_id, content_hash)")
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            rule_id TEXT NOT NULL,
            key TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            closed_at TEXT,
            article_count INTEGER NOT NULL DEFAULT 0,
            source_count INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX events_one_open ON events(rule_id, key) WHERE state = 'open'")
    db.execute(
        """
        CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            rule_id TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            event_id INTEGER REFERENCES events(id),
            matched_at TEXT NOT NULL,
            hits TEXT NOT NULL,
            snippet TEXT NOT NULL,
            UNIQUE (rule_id, article_id)
        )
        """
    )
    db.execute("CREATE INDEX matches_event ON matches(event_id)")
    db.execute(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            event_id INTEGER NOT NULL REFERENCES events(id),
            channel TEXT NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,
            lease_owner TEXT,
            sent_at TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            UNIQUE (event_id, channel, kind)
        )
        """
    )
    db.execute("CREATE INDEX alerts_due ON alerts(state, next_attempt_at)")
    db.table("articles").enable_fts(
        ["title", "summary", "text"], create_triggers=True, tokenize="porter"
    )


@migrations(name="0002_source_schedule_and_daemon_state")
def source_schedule_and_daemon_state(db: Database) -> None:
    db.execute("ALTER TABLE sources ADD COLUMN config_url TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE sources ADD COLUMN interval_s REAL")
    db.execute("ALTER TABLE sources ADD COLUMN last_status INTEGER")
    db.execute("ALTER TABLE sources ADD COLUMN last_new_at TEXT")
    db.execute("ALTER TABLE sources ADD COLUMN failing_since TEXT")
    db.execute("UPDATE sources SET config_url = url")
    db.execute(
        """
        CREATE TABLE daemon_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )


@migrations(name="0003_modality_stories_thresholds")
def modality_stories_thresholds(db: Database) -> None:
    db.execute("ALTER TABLE matches ADD COLUMN modality TEXT NOT NULL DEFAULT 'asserted'")
    db.execute("ALTER TABLE matches ADD COLUMN modality_cue TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE matches ADD COLUMN key TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE matches ADD COLUMN counted INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE matches ADD COLUMN reason TEXT NOT NULL DEFAULT ''")
    db.execute("CREATE INDEX matches_pending ON matches(rule_id, key, matched_at)")
    db.execute("ALTER TABLE articles ADD COLUMN story_id INTEGER")
    db.execute("ALTER TABLE articles ADD COLUMN minhash BLOB")
    db.execute(
        """
        CREATE TABLE story_bands (
            band TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX story_bands_band ON story_bands(band)")
    db.execute("ALTER TABLE events ADD COLUMN story_count INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE events ADD COLUMN updates INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE events ADD COLUMN last_notified_at TEXT")
    db.execute("ALTER TABLE events ADD COLUMN notified_sources INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE events ADD COLUMN notified_stories INTEGER NOT NULL DEFAULT 0")


@migrations(name="0004_alert_formats_and_digests")
def alert_formats_and_digests(db: Database) -> None:
    # A digest is an alert about many Events, so event_id becomes optional: SQLite cannot
    # relax a NOT NULL column in place, so the table is rebuilt with its rows.
    db.execute(
        """
        CREATE TABLE alerts_new (
            id INTEGER PRIMARY KEY,
            event_id INTEGER REFERENCES events(id),
            channel TEXT NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            body_format TEXT NOT NULL DEFAULT 'text',
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,
            lease_owner TEXT,
            sent_at TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            digest_id INTEGER REFERENCES alerts_new(id),
            rule_id TEXT NOT NULL DEFAULT '',
            severity TEXT NOT NULL DEFAULT '',
            UNIQUE (event_id, channel, kind)
        )
        """
    )
    db.execute(
        "INSERT INTO alerts_new (id, event_id, channel, kind, title, body, state, attempts,"
        " created_at, next_attempt_at, lease_until, lease_owner, sent_at, last_error)"
        " SELECT id, event_id, channel, kind, title, body, state, attempts, created_at,"
        " next_attempt_at, lease_until, lease_owner, sent_at, last_error FROM alerts"
    )
    db.execute("DROP TABLE alerts")
    db.execute("ALTER TABLE alerts_new RENAME TO alerts")
    db.execute("CREATE INDEX alerts_due ON alerts(state, next_attempt_at)")
    db.execute("CREATE INDEX alerts_channel ON alerts(channel, created_at)")


@migrations(name="0005_search_index_follows_text_only")
def search_index_follows_text_only(db: Database) -> None:
    # The update trigger re-indexed an article for every UPDATE, including the one that
    # files it under a Story: two full-text tokenizations per matched article for nothing.
    db.execute('DROP TRIGGER IF EXISTS "articles_au"')
    db.execute(
        """
        CREATE TRIGGER "articles_au" AFTER UPDATE OF "title", "summary", "text" ON "articles"
        BEGIN
          INSERT INTO "articles_fts" ("articles_fts", rowid, "title", "summary", "text")
            VALUES ('delete', old.rowid, old."title", old."summary", old."text");
          INSERT INTO "articles_fts" (rowid, "title", "summary", "text")
            VALUES (new.rowid, new."title", new."summary", new."text");
        END
        """
    )


@migrations(name="0006_story_signatures_v2")
def story_signatures_v2(db: Database) -> None:
    # Shingles are now hashed word by word with CRC-32 (a third of the cost of BLAKE2b per
    # shingle): signatures stored before cannot be compared with new ones. Articles keep the
    # Story they were filed under; only new articles are compared from here on.
    db.execute("UPDATE articles SET minhash = NULL WHERE minhash IS NOT NULL")
    db.execute("DELETE FROM story_bands")


@migrations(name="0007_event_members")
def event_members(db: Database) -> None:
    # Each Event's distinct sources and stories, so that a joining match updates the counts
    # in constant time instead of recounting every match of the Event (quadratic in a busy one).
    db.execute(
        "CREATE TABLE event_sources (event_id INTEGER NOT NULL REFERENCES events(id),"
        " source_id TEXT NOT NULL, PRIMARY KEY (event_id, source_id)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE event_stories (event_id INTEGER NOT NULL REFERENCES events(id),"
        " story INTEGER NOT NULL, PRIMARY KEY (event_id, story)) WITHOUT ROWID"
    )
    db.execute(
        "INSERT OR IGNORE INTO event_sources (event_id, source_id)"
        " SELECT m.event_id, a.source_id FROM matches m JOIN articles a ON a.id = m.article_id"
        " WHERE m.event_id IS NOT NULL"
    )
    db.execute(
        "INSERT OR IGNORE INTO event_stories (event_id, story)"
        " SELECT m.event_id, coalesce(a.story_id, a.id) FROM matches m"
        " JOIN articles a ON a.id = m.article_id WHERE m.event_id IS NOT NULL"
    )


@migrations(name="0008_story_bands_as_integers")
def story_bands_as_integers(db: Database) -> None:
    # Bands as 64-bit integers in a table that is its own index: 32 inserts per signed
    # article cost 40 % less than hex text in a table plus an index. Migration 0006 emptied
    # the old table, so nothing is carried over.
    db.execute("DROP TABLE story_bands")
    db.execute(
        "CREATE TABLE story_bands (band INTEGER NOT NULL,"
        " article_id INTEGER NOT NULL REFERENCES articles(id),"
        " PRIMARY KEY (band, article_id)) WITHOUT ROWID"
    )


@migrations(name="0009_articles_by_source_newest")
def articles_by_source_newest(db: Database) -> None:
    # Source health reads a source's newest articles after every poll; without this index
    # SQLite sorted all of the source's articles each time, which grows with its history.
    db.execute("CREATE INDEX articles_source_newest ON articles(source_id, id)")


@migrations(name="0010_articles_indexed_on_save")
def articles_indexed_on_save(db: Database) -> None:
    # save_article() now writes the full-text row itself, in the same transaction. The UPDATE
    # and DELETE triggers stay: they keep the index right for a changed or removed article.
    db.execute('DROP TRIGGER IF EXISTS "articles_ai"')


@migrations(name="0011_events_and_alerts_indexes")
def events_and_alerts_indexes(db: Database) -> None:
    # The cooldown check reads a rule's last closed Event for a key before every new Event:
    # without an index that was a scan of all Events ever, growing with the database's age.
    db.execute(
        "CREATE INDEX events_last_closed ON events(rule_id, key, closed_at) WHERE state = 'closed'"
    )
    # `events`, the dashboard and the timeline list Events by activity and by day, and the
    # outbox page lists alerts newest first: read from indexes, not by sorting every row.
    db.execute("CREATE INDEX events_recent ON events(last_seen_at, id)")
    # Every cycle closes the quiet Events among the open ones.
    db.execute("CREATE INDEX events_by_state ON events(state, id)")
    db.execute("CREATE INDEX events_first_seen ON events(first_seen_at)")
    db.execute("CREATE INDEX alerts_recent ON alerts(created_at, id)")


@migrations(name="0012_retention")
def retention(db: Database) -> None:
    # Pruning finds old articles by fetch time, and keeps every article that has a match:
    # without these indexes each prune would scan all articles, and all matches per article.
    db.execute("CREATE INDEX articles_fetched ON articles(fetched_at)")
    db.execute("CREATE INDEX matches_article ON matches(article_id)")
    # What a pruned article leaves behind, so that a feed still carrying it does not bring it
    # back as new (and alert on it again under changed rules).
    db.execute(
        "CREATE TABLE pruned_articles (source_id TEXT NOT NULL, guid TEXT NOT NULL,"
        " pruned_at TEXT NOT NULL, PRIMARY KEY (source_id, guid)) WITHOUT ROWID"
    )


@migrations(name="0013_new_item_quota")
def new_item_quota(db: Database) -> None:
    # A broken or hostile feed that invents new items on every poll would fill the disk: each
    # source may store at most ``max_new_per_day`` new articles in a window that opens with
    # its first new article and lasts a day. The count lives on the source row, so checking
    # it costs nothing per article.
    db.execute("ALTER TABLE sources ADD COLUMN quota_since TEXT")
    db.execute("ALTER TABLE sources ADD COLUMN quota_used INTEGER NOT NULL DEFAULT 0")


@migrations(name="0014_rebuild_search_index")
def rebuild_search_index(db: Database) -> None:
    # Before this version, a feed carrying one item twice with different text in one poll
    # could take terms out of the full-text index that it did not hold, which corrupts it
    # without PRAGMA quick_check noticing. Rebuild it once from the articles themselves.
    db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')")


@migrations(name="0015_article_revisions")
def article_revisions(db: Database) -> None:
    # A feed may rewrite an item after it matched and alerted (same guid, new title, text
    # and link): the version a match was made on is kept here, so the record behind an
    # alert cannot be changed after the fact.
    db.execute(
        "CREATE TABLE article_revisions (id INTEGER PRIMARY KEY,"
        " article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,"
        " url TEXT NOT NULL, title TEXT NOT NULL, summary TEXT NOT NULL, text TEXT NOT NULL,"
        " published_at TEXT NOT NULL, content_hash TEXT NOT NULL, replaced_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX article_revisions_article ON article_revisions(article_id, id)")


@migrations(name="0016_new_text_quota")
def new_text_quota(db: Database) -> None:
    # max_new_mb_per_day: a feed bringing megabytes of new text per poll (60 KB items stuffed
    # with rule terms, in the hostile-feed run) stayed under max_new_per_day's item count
    # while adding about a gigabyte a day. The text of the window's new articles, in bytes.
    db.execute("ALTER TABLE sources ADD COLUMN quota_bytes INTEGER NOT NULL DEFAULT 0")
