from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import yamlsrc
from monitor.errors import Problem
from monitor.yamlsrc import Located, format_path, load_text
from tests.conftest import ROOT


def test_values_and_keys_are_located() -> None:
    data, located, problems = load_text("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert problems == []
    assert data == {"a": 1, "b": ["x", {"c": 2}]}
    assert located.at(("b", 1, "c")) == (4, 9)
    assert located.at(("b", 1, "c"), key=True) == (4, 6)
    assert located.at(("b", 5)) == (3, 3)  # unknown paths fall back to the nearest parent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", "f.yaml:2:1: duplicate key 'a' (first defined at line 1)"),
        ("a: &x [1]\nb: *x\n", "f.yaml:2:4: aliases (*name) are not allowed"),
        (
            "a: !!python/object/apply:os.system [ls]\n",
            "f.yaml:1:4: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
        ),
        (
            "a: [1\n",
            "f.yaml:2:1: YAML syntax error: while parsing a flow sequence: "
            "expected ',' or ']', but got '<stream end>'",
        ),
        (
            "a:\n  b: 1\n c: 2\n",
            "f.yaml:3:2: YAML syntax error: while parsing a block mapping: "
            "expected <block end>, but found '<block mapping start>'",
        ),
        ("<<: {a: 1}\n", "f.yaml:1:1: merge keys (<<) are not allowed"),
    ],
    ids=["duplicate-key", "alias", "python-tag", "unclosed-flow", "bad-indent", "merge-key"],
)
def test_strict_loader_problems(text: str, expected: str) -> None:
    _data, _, problems = load_text(text, "f.yaml")
    assert [str(p) for p in problems] == [expected]


def test_alias_bomb_is_rejected_at_once() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefgh"):
        prev = "abcdefgh"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.monotonic()
    data, _, problems = load_text("\n".join(lines), "bomb.yaml")
    assert time.monotonic() - started < 1.0
    assert data is None
    assert "aliases" in problems[0].message


def test_format_path() -> None:
    assert format_path(("match", "any", 2)) == "match.any[2]"
    assert format_path(()) == ""


# --- libyaml fast path -----------------------------------------------------------------------
# With libyaml, a document is composed in C and only a document free of problems is taken from
# there; everything else goes through PyYAML's pure-Python path, so results must be identical.

needs_libyaml = pytest.mark.skipif(yamlsrc._CLoader is None, reason="PyYAML built without libyaml")


def _result(loaded: tuple[Any, Located, list[Problem]]) -> tuple[str, Any, Any, list[str]]:
    data, located, problems = loaded
    return repr(data), located.values, located.keys, [f"{p} {p.hint}" for p in problems]


def _same_as_python(text: str) -> None:
    assert _result(load_text(text, "f.yaml")) == _result(yamlsrc._load_python(text, "f.yaml"))


@needs_libyaml
def test_fast_path_serves_a_clean_rule() -> None:
    text = (ROOT / "rules" / "missile-launch.yaml").read_text("utf-8")
    fast = yamlsrc._load_fast(text, "f.yaml")
    assert fast is not None
    assert _result(fast) == _result(yamlsrc._load_python(text, "f.yaml"))


# Documents libyaml reads otherwise than PyYAML (each one was a difference found by fuzzing),
# and documents with problems, whose messages only the Python path words.
DIFFERENT = [
    "id: oil\t\n",  # PyYAML refuses the tab
    "a:\tb\n",
    "a: [x?y, z]\n",  # "?" ends a plain scalar in a flow collection for PyYAML only
    "a: {k?: v}\n",
    'a: ["/U\\\\.?S/", x?]\n',
    "?",  # no line break at the end: libyaml places the empty value a line down
    "a:",
    "{a: }\n",  # empty value in a flow mapping
    "[a: ]\n",
    "{a, b: }\n",
    "!\n",  # a bare "!" on an empty node: null for PyYAML, "" for libyaml
    "a: ! \n",
    "|#\n",  # comment right after a block scalar header
    "a: >-#c\n  x\n",
    "\ufeffa: 1\n",
    "a: &x [1]\nb: *x\n",
    "a: &x\n  b: *x\n",
    "a: *x\n",
    "&k a: 1\nb: *k\n",
    "a: 1\na: 2\nb: {c: 1, c: 2}\n",
    "a: !!str 1\nb: !!int '2'\n",
    "[" * 60 + "]" * 60 + "\n",
    "[" * 1500 + "]" * 1500 + "\n",
    "- " * 60 + "x\n",
    "a: 2001-13-45\n",
    "%YAML 1.3\n---\na: 1\n",
    "a: b\n---\nc: d\n",
    "a: 'x\n",
    "a: [1\n",
]
SAME = [
    "a: 1\nb:\n  - x\n  - {c: 2}\n",
    "a: [x, 'y?', \"z?\"]\nb: what? yes\n? complex\n: value\n",
    "a:\n- b\n- c:\n  - d\n",
    "x: |\n  lit\n  more\n\ny: >-\n  folded\n  text\n",
    "q: \"esc \\u00e9 \\x41 \\n \\\\\"\nr: 'it''s'\n",
    "a: &anchor 1\nb: 2\n",
    "%YAML 1.1\n---\na: ~\nb: null\nc: .inf\nd: 0x1F\ne: 2001-12-14\n...\n",
    "a: b\r\nc: d\r\n",
    "a: b\u2028c: d\x85",
    "# only a comment\n",
    "",
    "a:\n  b:\n    c: [1, 2, {d: e}]\n",
]


@pytest.mark.parametrize("text", DIFFERENT + SAME)
def test_fast_path_gives_what_python_gives(text: str) -> None:
    _same_as_python(text)


@needs_libyaml
@pytest.mark.parametrize("text", [t for t in SAME if t])
def test_fast_path_is_taken(text: str) -> None:
    assert yamlsrc._load_fast(text, "f.yaml") is not None


@needs_libyaml
@pytest.mark.parametrize("text", DIFFERENT)
def test_fast_path_gives_way(text: str) -> None:
    assert yamlsrc._load_fast(text, "f.yaml") is None


_PIECES = st.sampled_from(
    [*"ab :-?[]{},#&*!|>'\"%@`\n\n  \t\\.01~e", "\r\n", "\x85", "\u2028", "é", "---", "...",
     "- ", ": ", "? ", "!!str ", "&a ", "*a", '"\\u00e9"', "'it''s'", "|\n  x\n", ">-\n  y\n"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_fast_path_agrees_on_generated_text(text: str) -> None:
    _same_as_python(text)
    _same_as_python(text + "\n")
