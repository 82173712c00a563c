"""Tests for monitor.normalize: golden feeds beside their expected Articles, and edge cases.

Run with UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate change; then read
the diff of tests/data/feeds/*.json before committing it.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import FetchError
from monitor.model import FetchResult
from monitor.normalize import (
    NormalizedFeed,
    canonical_url,
    html_to_text,
    normalize,
    strip_prolog,
)

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
            "malformed feed (SAXParseException: unclosed token): no entries recovered",
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
    ],
    ids=["text-xml-utf8", "header-latin1-utf8", "html-cp1252-utf8", "header-utf8-latin1", "latin1"],
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
        ("http://user:pw@Example.com/", "http://user:pw@example.com/"),
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
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
