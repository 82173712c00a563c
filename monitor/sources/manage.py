"""Manage feed sources: add them to the config file, export and import them as OPML.

The config file is the single source of truth and users keep comments in it, so it is
never re-serialised. The file is parsed with the project's own YAML loader to learn where
the ``sources:`` list starts and ends, the new items are rendered with PyYAML (the dialect
the daemon reads back) and spliced in as whole lines: every other byte stays as it was.
The result is parsed again and must equal the old settings plus the new items, or nothing
is written.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import os
import re
import stat
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit
from xml.parsers import expat

import yaml
from pydantic import ValidationError

from monitor.clock import parse_duration
from monitor.config import ALLOWED_SCHEMES, SLUG, SourceSpec
from monitor.errors import ConfigError, MonitorError, display_path
from monitor.yamlsrc import Located, load_text

MAX_ID = 64
MAX_OPML_BYTES = 10 * 1024 * 1024
DEFAULT_ID = "feed"

_HOST_PREFIXES = ("www.", "feeds.", "feed.", "rss.")
_FEED_WORDS = frozenset(
    {"rss", "rss2", "feed", "feeds", "atom", "xml", "rdf", "index", "default", "syndication"}
)
_FILE_EXT = re.compile(r"\.(xml|rss|atom|rdf|php|aspx?|cgi|jsp|html?|json)$")
_NOT_SLUG = re.compile(r"[^a-z0-9_.-]+")
_SLUG_EDGE = "-._"
_NULL_KEY_LINE = re.compile(
    r"^(?P<key>\s*(?:sources|\"sources\"|'sources')\s*:)"
    r"(?P<value>\s*(?:~|null|Null|NULL)?)(?P<rest>\s*(?:#.*)?)$"
)
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class ImportReport:
    """What one OPML import added and what it skipped, with the reason."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# --- ids and URLs -------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _slugify(text: str) -> str:
    slug = _NOT_SLUG.sub("-", _ascii(text).lower())
    return re.sub(r"-{2,}", "-", slug).strip(_SLUG_EDGE)


def derive_id(url: str, taken: Collection[str] = ()) -> str:
    """Derive a source id slug from a URL's host and path, unique against ``taken``."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")
    if host and not _slugify(host):  # a non-Latin host: use its punycode form
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    words = [host.replace(".", "-")]
    for segment in unquote(parts.path).split("/"):
        stem = _FILE_EXT.sub("", segment.lower())
        if stem and stem not in _FEED_WORDS:
            words.append(stem)
    base = _slugify("-".join(words))[:MAX_ID].strip(_SLUG_EDGE) or DEFAULT_ID
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = base[: MAX_ID - len(suffix)].strip(_SLUG_EDGE) + suffix
    return candidate


def canonical_url(url: str) -> str:
    """Return the URL with scheme and host lower-cased, no default port, fragment or final /."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    netloc = parts.netloc.lower()
    with contextlib.suppress(ValueError):
        if (scheme, parts.port) in {("http", 80), ("https", 443)}:
            netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def url_problem(url: str) -> str | None:
    """Return why ``url`` cannot be a feed URL, or None when it can."""
    if not url:
        return "the URL is empty"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "the URL contains spaces or control characters"
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ALLOWED_SCHEMES:
        allowed = ", ".join(ALLOWED_SCHEMES)
        if not scheme:
            return f"not an absolute URL (allowed schemes: {allowed})"
        return f"scheme '{scheme}' not allowed (allowed: {allowed})"
    parts = urlsplit(url)
    if not parts.hostname:
        return "the URL has no host"
    try:
        parts.port  # noqa: B018 - only validates the port
    except ValueError:
        return "the URL has an invalid port"
    return None


def _check_every(every: str | None) -> str | None:
    if every is None:
        return None
    try:
        interval = parse_duration(every)
    except ValueError as exc:
        raise MonitorError(f"invalid every {every!r}: {exc}") from exc
    if interval < timedelta(seconds=1):
        raise MonitorError(f"invalid every {every!r}: must be at least 1s")
    return every.strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the config file ------------------------------------------------------------------------


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _list_level_lines(region: list[str], dash: int) -> int:
    """Count the leading lines of a trailing comment block that still belong to the list."""
    count = 0
    for i, line in enumerate(region):
        if not line.strip():
            if dash == 0:
                break  # with items at column 0 only comments right below the list are its own
            continue
        if dash > 0 and _indent(line) < dash:
            break
        count = i + 1
    return count


def _render_items(items: list[dict[str, Any]], dash: int, step: int) -> list[str]:
    """Render items as block-style list lines: dash at column ``dash``, keys ``step`` further."""
    out: list[str] = []
    for item in items:
        text = yaml.safe_dump(
            [item], sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 20
        )
        for j, line in enumerate(text.splitlines()):
            if j == 0:
                out.append(" " * dash + "-" + " " * (step - 1) + line[2:] + "\n")
            else:
                out.append(" " * (dash + step) + line[2:] + "\n")
    return out


def _flow_end(text: str, start: int) -> int:
    """Return the index just past the flow collection that opens at ``text[start]``."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        prev = text[i - 1] if i else " "
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif char in "\"'" and prev in " \t\n[{,:":
            i += 1
            while i < len(text):
                if char == '"' and text[i] == "\\":
                    i += 1
                elif text[i] == char:
                    if char == "'" and text[i + 1 : i + 2] == "'":
                        i += 1
                    else:
                        break
                i += 1
        elif char == "#" and prev in " \t\n":
            while i < len(text) and text[i] != "\n":
                i += 1
        i += 1
    raise MonitorError("unterminated flow list after 'sources:'")


class _ConfigEdit:
    """One config file read for editing: known ids and URLs, and the items to append."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.display = display_path(path)
        try:
            self.raw = path.read_bytes()
        except FileNotFoundError:
            raise MonitorError(f"{self.display}: config file not found") from None
        except OSError as exc:
            raise MonitorError(f"{self.display}: cannot read: {exc.strerror}") from exc
        self.bom = self.raw.startswith(codecs.BOM_UTF8)
        try:
            text = self.raw[len(codecs.BOM_UTF8) if self.bom else 0 :].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MonitorError(f"{self.display}: not UTF-8 text: {exc.reason}") from exc
        self.crlf = "\r\n" in text
        self.text = text.replace("\r\n", "\n")
        data, located, problems = load_text(self.text, self.display)
        if problems:
            raise ConfigError(problems)
        if data is not None and not isinstance(data, dict):
            raise MonitorError(f"{self.display}: the config must be a mapping of keys")
        self.data: dict[str, Any] = data or {}
        self.located: Located = located
        sources = self.data.get("sources")
        if sources is not None and not isinstance(sources, list):
            raise MonitorError(f"{self.display}: 'sources' must be a list")
        self.existing: list[Any] = sources or []
        self.ids: set[str] = set()
        self.urls: dict[str, str] = {}
        for item in self.existing:
            if isinstance(item, dict):
                if "id" in item:
                    self.ids.add(str(item["id"]))
                if isinstance(item.get("url"), str):
                    self.urls.setdefault(canonical_url(item["url"]), str(item.get("id", "?")))
        self.new: list[dict[str, Any]] = []
        self.new_ids: set[str] = set()

    def refusal(self, url: str) -> str | None:
        """Return why ``url`` cannot be added, or None."""
        problem = url_problem(url)
        if problem:
            return problem
        owner = self.urls.get(canonical_url(url))
        if owner is None:
            return None
        if owner in self.new_ids:
            return f"listed more than once (added as '{owner}')"
        return f"already in the config as source '{owner}'"

    def claim_id(self, url: str, wanted: str | None) -> str:
        """Return ``wanted`` after checking it, or derive a free id from ``url``."""
        if wanted is None:
            return derive_id(url, self.ids)
        if not re.fullmatch(SLUG, wanted):
            raise MonitorError(
                f"invalid source id {wanted!r}: use 1-64 of a-z 0-9 _ . - starting with a letter"
                " or digit"
            )
        if wanted in self.ids:
            raise MonitorError(f"source id '{wanted}' is already used in {self.display}")
        return wanted

    def append(self, source_id: str, url: str, every: str | None, publisher: str) -> None:
        """Queue one feed item after validating it with the config schema."""
        item: dict[str, Any] = {"id": source_id, "kind": "feed", "url": url}
        if every is not None:
            item["every"] = every
        if publisher:
            item["publisher"] = publisher
        try:
            SourceSpec.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise MonitorError(f"invalid source {source_id!r}: {where}: {first['msg']}") from exc
        self.new.append(item)
        self.ids.add(source_id)
        self.new_ids.add(source_id)
        self.urls[canonical_url(url)] = source_id

    def render(self) -> str:
        """Return the file text with the queued items spliced into ``sources:``."""
        text = self.text if not self.text or self.text.endswith("\n") else self.text + "\n"
        lines = text.splitlines(keepends=True)
        loc = self.located
        root = loc.values.get(())
        if root and lines[root[0] - 1][root[1] - 1 :].startswith("{"):
            raise MonitorError(
                f"{self.display}: the top-level mapping is in flow style {{...}}; cannot edit it"
            )
        if "sources" not in self.data:
            gap = ["\n"] if lines and lines[-1].strip() else []
            return "".join([*lines, *gap, "sources:\n", *_render_items(self.new, 2, 2)])
        key_line, key_col = (n - 1 for n in loc.keys[("sources",)])
        if self.data["sources"] is None:
            match = _NULL_KEY_LINE.match(lines[key_line].rstrip("\n"))
            if not match:
                raise MonitorError(
                    f"{self.display}:{key_line + 1}: cannot add below this 'sources:'"
                )
            head = (match["key"] + " " * len(match["value"]) + match["rest"]).rstrip() + "\n"
            block = _render_items(self.new, key_col + 2, 2)
            return "".join([*lines[:key_line], head, *block, *lines[key_line + 1 :]])
        value_line, value_col = (n - 1 for n in loc.values[("sources",)])
        if lines[value_line][value_col:].startswith("["):
            return self._render_flow(lines, key_col, value_line, value_col)
        return self._render_block(lines, key_line)

    def _render_flow(self, lines: list[str], key_col: int, value_line: int, value_col: int) -> str:
        start = sum(len(line) for line in lines[:value_line]) + value_col
        text = "".join(lines)
        end = _flow_end(text, start)
        eol = text.index("\n", end)
        rest = text[end:eol].rstrip()
        block = _render_items([*self.existing, *self.new], key_col + 2, 2)
        return text[:start].rstrip(" \t") + rest + "\n" + "".join(block) + text[eol + 1 :]

    def _render_block(self, lines: list[str], key_line: int) -> str:
        loc = self.located
        last_line = loc.values[("sources", len(self.existing) - 1)][0] - 1
        dash, step = self._list_style(lines)
        later = [pos[0] - 1 for path, pos in loc.keys.items() if len(path) == 1]
        boundary = min((n for n in later if n > key_line), default=len(lines))
        start = boundary
        while start > last_line + 1 and _is_blank_or_comment(lines[start - 1]):
            start -= 1
        at = start + _list_level_lines(lines[start:boundary], dash)
        return "".join([*lines[:at], *_render_items(self.new, dash, step), *lines[at:]])

    def _list_style(self, lines: list[str]) -> tuple[int, int]:
        """Return (dash column, key offset from the dash) of the last block-style item."""
        key_col = self.located.keys[("sources",)][1] - 1
        for i in range(len(self.existing) - 1, -1, -1):
            line_no, col = (n - 1 for n in self.located.values[("sources", i)])
            prefix = lines[line_no][:col]
            if prefix.strip() == "-":
                dash = prefix.index("-")
                return dash, max(col - dash, 2)
        return key_col + 2, 2

    def save(self) -> None:
        """Splice, re-check and atomically write the file; write nothing on any doubt."""
        if not self.new:
            return
        text = self.render()
        data, _, problems = load_text(text, self.display)
        expected = {**self.data, "sources": [*self.existing, *self.new]}
        if problems or data != expected:
            raise MonitorError(
                f"{self.display}: could not add sources without changing other settings"
                " (unusual layout around 'sources:'); the file was left unchanged"
            )
        if self.crlf:
            text = text.replace("\n", "\r\n")
        payload = (codecs.BOM_UTF8 if self.bom else b"") + text.encode("utf-8")
        _write_atomic(self.path, payload, expect=self.raw, display=self.display)


def _write_atomic(path: Path, payload: bytes, *, expect: bytes, display: str) -> None:
    """Replace the file through a temp file in the same folder, keeping its mode."""
    target = path.resolve()
    tmp = ""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if target.read_bytes() != expect:
            raise MonitorError(f"{display}: changed on disk while editing; nothing written")
        os.replace(tmp, target)
        tmp = ""
    except OSError as exc:
        raise MonitorError(f"{display}: cannot write: {exc.strerror or exc}") from exc
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def add_source(
    config_path: Path,
    url: str,
    *,
    every: str | None = None,
    source_id: str | None = None,
    publisher: str | None = None,
) -> str:
    """Append one feed source to the config file's ``sources:`` list and return its id."""
    url = url.strip()
    every = _check_every(every)
    edit = _ConfigEdit(config_path)
    refusal = edit.refusal(url)
    if refusal:
        raise MonitorError(f"cannot add {url!r}: {refusal}")
    new_id = edit.claim_id(url, source_id)
    edit.append(new_id, url, every, _one_line(publisher or ""))
    edit.save()
    return new_id


# --- OPML -----------------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def export_opml(
    sources: list[SourceSpec], title: str = "news-monitor sources", *, now: datetime | None = None
) -> str:
    """Render the feed sources as an OPML 2.0 document."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    created = (now or datetime.now(UTC)).astimezone(UTC)
    ET.SubElement(head, "dateCreated").text = format_datetime(created, usegmt=True)
    body = ET.SubElement(root, "body")
    for source in sources:
        if source.kind != "feed" or not source.url:
            continue
        label = _xml_text(source.publisher or source.id)
        attrs = {"type": "rss", "text": label, "title": label, "xmlUrl": _xml_text(source.url)}
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


class _DeclaresEntities(Exception):
    pass


def _refuse_declarations(*_args: object) -> None:
    raise _DeclaresEntities


def _safe_fromstring() -> Callable[[bytes], ET.Element]:
    """Return defusedxml's parser when it is installed, else the standard library's."""
    try:
        module = importlib.import_module("defusedxml.ElementTree")
    except ImportError:
        return ET.fromstring

    def parse(data: bytes) -> ET.Element:
        root: ET.Element = module.fromstring(data, forbid_dtd=True)
        return root

    return parse


def _parse_opml(data: bytes) -> ET.Element:
    if len(data) > MAX_OPML_BYTES:
        raise MonitorError(f"OPML larger than {MAX_OPML_BYTES} bytes")
    refused = MonitorError("OPML must not declare entities")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise refused
    # expat sees declarations in any encoding (UTF-16 too), which the byte test above cannot.
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse_declarations
    checker.EntityDeclHandler = _refuse_declarations
    try:
        checker.Parse(data, True)
        root = _safe_fromstring()(data)
    except _DeclaresEntities:
        raise refused from None
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
        raise MonitorError(
            f"malformed OPML at line {exc.lineno}, column {exc.offset + 1}: {reason}"
        ) from None
    except ET.ParseError as exc:
        line, col = exc.position
        reason = str(exc).split(": line", 1)[0]
        raise MonitorError(f"malformed OPML at line {line}, column {col + 1}: {reason}") from None
    except ValueError as exc:  # defusedxml's refusals
        raise refused from exc
    if _local(root.tag) != "opml":
        raise MonitorError(f"not an OPML document (the root element is <{_local(root.tag)}>)")
    return root


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _outlines(root: ET.Element) -> Iterator[tuple[str | None, str]]:
    """Yield (xmlUrl or None, label) for every feed or stray leaf outline, categories included."""
    for element in root.iter():
        if _local(element.tag) != "outline":
            continue
        attrs = {_local(key): value for key, value in element.attrib.items()}
        label = _one_line(attrs.get("title") or attrs.get("text") or "")
        url = (attrs.get("xmlurl") or "").strip()
        if url:
            yield url, label
        elif len(element) == 0:
            yield None, label


def import_opml(config_path: Path, opml_bytes: bytes, *, every: str | None = None) -> ImportReport:
    """Add every feed of an OPML document to the config file in one write."""
    every = _check_every(every)
    root = _parse_opml(opml_bytes)
    edit = _ConfigEdit(config_path)
    report = ImportReport()
    for url, label in _outlines(root):
        if url is None:
            report.skipped.append(("", f"outline {label!r} has no xmlUrl"))
            continue
        refusal = edit.refusal(url)
        if refusal:
            report.skipped.append((url, refusal))
            continue
        new_id = edit.claim_id(url, None)
        try:
            edit.append(new_id, url, every, label)
        except MonitorError as exc:
            report.skipped.append((url, str(exc)))
            continue
        report.added.append(new_id)
    edit.save()
    return report
