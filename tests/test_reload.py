"""Live changes: edits apply without a restart; broken edits keep the last good version."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.pipeline import Runtime, build_runtime
from monitor.reload import Reloader
from monitor.store import open_store
from monitor.store import state as state_q
from tests.conftest import ROOT

CONFIG = """
database: m.db
rules: rules
sources:
  - {id: seeds, kind: seeds, path: seeds}
"""


@pytest.fixture
def rt(tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    (tmp_path / "monitor.yaml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "monitor.yaml", env={})
    runtime = build_runtime(config, open_store(config.database), clock, console=io.StringIO())
    yield runtime
    runtime.close()
    runtime.store.close()


def touch(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    # Make sure the mtime moves even on filesystems with coarse timestamps.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_rule_edit_applies_and_broken_edit_keeps_the_last_good_rule(
    rt: Runtime, tmp_path: Path, clock: FakeClock
) -> None:
    reloader = Reloader(rt)
    assert not reloader.check()
    rule = tmp_path / "rules" / "oil-embargo.yaml"
    touch(rule, "name: Oil embargo v2\nmatch: ['oil embargo*']\n")
    assert reloader.check()
    assert rt.rules.specs["oil-embargo"].fields.name == "Oil embargo v2"

    touch(rule, "name: broken\nmatch:\n  any: [a\n")
    assert reloader.check()
    assert rt.rules.specs["oil-embargo"].fields.name == "Oil embargo v2"
    assert rt.rules.loaded.kept == ["rules/oil-embargo.yaml"]
    problems = state_q.all_state(rt.store)["rule_problems"][0]
    assert problems.startswith("rules/oil-embargo.yaml:4:1: YAML syntax error")
    assert "last good version still in force for: rules/oil-embargo.yaml" in problems

    out = io.StringIO()
    main(["--config", str(tmp_path / "monitor.yaml"), "status"], clock=clock, out=out)
    assert "rule problems (broken files skipped)" in out.getvalue()
    assert "rules/oil-embargo.yaml:4:1: YAML syntax error" in out.getvalue()

    touch(rule, "name: Oil embargo v3\nmatch: ['oil embargo*']\n")
    assert reloader.check()
    assert rt.rules.specs["oil-embargo"].fields.name == "Oil embargo v3"
    assert "rule_problems" not in state_q.all_state(rt.store)

    rule.unlink()
    assert reloader.check()
    assert "oil-embargo" not in rt.rules.specs
    assert set(rt.rules.specs) == {"missile-launch", "un-sanctions-vote"}


def test_config_edit_applies_and_broken_config_is_rejected(rt: Runtime, tmp_path: Path) -> None:
    reloader = Reloader(rt)
    config = tmp_path / "monitor.yaml"
    touch(config, CONFIG + "  - {id: extra, kind: feed, url: 'ftp://nope/x'}\n")
    assert not reloader.check()
    assert [s.id for s in rt.config.spec.sources] == ["seeds"]
    problem = state_q.all_state(rt.store)["config_problems"][0]
    assert problem == (
        f"{config}:6:34: sources[1].url: scheme 'ftp' not allowed (allowed: http, https)"
    )

    touch(config, CONFIG + "  - {id: extra, kind: feed, url: 'http://127.0.0.1:9/x'}\n")
    assert reloader.check()
    assert [s.id for s in rt.config.spec.sources] == ["seeds", "extra"]
    assert rt.store.scalar("SELECT url FROM sources WHERE id = 'extra'") == "http://127.0.0.1:9/x"
    assert "config_problems" not in state_q.all_state(rt.store)


def test_editor_files_are_ignored(rt: Runtime, tmp_path: Path) -> None:
    reloader = Reloader(rt)
    (tmp_path / "rules" / ".oil-embargo.yaml.swp").write_text("garbage: [")
    (tmp_path / "rules" / "oil-embargo.yaml~").write_text("garbage: [")
    assert not reloader.check()
