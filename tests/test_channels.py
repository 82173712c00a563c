"""Alert delivery to real receivers: routing, digests, rate limits, chat, the alerts command."""

from __future__ import annotations

import io
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli import main
from monitor.clock import FakeClock
from tests.conftest import ROOT, SmtpSink, free_port


def run(config: Path, clock: FakeClock, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *args], clock=clock, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def project(tmp_path: Path, body: str) -> Path:
    for name in ("rules", "seeds"):
        shutil.copytree(ROOT / name, tmp_path / name)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: m.db\nrules: rules\nsources:\n  - {id: seeds, kind: seeds, path: seeds}\n"
        + body,
        encoding="utf-8",
    )
    return config


def test_routes_by_severity_and_rule_channels(
    tmp_path: Path, clock: FakeClock, smtp: tuple[SmtpSink, int], httpserver: HTTPServer
) -> None:
    sink, port = smtp
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = project(
        tmp_path,
        f"channels:\n"
        f"  mail: {{urls: ['mailto://127.0.0.1:{port}?from=m@example.com&to=d@example.com'],"
        f" min_interval: 0s}}\n"
        f"  oncall: {{urls: ['json://127.0.0.1:{httpserver.port}/hook'], min_interval: 0s}}\n"
        "routes:\n  critical: [oncall]\n  warning: [mail]\n",
    )
    code, out, err = run(config, clock, "run", "--once")
    assert code == 0, err
    hooks = [req.get_json()["title"] for req, _ in httpserver.log]
    assert len(hooks) == 1 and hooks[0].startswith("[critical] New missile launch")
    assert sorted(str(m["Subject"])[:20] for m in sink.messages) == [
        "=?utf-8?q?=5Bwarning",
        "=?utf-8?q?=5Bwarning",
    ]
    assert out == ""  # nothing fell through to the console


def test_digest_collects_alerts_into_one_summary(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/digest").respond_with_data("ok")
    config = project(
        tmp_path,
        f"channels:\n  daily: {{urls: ['json://127.0.0.1:{httpserver.port}/digest'],"
        " min_interval: 0s, digest: {every: 1h}}\n"
        "default_channels: [daily]\n",
    )
    assert run(config, clock, "run", "--once")[0] == 0
    assert httpserver.log == []
    _code, listing, _ = run(config, clock, "alerts", "--state", "held")
    assert listing.count(" held ") == 3
    clock.advance(timedelta(minutes=59))
    run(config, clock, "run", "--once")
    assert httpserver.log == []
    clock.advance(timedelta(minutes=2))
    run(config, clock, "run", "--once")
    assert len(httpserver.log) == 1
    digest = httpserver.log[0][0].get_json()
    assert digest["title"] == "Digest: 3 alerts from 3 rules"
    for rule in ("missile-launch", "oil-embargo", "un-sanctions-vote"):
        assert f"== {rule} (1)" in digest["message"]
    clock.advance(timedelta(hours=2))
    run(config, clock, "run", "--once")
    assert len(httpserver.log) == 1  # nothing new: no empty digest


def test_rate_limit_sends_overflow_to_the_next_digest(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = project(
        tmp_path,
        f"channels:\n  hook: {{urls: ['json://127.0.0.1:{httpserver.port}/hook'],"
        " min_interval: 0s, rate_limit: {count: 1, per: 1h}, digest: {every: 30m}}\n"
        "default_channels: [hook]\n",
    )
    run(config, clock, "run", "--once")
    assert len(httpserver.log) == 1
    clock.advance(timedelta(minutes=31))
    run(config, clock, "run", "--once")
    titles = [req.get_json()["title"] for req, _ in httpserver.log]
    assert len(titles) == 2
    assert titles[1] == "Digest: 2 alerts from 2 rules"
    conn = sqlite3.connect(tmp_path / "m.db")
    states = dict(conn.execute("SELECT state, count(*) FROM alerts GROUP BY state").fetchall())
    conn.close()
    assert states == {"sent": 2, "digested": 2}


def test_mattermost_webhook_on_a_local_server(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hooks/abc123token", method="POST").respond_with_data("ok")
    config = project(
        tmp_path,
        f"channels:\n  chat: {{urls: ['mmost://127.0.0.1:{httpserver.port}/abc123token'],"
        " min_interval: 0s}\ndefault_channels: [chat]\n",
    )
    code, _, err = run(config, clock, "run", "--once")
    assert code == 0, err
    assert len(httpserver.log) == 3
    payload = httpserver.log[0][0].get_json()
    assert "text" in payload
    code, status, _ = run(config, clock, "status")
    assert "chat: mmost://127.0.0.1" in status
    assert "abc123token" not in status


def test_alerts_list_retry_and_test(tmp_path: Path, clock: FakeClock) -> None:
    port = free_port()
    config = project(
        tmp_path,
        f"channels:\n  hook: {{urls: ['json://127.0.0.1:{port}/x'], min_interval: 0s}}\n"
        "default_channels: [hook]\ndelivery: {max_attempts: 1}\n",
    )
    run(config, clock, "run", "--once")
    code, listing, _ = run(config, clock, "alerts", "--failed")
    assert code == 0
    assert listing.count(" dead ") == 3
    assert "last error: gave up after 1 attempts: " in listing
    code, out, _ = run(config, clock, "alerts", "retry", "1")
    assert (code, out) == (0, "requeued alert 1\n")
    code, out, _ = run(config, clock, "alerts", "retry", "--dead")
    assert out == "requeued 2 dead alert(s)\n"
    code, _, err = run(config, clock, "alerts", "retry", "99")
    assert code == 1 and "alert 99 cannot be requeued (not found)" in err
    code, out, _ = run(config, clock, "alerts", "test", "hook")
    assert code == 1
    assert out.startswith("FAILED: hook (json://127.0.0.1:")
    code, out, _ = run(config, clock, "alerts", "test", "console")
    assert code == 0
    assert "=== ALERT news-monitor test message" in out
    assert "sent: the test message was accepted by console" in out


def test_a_planted_password_appears_in_no_output(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary_hook = "CANARY_HOOK_7c1"
    canary_pass = "CANARY_SMTP_9f2"
    monkeypatch.setenv("HOOK_TOKEN", canary_hook)
    monkeypatch.setenv("SMTP_PASSWORD", canary_pass)
    httpserver.expect_request(f"/hooks/{canary_hook}").respond_with_data("no", status=401)
    dead_port = free_port()
    config = project(
        tmp_path,
        "channels:\n"
        f"  chat: {{urls: ['mmost://127.0.0.1:{httpserver.port}/${{HOOK_TOKEN}}'],"
        " min_interval: 0s}\n"
        f"  mail: {{urls: ['mailto://user:${{SMTP_PASSWORD}}@127.0.0.1:{dead_port}"
        "?to=d@example.com&from=m@example.com'], min_interval: 0s}\n"
        "default_channels: [chat, mail]\ndelivery: {max_attempts: 2, backoff_min: 1s}\n",
    )
    outputs = []
    for args in (
        ("--log-level", "DEBUG", "check"),
        ("--log-level", "DEBUG", "run", "--once"),
        ("status",),
        ("alerts",),
        ("alerts", "test", "chat"),
        ("alerts", "test", "mail"),
        ("sources",),
        ("events",),
    ):
        _code, out, err = run(config, clock, *args)
        # The loopback test server logs its own request lines; everything else must be clean.
        ours = [line for line in err.splitlines() if " werkzeug: " not in line]
        outputs.append(out + "\n".join(ours))
        clock.advance(timedelta(seconds=5))
    run(config, clock, "--log-level", "DEBUG", "run", "--once")
    conn = sqlite3.connect(tmp_path / "m.db")
    dump = "\n".join(conn.iterdump())
    conn.close()
    everything = "\n".join(outputs) + dump
    assert "failed" in everything.lower()  # the sends really failed and were reported
    assert canary_hook not in everything
    assert canary_pass not in everything


def test_receivers_can_deduplicate_and_emails_thread_by_event(
    tmp_path: Path, clock: FakeClock, smtp: tuple[SmtpSink, int], httpserver: HTTPServer
) -> None:
    sink, port = smtp
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = project(
        tmp_path,
        f"channels:\n"
        f"  mail: {{urls: ['mailto://127.0.0.1:{port}?from=m@example.com&to=d@example.com']}}\n"
        f"  hook: {{urls: ['json://127.0.0.1:{httpserver.port}/hook']}}\n"
        "default_channels: [mail, hook]\n",
    )
    assert run(config, clock, "run", "--once")[0] == 0
    conn = sqlite3.connect(tmp_path / "m.db")
    rows = conn.execute("SELECT id, event_id, channel FROM alerts ORDER BY id").fetchall()
    conn.close()
    hook_ids = {str(i) for i, _, channel in rows if channel == "hook"}
    assert {req.headers["X-News-Monitor-Alert"] for req, _ in httpserver.log} == hook_ids
    assert {str(req.get_json()["alert_id"]) for req, _ in httpserver.log} == hook_ids
    events = {f"<event-{e}@news-monitor>" for _, e, channel in rows if channel == "mail"}
    assert {str(m["References"]) for m in sink.messages} == events
    assert {str(m["In-Reply-To"]) for m in sink.messages} == events
    assert all(len(m.get_all("Message-ID") or []) == 1 for m in sink.messages)
