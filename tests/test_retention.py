"""Retention: old unmatched articles go, matched ones stay, and pruned items do not come back."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.errors import ConfigError
from tests.test_end_to_end import project_copy, run

CONFIG = """\
database: data/monitor.db
rules: ../rules
sources:
  - {id: desk, kind: seeds, path: desk, every: 1m}
default_channels: [console]
http: false
"""


def stories(folder: Path) -> None:
    folder.mkdir()
    (folder / "launch.md").write_text(
        "---\ntitle: Missile launch\n---\nNorth Korea fired a ballistic missile on Tuesday.\n",
        encoding="utf-8",
    )
    (folder / "weather.md").write_text(
        "---\ntitle: Mild autumn\n---\nThe weather stayed mild across the peninsula.\n",
        encoding="utf-8",
    )
    (folder / "harvest.md").write_text(
        "---\ntitle: Harvest\n---\nFarmers brought in a record rice harvest.\n",
        encoding="utf-8",
    )


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_unmatched_articles_are_pruned_and_stay_pruned(tmp_path: Path, clock: FakeClock) -> None:
    config = project_copy(tmp_path, CONFIG)
    stories(tmp_path / "config" / "desk")
    db = tmp_path / "config" / "data" / "monitor.db"
    code, out, err = run(config, clock, "run", "--once")
    assert code == 0, err
    assert out.count("=== ALERT ") == 1
    assert len(rows(db, "SELECT id FROM articles")) == 3

    # Not yet old enough: nothing goes.
    clock.advance(timedelta(days=89))
    code, out, _ = run(config, clock, "prune", "--dry-run")
    assert code == 0 and out.startswith("would remove 0 unmatched articles fetched before")

    clock.advance(timedelta(days=2))
    code, out, _ = run(config, clock, "prune", "--dry-run")
    assert out.startswith("would remove 2 unmatched articles")
    assert len(rows(db, "SELECT id FROM articles")) == 3

    # run --once prunes when due; the files are still in the folder, and do not come back.
    code, out, err = run(config, clock, "run", "--once")
    assert code == 0, err
    assert out == ""
    assert rows(db, "SELECT title FROM articles") == [("Missile launch",)]
    assert rows(db, "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'harvest'") == [
        (0,)
    ]
    assert rows(db, "SELECT count(*) FROM pruned_articles") == [(2,)]
    # The matched article keeps its match, Event and alert.
    assert rows(db, "SELECT count(*) FROM matches") == [(1,)]
    assert rows(db, "SELECT count(*) FROM alerts") == [(1,)]

    # A pruned item whose text changed is still not news again.
    (tmp_path / "config" / "desk" / "weather.md").write_text(
        "---\ntitle: Mild autumn\n---\nThe weather stayed mild; no missile was fired.\n",
        encoding="utf-8",
    )
    clock.advance(timedelta(hours=7))
    code, out, err = run(config, clock, "run", "--once")
    assert code == 0 and out == "", err
    assert len(rows(db, "SELECT id FROM articles")) == 1
    code, status, _ = run(config, clock, "status")
    assert "retention last ran, since" in status


def test_pruning_runs_at_most_every_six_hours(tmp_path: Path, clock: FakeClock) -> None:
    config = project_copy(tmp_path, CONFIG)
    stories(tmp_path / "config" / "desk")
    db = tmp_path / "config" / "data" / "monitor.db"
    run(config, clock, "run", "--once")
    last_prune = "SELECT updated_at FROM daemon_state WHERE key = 'retention.last_prune'"
    last = rows(db, last_prune)
    clock.advance(timedelta(days=91))
    (tmp_path / "config" / "desk" / "later.md").write_text(
        "---\ntitle: Later\n---\nNothing happened.\n", encoding="utf-8"
    )
    # The first run ever pruned (nothing); 91 days later the next run prunes the old two.
    run(config, clock, "run", "--once")
    assert len(rows(db, "SELECT id FROM articles")) == 2
    assert rows(db, last_prune) != last
    # 91 days on, "later.md" is old too; but a run within six hours of the last prune waits.
    clock.advance(timedelta(days=91))
    (tmp_path / "config" / "desk" / "later.md").unlink()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE daemon_state SET value = ? WHERE key = 'retention.last_prune'",
            ((clock.now() - timedelta(hours=1)).isoformat(),),
        )
    run(config, clock, "run", "--once")
    assert len(rows(db, "SELECT id FROM articles")) == 2
    clock.advance(timedelta(hours=5, minutes=1))
    run(config, clock, "run", "--once")
    assert rows(db, "SELECT title FROM articles") == [("Missile launch",)]


def test_retention_can_be_turned_off_and_is_validated(tmp_path: Path, clock: FakeClock) -> None:
    config = project_copy(tmp_path, CONFIG + "retention: {articles: null}\n")
    stories(tmp_path / "config" / "desk")
    run(config, clock, "run", "--once")
    clock.advance(timedelta(days=400))
    code, out, err = run(config, clock, "run", "--once")
    assert code == 0, err
    assert len(rows(tmp_path / "config" / "data" / "monitor.db", "SELECT id FROM articles")) == 3
    code, out, _ = run(config, clock, "prune")
    assert out == "retention.articles is null: every article is kept\n"

    config.write_text(CONFIG + "retention:\n  articles: 2h\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert [str(p) for p in caught.value.problems] == [
        f"{config}:8:13: retention.articles: must be at least 1d (or null to keep every article)"
    ]
