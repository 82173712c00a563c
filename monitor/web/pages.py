"""Server-side HTML for the dashboard: no JavaScript, inline CSS, every stored string escaped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from monitor.clock import parse_iso
from monitor.store.dashboard import MARK_CLOSE, MARK_OPEN
from monitor.text import displayable
from monitor.web.highlight import Segment, match_excerpts, split_marked

CSS = """
:root{color-scheme:light;--ink:#1f2328;--muted:#59636e;--line:#d8dee4;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink)}
header{background:#24292f;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;
 align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;padding:.2rem .4rem;border-radius:4px}
header a.on{background:#57606a}
header .brand{font-weight:600;margin-right:.6rem}
header form{margin-left:auto}
input[type=search]{padding:.3rem .5rem;border-radius:4px;border:1px solid #8c959f;width:16rem}
button{padding:.3rem .7rem;border-radius:4px;border:1px solid #8c959f;background:#f6f8fa}
main{padding:1rem 1.2rem;max-width:1200px}
h1{font-size:1.35rem;margin:.2rem 0 .8rem}
h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.muted,.axis{color:var(--muted);fill:var(--muted);font-size:12px}
.empty{fill:var(--muted);font-size:14px}
.legend text{font-size:12px;fill:var(--ink)}
.timeline{max-width:900px;display:block;margin:.2rem 0 1rem}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:12px;
 border:1px solid var(--line);background:var(--bg);white-space:nowrap}
.b-bad{background:#ffebe9;border-color:#ff8182;color:#82071e}
.b-warn{background:#fff8c5;border-color:#d4a72c;color:#6f4b00}
.b-good{background:#dafbe1;border-color:#4ac26b;color:#0a5c24}
.b-note{background:#ddf4ff;border-color:#54aeff;color:#0a3069}
time{white-space:nowrap}
.swatch{display:inline-block;width:.75rem;height:.75rem;border-radius:2px;margin-right:.3rem;
 vertical-align:-1px}
mark{background:#fff3a3;padding:0 1px;border-radius:2px}
.match{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}
.match h3{font-size:1rem;margin:0 0 .2rem}
.excerpt{margin:.35rem 0;padding-left:.6rem;border-left:3px solid var(--line)}
.field{font-size:12px;color:var(--muted);margin-right:.3rem}
.error{color:#82071e;max-width:28rem;overflow-wrap:anywhere}
.pager{display:flex;gap:1rem;align-items:center;margin:.8rem 0}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;margin:.4rem 0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
.filters a{margin-right:.5rem}
footer{padding:1rem 1.2rem;color:var(--muted);font-size:12px}
"""

NAV = (("/", "Events"), ("/articles", "Articles"), ("/sources", "Sources"), ("/alerts", "Alerts"))

# The colour class of each known state, severity or modality; anything else is grey.
_BADGES = {
    **dict.fromkeys(("critical", "dead", "gone", "negated"), "bad"),
    **dict.fromkeys(
        ("warning", "retry", "failing", "held", "hedged", "planned", "past", "changed"), "warn"
    ),
    **dict.fromkeys(("open", "sent", "ok", "active"), "good"),
    **dict.fromkeys(("info", "pending", "sending", "digested"), "note"),
}


@dataclass(frozen=True)
class Paging:
    """Which page of how many rows, and how many rows a page holds."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """Return the number of pages (at least one)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        """Return the number of rows before this page."""
        return (self.page - 1) * self.per_page


def esc(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute; None becomes empty.

    Controls and bidi overrides from feed text go too: a title ending in U+202E "gpj.exe"
    would otherwise show reversed.
    """
    return "" if value is None else escape(displayable(str(value)), quote=True)


def safe_href(url: object) -> str | None:
    """Return ``url`` when it is an absolute http(s) URL without spaces or controls, else None."""
    text = str(url or "")
    if not text or any(ch <= " " or ch == "\x7f" for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


def link(url: object, label: object) -> str:
    """Link ``label`` to an external http(s) URL, or show the label alone for any other URL."""
    href = safe_href(url)
    if href is None:
        return esc(label)
    return f'<a href="{esc(href)}" rel="noopener noreferrer nofollow">{esc(label)}</a>'


def badge(value: object) -> str:
    """Show a state or severity as a coloured badge."""
    text = str(value or "")
    return f'<span class="badge b-{_BADGES.get(text, "other")}">{esc(text)}</span>'


def segments_html(segments: Iterable[Segment]) -> str:
    """Escape segments and wrap the marked ones in <mark>."""
    return "".join(
        f"<mark>{esc(text)}</mark>" if marked else esc(text) for text, marked in segments
    )


def ago(when: datetime, now: datetime) -> str:
    """Say how long before (or after) ``now`` a time is, in one rounded unit."""
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds / size:.0f} {unit}"
            break
    else:
        return "just now"
    return f"in {amount}" if future else f"{amount} ago"


def when(value: object, now: datetime) -> str:
    """Show a stored ISO time as UTC with its distance from now; empty for no time."""
    if not value:
        return '<span class="muted">–</span>'
    try:
        moment = parse_iso(str(value))
    except ValueError:
        return esc(value)
    return (
        f'<time datetime="{esc(moment.isoformat())}" title="{esc(ago(moment, now))}">'
        f"{moment:%Y-%m-%d %H:%M}</time>"
    )


def url_with(path: str, params: Mapping[str, object]) -> str:
    """Build a local URL with the non-empty query parameters."""
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


def pager(path: str, params: Mapping[str, object], paging: Paging) -> str:
    """Render previous/next links and the page position."""
    if paging.pages <= 1:
        return ""
    parts = ['<nav class="pager" aria-label="pages">']
    if paging.page > 1:
        href = url_with(path, {**params, "page": paging.page - 1})
        parts.append(f'<a href="{esc(href)}" rel="prev">← previous</a>')
    parts.append(f"<span>page {paging.page} of {paging.pages}</span>")
    if paging.page < paging.pages:
        href = url_with(path, {**params, "page": paging.page + 1})
        parts.append(f'<a href="{esc(href)}" rel="next">next →</a>')
    parts.append("</nav>")
    return "".join(parts)


def layout(title: str, body: str, now: datetime, active: str = "", query: str = "") -> str:
    """Wrap a page body in the document, navigation and footer."""
    nav = "".join(
        f'<a href="{href}"{" class=on" if href == active else ""}>{label}</a>'
        for href, label in NAV
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)} · news-monitor</title><style>{CSS}</style></head><body>"
        f'<header><span class="brand">news-monitor</span>{nav}'
        '<form method="get" action="/articles" role="search">'
        f'<input type="search" name="q" value="{esc(query)}" placeholder="Search articles"'
        ' aria-label="Search articles"> <button type="submit">Search</button></form></header>'
        f"<main>{body}</main>"
        f"<footer>Read-only view, generated {now:%Y-%m-%d %H:%M:%S} UTC ·"
        ' <a href="/api/openapi.json">JSON API</a> · <a href="/metrics">metrics</a> ·'
        ' <a href="/healthz">health</a></footer></body></html>'
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """Render a table from already-escaped cell HTML."""
    head = "".join(
        f'<th scope="col"{" class=n" if i in numeric else ""}>{h}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def empty(text: str) -> str:
    """Say that a list is empty."""
    return f'<p class="muted">{esc(text)}</p>'


# --- pages ----------------------------------------------------------------------------------


def events_page(
    events: list[dict[str, Any]],
    paging: Paging,
    chart: str,
    palette: Mapping[str, str],
    filters: Mapping[str, str | None],
    now: datetime,
) -> str:
    """Render the timeline and the event list."""
    rule, state = filters.get("rule"), filters.get("state")
    shown = [f"rule {esc(rule)}" if rule else "", f"state {esc(state)}" if state else ""]
    chosen = ", ".join(s for s in shown if s)
    heading = f"Events ({paging.total}{', ' + chosen if chosen else ''})"
    state_links = " ".join(
        f'<a href="{esc(url_with("/", {"rule": rule, "state": s}))}">{label}</a>'
        for s, label in (("", "all"), ("open", "open"), ("closed", "closed"))
    )
    clear = ' · <a href="/">clear filters</a>' if chosen else ""
    rows = []
    for ev in events:
        color = palette.get(str(ev["rule_id"]))
        swatch = f'<span class="swatch" style="background:{color}"></span>' if color else ""
        rule_href = url_with("/", {"rule": ev["rule_id"]})
        rows.append(
            (
                f'<a href="/events/{int(ev["id"])}">#{int(ev["id"])}</a>',
                f'<a href="/events/{int(ev["id"])}">{esc(ev["title"])}</a>',
                f'{swatch}<a href="{esc(rule_href)}">{esc(ev["rule_id"])}</a>',
                badge(ev["severity"]),
                badge(ev["state"]),
                when(ev["first_seen_at"], now),
                when(ev["last_seen_at"], now),
                str(int(ev["article_count"])),
                str(int(ev["source_count"])),
                str(int(ev["story_count"])),
            )
        )
    listing = (
        table(
            (
                "id",
                "title",
                "rule",
                "severity",
                "state",
                "first seen",
                "last seen",
                "articles",
                "sources",
                "stories",
            ),
            rows,
            {7, 8, 9},
        )
        if rows
        else empty("No events yet.")
    )
    body = (
        "<h1>Timeline</h1>"
        '<p class="muted">Events opened per rule per day, last 30 days (UTC).'
        " Click a bar to see that rule's events.</p>"
        f"{chart}<h2>{heading}</h2>"
        f'<p class="filters">State: {state_links}{clear}</p>'
        f"{listing}{pager('/', filters, paging)}"
    )
    return layout("Events", body, now, "/")


def event_page(
    event: dict[str, Any],
    sources: list[str],
    matches: list[dict[str, Any]],
    paging: Paging,
    alerts: list[dict[str, Any]],
    now: datetime,
) -> str:
    """Render one event: facts, its articles with marked snippets, and its alerts."""
    event_id = int(event["id"])
    facts = [
        (
            "rule",
            f'<a href="{esc(url_with("/", {"rule": event["rule_id"]}))}">'
            f"{esc(event['rule_id'])}</a>",
        ),
        ("severity", badge(event["severity"])),
        ("state", badge(event["state"])),
        ("key", esc(event["key"]) if event["key"] else ""),
        ("first seen", when(event["first_seen_at"], now)),
        ("last seen", when(event["last_seen_at"], now)),
        ("closed", when(event["closed_at"], now) if event["closed_at"] else ""),
        ("articles", str(int(event["article_count"]))),
        ("sources", ", ".join(esc(s) for s in sources) or str(int(event["source_count"]))),
        ("stories", str(int(event["story_count"]))),
    ]
    fact_html = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts if v)
    blocks = [_match_block(row, now) for row in matches]
    articles = "".join(blocks) if blocks else empty("No articles are attached to this event.")
    body = (
        f"<h1>Event #{event_id}: {esc(event['title'])}</h1>"
        f'<dl class="facts">{fact_html}</dl>'
        f"<h2>Articles ({paging.total})</h2>{articles}"
        f"{pager(f'/events/{event_id}', {}, paging)}"
        f"<h2>Alerts ({len(alerts)})</h2>{_alerts_table(alerts, now, with_event=False)}"
    )
    return layout(f"Event #{event_id}", body, now, "/")


def _match_block(row: dict[str, Any], now: datetime) -> str:
    title_segments, excerpts = match_excerpts(row)
    title_html = segments_html(title_segments) or esc("(untitled)")
    href = safe_href(row["url"])
    heading = (
        f'<a href="{esc(href)}" rel="noopener noreferrer nofollow">{title_html}</a>'
        if href
        else title_html
    )
    publisher = f" ({esc(row['publisher'])})" if row["publisher"] else ""
    modality = ""
    if row["modality"] and row["modality"] != "asserted":
        cue = f" — “{esc(row['modality_cue'])}”" if row["modality_cue"] else ""
        modality = f" · {badge(row['modality'])}{cue}"
    terms = ", ".join(dict.fromkeys(esc(h["term"]) for h in row["hits"] if h["term"]))
    parts = [
        f'<article class="match"><h3>{heading}</h3>',
        f'<div class="muted">{esc(row["source_id"])}{publisher} · published'
        f" {when(row['published_at'], now)} · article #{int(row['article_id'])}{modality}</div>",
    ]
    if terms:
        parts.append(f'<div class="muted">matched: {terms}</div>')
    if row.get("revised"):
        now_href = safe_href(row["current_url"])
        now_title = esc(row["current_title"]) or esc("(untitled)")
        current = (
            f'<a href="{esc(now_href)}" rel="noopener noreferrer nofollow">{now_title}</a>'
            if now_href
            else now_title
        )
        parts.append(
            f'<div class="muted">{badge("changed")} the feed rewrote this article after it'
            f" matched; shown as it was then. Its feed now says: {current}</div>"
        )
    if row["reason"]:
        parts.append(f'<div class="muted">{esc(row["reason"])}</div>')
    for name, cuts, left in excerpts:
        for segments in cuts:
            parts.append(
                f'<p class="excerpt"><span class="field">{esc(name)}</span>'
                f"{segments_html(segments)}</p>"
            )
        if left:
            parts.append(f'<p class="muted">and {left} more place(s) in the {esc(name)}</p>')
    parts.append("</article>")
    return "".join(parts)


def _alerts_table(alerts: list[dict[str, Any]], now: datetime, *, with_event: bool) -> str:
    if not alerts:
        return empty("No alerts.")
    headers = ["id"]
    if with_event:
        headers.append("event")
    headers += ["channel", "kind", "state", "attempts", "created", "next attempt", "sent"]
    headers += ["last error", "title"]
    rows = []
    for alert in alerts:
        state = badge(alert["state"])
        if alert.get("digest_id"):
            digest_state = alert.get("digest_state")
            state += f" → digest #{int(alert['digest_id'])}"
            if digest_state:
                state += f" ({esc(digest_state)})"
        row = [str(int(alert["id"]))]
        if with_event:
            event_id = alert.get("event_id")
            row.append(
                f'<a href="/events/{int(event_id)}">#{int(event_id)}</a>' if event_id else ""
            )
        pending = alert["state"] in ("pending", "retry", "held")
        channel_href = url_with("/alerts", {"channel": alert["channel"]})
        row += [
            f'<a href="{esc(channel_href)}">{esc(alert["channel"])}</a>',
            esc(alert["kind"]),
            state,
            str(int(alert["attempts"])),
            when(alert["created_at"], now),
            when(alert["next_attempt_at"], now) if pending else "",
            when(alert["sent_at"] or alert.get("digest_sent_at"), now),
            f'<span class="error">{esc(alert["last_error"])}</span>',
            esc(alert["title"]),
        ]
        rows.append(row)
    return table(headers, rows, {headers.index("attempts")})


def articles_page(
    query: str,
    results: list[dict[str, Any]],
    matched: Mapping[int, list[dict[str, Any]]],
    paging: Paging,
    now: datetime,
) -> str:
    """Render search results (or the newest articles when there is no query)."""
    if query.strip():
        heading = f"{paging.total} article{'s' if paging.total != 1 else ''} for “{esc(query)}”"
    else:
        heading = f"Latest stored articles ({paging.total})"
    items = []
    for row in results:
        title = segments_html(split_marked(str(row["title_marked"] or ""), MARK_OPEN, MARK_CLOSE))
        href = safe_href(row["url"])
        title_html = title or esc("(untitled)")
        if href:
            title_html = (
                f'<a href="{esc(href)}" rel="noopener noreferrer nofollow">{title_html}</a>'
            )
        snippet = segments_html(
            split_marked(str(row["snippet_marked"] or ""), MARK_OPEN, MARK_CLOSE)
        )
        rules = " ".join(
            (
                f'<a href="/events/{int(m["event_id"])}">{esc(m["rule_id"])}</a>'
                if m["event_id"]
                else f'{esc(m["rule_id"])} <span class="muted">(no event)</span>'
            )
            for m in matched.get(int(row["id"]), [])
        )
        publisher = f" ({esc(row['publisher'])})" if row["publisher"] else ""
        items.append(
            f'<article class="match"><h3>{title_html}</h3>'
            f'<div class="muted">{esc(row["source_id"])}{publisher} · published'
            f" {when(row['published_at'], now)} · article #{int(row['id'])}"
            f"{' · matched ' + rules if rules else ''}</div>"
            f'<p class="excerpt">{snippet}</p></article>'
        )
    body = (
        f"<h1>{heading}</h1>"
        '<p class="muted">Every word must appear (stemmed: “launch” finds “launched”);'
        " quotes and other punctuation are taken literally.</p>"
        + ("".join(items) if items else empty("No matching articles."))
        + pager("/articles", {"q": query}, paging)
    )
    return layout("Articles", body, now, "/articles", query)


def sources_page(sources: list[dict[str, Any]], paging: Paging, now: datetime) -> str:
    """Render the health of every source."""
    rows = []
    for src in sources:
        failures = int(src["failures"] or 0)
        health = src["state"] if src["state"] != "active" else ("failing" if failures else "ok")
        reason = (
            f'<div class="muted">{esc(src["state_reason"])}</div>' if src["state_reason"] else ""
        )
        warning = f'<div class="muted">{esc(src["warning"])}</div>' if src["warning"] else ""
        error = ""
        if src["last_error"]:
            error = (
                f'<span class="error">{esc(src["last_error"])}</span>'
                f'<div class="muted">{when(src["last_error_at"], now)}</div>'
            )
        every = f"{float(src['interval_s']):.0f}s" if src["interval_s"] else ""
        rows.append(
            (
                f"{esc(src['id'])}<div class=muted>{esc(src['kind'])}</div>",
                f"{badge(health)}{reason}{warning}",
                when(src["last_success_at"], now),
                error,
                str(failures),
                when(src["last_poll_at"], now),
                when(src["next_poll_at"], now),
                every,
                str(int(src["items_seen"] or 0)),
                link(src["url"], src["url"]),
            )
        )
    headers = (
        "source",
        "state",
        "last success",
        "last error",
        "failures",
        "last poll",
        "next poll",
        "interval",
        "items seen",
        "url",
    )
    listing = table(headers, rows, {4, 8}) if rows else empty("No sources yet.")
    body = f"<h1>Sources ({paging.total})</h1>{listing}{pager('/sources', {}, paging)}"
    return layout("Sources", body, now, "/sources")


def alerts_page(
    alerts: list[dict[str, Any]],
    paging: Paging,
    filters: Mapping[str, str | None],
    counts: Mapping[str, int],
    now: datetime,
) -> str:
    """Render the outbox."""
    links = [f'<a href="{esc(url_with("/alerts", {"channel": filters.get("channel")}))}">all</a>']
    for state, n in sorted(counts.items()):
        href = url_with("/alerts", {"state": state, "channel": filters.get("channel")})
        links.append(f'<a href="{esc(href)}">{esc(state)} ({n})</a>')
    shown = ", ".join(f"{k} {esc(v)}" for k, v in filters.items() if v)
    body = (
        f"<h1>Alerts ({paging.total}{', ' + shown if shown else ''})</h1>"
        f'<p class="filters">State: {" ".join(links)}</p>'
        f"{_alerts_table(alerts, now, with_event=True)}{pager('/alerts', filters, paging)}"
    )
    return layout("Alerts", body, now, "/alerts")


def error_page(status: int, message: str, now: datetime) -> str:
    """Render an error page."""
    return layout(f"Error {status}", f"<h1>{status}</h1><p>{esc(message)}</p>", now)
