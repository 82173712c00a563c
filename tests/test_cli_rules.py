"""``news-monitor rules test`` and ``rules explain``."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.clock import FakeClock
from tests.conftest import DATA, ROOT


def run(config: Path, clock: FakeClock, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *args], clock=clock, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def project(tmp_path: Path) -> Path:
    for name in ("config", "rules", "seeds"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path / "config" / "monitor.yaml"


# labeled.jsonl was written with the rules; labeled_holdout.jsonl was kept back and scored
# later; labeled_fresh.jsonl and then labeled_unseen.jsonl were each written by someone who
# never saw the rules (or the other sets) and scored before any rule was changed for them, as
# were the four labeled_blind* sets after them (see rules/README.md for their first scores).
# All have since been used to improve the rules, so all now guard against regressions.
LABEL_SETS = [
    ("labeled.jsonl", 0.9),
    ("labeled_holdout.jsonl", 0.9),
    ("labeled_fresh.jsonl", 0.9),
    ("labeled_unseen.jsonl", 0.9),
    ("labeled_blind.jsonl", 0.9),
    ("labeled_blind4.jsonl", 0.9),
    ("labeled_blind5.jsonl", 0.9),
    ("labeled_blind6.jsonl", 0.9),
    ("labeled_blind7.jsonl", 0.9),
    ("labeled_blind8.jsonl", 0.9),
    ("labeled_blind9.jsonl", 0.9),
]


@pytest.mark.parametrize(("name", "floor"), LABEL_SETS)
def test_shipped_rules_score_on_the_labeled_sets(clock: FakeClock, name: str, floor: float) -> None:
    config = ROOT / "config" / "monitor.yaml"
    code, out, err = run(config, clock, "rules", "test", "--labels", str(DATA / name))
    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:5]}
    assert set(lines) == {"missile-launch", "oil-embargo", "un-sanctions-vote"}
    for rule, cells in lines.items():
        precision, recall = float(cells[1]), float(cells[2])
        assert precision >= floor and recall >= floor, (rule, precision, recall)
    items = (DATA / name).read_text(encoding="utf-8").splitlines()
    assert len(items) >= 150
    assert out.startswith(f"{len(items)} labeled texts from ")


def test_labels_file_errors_name_the_line(tmp_path: Path, clock: FakeClock) -> None:
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"title": "a", "text": "b", "rules": []}\n{not json\n', encoding="utf-8")
    code, _, err = run(
        ROOT / "config" / "monitor.yaml", clock, "rules", "test", "--labels", str(bad)
    )
    assert code == 1
    assert f"{bad}:2: " in err


def test_replay_and_explain_on_stored_articles(tmp_path: Path, clock: FakeClock) -> None:
    config = project(tmp_path)
    assert run(config, clock, "run", "--once")[0] == 0
    code, out, _ = run(config, clock, "rules", "test", "missile-launch", "--since", "1d")
    assert code == 0
    assert out.splitlines()[0].startswith("replayed 2 article(s)")
    assert "missile-launch: 2 article(s) would alert" in out
    code, out, _ = run(config, clock, "rules", "explain", "oil-embargo", "2")
    assert code == 0
    assert "[yes] all[0] (same sentence)" in out
    assert "[no ] any[0] 'oil embargo*': not found" in out
    assert "'blocking' (text @" in out
    assert "modality: asserted; counts" in out
    assert "stored: the match joined or opened event #" in out


def test_explain_a_text_file_shows_modality(tmp_path: Path, clock: FakeClock) -> None:
    text = tmp_path / "denial.txt"
    text.write_text("Denial\n\nPyongyang denied that it fired a missile on Monday.\n")
    code, out, _ = run(
        ROOT / "config" / "monitor.yaml", clock, "rules", "explain", "missile-launch", str(text)
    )
    assert code == 0
    assert "modality: negated (cue 'denied'); does not count (rule counts: asserted)" in out
    code, _, err = run(
        ROOT / "config" / "monitor.yaml", clock, "rules", "explain", "nope", str(text)
    )
    assert code == 1
    assert "no enabled rule 'nope'" in err
