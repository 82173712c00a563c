"""Cut excerpts around matched words and mark them, as plain segments the renderer escapes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# (text, marked): the renderer escapes ``text`` and wraps marked segments in <mark>.
Segment = tuple[str, bool]
Span = tuple[int, int]

_SPACE = re.compile(r"\s+")


def valid_spans(text: str, hits: Iterable[dict[str, Any]], field: str) -> list[Span] | None:
    """Return the hit spans of one field, or None when any offset no longer fits the text."""
    # A hit fits when its offsets lie inside ``text`` and, when the hit recorded the words it
    # matched, ``text`` still holds those words there (the article may have been updated since).
    spans: list[Span] = []
    for hit in hits:
        if hit.get("field") != field:
            continue
        start, end, words = hit.get("start"), hit.get("end"), hit.get("text", "")
        if not isinstance(start, int) or not isinstance(end, int):
            return None
        if not 0 <= start < end <= len(text):
            return None
        if words and text[start:end] != words:
            return None
        spans.append((start, end))
    return merge(spans)


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sort spans and join the ones that overlap or touch."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mark(text: str, spans: list[Span], lo: int = 0, hi: int | None = None) -> list[Segment]:
    """Split ``text[lo:hi]`` into plain and marked segments, folding runs of whitespace."""
    hi = len(text) if hi is None else hi
    segments: list[Segment] = []
    at = lo
    for start, end in spans:
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        if start > at:
            segments.append((_SPACE.sub(" ", text[at:start]), False))
        segments.append((_SPACE.sub(" ", text[start:end]), True))
        at = end
    if at < hi:
        segments.append((_SPACE.sub(" ", text[at:hi]), False))
    return segments


def fragments(
    text: str, spans: list[Span], *, context: int = 90, limit: int = 3
) -> tuple[list[list[Segment]], int]:
    """Cut up to ``limit`` excerpts around clusters of spans; also return how many were left out."""
    # Spans closer than ``context`` characters share an excerpt; each excerpt reaches about
    # ``context`` characters either side, cut at whitespace, with ``…`` where the text goes on.
    clusters: list[list[Span]] = []
    for span in spans:
        if clusters and span[0] - clusters[-1][-1][1] <= context:
            clusters[-1].append(span)
        else:
            clusters.append([span])
    out: list[list[Segment]] = []
    for cluster in clusters[:limit]:
        first, last = cluster[0][0], cluster[-1][1]
        lo = max(0, first - context)
        hi = min(len(text), last + context)
        if lo > 0:
            cut = _next_space(text, lo, first)
            lo = cut if cut is not None else lo
        if hi < len(text):
            cut = _prev_space(text, last, hi)
            hi = cut if cut is not None else hi
        segments = mark(text, cluster, lo, hi)
        if segments:
            head, flag = segments[0]
            segments[0] = (("…" if lo > 0 else "") + head.lstrip(), flag)
            tail, flag = segments[-1]
            segments[-1] = (tail.rstrip() + ("…" if hi < len(text) else ""), flag)
        out.append(segments)
    return out, max(0, len(clusters) - limit)


def _next_space(text: str, lo: int, limit: int) -> int | None:
    for i in range(lo, limit):
        if text[i].isspace():
            return i + 1
    return None


def _prev_space(text: str, limit: int, hi: int) -> int | None:
    for i in range(hi - 1, limit - 1, -1):
        if text[i].isspace():
            return i
    return None


def mark_words(text: str, words: Iterable[str]) -> list[Segment]:
    """Mark every whole-word, case-insensitive occurrence of ``words`` in ``text``."""
    spans: list[Span] = []
    for word in {w.strip() for w in words if w.strip()}:
        pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)
        spans.extend((m.start(), m.end()) for m in pattern.finditer(text))
    return mark(text, merge(spans))


def split_marked(text: str, open_mark: str, close_mark: str) -> list[Segment]:
    """Turn text with open/close marker characters into segments; stray markers are dropped."""
    segments: list[Segment] = []
    buffer: list[str] = []
    marked = False
    for char in text:
        if char in (open_mark, close_mark):
            wanted = char == open_mark
            if wanted != marked:
                if buffer:
                    segments.append(("".join(buffer), marked))
                    buffer = []
                marked = wanted
            continue
        buffer.append(char)
    if buffer:
        segments.append(("".join(buffer), marked))
    return segments


def plain(segments: Iterable[Segment]) -> str:
    """Join segments back into text."""
    return "".join(text for text, _ in segments)


def offsets(segments: Iterable[Segment]) -> list[list[int]]:
    """Return the [start, end) character offsets of the marked segments in ``plain(segments)``."""
    found: list[list[int]] = []
    at = 0
    for text, marked in segments:
        if marked:
            found.append([at, at + len(text)])
        at += len(text)
    return found


def match_excerpts(
    row: dict[str, Any],
) -> tuple[list[Segment], list[tuple[str, list[list[Segment]], int]]]:
    """Mark a match's words in its article's title and cut excerpts from its other fields."""
    # Returns the title segments and, per field, its excerpts and how many were left out. When
    # the stored offsets no longer fit the article (it was updated), the stored snippet comes
    # back with the matched words marked by searching for them.
    hits: list[dict[str, Any]] = row["hits"]
    title = str(row.get("title") or "")
    words = [str(h.get("text") or "") for h in hits]
    title_spans = valid_spans(title, hits, "title")
    title_segments = (
        mark(title, title_spans) if title_spans is not None else mark_words(title, words)
    )
    excerpts: list[tuple[str, list[list[Segment]], int]] = []
    stale = title_spans is None
    for name in dict.fromkeys(str(h.get("field")) for h in hits):
        if name == "title":
            continue
        text = str(row.get(name) or "") if name in ("summary", "text") else ""
        spans = valid_spans(text, hits, name) if text else None
        if not spans:
            stale = True
            continue
        cut, left = fragments(text, spans)
        excerpts.append((name, cut, left))
    snippet = str(row.get("snippet") or "")
    if (stale or not excerpts) and snippet and " ".join(snippet.split()) != " ".join(title.split()):
        excerpts.append(("snippet", [mark_words(snippet, words)], 0))
    return title_segments, excerpts
