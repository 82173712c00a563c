"""Alert templates: defaults per format, escaping of feed text, overrides, located errors."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from apprise import NotifyFormat
from apprise.conversion import convert_between

from monitor.alerts.templates import (
    AlertContext,
    Format,
    Message,
    SnippetPart,
    TemplateSet,
    build_context,
    build_digest,
    md_escape,
    md_link,
    snippet_parts,
)
from monitor.errors import DeliveryError
from monitor.model import Article, Hit, Match
from monitor.rules.compile import compile_rules
from monitor.rules.load import parse_rule
from monitor.rules.match import match_article
from monitor.text import snippet
from monitor.yamlsrc import load_text

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRANSITIONS = ("open", "update", "close", "digest")
XSS_TITLE = "Launch <script>alert(1)</script> &lt;b&gt; AT&T"
XSS_TEXT = 'Officials said <img src=x onerror=alert(2)> the missile <a href="javascript:x">hit</a>.'
INJECTION = "{{ 7*191 }} {{ ''.__class__.__mro__ }} {% if true %}yes{% endif %}"


def article(
    title: str = "Missile test over the sea",
    text: str = "The missile flew 400 km before it fell into the sea, officials said.",
    url: str = "https://news.example.com/a?id=1",
    summary: str = "",
) -> Article:
    return Article("wire", "g1", url, title, summary, text, NOW, NOW, "h", "Example Wire")


def match_word(item: Article, word: str, field: str = "text", only: tuple[int, ...] = ()) -> Match:
    """Return a Match with hits on ``word`` in ``field`` (all occurrences, or the ``only`` ones)."""
    text = item.field_text(field)
    spans = [(m.start(), m.end()) for m in re.finditer(re.escape(word), text)]
    if only:
        spans = [spans[i] for i in only]
    hits = tuple(Hit(word, field, s, e, text[s:e]) for s, e in spans)
    lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
    return Match("r1", hits, snippet(text, lo, hi))


def event_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": 7,
        "rule_id": "r1",
        "key": "",
        "state": "open",
        "title": "Missile test over the sea",
        "severity": "critical",
        "first_seen_at": (NOW - timedelta(hours=50)).isoformat(),
        "last_seen_at": (NOW - timedelta(hours=48)).isoformat(),
        "article_count": 5,
        "source_count": 3,
        "story_count": 2,
        "notified_sources": 1,
        "notified_stories": 1,
        "updates": 0,
    }
    row.update(changes)
    return row


def context(transition: str, item: Article | None = None, **row: object) -> AlertContext:
    """Return a realistic context for one transition; digest wraps open, update and close."""
    item = item or article()
    pair = [(item, match_word(item, "missile"))] if item.text.count("missile") else [(item, None)]
    if transition == "digest":
        entries = [
            (NOW - timedelta(hours=3), context("open", item, **row)),
            (NOW - timedelta(hours=1), context("update", item, **row)),
            (NOW, context("close", item, **row)),
        ]
        return build_digest(entries, channel="daily", now=NOW)
    return build_context(
        transition,
        event=event_row(title=item.title, **row),
        rule_name="Missile tests",
        description="Launches and tests of missiles.",
        articles=[] if transition == "close" else pair,
        quiet="48h",
        dashboard_url="https://monitor.example.com/events/7",
        channel="email",
    )


@pytest.fixture(scope="module")
def defaults() -> TemplateSet:
    templates, problems = TemplateSet.load(None)
    assert problems == []
    return templates


def render_all(templates: TemplateSet, item: Article) -> list[Message]:
    return [templates.render(t, fmt, context(t, item)) for t in TRANSITIONS for fmt in Format]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def assert_safe_html(body: str) -> list[tuple[str, dict[str, str]]]:
    parser = Tags()
    parser.feed(body)
    for tag, attrs in parser.tags:
        assert tag not in {"script", "img", "iframe", "object", "embed", "link", "form", "style"}
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "src", tag
            assert "javascript:" not in value.lower(), (tag, name, value)
        if "href" in attrs:
            assert attrs["href"].startswith(("http://", "https://")), attrs["href"]
    assert "<script" not in body.lower()
    assert "<img" not in body.lower()
    return parser.tags


# --- defaults ------------------------------------------------------------------------------


def test_defaults_load_and_check_clean(defaults: TemplateSet) -> None:
    assert defaults.check() == []
    for transition in TRANSITIONS:
        for kind in [*Format, "title"]:
            assert defaults.resolve(f"{transition}.{kind}.j2") == f"default:{transition}.{kind}.j2"


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("transition", TRANSITIONS)
def test_every_default_template_renders(
    defaults: TemplateSet, transition: str, fmt: Format
) -> None:
    message = defaults.render(transition, fmt, context(transition))
    assert message.format is fmt
    assert message.title and "\n" not in message.title and len(message.title) <= 200
    assert message.body.strip() and message.text.strip()
    if fmt is Format.HTML:
        assert message.body.startswith("<!DOCTYPE html>")
        assert_safe_html(message.body)
        assert "<" not in message.text  # the plain-text part carries no markup
    if fmt in (Format.TEXT, Format.SHORT):
        assert message.text == message.body
    if fmt is Format.SHORT:
        assert "\n" not in message.body and len(message.body) <= 200
    if transition != "digest":
        assert "Missile tests" in message.body
    if transition == "update":
        assert message.title == "[critical] Update: Missile tests: 2 more sources, 1 more story"
    if transition == "close":
        assert "48h" in message.body and message.title.startswith("[critical] Closed:")


def test_html_footer_names_rule_and_event(defaults: TemplateSet) -> None:
    body = defaults.render("open", Format.HTML, context("open")).body
    footer = body[body.index("Sent by news-monitor") :]
    assert "r1" in footer and "Event #7" in footer
    assert 'href="https://monitor.example.com/events/7"' in footer
    assert '<mark style="' in body and ">missile</mark>" in body


def test_default_html_templates_use_no_external_resources() -> None:
    folder = Path(__file__).resolve().parent.parent / "monitor/alerts/default_templates"
    for path in folder.glob("*.html.j2"):
        source = path.read_text(encoding="utf-8").lower()
        for needle in ("<img", "src=", "<link", "url(", "<script", "@import", "<style"):
            assert needle not in source, (path.name, needle)


# --- feed text is data ---------------------------------------------------------------------


def test_html_escapes_script_in_title_and_snippet(defaults: TemplateSet) -> None:
    item = article(title=XSS_TITLE, text=XSS_TEXT, url="javascript:alert(3)")
    for transition in TRANSITIONS:
        body = defaults.render(transition, Format.HTML, context(transition, item)).body
        tags = assert_safe_html(body)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "&amp;lt;b&amp;gt; AT&amp;T" in body
        if transition != "close":
            assert "&lt;img src=x onerror=alert(2)&gt;" in body or transition == "digest"
            # the javascript: link is dropped: the title is shown without an anchor
            assert not any(t == "a" and "news.example.com" in a.get("href", "") for t, a in tags)


def test_text_formats_show_feed_markup_literally(defaults: TemplateSet) -> None:
    item = article(title=XSS_TITLE, text=XSS_TEXT, url="javascript:alert(3)")
    message = defaults.render("open", Format.TEXT, context("open", item))
    assert XSS_TITLE in message.body and "<img src=x onerror=alert(2)>" in message.body
    assert "alert(3)" not in message.body and "(no link)" in message.body


def test_markdown_escapes_specials_and_drops_javascript_link(defaults: TemplateSet) -> None:
    title = "*bold* _it_ [x](javascript:alert(1)) #tag <b>hi</b> @channel"
    item = article(title=title, url="javascript:alert(3)")
    body = defaults.render("open", Format.MARKDOWN, context("open", item)).body
    escaped = r"\*bold\* \_it\_ \[x\]\(javascript:alert\(1\)\) \#tag &lt;b&gt;hi&lt;/b&gt;"
    assert escaped in body
    assert "@\u200bchannel" in body and "@channel" not in body
    assert "](javascript" not in body and "(javascript:alert(3))" not in body
    # What apprise makes of it (markdown -> HTML for email-like services) stays inert.
    html = str(convert_between(NotifyFormat.MARKDOWN, NotifyFormat.HTML, body))  # type: ignore[no-untyped-call]
    assert_safe_html(html)
    assert "<b>" not in html


def test_markdown_link_percent_encodes_parentheses() -> None:
    url = "https://en.wikipedia.org/wiki/Foo_(bar) baz"
    assert md_link("Foo (bar)", url) == (
        r"[Foo \(bar\)](https://en.wikipedia.org/wiki/Foo_%28bar%29%20baz)"
    )
    assert md_link("click", "javascript:alert(1)") == "click"
    assert md_link("click", " JavaScript:alert(1)") == "click"
    assert md_escape("1. first\n- second") == r"1\. first - second"
    assert md_escape("- x") == r"\- x"


def test_feed_text_is_never_compiled(defaults: TemplateSet, tmp_path: Path) -> None:
    (tmp_path / "open.text.j2").write_text("{{ article.title }} | {{ article.snippet }}\n")
    user, problems = TemplateSet.load(tmp_path)
    assert problems == []
    item = article(title=INJECTION, text=f"The missile said {INJECTION}.")
    for templates in (defaults, user):
        for message in render_all(templates, item):
            assert "1337" not in message.body and "1337" not in message.title
            assert "<class" not in message.body and "yes" not in message.body.split()
            if message.format is Format.MARKDOWN:
                assert r"\{\{ 7\*191 \}\}" in message.body
            elif message.format is Format.HTML:
                assert "{{ 7*191 }} {{ &#39;&#39;.__class__.__mro__ }}" in message.body
            elif message.title.startswith("Digest") and message.format is Format.SHORT:
                assert "Missile tests" in message.body  # the short digest names rules only
            else:
                assert "{{ 7*191 }}" in message.body + message.title
    assert INJECTION in user.render("open", Format.TEXT, context("open", item)).body


def test_header_injection_title_collapses_to_one_line(
    defaults: TemplateSet, tmp_path: Path
) -> None:
    item = article(title="Headline\r\nBcc: victim@example.invalid\r\nX-Injected: yes")
    for message in render_all(defaults, item):
        assert "\r" not in message.title and "\n" not in message.title
        if message.format is Format.SHORT:
            assert "\n" not in message.body
    assert defaults.render("open", Format.TEXT, context("open", item)).title == (
        "[critical] Missile tests: Headline Bcc: victim@example.invalid X-Injected: yes"
    )
    # Even a user title template that prints a line break yields one line.
    (tmp_path / "open.title.j2").write_text("{{ rule.name }}\r\nBcc: {{ event.id }}\n")
    user, _ = TemplateSet.load(tmp_path)
    assert user.render("open", Format.HTML, context("open", item)).title == "Missile tests Bcc: 7"


# --- overrides -----------------------------------------------------------------------------


def test_override_precedence_rule_over_channel_over_global(tmp_path: Path) -> None:
    for rel, marker in [
        ("open.text.j2", "global"),
        ("channels/chat/open.text.j2", "channel chat"),
        ("rules/r1/open.text.j2", "rule r1"),
        ("rules/r1/channels/chat/open.text.j2", "rule r1 on chat"),
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(marker + " {{ event.id }}\n")
    templates, problems = TemplateSet.load(tmp_path)
    assert problems == []
    ctx = context("open")
    other = replace(ctx, rule=replace(ctx.rule, id="r2")) if ctx.rule else ctx

    def body(c: AlertContext, channel: str | None) -> str:
        return templates.render("open", Format.TEXT, c, channel=channel).body.strip()

    assert body(ctx, "chat") == "rule r1 on chat 7"
    assert body(ctx, "email") == "rule r1 7"
    assert body(other, "chat") == "channel chat 7"
    assert body(other, "email") == "global 7"
    assert templates.render("open", Format.TEXT, ctx, rule_id="r9", channel="x").body.strip() == (
        "global 7"
    )
    # formats without an override still come from the defaults
    assert templates.render("open", Format.HTML, other).body.startswith("<!DOCTYPE html>")


def test_override_can_extend_a_default(tmp_path: Path) -> None:
    (tmp_path / "open.html.j2").write_text(
        '{% extends "default:open.html.j2" %}\n{% block banner %}Heads up{% endblock %}\n'
    )
    templates, problems = TemplateSet.load(tmp_path)
    assert problems == [] and templates.check() == []
    body = templates.render("open", Format.HTML, context("open")).body
    assert ">Heads up</div>" in body and "Missile tests" in body


def test_unknown_template_name_is_reported(tmp_path: Path) -> None:
    (tmp_path / "opne.text.j2").write_text("x")
    (tmp_path / "_partial.text.j2").write_text("x")
    (tmp_path / "README.md").write_text("not a template")
    _, problems = TemplateSet.load(tmp_path)
    assert [(Path(p.file).name, p.message) for p in problems] == [
        ("opne.text.j2", "unknown template name")
    ]


def test_unescaped_feed_text_in_user_templates_is_refused(tmp_path: Path) -> None:
    (tmp_path / "open.markdown.j2").write_text("**{{ rule.name }}**\n{{ article.title }}\n")
    (tmp_path / "open.html.j2").write_text("<p>{{ article.snippet|safe }} {{ '<b>'|safe }}</p>\n")
    (tmp_path / "_m.markdown.j2").write_text(
        "{% macro row(a) %}{% for t, hit in a.snippet_parts %}{{ t }}{% endfor %}{% endmacro %}\n"
    )
    (tmp_path / "update.markdown.j2").write_text(
        '{% from "_m.markdown.j2" import row %}{{ row(article) }} {{ event.id }}\n'
    )
    templates, problems = TemplateSet.load(tmp_path)
    assert [(Path(p.file).name, p.line, p.col, p.message) for p in problems] == [
        ("_m.markdown.j2", 1, 57, "feed text printed without |md in a Markdown template"),
        ("open.html.j2", 1, 15, "|safe on feed text turns off HTML escaping"),
        ("open.markdown.j2", 2, 12, "feed text printed without |md in a Markdown template"),
    ]
    item = article(title="*raw* <img src=x onerror=alert(1)>")
    # The refused templates are not used: the escaping defaults serve instead.
    md = templates.render("open", Format.MARKDOWN, context("open", item)).body
    assert r"\*raw\* &lt;img" in md
    assert_safe_html(templates.render("open", Format.HTML, context("open", item)).body)
    # A template importing a refused partial fails loudly instead of printing raw text.
    with pytest.raises(DeliveryError, match=r"update\.markdown\.j2:1:\d+: .*_m\.markdown\.j2"):
        templates.render("update", Format.MARKDOWN, context("update", item))


# --- located errors ------------------------------------------------------------------------


def test_syntax_error_is_a_problem_with_file_line_col(tmp_path: Path) -> None:
    folder = tmp_path / "rules" / "r1"
    folder.mkdir(parents=True)
    (folder / "open.text.j2").write_text("Line one\nLine {{ event.id }} two\n  {{ event.id + }}\n")
    (tmp_path / "close.text.j2").write_text("ok {{ quiet }}\n{{ quiet }} and {% iff quiet %}\n")
    (tmp_path / "update.text.j2").write_text("{% if articles %}\nno end\n")
    templates, problems = TemplateSet.load(tmp_path)
    assert sorted((Path(p.file).name, p.line, p.col) for p in problems) == [
        ("close.text.j2", 2, 17),
        ("open.text.j2", 3, 3),
        ("update.text.j2", 2, 7),
    ]
    by_name = {Path(p.file).name: p for p in problems}
    assert by_name["open.text.j2"].file.endswith("rules/r1/open.text.j2")
    assert "unknown tag 'iff'" in by_name["close.text.j2"].message
    assert f"{by_name['open.text.j2'].file}:3:3: " in str(by_name["open.text.j2"])
    # The broken override is skipped: rendering falls back to the packaged default.
    assert templates.check() == sorted(problems)
    assert "New event" in templates.render("open", Format.TEXT, context("open")).body


def test_undefined_variable_is_reported_at_check(tmp_path: Path) -> None:
    (tmp_path / "open.text.j2").write_text("Event\n  id {{ event.idd }}\n")
    (tmp_path / "close.text.j2").write_text(
        "{% if quiet %}\n{{ quiet }}\n{% else %}\n{{ evnt.id }}{% endif %}\n"
    )
    templates, problems = TemplateSet.load(tmp_path)
    # A misspelt variable is found statically, even in a branch the sample does not take.
    assert [(Path(p.file).name, p.line, p.col, p.message) for p in problems] == [
        ("close.text.j2", 4, 4, "'evnt' is undefined")
    ]
    # A misspelt attribute is found by test-rendering a sample context (StrictUndefined).
    found = [p for p in templates.check() if p.file.endswith("open.text.j2")]
    assert [(p.line, p.col) for p in found] == [(2, 15)]
    assert "has no attribute 'idd'" in found[0].message


def test_compile_errors_are_problems_at_load(tmp_path: Path) -> None:
    # Found when the template is translated to Python (not by the parser); the bytecode
    # itself is compiled on first render only, which must not hide them.
    (tmp_path / "open.text.j2").write_text("ok\n{{ event.id|nosuch }}\n")
    (tmp_path / "close.text.j2").write_text(
        "{% block a %}{% endblock %}\n{% block a %}{% endblock %}\n"
    )
    (tmp_path / "update.text.j2").write_text("{% for loop in articles %}{% endfor %}\n")
    templates, problems = TemplateSet.load(tmp_path)
    assert [(Path(p.file).name, p.line, p.col, p.message) for p in problems] == [
        ("close.text.j2", 2, 1, "block 'a' defined twice"),
        ("open.text.j2", 2, 1, "No filter named 'nosuch'."),
        ("update.text.j2", 1, 1, "Can't assign to special loop variable in for-loop target"),
    ]
    assert not {"open.text.j2", "close.text.j2", "update.text.j2"} & set(templates.names)
    assert "New event" in templates.render("open", Format.TEXT, context("open")).body


def test_templates_compile_on_first_render() -> None:
    templates, _ = TemplateSet.load(None)
    assert templates._templates == {}
    templates.render("open", Format.TEXT, context("open"))
    assert sorted(templates._templates) == ["default:open.text.j2", "default:open.title.j2"]


def test_render_error_raises_delivery_error_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "update.text.j2").write_text("Latest\n{{ articles[3].title }}\n")
    templates, problems = TemplateSet.load(tmp_path)
    assert problems == []
    with pytest.raises(DeliveryError, match=r"update\.text\.j2:2:1: tuple object has no element 3"):
        templates.render("update", Format.TEXT, context("update"))


def test_sandbox_blocks_attribute_escapes(tmp_path: Path) -> None:
    (tmp_path / "open.text.j2").write_text(
        "hello\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n"
    )
    (tmp_path / "close.text.j2").write_text("{{ cycler.__init__.__globals__ }}\n")
    (tmp_path / "update.text.j2").write_text("{% set d = {} %}{{ d.update(a=1) }}\n")
    templates, problems = TemplateSet.load(tmp_path)
    assert problems == []
    checked = {Path(p.file).name: p for p in templates.check()}
    assert checked["open.text.j2"].line == 2
    assert "access to attribute '__class__' of 'str' object is unsafe" in (
        checked["open.text.j2"].message
    )
    assert "unsafe" in checked["close.text.j2"].message
    assert "unsafe" in checked["update.text.j2"].message
    with pytest.raises(DeliveryError, match=r"open\.text\.j2:2:\d+: access to attribute"):
        templates.render("open", Format.TEXT, context("open"))


# --- snippets ------------------------------------------------------------------------------


def test_snippet_highlighting_marks_exactly_the_hit_spans() -> None:
    item = article(text="A storm and   another\n storm; storm again.")
    match = match_word(item, "storm", only=(0, 2))
    assert snippet_parts(item, match) == (
        SnippetPart("A ", False),
        SnippetPart("storm", True),
        SnippetPart(" and another storm; ", False),
        SnippetPart("storm", True),
        SnippetPart(" again.", False),
    )


def test_snippet_highlighting_with_the_real_matcher(defaults: TemplateSet) -> None:
    data, located, _ = load_text("match: {all: [missile, launch*], near: 8}\n", "r1.yaml")
    spec, problems = parse_rule(data, located, "r1", ["console"])
    assert spec is not None, problems
    item = article(
        title="Weather report",
        text="Calm seas. Early on Monday the Missile was launched from a barge. Missile news.",
    )
    (match,) = match_article(compile_rules([spec]), item)
    parts = snippet_parts(item, match)
    assert "".join(p.text for p in parts) == match.snippet
    assert [p.text for p in parts if p.is_match] == ["Missile", "launched"]
    body = defaults.render(
        "open", Format.HTML, build_context("open", event=event_row(), articles=[(item, match)])
    ).body
    assert ">Missile</mark> was <mark" in body and ">launched</mark>" in body


def test_snippet_not_in_article_marks_matched_words() -> None:
    item = article(text="Completely different text now.")
    match = Match("r1", (Hit("quake", "text", 50, 55, "Quake"),), "A quake; another QUAKE.")
    assert [p for p in snippet_parts(item, match) if p.is_match] == [
        SnippetPart("quake", True),
        SnippetPart("QUAKE", True),
    ]


# --- short and digest ----------------------------------------------------------------------


def test_short_format_stays_within_200_chars(defaults: TemplateSet, tmp_path: Path) -> None:
    item = article(title="Missile " * 150, text="missile " + "word " * 400)
    for message in render_all(defaults, item):
        assert len(message.title) <= 200
        if message.format is Format.SHORT:
            assert len(message.body) <= 200
            assert message.body.endswith("…") or message.title.startswith(
                ("Digest", "[critical] Cl")
            )
    (tmp_path / "open.short.j2").write_text("{% for a in range(100) %}long text {% endfor %}")
    user, _ = TemplateSet.load(tmp_path)
    assert len(user.render("open", Format.SHORT, context("open")).body) == 200


def test_digest_groups_by_rule_newest_first(defaults: TemplateSet) -> None:
    def at(hours: int, rule: str, title: str) -> tuple[datetime, AlertContext]:
        item = article(title=title)
        ctx = build_context(
            "open", event=event_row(rule_id=rule, title=title), articles=[(item, None)]
        )
        return NOW - timedelta(hours=hours), ctx

    digest = build_digest(
        [at(5, "alpha", "A old"), at(1, "alpha", "A new"), at(3, "beta", "B only")], now=NOW
    )
    assert [g.rule.id for g in digest.digest] == ["alpha", "beta"]
    assert [i.event.title for i in digest.digest[0].items] == ["A new", "A old"]
    text = defaults.render("digest", Format.TEXT, digest).body
    assert text.index("A new") < text.index("A old") < text.index("B only")
    assert defaults.render("digest", Format.TEXT, digest).title == "Digest: 3 alerts from 2 rules"
