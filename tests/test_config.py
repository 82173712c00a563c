from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ENV_VAR, load_config, resolve_path
from monitor.errors import ConfigError
from tests.conftest import ROOT, write_config


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return [str(p).replace(str(path.parent) + "/", "") for p in info.value.problems]


def test_shipped_config_loads_with_paths_relative_to_the_file() -> None:
    config = load_config(ROOT / "config" / "monitor.yaml", env={})
    assert config.database == ROOT / "data" / "news-monitor.db"
    assert config.rules_dir == ROOT / "rules"
    assert config.source_paths["seeds"] == ROOT / "seeds"
    assert config.spec.default_channels == ["console"]


def test_env_substitution_and_missing_variable_named(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "channels:\n  mail:\n    urls: ['mailto://u:${SMTP_PASSWORD}@127.0.0.1:25?to=a@b.c']\n"
        "  hook:\n    urls: ['json://127.0.0.1/${HOOK_PATH:-alerts}']\n",
    )
    config = load_config(path, env={"SMTP_PASSWORD": "s3cret"})
    assert config.spec.channels["mail"].urls == ["mailto://u:s3cret@127.0.0.1:25?to=a@b.c"]
    assert config.spec.channels["hook"].urls == ["json://127.0.0.1/alerts"]
    message = problems_of(path)
    assert message == [
        "monitor.yaml:3:12: channels.mail.urls[0]: environment variable 'SMTP_PASSWORD' is not set"
    ]


def test_every_problem_is_listed_sorted_with_hints(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "databse: x.db\n"
        "sources:\n"
        "  - id: a\n    kind: feed\n    url: file:///etc/hostname\n"
        "  - id: a\n    kind: seeds\n    path: s\n    every: soon\n"
        "  - id: B!\n    kind: rss\n"
        "default_channels: [consol]\n",
    )
    got = problems_of(path)
    assert got == sorted(got, key=lambda s: (s.split(":")[0], int(s.split(":")[1])))
    text = "\n".join(got)
    assert "1:1: unknown key 'databse' (allowed: database, rules, templates, sources" in text
    assert "did you mean 'database'?" in text
    assert "sources[1].every: invalid duration 'soon'" in text
    assert "sources[2].id: String should match pattern" in text
    assert "sources[2].kind: Input should be 'feed' or 'seeds'" in text


def test_references_checked_after_schema(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "sources:\n"
        "  - id: a\n    kind: feed\n    url: file:///etc/hostname\n"
        "  - id: a\n    kind: seeds\n    path: s\n"
        "  - id: c\n    kind: feed\n"
        "default_channels: [consol]\n",
    )
    got = problems_of(path)
    assert got == [
        "monitor.yaml:4:10: sources[0].url: scheme 'file' not allowed (allowed: http, https)",
        "monitor.yaml:5:9: sources[1].id: duplicate source id 'a' (also at line 2)",
        "monitor.yaml:8:5: sources[2]: a feed source needs 'url'",
        "monitor.yaml:10:20: default_channels[0]: unknown channel 'consol';"
        " did you mean 'console'?",
    ]


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.yaml") == ["nope.yaml: config file not found"]
    path = write_config(tmp_path, "- just\n- a list\n")
    assert problems_of(path) == ["monitor.yaml:1:1: the config must be a mapping of keys"]


def test_config_path_selection(tmp_path: Path) -> None:
    assert resolve_path(tmp_path / "x.yaml", env={ENV_VAR: "y.yaml"}) == tmp_path / "x.yaml"
    assert resolve_path(None, env={ENV_VAR: "y.yaml"}) == Path("y.yaml")
    assert resolve_path(None, env={}) == Path("config/monitor.yaml")
