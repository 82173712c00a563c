"""The reliability battery of RELIABILITY.md §4: the cases no other test file covers.

Each test carries its battery id in its name. Every peer is a server started here on 127.0.0.1
(or 127.0.0.2, the stand-in for "internal"); every loop has a fixed bound; time-dependent
behaviour runs on FakeClock, and real-time bounds are measured with ``time.monotonic()``, never
slept for. Known gaps are written as ``xfail(strict=True)`` tests that state the behaviour the
battery wants, so they fail loudly (XPASS) once the gap is closed and the marker can go.
"""

from __future__ import annotations

import collections
import contextlib
import email.header
import email.utils
import hashlib
import io
import itertools
import logging
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlite_utils import Database
from werkzeug import Request, Response

from monitor.alerts.channels import Channels
from monitor.alerts.deliver import RetryPolicy, deliver_due
from monitor.cli import main
from monitor.clock import FakeClock
from monitor.config import ChannelSpec, FetchSpec, load_config
from monitor.errors import ConfigError, FetchError
from monitor.pipeline import Runtime, run_once
from monitor.sources.fetch import FetchLimits, fetch, make_client
from monitor.store import Store, open_store
from monitor.store import alerts as alert_q
from monitor.store import events as event_q
from monitor.store.db import PRAGMAS_VARIABLE
from monitor.store.migrations import migrations
from tests.conftest import ROOT, free_port, smtp_server
from tests.feedkit import project, rss

POLICY = RetryPolicy(
    max_attempts=4,
    backoff_min=timedelta(seconds=30),
    backoff_max=timedelta(minutes=5),
    max_age=timedelta(hours=24),
)
MAIL_QUERY = "from=m@example.com&to=d@example.com"
LAUNCH = "North Korea launched a ballistic missile over Japan on Tuesday."
NO_TIME = timedelta(0)


FEED_HEADER = """
database: m.db
rules: rules
http: false
fetch: {{total_timeout: 5s, read_timeout: 2s, connect_timeout: 2s, parse_timeout: 10s}}
delivery: {{backoff_min: 30s, backoff_max: 5m}}
{extra}
sources:
{sources}
"""


# --- helpers -----------------------------------------------------------------------------------


def cli(config: Path, clock: FakeClock | None, *args: str) -> tuple[int, str, str]:
    """Run one news-monitor command in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *args], clock=clock, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CRASH_AT", PRAGMAS_VARIABLE)}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run_subprocess(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def seeds_project(tmp_path: Path, body: str, *, seeds: bool = True) -> Path:
    """A project with the shipped rules (and seeds) whose config is ``body`` after the source."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    if seeds:
        shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: m.db\nrules: rules\nhttp: false\n"
        "sources:\n  - {id: seeds, kind: seeds, path: seeds}\n" + body,
        encoding="utf-8",
    )
    return config


def count(db: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def outbox(path: Path, clock: FakeClock, *channels: str) -> Store:
    """A store with one pending alert per channel, in this order (ids 1, 2, ...)."""
    store = open_store(path)
    with store.transaction():
        for i, channel in enumerate(channels):
            event_id = event_q.open_event(store, "r1", f"k{i}", "T", "info", clock.now())
            alert_q.enqueue(
                store, event_id, channel, "open", f"Alert {i + 1}", f"Body {i + 1}", clock.now()
            )
    return store


def alert_row(store: Store, alert_id: int = 1) -> dict[str, Any]:
    row = alert_q.get_alert(store, alert_id)
    assert row is not None
    return row


def hook_spec(port: int, path: str = "/hook", timeout: float = 5) -> ChannelSpec:
    return ChannelSpec(
        urls=[f"json://127.0.0.1:{port}{path}"],
        timeout=timedelta(seconds=timeout),
        min_interval=NO_TIME,
    )


def mail_spec(port: int, timeout: float = 5, extra: str = "") -> ChannelSpec:
    return ChannelSpec(
        urls=[f"mailto://127.0.0.1:{port}?{MAIL_QUERY}{extra}"],
        timeout=timedelta(seconds=timeout),
        min_interval=NO_TIME,
    )


class Listener:
    """A raw TCP listener that records every connection and never answers.

    ``hold=True`` keeps each connection open without a byte (an SMTP or HTTP blackhole);
    ``hold=False`` closes it at once (a trap that only counts).
    """

    def __init__(self, host: str = "127.0.0.1", *, hold: bool = True) -> None:
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.05)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.hold = hold
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.hold:
                self._held.append(conn)
            else:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def listener() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(host: str = "127.0.0.1", *, hold: bool = True) -> Listener:
        made.append(Listener(host, hold=hold))
        return made[-1]

    yield make
    for item in made:
        item.close()


class SwitchSink:
    """An aiosmtpd handler whose DATA reply the test switches; None accepts with 250."""

    def __init__(self) -> None:
        self.reply: str | None = None
        self.attempts: list[str] = []
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts.append(self.reply or "250")
        if self.reply is not None:
            return self.reply
        self.messages.append(email.message_from_bytes(envelope.original_content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def switch_smtp() -> Iterator[tuple[SwitchSink, int]]:
    sink = SwitchSink()
    with smtp_server(sink) as port:
        yield sink, port


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for rt in made:
        rt.close()
        rt.store.close()


# --- A. crash and durability -------------------------------------------------------------------


def _schema(path: Path) -> tuple[frozenset[tuple[str, str, str]], int]:
    """The schema objects and the number of recorded migrations; integrity checked first."""
    if not path.exists():
        return frozenset(), -1
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        objects = frozenset(
            (str(t), str(n), str(s))
            for t, n, s in conn.execute("SELECT type, name, sql FROM sqlite_master")
        )
        names = {n for _, n, _ in objects}
        applied = (
            conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
            if "_sqlite_migrations" in names
            else -1
        )
        return objects, int(applied)
    finally:
        conn.close()


def _reference_schemas(folder: Path) -> list[tuple[frozenset[tuple[str, str, str]], int]]:
    """The schema after exactly k complete migrations, for k = 0 .. all."""
    names = [m.name for m in migrations.pending(Database(memory=True))]
    states = []
    for k in range(len(names) + 1):
        path = folder / f"ref{k}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        db = Database(conn, execute_plugins=False)
        if k < len(names):
            migrations.apply(db, stop_before=names[k])
        else:
            migrations.apply(db)
        conn.close()
        states.append(_schema(path))
    return states


def _statements_of_first_open(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement open_store() runs on a fresh database, in order."""
    real = sqlite3.connect
    seen: list[str] = []

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", traced)
        open_store(path).close()
    return seen


def _open_and_die_at(path: Path, statement: int) -> int:
    """Fork a child that runs open_store() and dies like kill -9 as statement N starts."""
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking with threads alive (test servers); the child only
        # runs SQLite on its own new connection and leaves with os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns, never runs pytest's cleanup
        code = 0
        try:
            real = sqlite3.connect
            seen = [0]

            def die(_sql: str) -> None:
                seen[0] += 1
                if seen[0] == statement:
                    os._exit(137)

            def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
                conn = real(*args, **kwargs)
                conn.set_trace_callback(die)
                return conn

            sqlite3.connect = traced  # type: ignore[assignment]
            open_store(path).close()
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# The one statement of the first open that runs outside a transaction (sqlite-utils'
# ensure_migrations_table commits the table, then creates its index); see the xfail test below.
MIGRATIONS_INDEX = 'CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"'


def _a3_points(statements: list[str], every: bool) -> list[int]:
    points = [i + 1 for i, sql in enumerate(statements) if not sql.startswith(MIGRATIONS_INDEX)]
    if every:
        return points
    # Around each transaction boundary (the first statement inside, the COMMIT itself and the
    # statement after it) and the FTS table, plus a seeded sample of the rest.
    edges: set[int] = set()
    for i, sql in enumerate(statements):
        head = sql.strip().upper()
        if head.startswith("BEGIN"):
            edges.add(i + 2)
        elif head.startswith("COMMIT"):
            edges |= {i + 1, i + 2}
        elif head.startswith("CREATE VIRTUAL"):
            edges.add(i + 1)
    sample = set(random.Random(20261125).sample(points, 6))
    return sorted((edges | sample) & set(points))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize(
    "every", [False, pytest.param(True, marks=pytest.mark.reliability)], ids=["sample", "all"]
)
def test_a3_crash_during_first_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: bool
) -> None:
    """A3: kill -9 at SQL statement N of the first open of a fresh database, then restart.

    There is no named crash point inside the migrations, and none is needed: a forked child
    runs open_store() with a SQLite trace callback that calls ``os._exit(137)`` as statement N
    starts, so the code under test is unmodified and every boundary (BEGIN, each CREATE or
    ALTER, the record in ``_sqlite_migrations``, COMMIT) can be hit. After each crash the file
    must pass ``integrity_check`` and hold exactly the schema of k complete migrations for some
    k, with k rows in ``_sqlite_migrations``: no half-created table, index or FTS shadow table.
    Reopening must finish the migrations. Across the points, every intermediate k is seen,
    which shows each migration commits in its own transaction. The fast run takes the
    transaction boundaries and a seeded sample; ``-m reliability`` takes every statement.
    """
    refs = _reference_schemas(tmp_path)
    allowed = {(frozenset(), -1), *refs}
    statements = _statements_of_first_open(tmp_path / "count.db", monkeypatch)
    assert len(statements) > 50
    seen_k: set[int] = set()
    for point in _a3_points(statements, every):
        path = tmp_path / f"crash{point}" / "m.db"
        path.parent.mkdir()
        assert _open_and_die_at(path, point) == 137, f"statement {point} was never reached"
        state = _schema(path)  # (no objects, -1) before the migrations table exists
        assert state in allowed, f"half-applied schema after a crash at: {statements[point - 1]}"
        seen_k.add(refs.index(state) if state in refs else -1)
        open_store(path).close()
        assert _schema(path) == refs[-1], f"restart after a crash at {statements[point - 1]}"
    assert set(range(1, len(refs) - 1)) <= seen_k  # every intermediate migration committed alone


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a3_crash_between_migrations_table_and_its_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = _statements_of_first_open(tmp_path / "count.db", monkeypatch)
    point = next(i + 1 for i, s in enumerate(statements) if s.startswith(MIGRATIONS_INDEX))
    path = tmp_path / "m.db"
    assert _open_and_die_at(path, point) == 137
    open_store(path).close()
    assert _schema(path) == _reference_schemas(tmp_path)[-1]


def test_a5_stale_wal_and_shm_after_kill_9_recover_on_open(tmp_path: Path) -> None:
    """A5: kill -9 after a commit and inside the next write, copy db/-wal/-shm, open the copy.

    The second run commits its polls (their frames stay in the WAL, not checkpointed), then
    dies while delivering the alert they raised, after the send and before marking it sent.
    The copied WAL and SHM are recovered automatically by open_store: every committed row is
    there, every article with its match, and the alert is still to be confirmed.
    """
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    for name, text in (("a", LAUNCH), ("b", "An oil embargo was imposed on the country today.")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.txt").write_text(f"First {name}\n\n{text}\n", encoding="utf-8")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: m.db\nrules: rules\nhttp: false\n"
        "sources:\n  - {id: a, kind: seeds, path: a}\n  - {id: b, kind: seeds, path: b}\n",
        encoding="utf-8",
    )
    assert cli(config, None, "run", "--once")[0] == 0
    db = tmp_path / "m.db"
    assert count(db, "SELECT count(*) FROM articles") == 2
    vote = "The U.N. Security Council voted unanimously to impose new sanctions on the country."
    for name, text in (("a", LAUNCH), ("b", vote)):
        (tmp_path / name / "2.txt").write_text(f"Second {name}\n\n{text}\n", encoding="utf-8")
    crashed = run_subprocess(config, "run", "--once", MONITOR_CRASH_AT="after_send_before_mark:1")
    assert crashed.returncode == 137, crashed.stderr
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in ("", "-wal", "-shm"):
        assert (tmp_path / f"m.db{suffix}").exists(), f"m.db{suffix} missing after the kill"
        shutil.copy2(tmp_path / f"m.db{suffix}", copy / f"m.db{suffix}")
    assert (copy / "m.db-wal").stat().st_size > 0  # committed frames not yet checkpointed
    store = open_store(copy / "m.db")
    try:
        assert store.scalar("PRAGMA integrity_check") == "ok"
        per_source = dict(
            store.conn.execute("SELECT source_id, count(*) FROM articles GROUP BY source_id")
        )
        assert per_source == {"a": 2, "b": 2}
        unmatched = store.scalar(
            "SELECT count(*) FROM articles a WHERE NOT EXISTS"
            " (SELECT 1 FROM matches m WHERE m.article_id = a.id)"
        )
        assert unmatched == 0  # every stored article has its match
        # The alert the vote opened was sent but not marked: it is still to be confirmed.
        states = [r[0] for r in store.conn.execute("SELECT state FROM alerts ORDER BY id")]
        assert states == ["sent", "sent", "sending"]
    finally:
        store.close()
    # No manual step: the original folder, stale files and all, simply runs again.
    assert cli(config, None, "run", "--once")[0] == 0
    assert count(db, "SELECT count(*) FROM articles") == 4
    assert count(db, "SELECT count(*) FROM (SELECT DISTINCT source_id, guid FROM articles)") == 4
    # The interrupted send waits for its lease to end before it is retried (delivery tests).
    assert count(db, "SELECT count(*) FROM alerts WHERE state = 'sending'") == 1


@pytest.mark.parametrize("damage", ["page2", "truncate"])
def test_a6_run_once_on_a_corrupt_database_exits_1_and_leaves_it_alone(
    tmp_path: Path, clock: FakeClock, damage: str
) -> None:
    config = seeds_project(tmp_path, "")
    assert cli(config, clock, "run", "--once")[0] == 0
    db = tmp_path / "m.db"
    data = db.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    if damage == "page2":
        db.write_bytes(data[:page] + b"\xa5" * 64 + data[page + 64 :])
    else:
        db.write_bytes(data[: len(data) // 2])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    code, out, err = cli(config, clock, "run", "--once")
    assert code == 1
    assert "news-monitor: error: database file is corrupt: " in err
    assert "restore it from a backup" in err
    assert "Traceback" not in err and "=== ALERT" not in out
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# --- B. alert delivery -------------------------------------------------------------------------


def test_b2_smtp_blackhole_fails_within_the_timeout_and_other_channels_still_send(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    listener: Callable[..., Listener],
) -> None:
    """B2: the mail alert is first in line and its server never greets; the hook still gets its
    alert in the same deliver pass, about 2 s later (the default timeout would be 15-20 s)."""
    hole = listener()
    received: list[float] = []

    def hook(request: Request) -> Response:
        received.append(time.monotonic())
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(hook)
    channels = Channels(
        {
            "mail": mail_spec(hole.port, timeout=2, extra="&cto=2"),
            "hook": hook_spec(httpserver.port),
        }
    )
    store = outbox(tmp_path / "m.db", clock, "mail", "hook")
    started = time.monotonic()
    report = deliver_due(store, channels, clock, POLICY, rng=random.Random(1))
    elapsed = time.monotonic() - started
    assert (report.sent, report.retried) == (1, 1)
    assert hole.connections == 1
    assert 1.5 < elapsed < 3.5, elapsed  # failed at the 2 s timeout, not at a default
    assert len(received) == 1 and received[0] - started < 3.5
    mail = alert_row(store, 1)
    assert (mail["state"], mail["attempts"]) == ("retry", 1)
    assert "Connection error while submitting email" in mail["last_error"]
    assert alert_row(store, 2)["state"] == "sent"
    store.close()


def test_b3_smtp_451_is_deferred_then_delivered_once(
    tmp_path: Path,
    clock: FakeClock,
    switch_smtp: tuple[SwitchSink, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Like the daemon's: the root logger at INFO, a handler that takes whatever reaches it.
    caplog.set_level(logging.INFO)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    apprise_level = logging.getLogger("apprise").level
    sink, port = switch_smtp
    sink.reply = "451 4.3.0 try later"
    channels = Channels({"mail": mail_spec(port)})
    store = outbox(tmp_path / "m.db", clock, "mail")
    rng = random.Random(2)
    try:
        assert deliver_due(store, channels, clock, POLICY, rng=rng).retried == 1
    finally:
        logging.getLogger().removeHandler(handler)
    row = alert_row(store)
    assert (row["state"], row["attempts"]) == ("retry", 1)
    assert 'Sending email to "d@example.com" failed' in row["last_error"]
    # The server's own reply, which apprise logs only at DEBUG, is kept for the operator.
    assert "server said: 451 4.3.0 try later" in row["last_error"]
    # Reading apprise's DEBUG answer must not turn its DEBUG output (message text) into log
    # lines of the daemon, which logs at INFO here.
    assert [r for r in seen if r.name == "apprise" and r.levelno >= logging.WARNING]
    assert not [r for r in seen if r.name == "apprise" and r.levelno < logging.INFO]
    assert logging.getLogger("apprise").level == apprise_level
    clock.advance(POLICY.backoff_min / 2)
    assert deliver_due(store, channels, clock, POLICY, rng=rng).retried == 0  # not due yet
    sink.reply = None
    clock.advance(POLICY.backoff_max)
    assert deliver_due(store, channels, clock, POLICY, rng=rng).sent == 1
    clock.advance(POLICY.backoff_max)
    assert deliver_due(store, channels, clock, POLICY, rng=rng).sent == 0
    assert sink.attempts == ["451 4.3.0 try later", "250"]
    assert len(sink.messages) == 1 and sink.messages[0]["X-News-Monitor-Alert"] == "1"
    assert alert_row(store)["state"] == "sent"
    store.close()


def test_b3_smtp_550_goes_dead_then_alerts_retry_requeues_it(
    tmp_path: Path, clock: FakeClock, switch_smtp: tuple[SwitchSink, int]
) -> None:
    """B3: a permanent 550 looks like any failure through apprise: retried up to max_attempts,
    then dead with the last error; ``alerts --failed`` lists it and ``alerts retry`` requeues."""
    sink, port = switch_smtp
    sink.reply = "550 5.1.1 no such user"
    config = seeds_project(
        tmp_path,
        f"channels:\n  mail: {{urls: ['mailto://127.0.0.1:{port}?{MAIL_QUERY}'],"
        " min_interval: 0s, timeout: 5s}\ndefault_channels: [mail]\n"
        "delivery: {max_attempts: 3, backoff_min: 10s, backoff_max: 1m}\n",
    )
    for _ in range(4):  # attempts at +0, +2 and +4 minutes, then dead: the 4th run sends none
        assert cli(config, clock, "run", "--once")[0] == 0
        clock.advance(timedelta(minutes=2))
    assert len(sink.attempts) == 3 * 3  # 3 alerts x max_attempts, nothing after dead
    code, listing, _ = cli(config, clock, "alerts", "--failed")
    assert code == 0
    assert listing.count(" dead ") == 3
    last = (
        'last error: gave up after 3 attempts: Sending email to "d@example.com" failed.;'
        " server said: 550 5.1.1 no such user"
    )
    assert listing.count(last) == 3
    code, out, _ = cli(config, clock, "alerts", "retry", "1")
    assert (code, out) == (0, "requeued alert 1\n")
    sink.reply = None
    assert cli(config, clock, "run", "--once")[0] == 0
    assert [m["X-News-Monitor-Alert"] for m in sink.messages] == ["1"]
    assert sink.recipients == [["d@example.com"]]
    db = tmp_path / "m.db"
    assert count(db, "SELECT count(*) FROM alerts WHERE state = 'sent'") == 1
    assert count(db, "SELECT count(*) FROM alerts WHERE state = 'dead'") == 2


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_b5_webhook_429_never_retries_in_a_tight_loop(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, form: str
) -> None:
    """B5: apprise hides the status and Retry-After, so the generic backoff applies: at most
    max_attempts requests in a 15-minute window walked in 1 s steps, never closer together than
    the backoff floor (backoff_min - 20 % jitter)."""
    seen: list[Any] = []

    def too_many(request: Request) -> Response:
        seen.append(clock.now())
        later = email.utils.format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
        retry_after = "30" if form == "seconds" else later
        return Response("slow down", status=429, headers={"Retry-After": retry_after})

    httpserver.expect_request("/hook").respond_with_handler(too_many)
    policy = RetryPolicy(
        max_attempts=5, backoff_min=timedelta(seconds=10), backoff_max=timedelta(minutes=2)
    )
    channels = Channels({"hook": hook_spec(httpserver.port)})
    store = outbox(tmp_path / "m.db", clock, "hook")
    rng = random.Random(5)
    for _ in range(900):
        deliver_due(store, channels, clock, policy, rng=rng)
        clock.advance(1)
    assert len(seen) == policy.max_attempts
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 0.8 * policy.backoff_min.total_seconds(), gaps
    row = alert_row(store)
    assert row["state"] == "dead" and "error=429" in row["last_error"]
    store.close()


def test_b6_reply_after_the_read_timeout_is_retried_with_the_same_alert_id(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    """B6: the receiver processes the POST and answers after 2 s; the client gave up at 1 s.

    The attempt counts as failed and is retried; the receiver sees at most one duplicate, and
    both copies carry the same ``X-News-Monitor-Alert`` header and ``alert_id`` to drop it by.
    """
    answered = threading.Event()
    seen: list[tuple[str | None, Any]] = []

    def slow_once(request: Request) -> Response:
        seen.append((request.headers.get("X-News-Monitor-Alert"), request.get_json()["alert_id"]))
        if len(seen) == 1:
            time.sleep(2)  # the server's behaviour: it replies after the client's timeout
            answered.set()
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(slow_once)
    channels = Channels({"hook": hook_spec(httpserver.port, timeout=1)})
    store = outbox(tmp_path / "m.db", clock, "hook")
    rng = random.Random(6)
    started = time.monotonic()
    assert deliver_due(store, channels, clock, POLICY, rng=rng).retried == 1
    assert time.monotonic() - started < 1.9  # gave up at the read timeout, before the reply
    row = alert_row(store)
    assert row["state"] == "retry"
    # The operator sees that this failure may be a delivery (RELIABILITY B6: "ambiguous").
    assert row["last_error"].startswith("may have been delivered (no answer before the read")
    assert answered.wait(10)  # the single-threaded test server is free again
    clock.advance(POLICY.backoff_max)
    assert deliver_due(store, channels, clock, POLICY, rng=rng).sent == 1
    assert len(seen) == 2  # the original (processed late) and one retry: <= 1 duplicate
    assert seen == [("1", "1"), ("1", "1")]
    row = alert_row(store)
    assert (row["state"], row["attempts"]) == ("sent", 2)
    store.close()


def test_b6_read_timeout_is_flagged_ambiguous(httpserver: HTTPServer) -> None:
    answered = threading.Event()

    def slow(request: Request) -> Response:
        time.sleep(1)
        answered.set()
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(slow)
    channels = Channels({"hook": hook_spec(httpserver.port, timeout=0.5)})
    try:
        result = channels.send("hook", "T", "B", alert_id=1)
    finally:
        assert answered.wait(10)
    assert not result.ok
    assert result.ambiguous


def test_b6_refused_connection_is_not_ambiguous() -> None:
    # Nothing was sent, so nothing can have been delivered.
    channels = Channels({"hook": hook_spec(free_port(), timeout=0.5)})
    result = channels.send("hook", "T", "B", alert_id=1)
    assert not result.ok
    assert not result.ambiguous


@pytest.mark.parametrize("status", [401, 404])
def test_b7_misconfigured_channel_goes_dead_and_status_shows_it_masked(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    token = "tok7b7secret9"
    monkeypatch.setenv("CHAT_TOKEN", token)
    httpserver.expect_request(f"/hooks/{token}").respond_with_data("no", status=status)
    config = seeds_project(
        tmp_path,
        f"channels:\n  chat: {{urls: ['mmost://127.0.0.1:{httpserver.port}/${{CHAT_TOKEN}}'],"
        " min_interval: 0s}\ndefault_channels: [chat]\n"
        "delivery: {max_attempts: 2, backoff_min: 10s, backoff_max: 1m}\n",
    )
    logs = []
    for _ in range(3):  # two attempts, then dead: the third run sends nothing
        code, out, err = cli(config, clock, "run", "--once")
        assert code == 0
        logs.append(out + err)
        clock.advance(timedelta(minutes=2))
    assert len(httpserver.log) == 3 * 2  # 3 alerts x max_attempts, then nothing
    code, status_text, err = cli(config, clock, "status")
    assert code == 0
    assert "alerts: dead 3" in status_text
    assert status_text.count("-> chat: dead, attempts 2") == 3
    assert "gave up after 2 attempts: Failed to send Mattermost notification" in status_text
    assert f"error={status}" in status_text
    assert f"  chat: mmost://127.0.0.1:{httpserver.port}/" in status_text
    log = "\n".join(logs)
    assert "to chat is dead: gave up after 2 attempts" in log
    assert token not in status_text + err + log


def _storm_project(tmp_path: Path, size: int) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "storm.yaml").write_text(
        "name: Storm\nseverity: info\ngroup_by: publisher\nmatch:\n  any: [zebrafinch]\n",
        encoding="utf-8",
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for i in range(size):
        (seeds / f"{i:05d}.txt").write_text(
            f"---\ntitle: Storm item {i:05d}\nsource: Wire {i:05d}\n---\n"
            f"A zebrafinch sighting number {i} was reported today.\n",
            encoding="utf-8",
        )
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: m.db\nrules: rules\nhttp: false\n"
        "sources:\n  - {id: seeds, kind: seeds, path: seeds}\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize(
    "size", [200, pytest.param(2000, marks=pytest.mark.reliability)], ids=["200", "2000"]
)
def test_b8_alert_storm_is_one_transaction_per_poll_and_drains_once(
    tmp_path: Path, size: int
) -> None:
    """B8: one poll yields ``size`` articles that each open their own Event (group_by publisher).

    Killed inside the poll's transaction, the run leaves no article and no alert: the whole
    storm is one transaction. The next run enqueues and sends every alert exactly once, with
    the child's peak RSS under 200 MB, and a third run sends nothing.
    """
    config = _storm_project(tmp_path, size)
    db = tmp_path / "m.db"
    crashed = run_subprocess(config, "run", "--once", MONITOR_CRASH_AT="in_tx_before_commit")
    assert crashed.returncode == 137, crashed.stderr
    assert count(db, "SELECT count(*) FROM articles") == 0
    assert count(db, "SELECT count(*) FROM alerts") == 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
            env=subprocess_env(),
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        printed, log = out.read(), err.read()
    assert proc.returncode == 0, log
    titles = [line for line in printed.splitlines() if line.startswith("=== ALERT ")]
    assert len(titles) == size and len(set(titles)) == size
    assert usage.ru_maxrss < 200 * 1024, f"peak RSS {usage.ru_maxrss} KiB"  # Linux: KiB
    assert count(db, "SELECT count(*) FROM alerts WHERE state = 'sent'") == size
    assert count(db, "SELECT count(*) FROM (SELECT DISTINCT event_id FROM alerts)") == size
    code, printed, _ = cli(config, None, "run", "--once")
    assert code == 0 and "=== ALERT" not in printed
    assert count(db, "SELECT count(*) FROM articles") == size


def test_b10_restart_storm_sends_each_alert_exactly_once(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    """B10: ten senders in a row, each preceded by one that claimed a batch and died.

    The dead senders' leases expire (the clock moves a quarter lease per restart) and are
    reclaimed by a later sender exactly once; nothing is sent twice through overlapping leases.
    """
    received: list[str] = []

    def hook(request: Request) -> Response:
        received.append(str(request.headers.get("X-News-Monitor-Alert")))
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(hook)
    policy = RetryPolicy(lease=timedelta(minutes=2), batch=10)
    channels = Channels({"hook": hook_spec(httpserver.port)})
    store = outbox(tmp_path / "m.db", clock, *["hook"] * 100)
    dead_claims: collections.Counter[int] = collections.Counter()
    for restart in range(10):
        # A sender that claims a batch and is killed before sending anything; once earlier
        # leases have expired it may take over those too, and die holding them again.
        claimed = alert_q.claim_due(
            store, clock.now(), clock.now() + policy.lease, f"dead-{restart}", 3
        )
        dead_claims.update(a.id for a in claimed)
        deliver_due(store, channels, clock, policy, owner=f"daemon-{restart}", max_batches=1)
        clock.advance(policy.lease / 4)
    clock.advance(policy.lease)
    deliver_due(store, channels, clock, policy, owner="daemon-final")
    assert sorted(received, key=int) == [str(i) for i in range(1, 101)]  # each exactly once
    assert alert_q.count_by_state(store) == {"sent": 100}
    assert sum(dead_claims.values()) == 30
    rows = store.query("SELECT id, attempts, lease_owner FROM alerts")
    # Every claim is one attempt: a dead sender's lease was taken over by exactly one sender
    # (another dying one or a live one), and exactly one live claim sent each alert.
    assert {r["id"]: r["attempts"] for r in rows} == {
        r["id"]: dead_claims[r["id"]] + 1 for r in rows
    }
    assert all(r["lease_owner"].startswith("daemon-") for r in rows)
    store.close()


# --- C. fetching -------------------------------------------------------------------------------

DENY = FetchLimits(
    connect_timeout=1.0,
    read_timeout=1.0,
    total_timeout=3.0,
    max_bytes=1024 * 1024,
    deny_networks=("127.0.0.2/32",),
)


def test_c12_redirect_to_an_internal_address_is_refused_at_dial_time(
    httpserver: HTTPServer, listener: Callable[..., Listener]
) -> None:
    trap = listener("127.0.0.2", hold=False)
    httpserver.expect_request("/feed").respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.2:{trap.port}/"}
    )
    with make_client(DENY) as client:
        with pytest.raises(FetchError) as caught:
            fetch(client, f"http://127.0.0.1:{httpserver.port}/feed", limits=DENY)
        assert str(caught.value) == "refusing non-public address 127.0.0.2"
        assert trap.connections == 0
        assert len(httpserver.log) == 1
        # The first hop is checked the same way, and IPv4-mapped IPv6 spellings too.
        own = FetchLimits(deny_networks=("127.0.0.0/8",))
        with pytest.raises(FetchError, match=r"refusing non-public address 127\.0\.0\.1"):
            fetch(client, f"http://127.0.0.1:{httpserver.port}/feed", limits=own)
        assert len(httpserver.log) == 1
        with pytest.raises(FetchError, match=r"refusing non-public address 127\.0\.0\.2"):
            fetch(client, f"http://[::ffff:127.0.0.2]:{trap.port}/", limits=DENY)
        assert trap.connections == 0
    # 0.0.0.0 and "0" dial this machine itself: never with a deny-list in force (found by a
    # hostile-feed run; 127.0.0.0/8 alone did not cover them).
    local = listener("127.0.0.1", hold=False)
    with make_client(DENY) as client:
        for host in ("0.0.0.0", "0"):
            with pytest.raises(FetchError, match=r"refusing non-public address 0\.0\.0\.0"):
                fetch(client, f"http://{host}:{local.port}/", limits=DENY)
        assert local.connections == 0
    # The control: without the deny-list the same redirect does reach the trap.
    open_limits = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=3.0)
    with make_client(open_limits) as client, pytest.raises(FetchError):
        fetch(client, f"http://127.0.0.1:{httpserver.port}/feed", limits=open_limits)
    assert trap.connections == 1


def test_c12_config_deny_networks_reach_the_feed_poller(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    listener: Callable[..., Listener],
    runtimes: list[Runtime],
) -> None:
    trap = listener("127.0.0.2", hold=False)
    httpserver.expect_request("/feed").respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.2:{trap.port}/"}
    )
    sources = f"  - {{id: f, kind: feed, url: 'http://127.0.0.1:{httpserver.port}/feed'}}"
    body = FEED_HEADER.format(extra="", sources=sources)
    body = body.replace("fetch: {", "fetch: {deny_networks: [127.0.0.2/32], ")
    rt = project(tmp_path, body, clock)
    runtimes.append(rt)
    report = run_once(rt)
    assert trap.connections == 0
    assert report.polls[0].error == "refusing non-public address 127.0.0.2"


def test_c12_deny_networks_config_and_limits_validation(tmp_path: Path) -> None:
    assert FetchSpec(deny_networks=["10.0.0.0/8", "fd00::/8"]).deny_networks == [
        "10.0.0.0/8",
        "fd00::/8",
    ]
    config = tmp_path / "monitor.yaml"
    config.write_text("fetch:\n  deny_networks: [10.0.0.0/8, nonsense]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{problem.file}:2:")
    assert "'nonsense' is not an IP network" in str(problem)
    with pytest.raises(ValueError, match="is not an IP network"):
        FetchLimits(deny_networks=("300.1.2.3/8",))
    with httpx.Client() as plain, pytest.raises(ValueError, match="make_client"):
        fetch(plain, "http://127.0.0.1:9/", limits=DENY)
    # The guarded dialler keeps the usual errors for hosts it lets through.
    with make_client(DENY) as client:
        for url, message in (
            ("http://no-such-host.invalid/feed", "name resolution failed"),
            (f"http://127.0.0.1:{free_port()}/feed", "connection refused"),
        ):
            with pytest.raises(FetchError) as caught:
                fetch(client, url, limits=DENY)
            assert str(caught.value) == message


# --- F. storage and operations -----------------------------------------------------------------


def _full_feed(count_: int) -> bytes:
    return rss(
        [
            (f"g{i}", f"Report {i}", f"{LAUNCH} Item {i}. " + "Filler text. " * 150)
            for i in range(count_)
        ]
    )


def _disk_full_runtime(
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    made: list[Runtime],
    sources: str = "",
) -> Runtime:
    sources = sources or f"  - {{id: f, kind: feed, url: '{url}'}}"
    body = FEED_HEADER.format(extra="", sources=sources)
    rt = project(tmp_path, body, clock)  # creates and migrates the database, no limit yet
    rt.close()
    pages = int(rt.store.scalar("PRAGMA page_count"))
    rt.store.close()
    # Room for small updates, not for a 60-article poll with its FTS index.
    monkeypatch.setenv(PRAGMAS_VARIABLE, f"max_page_count={pages + 12}")
    made.append(project(tmp_path, body, clock))
    assert made[-1].store.scalar("PRAGMA max_page_count") == pages + 12
    return made[-1]


def test_f1_disk_full_rolls_the_whole_poll_back_then_catches_up(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    runtimes: list[Runtime],
) -> None:
    """F1: ``max_page_count`` (the test-only pragma seam) fills the database mid-poll.

    SQLite rolls the poll's transaction back: no article, match, event or alert of that poll
    remains, and the source row only records the failure. With the limit gone, the next run
    stores the whole feed once, and a further run adds no duplicate.
    """
    httpserver.expect_request("/f.xml").respond_with_data(_full_feed(60))
    url = f"http://127.0.0.1:{httpserver.port}/f.xml"
    rt = _disk_full_runtime(tmp_path, clock, monkeypatch, url, runtimes)
    run_once(rt)
    for table in ("articles", "matches", "events", "alerts", "articles_fts"):
        assert rt.store.scalar(f"SELECT count(*) FROM {table}") == 0, table
    assert rt.store.scalar("PRAGMA integrity_check") == "ok"
    source = rt.store.one("SELECT items_seen, failures FROM sources WHERE id = 'f'")
    assert source == {"items_seen": 0, "failures": 1}
    monkeypatch.delenv(PRAGMAS_VARIABLE)
    clock.advance(timedelta(minutes=11))
    again = project(
        tmp_path,
        FEED_HEADER.format(extra="", sources=f"  - {{id: f, kind: feed, url: '{url}'}}"),
        clock,
    )
    runtimes.append(again)
    assert run_once(again).polls[0].ingest.new == 60
    clock.advance(timedelta(minutes=11))
    assert run_once(again).polls[0].ingest.new == 0
    assert again.store.scalar("SELECT count(*) FROM articles") == 60
    assert again.store.scalar("SELECT count(*) FROM alerts") == 1


def test_f1_disk_full_is_a_saved_poll_error_not_a_crash(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    runtimes: list[Runtime],
) -> None:
    httpserver.expect_request("/f.xml").respond_with_data(_full_feed(60))
    rt = _disk_full_runtime(
        tmp_path, clock, monkeypatch, f"http://127.0.0.1:{httpserver.port}/f.xml", runtimes
    )
    report = run_once(rt)
    assert "database or disk is full" in report.polls[0].error
    row = rt.store.one("SELECT last_error, failures, next_poll_at FROM sources WHERE id = 'f'")
    assert row is not None and "database or disk is full" in row["last_error"]
    assert row["failures"] == 1 and row["next_poll_at"]
    assert rt.store.scalar("SELECT count(*) FROM articles") == 0


def test_f1_disk_full_in_a_group_of_polls_costs_only_the_poll_that_did_not_fit(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    runtimes: list[Runtime],
) -> None:
    """F1 for polls stored together (commit_group): the full disk ends the group's transaction,
    so the polls are stored again one by one; the small ones fit, the big one is a saved error.
    """
    from monitor.pipeline import commit_group, fetch_one, prepare

    httpserver.expect_request("/big.xml").respond_with_data(_full_feed(60))
    for name in ("s1", "s2"):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss([(f"{name}-1", f"Note {name}", "A short note.")])
        )
    base = f"http://127.0.0.1:{httpserver.port}"
    sources = "\n".join(
        f"  - {{id: {name}, kind: feed, url: '{base}/{name}.xml'}}" for name in ("s1", "big", "s2")
    )
    rt = _disk_full_runtime(tmp_path, clock, monkeypatch, "", runtimes, sources)
    group = [fetch_one(rt, prepare(rt, spec), clock.now()) for spec in rt.config.spec.sources]
    reports = {r.source_id: r for r in commit_group(rt, group)}
    assert reports["s1"].error == "" and reports["s2"].error == ""
    assert "database or disk is full" in reports["big"].error
    stored = dict(rt.store.conn.execute("SELECT source_id, count(*) FROM articles GROUP BY 1"))
    assert stored == {"s1": 1, "s2": 1}
    assert rt.store.scalar("SELECT failures FROM sources WHERE id = 'big'") == 1
    assert rt.store.scalar("PRAGMA integrity_check") == "ok"


def _as_other_user() -> list[str]:
    """The command prefix that runs a child as a non-root user, or [] when we are not root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("as root chmod does not stop writes, and setpriv is not available")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_f2_read_only_database_at_startup_exits_1_with_a_message() -> None:
    """F2: the database file is chmod 444 for the user running news-monitor.

    As root chmod does not stop writes, so the child runs as ``nobody`` (setpriv) on a project
    that user owns, in a world-readable temporary folder (pytest's own tmp_path is 0700).
    """
    prefix = _as_other_user()
    with tempfile.TemporaryDirectory(prefix="nm-f2-") as name:
        folder = Path(name)
        config = seeds_project(folder, "")
        assert cli(config, None, "run", "--once")[0] == 0
        db = folder / "m.db"
        if prefix:
            os.chmod(folder, 0o755)
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, 65534, 65534)
        db.chmod(0o444)
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
            env=subprocess_env(),
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before
        assert done.returncode == 1
        assert "Traceback" not in done.stderr, done.stderr[-600:]
        assert f"news-monitor: error: database {db} is read-only" in done.stderr


def wait_for_articles(db: Path, wanted: int, timeout: float = 30) -> int:
    """Wait (bounded) until the daemon has stored ``wanted`` articles; return the count."""
    seen = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.OperationalError):  # not created or migrated yet
            seen = count(db, "SELECT count(*) FROM articles") if db.exists() else 0
        if seen >= wanted:
            break
        time.sleep(0.1)  # waiting for the daemon to poll, not measuring time
    return seen


def test_f4_cli_commands_while_the_daemon_runs(tmp_path: Path) -> None:
    """F4: status, alerts, alerts retry --dead (a write) and check, 20 rounds, while the daemon
    polls a seeds folder every second and a new seed file arrives every round."""
    config = seeds_project(tmp_path, "delivery: {every: 1s}\n")
    config.write_text(
        config.read_text().replace("path: seeds}", "path: seeds, every: 1s}"), encoding="utf-8"
    )
    db = tmp_path / "m.db"
    log_path = tmp_path / "daemon.log"
    with open(log_path, "w") as log, open(tmp_path / "daemon.out", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=out,
            stderr=log,
            env=subprocess_env(),
        )
        try:
            assert wait_for_articles(db, 2) == 2
            for i in range(20):
                (tmp_path / "seeds" / f"9{i:02d}.txt").write_text(
                    f"Round {i}\n\nAn oil embargo was imposed on country {i} today.\n",
                    encoding="utf-8",
                )
                for args in (("status",), ("alerts",), ("alerts", "retry", "--dead"), ("check",)):
                    code, _, err = cli(config, None, *args)
                    assert code == 0, (args, err)
            assert wait_for_articles(db, 22) == 22
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
    text = log_path.read_text()
    assert "database is locked" not in text
    assert "Traceback" not in text and "failed unexpectedly" not in text


# --- G. time -----------------------------------------------------------------------------------


def test_g1_clock_jumps_forward_poll_each_source_once_and_send_pending_alerts_once(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, runtimes: list[Runtime]
) -> None:
    """G1: +1 day, then +1 year on the FakeClock: each due source is polled once per jump (no
    catch-up over missed intervals) and an alert in retry is delivered exactly once."""
    for name in ("f1", "f2"):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss([(f"{name}-1", "Launch", LAUNCH)] if name == "f1" else [("x", "Calm", "Calm.")])
        )
    hook_calls: list[str] = []

    def hook(request: Request) -> Response:
        hook_calls.append(str(request.headers.get("X-News-Monitor-Alert")))
        return Response("down", status=500) if len(hook_calls) == 1 else Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(hook)
    sources = "\n".join(
        f"  - {{id: {n}, kind: feed, url: 'http://127.0.0.1:{httpserver.port}/{n}.xml',"
        " every: 10m}"
        for n in ("f1", "f2")
    )
    extra = (
        f"channels:\n  hook: {{urls: ['json://127.0.0.1:{httpserver.port}/hook'],"
        " min_interval: 0s}\ndefault_channels: [hook]"
    )
    rt = project(tmp_path, FEED_HEADER.format(extra=extra, sources=sources), clock)
    runtimes.append(rt)

    def polls(name: str) -> int:
        return sum(1 for request, _ in httpserver.log if request.path == f"/{name}.xml")

    run_once(rt, only_due=True)
    assert (polls("f1"), polls("f2"), hook_calls) == (1, 1, ["1"])
    for jump, expected in ((timedelta(days=1), 2), (timedelta(days=365), 3)):
        clock.advance(jump)
        for _ in range(3):  # the same instant, three cycles: the first one polls, once
            run_once(rt, only_due=True)
        assert (polls("f1"), polls("f2")) == (expected, expected)
    assert hook_calls == ["1", "1"]
    assert alert_q.count_by_state(rt.store) == {"sent": 1}


def test_g2_clock_jump_backward_alert_in_retry_goes_out_within_backoff_max(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer
) -> None:
    calls: list[int] = []

    def hook(request: Request) -> Response:
        calls.append(1)
        return Response("down", status=500) if len(calls) == 1 else Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(hook)
    channels = Channels({"hook": hook_spec(httpserver.port)})
    store = outbox(tmp_path / "m.db", clock, "hook")
    assert deliver_due(store, channels, clock, POLICY, rng=random.Random(7)).retried == 1
    clock.advance(-timedelta(days=1))  # the wall clock is set back while the alert waits
    try:
        # The daemon's next deliver pass (every 15 s) sees the jump; nothing is due yet.
        assert deliver_due(store, channels, clock, POLICY, rng=random.Random(7)).sent == 0
        clock.advance(POLICY.backoff_max + timedelta(seconds=1))
        assert deliver_due(store, channels, clock, POLICY, rng=random.Random(7)).sent == 1
    finally:
        store.close()


def test_g2_clock_jump_backward_polls_continue_on_schedule(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, runtimes: list[Runtime]
) -> None:
    httpserver.expect_request("/f.xml").respond_with_data(rss([("a", "Calm", "Calm.")]))
    sources = f"  - {{id: f, kind: feed, url: 'http://127.0.0.1:{httpserver.port}/f.xml'}}"
    rt = project(tmp_path, FEED_HEADER.format(extra="", sources=sources), clock)
    runtimes.append(rt)
    run_once(rt, only_due=True)
    clock.advance(-timedelta(days=1))
    run_once(rt, only_due=True)  # the next cycle after the jump: not due yet
    assert len(httpserver.log) == 1
    clock.advance(timedelta(minutes=12))  # more than every (10m) + 10 % jitter of real time
    run_once(rt, only_due=True)
    assert len(httpserver.log) == 2


# --- H. output safety --------------------------------------------------------------------------


def _rss_item(title: str, description: str, link: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>t</title>'
        "<link>http://127.0.0.1/</link><description>d</description>"
        f"<item><guid isPermaLink='false'>h1</guid><title>{title}</title><link>{link}</link>"
        f"<description>{description}</description>"
        "<pubDate>Sun, 01 Feb 2026 00:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


def _deliver_item(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    smtp_port: int,
    runtimes: list[Runtime],
    feed: bytes,
) -> list[dict[str, Any]]:
    """Serve one feed item, run one cycle with a mail and a JSON webhook channel."""
    httpserver.expect_request("/f.xml").respond_with_data(feed)
    httpserver.expect_request("/hook").respond_with_data("ok")
    sources = f"  - {{id: f, kind: feed, url: 'http://127.0.0.1:{httpserver.port}/f.xml'}}"
    extra = (
        "channels:\n"
        f"  mail: {{urls: ['mailto://127.0.0.1:{smtp_port}?{MAIL_QUERY}'], min_interval: 0s}}\n"
        f"  hook: {{urls: ['json://127.0.0.1:{httpserver.port}/hook'], min_interval: 0s}}\n"
        "default_channels: [mail, hook]"
    )
    rt = project(tmp_path, FEED_HEADER.format(extra=extra, sources=sources), clock)
    runtimes.append(rt)
    report = run_once(rt)
    assert report.polls[0].error == "" and report.delivery.sent == 2, report
    return [request.get_json() for request, _ in httpserver.log if request.path == "/hook"]


def _parts(message: Message) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[part.get_content_subtype()] = payload.decode(
                part.get_content_charset() or "utf-8"
            )
    return parts


def test_h1_html_and_script_in_feed_content_reach_email_and_webhook_as_text(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    switch_smtp: tuple[SwitchSink, int],
    runtimes: list[Runtime],
) -> None:
    """H1: the §2.9 item reaches the HTML email, its text part and a JSON webhook as text.

    The item has script and img tags in its (plain-text) title, a doubly escaped img, a
    ``javascript:`` link and href, and a remote tracking pixel in the summary. Tags in titles
    are stripped during normalisation; the doubly escaped img is what the feed *displayed*,
    so it is kept as the text ``<img src=x onerror=alert(2)>``: escaped in the HTML part,
    literal in the text part and the webhook (text formats, never rendered). ``5 < 6 & "x"``
    checks that feed text is escaped rather than dropped.
    """
    sink, port = switch_smtp
    title = (
        'Missile launched 5 &lt; 6 &amp; "x" &lt;script&gt;alert(1)&lt;/script&gt;'
        " &amp;lt;img src=x onerror=alert(2)&amp;gt; &lt;b&gt;bold&lt;/b&gt;"
    )
    description = (
        f'<![CDATA[<p>{LAUNCH} <a href="javascript:alert(3)">click</a>'
        f' <img src="http://127.0.0.1:9/pixel.gif"><script>alert(4)</script></p>]]>'
    )
    feed = _rss_item(title, description, "javascript:alert(5)")
    [hook] = _deliver_item(tmp_path, clock, httpserver, port, runtimes, feed)
    [message] = sink.messages
    parts = _parts(message)
    html = parts["html"].lower()
    assert "5 &lt; 6 &amp; &#34;x&#34; &lt;img src=x onerror=alert(2)&gt; bold" in html
    never = ("<script", "<b>", "<p>", "pixel.gif", "javascript:", "alert(1)", "alert(4)")
    for markup in (*never, "<img", "onerror="):
        assert markup not in html.replace("onerror=alert(2)&gt;", ""), markup
    text = hook["title"] + "\n" + hook["message"]
    for literal in (parts["plain"], text):
        assert '5 < 6 & "x" <img src=x onerror=alert(2)> bold' in literal
        for markup in never:
            assert markup not in literal.lower(), markup


def test_h2_header_injection_in_a_title_stays_in_one_subject(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    switch_smtp: tuple[SwitchSink, int],
    runtimes: list[Runtime],
) -> None:
    sink, port = switch_smtp
    title = "Headline&#13;&#10;Bcc: victim@example.invalid&#13;&#10;X-Injected: yes"
    _deliver_item(
        tmp_path, clock, httpserver, port, runtimes, _rss_item(title, LAUNCH, "http://127.0.0.1/a")
    )
    [message] = sink.messages
    assert len(message.get_all("Subject") or []) == 1
    assert message.get_all("Bcc") is None and message.get_all("X-Injected") is None
    assert sink.recipients == [["d@example.com"]]
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    assert "Headline" in subject and "\n" not in subject and "\r" not in subject


def test_h3_template_syntax_in_feed_text_arrives_literally(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    switch_smtp: tuple[SwitchSink, int],
    runtimes: list[Runtime],
) -> None:
    sink, port = switch_smtp
    title = "Missile launched {{ 7*7 }} {% for x in 'ab' %}loop{% endfor %} {{ ''.__class__ }}"
    hooks = _deliver_item(
        tmp_path, clock, httpserver, port, runtimes, _rss_item(title, LAUNCH, "http://127.0.0.1/a")
    )
    [hook] = hooks
    literal = "{{ 7*7 }} {% for x in 'ab' %}loop{% endfor %} {{ ''.__class__ }}"
    for text in (hook["title"], hook["message"]):
        assert literal in text  # arrived as typed, never compiled
        assert "launched 49" not in text and "looploop" not in text and "<class" not in text
    [message] = sink.messages
    parts = _parts(message)
    assert literal in parts["plain"]
    escaped = "{{ 7*7 }} {% for x in &#39;ab&#39; %}loop{% endfor %} {{ &#39;&#39;.__class__ }}"
    assert escaped in parts["html"]
    assert "launched 49" not in parts["html"] and "looploop" not in parts["html"]


def test_h6_dns_rebinding_cannot_swap_the_checked_address(
    httpserver: HTTPServer, listener: Callable[..., Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    """H6: a resolver double answers 127.0.0.1 (allowed) first and 127.0.0.2 (denied) after.

    The deny-list is enforced in the dialler (fetch._GuardedBackend): the name is resolved once
    per connection and exactly the checked address is dialled, so the second, rebound answer is
    never asked for. A check-then-connect design would pass the check on the first answer and
    let httpx's own lookup connect to the trap. Only ``socket.getaddrinfo`` is replaced, and
    only for the made-up name; fetch, httpx and httpcore run unmodified.
    """
    trap = listener("127.0.0.2", hold=False)
    httpserver.expect_request("/feed").respond_with_data("<rss/>")
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers.append("127.0.0.1" if not answers else "127.0.0.2")
        target = (answers[-1], httpserver.port if len(answers) == 1 else trap.port)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", target)]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with make_client(DENY) as client:
        response = fetch(client, f"http://rebind.test:{httpserver.port}/feed", limits=DENY)
        assert response.body == b"<rss/>"
        assert answers == ["127.0.0.1"]  # one lookup for the one connection
        assert trap.connections == 0
        # The rebound answer, when a new connection does ask for it, is refused.
        client.close()
    with make_client(DENY) as client, pytest.raises(FetchError, match=r"127\.0\.0\.2"):
        fetch(client, f"http://rebind.test:{httpserver.port}/feed", limits=DENY)
    assert trap.connections == 0


@pytest.mark.parametrize("bad", ["../../etc", "a/b"])
def test_h7_source_id_with_a_path_is_rejected_with_its_location(
    tmp_path: Path, clock: FakeClock, bad: str
) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "seeds").mkdir()
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: data/m.db\nrules: rules\nhttp: false\nsources:\n"
        f"  - {{id: '{bad}', kind: seeds, path: seeds}}\n",
        encoding="utf-8",
    )
    for command in (("check",), ("run", "--once")):
        code, _, err = cli(config, clock, *command)
        assert code == 1
        assert ":5:" in err and "sources[0].id" in err, err
        assert "string should match pattern" in err.lower() or "pattern" in err, err
    assert not (tmp_path / "data").exists()  # nothing was created, let alone outside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.yaml", "rules", "seeds"]
