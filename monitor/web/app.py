"""Route a request to a page or an API answer; every request reads through its own connection."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.clock import Clock, parse_iso
from monitor.store import dashboard as queries
from monitor.web import chart, pages
from monitor.web.access import host_is_loopback, token_matches
from monitor.web.health import HealthProbe, health_report
from monitor.web.highlight import offsets, plain, split_marked
from monitor.web.metrics import CONTENT_TYPE as METRICS_TYPE
from monitor.web.metrics import Metrics, MetricSpec, family, header, sample
from monitor.web.openapi import DOCUMENT
from monitor.web.pages import Paging

log = logging.getLogger(__name__)

HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/json"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

PAGE_SIZE = 50
MAX_PER_PAGE = 500
TIMELINE_DAYS = 30

DB_METRICS = (
    MetricSpec("news_monitor_database_up", "gauge", "Whether /metrics could read the database."),
    MetricSpec("news_monitor_articles_total", "counter", "Articles stored."),
    MetricSpec("news_monitor_matches_total", "counter", "Rule matches stored.", ("rule",)),
    MetricSpec(
        "news_monitor_events_total", "gauge", "Events by rule and state.", ("rule", "state")
    ),
    MetricSpec(
        "news_monitor_alerts", "gauge", "Alerts by channel and state.", ("channel", "state")
    ),
    MetricSpec("news_monitor_outbox_depth", "gauge", "Alerts still owed to a channel."),
    MetricSpec(
        "news_monitor_source_failures", "gauge", "Consecutive failed polls per source.", ("source",)
    ),
    MetricSpec(
        "news_monitor_source_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful poll per source.",
        ("source",),
    ),
)


@dataclass
class Response:
    """What the handler writes back: status, content type, body and extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """Stop handling a request with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Params:
    """Query string parameters with validation that answers 400."""

    def __init__(self, query: str) -> None:
        self._values = parse_qs(query, keep_blank_values=True)

    def text(self, name: str) -> str:
        """Return the last value of a parameter, or empty."""
        values = self._values.get(name)
        return values[-1] if values else ""

    def number(self, name: str, default: int, low: int, high: int) -> int:
        """Return an integer parameter within [low, high], or its default when absent."""
        raw = self.text(name).strip()
        if not raw:
            return default
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise HttpError(400, f"{name} must be a whole number from {low} to {high}")
        return int(raw)

    def page(self) -> int:
        """Return the page number (from 1)."""
        return self.number("page", 1, 1, 1_000_000)

    def per_page(self, default: int = PAGE_SIZE) -> int:
        """Return the page size (API only; pages use a fixed size)."""
        return self.number("per_page", default, 1, MAX_PER_PAGE)


Handler = Callable[[Params, tuple[str, ...]], Response]


class WebApp:
    """Answer dashboard, API, health and metrics requests from the database, read-only."""

    def __init__(
        self,
        db_path: Path,
        *,
        clock: Clock,
        health: HealthProbe,
        metrics: Metrics,
        token: str | None,
        writable_uri: str,
    ) -> None:
        self.db_path = db_path
        self.clock = clock
        self.health = health
        self.metrics = metrics
        self.token = token or None
        self.writable_uri = writable_uri
        self.routes: list[tuple[re.Pattern[str], Handler]] = [
            (re.compile(r"/"), self.events_page),
            (re.compile(r"/events/(\d{1,18})"), self.event_page),
            (re.compile(r"/articles"), self.articles_page),
            (re.compile(r"/sources"), self.sources_page),
            (re.compile(r"/alerts"), self.alerts_page),
            (re.compile(r"/api/events"), self.api_events),
            (re.compile(r"/api/events/(\d{1,18})"), self.api_event),
            (re.compile(r"/api/articles"), self.api_articles),
            (re.compile(r"/api/sources"), self.api_sources),
            (re.compile(r"/api/alerts"), self.api_alerts),
            (re.compile(r"/api/timeline"), self.api_timeline),
            (re.compile(r"/api/openapi\.json"), self.api_openapi),
            (re.compile(r"/healthz"), self.healthz),
            (re.compile(r"/metrics"), self.metrics_text),
        ]

    # --- plumbing ---------------------------------------------------------------------------

    def authorized(self, authorization: str | None) -> bool:
        """Check the request's credentials against the configured token, if any."""
        return self.token is None or token_matches(authorization, self.token)

    def handle(
        self, method: str, target: str, *, authorization: str | None = None, host: str | None = None
    ) -> Response:
        """Answer one request; never raises."""
        # Escaped brackets keep urlsplit from reading an IPv6 host into a bad request target.
        parts = urlsplit(target.replace("[", "%5B").replace("]", "%5D"))
        path = parts.path.rstrip("/") or "/"
        api = path.startswith("/api/")
        try:
            if self.token is None and not host_is_loopback(host):
                return self._error(
                    403,
                    "this dashboard answers only to localhost names without a token;"
                    " open it as http://127.0.0.1 or http://localhost, or set http.token_env",
                    api,
                )
            if not self.authorized(authorization):
                response = self._error(401, "this dashboard needs its token", api)
                response.headers["WWW-Authenticate"] = 'Basic realm="news-monitor"'
                return response
            if method not in ("GET", "HEAD"):
                response = self._error(
                    405, f"{method} is not allowed: this server is read-only", api
                )
                response.headers["Allow"] = "GET, HEAD"
                return response
            params = Params(parts.query)
            for pattern, handler in self.routes:
                found = pattern.fullmatch(path)
                if found:
                    return handler(params, found.groups())
            raise HttpError(404, f"nothing at {path}")
        except HttpError as exc:
            return self._error(exc.status, exc.message, api)
        except sqlite3.Error as exc:
            log.warning("dashboard cannot read %s: %s", self.db_path, exc)
            return self._error(503, f"cannot read the database: {exc}", api)
        except Exception:
            log.exception("dashboard request %s failed", path)
            return self._error(500, "internal error; see the daemon's log", api)

    def _error(self, status: int, message: str, api: bool) -> Response:
        if api:
            return self._json({"error": message}, status)
        return self._html(pages.error_page(status, message, self.clock.now()), status)

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """Open this request's read-only connection and close it afterwards."""
        try:
            conn = queries.connect_readonly(self.db_path)
        except sqlite3.Error as exc:
            raise HttpError(503, f"cannot open the database {self.db_path}: {exc}") from exc
        try:
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _html(text: str, status: int = 200) -> Response:
        return Response(status, HTML_TYPE, text.encode())

    @staticmethod
    def _json(data: object, status: int = 200) -> Response:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return Response(status, JSON_TYPE, body)

    # --- shared reads ------------------------------------------------------------------------

    def _timeline(self, conn: sqlite3.Connection, days: int) -> tuple[list[Any], list[Any]]:
        today = self.clock.now().date()
        span = chart.days_back(today, days)
        return span, queries.timeline(conn, span[0].isoformat())

    @staticmethod
    def _events(
        conn: sqlite3.Connection, params: Params, per_page: int
    ) -> tuple[list[dict[str, Any]], Paging]:
        rule = params.text("rule") or None
        state = params.text("state") or None
        paging = Paging(params.page(), per_page, queries.count_events(conn, rule=rule, state=state))
        rows = queries.list_events(
            conn, rule=rule, state=state, limit=per_page, offset=paging.offset
        )
        return rows, paging

    def _event(
        self, event_id: int, page: int, per_page: int
    ) -> tuple[dict[str, Any], list[str], list[dict[str, Any]], Paging, list[dict[str, Any]]]:
        with self.db() as conn, queries.snapshot(conn):
            event = queries.get_event(conn, event_id)
            if event is None:
                raise HttpError(404, f"there is no event {event_id}")
            paging = Paging(page, per_page, queries.count_event_matches(conn, event_id))
            matches = queries.event_matches(conn, event_id, limit=per_page, offset=paging.offset)
            sources = queries.event_sources(conn, event_id)
            alerts = queries.event_alerts(conn, event_id)
        return event, sources, matches, paging, alerts

    def _articles(
        self, query: str, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]], Paging]:
        fts = queries.fts_query(query)
        with self.db() as conn:
            if fts:
                paging = Paging(page, per_page, queries.count_search(conn, fts))
                rows = queries.search_articles(conn, fts, limit=per_page, offset=paging.offset)
            elif query.strip():
                paging = Paging(page, per_page, 0)
                rows = []
            else:
                paging = Paging(page, per_page, queries.count_articles(conn))
                rows = queries.recent_articles(conn, limit=per_page, offset=paging.offset)
            matched = queries.article_events(conn, [int(r["id"]) for r in rows])
        return rows, matched, paging

    def _sources(self, page: int, per_page: int) -> tuple[list[dict[str, Any]], Paging]:
        with self.db() as conn:
            paging = Paging(page, per_page, queries.count_sources(conn))
            return queries.list_sources(conn, limit=per_page, offset=paging.offset), paging

    def _alerts(
        self, params: Params, per_page: int
    ) -> tuple[list[dict[str, Any]], Paging, dict[str, int]]:
        state = params.text("state") or None
        channel = params.text("channel") or None
        page = params.page()
        with self.db() as conn:
            paging = Paging(
                page, per_page, queries.count_alerts(conn, state=state, channel=channel)
            )
            rows = queries.list_alerts(
                conn, state=state, channel=channel, limit=per_page, offset=paging.offset
            )
            counts = queries.alert_state_counts(conn, channel=channel)
        return rows, paging, counts

    # --- pages -------------------------------------------------------------------------------

    def events_page(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Render the timeline and the event list."""
        with self.db() as conn:
            rows, paging = self._events(conn, params, PAGE_SIZE)
            span, counts = self._timeline(conn, TIMELINE_DAYS)
        svg = chart.timeline_svg(counts, span[-1], TIMELINE_DAYS)
        palette = chart.colors([rule for _, rule, _ in counts])
        filters = {"rule": params.text("rule") or None, "state": params.text("state") or None}
        now = self.clock.now()
        return self._html(pages.events_page(rows, paging, svg, palette, filters, now))

    def event_page(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Render one event."""
        event, sources, matches, paging, alerts = self._event(
            int(groups[0]), params.page(), PAGE_SIZE
        )
        now = self.clock.now()
        return self._html(pages.event_page(event, sources, matches, paging, alerts, now))

    def articles_page(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Render article search."""
        query = params.text("q")
        rows, matched, paging = self._articles(query, params.page(), PAGE_SIZE)
        return self._html(pages.articles_page(query, rows, matched, paging, self.clock.now()))

    def sources_page(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Render source health."""
        rows, paging = self._sources(params.page(), PAGE_SIZE)
        return self._html(pages.sources_page(rows, paging, self.clock.now()))

    def alerts_page(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Render the outbox."""
        rows, paging, counts = self._alerts(params, PAGE_SIZE)
        filters = {"state": params.text("state") or None, "channel": params.text("channel") or None}
        return self._html(pages.alerts_page(rows, paging, filters, counts, self.clock.now()))

    # --- JSON API ----------------------------------------------------------------------------

    @staticmethod
    def _page(items: list[Any], paging: Paging, **extra: Any) -> dict[str, Any]:
        return {
            **extra,
            "items": items,
            "page": paging.page,
            "per_page": paging.per_page,
            "total": paging.total,
            "pages": paging.pages,
        }

    def api_events(self, params: Params, groups: tuple[str, ...]) -> Response:
        """List events."""
        with self.db() as conn:
            rows, paging = self._events(conn, params, params.per_page())
        return self._json(self._page(rows, paging))

    def api_event(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Show one event with its matches and alerts."""
        event, sources, matches, paging, alerts = self._event(
            int(groups[0]), params.page(), params.per_page()
        )
        items = [
            {
                "match_id": m["match_id"],
                "rule_id": m["rule_id"],
                "matched_at": m["matched_at"],
                "modality": m["modality"],
                "modality_cue": m["modality_cue"],
                "reason": m["reason"],
                "snippet": m["snippet"],
                "hits": m["hits"],
                "article": {
                    "id": m["article_id"],
                    "source_id": m["source_id"],
                    "url": m["url"],
                    "title": m["title"],
                    "publisher": m["publisher"],
                    "published_at": m["published_at"],
                    "story_id": m["story_id"],
                    # Shown as it was when it matched; what its feed says now, if it changed.
                    "revised": bool(m["revised"]),
                    "current": (
                        {"title": m["current_title"], "url": m["current_url"]}
                        if m["revised"]
                        else None
                    ),
                },
            }
            for m in matches
        ]
        return self._json(
            {
                "event": event,
                "sources": sources,
                "matches": self._page(items, paging),
                "alerts": alerts,
            }
        )

    def api_articles(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Search articles."""
        query = params.text("q")
        rows, matched, paging = self._articles(query, params.page(), params.per_page())
        items = []
        for row in rows:
            title = split_marked(
                str(row["title_marked"] or ""), queries.MARK_OPEN, queries.MARK_CLOSE
            )
            snippet = split_marked(
                str(row["snippet_marked"] or ""), queries.MARK_OPEN, queries.MARK_CLOSE
            )
            items.append(
                {
                    "id": row["id"],
                    "source_id": row["source_id"],
                    "url": row["url"],
                    "title": row["title"],
                    "publisher": row["publisher"],
                    "published_at": row["published_at"],
                    "fetched_at": row["fetched_at"],
                    "title_highlights": offsets(title),
                    "snippet": plain(snippet),
                    "snippet_highlights": offsets(snippet),
                    "matches": matched.get(int(row["id"]), []),
                }
            )
        return self._json(self._page(items, paging, query=query))

    def api_sources(self, params: Params, groups: tuple[str, ...]) -> Response:
        """List sources."""
        rows, paging = self._sources(params.page(), params.per_page())
        return self._json(self._page(rows, paging))

    def api_alerts(self, params: Params, groups: tuple[str, ...]) -> Response:
        """List the outbox."""
        rows, paging, _ = self._alerts(params, params.per_page())
        return self._json(self._page(rows, paging))

    def api_timeline(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Return the chart's data: events opened per rule per day."""
        days = params.number("days", TIMELINE_DAYS, 1, 366)
        with self.db() as conn:
            span, counts = self._timeline(conn, days)
        index = {d.isoformat(): i for i, d in enumerate(span)}
        palette = chart.colors([rule for _, rule, _ in counts])
        per_rule: dict[str, list[int]] = {rule: [0] * days for rule in palette}
        for day, rule, n in counts:
            if day in index:
                per_rule[rule][index[day]] += n
        return self._json(
            {
                "days": [d.isoformat() for d in span],
                "rules": [
                    {"rule_id": rule, "color": palette[rule], "counts": per_rule[rule]}
                    for rule in sorted(per_rule)
                ],
                "total": sum(sum(c) for c in per_rule.values()),
            }
        )

    def api_openapi(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Return the OpenAPI document."""
        return self._json(DOCUMENT)

    # --- operations ----------------------------------------------------------------------------

    def healthz(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Report health; 200 when healthy, 503 otherwise."""
        report = health_report(self.health, self.writable_uri, self.clock.now())
        return self._json(report, 200 if report["status"] == "ok" else 503)

    def metrics_text(self, params: Params, groups: tuple[str, ...]) -> Response:
        """Expose database counts and in-process metrics for Prometheus."""
        lines: list[str] = []
        try:
            with self.db() as conn:
                stats = queries.db_stats(conn)
        except (HttpError, sqlite3.Error) as exc:
            log.warning("metrics cannot read %s: %s", self.db_path, exc)
            lines += [*header(DB_METRICS[0]), sample(DB_METRICS[0].name, (), 0)]
        else:
            lines += _db_lines(stats)
        text = "".join(line + "\n" for line in lines) + self.metrics.render()
        return Response(200, METRICS_TYPE, text.encode())


def _db_lines(stats: queries.DbStats) -> list[str]:
    up, articles, matches, events, alerts, depth, failures, last_ok = DB_METRICS
    last_success: dict[str, float] = {}
    for source, text in stats.source_last_success.items():
        with contextlib.suppress(ValueError):
            last_success[source] = parse_iso(text).timestamp()
    return [
        *family(up, [((), 1)]),
        *family(articles, [((), stats.articles)]),
        *family(matches, _sorted(stats.matches)),
        *family(events, sorted(stats.events.items())),
        *family(alerts, sorted(stats.alerts.items())),
        *family(depth, [((), stats.outbox_depth)]),
        *family(failures, _sorted(stats.source_failures)),
        *family(last_ok, _sorted(last_success)),
    ]


def _sorted(values: Mapping[str, float]) -> list[tuple[tuple[str, ...], float]]:
    return [((key,), value) for key, value in sorted(values.items())]
