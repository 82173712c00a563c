from __future__ import annotations

import io
import random
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.alerts.channels import Channels
from monitor.alerts.deliver import RetryPolicy, backoff, deliver_due
from monitor.clock import FakeClock, parse_iso
from monitor.config import ChannelSpec
from monitor.store import Store, open_store
from monitor.store import alerts as alert_q
from monitor.store import events as event_q
from tests.conftest import free_port

POLICY = RetryPolicy(
    max_attempts=4,
    backoff_min=timedelta(seconds=30),
    backoff_max=timedelta(minutes=5),
    max_age=timedelta(hours=24),
)


def outbox(tmp_path: Path, clock: FakeClock, channel: str) -> Store:
    store = open_store(tmp_path / "m.db")
    with store.transaction():
        event_id = event_q.open_event(store, "r1", "", "T", "info", clock.now())
        alert_q.enqueue(store, event_id, channel, "open", "Alert title", "Alert body", clock.now())
    return store


def hook(url: str) -> Channels:
    return Channels({"hook": ChannelSpec(urls=[url], timeout=timedelta(seconds=2))})


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 24, 36), (2, 48, 72), (3, 96, 144), (4, 192, 288), (5, 240, 300), (30, 240, 300)],
)
def test_backoff_doubles_with_jitter_up_to_the_cap(attempts: int, low: float, high: float) -> None:
    rng = random.Random(7)
    for _ in range(50):
        seconds = backoff(attempts, POLICY, rng).total_seconds()
        assert low <= seconds <= high


def test_receiver_down_then_back_gets_the_alert_once(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    port = free_port()  # nothing listens here: the receiver is down
    store = outbox(tmp_path, clock, "hook")
    down = hook(f"json://127.0.0.1:{port}/hook")
    rng = random.Random(1)
    for attempt in (1, 2):
        report = deliver_due(store, down, clock, POLICY, rng=rng)
        assert (report.sent, report.retried) == (0, 1)
        row = store.one("SELECT * FROM alerts")
        assert row is not None
        assert (row["state"], row["attempts"]) == ("retry", attempt)
        assert "Connection error" in row["last_error"] or "connect" in row["last_error"].lower()
        wait = parse_iso(row["next_attempt_at"]) - clock.now()
        assert timedelta(seconds=24 * attempt) <= wait <= timedelta(seconds=36 * attempt)
        # Not due yet: nothing is attempted.
        assert deliver_due(store, down, clock, POLICY, rng=rng).retried == 0
        clock.advance(wait)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    up = hook(f"json://127.0.0.1:{httpserver.port}/hook")
    assert deliver_due(store, up, clock, POLICY, rng=rng).sent == 1
    clock.advance(timedelta(hours=1))
    assert deliver_due(store, up, clock, POLICY, rng=rng).sent == 0
    assert len(httpserver.log) == 1
    body = httpserver.log[0][0].get_json()
    assert (body["title"], body["message"]) == ("Alert title", "Alert body")
    assert alert_q.count_by_state(store) == {"sent": 1}


def test_server_errors_are_retried_then_dead_with_the_reason(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("boom", status=500)
    store = outbox(tmp_path, clock, "hook")
    channels = hook(f"json://127.0.0.1:{httpserver.port}/hook")
    for _ in range(POLICY.max_attempts):
        deliver_due(store, channels, clock, POLICY, rng=random.Random(3))
        clock.advance(POLICY.backoff_max * 2)
    row = store.one("SELECT * FROM alerts")
    assert row is not None
    assert row["state"] == "dead"
    assert row["attempts"] == POLICY.max_attempts
    assert row["last_error"].startswith("gave up after 4 attempts: ")
    assert "500" in row["last_error"]
    # One request per attempt: apprise's own retries stay off.
    assert len(httpserver.log) == POLICY.max_attempts
    assert deliver_due(store, channels, clock, POLICY).dead == 0


def test_500_three_times_then_success(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    calls: list[int] = []

    def handler(request: Request) -> Response:
        calls.append(1)
        return Response("no", status=500) if len(calls) <= 3 else Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(handler)
    store = outbox(tmp_path, clock, "hook")
    channels = hook(f"json://127.0.0.1:{httpserver.port}/hook")
    for _ in range(6):
        deliver_due(store, channels, clock, POLICY, rng=random.Random(5))
        clock.advance(POLICY.backoff_max * 2)
    assert len(calls) == 4
    assert alert_q.count_by_state(store) == {"sent": 1}


def test_expired_lease_of_a_crashed_sender_is_reclaimed_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = outbox(tmp_path, clock, "console")
    alert_q.claim_due(store, clock.now(), clock.now() + POLICY.lease, "crashed-sender", 10)
    printed = io.StringIO()
    console = Channels({}, console=printed)
    assert deliver_due(store, console, clock, POLICY).sent == 0
    clock.advance(POLICY.lease)
    assert deliver_due(store, console, clock, POLICY).sent == 1
    assert deliver_due(store, console, clock, POLICY).sent == 0
    assert printed.getvalue().count("=== ALERT Alert title") == 1


def test_too_old_alert_dies_instead_of_retrying(tmp_path: Path, clock: FakeClock) -> None:
    store = outbox(tmp_path, clock, "hook")
    clock.advance(POLICY.max_age)
    deliver_due(store, hook(f"json://127.0.0.1:{free_port()}/x"), clock, POLICY)
    row = store.one("SELECT state FROM alerts")
    assert row == {"state": "dead"}
