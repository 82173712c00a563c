"""Polling feeds from a real HTTP server on loopback: HTTP semantics, backoff, dedupe, health."""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.clock import FakeClock, parse_iso
from monitor.pipeline import Rules, Runtime, commit, fetch_one, poll_source, prepare, run_once
from monitor.rules.match import match_article
from monitor.store import sources as source_q
from monitor.stories import story_signature
from tests.feedkit import conditional, project, rss

HEADER = """
database: db/m.db
rules: rules
fetch: {{total_timeout: 2s, read_timeout: 1s, connect_timeout: 1s, max_bytes: 200000,
        parse_timeout: 5s}}
health: {{channels: [console], failing_after: 1h}}
delivery: {{backoff_min: 1s}}
sources:
{sources}
"""

LAUNCH = "North Korea launched a ballistic missile over Japan on Tuesday."


def feed_source(source_id: str, url: str, extra: str = "") -> str:
    return f"  - {{id: {source_id}, kind: feed, url: '{url}', every: 10m{extra}}}"


@pytest.fixture
def make(tmp_path: Path, clock: FakeClock) -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for rt in made:
        rt.close()
        rt.store.close()


def runtime(tmp_path: Path, clock: FakeClock, made: list[Runtime], *sources: str) -> Runtime:
    rt = project(tmp_path, HEADER.format(sources="\n".join(sources)), clock)
    made.append(rt)
    return rt


def row(rt: Runtime, source_id: str) -> dict[str, object]:
    found = source_q.get_source(rt.store, source_id)
    assert found is not None
    return found


@contextlib.contextmanager
def silent_server(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP server on ``host`` that accepts every connection and never answers; its port."""
    held: list[socket.socket] = []
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen()

    def accept() -> None:
        try:
            while True:
                held.append(listener.accept()[0])
        except OSError:
            return

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        # shutdown() wakes the blocked accept(); then no connection can arrive unclosed.
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(5)
        for conn in held:
            conn.close()


def test_a_few_hundred_feeds_some_broken_then_all_unchanged(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    good = 200
    for i in range(good):
        items = [(f"f{i}-{j}", f"Story {i}-{j}", f"Plain news number {j}.") for j in range(5)]
        httpserver.expect_request(f"/feed/{i}.xml").respond_with_handler(conditional(rss(items)))
    httpserver.expect_request("/broken/404.xml").respond_with_data("nope", status=404)
    httpserver.expect_request("/broken/410.xml").respond_with_data("gone", status=410)
    httpserver.expect_request("/broken/500.xml").respond_with_data("oops", status=500)
    httpserver.expect_request("/broken/html.xml").respond_with_data(
        "<html><body>not a feed</body></html>", content_type="text/html"
    )
    httpserver.expect_request("/broken/truncated.xml").respond_with_data(
        rss([("t1", "Salvaged", "x"), ("t2", "Lost", "y")])[:-60]
    )
    httpserver.expect_request("/broken/big.xml").respond_with_data(b"<rss>" + b"x" * 300_000)
    bomb = gzip.compress(b"<rss>" + b" " * 50_000_000)
    httpserver.expect_request("/broken/bomb.xml").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}
    )
    httpserver.expect_request("/broken/loop-a").respond_with_data(
        "", status=302, headers={"Location": "/broken/loop-b"}
    )
    httpserver.expect_request("/broken/loop-b").respond_with_data(
        "", status=302, headers={"Location": "/broken/loop-a"}
    )
    base = f"http://127.0.0.1:{httpserver.port}"
    sources = [feed_source(f"good-{i}", f"{base}/feed/{i}.xml") for i in range(good)]
    broken = {
        "b-404": ("/broken/404.xml", "HTTP 404 Not Found"),
        "b-410": ("/broken/410.xml", "HTTP 410 Gone"),
        "b-500": ("/broken/500.xml", "HTTP 500 Internal Server Error"),
        "b-html": ("/broken/html.xml", "not a feed"),
        "b-big": ("/broken/big.xml", "response too large"),
        "b-bomb": ("/broken/bomb.xml", "response too large"),
        "b-loop": ("/broken/loop-a", "too many redirects"),
        "b-dead": (f"http://127.0.0.1:{_closed_port()}/x", "connection refused"),
    }
    for source_id, (path, _) in broken.items():
        url = path if path.startswith("http") else base + path
        sources.append(feed_source(source_id, url))
    sources.append(feed_source("b-trunc", f"{base}/broken/truncated.xml"))
    rt = runtime(tmp_path, clock, make, *sources)

    report = run_once(rt)
    salvaged = rt.store.scalar("SELECT count(*) FROM articles WHERE source_id = 'b-trunc'")
    assert salvaged >= 1
    total = good * 5 + salvaged
    assert rt.store.scalar("SELECT count(*) FROM articles") == total
    failed = {p.source_id: p.error for p in report.polls if p.error}
    assert set(failed) == set(broken)
    for source_id, (_, expected) in broken.items():
        assert expected in failed[source_id], (source_id, failed[source_id])
        assert expected in str(row(rt, source_id)["last_error"])
    assert "malformed feed" in str(row(rt, "b-trunc")["warning"])
    assert row(rt, "b-410")["state"] == "gone"

    # Second cycle: every good feed answers 304, nothing is parsed or stored again.
    before = len(httpserver.log)
    clock.advance(timedelta(minutes=1))
    report = run_once(rt)
    assert rt.store.scalar("SELECT count(*) FROM articles") == total
    statuses = [resp.status_code for _, resp in httpserver.log[before:]]
    assert statuses.count(304) == good
    assert all(p.not_modified for p in report.polls if p.source_id.startswith("good-"))
    # The gone source is not polled again.
    assert not any(req.path == "/broken/410.xml" for req, _ in httpserver.log[before:])


def _closed_port() -> int:
    from tests.conftest import free_port

    return free_port()


def test_permanent_redirect_updates_the_stored_url(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    httpserver.expect_request("/old.xml").respond_with_data(
        "", status=301, headers={"Location": "/new.xml"}
    )
    httpserver.expect_request("/new.xml").respond_with_data(rss([("a", "A", "b")]))
    rt = runtime(tmp_path, clock, make, feed_source("moved", httpserver.url_for("/old.xml")))
    poll_source(rt, rt.config.spec.sources[0])
    assert row(rt, "moved")["url"] == httpserver.url_for("/new.xml")
    clock.advance(timedelta(hours=1))
    before = len(httpserver.log)
    poll_source(rt, rt.config.spec.sources[0])
    assert [req.path for req, _ in httpserver.log[before:]] == ["/new.xml"]


def test_retry_after_and_backoff_then_reset(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    answers = iter(
        [
            Response("slow down", status=429, headers={"Retry-After": "7200"}),
            Response("oops", status=503),
            Response("oops", status=503),
            Response(rss([("a", "A", "b")]), content_type="application/rss+xml"),
        ]
    )
    httpserver.expect_request("/f.xml").respond_with_handler(lambda request: next(answers))
    rt = runtime(tmp_path, clock, make, feed_source("flaky", httpserver.url_for("/f.xml")))
    spec = rt.config.spec.sources[0]
    poll_source(rt, spec)
    wait = parse_iso(str(row(rt, "flaky")["next_poll_at"])) - clock.now()
    assert wait >= timedelta(hours=2)
    waits = []
    for _ in range(2):
        poll_source(rt, spec)
        waits.append(parse_iso(str(row(rt, "flaky")["next_poll_at"])) - clock.now())
    # 10m interval doubling: 2nd failure ~20m, 3rd ~40m, each within ±10% jitter.
    assert timedelta(minutes=18) <= waits[0] <= timedelta(minutes=22)
    assert timedelta(minutes=36) <= waits[1] <= timedelta(minutes=44)
    assert row(rt, "flaky")["failures"] == 3
    poll_source(rt, spec)
    assert row(rt, "flaky")["failures"] == 0
    wait = parse_iso(str(row(rt, "flaky")["next_poll_at"])) - clock.now()
    assert timedelta(minutes=9) <= wait <= timedelta(minutes=11)


def test_backoff_is_capped_and_keeps_probing(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    httpserver.expect_request("/f.xml").respond_with_data("down", status=502)
    rt = runtime(tmp_path, clock, make, feed_source("down", httpserver.url_for("/f.xml")))
    for _ in range(12):
        poll_source(rt, rt.config.spec.sources[0])
    wait = parse_iso(str(row(rt, "down")["next_poll_at"])) - clock.now()
    assert timedelta(hours=5, minutes=24) <= wait <= timedelta(hours=6)
    assert row(rt, "down")["state"] == "active"


def test_cache_headers_and_ttl_lengthen_the_interval(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    httpserver.expect_request("/cc.xml").respond_with_data(
        rss([("a", "A", "b")]), headers={"Cache-Control": "max-age=3600"}
    )
    httpserver.expect_request("/ttl.xml").respond_with_data(rss([("a", "A", "b")], ttl=120))
    httpserver.expect_request("/short.xml").respond_with_data(
        rss([("a", "A", "b")]), headers={"Cache-Control": "max-age=5"}
    )
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("cc", httpserver.url_for("/cc.xml")),
        feed_source("ttl", httpserver.url_for("/ttl.xml")),
        feed_source("short", httpserver.url_for("/short.xml")),
    )
    run_once(rt)
    waits = {
        s: parse_iso(str(row(rt, s)["next_poll_at"])) - clock.now() for s in ("cc", "ttl", "short")
    }
    assert waits["cc"] == timedelta(hours=1)
    assert waits["ttl"] == timedelta(hours=2)
    assert timedelta(minutes=9) <= waits["short"] <= timedelta(minutes=11)  # never below every


def test_dedupe_across_polls_urls_and_updates(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    first = rss([("g1", "Missile launched", LAUNCH)])
    edited = rss([("g1", "Missile launched (updated)", LAUNCH + " More details.")])
    bodies = iter([first, first, edited])
    httpserver.expect_request("/a.xml").respond_with_handler(
        lambda request: Response(next(bodies), content_type="application/rss+xml")
    )
    httpserver.expect_request("/b.xml").respond_with_data(rss([("other", "Copy", LAUNCH)]))
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("a", httpserver.url_for("/a.xml")),
    )
    spec = rt.config.spec.sources[0]
    report = poll_source(rt, spec)
    assert (report.ingest.new, report.ingest.events_opened, report.ingest.alerts) == (1, 1, 1)
    assert poll_source(rt, spec).ingest.new == 0
    updated = poll_source(rt, spec)
    assert (updated.ingest.new, updated.ingest.updated, updated.ingest.alerts) == (0, 1, 0)
    assert rt.store.scalar("SELECT title FROM articles") == "Missile launched (updated)"
    assert rt.store.scalar("SELECT count(*) FROM alerts") == 1


def test_same_link_from_two_feeds_is_one_article(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    body = rss([("x", "Same story", "Text.")])
    httpserver.expect_request("/one.xml").respond_with_data(body)
    httpserver.expect_request("/two.xml").respond_with_data(body.replace(b">x<", b">y<"))
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("one", httpserver.url_for("/one.xml")),
        feed_source("two", httpserver.url_for("/two.xml")),
    )
    run_once(rt)
    assert rt.store.scalar("SELECT count(*) FROM articles") == 1


def test_failing_source_raises_one_alert_and_one_on_recovery(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    state = {"up": False}

    def handler(request: Request) -> Response:
        if state["up"]:
            return Response(rss([("a", "A", "b")]), content_type="application/rss+xml")
        return Response("down", status=500)

    httpserver.expect_request("/f.xml").respond_with_handler(handler)
    rt = runtime(tmp_path, clock, make, feed_source("sick", httpserver.url_for("/f.xml")))
    spec = rt.config.spec.sources[0]
    for _ in range(4):
        poll_source(rt, spec)
        clock.advance(timedelta(minutes=25))
    alerts = rt.store.query("SELECT kind, title, body FROM alerts ORDER BY id")
    assert [(a["kind"], a["title"]) for a in alerts] == [("open", "[ops] Source sick is failing")]
    assert "Last error: HTTP 500 Internal Server Error" in alerts[0]["body"]
    state["up"] = True
    poll_source(rt, spec)
    poll_source(rt, spec)
    alerts = rt.store.query("SELECT kind, title FROM alerts ORDER BY id")
    assert [a["title"] for a in alerts] == [
        "[ops] Source sick is failing",
        "[ops] Source sick recovered",
    ]


def test_a_non_ascii_etag_costs_nothing_and_stops_nothing(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    # Found by a hostile-feed run: a stored ETag with a non-ASCII letter made building the
    # next request raise, which ended the whole cycle for every source.
    httpserver.expect_request("/odd.xml").respond_with_data(
        rss([("o1", "Odd", "text")]), headers={"ETag": '"café"'}
    )
    httpserver.expect_request("/good.xml").respond_with_data(rss([("g1", "Good", "text")]))
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("odd", httpserver.url_for("/odd.xml")),
        feed_source("good", httpserver.url_for("/good.xml")),
    )
    for _ in range(2):
        reports = run_once(rt)
        assert [(p.source_id, p.error) for p in reports.polls] == [("odd", ""), ("good", "")]
        clock.advance(timedelta(minutes=15))
    assert row(rt, "odd")["etag"] is None
    assert rt.store.scalar("SELECT count(*) FROM articles") == 2


def test_a_source_gone_silent_raises_one_alert_and_one_when_it_speaks_again(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    items: list[tuple[str, str, str]] = []
    httpserver.expect_request("/s.xml").respond_with_handler(
        lambda request: Response(rss(items), content_type="application/rss+xml")
    )
    rt = runtime(tmp_path, clock, make, feed_source("quiet", httpserver.url_for("/s.xml")))
    spec = rt.config.spec.sources[0]

    def titles() -> list[str]:
        return [str(a["title"]) for a in rt.store.query("SELECT title FROM alerts ORDER BY id")]

    # A new item every 10 minutes: the usual rhythm.
    for n in range(6):
        items.append((f"g{n}", f"Item {n}", "text"))
        poll_source(rt, spec)
        clock.advance(timedelta(minutes=10))
    # Then nothing new. The limit is max(10 x 10 minutes, silent_min 6h) = 6h.
    for _ in range(5):
        clock.advance(timedelta(hours=1))
        poll_source(rt, spec)
    assert titles() == []
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        poll_source(rt, spec)
    assert titles() == ["[ops] Source quiet has gone silent"]
    items.append(("g-new", "Item again", "text"))
    poll_source(rt, spec)
    assert titles() == ["[ops] Source quiet has gone silent", "[ops] Source quiet recovered"]


def test_adaptive_polling_slows_a_quiet_source_within_bounds(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    httpserver.expect_request("/q.xml").respond_with_data(rss([("a", "A", "b")]))
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("quiet", httpserver.url_for("/q.xml"), ", max_every: 1h"),
    )
    spec = rt.config.spec.sources[0]
    intervals = []
    for _ in range(8):
        poll_source(rt, spec)
        intervals.append(float(str(row(rt, "quiet")["interval_s"])))
    assert intervals[0] == 600
    assert intervals == sorted(intervals)
    assert intervals[-1] == 3600


def test_run_once_logs_stay_free_of_feed_credentials(
    tmp_path: Path,
    clock: FakeClock,
    httpserver: HTTPServer,
    make: list[Runtime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    httpserver.expect_request("/f.xml").respond_with_data("no", status=401)
    url = f"http://user:CANARY_FEED_3e8@127.0.0.1:{httpserver.port}/f.xml?token=CANARY_Q"
    rt = runtime(tmp_path, clock, make, feed_source("secret", url))
    with caplog.at_level("DEBUG"):
        run_once(rt)
    assert "HTTP 401" in str(row(rt, "secret")["last_error"])
    # The loopback test server logs the request line itself; everything else must be clean.
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    leaked = [f"{r.name}: {r.getMessage()}" for r in ours if "CANARY" in r.getMessage()]
    assert leaked == []
    assert "CANARY" not in str(row(rt, "secret")["last_error"])
    _ = io


def test_one_hung_source_does_not_hold_up_the_others(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    import time

    from monitor.daemon import Daemon

    for i in range(19):
        httpserver.expect_request(f"/f{i}.xml").respond_with_data(rss([(f"g{i}", "T", "x")]))
    sources = [feed_source(f"fast-{i}", httpserver.url_for(f"/f{i}.xml")) for i in range(19)]
    # The hung source is on another host, so the per-host limit does not hold it up.
    with silent_server("127.0.0.2") as port:
        sources.append(feed_source("hung", f"http://127.0.0.2:{port}/feed.xml"))
        rt = runtime(tmp_path, clock, make, *sources)
        daemon = Daemon(rt, clock)
        try:
            daemon.tick()
            assert "hung" in daemon.in_flight
            deadline = time.monotonic() + 10
            busiest = 0
            while time.monotonic() < deadline:
                done = rt.store.scalar(
                    "SELECT count(*) FROM sources WHERE last_success_at IS NOT NULL"
                )
                if done == 19:
                    break
                daemon.tick()  # what the scheduler does every second
                busiest = max(busiest, daemon.host_load["127.0.0.1"])
                time.sleep(0.02)
            assert done == 19
            assert busiest <= 2  # fetch.per_host
            # The hung poll is still running: a new tick does not start a second one.
            if "hung" in daemon.in_flight:
                daemon.tick()
                assert list(daemon.in_flight) == ["hung"]
        finally:
            daemon.polls.shutdown(wait=True)
    assert "timed out" in str(row(rt, "hung")["last_error"]) or "deadline" in str(
        row(rt, "hung")["last_error"]
    )


def test_parse_workers_match_like_the_daemon_and_rules_reloaded_meanwhile_win(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    hedged = "Pyongyang may launch a ballistic missile next week, officials said."
    body = rss([("g1", "Missile launched", LAUNCH), ("g2", "Maybe a launch", hedged)])
    httpserver.expect_request("/a.xml").respond_with_data(body, content_type="application/rss+xml")
    rt = runtime(tmp_path, clock, make, feed_source("a", httpserver.url_for("/a.xml")))
    spec = rt.config.spec.sources[0]
    job = prepare(rt, spec)
    fetched = fetch_one(rt, job, clock.now())
    # The worker matched both articles with the rules in force and signed the counted one.
    assert fetched.rules_version == rt.rules.version
    assert fetched.matches is not None and fetched.signatures is not None
    here = [match_article(rt.rules.ruleset, a) for a in fetched.articles]
    assert fetched.matches == here
    assert [m.modality for found in here for m in found] == ["asserted", "hedged"]
    assert fetched.signatures[0] == story_signature(
        fetched.articles[0].title, fetched.articles[0].text
    )
    assert fetched.signatures[1] is None
    # Rules reloaded between the parse and the commit: the commit matches with the new ones.
    (tmp_path / "rules" / "missile-launch.yaml").unlink()
    rt.rules = Rules.load(rt.config)
    commit(rt, fetched)
    assert rt.store.scalar("SELECT count(*) FROM matches WHERE rule_id = 'missile-launch'") == 0
    assert rt.store.scalar("SELECT count(*) FROM articles") == 2


def test_failing_sources_get_half_a_hosts_connections_and_spellings_are_one_host(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    # Found by a hostile-feed run: a hundred feeds that hang until their timeout, always the
    # longest waiting, took every connection to their host, and the healthy feeds there were
    # polled minutes late. And "127.1" or "0x7f000001" counted as hosts of their own.
    from monitor.daemon import Daemon

    spellings = ["127.0.0.1", "127.1", "0x7f000001"]
    with silent_server() as port:
        sources = [
            feed_source(f"{kind}-{i}", f"http://{spellings[i]}:{port}/{kind}{i}.xml")
            for kind in ("a-fail", "b-ok")
            for i in range(3)
        ]
        rt = runtime(tmp_path, clock, make, *sources)
        rt.store.execute("UPDATE sources SET failures = 1 WHERE id LIKE 'a-fail-%'")
        rt.store.execute(
            "UPDATE sources SET last_success_at = '2026-03-01T11:00:00+00:00'"
            " WHERE id LIKE 'b-ok-%'"
        )
        daemon = Daemon(rt, clock)
        try:
            daemon.tick()
            # fetch.per_host is 2: one slot for the failing sources, whatever their spelling.
            assert daemon.in_flight == {"a-fail-0", "b-ok-0"}
            assert dict(daemon.host_load) == {"127.0.0.1": 2}
        finally:
            rt.poller.cancel.set()
            daemon.polls.shutdown(wait=True)


def test_a_feed_that_is_costly_to_parse_is_polled_less_often(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    # Found by a hostile-feed run: feeds that parsed in just under the parse time limit held
    # the parse workers for seconds on every poll, and every other feed's parse waited.
    import dataclasses

    httpserver.expect_request("/a.xml").respond_with_data(rss([("g1", "T", LAUNCH)]))
    rt = runtime(tmp_path, clock, make, feed_source("a", httpserver.url_for("/a.xml")))
    spec = rt.config.spec.sources[0]
    fetched = fetch_one(rt, prepare(rt, spec), clock.now())
    # The worker says what the feed cost it: a little CPU for one item.
    assert 0 < fetched.parse_seconds < 1
    commit(rt, fetched)
    normal = parse_iso(str(row(rt, "a")["next_poll_at"])) - clock.now()
    assert normal <= timedelta(minutes=11)  # every: 10m, with jitter
    # The same poll had it cost 20 s of CPU: the next one waits 60 times that (and the CPU
    # its storing took), and says why.
    clock.advance(timedelta(minutes=11))
    costly = dataclasses.replace(fetch_one(rt, prepare(rt, spec), clock.now()), parse_seconds=20.0)
    report = commit(rt, costly)
    wait = parse_iso(str(row(rt, "a")["next_poll_at"])) - clock.now()
    assert timedelta(minutes=20) <= wait < timedelta(minutes=21)
    assert re.search(
        r"parsing and storing took 20\.\d s of CPU \(20\.0 s parsing\); next poll in 20m",
        report.warning,
    )


def test_polls_stored_together_each_get_their_own_report(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for i in range(24):
        httpserver.expect_request(f"/f{i}.xml").respond_with_data(
            rss([(f"g{i}-{k}", f"Item {k} of {i}", "x") for k in range(3)])
        )
    rt = runtime(
        tmp_path,
        clock,
        make,
        *(feed_source(f"f{i}", httpserver.url_for(f"/f{i}.xml")) for i in range(24)),
    )
    fetched = [fetch_one(rt, prepare(rt, spec), clock.now()) for spec in rt.config.spec.sources]
    barrier = threading.Barrier(8)

    def store(index: int) -> tuple[str, int]:
        if index < 8:
            barrier.wait()  # the first eight arrive together: one leads, the others wait
        report = rt.committer.commit(fetched[index])
        return report.source_id, report.ingest.new

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(store, range(len(fetched))))
    assert got == [(f"f{i}", 3) for i in range(24)]
    assert rt.store.scalar("SELECT count(*) FROM articles") == 72
    # Nobody holds the lead afterwards: a lone poll is stored at once.
    clock.advance(timedelta(minutes=11))
    assert rt.committer.commit(fetch_one(rt, prepare(rt, rt.config.spec.sources[0]), clock.now()))


def test_a_finished_poll_starts_the_next_due_one_without_waiting_for_a_tick(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    # With per_host 2, ten due sources on one host were polled two per scheduler tick (one a
    # second): a hostile-feed run saw healthy feeds polled at a third of their rate.
    import time

    from monitor.daemon import Daemon

    for i in range(10):
        httpserver.expect_request(f"/f{i}.xml").respond_with_data(rss([(f"g{i}", "T", "x")]))
    rt = runtime(
        tmp_path,
        clock,
        make,
        *(feed_source(f"f{i}", httpserver.url_for(f"/f{i}.xml")) for i in range(10)),
    )
    daemon = Daemon(rt, clock)
    try:
        daemon.tick()  # once only: the scheduler is not running
        deadline = time.monotonic() + 20
        done = 0
        while time.monotonic() < deadline and done < 10:
            done = rt.store.scalar("SELECT count(*) FROM sources WHERE last_success_at IS NOT NULL")
            time.sleep(0.02)
        assert done == 10
    finally:
        daemon.polls.shutdown(wait=True)


def test_a_feed_inventing_new_items_every_poll_is_held_to_its_daily_quota(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    polls = iter(range(1000))

    def churn(request: Request) -> Response:
        n = next(polls)
        items = [(f"p{n}-{i}", f"Item {n}-{i}", f"{LAUNCH} Update {n}-{i}.") for i in range(20)]
        return Response(rss(items), content_type="application/rss+xml")

    steady_items = [(f"s{i}", f"Steady {i}", f"Steady story number {i}.") for i in range(50)]
    steady_requests: list[str | None] = []
    steady_handler = conditional(rss(steady_items))

    def steady(request: Request) -> Response:
        steady_requests.append(request.headers.get("If-None-Match"))
        return steady_handler(request)  # type: ignore[no-any-return]

    httpserver.expect_request("/churn.xml").respond_with_handler(churn)
    httpserver.expect_request("/steady.xml").respond_with_handler(steady)
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("churn", httpserver.url_for("/churn.xml"), ", max_new_per_day: 30"),
        feed_source("steady", httpserver.url_for("/steady.xml"), ", max_new_per_day: 30"),
    )
    churn_spec, steady_spec = rt.config.spec.sources

    def count(source: str) -> int:
        return int(rt.store.scalar("SELECT count(*) FROM articles WHERE source_id = ?", (source,)))

    assert poll_source(rt, churn_spec).ingest.new == 20
    second = poll_source(rt, churn_spec)
    assert (second.ingest.new, second.ingest.over_quota) == (10, 10)
    assert "10 new item(s) not stored: the source gave 30 new items (max_new_per_day)" in (
        second.warning
    )
    assert "max_new_per_day" in str(row(rt, "churn")["warning"])
    clock.advance(timedelta(hours=23))
    third = poll_source(rt, churn_spec)
    assert (third.ingest.new, third.ingest.over_quota) == (0, 20)
    assert count("churn") == 30
    assert rt.metrics.value("news_monitor_items_over_quota_total", {"source": "churn"}) == 30
    # A day after the window opened, a new one does.
    clock.advance(timedelta(hours=1))
    assert poll_source(rt, churn_spec).ingest.new == 20
    assert count("churn") == 50

    # Items that stay in the feed are not lost: the validators are dropped so the next poll
    # gets the whole feed, and once the window has passed the rest is stored, each once.
    first = poll_source(rt, steady_spec)
    assert (first.ingest.new, first.ingest.over_quota) == (30, 20)
    assert row(rt, "steady")["etag"] is None
    again = poll_source(rt, steady_spec)
    assert (again.ingest.new, again.ingest.over_quota, again.not_modified) == (0, 20, False)
    clock.advance(timedelta(days=1))
    rest = poll_source(rt, steady_spec)
    assert (rest.ingest.new, rest.ingest.over_quota) == (20, 0)
    assert row(rt, "steady")["etag"] is not None
    assert poll_source(rt, steady_spec).not_modified
    assert steady_requests[:3] == [None, None, None] and steady_requests[3] is not None
    assert count("steady") == 50
    titles = rt.store.query("SELECT title FROM articles WHERE source_id = 'steady'")
    assert sorted(str(r["title"]) for r in titles) == sorted(t for _, t, _ in steady_items)


def test_a_feed_bringing_megabytes_of_new_text_is_held_to_its_daily_quota(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    # Third hostile-feed run: 100 items of 60 KB each per poll stayed far under the item quota.
    polls = iter(range(100))

    def heavy(request: Request) -> Response:
        n = next(polls)
        items = [(f"h{n}-{i}", f"Item {n}-{i}", f"{LAUNCH} " + "word " * 290) for i in range(5)]
        return Response(rss(items), content_type="application/rss+xml")

    httpserver.expect_request("/heavy.xml").respond_with_handler(heavy)
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("heavy", httpserver.url_for("/heavy.xml"), ", max_new_mb_per_day: 0.01"),
    )
    spec = rt.config.spec.sources[0]
    sizes_sql = (
        "SELECT length(CAST(title AS BLOB)) + length(CAST(summary AS BLOB))"
        " + length(CAST(text AS BLOB)) AS size FROM articles ORDER BY id"
    )
    first = poll_source(rt, spec)
    sizes = [int(r["size"]) for r in rt.store.query(sizes_sql)]
    # As many items as fit in 10 KB of text, and not one more.
    assert 2 <= first.ingest.new == len(sizes) < 5
    assert sum(sizes) <= 10_000 < sum(sizes) + min(sizes)
    assert first.ingest.over_quota == 5 - first.ingest.new
    assert "MB of new text (max_new_mb_per_day)" in first.warning
    second = poll_source(rt, spec)
    assert (second.ingest.new, second.ingest.over_quota) == (0, 5)
    clock.advance(timedelta(days=1))
    assert poll_source(rt, spec).ingest.new == first.ingest.new


def test_max_new_per_day_is_validated_and_can_be_turned_off(tmp_path: Path) -> None:
    from monitor.config import load_config
    from monitor.errors import ConfigError

    path = tmp_path / "monitor.yaml"
    path.write_text("fetch: {max_new_per_day: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"monitor.yaml:1:.*max_new_per_day"):
        load_config(path, env={})
    path.write_text("fetch: {max_new_per_day: null, max_new_mb_per_day: null}\n", encoding="utf-8")
    fetch = load_config(path, env={}).spec.fetch
    assert (fetch.max_new_per_day, fetch.max_new_mb_per_day) == (None, None)
    path.write_text("fetch: {max_new_mb_per_day: -1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"monitor.yaml:1:.*max_new_mb_per_day"):
        load_config(path, env={})


def test_one_item_twice_in_a_feed_keeps_the_search_index_whole(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    # A live blog: updates without guids that share one link, so one item, written twice.
    live = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Live</title>'
        b"<item><title>Live: update 1</title><link>http://news.test/live</link>"
        b"<description>Polls closed.</description></item>"
        b"<item><title>Live: update 2</title><link>http://news.test/live</link>"
        b"<description>First results.</description></item></channel></rss>"
    )
    twice = rss([("g1", "alpha gamma", "first words"), ("g1", "beta delta", "second words")])
    httpserver.expect_request("/live.xml").respond_with_data(live)
    httpserver.expect_request("/twice.xml").respond_with_data(twice)
    rt = runtime(
        tmp_path,
        clock,
        make,
        feed_source("live", httpserver.url_for("/live.xml")),
        feed_source("twice", httpserver.url_for("/twice.xml")),
    )
    reports = run_once(rt).polls
    assert [r.error for r in reports] == ["", ""]
    assert [r.ingest.new for r in reports] == [1, 1]
    # The index answers for each row's text as stored, and nothing else.
    rt.store.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")

    def found(query: str) -> list[str]:
        rows = rt.store.query(
            "SELECT a.title FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
            " WHERE articles_fts MATCH ?",
            (query,),
        )
        return sorted(str(r["title"]) for r in rows)

    titles = sorted(str(r["title"]) for r in rt.store.query("SELECT title FROM articles"))
    assert found("title:beta") == [t for t in titles if "beta" in t]
    assert found("title:alpha") == [t for t in titles if "alpha" in t]
    assert found("results OR closed") == [t for t in titles if t.startswith("Live")]


def test_feed_credentials_are_used_but_never_stored(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    import base64
    import io
    import shutil

    from monitor.config import load_config
    from monitor.pipeline import build_runtime
    from monitor.store import open_store
    from tests.conftest import ROOT

    secret, key = "SuperSecretPW42", "KeyKeyKey987"
    expected = "Basic " + base64.b64encode(f"reader:{secret}".encode()).decode()
    seen: list[str] = []

    def guarded(request: Request) -> Response:
        seen.append(request.path)
        if request.headers.get("Authorization") != expected or request.args.get("k") != key:
            return Response("no", status=401)
        if request.path == "/old.xml":
            # Moved, to a URL that carries the credentials again: followed, never stored.
            location = f"http://reader:{secret}@127.0.0.1:{httpserver.port}/new.xml?k={key}"
            return Response("", status=301, headers={"Location": location})
        return Response(rss([("a", "Story", "Text.")]), content_type="application/rss+xml")

    httpserver.expect_request("/old.xml").respond_with_handler(guarded)
    httpserver.expect_request("/new.xml").respond_with_handler(guarded)
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    config_path = tmp_path / "monitor.yaml"
    url = f"http://reader:${{FEED_PW}}@127.0.0.1:{httpserver.port}/old.xml?k=${{FEED_KEY}}"
    config_path.write_text(HEADER.format(sources=feed_source("private", url)), encoding="utf-8")
    config = load_config(config_path, env={"FEED_PW": secret, "FEED_KEY": key})
    rt = build_runtime(config, open_store(config.database), clock, console=io.StringIO())
    make.append(rt)
    spec = rt.config.spec.sources[0]
    for _ in range(2):
        report = poll_source(rt, spec)
        assert report.error == "" and report.ingest.new + report.ingest.updated <= 1
        clock.advance(timedelta(hours=1))
    assert seen == ["/old.xml", "/new.xml", "/old.xml", "/new.xml"]
    assert rt.store.scalar("SELECT count(*) FROM articles") == 1
    stored = row(rt, "private")
    assert stored["url"] == stored["config_url"]
    assert str(stored["url"]).startswith("http://reader:****@127.0.0.1:")
    raw = b"".join(p.read_bytes() for p in config.database.parent.iterdir() if p.is_file())
    assert secret.encode() not in raw and key.encode() not in raw


def test_an_item_rewritten_after_it_matched_keeps_the_version_it_matched_on(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    from monitor.store import dashboard
    from monitor.store.articles import MAX_REVISIONS
    from monitor.web.pages import _match_block

    versions = iter(
        [rss([("g1", "North Korea fires ballistic missile", LAUNCH)])]
        + [
            rss([("g1", f"Claim your prize now {n}", "Log in to claim.")]).replace(
                b"http://127.0.0.1/a/g1", b"https://phish.test/login"
            )
            for n in range(MAX_REVISIONS + 5)
        ]
    )
    httpserver.expect_request("/a.xml").respond_with_handler(
        lambda request: Response(next(versions), content_type="application/rss+xml")
    )
    rt = runtime(tmp_path, clock, make, feed_source("a", httpserver.url_for("/a.xml")))
    spec = rt.config.spec.sources[0]
    assert poll_source(rt, spec).ingest.events_opened == 1
    for _ in range(MAX_REVISIONS + 5):
        clock.advance(timedelta(minutes=11))
        assert poll_source(rt, spec).ingest.updated == 1
    # The article now says what the feed says; the version that matched is kept, and the
    # number of versions kept is bounded.
    assert rt.store.scalar("SELECT title FROM articles").startswith("Claim your prize now")
    kept = rt.store.query("SELECT title, url FROM article_revisions ORDER BY id")
    assert len(kept) == MAX_REVISIONS
    assert kept[0] == {
        "title": "North Korea fires ballistic missile",
        "url": "http://127.0.0.1/a/g1",
    }
    # The event shows the article as it matched, and says it changed.
    event_id = int(rt.store.scalar("SELECT id FROM events"))
    import sqlite3

    reader = sqlite3.connect(rt.store.path)
    reader.row_factory = sqlite3.Row
    [match] = dashboard.event_matches(reader, event_id, limit=10, offset=0)
    reader.close()
    assert (match["title"], match["url"], match["revised"]) == (
        "North Korea fires ballistic missile",
        "http://127.0.0.1/a/g1",
        1,
    )
    assert match["current_url"] == "https://phish.test/login"
    html = _match_block(match, clock.now())
    assert "North Korea <mark>fires</mark>" in html and "Claim your prize" in html
    assert "the feed rewrote this article after it matched" in html
    assert 'href="https://phish.test/login"' in html


def test_a_poll_that_finishes_after_a_stop_is_not_stored(
    tmp_path: Path, clock: FakeClock, httpserver: HTTPServer, make: list[Runtime]
) -> None:
    from monitor.errors import FetchCancelled

    httpserver.expect_request("/a.xml").respond_with_handler(
        conditional(rss([("g1", "T", LAUNCH)]))
    )
    rt = runtime(tmp_path, clock, make, feed_source("a", httpserver.url_for("/a.xml")))
    spec = rt.config.spec.sources[0]
    fetched = fetch_one(rt, prepare(rt, spec), clock.now())
    rt.poller.cancel.set()
    with pytest.raises(FetchCancelled):
        poll_source(rt, spec)
    # Nothing of it was recorded: no article, no validators, no poll time.
    assert rt.store.scalar("SELECT count(*) FROM articles") == 0
    assert (row(rt, "a")["etag"], row(rt, "a")["last_poll_at"]) == (None, None)
    # What was fetched before the stop is stored as usual.
    assert commit(rt, fetched).ingest.new == 1
