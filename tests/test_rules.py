from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.model import Article
from monitor.rules.compile import compile_rules
from monitor.rules.load import load_rules, parse_rule
from monitor.rules.match import match_article
from monitor.yamlsrc import load_text
from tests.conftest import DATA

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def article(text: str, title: str = "Headline", summary: str = "") -> Article:
    return Article("src", "g", "", title, summary, text, NOW, NOW, "h")


def rule(yaml_text: str) -> list[str]:
    """Compile one rule from YAML and return a matcher closure's results per text."""
    data, located, problems = load_text(yaml_text, "r.yaml")
    assert problems == []
    spec, problems = parse_rule(data, located, "r", ["console"])
    assert problems == [], [str(p) for p in problems]
    assert spec is not None
    return [spec.id]


def matches(yaml_text: str, text: str, title: str = "Headline") -> bool:
    data, located, _ = load_text(yaml_text, "r.yaml")
    spec, problems = parse_rule(data, located, "r", ["console"])
    assert spec is not None, [str(p) for p in problems]
    return bool(match_article(compile_rules([spec]), article(text, title)))


def test_broken_rule_files_golden() -> None:
    folder = DATA / "rules_broken"
    loaded = load_rules(folder, ["console", "ops-email"], folder.parent, sources=["seeds", "wire"])
    got = "\n".join(str(p) for p in loaded.problems) + "\n"
    expected_path = folder / "expected.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_path.write_text(got, encoding="utf-8")
    assert got == expected_path.read_text(encoding="utf-8")
    # One bad file skips only itself; the good rule and the first of the duplicates load.
    assert sorted(s.id for s in loaded.specs) == ["good", "same-id"]
    assert "rules_broken/.hidden.yaml" not in loaded.bad_files


@pytest.mark.parametrize(
    ("clause", "text", "expected"),
    [
        ("[launch]", "They launched it.", False),
        ("[launch*]", "They launched it.", True),
        ("[launch*]", "A relaunch was planned.", False),
        ("[oil]", "Soil and boiling water.", False),
        ("[oil]", "OIL prices", True),
        ("[north korea]", "North  Korea's army", True),
        ("['U.N.']", "the U.N. Security Council", True),
        ("['/ICBMs?/']", "two ICBMs flew", True),
        ("['/ICBMs?/']", "ICBMS-like", True),
        ("['/(?-i:UN)/']", "un vote", False),
        ("['/(?-i:UN)/']", "UN vote", True),
        ("[café]", "Le CAFÉ ouvre", True),
        ("[café]", "cafés", False),
        ("[золото]", "ЗОЛОТО растёт", True),
        ("{all: [missile, launch*]}", "missile then later a launch", True),
        ("{all: [missile, launch*], near: 3}", "missile then much later, a launch", False),
        ("{all: [missile, launch*], near: 3}", "the missile launch", True),
        ("{all: [missile, launch*], same_sentence: true}", "A missile. A launch.", False),
        ("{all: [missile, launch*], same_sentence: true}", "A missile launch. Ok.", True),
        ("{all: [missile], not: [defence]}", "missile defence deal", False),
        ("{all: [missile], not: [defence], same_sentence: true}", "Missile fired. Defence.", True),
        ("{any: [{all: [a1, b1]}, {all: [c1, d1]}]}", "c1 and d1", True),
        ("{any: [{all: [a1, b1]}, {all: [c1, d1]}]}", "a1 and d1", False),
    ],
)
def test_rule_language(clause: str, text: str, expected: bool) -> None:
    assert matches(f"match: {clause}\n", text) is expected


def test_case_sensitive_rule() -> None:
    yaml_text = "case_sensitive: true\nmatch: [UN]\n"
    assert matches(yaml_text, "a UN vote")
    assert not matches(yaml_text, "an un vote")


def test_fields_limit_where_terms_are_found() -> None:
    yaml_text = "fields: [title]\nmatch: [missile]\n"
    assert matches(yaml_text, "nothing here", title="Missile test")
    assert not matches(yaml_text, "a missile test", title="Nothing")


def test_near_and_same_sentence_never_cross_fields() -> None:
    yaml_text = "match: {all: [missile, launch], near: 5}\n"
    assert not matches(yaml_text, "launch of the year", title="Missile")


def test_match_records_terms_offsets_and_snippet() -> None:
    data, located, _ = load_text("match: {all: [oil, ban*], near: 4}\n", "r.yaml")
    spec, _ = parse_rule(data, located, "oil", ["console"])
    assert spec is not None
    text = "First sentence. The sanctions did not include a proposed ban on oil shipments. Last."
    [found] = match_article(compile_rules([spec]), article(text))
    assert [(h.term, h.field, h.matched) for h in found.hits] == [
        ("ban*", "text", "ban"),
        ("oil", "text", "oil"),
    ]
    for hit in found.hits:
        assert text[hit.start : hit.end] == hit.matched
    assert found.snippet == "The sanctions did not include a proposed ban on oil shipments."


def test_text_stuffed_with_rule_terms_keeps_a_bounded_record_of_every_term() -> None:
    from monitor.rules.match import MAX_HITS

    words = [f"name{i}" for i in range(40)]
    data, located, _ = load_text(
        f"match: {{all: [oil, ban*, any: [{', '.join(words)}]]}}\n", "r.yaml"
    )
    spec, _ = parse_rule(data, located, "stuffed", ["console"])
    assert spec is not None
    # 60 KB of the rule's own terms, each many times.
    text = ". ".join(f"The oil ban hit {w} and {w} again" for w in words * 40)
    [found] = match_article(compile_rules([spec]), article(text))
    assert len(found.hits) <= MAX_HITS
    # Every term keeps its first place, in order: group_by and alerts see each one.
    kept = {h.term for h in found.hits}
    assert kept == {"oil", "ban*", *words}
    firsts = {h.term: h.start for h in sorted(found.hits, key=lambda h: -h.start)}
    assert all(text[firsts[w] : firsts[w] + len(w)] == w for w in words)
    assert firsts["name0"] == text.index("name0")
    assert [h.start for h in found.hits] == sorted(h.start for h in found.hits)


def test_catastrophic_regex_finishes_at_once() -> None:
    data, located, _ = load_text("match: ['/(a+)+$/', '/(\\w+\\s?)*sanction$/']\n", "r.yaml")
    spec, problems = parse_rule(data, located, "redos", ["console"])
    assert spec is not None, problems
    ruleset = compile_rules([spec])
    started = time.monotonic()
    match_article(ruleset, article("a" * 10_000 + "!"))
    match_article(ruleset, article("The council discussed many things about " * 5 + "sanctions!"))
    assert time.monotonic() - started < 0.5


def test_shipped_rules_fire_on_the_seeds(tmp_path: Path) -> None:
    from monitor.sources.seeds import read_seeds
    from tests.conftest import ROOT

    loaded = load_rules(ROOT / "rules", ["console"])
    assert loaded.problems == []
    ruleset = compile_rules(loaded.specs)
    seeds = read_seeds(ROOT / "seeds", "seeds", NOW, "seeds").articles
    fired = {m.rule_id for a in seeds for m in match_article(ruleset, a)}
    assert fired == {"missile-launch", "un-sanctions-vote", "oil-embargo"}
    oil = [m for a in seeds for m in match_article(ruleset, a) if m.rule_id == "oil-embargo"]
    words = {h.matched for m in oil for h in m.hits}
    # Seed 003's wording is caught too: the negated ban and the blocking of supply.
    assert {"ban", "blocking", "oil embargo"} <= words
    assert {m.modality for m in oil} <= {"asserted", "hedged", "planned"}


def test_shipped_rules_stay_silent_on_everyday_news() -> None:
    import json

    from tests.conftest import ROOT

    ruleset = compile_rules(load_rules(ROOT / "rules", ["console"]).specs)
    lines = (DATA / "everyday.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 30
    noisy = []
    for line in lines:
        item = json.loads(line)
        found = match_article(ruleset, article(item["text"], item["title"]))
        noisy += [(item["id"], m.rule_id, m.snippet) for m in found]
    assert noisy == []


@pytest.mark.parametrize(
    "text",
    [
        "North Korea fired a ｂａｌｌｉｓｔｉｃ ｍｉｓｓｉｌｅ on Tuesday.",  # full-width
        "North Korea fired a 𝐛𝐚𝐥𝐥𝐢𝐬𝐭𝐢𝐜 𝐦𝐢𝐬𝐬𝐢𝐥𝐞 on Tuesday.",  # mathematical bold
        "North Korea fіred a ballistic mіssіle on Tuesday.",  # Cyrillic і inside Latin words
        "North Korea fired a ballistic ⓜⓘⓢⓢⓘⓛⓔ on Tuesday.",  # circled letters
    ],
)
def test_lookalike_letters_do_not_hide_a_trigger(text: str) -> None:
    # Found by a hostile-feed run: these spellings slipped past every rule.
    from tests.conftest import ROOT

    ruleset = compile_rules(load_rules(ROOT / "rules", ["console"]).specs)
    found = match_article(ruleset, article(text, "Launch"))
    launch = [m for m in found if m.rule_id == "missile-launch"]
    assert launch, text
    # The evidence is quoted as the article wrote it, at the offsets of the stored text.
    for hit in launch[0].hits:
        if hit.field == "text":
            assert text[hit.start : hit.end] == hit.matched
    assert any(not h.matched.isascii() for h in launch[0].hits)


@pytest.mark.parametrize(
    ("title", "text", "fires"),
    [
        (
            "Nuri rocket places satellites in orbit",
            "The Nuri rocket blasted off on Thursday. It was the third launch of the"
            " three-stage, 200-tonne rocket. Its small satellite is now in orbit.",
            False,
        ),
        (
            "North Korea fires rockets",
            "North Korea fired a salvo of rockets into the sea. It put a spy satellite into"
            " orbit last month with ballistic missile technology, officials said.",
            True,
        ),
        (
            "Rockets fired at Ashkelon",
            "Militants fired a barrage of rockets at Ashkelon on Monday; satellite images"
            " later showed the launch sites.",
            True,
        ),
    ],
)
def test_a_space_launch_is_told_apart_by_the_whole_article(
    title: str, text: str, fires: bool
) -> None:
    from tests.conftest import ROOT

    ruleset = compile_rules(load_rules(ROOT / "rules", ["console"]).specs)
    found = {m.rule_id for m in match_article(ruleset, article(text, title))}
    assert ("missile-launch" in found) == fires


def test_words_wholly_in_another_script_are_not_folded() -> None:
    from monitor.text import fold

    russian = "Ракета упала в море; Сергей сказал «нет», а OPEC промолчал."
    assert fold(russian) == russian
    # A word that mixes scripts is folded, letter for letter.
    assert fold("the оіl embargo") == "the oil embargo"
    assert len(fold("𝐨𝐢𝐥 ｅｍｂａｒｇｏ")) == len("𝐨𝐢𝐥 ｅｍｂａｒｇｏ")
    # A rule term typed in full-width letters finds the plain word.
    assert matches("match: [ｏｉｌ ｅｍｂａｒｇｏ]\n", "They imposed an oil embargo.")


def test_lists_source_filters_and_languages(tmp_path: Path) -> None:
    (tmp_path / "lists.yaml").write_text(
        "lists:\n  north_korea: [North Korea, DPRK, Pyongyang]\n", encoding="utf-8"
    )
    (tmp_path / "nk.yaml").write_text(
        "match: {all: ['@north_korea', launch*]}\nsources: {except: [blog]}\nlanguages: [en]\n",
        encoding="utf-8",
    )
    loaded = load_rules(tmp_path, ["console"], sources=["wire", "blog"])
    assert loaded.problems == []
    ruleset = compile_rules(loaded.specs)

    def fires(text: str, source: str = "wire", language: str = "") -> bool:
        item = Article(source, "g", "", "T", "", text, NOW, NOW, "h", language=language)
        return bool(match_article(ruleset, item))

    assert fires("Pyongyang launched it")
    assert fires("The DPRK launches")
    assert not fires("Pyongyang launched it", source="blog")
    assert fires("Pyongyang launched it", language="en-GB")
    assert not fires("Pyongyang launched it", language="fr")
