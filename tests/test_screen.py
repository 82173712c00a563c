"""The screening matcher agrees with the plain definition: each term's own RE2 pattern.

``match_article`` screens with one automaton, checks words with substring searches on a
lower-cased, space-normalised copy of the text and builds evidence only for rules that hold.
These tests compare the rules it returns with a reference that finds every term with its
RE2 pattern in the original text and evaluates every rule, on generated rules and texts.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.model import Article
from monitor.rules.compile import (
    FIELD_BITS,
    ODD_SPACES,
    RuleSet,
    compile_rules,
    regex_literal,
    screening_text,
)
from monitor.rules.match import Pos, admits, evaluate, match_article
from monitor.rules.schema import Clause, RuleFields, RuleSpec, Term
from monitor.text import fold, index_of, sentence_starts, word_starts

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FIELDS = ("title", "summary", "text")
# The offset between fields in word and sentence numbers (as in monitor.rules.match).
GAP = 1_000_000


def reference(ruleset: RuleSet, article: Article) -> list[str]:
    """Rule ids that hold when every term is found with its own RE2 pattern."""
    out: list[str] = []
    for rule in ruleset.rules:
        if not admits(rule, article):
            continue
        pool: list[Pos] = []
        for tid in set(rule.term_ids.values()):
            for n, name in enumerate(FIELDS):
                if name not in rule.spec.fields.fields:
                    continue
                text = fold(article.field_text(name))
                words, sentences = word_starts(text), sentence_starts(text)
                for start, end in ruleset.spans(tid, text):  # RE2 only: no lowered text
                    word = n * GAP + index_of(words, start)
                    sentence = n * GAP + index_of(sentences, start)
                    pool.append(Pos(tid, name, start, end, word, sentence))
        if pool and evaluate(rule, rule.spec.match, pool):
            out.append(rule.id)
    return out


VOCAB = [
    "oil",
    "Oil embargo",
    "embargo",
    "U.N.",
    "missile",
    "launch*",
    "test-fire*",
    "Security Council",
    "café",
    "Straße",
    "naïve",
    "$27",
    "C++",
    "/ICBMs?/",
    "/(?:Jean\\s+)?Dupont/",
    "/sanction(s|ed)/",
    "/\\d+ missiles/",
    "/a|oil/",
]
WORDS = [
    "oil",
    "OIL",
    "Oil",
    "embargo",
    "embargoes",
    "soil",
    "U.N.",
    "UN",
    "missile",
    "missiles",
    "launched",
    "relaunch",
    "test-fired",
    "Security",
    "Council",
    "CAFÉ",
    "café",
    "cafés",
    "STRASSE",
    "Straße",
    "naïve",
    "$27",
    "$270",
    "C++",
    "ICBM",
    "ICBMs",
    "Jean",
    "Dupont",
    "sanctions",
    "sanctioned",
    "12",
    "İstanbul",
    "the",
    "a",
    ".",
    ",",
    "’",
    "\u00a0",
]
SPACES = [" ", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\x0b", "\u2009", "\u3000", ""]

terms = st.sampled_from(VOCAB).map(lambda text: Term(text, 1, 1))
leaf_lists = st.lists(terms, min_size=1, max_size=3, unique=True)


def clauses(depth: int = 2) -> st.SearchStrategy[Clause]:
    children: st.SearchStrategy[Clause | Term] = (
        terms if depth == 0 else st.one_of(terms, st.deferred(lambda: clauses(depth - 1)))
    )
    return st.builds(
        Clause,
        any=st.lists(children, max_size=3).map(tuple),
        all=st.lists(children, max_size=2).map(tuple),
        none=st.lists(terms, max_size=1).map(tuple),
        near=st.one_of(st.none(), st.integers(0, 4)),
        same_sentence=st.booleans(),
    )


specs = st.lists(
    st.tuples(
        clauses(),
        st.booleans(),
        st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True),
    ),
    min_size=1,
    max_size=6,
)
texts = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SPACES)), max_size=40).map(
    lambda parts: "".join(w + s for w, s in parts)
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs, texts, texts, st.sampled_from(WORDS), st.integers(-1, 300), st.booleans())
def test_screening_matches_the_reference(
    written: list[tuple[Clause, bool, list[str]]],
    text: str,
    other: str,
    title: str,
    cut: int,
    ellipsis: bool,
) -> None:
    # A summary is usually the start of the text on one line, cut anywhere; or another text.
    summary = other if cut < 0 else " ".join(text.split())[:cut] + ("…" if ellipsis else "")
    rules = [
        RuleSpec(
            RuleFields(id=f"r{i}", case_sensitive=case, fields=fields),  # type: ignore[arg-type]
            clause,
            "r.yaml",
            1,
        )
        for i, (clause, case, fields) in enumerate(written)
    ]
    ruleset = compile_rules(rules)
    art = Article("src", "g", "", title, summary, text, NOW, NOW, "h")
    got = [m.rule_id for m in match_article(ruleset, art)]
    assert got == reference(ruleset, art)


def test_screening_text_joins_words_like_re2_whitespace() -> None:
    assert screening_text("Oil\t\n  Embargo ") == "oil embargo"
    # Whitespace that RE2's \s does not match stays a boundary but never joins two words.
    assert screening_text("oil\u2009embargo") == "oil\x01embargo"
    assert screening_text("oil\x0bembargo") == "oil\x01embargo"


def test_odd_spaces_are_every_split_whitespace_re2_does_not_match() -> None:
    split_spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    # fold turns a no-break space into a space before screening.
    assert split_spaces - set(" \t\n\r\x0c\u00a0") == set(ODD_SPACES)


def test_regex_literal_is_a_necessary_piece() -> None:
    assert regex_literal("ICBMs?") == "icbm"
    assert regex_literal(r"(?:Jean\s+)?Dupont") == "dupont"
    assert regex_literal(r"U\.N\. vote") == "u.n."
    assert regex_literal("a|oil") is None
    assert regex_literal(r"\d+") is None


def test_field_bits_cover_every_field() -> None:
    assert set(FIELD_BITS) == set(FIELDS)


def test_a_summary_cut_inside_a_word_can_hold_a_term_its_text_does_not() -> None:
    text = "Officials said the oil embargoes and the missiles tested on Monday were new."
    ruleset = compile_rules(
        [
            RuleSpec(RuleFields(id="oil"), Clause(any=(Term("Oil embargo", 1, 1),)), "r", 1),
            RuleSpec(RuleFields(id="missile"), Clause(any=(Term("missile", 1, 1),)), "r", 1),
        ]
    )
    for cut, expected in ((30, ["oil"]), (48, ["missile"]), (49, []), (51, [])):
        summary = text[:cut]
        art = Article("src", "g", "", "Title", summary, text, NOW, NOW, "h")
        got = [m.rule_id for m in match_article(ruleset, art)]
        assert got == expected == reference(ruleset, art), (summary, got)
