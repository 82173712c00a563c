"""Turn the bytes of one poll of a feed into Articles: pure, no I/O.

feedparser only ever sees bytes that went through three guards first: the charset is
settled, the prolog is emptied of DOCTYPE, ENTITY, comments and PIs (entity bombs, XXE),
and numeric character references that would crash its loose parser are replaced. All
stored text is plain text; nothing here renders HTML.

Most of the work after feedparser takes shortcuts (simple markup read by regexes, text that
needs no tidying left as it is, links resolved here rather than by feedparser at every
element). Each one hands anything unusual to the general code, and gives exactly what that
code gives; tests/test_normalize.py holds them to it.
"""

from __future__ import annotations

import codecs
import hashlib
import math
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from xml.sax import SAXParseException

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import NonXMLContentType
from feedparser.urls import _urljoin as _feedparser_urljoin
from feedparser.urls import make_safe_absolute_uri

from monitor.digest import content_hash
from monitor.errors import FetchError
from monitor.model import Article, FetchResult
from monitor.text import clean

SUMMARY_CHARS = 500
# Caps what one entry may store and match (RELIABILITY §2.2), whatever the feed sends.
TEXT_CHARS = 64 * 1024
TITLE_CHARS = 1000
# Items kept from one fetch: far more than any news feed carries, few enough that a feed of
# 100,000 tiny items (10 MB) cannot fill the daemon's memory or one transaction.
MAX_ITEMS = 1000
GUID_CHARS = 1024
URL_CHARS = 8 * 1024
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)

TRACKING_PARAMS = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "ocid", "cmpid", "ref_src"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SY_PERIODS = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}
# Codecs that decode any byte string, so a UTF-8 body read with them turns into mojibake.
_LATIN_CODECS = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})
_XML_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# Where feedparser's replace_doctype() takes the root element to start.
_ROOT_START = re.compile(rb"<\w")
_XML_DECLARATION = re.compile(rb"<\?xml\s[^<>]*\?>")
_DECL_TOKEN = re.compile(rb"<!--|<\?|[\"'\[\]>]")
_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_SURROGATES = re.compile("[\ud800-\udfff]")
# Separators between pieces of text, weakest first.
_MARKS = (" ", "\n", "\n\n")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r" *\n[\n ]*")
_TAG = re.compile(r"<[^>]*>?")
# The markup html.parser and this regex read alike, tag for tag: a start or end tag with a
# plain name and plainly written attributes. Anything else sends the fragment to html.parser.
_WS = "[ \t\n\r\f]"
# Possessive (*+): the attribute list is read once, never backtracked into. Plain * kept a
# backtracking point per attribute, about 1 KB per 4 characters of one tag: a 2 MB tag with
# half a million attributes ran a parse worker out of memory (found by a hostile-feed run).
_ATTRIBUTES = (
    rf"(?:{_WS}+[A-Za-z_:][-A-Za-z0-9_:.]*(?:{_WS}*={_WS}*"
    rf"(?:\"[^\"<>]*\"|'[^'<>]*'|[^ \t\n\r\f\"'=<>`/]+(?=[ \t\n\r\f>])))?)*+"
)
_SIMPLE_TAG = re.compile(rf"<(/?)([A-Za-z][A-Za-z0-9]*)({_ATTRIBUTES}){_WS}*(/?)>")
_ANY_TAG = rf"</?[A-Za-z][A-Za-z0-9]*{_ATTRIBUTES}{_WS}*/?>"
_TAG_RUNS = re.compile(rf"({_ANY_TAG}(?:{_ANY_TAG})*+)")  # not (...)+: a leading "<" is fast
# What a run of tags adds, by its text; and two markers: a run that holds <pre> or </pre>,
# and one html.parser must read.
_RUN_MARKS: dict[str, str] = {}
_PRE = "<pre>"
_RAW = "<raw>"
_MARK_RANK = {" ": 0, "\n": 1, "\n\n": 2}
# Separators in a row, as _tidy leaves them: line breaks add up to at most two.
_MARK_SUM = {
    (a, b): "\n\n" if lines > 1 else "\n" if lines else " "
    for a in ("", " ", "\n", "\n\n")
    for b in (" ", "\n", "\n\n")
    for lines in [a.count("\n") + b.count("\n")]
}
# A link or id that feedparser's _urljoin hands back as it is, whatever the base.
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~!$'()*+,=:@%/-]*)?(?:\?[!-\"$-~]+)?\Z"
)
# An absolute http(s) link in a form urlsplit reads as a regex would (for canonical_url).
_PLAIN_LINK = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(/[A-Za-z0-9._~!$'()*+,=:@%/-]*)?"
    r"(?:\?([^#]*))?(?:#.*)?\Z",
    re.DOTALL,
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Searched in lowered bytes: an xml:base (or a bare base attribute, which feedparser
# honours too) anywhere; the start of a guid or id element, an attribute, an rdf:about.
_XML_BASE = re.compile(rb"base\s*=")
_ID_START = re.compile(rb"<(?:[^\s<>/:!?]+:)?(?:guid|id)[\s/>]")
_ATTRIBUTE = re.compile(rb"\s+([^\s=/>]+)\s*=\s*(\"[^\"]*\"|'[^']*')")
_ABOUT = re.compile(rb"[\s:]about\s*=")

# Word lists read better than dozens of quoted strings, hence the SIM905 waivers.
_BLOCK_TAGS = frozenset(
    """address article aside blockquote caption dd details div dl dt fieldset figcaption
    figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary
    table tbody thead tfoot tr ul""".split()  # noqa: SIM905
)
# Elements whose content is code or fallback, never article text.
_SKIP_TAGS = frozenset(
    "script style template noscript iframe object embed svg canvas head title select".split()  # noqa: SIM905
)
# Elements whose content html.parser reads as raw text, in some Python version or other.
_RAW_TEXT_TAGS = _SKIP_TAGS | frozenset(
    "textarea xmp noembed noframes plaintext".split()  # noqa: SIM905
)

Refs = tuple[str, str]


@dataclass(frozen=True)
class NormalizedFeed:
    """The Articles of one feed document and what was noticed while reading it."""

    articles: list[Article]
    warning: str
    ttl: float | None
    title: str
    language: str


def normalize(result: FetchResult) -> NormalizedFeed:
    """Parse the body of ``result`` into Articles, or raise FetchError if it is not a feed."""
    body = result.body
    head = body.lstrip().removeprefix(codecs.BOM_UTF8).lstrip()
    if not head:
        raise FetchError("empty response")
    if head.startswith(b"{"):
        raise FetchError("unsupported format: JSON Feed")
    fetched_at = _utc(result.fetched_at) if result.fetched_at else datetime.now(UTC)
    headers = {k.lower(): v for k, v in result.headers.items()}
    notes: list[str] = []

    data, charset_note = _to_utf8(body, headers)
    if charset_note:
        notes.append(charset_note)
    data = _CHARREF.sub(_safe_charref, strip_prolog(data))
    _refuse_quadratic_markup(data)
    # The body is UTF-8 now; say so, so that feedparser does not decode it a second way.
    headers["content-type"] = "application/xml; charset=utf-8"
    d, entries, refs = _parse(data, headers, result.url)
    malformed = _malformed(d)
    cut = bool(malformed and entries and _ends_inside_an_entry(data))
    if cut:
        # Its text stops where the connection did; the next poll should bring all of it.
        entries, refs = entries[:-1], refs[:-1]
    if not _get(d, "version") and not entries:
        raise FetchError("not a feed (no RSS or Atom elements found)")

    feed: Any = _get(d, "feed")
    feed_title = _title(_str(_get(feed, "title")))
    feed_language = _language(_get(feed, "language"))
    languages: dict[str, str] = {}
    articles: list[Article] = []
    undated = 0
    for entry, (link, ident) in zip(entries, refs, strict=True):
        article, dated = _article(
            entry, link, ident, result, fetched_at, feed_title, feed_language, languages
        )
        # A truncated feed ends in an entry with nothing left to show or match.
        if article.title or article.url or article.text:
            articles.append(article)
            undated += not dated
    if malformed:
        if not articles:
            raise FetchError(
                f"malformed feed ({malformed}): no entries recovered"
                + ("; it ends inside its first entry" if cut else "")
            )
        notes.insert(0, f"malformed feed ({malformed}): {_count(len(articles))} recovered")
    if cut:
        notes.append("it ends inside an entry (cut off?); that entry skipped")
    if len(articles) < len(entries):
        notes.append(f"{_count(len(entries) - len(articles), 'empty entry')} skipped")
    if undated:
        notes.append(
            f"no usable date in {undated} of {_count(len(articles))} (missing, unparseable,"
            " before 1990 or in the future); used the fetch time"
        )
    if len(articles) > MAX_ITEMS:
        notes.append(f"{len(articles):,} items; kept the newest {MAX_ITEMS:,}")
        articles = _newest(articles, MAX_ITEMS)
    return NormalizedFeed(
        articles=articles,
        warning="; ".join(notes),
        ttl=_ttl(feed),
        title=feed_title,
        language=feed_language,
    )


_ENTRY_OPEN = re.compile(rb"<(?:[a-z0-9_.-]+:)?(?:item|entry)[\s>/]")
_ENTRY_CLOSE = re.compile(rb"</(?:[a-z0-9_.-]+:)?(?:item|entry)\s*>")
_ROOT_CLOSE = re.compile(rb"</(?:[a-z0-9_.-]+:)?(?:rss|feed|rdf)\s*>\s*$")


def _ends_inside_an_entry(data: bytes) -> bool:
    """Whether the document stops before its root and its last entry are closed: a body cut
    off in transfer (an HTTP/1.0 server closing early gives no sign of it but this)."""
    tail = data.lower()
    if _ROOT_CLOSE.search(tail):
        return False
    opened = [m.start() for m in _ENTRY_OPEN.finditer(tail)]
    return bool(opened) and _ENTRY_CLOSE.search(tail, opened[-1]) is None


# The XML reader's costs that grow with the square of the input (measured, hostile-feed run):
# the attributes of one element (20,000 took 2.6 s, 40,000 more than the 10 s limit) and the
# namespaces in use (50,000 took 48 s). Real feeds stay far below these limits.
MAX_ATTRIBUTES = 1_000
MAX_NAMESPACES = 1_000
# A tag this long might hold many attributes; shorter ones cannot hold MAX_ATTRIBUTES.
_LONG_TAG = re.compile(rb"<[^<>]{4000,}")
_ASSIGNMENT = re.compile(rb"""=[ \t\r\n]*["']""")
_NAMESPACE = re.compile(rb"""xmlns:[^\s=]+\s*=\s*["']([^"']*)["']""")


def _refuse_quadratic_markup(data: bytes) -> None:
    """Raise FetchError for markup the XML reader would take minutes over."""
    for tag in _LONG_TAG.finditer(data):
        end = data.find(b">", tag.end())
        attributes = len(_ASSIGNMENT.findall(data, tag.start(), len(data) if end < 0 else end))
        if attributes > MAX_ATTRIBUTES:
            raise FetchError(
                f"malformed feed: an element with {attributes:,} attributes"
                f" (more than {MAX_ATTRIBUTES:,})"
            )
    if data.count(b"xmlns:") > MAX_NAMESPACES:
        namespaces = len(set(_NAMESPACE.findall(data)))
        if namespaces > MAX_NAMESPACES:
            raise FetchError(
                f"malformed feed: {namespaces:,} namespaces (more than {MAX_NAMESPACES:,})"
            )


def _newest(articles: list[Article], keep: int) -> list[Article]:
    """Return the ``keep`` newest articles (by date, then by place in the feed), in feed order.

    By date, not by place: some feeds list their oldest item first.
    """
    ranked = sorted(range(len(articles)), key=lambda i: (articles[i].published_at, -i))
    kept = sorted(ranked[-keep:])
    return [articles[i] for i in kept]


def strip_prolog(data: bytes) -> bytes:
    """Return ``data`` with nothing between its XML declaration and its root element."""
    # Not just the DOCTYPE: feedparser looks for <!ENTITY and <!DOCTYPE by line-anchored
    # regexes anywhere before the root, even inside comments and PIs, and its loose parser
    # expands what it finds without limit. An empty prolog leaves nothing to expand or load.
    i = data.find(b"<")
    while 0 <= i < len(data):
        if _ROOT_START.match(data, i):
            break
        if data.startswith(b"<?", i):
            end = data.find(b"?>", i + 2)
            i = len(data) if end < 0 else end + 2
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            i = len(data) if end < 0 else end + 3
        elif data.startswith(b"<!", i):
            i = _declaration_end(data, i + 2)
        else:
            i += 1
        i = data.find(b"<", i)
    declaration = _XML_DECLARATION.match(data)
    root = data[i:] if i >= 0 else b""
    return (declaration.group() + b"\n" + root) if declaration else root


def canonical_url(link: str, base: str) -> str:
    """Return the absolute, tracking-free form of ``link``, or "" unless it is http(s)."""
    # Whitespace and control characters are never part of a link a reader can follow.
    if not link.isprintable() or " " in link:
        link = "".join(ch for ch in "".join(link.split()) if ch.isprintable())
    # urljoin would turn an empty authority ("http://") into the base URL.
    if not link or link.endswith(":") or link.lower().endswith(("://", ":///")):
        return ""
    plain = _PLAIN_LINK.match(link) if _base_ok(base) else None
    if plain and int(plain.group(3) or 0) <= 65535:
        # An absolute link in plain form: urljoin and urlsplit would find these parts.
        scheme, host, port_text, path, query = plain.groups()
        host = host.lower()
        port = int(port_text) if port_text else None
    else:
        try:
            parts = urlsplit(urljoin(base, link))
            scheme = parts.scheme.lower()
            if scheme not in _DEFAULT_PORTS or not parts.hostname:
                return ""
            host = parts.hostname.lower()
            if ":" in host:
                host = f"[{host}]"
            port = parts.port
        except ValueError:
            return ""
        path, query = parts.path, parts.query
    # Any user name or password is dropped: "https://www.reuters.com:443@evil.example/" reads
    # as one site and goes to another, and credentials have no place in an alert.
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if query:
        query = "&".join(p for p in query.split("&") if p and not _is_tracking(p))
    url: str = urlunsplit((scheme, netloc, path or "/", query or "", ""))
    # Longer than any browser or server takes: not a link a reader could follow, only bulk.
    return url if len(url) <= URL_CHARS else ""


def _without_unclosed_comment(html: str) -> str:
    """Cut ``html`` at a comment that never ends: a browser hides the rest, as a comment.

    html.parser hands it on as text, so words a reader never sees were stored and matched.
    """
    start = html.find("<!--")
    while start != -1:
        end = html.find("-->", start + 4)
        if end == -1:
            return html[:start]
        start = html.find("<!--", end + 3)
    return html


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML fragment: paragraphs kept, markup and scripts gone."""
    text = _simple_html_text(html)
    if text is None:
        text = _parsed_html_text(html)
    return _tidy(text)


def _parsed_html_text(html: str) -> str:
    """What _TextExtractor (html.parser) collects from ``html``."""
    html = _without_unclosed_comment(html)
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
        return extractor.text()
    except AssertionError:
        # html.parser rejects some marked sections (<![foo ...); fall back to removing tags.
        return unescape(_TAG.sub(" ", html))


def _html_stored(html: str) -> tuple[str, str | None]:
    """Return _store_text(html_to_text(html)) and, when it comes cheap, its _words."""
    plain = _plain_html_text(html)
    if plain is not None:
        # Already tidy, printable but for line breaks, one space between words: so stored
        # as it is if in NFC, and its words are its lines joined.
        stored = unicodedata.normalize("NFC", plain)
        if stored is plain:
            return plain, plain.replace("\n\n", " ").replace("\n", " ")
        return stored, None
    return _store_text(html_to_text(html)), None


def _plain_html_text(html: str) -> str | None:
    """html_to_text(html) if _simple_html_text reads it and the result is plain, else None.

    Plain: every character printable but line breaks, which come one or two at a time
    between words, and the words are separated by single spaces; _tidy would change
    nothing but the ends.
    """
    if "<" not in html:
        text = unescape(html) if "&" in html else html
        text = text.replace("\n", " ")
        return text.strip() if "  " not in text and text.isprintable() else None
    parts = _TAG_RUNS.split(html)
    texts = parts[0::2]
    joined = "".join(texts)
    if "<" in joined or len(html) > 2 * TEXT_CHARS:
        return None
    marks = _run_marks(parts[1::2])
    if _RAW in marks or _PRE in marks:
        return None
    if "&" in joined:
        texts = [unescape(text) if "&" in text else text for text in texts]
        joined = "".join(texts)
    if "\n" in joined:
        texts = [text.replace("\n", " ") for text in texts]
        joined = "".join(texts)
    if "  " in joined or not joined.isprintable() or "" in texts[1:-1]:
        return None
    # What _tidy would make of the separators: a lone space between two runs gives way to
    # the separator of the second (_TextExtractor._break), which then follows the first's;
    # line breaks in a row add up. Spaces at either end go with strip().
    last = len(marks) - 1
    out = [texts[0].lstrip()]
    mark = ""
    for k, run_mark in enumerate(marks):
        after = texts[k + 1]
        if run_mark:
            mark = _MARK_SUM[mark, run_mark]
        if after == " " and k < last and marks[k + 1]:
            continue
        before = out[-1]
        if k == last:
            after = after.rstrip()
        if before and after:
            if mark:
                if before[-1] == " " or after[0] == " ":
                    return None
            elif before[-1] == " " and after[0] == " ":
                return None
        out.append(mark)
        out.append(after)
        mark = ""
    return "".join(out).strip()


def _simple_html_text(html: str) -> str | None:
    """What _TextExtractor collects from ``html``, or None unless the markup is simple."""
    # The same calls as html.parser would make, in the same order, for markup it and
    # _SIMPLE_TAG read alike (text between tags unescaped as one piece); None sends
    # comments, declarations, stray "<" and raw-text elements to html.parser itself.
    if "<" not in html:
        data = unescape(html) if "&" in html else html
        return data.replace("\n", " ")
    # Text and runs of adjacent tags alternate. A run adds at most one separator, the
    # strongest of its tags' (the rest merge into it), and between two runs there is text.
    parts = _TAG_RUNS.split(html)
    texts = parts[0::2]
    if "<" in "".join(texts):
        return None
    marks = _run_marks(parts[1::2])
    if _RAW in marks:
        return None
    if _PRE in marks or len(html) > 2 * TEXT_CHARS:
        return _tag_by_tag(html)
    if "&" in html:
        texts = [unescape(text) if "&" in text else text for text in texts]
    texts = [text.replace("\n", " ") for text in texts]
    if " " in texts:
        # A lone space is taken for a separator and merged with the next one.
        return _tag_by_tag(html)
    parts[0::2] = texts
    parts[1::2] = marks
    return "".join(parts)


def _run_marks(runs: list[str]) -> list[str]:
    """The separator each run of adjacent tags adds, from _RUN_MARKS where known."""
    known = _RUN_MARKS.get
    return [_run_mark(run) if (mark := known(run)) is None else mark for run in runs]


def _run_mark(run: str) -> str:
    """The separator a run of adjacent tags adds ("" for none), or _PRE or _RAW."""
    best = ""
    for m in _SIMPLE_TAG.finditer(run):
        closing, tag, attrs, empty = m.groups()
        tag = tag.lower()
        if tag in _RAW_TEXT_TAGS or (closing and (attrs or empty)):
            best = _RAW
            break
        if tag == "pre":
            best = _PRE
            break
        mark = _tag_mark(closing, tag, empty)
        if mark and (not best or _MARK_RANK[mark] > _MARK_RANK[best]):
            best = mark
    if len(_RUN_MARKS) >= 4096:
        _RUN_MARKS.clear()
    _RUN_MARKS[run] = best
    return best


def _tag_mark(closing: str, tag: str, empty: str) -> str:
    """The separator _TextExtractor adds for one tag (other than pre), or ""."""
    if closing:
        return "\n\n" if tag in _BLOCK_TAGS else ""
    if tag == "br":
        return "\n"
    if tag in _BLOCK_TAGS:
        return "\n\n"
    return " " if tag in ("td", "th") and not empty else ""


def _tag_by_tag(html: str) -> str | None:
    """_simple_html_text the long way: one tag at a time, for <pre>, lone spaces, long text."""
    pieces: list[str] = []
    size = 0
    pre = 0
    pos = 0
    for m in _SIMPLE_TAG.finditer(html):
        start = m.start()
        if start > pos:
            added = _add_text(pieces, html[pos:start], pre, size)
            if added is None:
                return None
            size = added
        pos = m.end()
        closing, tag, attrs, empty = m.groups()
        tag = tag.lower()
        if tag in _RAW_TEXT_TAGS or (closing and (attrs or empty)):
            return None
        if tag == "pre" and not empty:
            pre = max(0, pre - 1) if closing else pre + 1
        mark = _tag_mark(closing, tag, empty)
        if not mark:
            continue
        last = pieces[-1] if pieces else ""
        if last in _MARK_RANK:
            if _MARK_RANK[mark] > _MARK_RANK[last]:
                pieces[-1] = mark
        else:
            pieces.append(mark)
    if pos < len(html) and _add_text(pieces, html[pos:], pre, size) is None:
        return None
    return "".join(pieces)


def _add_text(pieces: list[str], data: str, pre: int, size: int) -> int | None:
    """Add one run of text between tags to ``pieces``; return the new size of the text, or
    None when the run holds markup the fast path leaves to the HTML parser."""
    if "<" in data:
        return None
    if size <= 2 * TEXT_CHARS:
        if "&" in data:
            data = unescape(data)
        pieces.append(data if pre else data.replace("\n", " "))
        size += len(data)
    return size


def _tidy(text: str) -> str:
    """Collapse spaces, keep single and double line breaks, and strip ``text``."""
    # Each substitution is skipped where it could change nothing.
    if "  " in text or not text.replace("\n", "").isprintable():
        text = _SPACES.sub(" ", text)
    if " \n" in text or "\n " in text or "\n\n\n" in text:
        text = _BLANK_LINES.sub(_paragraph_break, text)
    return text.strip()


def _article(
    entry: Any,
    link: str,
    ident: str,
    result: FetchResult,
    fetched_at: datetime,
    publisher: str,
    feed_language: str,
    languages: dict[str, str],
) -> tuple[Article, bool]:
    """Build one Article; the flag says whether the entry had a usable date."""
    title = _title(_str(_get(entry, "title")))
    url = canonical_url(link, result.url)
    summary_html, summary_type = _detail(_get(entry, "summary_detail"), _get(entry, "summary"))
    content_html, content_type = "", ""
    for content in _get(entry, "content") or []:
        content_html, content_type = _detail(content, _get(content, "value"))
        if content_html.strip() and _is_text_type(content_type):
            break
        content_html, content_type = "", ""
    summary_text, summary_words = _to_text(summary_html, summary_type)
    text, words = _to_text(content_html, content_type)
    if not text:
        text, words = summary_text, summary_words
    if len(text) > TEXT_CHARS:
        text, words = _truncate(text, TEXT_CHARS), None
    if not summary_text:
        summary_text, summary_words = text, words
    # The words are known where _store_text leaves the text as it is.
    summary = (
        _one_line(summary_text, SUMMARY_CHARS)
        if summary_words is None
        else _truncate(summary_words, SUMMARY_CHARS)
    )
    published, date_string = _published(entry, fetched_at)
    guid = _identifier(ident) or url
    if not guid:
        # Without a title, only the text tells description-only items apart (RSS 2.0 allows
        # items that are just a description); with one, a changed text stays an update.
        guid = "sha:" + (
            content_hash(title, date_string) if title else content_hash("", date_string, text)
        )
    elif len(guid) > GUID_CHARS:
        guid = "sha:" + content_hash(guid)
    return (
        Article(
            source_id=result.source_id,
            guid=guid,
            url=url,
            title=title,
            summary=summary,
            text=text,
            published_at=published or fetched_at,
            fetched_at=fetched_at,
            content_hash=_content_hash(title, text, words),
            publisher=publisher,
            language=_entry_language(entry, languages) or feed_language,
        ),
        published is not None,
    )


def _parse(data: bytes, headers: dict[str, str], url: str) -> tuple[Any, list[Any], list[Refs]]:
    """Run feedparser; return its result, the entries, and each entry's (link, id)."""
    # Given the feed's URL, feedparser joins it with itself at every element (a urljoin per
    # tag) just to resolve the few links and ids, which canonical_url joins again anyway.
    # Without an xml:base it is the same URL throughout, so the links and ids feedparser
    # leaves as written can be resolved here as it would have; where that is not certain
    # (see _rebase) the feed is parsed again the old way.
    lowered = data.lower()  # a case-blind regex search is slow; lowering the bytes is not
    if _rebase_ok(url) and not (b"base" in lowered and _XML_BASE.search(lowered)):
        headers.pop("content-location", None)
        try:
            d = _feedparser_parse(data, headers)
        except MemoryError:
            raise
        except Exception:  # the parse below reports it
            pass
        else:
            entries: list[Any] = list(_get(d, "entries") or [])
            refs = _rebase(entries, url, data, lowered, loose=bool(_get(d, "bozo")))
            if refs is not None:
                return d, entries, refs
    headers["content-location"] = url
    try:
        d = _feedparser_parse(data, headers)
    except MemoryError:
        raise
    except Exception as exc:  # a feedparser bug must cost one feed, not the daemon
        raise FetchError(f"feed could not be parsed ({_describe(exc)})") from exc
    entries = list(_get(d, "entries") or [])
    return d, entries, [(_str(_get(e, "link")), _str(_get(e, "id"))) for e in entries]


def _feedparser_parse(data: bytes, headers: dict[str, str]) -> Any:
    return feedparser.parse(
        data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )


@lru_cache(maxsize=64)
def _rebase_ok(url: str) -> bool:
    """Whether links and ids parsed without a base URL can be resolved against ``url`` later."""
    # feedparser's base must stay ``url`` at every element, and it must pass through the
    # per-link fix-ups (&amp; in links) untouched.
    if not url.isascii() or "&" in url or ";" in url:
        return False
    try:
        urlsplit(url)
    except ValueError:
        return False
    return bool(make_safe_absolute_uri(url, url) in ("", url))


def _rebase(
    entries: list[Any], url: str, data: bytes, lowered: bytes, *, loose: bool
) -> list[Refs] | None:
    """Return each entry's (link, id) as feedparser resolves them against ``url``, or None."""
    # A malformed feed went through feedparser's loose parser: it unescapes entities in
    # links and ids after resolving them, and reads attributes more freely than _ATTRIBUTE.
    refs: list[Refs] = []
    ids = "some" if loose else ""
    for entry in entries:
        link = _get(entry, "link")
        if isinstance(link, str):
            link = None if loose and "&" in link else _rebase_link(link, url)
            if link is None:
                return None
        ident = _get(entry, "id")
        if isinstance(ident, str) and ident:
            if loose and "&" in ident:
                return None
            resolved = _resolve(url, ident)
            if resolved != ident:
                # Resolved only if it came from a permalink guid or an Atom id.
                ids = ids or _id_elements(data, lowered)
                if ids == "all" and ident.isascii():
                    ident = resolved
                elif ids != "none":
                    return None
        refs.append((_str(link), _str(ident)))
    return refs


def _id_elements(data: bytes, lowered: bytes) -> str:
    """Whether feedparser resolves "all", "none" or "some" of the ids in ``data``."""
    # It resolves the text of a guid or id element unless the element says isPermaLink
    # with a value other than "true"; an rdf:about never. Only certainty counts.
    resolved = False
    not_resolved = _ABOUT.search(lowered) is not None
    for m in _ID_START.finditer(lowered):
        values = []
        attribute = _ATTRIBUTE.match(lowered, m.end() - 1)
        while attribute:
            name = attribute.group(1)
            if name == b"ispermalink" or name.endswith(b":ispermalink"):
                start, end = attribute.span(2)
                values.append((name, data[start + 1 : end - 1]))
            attribute = _ATTRIBUTE.match(lowered, attribute.end())
        if not values or values == [(b"ispermalink", b"true")]:
            resolved = True
        elif len(values) == 1 and values[0][0] == b"ispermalink" and b"&" not in values[0][1]:
            not_resolved = True
        else:
            return "some"
        if resolved and not_resolved:
            return "some"
    return "all" if resolved else "none"


def _rebase_link(link: str, url: str) -> str | None:
    """Return ``link`` as feedparser with base ``url`` would have stored it, or None."""
    if not link:
        return None  # an Atom href="" would have become the base URL itself
    if "&" in link and (";" in link or link.partition("#")[0].partition("?")[0].endswith("&")):
        # feedparser turns &amp; into & after resolving, and urljoin drops the ";" of an
        # "&amp;" that ends the path before that.
        return None
    if link.isascii():
        return _resolve(url, link)
    # feedparser repairs mojibake after resolving, which dot segments could change.
    return link if _resolve(url, link) == link else None


def _resolve(base: str, link: str) -> str:
    """feedparser's _urljoin(base, link), with shortcuts for links it returns unchanged."""
    if _PLAIN_URL.match(link):
        return link
    m = _SCHEME.match(link)
    if m and not link.startswith("//", m.end()) and m.group(1).lower() != _scheme_of(base):
        return link
    result: str = _feedparser_urljoin(base, link)
    return result


@lru_cache(maxsize=64)
def _scheme_of(url: str) -> str:
    return urlsplit(url).scheme


def _to_utf8(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, str]:
    """Decode ``body`` by feedparser's charset rules, except that valid UTF-8 stays UTF-8."""
    # Only Content-Type: with any other header but no Content-Type feedparser assumes latin-1.
    probe = {"content-type": headers["content-type"]} if "content-type" in headers else {}
    mime, _, params = probe.get("content-type", "").partition(";")
    mime = mime.strip().lower()
    http_charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            http_charset = value.strip().strip("\"'")
    match = _XML_ENCODING.match(body.removeprefix(codecs.BOM_UTF8))
    xml_charset = match.group(1).decode("ascii") if match else ""
    # The charset feedparser picks by RFC 3023, and whether the feed or server named it.
    if mime.startswith("text/"):
        declared, chosen = http_charset, http_charset or "us-ascii"
    elif mime in ("application/xml", "application/xml-dtd") or (
        mime.startswith("application/") and mime.endswith("+xml")
    ):
        declared = http_charset or xml_charset
        chosen = declared or "utf-8"
    else:
        declared = xml_charset
        chosen = declared or "utf-8"
    note = ""
    if _codec(chosen) in _NOT_CHARSETS:
        # Codecs that are not character sets: unicode_escape would turn a written "\x1b" or
        # "\u202e" into the character, punycode and idna are for host names, and UTF-7 is
        # the classic way to smuggle markup past filters (browsers refuse it too).
        as_utf8 = body.decode("utf-8", "replace").encode("utf-8")
        return (
            as_utf8,
            f"charset (declared {declared or chosen} is not a character set; read as UTF-8)",
        )
    if _codec(chosen) == "utf-8" and _mostly_utf8(body):
        # A UTF-8 feed with a stray byte (most often a Windows-1252 quote pasted in):
        # feedparser would read the whole body as some legacy charset and garble every
        # accented letter. Read it as UTF-8, and only the bad bytes as Windows-1252.
        body = body.decode("utf-8", _CP1252_BYTES).encode("utf-8")
        probe = {"content-type": "application/xml; charset=utf-8"}
        note = "charset (invalid UTF-8 bytes read as Windows-1252)"
    if _codec(chosen).startswith(("utf-16", "utf-32")) and _is_utf8_without_nul(body):
        # UTF-16 and UTF-32 text has NUL bytes in any markup; a body without them, valid as
        # UTF-8, was mislabelled (as a UTF-32 label already was, by feedparser).
        probe = {"content-type": "application/xml; charset=utf-8"}
        note = f"charset (declared {declared}, but the body is UTF-8 and was read as such)"
    if _codec(chosen) in _LATIN_CODECS and _is_utf8_not_ascii(body):
        # Valid UTF-8 with non-ASCII bytes is practically never meant as latin-1 (Miniflux
        # makes the same call); reading it as declared would store mojibake.
        probe = {"content-type": "application/xml; charset=utf-8"}
        if declared:
            note = f"charset (declared {declared}, but the body is UTF-8 and was read as such)"
    state: dict[str, Any] = {}
    try:
        data: bytes = convert_to_utf8(probe, body, state)
    except (ValueError, LookupError) as unusable:
        # A charset name Python cannot use ('undefined', 'punycode', bytes that are not
        # text): read the body as UTF-8 and say so, rather than lose the feed.
        data = body.decode("utf-8", "replace").encode("utf-8")
        kind = type(unusable).__name__
        return data, f"charset ({kind}: unusable declared encoding; read as UTF-8)"
    if not state.get("encoding"):
        data = data.decode("utf-8", "replace").encode("utf-8")
    exc = state.get("bozo_exception")
    if exc is not None and not isinstance(exc, NonXMLContentType):
        note = f"charset ({_describe(exc)})"
    return data, note


_UTF8_LETTER = re.compile("[^\\x00-\\x7f\\ufffd]")


def _mostly_utf8(body: bytes) -> bool:
    """Whether ``body`` is UTF-8 text with some invalid bytes (not UTF-16, not all legacy)."""
    if body.isascii() or b"\x00" in body[:1024]:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        # Some real UTF-8 letters, besides the bytes that are not UTF-8.
        return _UTF8_LETTER.search(body.decode("utf-8", "replace")) is not None
    return False


def _cp1252_bytes(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the bytes UTF-8 refused as Windows-1252."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("cp1252", "replace"), error.end


_CP1252_BYTES = "news-monitor-cp1252-bytes"
codecs.register_error(_CP1252_BYTES, _cp1252_bytes)


_NOT_CHARSETS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "utf-7", "undefined"}
)


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_utf8_without_nul(body: bytes) -> bool:
    return b"\x00" not in body[:4096] and _is_utf8(body)


def _is_utf8_not_ascii(body: bytes) -> bool:
    return not body.isascii() and _is_utf8(body)


def _declaration_end(data: bytes, pos: int) -> int:
    """Return the offset just past the ``<!...>`` declaration whose body starts at ``pos``."""
    depth = 0
    while True:
        m = _DECL_TOKEN.search(data, pos)
        if m is None:
            return len(data)
        token = m.group()
        if token in (b'"', b"'"):
            end = data.find(token, m.end())
            pos = len(data) if end < 0 else end + 1
        elif token == b"<!--":
            end = data.find(b"-->", m.end())
            pos = len(data) if end < 0 else end + 3
        elif token == b"<?":
            end = data.find(b"?>", m.end())
            pos = len(data) if end < 0 else end + 2
        elif token == b"[":
            depth, pos = depth + 1, m.end()
        elif token == b"]":
            depth, pos = max(0, depth - 1), m.end()
        elif depth == 0:
            return m.end()
        else:
            pos = m.end()
        if pos >= len(data):
            return len(data)


def _safe_charref(m: re.Match[bytes]) -> bytes:
    """Keep a character reference only if chr() of it can be encoded as UTF-8."""
    hex_digits, digits = m.group(1), m.group(2)
    raw = hex_digits or digits
    # Long digit strings trip int()'s 4300-digit limit inside feedparser's loose parser.
    if len(raw) > 8:
        return b"&#xFFFD;"
    value = int(raw, 16 if hex_digits else 10)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return b"&#xFFFD;"
    return m.group()


def _malformed(d: Any) -> str:
    """Describe the XML error feedparser recovered from, or return ""."""
    exc = _get(d, "bozo_exception") if _get(d, "bozo") else None
    # A wrong Content-Type is the server's habit, not news about this feed.
    if exc is None or isinstance(exc, NonXMLContentType):
        return ""
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    """Name an exception by type and message."""
    # expat's line and column refer to the re-encoded, DOCTYPE-stripped bytes, so a location
    # would point users at the wrong place in their feed.
    message = exc.getMessage() if isinstance(exc, SAXParseException) else str(exc)
    return f"{type(exc).__name__}: {message}"


def _published(entry: Any, fetched_at: datetime) -> tuple[datetime | None, str]:
    """Return the entry's UTC date if plausible, and the raw date string for hashing."""
    date_string = _str(_get(entry, "published") or _get(entry, "updated"))
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = _get(entry, key)
        if not isinstance(parsed, time.struct_time):
            continue
        raw = _str(_get(entry, key.removesuffix("_parsed")))
        if _impossible_offset(raw) or _impossible_iso_date(raw):
            continue
        try:
            when = datetime(*parsed[:6], tzinfo=UTC)
        except ValueError:
            continue
        if EARLIEST <= when <= fetched_at + FUTURE_SLACK:
            return when, date_string
    return None, date_string


# A numeric time-zone offset at the end of a date: "+0900", "-05:00".
_OFFSET = re.compile(r"\d\s*[+-](\d\d):?(\d\d)\s*$")


def _impossible_offset(date_string: str) -> bool:
    """Whether a date ends in an offset no place has: beyond 14 hours, or 60 minutes or more.

    feedparser applies "+25:00" as given, moving the date by a day; such a date is not
    trusted, like an unparseable one.
    """
    found = _OFFSET.search(date_string)
    return found is not None and (int(found[1]) > 14 or int(found[2]) >= 60)


# ISO 8601 dates as feeds write them: "2024-02-30T00:00:00Z", "2024-W53-8".
_ISO_DATE = re.compile(
    r"\s*([+-]?\d+)-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?"
)
_ISO_WEEK = re.compile(r"\s*(\d{4})-?W(\d{1,2})(?:-?(\d))?")


def _impossible_iso_date(date_string: str) -> bool:
    """Whether an ISO 8601 date names a day or time that does not exist.

    feedparser rolls them over into plausible wrong dates ("2024-02-30" became 1 March,
    "10000-01-01" 2010, "2024-13-45T99:99:99Z" 2025); such a date is not trusted, nor is
    any week date.
    """
    if _ISO_WEEK.match(date_string) is not None:
        return True  # feedparser reads even valid week dates wrong ("2025-W01-3": 1 November)
    found = _ISO_DATE.match(date_string)
    if found is None:
        return False
    year = found[1]
    if not year.isdigit() or len(year) != 4:
        return True
    try:
        date(int(year), int(found[2]), int(found[3]))
    except ValueError:
        return True
    if found[4] is None:
        return False
    hour, minute, second = int(found[4]), int(found[5]), int(found[6] or 0)
    return hour > 24 or minute > 59 or second > 60


def _ttl(feed: Any) -> float | None:
    """Return the polling interval the feed asks for, in seconds."""
    minutes = _number(_get(feed, "ttl"))
    if minutes:
        return minutes * 60.0
    period = _str(_get(feed, "sy_updateperiod")).strip().lower()
    frequency = _number(_get(feed, "sy_updatefrequency"))
    if not period and frequency is None:
        return None
    seconds = _SY_PERIODS.get(period or "daily")
    if seconds is None:
        return None
    return seconds / (frequency or 1.0)


def _number(value: Any) -> float | None:
    try:
        number = float(_str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


@lru_cache(maxsize=64)
def _base_ok(base: str) -> bool:
    """Whether urljoin can read ``base`` (it raises on some, and canonical_url gives "")."""
    try:
        urlsplit(base)
    except ValueError:
        return False
    return True


def _is_tracking(param: str) -> bool:
    name = unquote(param.partition("=")[0]).lower()
    return name.startswith("utm_") or name in TRACKING_PARAMS


def _detail(detail: Any, value: Any) -> tuple[str, str]:
    """Return the (value, MIME type) of a feedparser text construct."""
    if detail:
        return _str(_get(detail, "value")), _str(_get(detail, "type"))
    return _str(value), "text/html"


def _to_text(value: str, mime: str) -> tuple[str, str | None]:
    """Return the stored text of a text construct, and its _words if they came cheap."""
    if not value or not _is_text_type(mime):
        # Atom content may be an image, a PDF or any other media type, base64-encoded:
        # that is no text to store or match.
        return "", ""
    if mime == "text/plain":
        return _store_text(_tidy(value.replace("\r", "\n"))), None
    return _html_stored(value)


def _is_text_type(mime: str) -> bool:
    mime = mime.strip().lower()
    return not mime or mime.startswith("text/") or mime.endswith(("+xml", "/xml", "html"))


def _title(html: str) -> str:
    """The text of a title given as HTML, on one line and capped."""
    if not html:
        return ""
    stored, words = _html_stored(html)
    return _truncate(_words(stored) if words is None else words, TITLE_CHARS)


def _store_text(text: str) -> str:
    """Return ``text`` as it may be stored: NFC, no control characters, no lone surrogates."""
    probe = text.replace("\n", "") if "\n" in text else text
    if "\t" in probe or "\r" in probe:
        probe = probe.replace("\t", "").replace("\r", "")
    if probe.isprintable():
        # No surrogate or control character to replace (they are not printable).
        return unicodedata.normalize("NFC", text)
    return clean(_SURROGATES.sub("\ufffd", text))


def _one_line(text: str, limit: int) -> str:
    return _truncate(_words(_store_text(text)), limit)


def _words(text: str) -> str:
    """Return ``" ".join(text.split())``, cheaply when ``text`` is already close to it."""
    flat = text.replace("\n\n", " ").replace("\n", " ") if "\n" in text else text
    if (
        "  " not in flat
        and flat.isprintable()
        and not flat.startswith(" ")
        and not flat.endswith(" ")
    ):
        return flat  # the only whitespace was single spaces and line breaks between words
    return " ".join(text.split())


def _content_hash(title: str, text: str, words: str | None) -> str:
    """monitor.digest.content_hash(title, text), given _words(text) if known."""
    digest = hashlib.sha256()
    for part in (_words(title), _words(text) if words is None else words):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:32]


def _truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _paragraph_break(m: re.Match[str]) -> str:
    return "\n\n" if m.group().count("\n") > 1 else "\n"


def _language(value: Any) -> str:
    return _identifier(_str(value)).lower()[:35]


def _identifier(value: str) -> str:
    """An identifier (guid, language) holds no whitespace control characters at all."""
    text = _store_text(value)
    if text.isprintable():
        return text.strip()
    return "".join(ch for ch in text if ch.isprintable() or ch == " ").strip()


def _entry_language(entry: Any, seen: dict[str, str]) -> str:
    value: Any = None
    for key in ("title_detail", "summary_detail"):
        detail = _get(entry, key)
        if detail and _get(detail, "language"):
            value = _get(detail, "language")
            break
    else:
        value = _get(entry, "language")
    if not isinstance(value, str):
        return _language(value)
    if value not in seen:
        seen[value] = _language(value)
    return seen[value]


def _count(n: int, noun: str = "entry") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun[:-1]}ies"


def _get(container: Any, key: str) -> Any:
    """Read a feedparser field without its deprecated key aliases (updated -> published)."""
    return dict.get(container, key) if isinstance(container, dict) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class _TextExtractor(HTMLParser):
    """Collect the visible text of HTML, marking block boundaries with newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._pieces: list[str] = []
        self._size = 0
        self._skip = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self._break("\n")
        elif tag in _BLOCK_TAGS:
            self._pre += tag == "pre"
            self._break("\n\n")
        elif tag in ("td", "th"):
            self._break(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break("\n")
        elif tag in _BLOCK_TAGS:
            self._break("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._break("\n\n")

    def handle_data(self, data: str) -> None:
        # Stop collecting well past the stored cap so a huge description costs no memory.
        if self._skip or self._size > 2 * TEXT_CHARS:
            return
        self._pieces.append(data if self._pre else data.replace("\n", " "))
        self._size += len(data)

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA["):
            self.handle_data(data[6:])

    def text(self) -> str:
        return "".join(self._pieces)

    def _break(self, mark: str) -> None:
        """Add a separator; of several in a row only the strongest is kept."""
        if self._pieces and self._pieces[-1] in _MARKS:
            self._pieces[-1] = max(self._pieces[-1], mark, key=_MARKS.index)
        else:
            self._pieces.append(mark)
