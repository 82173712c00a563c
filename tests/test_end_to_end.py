"""The whole pipeline through the command line, with a real SMTP server and webhook receiver."""

from __future__ import annotations

import io
import shutil
import sqlite3
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli import main
from monitor.clock import FakeClock
from tests.conftest import ROOT, SmtpSink, free_port


def project_copy(tmp_path: Path, config_text: str | None = None) -> Path:
    """Copy the shipped config, rules and seeds; return the config path."""
    for name in ("config", "rules", "seeds"):
        shutil.copytree(ROOT / name, tmp_path / name)
    config = tmp_path / "config" / "monitor.yaml"
    if config_text is not None:
        config.write_text(config_text, encoding="utf-8")
    return config


def run(config: Path, clock: FakeClock, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *args], clock=clock, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("articles", "matches", "events", "alerts")
        }
    finally:
        conn.close()


def test_shipped_defaults_print_three_alerts_then_none(tmp_path: Path, clock: FakeClock) -> None:
    config = project_copy(tmp_path)
    code, out, err = run(config, clock, "run", "--once")
    assert code == 0, err
    assert out.count("=== ALERT ") == 3
    for rule in ("missile-launch", "un-sanctions-vote", "oil-embargo"):
        assert f"Rule: {rule} (" in out
    # Title, source and link, matched terms, and the snippet with the matched words marked.
    assert "\nForeign Minister Taro Kono asked his Chinese counterpart" in out
    assert "\nseeds, 2026-03-01 12:00 UTC\n(no link)\n" in out
    assert "Matched: launch, ballistic, missile" in out
    assert "North Korea’s *launch* of a *ballistic* *missile* over Japan" in out
    db = tmp_path / "data" / "news-monitor.db"
    assert counts(db) == {"articles": 2, "matches": 6, "events": 3, "alerts": 3}
    clock.advance(timedelta(minutes=5))
    code, out, err = run(config, clock, "run", "--once")
    assert code == 0, err
    assert out == ""
    assert counts(db) == {"articles": 2, "matches": 6, "events": 3, "alerts": 3}


def test_a_new_seed_file_joins_the_open_event(tmp_path: Path, clock: FakeClock) -> None:
    config = project_copy(tmp_path)
    run(config, clock, "run", "--once")
    (tmp_path / "seeds" / "100_new.md").write_text(
        "---\ntitle: Another launch\nsource: Wire\n---\n"
        "The North fired a ballistic missile into the sea on Tuesday.\n",
        encoding="utf-8",
    )
    clock.advance(timedelta(hours=1))
    code, out, _ = run(config, clock, "run", "--once")
    assert code == 0
    assert out == ""  # joins the open missile-launch Event: no second alert
    code, listing, _ = run(config, clock, "events")
    assert code == 0
    assert "missile-launch [critical, open]" in listing
    assert "3 article(s) from 1 source(s) (seeds)" in listing


def test_feed_text_cannot_drive_the_terminal(tmp_path: Path, clock: FakeClock) -> None:
    # An escape (ESC, or the 8-bit CSI and OSC a feed can carry as UTF-8), a carriage return
    # that would overwrite the line, and a bidi override that would reorder it.
    tricks = "\x1b[2J\x9b31m\x9d0;owned\x07\r\u202egpj.exe"
    config = project_copy(tmp_path)
    (tmp_path / "seeds" / "000_5bd9deda806cbd75.txt").unlink()
    (tmp_path / "seeds" / "003_7607a87248a232cc.txt").unlink()
    (tmp_path / "seeds" / "100_tricks.txt").write_text(
        f"Launch {tricks} report\n\n"
        f"The North fired a ballistic missile {tricks} into the sea on Tuesday.\n",
        encoding="utf-8",
    )
    code, alerts, err = run(config, clock, "run", "--once")
    assert code == 0, err
    code, listing, _ = run(config, clock, "events")
    code, replay, _ = run(config, clock, "rules", "test", "--since", "1d")
    for shown in (alerts, listing, replay, err):
        assert not set(shown) & set("\x1b\x9b\x9d\x07\r\u202e"), repr(shown)
    assert "Launch [2J31m0;owned" in listing


def test_an_event_that_went_quiet_is_closed_and_a_new_one_alerts(
    tmp_path: Path, clock: FakeClock
) -> None:
    config = project_copy(tmp_path)
    run(config, clock, "run", "--once")
    clock.advance(timedelta(hours=25))
    (tmp_path / "seeds" / "200_late.txt").write_text(
        "Late report\n\nA missile was launched again near the coast.\n", encoding="utf-8"
    )
    code, out, _ = run(config, clock, "run", "--once")
    assert code == 0
    assert out.count("=== ALERT ") == 1
    assert "Late report" in out
    _, listing, _ = run(config, clock, "events")
    assert listing.count("missile-launch [critical, closed]") == 1
    assert listing.count("missile-launch [critical, open]") == 1


CHANNELS = """
database: ../data/m.db
rules: ../rules
sources:
  - {{id: seeds, kind: seeds, path: ../seeds}}
channels:
  email:
    urls: ["mailto://127.0.0.1:{smtp}?from=monitor@example.com&to=desk@example.com"]
    min_interval: 0s
  hook:
    urls: ["json://127.0.0.1:{hook}/alerts"]
    min_interval: 0s
default_channels: [email, hook]
delivery: {{backoff_min: 30s, backoff_max: 10m, max_attempts: 5}}
"""


def test_email_and_webhook_get_exactly_one_alert_per_event(
    tmp_path: Path, clock: FakeClock, smtp: tuple[SmtpSink, int], httpserver: HTTPServer
) -> None:
    sink, smtp_port = smtp
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    config = project_copy(tmp_path, CHANNELS.format(smtp=smtp_port, hook=httpserver.port))
    code, _, err = run(config, clock, "run", "--once")
    assert code == 0, err
    assert len(sink.messages) == 3
    assert len(httpserver.log) == 3
    subjects = sorted(str(make_header(decode_header(m["Subject"]))) for m in sink.messages)
    assert [s.split(":")[0] for s in subjects] == [
        "[critical] New missile launch",
        "[warning] Oil embargo",
        "[warning] UN sanctions vote",
    ]
    assert all(env == ("monitor@example.com", ["desk@example.com"]) for env in sink.envelopes)
    hooks = sorted(req.get_json()["title"] for req, _ in httpserver.log)
    assert hooks == subjects
    clock.advance(timedelta(minutes=10))
    code, _, _ = run(config, clock, "run", "--once")
    assert code == 0
    assert (len(sink.messages), len(httpserver.log)) == (3, 3)


def test_a_channel_that_is_down_gets_its_alerts_once_it_is_back(
    tmp_path: Path, clock: FakeClock, smtp: tuple[SmtpSink, int]
) -> None:
    sink, smtp_port = smtp
    hook_port = free_port()
    config = project_copy(tmp_path, CHANNELS.format(smtp=smtp_port, hook=hook_port))
    code, _, err = run(config, clock, "run", "--once")
    assert code == 0
    assert len(sink.messages) == 3
    assert "to retry" in err and "3 to retry" in err
    code, status, _ = run(config, clock, "status")
    assert code == 0
    assert "alerts: retry 3, sent 3" in status
    assert "last error:" in status
    assert "    unhealthy: 0 dead, 3 to retry; last error: " in status
    server = HTTPServer(host="127.0.0.1", port=hook_port)
    server.expect_request("/alerts", method="POST").respond_with_data("ok")
    server.start()
    try:
        clock.advance(timedelta(minutes=2))
        code, _, err = run(config, clock, "run", "--once")
        assert code == 0, err
        assert len(server.log) == 3
        clock.advance(timedelta(hours=2))
        run(config, clock, "run", "--once")
        assert len(server.log) == 3
        assert len(sink.messages) == 3
    finally:
        server.clear()
        if server.is_running():
            server.stop()
    _, status, _ = run(config, clock, "status")
    assert "alerts: sent 6" in status


def test_check_accepts_the_shipped_config() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(ROOT / "config" / "monitor.yaml"), "check"], out=out, err=err)
    assert code == 0, err.getvalue()
    assert out.getvalue() == (
        "ok: config/monitor.yaml: 1 source(s), 3 rule(s), channels: console\n"
        if Path.cwd() == ROOT
        else out.getvalue()
    )
    assert "3 rule(s)" in out.getvalue()


def test_check_lists_every_rule_problem_and_exits_1(tmp_path: Path, clock: FakeClock) -> None:
    shutil.copytree(ROOT / "tests" / "data" / "rules_broken", tmp_path / "rules_broken")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "rules: rules_broken\nchannels:\n  ops-email:\n    urls: ['json://127.0.0.1/x']\n"
        "sources:\n  - {id: seeds, kind: seeds, path: s}\n"
        "  - {id: wire, kind: feed, url: 'http://127.0.0.1:9/x'}\n",
        encoding="utf-8",
    )
    code, _out, err = run(config, clock, "check")
    assert code == 1
    expected = (ROOT / "tests" / "data" / "rules_broken" / "expected.txt").read_text()
    lines = err.splitlines()
    assert "\n".join(line.split("rules_broken/", 1)[-1] for line in lines[:-1]) == "\n".join(
        line.split("rules_broken/", 1)[-1] for line in expected.splitlines()
    )
    assert lines[-1] == f"{len(expected.splitlines())} problem(s) found"


def test_run_refuses_a_bad_config_and_leaves_no_database(tmp_path: Path, clock: FakeClock) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("database: m.db\nsources:\n  - {id: x, kind: feed, url: 'ftp://a/b'}\n")
    code, _, err = run(config, clock, "run", "--once")
    assert code == 1
    assert "sources[0].url: scheme 'ftp' not allowed (allowed: http, https)" in err
    assert not (tmp_path / "m.db").exists()


def test_unknown_channel_url_is_reported_without_the_url(tmp_path: Path, clock: FakeClock) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "channels:\n  chat:\n    urls: ['nosuch://user:${TOKEN}@host/x']\n", encoding="utf-8"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOKEN", "CANARY_TOKEN_1234")
        code, out, err = run(config, clock, "check")
    assert code == 1
    assert (
        "channels.chat.urls[0]: not a notification URL apprise understands (scheme 'nosuch')" in err
    )
    assert "CANARY_TOKEN_1234" not in out + err


def test_json_log_lines(tmp_path: Path, clock: FakeClock) -> None:
    import json

    config = project_copy(tmp_path)
    code, _, err = run(config, clock, "--log-format", "json", "run", "--once")
    assert code == 0
    entries = [json.loads(line) for line in err.splitlines()]
    assert entries
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["message"].startswith("cycle done:") for e in entries)


def test_check_reports_template_errors_with_file_and_line(tmp_path: Path, clock: FakeClock) -> None:
    config = project_copy(tmp_path)
    templates = tmp_path / "config" / "templates"
    templates.mkdir()
    (templates / "open.text.j2").write_text("Hello {{ rule.nmae }}\n", encoding="utf-8")
    code, _, err = run(config, clock, "check")
    assert code == 1
    assert "config/templates/open.text.j2:1:15: " in err
    assert "has no attribute 'nmae'" in err


def test_dashboard_off_loopback_needs_a_token(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("database: m.db\nhttp: {listen: '0.0.0.0:8765'}\n", encoding="utf-8")
    code, _, err = run(config, clock, "run")
    assert code == 1
    assert "http.listen: refusing to serve the dashboard on 0.0.0.0:8765 without a token" in err
    assert not (tmp_path / "m.db").exists()
    config.write_text(
        "database: m.db\nrules: r\nhttp: {listen: '0.0.0.0:8765', token_env: DASH_TOKEN}\n",
        encoding="utf-8",
    )
    (tmp_path / "r").mkdir()
    monkeypatch.delenv("DASH_TOKEN", raising=False)
    code, _, err = run(config, clock, "check")
    assert code == 0, err
