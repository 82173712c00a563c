"""Render alert messages from Jinja2 templates in a sandbox; feed text is data, never markup.

Templates
---------
One template per (transition, format) plus one title template per transition:

    <transition>.<format>.j2    transition: open, update, close, digest
                                format:     text, html, markdown, short
    <transition>.title.j2       the one-line title (email subject, chat/push title)
    _<anything>.j2              a partial, only used through include/import/extends

Defaults ship in ``monitor/alerts/default_templates/`` and are reachable from user templates
as ``default:<name>`` (for example ``{% extends "default:open.html.j2" %}``). Overrides live in
the user's template directory (``config/templates/``); the first file found wins:

    rules/<rule_id>/channels/<channel>/<name>   one rule on one channel
    rules/<rule_id>/<name>                      one rule, every channel
    channels/<channel>/<name>                   one channel, every rule
    <name>                                      every rule and channel
    default:<name>                              the packaged default

so rule beats channel beats global beats default. Every file is parsed and translated to Python
at load time (its bytecode is compiled when it is first rendered); a broken override is
reported as a Problem and skipped, so rendering falls back to the next one.
Load also reports variables no context defines, and refuses (reports and skips) a Markdown
template that prints feed text without ``|md`` and an HTML template that marks feed text
``|safe`` or turns autoescape off. ``check()`` adds errors from rendering every template
on a sample context (StrictUndefined), each with file, line and column.

Escaping: ``*.html.j2`` templates autoescape. Other formats use filters: ``md`` (alias
``md_escape``), ``md_url``, ``md_link(url)``, ``safe_url``, ``oneline``, ``clip(n)``, ``dt``,
``plural(word)``. Titles are collapsed to one line of at most 200 characters after rendering and
short bodies to one line of at most 200 characters, whatever the template does.

Variables: ``transition``, ``format``, ``channel``, ``now``, ``title`` (not in title templates),
``event`` (id, rule_id, state, title, first_seen_at, last_seen_at, article_count, source_count,
story_count, url_for_dashboard), ``rule`` (id, name, severity, description), ``articles`` (each:
title, url, source, publisher, published_at, snippet, snippet_parts of (text, is_match), terms),
``article`` (the first article or None), ``sources``, ``terms``, ``counts`` (new_sources,
new_stories, summary), ``quiet``, ``digest`` (groups: rule, items: at, transition, event,
article, articles, counts, quiet) and ``digest_total``. ``event`` and ``rule`` are None in
digests.
"""

from __future__ import annotations

import bisect
import enum
import functools
import io
import re
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

from monitor.alerts.render import safe_link
from monitor.errors import DeliveryError, Problem, display_path
from monitor.model import Article, Match
from monitor.text import BIDI_CONTROLS

TRANSITIONS = ("open", "update", "close", "digest")
MAX_TITLE = 200
MAX_SHORT = 200
MAX_FILE = 256 * 1024
DEFAULT_PREFIX = "default:"
_NAME = re.compile(r"^(open|update|close|digest)\.(text|html|markdown|short|title)\.j2$")
_PARTIAL = re.compile(r"^_[\w.-]+\.j2$")
_OPENER = re.compile(r"\{\{|\{%|\{#")
_CLOSER = {"{{": "}}", "{%": "%}", "{#": "#}"}
_BLOCK_TAGS = frozenset(
    {"if", "for", "block", "macro", "call", "filter", "with", "raw", "autoescape"}
)
_INNER_TAGS = frozenset({"else", "elif", "pluralize"})


class Format(enum.StrEnum):
    """The form of a message body: plain text, HTML email, Markdown for chat, short push."""

    TEXT = "text"
    HTML = "html"
    MARKDOWN = "markdown"
    SHORT = "short"


@dataclass(frozen=True)
class Message:
    """One rendered alert: a one-line title, a body in ``format`` and a plain-text alternative."""

    title: str
    body: str
    format: Format
    text: str


class SnippetPart(NamedTuple):
    """A piece of a snippet, ``is_match`` when it is one of the matched words."""

    text: str
    is_match: bool


@dataclass(frozen=True)
class EventInfo:
    """The Event an alert is about."""

    id: int
    rule_id: str
    state: str
    title: str
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    article_count: int
    source_count: int
    story_count: int
    url_for_dashboard: str = ""


@dataclass(frozen=True)
class RuleInfo:
    """The rule whose Event it is; ``name`` falls back to the id."""

    id: str
    name: str
    severity: str
    description: str = ""


@dataclass(frozen=True)
class ArticleInfo:
    """One article; ``url`` is http(s) or empty, every string is plain feed text."""

    title: str
    url: str
    source: str
    publisher: str
    published_at: datetime | None
    snippet: str
    snippet_parts: tuple[SnippetPart, ...]
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Counts:
    """What an update adds since the last notice."""

    new_sources: int = 0
    new_stories: int = 0

    @property
    def summary(self) -> str:
        """Return "2 more sources, 1 more story" or "more reports"."""
        news = []
        if self.new_sources > 0:
            news.append(_plural(self.new_sources, "more source", "more sources"))
        if self.new_stories > 0:
            news.append(_plural(self.new_stories, "more story", "more stories"))
        return ", ".join(news) or "more reports"


@dataclass(frozen=True)
class DigestItem:
    """One alert collected into a digest."""

    at: datetime
    transition: str
    event: EventInfo
    articles: tuple[ArticleInfo, ...] = ()
    counts: Counts = Counts()
    quiet: str = ""

    @property
    def article(self) -> ArticleInfo | None:
        """Return the first article, if any."""
        return self.articles[0] if self.articles else None


@dataclass(frozen=True)
class DigestGroup:
    """The digest items of one rule, newest first."""

    rule: RuleInfo
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class AlertContext:
    """Everything a template may use; feed-derived strings are plain, unescaped text."""

    transition: str
    event: EventInfo | None
    rule: RuleInfo | None
    articles: tuple[ArticleInfo, ...] = ()
    sources: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    counts: Counts = Counts()
    quiet: str = ""
    digest: tuple[DigestGroup, ...] = ()
    channel: str = ""
    now: datetime | None = None

    @property
    def article(self) -> ArticleInfo | None:
        """Return the first article, if any."""
        return self.articles[0] if self.articles else None

    def variables(self) -> dict[str, Any]:
        """Return the top-level template variables."""
        return {
            "transition": self.transition,
            "event": self.event,
            "rule": self.rule,
            "articles": self.articles,
            "article": self.article,
            "sources": self.sources,
            "terms": self.terms,
            "counts": self.counts,
            "quiet": self.quiet,
            "digest": self.digest,
            "digest_total": sum(len(group.items) for group in self.digest),
            "channel": self.channel,
            "now": self.now,
        }


# --- plain-text helpers and filters --------------------------------------------------------


_URL_UNSAFE = frozenset('"<>\\^`{|}')


def clean(text: str) -> str:
    """Remove control characters (other than whitespace) and bidi overrides from ``text``."""
    if text.isprintable() and not BIDI_CONTROLS.intersection(text):
        return text
    return "".join(
        ch
        for ch in text
        if ch.isspace()
        or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in BIDI_CONTROLS)
    )


def oneline(text: object) -> str:
    """Collapse every run of whitespace (CR and LF included) into one space."""
    return " ".join(clean(str(text)).split())


def clip(text: object, limit: int) -> str:
    """Return ``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = oneline(text)
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)].rstrip() + "…"


def clean_url(url: str) -> str:
    """Return an http(s) ``url`` with spaces and unsafe characters percent-encoded, else ""."""
    link = safe_link(clean(url))
    return "".join(
        quote(ch, safe="") if ch.isspace() or ch in _URL_UNSAFE or not ch.isprintable() else ch
        for ch in link
    )


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#|~!])")
_MD_LIST = re.compile(r"^( ?)(\d+)\.")
_MD_BULLET = re.compile(r"^( ?)([-+=])")
_MENTION = re.compile(r"(?<!\w)@(?=\w)")


def md_escape(text: object) -> str:
    """Escape ``text`` for Markdown: no markup, links, raw HTML or @-mentions; one line."""
    flat = re.sub(r"\s+", " ", clean(str(text)))
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MD_SPECIAL.sub(r"\\\1", flat)
    flat = _MD_LIST.sub(r"\1\2\\.", flat)
    flat = _MD_BULLET.sub(r"\1\\\2", flat)
    return _MENTION.sub("@\u200b", flat)


def md_url(url: object) -> str:
    """Return an http(s) URL fit for a Markdown link target, parentheses percent-encoded."""
    link = clean_url(str(url))
    return link.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def md_link(text: object, url: object) -> str:
    """Return ``[text](url)`` when ``url`` is http(s), else the escaped text alone."""
    target = md_url(url)
    label = md_escape(text)
    return f"[{label}]({target})" if target else label


def format_dt(value: object, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """Format a datetime (or ISO string) in UTC; empty for None."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else _parse_dt(str(value))
    if moment is None:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(fmt)


def _plural(count: object, word: str, words: str | None = None) -> str:
    n = int(str(count))
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _parse_dt(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if value is None or value == "":
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


FILTERS: dict[str, Callable[..., str]] = {
    "md": md_escape,
    "md_escape": md_escape,
    "md_url": md_url,
    "md_link": md_link,
    "safe_url": lambda url: clean_url(str(url)),
    "oneline": oneline,
    "clip": clip,
    "dt": format_dt,
    "plural": _plural,
}


# --- building the context ------------------------------------------------------------------


def snippet_parts(article: Article, match: Match) -> tuple[SnippetPart, ...]:
    """Split ``match.snippet`` into parts, marking exactly the spans of the Match's hits."""
    snippet = match.snippet
    for name in dict.fromkeys(hit.field for hit in match.hits):
        spans = _hit_spans(article.field_text(name), snippet, match, name)
        if spans is not None:
            return _split(snippet, spans)
    # The snippet is not found in the article (it changed since): mark the matched words.
    words = sorted({h.matched for h in match.hits if h.matched.strip()}, key=len, reverse=True)
    if not words:
        return (SnippetPart(snippet, False),) if snippet else ()
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return _split(snippet, [(m.start(), m.end()) for m in pattern.finditer(snippet)])


def _hit_spans(text: str, snippet: str, match: Match, name: str) -> list[tuple[int, int]] | None:
    """Return hit spans as offsets into ``snippet`` when it is an excerpt of ``text``."""
    collapsed: list[str] = []
    cmap: list[int] = []
    for word in re.finditer(r"\S+", text):
        if collapsed:
            collapsed.append(" ")
            cmap.append(word.start() - 1)
        collapsed.append(word.group())
        cmap.extend(range(word.start(), word.end()))
    flat = "".join(collapsed)
    hits = [(h.start, h.end) for h in match.hits if h.field == name and h.end > h.start]
    for prefix in ("", "…"):
        if not snippet.startswith(prefix):
            continue
        for suffix in ("", "…"):
            body = snippet[len(prefix) : len(snippet) - len(suffix)]
            if not body or not snippet.endswith(suffix):
                continue
            found: list[tuple[int, int]] | None = None
            at = flat.find(body)
            while at >= 0:
                lo, hi = cmap[at], cmap[at + len(body) - 1] + 1
                inside = [(s, e) for s, e in hits if s >= lo and e <= hi]
                spans = [
                    (
                        len(prefix) + bisect.bisect_left(cmap, s) - at,
                        len(prefix) + bisect.bisect_left(cmap, e - 1) + 1 - at,
                    )
                    for s, e in inside
                ]
                if found is None or spans:
                    found = spans
                if spans:
                    break
                at = flat.find(body, at + 1)
            if found is not None:
                return found
    return None


def _split(snippet: str, spans: Iterable[tuple[int, int]]) -> tuple[SnippetPart, ...]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[SnippetPart] = []
    pos = 0
    for start, end in merged:
        if start > pos:
            parts.append(SnippetPart(clean(snippet[pos:start]), False))
        parts.append(SnippetPart(clean(snippet[start:end]), True))
        pos = end
    if pos < len(snippet):
        parts.append(SnippetPart(clean(snippet[pos:]), False))
    return tuple(p for p in parts if p.text)


def article_info(article: Article, match: Match | None = None) -> ArticleInfo:
    """Return the template view of one Article and (optionally) the Match that found it."""
    if match is not None:
        parts = snippet_parts(article, match)
        terms: list[str] = []
        for hit in match.hits:
            word = oneline(hit.matched)
            if word and word.casefold() not in {t.casefold() for t in terms}:
                terms.append(word)
    else:
        parts = (SnippetPart(clip(article.summary or article.text, 280), False),)
        parts = tuple(p for p in parts if p.text)
        terms = []
    return ArticleInfo(
        title=oneline(article.title),
        url=clean_url(article.url),
        source=oneline(article.source_id),
        publisher=oneline(article.publisher),
        published_at=article.published_at,
        snippet="".join(p.text for p in parts),
        snippet_parts=parts,
        terms=tuple(terms),
    )


def _int(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0


def _str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def event_info(event: Mapping[str, object], dashboard_url: str = "") -> EventInfo:
    """Return the template view of an events row (as returned by the store)."""
    return EventInfo(
        id=_int(event, "id"),
        rule_id=oneline(_str(event, "rule_id")),
        state=_str(event, "state"),
        title=oneline(_str(event, "title")),
        first_seen_at=_parse_dt(event.get("first_seen_at")),
        last_seen_at=_parse_dt(event.get("last_seen_at")),
        article_count=_int(event, "article_count"),
        source_count=_int(event, "source_count"),
        story_count=_int(event, "story_count"),
        url_for_dashboard=clean_url(dashboard_url),
    )


def build_context(
    transition: str,
    *,
    event: Mapping[str, object],
    rule_name: str = "",
    severity: str = "",
    description: str = "",
    articles: Sequence[tuple[Article, Match | None]] = (),
    sources: Sequence[str] | None = None,
    quiet: str = "",
    dashboard_url: str = "",
    channel: str = "",
    now: datetime | None = None,
) -> AlertContext:
    """Build the context of an open, update or close alert from an events row and plain values."""
    info = event_info(event, dashboard_url)
    rule = RuleInfo(
        id=info.rule_id,
        name=oneline(rule_name) or info.rule_id,
        severity=oneline(severity or _str(event, "severity")),
        description=oneline(description),
    )
    views = tuple(article_info(a, m) for a, m in articles)
    terms: list[str] = []
    for view in views:
        terms.extend(t for t in view.terms if t.casefold() not in {x.casefold() for x in terms})
    if sources is None:
        sources = [view.source for view in views]
    counts = Counts()
    if transition == "update":
        counts = Counts(
            new_sources=max(0, info.source_count - _int(event, "notified_sources")),
            new_stories=max(0, info.story_count - _int(event, "notified_stories")),
        )
    return AlertContext(
        transition=transition,
        event=info,
        rule=rule,
        articles=views,
        sources=tuple(dict.fromkeys(oneline(s) for s in sources if oneline(s))),
        terms=tuple(terms),
        counts=counts,
        quiet=oneline(quiet),
        channel=channel,
        now=now,
    )


def build_digest(
    entries: Sequence[tuple[datetime, AlertContext]],
    *,
    channel: str = "",
    now: datetime | None = None,
) -> AlertContext:
    """Group (alert time, context) pairs by rule, newest first, into a digest context."""
    groups: dict[str, tuple[RuleInfo, list[DigestItem]]] = {}
    for at, ctx in entries:
        if ctx.event is None or ctx.rule is None:
            continue
        item = DigestItem(at, ctx.transition, ctx.event, ctx.articles, ctx.counts, ctx.quiet)
        groups.setdefault(ctx.rule.id, (ctx.rule, []))[1].append(item)
    built = [
        DigestGroup(rule, tuple(sorted(items, key=lambda i: (i.at, i.event.id), reverse=True)))
        for rule, items in groups.values()
    ]
    built.sort(key=lambda g: g.rule.id)
    built.sort(key=lambda g: g.items[0].at, reverse=True)
    return AlertContext(
        transition="digest", event=None, rule=None, digest=tuple(built), channel=channel, now=now
    )


# --- the template set ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    text: str
    path: Path
    shown: str


class _Loader(jinja2.BaseLoader):
    def __init__(self, sources: dict[str, _Source]) -> None:
        self.sources = sources

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        found = self.sources.get(template)
        if found is None:
            raise jinja2.TemplateNotFound(template)
        return found.text, str(found.path), lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.sources)


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith(".html.j2")


def _environment(loader: _Loader) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(FILTERS)
    return env


def _default_sources() -> dict[str, _Source]:
    folder = resources.files("monitor.alerts.default_templates")
    found: dict[str, _Source] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".j2") and entry.is_file():
            path = Path(str(entry))
            found[DEFAULT_PREFIX + entry.name] = _Source(
                entry.read_text(encoding="utf-8"), path, display_path(path)
            )
    return found


def _user_name_ok(rel: tuple[str, ...]) -> bool:
    name = rel[-1]
    if not (_NAME.match(name) or _PARTIAL.match(name)):
        return False
    scope = rel[:-1]
    return (
        len(scope) == 0
        or (len(scope) == 2 and scope[0] in ("rules", "channels"))
        or (len(scope) == 4 and scope[0] == "rules" and scope[2] == "channels")
    )


def _user_sources(directory: Path) -> tuple[dict[str, _Source], list[Problem]]:
    found: dict[str, _Source] = {}
    problems: list[Problem] = []
    if not directory.is_dir():
        return found, problems
    for path in sorted(directory.rglob("*.j2")):
        rel = path.relative_to(directory).parts
        if any(part.startswith(".") for part in rel) or not path.is_file():
            continue
        shown = display_path(path)
        if not _user_name_ok(rel):
            problems.append(
                Problem(
                    shown,
                    0,
                    0,
                    "unknown template name",
                    "expected [rules/<rule>/][channels/<channel>/]<transition>.<format>.j2 with"
                    " transition open, update, close or digest and format text, html, markdown,"
                    " short or title; partials start with _",
                )
            )
            continue
        try:
            if path.stat().st_size > MAX_FILE:
                problems.append(Problem(shown, 0, 0, f"template is larger than {MAX_FILE} bytes"))
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(shown, 0, 0, f"cannot read template: {exc}"))
            continue
        found["/".join(rel)] = _Source(text, path, shown)
    return found, problems


def _column(source: str, line: int, message: str = "") -> int:
    """Return the 1-based column of the construct an error on ``line`` most likely refers to."""
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return 1
    text = lines[line - 1]
    if "end of template" in message.lower():
        return len(text.rstrip()) + 1
    needle = _needle(message)
    if needle is not None:
        found = needle.search(text)
        if found is not None:
            return found.start("name") + 1
    openers = [m.start() for m in _OPENER.finditer(text)]
    if not openers:
        return len(text) - len(text.lstrip()) + 1
    env = jinja2.Environment()
    for start in openers:
        opener = text[start : start + 2]
        end = text.find(_CLOSER[opener], start + 2)
        if end < 0:
            return start + 1
        fragment = text[start : end + 2]
        if opener == "{#":
            continue
        try:
            if opener == "{%":
                words = fragment[2:-2].strip("-+ \t").split()
                tag = words[0] if words else ""
                if tag in _INNER_TAGS or tag.startswith("end"):
                    continue
                if tag in _BLOCK_TAGS or (tag == "set" and "=" not in fragment):
                    fragment += "{% end" + tag + " %}"
            env.parse(fragment)
        except jinja2.TemplateSyntaxError:
            return start + 1
    return openers[0] + 1


def _needle(message: str) -> re.Pattern[str] | None:
    """Return a pattern finding the name an undefined-variable or attribute error is about."""
    attribute = re.search(r"(?:has no attribute|access to attribute) '([^']+)'", message)
    if attribute is not None:
        name = re.escape(attribute.group(1))
        return re.compile(rf"(?:\.\s*|\[\s*['\"])(?P<name>{name})\b")
    variable = re.search(r"'([^']+)' is undefined", message)
    if variable is not None:
        return re.compile(rf"(?<![\w.])(?P<name>{re.escape(variable.group(1))})\b")
    return None


_FEED_ATTRS = frozenset(
    {"title", "snippet", "snippet_parts", "source", "sources", "publisher", "url", "text"}
    | {"terms", "article", "articles", "event", "items", "digest"}
)
_FEED_STRINGS = frozenset({"title", "snippet", "source", "publisher", "url", "text"})
_FEED_NAMES = frozenset({"title", "sources", "terms", "article", "articles", "event", "digest"})
_MD_FILTERS = frozenset({"md", "md_escape", "md_link", "md_url"})
_HINTS = {
    "autoescape cannot be changed in an HTML template": "remove the autoescape block",
    "|safe on feed text turns off HTML escaping": "print it as {{ value }}",
    "feed text printed without |md in a Markdown template": (
        "write {{ value|md }}, or {{ text|md_link(url) }} for a link"
    ),
}
_PLAIN_FILTERS = frozenset({"length", "count", "plural", "int", "float", "dt", "abs", "round"})


def _raw_feed(expr: nodes.Node, feed: frozenset[str]) -> nodes.Node | None:
    """Return the node through which ``expr`` may print unescaped feed text, if any."""
    if isinstance(expr, nodes.Filter):
        first = expr.args[0] if expr.args else None
        if expr.name in _MD_FILTERS or expr.name in _PLAIN_FILTERS:
            return None
        if expr.name == "map" and isinstance(first, nodes.Const) and first.value in _MD_FILTERS:
            return None
        return _raw_feed(expr.node, feed) if expr.node is not None else None
    if isinstance(expr, nodes.Call) and isinstance(expr.node, nodes.Name):
        return None  # a macro or global: its own output statements are checked where written
    if isinstance(expr, nodes.Getattr):
        if expr.attr in _FEED_ATTRS:
            return expr
        inner = expr.node  # a method of a feed string, as in article.title.upper()
        if isinstance(inner, nodes.Getattr) and inner.attr in _FEED_STRINGS:
            return inner
        return inner if isinstance(inner, nodes.Name) and inner.name == "title" else None
    if isinstance(expr, nodes.Name):
        return expr if expr.name in feed else None
    if isinstance(expr, nodes.CondExpr):
        children: list[nodes.Node] = [expr.expr1, *([expr.expr2] if expr.expr2 else [])]
    elif isinstance(expr, nodes.Getitem):
        children = [expr.node]
    else:
        children = list(expr.iter_child_nodes())
    return next((n for n in (_raw_feed(c, feed) for c in children) if n is not None), None)


def _lint(name: str, tree: nodes.Template) -> list[tuple[nodes.Node, str]]:
    """Find feed text a Markdown template prints unescaped or an HTML template marks safe."""
    found: list[tuple[nodes.Node, str]] = []
    if name.endswith(".html.j2"):
        for mod in tree.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier)):
            if any(k.key == "autoescape" for k in mod.options):
                found.append((mod, "autoescape cannot be changed in an HTML template"))
        for flt in tree.find_all(nodes.Filter):
            culprit = _raw_feed(flt.node, _FEED_NAMES) if flt.name == "safe" and flt.node else None
            if culprit is not None:
                found.append((culprit, "|safe on feed text turns off HTML escaping"))
    elif name.endswith(".markdown.j2"):
        feed = set(_FEED_NAMES)
        for loop in tree.find_all(nodes.For):
            if _raw_feed(loop.iter, frozenset(feed)) is not None:
                feed |= {n.name for n in loop.target.find_all(nodes.Name)}
                if isinstance(loop.target, nodes.Name):
                    feed.add(loop.target.name)
        for out in tree.find_all(nodes.Output):
            for expr in out.nodes:
                culprit = _raw_feed(expr, frozenset(feed))
                if culprit is not None:
                    found.append((culprit, "feed text printed without |md in a Markdown template"))
    return found


def _node_column(source: str, node: nodes.Node) -> int:
    """Return the column of a Name or Getattr node on its line, preferring print statements."""
    lines = source.splitlines()
    text = lines[node.lineno - 1] if 1 <= node.lineno <= len(lines) else ""
    if isinstance(node, nodes.Getattr):
        pattern = re.compile(rf"\.\s*(?P<name>{re.escape(node.attr)})\b")
    elif isinstance(node, nodes.Name):
        pattern = re.compile(rf"(?<![\w.])(?P<name>{re.escape(node.name)})\b")
    else:
        found = _OPENER.search(text)
        return found.start() + 1 if found else 1
    for tag in re.finditer(r"\{\{.*?\}\}", text):
        inside = pattern.search(text, tag.start(), tag.end())
        if inside is not None:
            return inside.start("name") + 1
    found = pattern.search(text)
    return found.start("name") + 1 if found else _column(source, node.lineno)


class _Generator(CodeGenerator):
    """Jinja's code generator that also collects the undeclared variables on the way.

    What ``jinja2.meta.find_undeclared_variables`` finds, without a second pass over the tree.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.undeclared: set[str] = set()

    def enter_frame(self, frame: Frame) -> None:
        super().enter_frame(frame)
        for _, (action, param) in frame.symbols.loads.items():
            if action == "resolve" and param not in self.environment.globals:
                self.undeclared.add(param)


class TemplateSet:
    """Jinja2 templates in a SandboxedEnvironment, one per (transition, format), with overrides.

    Loading parses every template once, checks it and translates it to Python source, which
    finds every error a full compile finds; the bytecode is compiled on first render only.
    """

    def __init__(self, sources: dict[str, _Source], problems: list[Problem]) -> None:
        self._sources = sources
        self._by_path = {str(s.path): s for s in sources.values()}
        served = dict(sources)
        self._env = _environment(_Loader(served))
        # The generated Python source of every usable template, and the compiled templates.
        self._code: dict[str, str] = {}
        self._templates: dict[str, jinja2.Template] = {}
        self._problems = list(problems)
        self._known = set(_sample_context("open").variables()) | set(self._env.globals)
        for name in sorted(sources):
            src = sources[name]
            try:
                tree = self._env.parse(src.text, name, str(src.path))
                known, lint = self._known_names(name, tree), self._lint_problems(name, tree)
                code = io.StringIO()
                generator = _Generator(
                    self._env, name, str(src.path), code, optimized=self._env.optimized
                )
                generator.visit(tree)
            except jinja2.TemplateSyntaxError as exc:
                line = exc.lineno or 1
                col = _column(src.text, line, exc.message or "")
                self._problems.append(Problem(src.shown, line, col, exc.message or str(exc)))
                del served[name]
                continue
            found = lint + self._undeclared(name, tree, generator.undeclared - known)
            self._problems.extend(found)
            if any(p.message in _HINTS for p in found):  # unsafe: not used, not even by include
                del served[name]
                continue
            self._code[name] = code.getvalue()
        if self._env.cache is not None:
            self._env.cache.clear()

    @classmethod
    def load(cls, directory: Path | None) -> tuple[TemplateSet, list[Problem]]:
        """Load the packaged defaults and the overrides in ``directory``, compiling every one."""
        sources = _default_sources()
        problems: list[Problem] = []
        if directory is not None:
            user, problems = _user_sources(directory)
            sources.update(user)
        templates = cls(sources, problems)
        return templates, sorted(templates._problems)

    @classmethod
    def defaults(cls) -> TemplateSet:
        """Return the packaged templates alone (compiled once per process)."""
        return _defaults()

    @property
    def names(self) -> list[str]:
        """Return the names of every usable template."""
        return sorted(self._code)

    def _template(self, name: str) -> jinja2.Template:
        """Return the compiled template ``name``, compiling it on first use."""
        template = self._templates.get(name)
        if template is None:
            # What Environment.get_template does with the source generated at load.
            code = compile(self._code[name], str(self._sources[name].path), "exec")
            template = self._env.template_class.from_code(
                self._env, code, self._env.make_globals(None), lambda: True
            )
            self._templates[name] = template
        return template

    def _known_names(self, name: str, tree: nodes.Template) -> set[str]:
        """Return the variables a template may use: the context's and its own."""
        known = self._known | {"format"}
        if not name.endswith(".title.j2"):
            known.add("title")
        # Names a child template sets or imports at top level are visible in its blocks too.
        known |= {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        for stmt in tree.find_all((nodes.FromImport, nodes.Import, nodes.Macro)):
            if isinstance(stmt, nodes.FromImport):
                known |= {n if isinstance(n, str) else n[1] for n in stmt.names}
            elif isinstance(stmt, nodes.Import):
                known.add(stmt.target)
            elif isinstance(stmt, nodes.Macro):
                known.add(stmt.name)
        return known

    def _lint_problems(self, name: str, tree: nodes.Template) -> list[Problem]:
        """Report feed text printed unescaped (Markdown) or marked safe (HTML)."""
        src = self._sources[name]
        return [
            Problem(src.shown, node.lineno, _node_column(src.text, node), message, _HINTS[message])
            for node, message in _lint(name, tree)
        ]

    def _undeclared(self, name: str, tree: nodes.Template, names: set[str]) -> list[Problem]:
        """Report top-level variables a template uses that no context defines."""
        src = self._sources[name]
        problems: list[Problem] = []
        for missing in sorted(names):
            node = next((n for n in tree.find_all(nodes.Name) if n.name == missing), None)
            line = node.lineno if node is not None else 1
            problems.append(
                Problem(
                    src.shown,
                    line,
                    _column(src.text, line, f"'{missing}' is undefined"),
                    f"'{missing}' is undefined",
                )
            )
        return problems

    def resolve(
        self, name: str, rule_id: str | None = None, channel: str | None = None
    ) -> str | None:
        """Return the template name that serves ``name`` for this rule and channel."""
        candidates = []
        if rule_id and channel:
            candidates.append(f"rules/{rule_id}/channels/{channel}/{name}")
        if rule_id:
            candidates.append(f"rules/{rule_id}/{name}")
        if channel:
            candidates.append(f"channels/{channel}/{name}")
        candidates += [name, DEFAULT_PREFIX + name]
        return next((c for c in candidates if c in self._code), None)

    def _render_one(self, name: str, variables: dict[str, Any]) -> str:
        try:
            return self._template(name).render(variables)
        except Exception as exc:
            raise DeliveryError(str(self._problem(exc, name))) from exc

    def _problem(self, exc: BaseException, name: str) -> Problem:
        """Locate a render error in the template file that raised it."""
        src = self._sources[name]
        line = 0
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename in self._by_path:
                src = self._by_path[frame.filename]
                line = frame.lineno or 0
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if isinstance(exc, jinja2.TemplateNotFound):
            message = f"template not found: {exc.name}"
        col = _column(src.text, line, message) if line else 0
        return Problem(src.shown, line, col, message)

    def render(
        self,
        transition: str,
        fmt: Format,
        context: AlertContext,
        rule_id: str | None = None,
        channel: str | None = None,
    ) -> Message:
        """Render one alert; errors raise DeliveryError naming the template file and line."""
        if transition not in TRANSITIONS:
            raise DeliveryError(f"no templates for transition {transition!r}")
        fmt = Format(fmt)
        if rule_id is None and context.rule is not None:
            rule_id = context.rule.id
        channel = channel or context.channel or None
        variables = context.variables()
        variables["format"] = fmt.value

        def one(kind: str) -> str:
            name = self.resolve(f"{transition}.{kind}.j2", rule_id, channel)
            if name is None:
                raise DeliveryError(f"no usable template for {transition}.{kind}")
            return self._render_one(name, variables)

        title = clip(one("title"), MAX_TITLE)
        variables["title"] = title
        body = one(fmt.value)
        body = clip(body, MAX_SHORT) if fmt is Format.SHORT else body.strip("\n") + "\n"
        if fmt in (Format.TEXT, Format.SHORT):
            text = body
        else:
            variables["format"] = Format.TEXT.value
            text = one(Format.TEXT.value).strip("\n") + "\n"
        return Message(title=title, body=body, format=fmt, text=text)

    def check(self) -> list[Problem]:
        """Return load problems plus errors from test-rendering every template on a sample."""
        problems = list(self._problems)
        for name in sorted(self._code):
            base = name.removeprefix(DEFAULT_PREFIX).rsplit("/", 1)[-1]
            found = _NAME.match(base)
            if found is None:
                continue
            transition, kind = found.group(1), found.group(2)
            variables = _sample_context(transition).variables()
            variables["format"] = Format.TEXT.value if kind == "title" else kind
            if kind != "title":
                variables["title"] = "Sample title"
            try:
                self._template(name).render(variables)
            except Exception as exc:
                problems.append(self._problem(exc, name))
        return sorted(set(problems))


# --- sample context for check() ------------------------------------------------------------

_SAMPLE_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _sample_article() -> ArticleInfo:
    parts = (
        SnippetPart("A magnitude 6.1 ", False),
        SnippetPart("earthquake", True),
        SnippetPart(" struck off the coast early on Sunday, officials said.", False),
    )
    return ArticleInfo(
        title="Strong earthquake strikes off the coast",
        url="https://news.example.com/world/quake?id=1",
        source="example-wire",
        publisher="Example Wire",
        published_at=_SAMPLE_NOW,
        snippet="".join(p.text for p in parts),
        snippet_parts=parts,
        terms=("earthquake",),
    )


def _sample_context(transition: str) -> AlertContext:
    event = EventInfo(
        id=42,
        rule_id="sample-rule",
        state="closed" if transition == "close" else "open",
        title="Strong earthquake strikes off the coast",
        first_seen_at=_SAMPLE_NOW,
        last_seen_at=_SAMPLE_NOW,
        article_count=7,
        source_count=4,
        story_count=2,
        url_for_dashboard="https://monitor.example.com/events/42",
    )
    rule = RuleInfo("sample-rule", "Sample rule", "warning", "A sample rule for checking.")
    article = _sample_article()
    ctx = AlertContext(
        transition=transition,
        event=event,
        rule=rule,
        articles=() if transition == "close" else (article,),
        sources=("example-wire", "other-wire"),
        terms=("earthquake",),
        counts=Counts(2, 1) if transition == "update" else Counts(),
        quiet="48h" if transition == "close" else "",
        channel="sample",
        now=_SAMPLE_NOW,
    )
    if transition != "digest":
        return ctx
    entries = [
        (_SAMPLE_NOW, replace(ctx, transition="open")),
        (_SAMPLE_NOW, replace(ctx, transition="update", counts=Counts(2, 1))),
        (_SAMPLE_NOW, replace(ctx, transition="close", articles=(), quiet="48h")),
    ]
    return build_digest(entries, channel="sample", now=_SAMPLE_NOW)


__all__ = [
    "AlertContext",
    "ArticleInfo",
    "Counts",
    "DigestGroup",
    "DigestItem",
    "EventInfo",
    "Format",
    "Message",
    "RuleInfo",
    "SnippetPart",
    "TemplateSet",
    "article_info",
    "build_context",
    "build_digest",
    "md_escape",
    "md_link",
    "md_url",
    "snippet_parts",
]


@functools.cache
def _defaults() -> TemplateSet:
    return TemplateSet.load(None)[0]
