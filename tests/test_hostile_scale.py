"""Hostile feeds among many good ones cost only their own budgets (issue: proof under attack)."""

from __future__ import annotations

import gzip
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.clock import FakeClock
from monitor.pipeline import Runtime, run_once
from tests.feedkit import project, rss

GOOD = 300
HOSTILE_EACH = 6  # of each of the kinds below


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(entities) + "\n]>\n"
        "<rss version='2.0'><channel><title>&lol9;</title><item><title>&lol9;</title>"
        "<guid>x</guid></item></channel></rss>"
    ).encode()


def quadratic() -> bytes:
    big = "A" * 50_000
    refs = "&big;" * 2_000
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY big "{big}">]>\n'
        f"<rss version='2.0'><channel><title>q</title><item><title>t</title>"
        f"<description>{refs}</description><guid>q</guid></item></channel></rss>"
    ).encode()


def author_redos() -> bytes:
    author = "a@" + "a." * 16_000 + "!"
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>r</title><item><title>t</title>"
        f"<author>{author}</author><guid>r</guid></item></channel></rss>"
    ).encode()


@pytest.fixture
def drip_server() -> Iterator[int]:
    """A server that sends headers, then one byte every 0.3 s (a slowloris feed)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss")
            while not stop.wait(0.3):
                conn.sendall(b" ")
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield int(listener.getsockname()[1])
    stop.set()
    listener.close()


@pytest.mark.reliability
def test_hostile_feeds_among_good_ones(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, drip_server: int
) -> None:
    sources = []
    for i in range(GOOD):
        items = [(f"g{i}-{j}", f"Story {i}-{j}", f"Ordinary news number {j}.") for j in range(10)]
        httpserver.expect_request(f"/good/{i}.xml").respond_with_data(rss(items))
        sources.append(
            f"  - {{id: good-{i}, kind: feed, url: '{httpserver.url_for(f'/good/{i}.xml')}'}}"
        )
    bomb = gzip.compress(b"<rss>" + b" " * 100_000_000)
    kinds = {
        "laughs": (billion_laughs(), {}),
        "quadratic": (quadratic(), {}),
        "redos": (author_redos(), {}),
        "bomb": (bomb, {"Content-Encoding": "gzip"}),
    }
    for kind, (body, headers) in kinds.items():
        for n in range(HOSTILE_EACH):
            path = f"/bad/{kind}/{n}.xml"
            httpserver.expect_request(path).respond_with_data(body, headers=headers)
            sources.append(f"  - {{id: {kind}-{n}, kind: feed, url: '{httpserver.url_for(path)}'}}")
    for n in range(HOSTILE_EACH):
        sources.append(f"  - {{id: drip-{n}, kind: feed, url: 'http://127.0.0.1:{drip_server}/'}}")
    body = (
        "database: m.db\nrules: rules\n"
        "fetch: {total_timeout: 3s, read_timeout: 2s, parse_timeout: 3s, max_bytes: 5000000,"
        " per_host: 8, max_concurrency: 16}\n"
        "sources:\n" + "\n".join(sources) + "\n"
    )
    rt: Runtime = project(tmp_path, body, clock)
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        report = run_once(rt)
        elapsed = time.monotonic() - started
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        good = [p for p in report.polls if p.source_id.startswith("good-")]
        assert all(not p.error for p in good)
        assert rt.store.scalar("SELECT count(*) FROM articles WHERE source_id LIKE 'good-%'") == (
            GOOD * 10
        )
        errors = {p.source_id: p.error for p in report.polls if p.error}
        for source_id, error in errors.items():
            assert source_id.split("-")[0] in kinds or source_id.startswith("drip"), source_id
            assert error
        assert all(
            errors.get(f"drip-{n}", "").startswith("fetch exceeded") for n in range(HOSTILE_EACH)
        )
        assert all("too large" in errors.get(f"bomb-{n}", "") for n in range(HOSTILE_EACH))
        # No expanded entity text was stored anywhere.
        assert rt.store.scalar("SELECT count(*) FROM articles WHERE text LIKE '%lollollol%'") == 0
        # The budgets bound the cycle: hostile feeds ran in parallel with the good ones.
        assert elapsed < 60, elapsed
        assert grown_mb < 300, grown_mb
    finally:
        rt.close()
        rt.store.close()
