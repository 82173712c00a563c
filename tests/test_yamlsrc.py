from __future__ import annotations

import time

import pytest

from monitor.yamlsrc import format_path, load_text


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
