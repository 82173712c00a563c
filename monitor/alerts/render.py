"""Render the text of an alert from the Event's first Match; pure, feed text stays plain data."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.model import Article, Match

MAX_TITLE = 200


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_link(url: str) -> str:
    """Return ``url`` when it is an http(s) link, else an empty string."""
    lowered = url.strip().lower()
    return url.strip() if lowered.startswith(("http://", "https://")) else ""


def render_open(
    *,
    rule_id: str,
    rule_name: str,
    severity: str,
    event_id: int,
    article: Article,
    match: Match,
) -> Rendered:
    """Render the alert sent when an Event opens."""
    name = rule_name or rule_id
    title = _one_line(f"[{severity}] {name}: {article.title}", MAX_TITLE)
    terms: list[str] = []
    for hit in match.hits:
        label = f"{hit.matched} ({hit.field})"
        if label not in terms:
            terms.append(label)
    source = article.source_id + (f" ({article.publisher})" if article.publisher else "")
    link = safe_link(article.url) or "(no link)"
    lines = [
        f"Rule: {rule_id}" + (f" - {rule_name}" if rule_name and rule_name != rule_id else ""),
        f"Severity: {severity}",
        f"Article: {_one_line(article.title, 300)}",
        f"Source: {source}",
        f"Published: {article.published_at:%Y-%m-%d %H:%M} UTC",
        f"Link: {link}",
        f"Matched: {', '.join(terms[:12])}",
        f"Snippet: {_one_line(match.snippet, 600)}",
        f"Event: #{event_id}",
    ]
    return Rendered(title=title, body="\n".join(lines))


def render_health(*, source_id: str, kind: str, detail: str, event_id: int) -> Rendered:
    """Render a source health alert: failing, silent, or recovered."""
    headline = {
        "failing": f"Source {source_id} is failing",
        "silent": f"Source {source_id} has gone silent",
        "recovered": f"Source {source_id} recovered",
    }[kind]
    lines = [f"Source: {source_id}", f"State: {kind}", detail, f"Event: #{event_id}"]
    return Rendered(title=f"[ops] {headline}", body="\n".join(line for line in lines if line))


def render_update(
    *, rule_id: str, rule_name: str, severity: str, event: dict[str, object], article: Article
) -> Rendered:
    """Render the alert sent when new sources or stories join an open Event."""
    name = rule_name or rule_id
    more_sources = int(str(event["source_count"])) - int(str(event["notified_sources"]))
    more_stories = int(str(event["story_count"])) - int(str(event["notified_stories"]))
    news = []
    if more_sources > 0:
        news.append(f"{more_sources} more source{'s' if more_sources != 1 else ''}")
    if more_stories > 0:
        news.append(f"{more_stories} more stor{'ies' if more_stories != 1 else 'y'}")
    headline = ", ".join(news) or "more reports"
    title = _one_line(f"[{severity}] Update: {name}: {headline}", MAX_TITLE)
    lines = [
        f"Update: {headline}.",
        f"Rule: {rule_id}",
        f"Event: #{event['id']}, first seen {event['first_seen_at']}",
        f"Now: {event['article_count']} articles from {event['source_count']} sources"
        f" in {event['story_count']} stories",
        f"Latest: {_one_line(article.title, 300)}",
        f"Link: {safe_link(article.url) or '(no link)'}",
    ]
    return Rendered(title=title, body="\n".join(lines))


def render_close(
    *, rule_id: str, rule_name: str, severity: str, event: dict[str, object], quiet: str
) -> Rendered:
    """Render the alert sent when an Event closes after a quiet window."""
    name = rule_name or rule_id
    title = _one_line(f"[{severity}] Closed: {name}: {event['title']}", MAX_TITLE)
    lines = [
        f"Closed after {quiet} quiet.",
        f"Rule: {rule_id}",
        f"Event: #{event['id']}, {event['first_seen_at']} to {event['last_seen_at']}",
        f"In all: {event['article_count']} articles from {event['source_count']} sources"
        f" in {event['story_count']} stories",
    ]
    return Rendered(title=title, body="\n".join(lines))


def render_flatline(*, rule_id: str, rule_name: str, severity: str, quiet: str) -> Rendered:
    """Render the alert sent when a rule has not matched for its flatline period."""
    name = rule_name or rule_id
    return Rendered(
        title=f"[{severity}] Flatline: {name}: no match for {quiet}",
        body=f"Rule {rule_id} has not matched any article for {quiet}.",
    )
