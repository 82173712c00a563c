"""Tests for monitor.normalize: golden feeds beside their expected Articles, and edge cases.

Run with UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate change; then read
the diff of tests/data/feeds/*.json before committing it.
"""

from __future__ import annotations

import codecs
import dataclasses
import itertools
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import normalize as normalize_module
from monitor.digest import content_hash
from monitor.errors import FetchError
from monitor.model import FetchResult
from monitor.normalize import (
    NormalizedFeed,
    canonical_url,
    html_to_text,
    normalize,
    strip_prolog,
)
from monitor.text import clean

FEEDS = Path(__file__).parent / "data" / "feeds"
FEED_URL = "http://127.0.0.1/feed.xml"
FETCHED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
XML = {"Content-Type": "application/xml"}


def fetch(body: bytes, headers: dict[str, str] | None = None) -> FetchResult:
    return FetchResult(
        source_id="test",
        url=FEED_URL,
        status=200,
        body=body,
        headers=XML if headers is None else headers,
        fetched_at=FETCHED_AT,
    )


def as_json(feed: NormalizedFeed) -> dict[str, Any]:
    articles = []
    for article in feed.articles:
        row = dataclasses.asdict(article)
        row["published_at"] = article.published_at.isoformat()
        row["fetched_at"] = article.fetched_at.isoformat()
        articles.append(row)
    return {
        "title": feed.title,
        "language": feed.language,
        "ttl": feed.ttl,
        "warning": feed.warning,
        "articles": articles,
    }


GOLDEN = sorted(p.stem for p in FEEDS.glob("*.xml"))


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_feed(name: str) -> None:
    feed = normalize(fetch((FEEDS / f"{name}.xml").read_bytes()))
    actual = as_json(feed)
    expected_path = FEEDS / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        text = json.dumps(actual, ensure_ascii=False, indent=2) + "\n"
        expected_path.write_text(text, encoding="utf-8")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual == expected
    for article in feed.articles:
        assert article.published_at.tzinfo is UTC
        assert article.fetched_at == FETCHED_AT


def test_golden_files_come_in_pairs() -> None:
    assert {p.stem for p in FEEDS.glob("*.json")} == set(GOLDEN)
    assert len(GOLDEN) >= 16


# --- documents that are not feeds ----------------------------------------------------------

HTML_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Welcome</title>
<link rel="stylesheet" href="/s.css"></head>
<body><p>Hello&nbsp;world<br>This is a web page, not a feed.</body></html>
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HTML_PAGE, "not a feed (no RSS or Atom elements found)"),
        (
            b"<html><body><p>well-formed</p></body></html>",
            "not a feed (no RSS or Atom elements found)",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a feed (no RSS or Atom elements found)"),
        (b"just some text", "not a feed (no RSS or Atom elements found)"),
        (b"", "empty response"),
        (b"  \r\n\t ", "empty response"),
        (codecs.BOM_UTF8 + b"\n", "empty response"),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
            "unsupported format: JSON Feed",
        ),
        (codecs.BOM_UTF8 + b'\n  {"version": "x"}', "unsupported format: JSON Feed"),
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>Cut</title><item><ti',
            "malformed feed (SAXParseException: unclosed token): no entries recovered;"
            " it ends inside its first entry",
        ),
    ],
    ids=["html", "xhtml", "png", "text", "empty", "whitespace", "bom", "json", "json-bom", "cut"],
)
def test_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(FetchError) as info:
        normalize(fetch(body))
    assert str(info.value) == message


def test_empty_feed_is_valid() -> None:
    body = b'<rss version="2.0"><channel><title>Quiet</title><ttl>90</ttl></channel></rss>'
    feed = normalize(fetch(body))
    assert (feed.articles, feed.warning, feed.title, feed.ttl) == ([], "", "Quiet", 5400.0)


def test_a_path_or_url_in_the_body_is_never_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text('<rss version="2.0"><channel><title>SECRET-TITLE</title></channel></rss>')
    for body in (str(secret), f"file://{secret}"):
        with pytest.raises(FetchError, match="not a feed"):
            normalize(fetch(body.encode()))


# --- charset ---------------------------------------------------------------------------------

LATIN1_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    "<item><title>Crème brûlée</title><link>http://a.example/1</link>"
    "<pubDate>Wed, 31 Dec 2025 12:00:00 GMT</pubDate></item></channel></rss>"
).encode("latin-1")
UTF8_BODY = LATIN1_BODY.decode("latin-1").encode("utf-8")


@pytest.mark.parametrize(
    ("body", "content_type", "warning"),
    [
        (UTF8_BODY, "text/xml", ""),
        (UTF8_BODY, "application/rss+xml; charset=ISO-8859-1", "charset (declared ISO-8859-1, but"),
        (UTF8_BODY, "text/html; charset=windows-1252", "charset (declared windows-1252, but"),
        (LATIN1_BODY, "application/xml; charset=utf-8", "charset (CharacterEncodingOverride"),
        (LATIN1_BODY, "text/xml; charset=iso-8859-1", ""),
        (UTF8_BODY, "application/rss+xml; charset=utf-16", "charset (declared utf-16, but"),
        (UTF8_BODY, "application/rss+xml; charset=UTF-16LE", "charset (declared UTF-16LE, but"),
    ],
    ids=[
        "text-xml-utf8",
        "header-latin1-utf8",
        "html-cp1252-utf8",
        "header-utf8-latin1",
        "latin1",
        "header-utf16-utf8",
        "header-utf16le-utf8",
    ],
)
def test_http_charset(body: bytes, content_type: str, warning: str) -> None:
    feed = normalize(fetch(body, {"Content-Type": content_type}))
    assert feed.articles[0].title == "Crème brûlée"
    assert feed.warning.startswith(warning) if warning else feed.warning == ""


def test_utf16_feed_has_its_doctype_stripped_too() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?>\n<!DOCTYPE rss [<!ENTITY e "expanded">]>\n'
        '<rss version="2.0"><channel><title>Wide</title><item><title>Größe &e;</title>'
        "</item></channel></rss>"
    )
    feed = normalize(fetch(text.encode("utf-16"), {}))
    assert [a.title for a in feed.articles] == ["Größe &e;"]


def test_declared_entities_stay_literal_but_the_feed_parses() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE feed [\n<!ENTITY id "tag:example.org,2025">\n]>\n'
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title>'
        b"<entry><id>&id;:1</id><title>One</title><updated>2025-12-31T00:00:00Z</updated>"
        b"</entry></feed>"
    )
    feed = normalize(fetch(body))
    assert [a.title for a in feed.articles] == ["One"]
    assert feed.articles[0].guid.endswith("&id;:1")
    assert feed.warning.startswith("malformed feed (SAXParseException: undefined entity")


def test_naive_fetch_time_is_taken_as_utc() -> None:
    result = dataclasses.replace(
        fetch(b'<rss version="2.0"><channel><item><title>x</title></item></channel></rss>'),
        fetched_at=datetime(2026, 1, 2, 3, 4, 5),
    )
    article = normalize(result).articles[0]
    assert article.published_at == article.fetched_at == FETCHED_AT
    assert article.published_at.tzinfo is UTC


def test_long_text_is_capped() -> None:
    words = b"word " * 40_000
    body = b'<rss version="2.0"><channel><item><title>Long</title><description>'
    body += words + b"</description></item></channel></rss>"
    article = normalize(fetch(body)).articles[0]
    assert len(article.text) <= 64 * 1024
    assert article.text.endswith("word…")
    assert len(article.summary) <= 500


# --- building blocks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("/a/b", "http://127.0.0.1/a/b"),
        ("b?x=1", "http://127.0.0.1/b?x=1"),
        ("HTTPS://WWW.Example.COM/Path", "https://www.example.com/Path"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("http://example.com/x#frag", "http://example.com/x"),
        ("http://example.com/?utm_source=a&id=1&utm_medium=b&p=2", "http://example.com/?id=1&p=2"),
        (
            "http://example.com/?FBCLID=1&gclid=2&mc_cid=3&mc_eid=4&ocid=5&cmpid=6&ref_src=7",
            "http://example.com/",
        ),
        ("http://example.com/?b=2&a=1&a=0", "http://example.com/?b=2&a=1&a=0"),
        ("http://example.com/?q=a%20b&utm%5Fsource=x", "http://example.com/?q=a%20b"),
        ("http://user:pw@Example.com/", "http://example.com/"),
        # A user name can make a link read as another site: it is dropped.
        ("https://www.reuters.com:443@evil.example/x", "https://evil.example/x"),
        ("http://www.bbc.co.uk%2Fnews@evil.example/x", "http://evil.example/x"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("  http://example.com/ spaced  ", "http://example.com/spaced"),
        ("javascript:alert(1)", ""),
        ("JAVASCRIPT:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("mailto:a@example.com", ""),
        ("ftp://example.com/f", ""),
        ("http://", ""),
        ("https:", ""),
        ("http://[::1", ""),
        ("http://example.com:99999/", ""),
        ("", ""),
    ],
)
def test_canonical_url(link: str, expected: str) -> None:
    assert canonical_url(link, FEED_URL) == expected


ROOT = b'<rss version="2.0"><channel><title>&a;</title></channel></rss>'
DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"
BIG = b'"' + b"A" * 100 + b'"'


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ROOT, ROOT),
        (DECLARATION + ROOT, DECLARATION + b"\n" + ROOT),
        (
            DECLARATION + b'\n<!DOCTYPE rss SYSTEM "http://x/evil.dtd">\n' + ROOT,
            DECLARATION + b"\n" + ROOT,
        ),
        (b"<!DOCTYPE rss PUBLIC 'p' 'http://x/rss.dtd'>\n" + ROOT, ROOT),
        (b"<!DOCTYPE rss [<!ENTITY a " + BIG + b">]>" + ROOT, ROOT),
        (b"<!DOCTYPE rss [\n  <!ENTITY a \"]><x>\">\n  <!ENTITY b '<rss>'>\n]>" + ROOT, ROOT),
        (b"<!doctype rss [<!-- ]><x> --><?pi ]><x> ?><!ENTITY % p SYSTEM 'f'>%p;]>" + ROOT, ROOT),
        (b"<!ENTITY a " + BIG + b">" + ROOT, ROOT),
        # feedparser would find these by its line-anchored regexes and expand them itself.
        (b"<!--\n<!DOCTYPE x>\n<!ENTITY a " + BIG + b">\n-->" + ROOT, ROOT),
        (b"<?pi\n<!DOCTYPE x>\n<!ENTITY a " + BIG + b">\n?>" + ROOT, ROOT),
        (b"< \n<!DOCTYPE x [\n<!ENTITY a " + BIG + b">\n]>\n<:x/><\xc3\xa9/>" + ROOT, ROOT),
        (b"junk text " + ROOT, ROOT),
        (
            ROOT + b'<!DOCTYPE x [<!ENTITY a "after">]>',
            ROOT + b'<!DOCTYPE x [<!ENTITY a "after">]>',
        ),
        (b'<!DOCTYPE rss [<!ENTITY a "unterminated' + ROOT, b""),
        (b"<!-- unterminated" + ROOT, b""),
        (b"no element at all", b""),
    ],
    ids=[
        "none",
        "declaration",
        "system",
        "public",
        "subset",
        "quoted-markup",
        "comment-pi-pe",
        "stray-entity",
        "entity-in-comment",
        "entity-in-pi",
        "junk-then-doctype",
        "junk-text",
        "after-root",
        "unterminated-literal",
        "unterminated-comment",
        "no-element",
    ],
)
def test_strip_prolog(data: bytes, expected: bytes) -> None:
    assert strip_prolog(data) == expected


def test_entities_smuggled_past_the_doctype_are_not_expanded() -> None:
    literal = b"A" * 10_000
    for prolog in (b"<!--\n<!DOCTYPE x>\n", b"<?pi\n<!DOCTYPE x>\n", b"< \n<!DOCTYPE x [\n"):
        closing = {b"<!": b"-->", b"<?": b"?>", b"< ": b"]>"}[prolog[:2]]
        body = (
            b'<?xml version="1.0"?>\n'
            + prolog
            + b'<!ENTITY big "'
            + literal
            + b'">\n'
            + closing
            + b'<rss version="2.0"><channel><item><title>x</title><description>'
            + b"&big;" * 500
            + b"</description></item></channel></rss>"
        )
        text = normalize(fetch(body)).articles[0].text
        assert text.startswith("&big;&big;")
        assert "AAAA" not in text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One  two\nthree</p><p>Four<br>five</p>", "One two three\n\nFour\nfive"),
        ("<script>var a = '<p>';</script><style>p {}</style>Visible", "Visible"),
        ("<noscript>Enable JS</noscript><iframe>frame</iframe>Text", "Text"),
        ("&amp;lt; &eacute;&#233;&#xE9; &nbsp;x", "&lt; ééé x"),
        (
            "<ul><li>a</li><li>b</li></ul><table><tr><td>c</td><td>d</td></tr></table>",
            "a\n\nb\n\nc d",
        ),
        ("Why x<y matters", "Why x<y matters"),
        ("<![CDATA[in cdata]]> after", "in cdata after"),
        ("<![bogus marked section <b>bold</b>", "bold"),
        ("<div>" * 5000 + "deep" + "</div>" * 5000, "deep"),
        ("", ""),
        # A comment that never ends hides the rest, as in a browser (hostile-feed run).
        ("<p>Shown</p><!-- x --><p>too</p><!-- <p>never shown", "Shown\n\ntoo"),
    ],
    ids=[
        "paragraphs",
        "script",
        "fallbacks",
        "entities",
        "lists",
        "lt",
        "cdata",
        "marked",
        "deep",
        "empty",
        "unclosed-comment",
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


# --- fast paths: each must give what the general code gives ------------------------------
#
# normalize() reads most markup, links and text by shortcuts (regexes, cached runs of tags,
# links resolved after feedparser instead of by it). Each shortcut falls back to the general
# code for anything unusual; these tests hold the two to the same output.

FAST = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HTML_TOKENS = [
    "word", "Two words", " ", "  ", "\n", "\n\n", "\t", "\r", "\xa0", "a ", " a", "é", "e\u0301",
    "“q”", "\u200b", "\x01", "\ud800", "&amp;", "&lt;b&gt;", "&nbsp;", "&#10;", "&#13;", "&#1;",
    "&#8217;", "&bogus;", "&", "<", " < ", ">", "<p>", "</p>", "<P class='x'>", "<br>", "<br/>",
    "<BR />", "<div\n id=a>", "</div >", "<pre>", "</pre>", "<pre/>", "<td>", "</td>", "<th/>",
    "<li>", "<b>", "</b>", "<a href=x>", "<a href=/x/>", "<a title=\"a>b\">", "<hr/>", "</br>",
    "</p class=x>", "<o:p>", "<script>x<p>y</script>", "<style>p{}</style>", "<title>t</title>",
    "<textarea><b></textarea>", "<!-- c -->", "<![CDATA[c]]>", "<![if x]>", "<?pi?>", "</>",
]  # fmt: skip
html_fragments = st.lists(st.sampled_from(HTML_TOKENS), max_size=16).map("".join)


def _general_html(html: str) -> str:
    return normalize_module._tidy(normalize_module._parsed_html_text(html))


def _check_html(html: str) -> None:
    expected = _general_html(html)
    assert html_to_text(html) == expected
    stored, words = normalize_module._html_stored(html)
    assert stored == normalize_module._store_text(expected)
    if words is not None:
        assert words == " ".join(stored.split())
        assert normalize_module._store_text(stored) == stored


@FAST
@given(html=html_fragments | st.text(max_size=40))
def test_html_shortcuts_read_like_html_parser(html: str) -> None:
    _check_html(html)


def test_html_shortcuts_on_every_short_sequence() -> None:
    tokens = ["a", " ", "a ", "\n", "<p>", "<br>", "<b>", "<td>", "&#1;", "&amp;", "</pre>"]
    for length in range(5):
        for combo in itertools.product(tokens, repeat=length):
            _check_html("".join(combo))


@pytest.mark.parametrize(
    "html",
    [
        "<p>One</p>\n<p>Two</p>\n",
        "a<br> <br>b",
        "a<br><br>b",
        "a</p> <br>b",
        "<p>The post <a href='https://x.example/a?b=1&amp;c=2'>A&#8217;s</a> appeared.</p>",
        "<pre>a\n\n b</pre><p> c </p>",
        "<td>a</td><td>b</td>",
        "x" * (2 * 64 * 1024) + "<p>" + "y" * 10,
    ],
)
def test_html_shortcuts_examples(html: str) -> None:
    _check_html(html)


@FAST
@given(text=st.lists(st.sampled_from(HTML_TOKENS[:24]), max_size=12).map("".join))
def test_text_shortcuts(text: str) -> None:
    assert normalize_module._words(text) == " ".join(text.split())
    assert normalize_module._store_text(text) == clean(re.sub("[\ud800-\udfff]", "\ufffd", text))
    stored = normalize_module._store_text(text)
    assert (
        normalize_module._identifier(text)
        == "".join(ch for ch in stored if ch.isprintable() or ch == " ").strip()
    )
    words = normalize_module._words(stored)
    for known in (None, words):
        assert normalize_module._content_hash(words, stored, known) == content_hash(words, stored)


LINKS = [
    "http://a.example/x", "https://A.example:443/p?q=1&utm_source=z#f", "http://h:080/x",
    "http://h:99999/", "/rel/path", "rel", "", " ", "//cdn.x/y", "http:", "https://", "http:///x",
    "javascript:alert(1)", "urn:uuid:1", "tag:x,2005:/a", "?q=1", "#f", "..", "../a/./b",
    "http://h/a;b", "http://h/a&b;", "a&amp;", "http://h/a&amp;?b", "a&lt;b", "http://h/é",
    "http://h/éa&amp;", "http://[::1]/", "http://[::1", "http://u:p@h/", "HTTP://X/", "http://h/?",
    "http://h/?&&a=1&", "http://h/a b", "mailto:a@b", "ftp://x/y", "a,b://c", "http://h/a&",
]  # fmt: skip
BASES = [FEED_URL, "https://news.example/a/b/rss?x=1", "", "HTTP://Example.COM:80/x/"]


@pytest.mark.parametrize("base", BASES)
def test_canonical_url_shortcut(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    links = LINKS + [a + b for a, b in itertools.product(LINKS, repeat=2)]
    fast = [canonical_url(link, base) for link in links]
    monkeypatch.setattr(normalize_module, "_PLAIN_LINK", re.compile("(?!)"))
    assert fast == [canonical_url(link, base) for link in links]


ENTRY_KINDS = [
    "<item><title>t</title><link>{v}</link></item>",
    "<item><title>t</title><guid>{v}</guid></item>",
    '<item><title>t</title><guid isPermaLink="false">{v}</guid></item>',
    "<item><title>t</title><link>{v}</link><guid>{v}</guid></item>",
    '<item rdf:about="{v}"><title>t</title></item>',
    '<entry><title>t</title><link href="{v}"/></entry>',
    "<entry><title>t</title><id>{v}</id></entry>",
    '<entry xml:base="http://other.example/d/"><title>t</title><link href="{v}"/></entry>',
]
RSS_HEAD = '<rss version="2.0" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><channel>'
ATOM_HEAD = '<feed xmlns="http://www.w3.org/2005/Atom">'


def _link_feeds() -> list[bytes]:
    feeds = []
    for value in LINKS + [a + b for a, b in itertools.product(LINKS[::3], LINKS[1::3])]:
        for escaped in (value, value.replace("&", "&amp;")):
            xml = escaped.replace("<", "&lt;").replace('"', "&quot;")
            for kind in ENTRY_KINDS:
                atom = kind.startswith("<entry")
                head, tail = (ATOM_HEAD, "</feed>") if atom else (RSS_HEAD, "</channel></rss>")
                feeds.append((head + kind.format(v=xml) + tail).encode())
    return feeds


@pytest.mark.parametrize("base", BASES)
def test_links_resolved_after_feedparser_as_feedparser_would(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Links and ids parsed without a base URL come out as feedparser resolves them."""
    feeds = _link_feeds() + [p.read_bytes() for p in sorted(FEEDS.glob("*.xml"))]

    def run() -> list[Any]:
        out: list[Any] = []
        for body in feeds:
            result = dataclasses.replace(fetch(body), url=base)
            try:
                out.append(as_json(normalize(result)))
            except FetchError as exc:
                out.append(str(exc))
        return out

    fast = run()
    monkeypatch.setattr(normalize_module, "_rebase_ok", lambda url: False)
    assert fast == run()


def _items(*items: str, head: str = RSS_HEAD) -> bytes:
    return (head + "".join(items) + "</channel></rss>").encode()


NOT_PERMALINK = '<item><title>t</title><guid isPermaLink="false">n-1</guid></item>'
PERMALINK = "<item><title>t</title><guid>123</guid></item>"


@pytest.mark.parametrize(
    ("body", "passes", "guid"),
    [
        (_items("<item><link>/a</link><guid>http://x.example/1</guid></item>"), [None], ""),
        (_items(NOT_PERMALINK, NOT_PERMALINK), [None], "n-1"),
        (_items(PERMALINK), [None], "http://127.0.0.1/123"),
        (_items(NOT_PERMALINK, PERMALINK), [None, FEED_URL], "n-1"),
        (_items('<item xml:BASE="/x/"><guid>1</guid></item>'), [FEED_URL], "http://127.0.0.1/x/1"),
        (b'<rss version="2.0"><channel><item><guid>1</guid></item>', [None, FEED_URL], ""),
    ],
    ids=["absolute", "not-permalink", "relative", "mixed", "xml-base", "malformed"],
)
def test_feedparser_parses_again_only_where_links_are_in_doubt(
    body: bytes, passes: list[str | None], guid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []
    parse = normalize_module._feedparser_parse

    def spy(data: bytes, headers: dict[str, str]) -> Any:
        calls.append(headers.get("content-location"))
        return parse(data, headers)

    monkeypatch.setattr(normalize_module, "_feedparser_parse", spy)
    feed = normalize(fetch(body, {"Content-Location": "http://elsewhere.example/"}))
    assert calls == passes
    assert feed.articles[0].guid == guid or not guid


def test_a_feed_of_too_many_items_keeps_the_newest_in_feed_order() -> None:
    # 10 MB of tiny items is 100,000 articles: the fetch keeps MAX_ITEMS, by date, because
    # some feeds list their oldest item first.
    base = datetime(2026, 1, 1, tzinfo=UTC)
    total = normalize_module.MAX_ITEMS + 250
    items = "".join(
        f"<item><guid>g{i}</guid><title>Item {i}</title>"
        f"<pubDate>{(base + timedelta(minutes=i)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
        "</pubDate></item>"
        for i in range(total)
    )
    body = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()
    feed = normalize(fetch(body))
    assert len(feed.articles) == normalize_module.MAX_ITEMS
    assert [a.title for a in feed.articles[:2]] == ["Item 250", "Item 251"]
    assert feed.articles[-1].title == f"Item {total - 1}"
    assert f"{total:,} items; kept the newest {normalize_module.MAX_ITEMS:,}" in feed.warning


def test_a_link_longer_than_any_browser_takes_is_not_kept() -> None:
    long = "http://127.0.0.1/" + "a" * (normalize_module.URL_CHARS + 1)
    assert canonical_url(long, FEED_URL) == ""
    fits = "http://127.0.0.1/" + "a" * 100
    assert canonical_url(fits, FEED_URL) == fits


def test_description_only_items_without_guid_or_link_stay_apart() -> None:
    # Valid RSS 2.0 (an item needs only a title or a description); they were all one article.
    items = "".join(f"<item><description>Note number {i}</description></item>" for i in range(5))
    body = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()
    feed = normalize(fetch(body))
    assert len({a.guid for a in feed.articles}) == 5


def test_a_stray_windows_1252_byte_does_not_garble_a_utf8_feed() -> None:
    # One pasted-in cp1252 quote made the whole body read as ISO-8859-2 (found by a
    # hostile-feed run): every accented letter became mojibake.
    title = "Café crème Ünïcödé ".encode() + b"\x93quoted\x94"
    body = (
        b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
        b"<item><title>" + title + b"</title><description>x</description></item>"
        b"</channel></rss>"
    )
    feed = normalize(fetch(body, {"Content-Type": "application/rss+xml; charset=utf-8"}))
    assert feed.articles[0].title == "Café crème Ünïcödé \u201cquoted\u201d"
    assert "invalid UTF-8 bytes read as Windows-1252" in feed.warning


@pytest.mark.parametrize(
    "charset", ["unicode_escape", "raw-unicode-escape", "UTF-7", "punycode", "idna", "undefined"]
)
def test_codecs_that_are_not_character_sets_are_refused(charset: str) -> None:
    # unicode_escape turned the written text "\\x1b[2J" into a terminal escape and "\\u202e"
    # into a bidi override; UTF-7 smuggles markup ("+ADw-script+AD4-").
    body = (
        "<rss version='2.0'><channel><title>t</title><item><title>A \\x1b[2J \\u202e +ADw-b+AD4-"
        " caf\u00e9</title></item></channel></rss>"
    ).encode()
    feed = normalize(fetch(body, {"Content-Type": f"application/rss+xml; charset={charset}"}))
    assert feed.articles[0].title == "A \\x1b[2J \\u202e +ADw-b+AD4- caf\u00e9"
    assert feed.warning.startswith(
        f"charset (declared {charset} is not a character set; read as UTF-8);"
    )


def test_invisible_format_characters_inside_words_are_not_stored() -> None:
    # A soft hyphen or zero-width space inside a word hid it from every rule (found by a
    # hostile-feed run); joiners that scripts need (U+200C, U+200D) stay.
    title = "North Korea fired a bal\u00adlistic mis\u200bsile \ufeffto\u2060day \u200c"
    body = (
        "<rss version='2.0'><channel><title>t</title><item><title>"
        + title
        + "</title></item></channel></rss>"
    ).encode()
    feed = normalize(fetch(body))
    assert feed.articles[0].title == "North Korea fired a ballistic missile today \u200c"


def test_bidi_overrides_and_tag_characters_are_not_stored() -> None:
    # Third hostile-feed run: a right-to-left override and invisible tag characters (which
    # can carry a hidden message) were stored in titles; inside a word they also hid it.
    title = "Report\u202egpj.exe mis\u2066sile \U000e0049\U000e0047\U000e004enote"
    body = (
        "<rss version='2.0'><channel><title>t</title><item><title>"
        + title
        + "</title><description>a\u202db \U000e0041c</description></item></channel></rss>"
    ).encode()
    article = normalize(fetch(body)).articles[0]
    assert article.title == "Reportgpj.exe missile note"
    assert article.text == "ab c"


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Wed, 31 Dec 2025 12:00:00 +0900", datetime(2025, 12, 31, 3, 0, tzinfo=UTC)),
        ("2025-12-31T12:00:00-05:30", datetime(2025, 12, 31, 17, 30, tzinfo=UTC)),
        ("2025-12-31T12:00:00+14:00", datetime(2025, 12, 30, 22, 0, tzinfo=UTC)),
        # No place is 25 hours or 99 minutes off UTC: the date is not trusted.
        ("Wed, 31 Dec 2025 12:00:00 +2500", FETCHED_AT),
        ("2025-12-31T12:00:00-25:00", FETCHED_AT),
        ("2025-12-31T12:00:00+05:99", FETCHED_AT),
        # Days and times that do not exist were rolled over into plausible wrong dates.
        ("2024-02-30T00:00:00Z", FETCHED_AT),
        ("2024-13-45T99:99:99Z", FETCHED_AT),
        ("10000-01-01T00:00:00Z", FETCHED_AT),
        ("-0001-01-01T00:00:00Z", FETCHED_AT),
        ("2024-W53-8", FETCHED_AT),
        ("2025-12-31T24:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2024-02-29T10:00:00Z", datetime(2024, 2, 29, 10, tzinfo=UTC)),
        ("2025-W01-3", FETCHED_AT),  # feedparser reads even a valid week date as 1 November
    ],
)
def test_impossible_dates_and_offsets_are_not_trusted(date: str, expected: datetime) -> None:
    body = (
        "<rss version='2.0'><channel><title>t</title><item><title>x</title>"
        f"<pubDate>{date}</pubDate></item></channel></rss>"
    ).encode()
    feed = normalize(fetch(body))
    assert feed.articles[0].published_at == expected
    assert ("no usable date" in feed.warning) == (expected == FETCHED_AT)


def test_markup_the_xml_reader_takes_minutes_over_is_refused_at_once() -> None:
    # Found by a hostile-feed run: 40,000 attributes on one element took the XML reader more
    # than the 10 s parse limit, and a feed parsing in just under it was never backed off.
    def feed(item_attrs: str) -> bytes:
        return (
            "<rss version='2.0'><channel><title>t</title>"
            f"<item><title{item_attrs}>T</title><guid>g</guid></item></channel></rss>"
        ).encode()

    many = "".join(f' a{i}="1"' for i in range(1_001))
    with pytest.raises(FetchError) as caught:
        normalize(fetch(feed(many)))
    assert str(caught.value) == "malformed feed: an element with 1,001 attributes (more than 1,000)"
    spread = (
        "<rss version='2.0'><channel><title>t</title>"
        + "".join(f"<item xmlns:n{i}='urn:n:{i}'><n{i}:x>v</n{i}:x></item>" for i in range(1_001))
        + "</channel></rss>"
    ).encode()
    with pytest.raises(FetchError) as caught:
        normalize(fetch(spread))
    assert str(caught.value) == "malformed feed: 1,001 namespaces (more than 1,000)"
    # Below the limits (and a long attribute value, or one namespace declared on every
    # item) nothing changes.
    fine = "".join(f' a{i}="1"' for i in range(999)) + f' long="{"x" * 50_000}"'
    assert [a.title for a in normalize(fetch(feed(fine))).articles] == ["T"]
    again = (
        "<rss version='2.0'><channel><title>t</title>"
        + "".join(
            f"<item xmlns:dc='http://purl.org/dc/elements/1.1/'><title>T{i}</title>"
            f"<guid>g{i}</guid></item>"
            for i in range(1_500)
        )
        + "</channel></rss>"
    ).encode()
    assert len(normalize(fetch(again)).articles) == 1_000  # MAX_ITEMS newest


def test_atom_content_that_is_not_text_is_not_stored_as_text() -> None:
    # Found by a hostile-feed run: base64 PDF or image content was stored (and matched) as the
    # article's text.
    body = (
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>"
        b"<entry><id>urn:1</id><title>Chart</title><summary>The chart of the day.</summary>"
        b"<content type='image/png'>TWlzc2lsZSBsYXVuY2hlZA==</content></entry>"
        b"<entry><id>urn:2</id><title>Report</title>"
        b"<content type='application/pdf'>JVBERi0xLjQK</content>"
        b"<content type='html'>&lt;p&gt;The report.&lt;/p&gt;</content></entry>"
        b"</feed>"
    )
    feed = normalize(fetch(body))
    assert [(a.title, a.text) for a in feed.articles] == [
        ("Chart", "The chart of the day."),
        ("Report", "The report."),
    ]


CUT_HEAD = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
WHOLE = b"<item><guid>a</guid><title>Whole</title><description>All here.</description></item>"


@pytest.mark.parametrize(
    ("body", "titles", "skipped"),
    [
        # Cut inside the last entry: it is skipped, the next poll brings it whole.
        (CUT_HEAD + WHOLE + b"<item><guid>b</guid><title>Cut</title><description>Half", 1, True),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
            b"<entry><id>a</id><title>Whole</title><summary>All here.</summary></entry>"
            b"<entry><id>b</id><title>Cut</title><summary>Ha",
            1,
            True,
        ),
        (
            b'<a:feed xmlns:a="http://www.w3.org/2005/Atom"><a:title>T</a:title>'
            b"<a:entry><a:id>a</a:id><a:title>Whole</a:title></a:entry>"
            b"<a:entry><a:id>b</a:id><a:title>Cut</a:title><a:summary>Ha",
            1,
            True,
        ),
        # Cut between entries: nothing is lost.
        (CUT_HEAD + WHOLE + WHOLE.replace(b">a<", b">b<") + b"\n  </chan", 2, False),
        # Sloppy but whole: items never closed, the root is. Nothing is skipped.
        (
            CUT_HEAD
            + b"<item><guid>a</guid><title>One</title><description>x &nope; y</description>"
            + b"<item><guid>b</guid><title>Two</title><description>z</description>"
            + b"</channel></rss>",
            2,
            False,
        ),
    ],
    ids=["rss", "atom", "atom-prefixed", "between-entries", "unclosed-items-whole-document"],
)
def test_a_body_cut_off_inside_an_entry_loses_only_that_entry(
    body: bytes, titles: int, skipped: bool
) -> None:
    feed = normalize(fetch(body))
    assert len(feed.articles) == titles
    assert all(a.title for a in feed.articles)
    assert ("that entry skipped" in feed.warning) is skipped
