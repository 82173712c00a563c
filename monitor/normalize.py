"""Turn the bytes of one poll of a feed into Articles: pure, no I/O.

feedparser only ever sees bytes that went through three guards first: the charset is
settled, the prolog is emptied of DOCTYPE, ENTITY, comments and PIs (entity bombs, XXE),
and numeric character references that would crash its loose parser are replaced. All
stored text is plain text; nothing here renders HTML.
"""

from __future__ import annotations

import codecs
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from xml.sax import SAXParseException

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import NonXMLContentType

from monitor.digest import content_hash
from monitor.errors import FetchError
from monitor.model import Article, FetchResult
from monitor.text import clean

SUMMARY_CHARS = 500
# Caps what one entry may store and match (RELIABILITY §2.2), whatever the feed sends.
TEXT_CHARS = 64 * 1024
TITLE_CHARS = 1000
GUID_CHARS = 1024
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
    # The body is UTF-8 now; say so, so that feedparser does not decode it a second way.
    headers["content-type"] = "application/xml; charset=utf-8"
    headers["content-location"] = result.url
    try:
        d = feedparser.parse(
            data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except MemoryError:
        raise
    except Exception as exc:  # a feedparser bug must cost one feed, not the daemon
        raise FetchError(f"feed could not be parsed ({_describe(exc)})") from exc

    entries: list[Any] = list(_get(d, "entries") or [])
    malformed = _malformed(d)
    if not _get(d, "version") and not entries:
        raise FetchError("not a feed (no RSS or Atom elements found)")

    feed: Any = _get(d, "feed")
    feed_title = _one_line(_html_to_text(_str(_get(feed, "title"))), TITLE_CHARS)
    feed_language = _language(_get(feed, "language"))
    articles: list[Article] = []
    undated = 0
    for entry in entries:
        article, dated = _article(entry, result, fetched_at, feed_title, feed_language)
        # A truncated feed ends in an entry with nothing left to show or match.
        if article.title or article.url or article.text:
            articles.append(article)
            undated += not dated
    if malformed:
        if not articles:
            raise FetchError(f"malformed feed ({malformed}): no entries recovered")
        notes.insert(0, f"malformed feed ({malformed}): {_count(len(articles))} recovered")
    if len(articles) < len(entries):
        notes.append(f"{_count(len(entries) - len(articles), 'empty entry')} skipped")
    if undated:
        notes.append(
            f"no usable date in {undated} of {_count(len(articles))} (missing, unparseable,"
            " before 1990 or in the future); used the fetch time"
        )
    return NormalizedFeed(
        articles=articles,
        warning="; ".join(notes),
        ttl=_ttl(feed),
        title=feed_title,
        language=feed_language,
    )


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
    link = "".join(ch for ch in "".join(link.split()) if ch.isprintable())
    # urljoin would turn an empty authority ("http://") into the base URL.
    if not link or link.endswith(":") or link.lower().endswith(("://", ":///")):
        return ""
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
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML fragment: paragraphs kept, markup and scripts gone."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
        text = extractor.text()
    except AssertionError:
        # html.parser rejects some marked sections (<![foo ...); fall back to removing tags.
        text = unescape(_TAG.sub(" ", html))
    text = _BLANK_LINES.sub(_paragraph_break, _SPACES.sub(" ", text))
    return text.strip()


def _article(
    entry: Any, result: FetchResult, fetched_at: datetime, publisher: str, feed_language: str
) -> tuple[Article, bool]:
    """Build one Article; the flag says whether the entry had a usable date."""
    title = _one_line(_html_to_text(_str(_get(entry, "title"))), TITLE_CHARS)
    url = canonical_url(_str(_get(entry, "link")), result.url)
    summary_html, summary_type = _detail(_get(entry, "summary_detail"), _get(entry, "summary"))
    content_html, content_type = "", ""
    for content in _get(entry, "content") or []:
        content_html, content_type = _detail(content, _get(content, "value"))
        if content_html.strip():
            break
    summary_text = _to_text(summary_html, summary_type)
    text = _truncate(_to_text(content_html, content_type) or summary_text, TEXT_CHARS)
    published, date_string = _published(entry, fetched_at)
    guid = _identifier(_str(_get(entry, "id"))) or url
    if not guid:
        guid = "sha:" + content_hash(title, date_string)
    elif len(guid) > GUID_CHARS:
        guid = "sha:" + content_hash(guid)
    return (
        Article(
            source_id=result.source_id,
            guid=guid,
            url=url,
            title=title,
            summary=_one_line(summary_text or text, SUMMARY_CHARS),
            text=text,
            published_at=published or fetched_at,
            fetched_at=fetched_at,
            content_hash=content_hash(title, text),
            publisher=publisher,
            language=_entry_language(entry) or feed_language,
        ),
        published is not None,
    )


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


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


def _is_utf8_not_ascii(body: bytes) -> bool:
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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
        try:
            when = datetime(*parsed[:6], tzinfo=UTC)
        except ValueError:
            continue
        if EARLIEST <= when <= fetched_at + FUTURE_SLACK:
            return when, date_string
    return None, date_string


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


def _is_tracking(param: str) -> bool:
    name = unquote(param.partition("=")[0]).lower()
    return name.startswith("utm_") or name in TRACKING_PARAMS


def _detail(detail: Any, value: Any) -> tuple[str, str]:
    """Return the (value, MIME type) of a feedparser text construct."""
    if detail:
        return _str(_get(detail, "value")), _str(_get(detail, "type"))
    return _str(value), "text/html"


def _to_text(value: str, mime: str) -> str:
    if not value:
        return ""
    if mime == "text/plain":
        text = _BLANK_LINES.sub(_paragraph_break, _SPACES.sub(" ", value.replace("\r", "\n")))
        return _store_text(text.strip())
    return _store_text(_html_to_text(value))


def _html_to_text(html: str) -> str:
    return html_to_text(html) if html else ""


def _store_text(text: str) -> str:
    """Return ``text`` as it may be stored: NFC, no control characters, no lone surrogates."""
    return clean(_SURROGATES.sub("\ufffd", text))


def _one_line(text: str, limit: int) -> str:
    return _truncate(" ".join(_store_text(text).split()), limit)


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
    return "".join(ch for ch in _store_text(value) if ch.isprintable() or ch == " ").strip()


def _entry_language(entry: Any) -> str:
    for key in ("title_detail", "summary_detail"):
        detail = _get(entry, key)
        if detail and _get(detail, "language"):
            return _language(_get(detail, "language"))
    return _language(_get(entry, "language"))


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
