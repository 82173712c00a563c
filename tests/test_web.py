"""The web dashboard, JSON API, /healthz and /metrics, served for real on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import re
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from monitor.clock import FakeClock, iso
from monitor.errors import MonitorError
from monitor.store import open_store
from monitor.store.dashboard import connect_readonly, fts_query
from monitor.web import CycleProbe, Metrics, StaticProbe, WebServer, check_listen, database_writable
from monitor.web.highlight import fragments, match_excerpts, split_marked
from monitor.web.pages import esc

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
EVIL_SOURCE = 'quote"back\\slash\nnewline'

MISSILE_TEXT = (
    "SEOUL — North Korea launched a ballistic missile on Tuesday, officials said. "
    "The missile flew about 600 km before falling into the sea. " + "Filler words here. " * 20
)
EVIL_TEXT = f"Reports say a missile launch happened {SCRIPT} near the coast, witnesses said."
SANCTIONS_TEXT = 'The Security Council voted to "adopt" new sanctions on Thursday.'


def hit(field: str, text: str, word: str, term: str) -> dict[str, Any]:
    start = text.index(word)
    return {"term": term, "field": field, "start": start, "end": start + len(word), "text": word}


def build_db(path: Path) -> None:
    """Create a real database and fill it with SQL, including hostile feed text."""
    store = open_store(path)
    t = iso(NOW)
    ago = iso(NOW - timedelta(days=3))
    sql = store.execute
    with store.transaction():
        sql(
            "INSERT INTO sources (id, kind, url, config_url, last_success_at, items_seen,"
            " next_poll_at, interval_s) VALUES ('wire', 'feed', 'https://example.com/rss',"
            " 'https://example.com/rss', ?, 12, ?, 600)",
            (t, iso(NOW + timedelta(minutes=10))),
        )
        sql(
            "INSERT INTO sources (id, kind, url, failures, last_error, last_error_at)"
            " VALUES (?, 'feed', 'javascript:alert(1)', 3, ?, ?)",
            (EVIL_SOURCE, f"{SCRIPT} connection refused", t),
        )
        articles = [
            (1, "wire", "https://example.com/a1", "Missile launched from the coast", "",
             MISSILE_TEXT, ago),
            (2, EVIL_SOURCE, "javascript:alert(1)", f"{SCRIPT} Missile launch",
             "<img src=x onerror=alert(1)>", EVIL_TEXT, t),
            (3, "wire", "https://example.com/a3", 'Council "adopts" sanctions', "",
             SANCTIONS_TEXT, t),
        ]  # fmt: skip
        for aid, source, url, title, summary, text, when in articles:
            sql(
                "INSERT INTO articles (id, source_id, guid, url, title, summary, text,"
                " published_at, fetched_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (aid, source, f"g{aid}", url, title, summary, text, when, when, f"h{aid}"),
            )
        # Written with SQL, not save_article(): index them as the daemon would.
        sql("INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')", ())
        events = [
            (1, "missile-launch", "open", "Missile launched from the coast", "critical", ago, t,
             2, 2, 2),
            (2, "un-sanctions", "closed", f"{SCRIPT} sanctions", "warning", ago, ago, 1, 1, 1),
            (3, "missile-launch", "closed", "Older launch", "critical",
             iso(NOW - timedelta(days=10)), iso(NOW - timedelta(days=10)), 0, 0, 0),
        ]  # fmt: skip
        for row in events:
            sql(
                "INSERT INTO events (id, rule_id, state, title, severity, first_seen_at,"
                " last_seen_at, article_count, source_count, story_count)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        matches = [
            (1, 1, 1, [hit("title", "Missile launched from the coast", "Missile", "missile*"),
                       hit("text", MISSILE_TEXT, "launched", "launch*"),
                       hit("text", MISSILE_TEXT, "missile", "missile*")],
             "North Korea launched a ballistic missile on Tuesday, officials said.", "asserted"),
            (2, 1, 2, [hit("text", EVIL_TEXT, "missile", "missile*"),
                       hit("text", EVIL_TEXT, "launch", "launch*")],
             f"a missile launch happened {SCRIPT}", "hedged"),
            # Offsets that no longer fit the text (the article was updated): the stored
            # snippet is shown with the words found by searching.
            (3, 2, 3, [{"term": "sanction*", "field": "text", "start": 900, "end": 909,
                        "text": "sanctions"}],
             f"voted to adopt new sanctions {SCRIPT}", "asserted"),
        ]  # fmt: skip
        for mid, event_id, article_id, hits, snippet, modality in matches:
            rule = "missile-launch" if event_id == 1 else "un-sanctions"
            sql(
                "INSERT INTO matches (id, rule_id, article_id, event_id, matched_at, hits,"
                " snippet, modality, modality_cue) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (mid, rule, article_id, event_id, t, json.dumps(hits), snippet, modality,
                 "say" if modality == "hedged" else ""),
            )  # fmt: skip
        alerts: list[tuple[Any, ...]] = [
            (1, 1, "console", "open", "sent", 1, t, None, ""),
            (2, 1, "email", "open", "dead", 8, None, None, f"{SCRIPT} 550 relay refused"),
            (3, None, "daily", "digest", "pending", 0, None, None, ""),
            (4, 2, "daily", "open", "digested", 0, None, 3, ""),
        ]
        for aid, alert_event, channel, kind, state, attempts, sent, digest, error in alerts:
            sql(
                "INSERT INTO alerts (id, event_id, channel, kind, title, body, state, attempts,"
                " created_at, next_attempt_at, sent_at, digest_id, last_error)"
                " VALUES (?, ?, ?, ?, ?, 'body', ?, ?, ?, ?, ?, ?, ?)",
                (aid, alert_event, channel, kind, f"{SCRIPT} alert {aid}", state, attempts, t, t,
                 sent, digest, error),
            )  # fmt: skip
    store.close()


class Client:
    """GET against a running server with urllib; errors come back as responses."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, dict[str, str], str]:
        request = urllib.request.Request(self.base + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read().decode()

    def json(self, path: str, status: int = 200) -> Any:
        code, headers, body = self.get(path)
        assert code == status, body
        assert headers["Content-Type"] == "application/json"
        return json.loads(body)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web") / "m.db"
    build_db(path)
    return path


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture(scope="module")
def client(db_path: Path, metrics: Metrics) -> Iterator[Client]:
    probe = StaticProbe(alive=True, last_cycle=NOW - timedelta(seconds=30))
    server = WebServer(db_path, "127.0.0.1:0", clock=FakeClock(NOW), health=probe, metrics=metrics)
    with server:
        yield Client(server.url)


class Tags(HTMLParser):
    """Collect every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(body: str) -> None:
    """No script, no event handler attribute, no link or image outside http(s) and this site."""
    assert "<script" not in body.lower()
    parser = Tags()
    parser.feed(body)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "iframe", "img", "object", "embed"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "action"):
                target = (value or "").strip()
                scheme = urlsplit(target).scheme
                assert scheme in ("", "http", "https"), (tag, name, value)
                assert not scheme or urlsplit(target).netloc, value


PAGES = {
    "/": ["Timeline", "missile-launch", "un-sanctions", "/events/1", "critical", "Events (3)"],
    "/events/1": ["Event #1", "console", "email", "relay refused", "wire", "hedged"],
    "/events/2": ["digest #3", "daily", "<mark>sanctions</mark>"],
    "/articles": ["Latest stored articles (3)", "Council &quot;adopts&quot; sanctions"],
    "/articles?q=missile": ["2 articles for", "<mark>Missile</mark>"],
    "/sources": ["wire", "connection refused", "failing", "https://example.com/rss"],
    "/alerts": ["Alerts (4)", "dead", "digested", "daily", "/events/1"],
    "/alerts?state=dead": ["Alerts (1, state dead)", "relay refused"],
    "/?rule=un-sanctions&state=closed": ["Events (1, rule un-sanctions, state closed)"],
}


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_escaped_with_its_content(client: Client, path: str) -> None:
    status, headers, body = client.get(path)
    assert status == 200, body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    for text in PAGES[path]:
        assert text in body, text
    assert_inert(body)
    assert 'href="javascript:' not in body


def test_hostile_feed_text_is_shown_escaped_not_run(client: Client) -> None:
    for path in ("/", "/events/1", "/events/2", "/articles?q=launch", "/sources", "/alerts"):
        body = client.get(path)[2]
        assert "<script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path
    event = client.get("/events/1")[2]
    assert "&lt;img src=x onerror=alert(1)&gt;" not in event  # summary was not matched
    assert 'href="https://example.com/a1"' in event
    # The hostile article keeps its title but loses its javascript: link.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>Missile</mark> launch" not in event
    assert "<h3>&lt;script&gt;alert(1)&lt;/script&gt; Missile launch</h3>" in event
    sources = client.get("/sources")[2]
    assert "javascript:alert(1)" in sources and 'href="javascript' not in sources


def test_event_page_marks_the_matched_words_from_stored_offsets(client: Client) -> None:
    body = client.get("/events/1")[2]
    assert "<mark>Missile</mark> launched from the coast" in body
    assert "North Korea <mark>launched</mark> a ballistic <mark>missile</mark> on Tuesday" in body
    assert "a <mark>missile</mark> <mark>launch</mark> happened &lt;script&gt;" in body
    assert "matched: missile*, launch*" in body
    # Alerts of the event, with the channel they went to and their state.
    assert re.search(r"console</a></td><td>open</td><td><span class=\"badge b-good\">sent<", body)
    assert re.search(r"email</a></td><td>open</td><td><span class=\"badge b-bad\">dead<", body)


def test_timeline_is_inline_svg_with_a_bar_per_rule_and_day(client: Client) -> None:
    body = client.get("/")[2]
    svg = body[body.index("<svg") : body.index("</svg>") + 6]
    assert 'aria-label="Events per rule per day, last 30 days: 3 events"' in svg
    bars = re.findall(r'<a href="/\?rule=([\w-]+)"><rect [^>]* height="([\d.]+)"', svg)
    # Events 1 and 2 opened on 02-26 (two rules stacked), event 3 on 02-19: equal heights.
    assert sorted(bars) == [
        ("missile-launch", "85.0"),
        ("missile-launch", "85.0"),
        ("un-sanctions", "85.0"),
    ]
    assert "missile-launch: 1 event opened on 2026-02-19" in svg
    assert "missile-launch: 1 event opened on 2026-02-26" in svg
    assert "un-sanctions: 1 event opened on 2026-02-26" in svg
    for label in ("missile-launch", "un-sanctions", "events", "day opened (UTC)", "03-01"):
        assert f">{label}</text>" in svg, label
    assert "02-01" not in svg  # only 30 days: 01-31 to 03-01
    assert ">01-31</text>" in svg


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', 'council "adopts"', '"', "AND OR NOT", "missile*", "NEAR(", "'", "-x", "a:b"],
)
def test_search_accepts_any_input(client: Client, query: str) -> None:
    status, _, body = client.get("/articles?q=" + quote(query))
    assert status == 200, body
    assert_inert(body)
    data = client.json("/api/articles?q=" + quote(query))
    assert data["query"] == query


def test_search_finds_stemmed_words_and_quoted_phrases(client: Client) -> None:
    assert fts_query('council "adopts') == '"council" """adopts"'
    found = client.json("/api/articles?q=" + quote('council "adopts"'))
    assert [item["id"] for item in found["items"]] == [3]
    launched = client.json("/api/articles?q=launch")
    assert sorted(item["id"] for item in launched["items"]) == [1, 2]
    first = next(item for item in launched["items"] if item["id"] == 1)
    start, end = first["snippet_highlights"][0]
    assert first["snippet"][start:end].lower().startswith("launch")
    assert first["matches"] == [
        {"rule_id": "missile-launch", "event_id": 1, "modality": "asserted"}
    ]
    assert client.json("/api/articles?q=%22")["total"] == 0


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def validate(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> None:
    """Check a value against the subset of JSON Schema the OpenAPI document uses."""
    schema = resolve(doc, schema)
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = resolve(doc, part)
            merged["properties"].update(part["properties"])
            merged["required"] += part["required"]
        schema = merged
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(value, TYPES[k]) and not (k in ("integer", "number") and value is True)
            for k in kinds
        )
        assert ok, f"{where}: {value!r} is not {kinds}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict) and "properties" in schema:
        assert set(value) == set(schema["properties"]), f"{where}: keys {sorted(value)}"
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key}"
        for key, sub in schema["properties"].items():
            validate(doc, sub, value[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(doc, schema["items"], item, f"{where}[{i}]")


def test_api_answers_match_the_openapi_document(client: Client) -> None:
    doc = client.json("/api/openapi.json")
    assert doc["openapi"] == "3.1.0"
    schema = {"$ref": "#/components/schemas/"}
    cases = {
        "/api/events": "EventPage",
        "/api/events?state=open&per_page=1": "EventPage",
        "/api/events/1": "EventDetail",
        "/api/events/2": "EventDetail",
        "/api/articles?q=missile": "ArticlePage",
        "/api/articles": "ArticlePage",
        "/api/sources": "SourcePage",
        "/api/alerts": "AlertPage",
        "/api/timeline": "Timeline",
    }
    answers = {}
    for path, name in cases.items():
        answers[path] = client.json(path)
        validate(doc, {"$ref": schema["$ref"] + name}, answers[path], path)
    events = answers["/api/events"]
    assert (events["total"], events["pages"], len(events["items"])) == (3, 1, 3)
    assert answers["/api/events?state=open&per_page=1"]["total"] == 1
    detail = answers["/api/events/1"]
    assert detail["event"]["title"] == "Missile launched from the coast"
    assert detail["sources"] == sorted(["wire", EVIL_SOURCE])
    evil = detail["matches"]["items"][1]
    assert evil["article"]["title"] == f"{SCRIPT} Missile launch"  # JSON keeps the raw text
    assert evil["hits"][0] == hit("text", EVIL_TEXT, "missile", "missile*")
    assert [(a["channel"], a["state"]) for a in detail["alerts"]] == [
        ("console", "sent"),
        ("email", "dead"),
    ]
    assert answers["/api/events/2"]["alerts"][0]["digest_state"] == "pending"
    timeline = answers["/api/timeline"]
    assert len(timeline["days"]) == 30 and timeline["days"][-1] == "2026-03-01"
    assert {r["rule_id"]: sum(r["counts"]) for r in timeline["rules"]} == {
        "missile-launch": 2,
        "un-sanctions": 1,
    }
    assert client.json("/api/events/99", 404) == {"error": "there is no event 99"}
    assert "page" in client.json("/api/events?page=abc", 400)["error"]
    assert "per_page" in client.json("/api/events?per_page=%C2%B2", 400)["error"]
    assert client.json("/api/nothing", 404)["error"].startswith("nothing at")
    assert client.get("/nothing")[0] == 404


def test_openapi_documents_every_endpoint(client: Client) -> None:
    body = client.get("/api/openapi.json")[2]
    doc = json.loads(body)
    served = {
        "/api/events",
        "/api/events/{id}",
        "/api/articles",
        "/api/sources",
        "/api/alerts",
        "/api/timeline",
        "/api/openapi.json",
        "/healthz",
        "/metrics",
    }
    assert set(doc["paths"]) == served
    for path in served:
        status = client.get(path.replace("{id}", "1"))[0]
        assert status == 200, path
    # Every $ref points at a schema that exists.
    for ref in re.findall(r'"\$ref": ?"#/components/schemas/(\w+)"', body):
        assert ref in doc["components"]["schemas"]


SAMPLE = re.compile(
    r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\\"n])*\""
    r"(?:,[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\\"n])*\")*,?)?)\})?"
    r" (?P<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))(?: -?[0-9]+)?"
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse Prometheus text format 0.0.4 strictly; return every sample."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    current = ""
    for line in text[:-1].split("\n"):
        if line.startswith("#"):
            found = re.fullmatch(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)", line)
            assert found, line
            kind, name, rest = found.groups()
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert name not in types, f"{name} declared twice"
                types[name] = rest
            else:
                assert name not in helps
                helps.add(name)
            current = name
            continue
        found = SAMPLE.fullmatch(line)
        assert found, f"bad sample line: {line!r}"
        name = found["name"]
        family = current
        allowed = {family}
        if types.get(family) == "histogram":
            allowed = {family + "_bucket", family + "_sum", family + "_count"}
        assert name in allowed, f"{name} outside its family {family}"
        labels = tuple(
            (k, v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\"))
            for k, v in LABEL.findall(found["labels"] or "")
        )
        key = (name, labels)
        assert key not in samples, f"duplicate sample {line}"
        value = found["value"]
        samples[key] = float(value.replace("Inf", "inf"))
    return samples


def test_metrics_parse_as_prometheus_text(client: Client, metrics: Metrics) -> None:
    metrics.inc("news_monitor_polls_total", {"source": "wire", "outcome": "ok"})
    metrics.inc("news_monitor_polls_total", {"source": "wire", "outcome": "ok"}, 2)
    metrics.inc("news_monitor_fetch_errors_total", {"source": EVIL_SOURCE})
    metrics.inc("news_monitor_alerts_sent_total", {"channel": "console"})
    metrics.inc("news_monitor_alerts_failed_total", {"channel": "email"})
    metrics.inc("news_monitor_alerts_dead_total", {"channel": "email"})
    for seconds in (0.01, 0.3, 400):
        metrics.observe("news_monitor_cycle_seconds", None, seconds)
    metrics.observe("news_monitor_delivery_seconds", {"channel": "email"}, 1.5)
    status, headers, body = client.get("/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_exposition(body)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(labels.items()))]

    assert value("news_monitor_database_up") == 1
    assert value("news_monitor_articles_total") == 3
    assert value("news_monitor_matches_total", rule="missile-launch") == 2
    assert value("news_monitor_events_total", rule="missile-launch", state="closed") == 1
    assert value("news_monitor_alerts", channel="email", state="dead") == 1
    assert value("news_monitor_outbox_depth") == 1  # the pending digest
    assert value("news_monitor_source_failures", source=EVIL_SOURCE) == 3
    assert value("news_monitor_source_last_success_timestamp_seconds", source="wire") == (
        NOW.timestamp()
    )
    assert value("news_monitor_polls_total", source="wire", outcome="ok") == 3
    assert value("news_monitor_fetch_errors_total", source=EVIL_SOURCE) == 1
    assert value("news_monitor_cycle_seconds_bucket", le="0.01") == 1
    assert value("news_monitor_cycle_seconds_bucket", le="0.5") == 2
    assert value("news_monitor_cycle_seconds_bucket", le="300") == 2
    assert value("news_monitor_cycle_seconds_bucket", le="+Inf") == 3
    assert value("news_monitor_cycle_seconds_count") == 3
    assert value("news_monitor_cycle_seconds_sum") == pytest.approx(400.31)
    assert value("news_monitor_delivery_seconds_bucket", channel="email", le="2.5") == 1
    assert 'source="quote\\"back\\\\slash\\nnewline"' in body
    bounds = [v for (n, labels), v in samples.items() if n == "news_monitor_cycle_seconds_bucket"]
    assert bounds == sorted(bounds)  # cumulative


def test_metrics_registry_refuses_mistakes() -> None:
    registry = Metrics()
    with pytest.raises(ValueError, match="unknown metric"):
        registry.inc("news_monitor_polls", {"source": "a", "outcome": "ok"})
    with pytest.raises(ValueError, match="takes labels"):
        registry.inc("news_monitor_polls_total", {"source": "a"})
    with pytest.raises(ValueError, match="only goes up"):
        registry.inc("news_monitor_alerts_sent_total", {"channel": "a"}, -1)
    with pytest.raises(ValueError, match="not a counter"):
        registry.inc("news_monitor_cycle_seconds", None)
    registry.inc("news_monitor_alerts_sent_total", {"channel": "a"}, 2.5)
    assert registry.value("news_monitor_alerts_sent_total", {"channel": "a"}) == 2.5
    # Before anything is observed the unlabelled histogram still exposes zero buckets.
    samples = parse_exposition(Metrics().render())
    assert samples[("news_monitor_cycle_seconds_count", ())] == 0


def health(client: Client) -> tuple[int, dict[str, Any]]:
    status, headers, body = client.get("/healthz")
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(body)


def test_healthz_is_200_when_healthy_and_503_with_the_problem(db_path: Path) -> None:
    clock = FakeClock(NOW)
    probe = StaticProbe(alive=True, last_cycle=NOW - timedelta(seconds=30))
    with WebServer(db_path, "127.0.0.1:0", clock=clock, health=probe) as server:
        client = Client(server.url)
        assert health(client) == (
            200,
            {
                "status": "ok",
                "scheduler_alive": True,
                "database_writable": True,
                "last_cycle_age_seconds": 30.0,
                "problems": [],
            },
        )
        probe.alive = False
        status, report = health(client)
        assert (status, report["status"], report["scheduler_alive"]) == (503, "unhealthy", False)
        assert report["problems"] == ["the scheduler is not running"]
        probe.alive = True
        clock.advance(timedelta(minutes=10))
        status, report = health(client)
        assert status == 503 and report["last_cycle_age_seconds"] == 630.0
        assert "more than 300s" in report["problems"][0]
        probe.last_cycle = None
        status, report = health(client)
        assert status == 503 and report["problems"] == ["no cycle has completed yet"]

    def crashed() -> bool:
        raise RuntimeError("scheduler gone")

    live = CycleProbe(crashed, timedelta(minutes=1))
    live.cycle_completed(NOW)
    with WebServer(db_path, "127.0.0.1:0", clock=FakeClock(NOW), health=live) as server:
        status, report = health(Client(server.url))
    assert (status, report["scheduler_alive"], report["last_cycle_age_seconds"]) == (503, False, 0)


def test_healthz_reports_a_read_only_database(db_path: Path) -> None:
    # Root writes through chmod 0444, so the test seam points the writable check at a
    # mode=ro URI of the same file: SQLite then refuses the write exactly as for a read-only file.
    probe = StaticProbe(alive=True, last_cycle=NOW)
    read_only = f"file:{quote(str(db_path))}?mode=ro"
    with WebServer(
        db_path, "127.0.0.1:0", clock=FakeClock(NOW), health=probe, writable_uri=read_only
    ) as server:
        status, report = health(Client(server.url))
    assert (status, report["status"], report["database_writable"]) == (503, "unhealthy", False)
    assert "readonly" in report["problems"][0]
    missing = f"file:{quote(str(db_path.with_name('absent.db')))}?mode=rw"
    assert database_writable(missing)[0] is False
    assert not db_path.with_name("absent.db").exists()


def test_requests_cannot_write(client: Client, db_path: Path) -> None:
    before = db_path.read_bytes()
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = client.get("/api/events", method=method)
        assert (status, headers["Allow"]) == (405, "GET, HEAD")
    status, headers, body = client.get("/", method="HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 1000
    conn = connect_readonly(db_path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM articles")
    conn.close()
    assert db_path.read_bytes() == before


def test_check_listen_refuses_exposure_without_a_token() -> None:
    with pytest.raises(MonitorError) as refused:
        check_listen("0.0.0.0:8765", None)
    assert str(refused.value) == (
        "refusing to serve the dashboard on 0.0.0.0:8765 without a token:"
        " set http.token_env to the name of an environment variable holding one"
    )
    for listen in ("[::]:8765", "192.168.1.5:80", "example.com:8765", ":8765"):
        with pytest.raises(MonitorError, match="refusing"):
            check_listen(listen, "")
    for listen in ("0.0.0.0:8765", "[::]:8765", "example.com:80"):
        check_listen(listen, "s3cret")
    for listen in ("127.0.0.1:8765", "127.8.0.1:1", "localhost:8765", "[::1]:8765"):
        check_listen(listen, None)
    for bad in ("8765", "127.0.0.1:http", "::1:8765", "127.0.0.1:70000"):
        with pytest.raises(MonitorError, match="listen"):
            check_listen(bad, "s3cret")
    with pytest.raises(MonitorError, match="refusing"):
        WebServer(Path("x.db"), "0.0.0.0:0", clock=FakeClock(NOW), health=StaticProbe())


def test_a_token_is_required_as_bearer_or_basic_password(db_path: Path) -> None:
    probe = StaticProbe(alive=True, last_cycle=NOW)
    with WebServer(db_path, "127.0.0.1:0", "s3cret", clock=FakeClock(NOW), health=probe) as server:
        client = Client(server.url)
        status, headers, body = client.get("/")
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="news-monitor"'
        assert "s3cret" not in body
        assert client.get("/api/events")[0] == 401
        assert client.get("/metrics", {"Authorization": "Bearer wrong"})[0] == 401
        assert client.get("/", {"Authorization": "Bearer s3cret"})[0] == 200
        assert client.get("/healthz", {"Authorization": "bearer s3cret"})[0] == 200

        def basic(user: str, password: str) -> dict[str, str]:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}

        assert client.get("/alerts", basic("anyone", "s3cret"))[0] == 200
        assert client.get("/alerts", basic("s3cret", ""))[0] == 401
        assert client.get("/alerts", {"Authorization": "Basic !!notbase64"})[0] == 401
        # With a token any Host may be used: the token is the protection.
        assert client.get("/", {"Authorization": "Bearer s3cret", "Host": "dash.example"})[0] == 200


def test_without_a_token_only_loopback_host_names_are_answered(client: Client) -> None:
    # A page on attacker.example whose name re-resolves to 127.0.0.1 (DNS rebinding) is refused.
    status, _, body = client.get("/api/events", {"Host": "attacker.example:8765"})
    assert status == 403 and "localhost" in json.loads(body)["error"]
    for host in ("localhost:8765", "127.0.0.1", "[::1]:80", "app.localhost"):
        assert client.get("/api/events", {"Host": host})[0] == 200, host


def test_stop_is_prompt_and_frees_the_port(db_path: Path) -> None:
    server = WebServer(db_path, "127.0.0.1:0", clock=FakeClock(NOW), health=StaticProbe())
    server.start()
    port = server.port
    assert port != 0 and Client(server.url).get("/healthz")[0] == 503  # no cycle yet
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    busy = WebServer(db_path, "127.0.0.1:0", clock=FakeClock(NOW), health=StaticProbe())
    with busy, pytest.raises(MonitorError, match="cannot serve the dashboard"):
        WebServer(
            db_path, f"127.0.0.1:{busy.port}", clock=FakeClock(NOW), health=StaticProbe()
        ).start()


def test_a_missing_database_answers_503_not_a_crash(tmp_path: Path) -> None:
    with WebServer(
        tmp_path / "none.db", "127.0.0.1:0", clock=FakeClock(NOW), health=StaticProbe()
    ) as server:
        client = Client(server.url)
        assert client.get("/")[0] == 503
        assert "cannot open the database" in client.json("/api/events", 503)["error"]
        status, _, body = client.get("/metrics")
        assert status == 200 and parse_exposition(body)[("news_monitor_database_up", ())] == 0
    assert not (tmp_path / "none.db").exists()


def test_excerpts_cut_around_hits_and_fall_back_when_offsets_are_stale() -> None:
    text = "word " * 100 + "the missile flew " + "word " * 100 + "a launch today"
    start = text.index("missile")
    cuts, left = fragments(
        text, [(start, start + 7), (text.index("launch"), text.index("launch") + 6)]
    )
    assert left == 0 and len(cuts) == 2
    first = "".join(t for t, _ in cuts[0])
    assert first.startswith("…word") and first.endswith("word…") and len(first) < 220
    assert ("missile", True) in cuts[0]
    row = {
        "title": "T",
        "text": "changed text",
        "snippet": "the MISSILE flew",
        "hits": [{"term": "m", "field": "text", "start": 4, "end": 11, "text": "missile"}],
    }
    _, excerpts = match_excerpts(row)
    assert excerpts == [("snippet", [[("the ", False), ("MISSILE", True), (" flew", False)]], 0)]
    assert split_marked("a\x02b\x02c\x03\x03d\x03", "\x02", "\x03") == [
        ("a", False),
        ("bc", True),
        ("d", False),
    ]


def test_feed_text_shown_on_a_page_loses_controls_and_bidi_overrides() -> None:
    assert esc("Invoice \u202egpj.exe\u202c <b>\x9b31m") == "Invoice gpj.exe &lt;b&gt;31m"
