"""Every documented command exists, and every rule key and CLI command is documented."""

from __future__ import annotations

import argparse

from monitor.cli import build_parser
from monitor.config import ConfigSpec
from monitor.rules.schema import CLAUSE_KEYS, RuleFields
from tests.conftest import ROOT


def test_every_rule_key_is_documented_with_an_example() -> None:
    text = (ROOT / "rules" / "README.md").read_text(encoding="utf-8")
    for key in [*RuleFields.model_fields, *CLAUSE_KEYS]:
        assert f"| `{key}` |" in text, key
        assert f"{key}:" in text, f"no example of {key}"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in commands:
        assert f"news-monitor {name}" in readme, name
    assert readme.index("make run") < readme.index("make test") < readme.index("## Configure")


def test_every_config_section_is_in_the_shipped_config() -> None:
    shipped = (ROOT / "config" / "monitor.yaml").read_text(encoding="utf-8")
    for key in ConfigSpec.model_fields:
        assert f"{key}:" in shipped or f"# {key}" in shipped, key
