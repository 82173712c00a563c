from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.sources.seeds import parse_seed, read_seeds
from tests.conftest import DATA, ROOT

FETCHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_seed_articles_golden() -> None:
    result = read_seeds(ROOT / "seeds", "seeds", FETCHED, "seeds")
    assert result.problems == []
    got = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(a).items()}
        for a in result.articles
    ]
    golden = DATA / "seeds_golden.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_seed_reading_rules() -> None:
    [first, second] = read_seeds(ROOT / "seeds", "seeds", FETCHED, "seeds").articles
    # No title line: the first sentence stands in, and no dateline means the fetch time.
    assert first.title.startswith("Foreign Minister Taro Kono asked")
    assert first.published_at == FETCHED
    assert "By subscribing" not in first.text
    assert "quality journalism" not in first.text
    assert first.text.endswith("other venues.")
    # A title line and a dateline.
    assert second.title == "China Agrees to ‘Vigorous Enforcement’ of Sanctions on North Korea"
    assert second.published_at == datetime(2017, 9, 18, tzinfo=UTC)
    assert not second.text.startswith("September 18")
    assert "Follow Joshua on Twitter" not in second.text


def test_front_matter() -> None:
    text = (
        "---\ntitle: Test title\nurl: https://example.com/a\nsource: Example Wire\n"
        "published: 2024-05-06T07:08:09Z\n---\nBody text here.\n"
    )
    article, problems = parse_seed(text, "a.md", "seeds/a.md", "seeds", FETCHED)
    assert problems == []
    assert article is not None
    assert (article.title, article.url, article.publisher) == (
        "Test title",
        "https://example.com/a",
        "Example Wire",
    )
    assert article.published_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert article.text == "Body text here."
    assert article.guid == "seed:a.md"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\ntitle: [x\n---\nBody\n", "seeds/b.md:2:10: YAML syntax error"),
        ("---\ntitel: x\n---\nBody\n", "seeds/b.md:2:1: unknown front matter key 'titel'"),
        ("---\ntitle: x\nBody\n", "seeds/b.md:1:1: front matter opened with '---' is never closed"),
        (
            "---\npublished: someday\n---\nBody\n",
            "seeds/b.md: front matter 'published' is not a date",
        ),
        ("\n\n   \n", "seeds/b.md:1:1: no article text"),
    ],
    ids=["yaml-error", "unknown-key", "unclosed", "bad-date", "empty"],
)
def test_bad_seed_files_are_located(text: str, expected: str) -> None:
    article, problems = parse_seed(text, "b.md", "seeds/b.md", "seeds", FETCHED)
    assert article is None
    assert str(problems[0]).startswith(expected)


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("A headline\n\nSome text about a missile.\n")
    (tmp_path / "bad.md").write_text("---\ntitel: x\n---\nBody\n")
    (tmp_path / "notes.json").write_text("{}")
    result = read_seeds(tmp_path, "seeds", FETCHED, "seeds")
    assert [a.title for a in result.articles] == ["A headline"]
    assert [p.file for p in result.problems] == ["seeds/bad.md"]
