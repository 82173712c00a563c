"""The seeds source: article files in a folder, read as data.

A seed file is plain text or Markdown. It may start with YAML front matter between ``---``
lines (``title``, ``url``, ``source``, ``published``). Otherwise the first line is the title
when it reads as one, a dateline such as ``September 18, 2017 Updated: September 20, 2017``
sets ``published_at``, and trailing subscription boilerplate is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from monitor.digest import content_hash
from monitor.errors import Problem
from monitor.model import Article
from monitor.text import clean, sentence_starts
from monitor.yamlsrc import load_text

SEED_SUFFIXES = (".txt", ".md")
MAX_SEED_BYTES = 5 * 1024 * 1024
FRONT_MATTER_KEYS = ("title", "url", "source", "published")

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DATE = rf"(?:{_MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}"
_DATELINE = re.compile(
    rf"^\s*(?:(?:Published|Posted|Updated)\s*:?\s*)?(?P<first>{_DATE})"
    rf"(?:\s*(?:[|,·-]\s*)?(?:Updated|Last updated|Modified)\s*:?\s*(?P<updated>{_DATE}))?\s*$",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
# Trailing lines that belong to the publisher's page, not to the article.
_BOILERPLATE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^by subscribing,? you can help us\b",
        r"^in a time of both misinformation and too much information\b",
        r"^(?:please )?(?:subscribe|sign up)\b.{0,120}$",
        r"^follow \S+(?: \S+)? on (?:twitter|x|facebook|instagram)\b.{0,60}$",
        r"^support (?:our|independent) journalism\b",
    )
]


@dataclass(frozen=True)
class SeedResult:
    """What reading a seeds folder produced: articles, and problems with single files."""

    articles: list[Article]
    problems: list[Problem]


def read_seeds(
    folder: Path, source_id: str, fetched_at: datetime, display: str, publisher: str = ""
) -> SeedResult:
    """Read every ``*.txt`` / ``*.md`` file of ``folder`` into Articles."""
    articles: list[Article] = []
    problems: list[Problem] = []
    if not folder.is_dir():
        return SeedResult([], [Problem(display, 0, 0, "seeds folder not found")])
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SEED_SUFFIXES or path.name.startswith("."):
            continue
        name = f"{display}/{path.name}"
        try:
            if path.stat().st_size > MAX_SEED_BYTES:
                problems.append(Problem(name, 0, 0, f"larger than {MAX_SEED_BYTES} bytes; skipped"))
                continue
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(Problem(name, 0, 0, f"cannot read: {exc.strerror}"))
            continue
        text = raw.decode("utf-8", errors="replace")
        article, file_problems = parse_seed(text, path.name, name, source_id, fetched_at, publisher)
        problems += file_problems
        if article is not None:
            articles.append(article)
    return SeedResult(articles, problems)


def parse_seed(
    text: str,
    filename: str,
    display: str,
    source_id: str,
    fetched_at: datetime,
    publisher: str = "",
) -> tuple[Article | None, list[Problem]]:
    """Turn the text of one seed file into an Article."""
    text = clean(text.lstrip("\ufeff")).replace("\r\n", "\n").replace("\r", "\n")
    meta: dict[str, object] = {}
    body_line = 1
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end == -1:
            return None, [Problem(display, 1, 1, "front matter opened with '---' is never closed")]
        data, located, problems = load_text(text[4:end], display)
        if problems:
            return None, [
                Problem(p.file, p.line + 1 if p.line else 0, p.col, p.message, p.hint)
                for p in problems
            ]
        if data is not None and not isinstance(data, dict):
            return None, [Problem(display, 2, 1, "front matter must be a mapping of keys")]
        meta = dict(data or {})
        issues: list[Problem] = []
        for key in meta:
            if key not in FRONT_MATTER_KEYS:
                line, col = located.at((key,), key=True)
                issues.append(
                    Problem(
                        display,
                        line + 1,
                        col,
                        f"unknown front matter key '{key}'"
                        f" (allowed: {', '.join(FRONT_MATTER_KEYS)})",
                    )
                )
        if issues:
            return None, issues
        body_line = text[: end + 4].count("\n") + 2
        text = text[end + 4 :].lstrip("\n")
    published: datetime | None = None
    if "published" in meta:
        published = _as_datetime(meta["published"])
        if published is None:
            return None, [
                Problem(
                    display, 0, 0, f"front matter 'published' is not a date: {meta['published']!r}"
                )
            ]
    lines = text.split("\n")
    title = str(meta.get("title") or "").strip()
    # Drop leading blank lines, then look for a title line and a dateline.
    while lines and not lines[0].strip():
        lines.pop(0)
    if not title and lines and _reads_as_title(lines):
        title = lines.pop(0).strip()
    for index, candidate in enumerate(lines[:6]):
        m = _DATELINE.match(candidate)
        if m:
            if published is None:
                published = _parse_month_date(m.group("first"))
            del lines[index]
            break
    body = _strip_boilerplate("\n".join(lines)).strip()
    if not body and not title:
        return None, [Problem(display, body_line, 1, "no article text")]
    if not title:
        title = _first_sentence(body)
    url = str(meta.get("url") or "").strip()
    return (
        Article(
            source_id=source_id,
            guid=f"seed:{filename}",
            url=url,
            title=title,
            summary="",
            text=body,
            published_at=published or fetched_at,
            fetched_at=fetched_at,
            content_hash=content_hash(title, body),
            publisher=str(meta.get("source") or publisher or ""),
        ),
        [],
    )


def _reads_as_title(lines: list[str]) -> bool:
    """A first line is a title when it is short, unpunctuated, and more text follows."""
    first = lines[0].strip()
    rest = [line for line in lines[1:] if line.strip()]
    if not rest or len(first) > 160 or len(first.split()) > 25:
        return False
    if first.endswith((".", ",", ";", ":")) and not first.endswith("..."):
        return False
    return not (first.endswith(("”", '"')) and first.count(" ") > 20)


def _first_sentence(body: str, limit: int = 120) -> str:
    starts = sentence_starts(body)
    end = starts[1] if len(starts) > 1 else len(body)
    sentence = " ".join(body[:end].split())
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0]
    return f"{cut}…"


def _strip_boilerplate(body: str) -> str:
    lines = body.rstrip().split("\n")
    while lines:
        last = lines[-1].strip()
        if not last:
            lines.pop()
            continue
        if any(p.search(last) for p in _BOILERPLATE):
            lines.pop()
            continue
        break
    return "\n".join(lines)


def _parse_month_date(text: str) -> datetime | None:
    cleaned = re.sub(r"\s+", " ", text.replace(",", "").replace(".", "")).strip()
    parts = cleaned.split(" ")
    if len(parts) == 3 and parts[0].lower().startswith("sept"):
        parts[0] = "Sep"
    for fmt in ("%B %d %Y", "%b %d %Y"):
        try:
            return datetime.strptime(" ".join(parts), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                return None
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
        return _parse_month_date(value)
    return None
