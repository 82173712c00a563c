"""The daemon as users run it: a real process, signals, the single-instance lock."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

CONFIG = """
database: ../data/m.db
rules: ../rules
sources:
  - {id: seeds, kind: seeds, path: ../seeds, every: 1s}
delivery: {every: 1s}
http: {listen: "127.0.0.1:PORT"}
"""


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll a condition until it holds or a deadline passes (the daemon runs on real time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("rules", "seeds"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "config").mkdir()
    config = tmp_path / "config" / "monitor.yaml"
    config.write_text(CONFIG.replace("PORT", str(free_port())), encoding="utf-8")
    return config


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def daemon(project: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    proc = start(project)
    try:
        yield proc, project
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_daemon_ingests_alerts_picks_up_new_seeds_and_stops_on_sigterm(
    daemon: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, config = daemon
    db = config.parent.parent / "data" / "m.db"
    assert wait_for(lambda: count(db, "SELECT count(*) FROM alerts WHERE state='sent'") == 3)
    (config.parent.parent / "seeds" / "300_dropped.txt").write_text(
        "Dropped in\n\nAn oil embargo was imposed on the country today.\n", encoding="utf-8"
    )
    assert wait_for(lambda: count(db, "SELECT count(*) FROM articles") == 3)
    # A second daemon on the same database refuses and names the first.
    second = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"another news-monitor (pid {proc.pid}) holds" in second.stderr
    # The dashboard, health and metrics are served while it runs.
    listen = config.read_text().split('listen: "')[1].split('"')[0]
    assert wait_for(lambda: _get(f"http://{listen}/healthz")[0] == 200)
    status, body = _get(f"http://{listen}/metrics")
    assert status == 200 and "news_monitor_polls_total{" in body
    status, body = _get(f"http://{listen}/")
    assert status == 200 and "<svg" in body and "missile-launch" in body
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 10
    assert out.count("=== ALERT ") == 3
    assert "received SIGTERM, stopping" in err
    assert count(db, "SELECT count(*) FROM alerts WHERE state != 'sent'") == 0


def test_sigterm_does_not_wait_for_a_server_that_never_answers(project: Path) -> None:
    # A feed server that accepts and then says nothing held the stop for its read timeout
    # (20 s here, and up to the 30 s total limit). Now the fetch gives up at once, and
    # nothing is recorded against the source: it is polled again at the next start.
    import socket
    import threading

    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = trap.accept()
            except OSError:
                return
            held.append(conn)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    url = f"http://127.0.0.1:{trap.getsockname()[1]}/feed.xml"
    # And one whose connection is never answered: its listen queue is full, so the SYN is
    # dropped and connect() waits (10 s by default). It is on another host, so that both
    # polls run at once (a host gives sources it knows nothing good of one connection).
    jam = socket.socket()
    jam.bind(("127.0.0.2", 0))
    jam.listen(0)
    queued = []
    for _ in range(3):
        filler = socket.socket()
        filler.settimeout(0.3)
        with contextlib.suppress(OSError):
            filler.connect(jam.getsockname())
        queued.append(filler)
    jammed = f"http://127.0.0.2:{jam.getsockname()[1]}/feed.xml"
    seeds = "  - {id: seeds, kind: seeds, path: ../seeds, every: 1s}\n"
    project.write_text(
        project.read_text().replace(
            seeds,
            seeds
            + f"  - {{id: silent, kind: feed, url: '{url}', every: 1m}}\n"
            + f"  - {{id: jammed, kind: feed, url: '{jammed}', every: 1m}}\n",
        )
        + "fetch: {read_timeout: 20s, total_timeout: 30s}\n",
        encoding="utf-8",
    )
    proc = start(project)
    try:
        assert wait_for(lambda: len(held) >= 1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        stopped_after = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            trap.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        trap.close()
        acceptor.join(5)
        for conn in [*held, *queued, jam]:
            conn.close()
    assert proc.returncode == 0, err
    assert stopped_after < 5, stopped_after
    assert "poll of silent stopped: news-monitor is stopping" in err
    assert "poll of jammed stopped: news-monitor is stopping" in err
    db = project.parent.parent / "data" / "m.db"
    assert count(db, "SELECT count(*) FROM sources WHERE id = 'silent' AND failures = 0") == 1
    assert count(db, "SELECT count(*) FROM sources WHERE id = 'silent' AND last_error = ''") == 1
    assert count(db, "SELECT count(*) FROM sources WHERE id = 'jammed' AND failures = 0") == 1
