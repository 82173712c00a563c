"""Plain-text helpers shared by normalization and matching: words, sentences, snippets."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

_WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*\.?", re.UNICODE)
# A sentence ends at . ! or ? (with closing quotes or brackets) followed by space.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n\s*\n")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "gov",
        "sen",
        "rep",
        "rev",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "no",
        "vs",
        "etc",
        "inc",
        "corp",
        "ltd",
        "co",
        "u.s",
        "u.n",
        "u.k",
        "e.u",
        "a.m",
        "p.m",
        "i.e",
        "e.g",
    ]
)
# Same-length replacements so offsets in the matched text equal offsets in the stored text.
_QUOTE_PAIRS = (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("\u00a0", " "))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Return NFC text without NUL and control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def fold_quotes(text: str) -> str:
    """Replace typographic quotes with ASCII ones, keeping every offset."""
    if text.isascii():
        return text
    for fancy, plain in _QUOTE_PAIRS:
        if fancy in text:
            text = text.replace(fancy, plain)
    return text


def word_starts(text: str) -> list[int]:
    """Return the offset of every word in ``text``."""
    return [m.start() for m in _WORD.finditer(text)]


def sentence_starts(text: str) -> list[int]:
    """Return the offset where each sentence of ``text`` begins (the first is 0)."""
    starts = [0]
    for m in _END.finditer(text):
        end = m.end()
        if m.group().startswith("."):
            # The word before the period, found without copying the text before it.
            cut = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
            last = text[cut : m.start()].lower().strip("\"'“‘(")
            if last in _ABBREVIATIONS or len(last) == 1 or "." in last:
                continue
        nxt = end
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        if nxt < len(text) and nxt > starts[-1]:
            starts.append(nxt)
    return starts


def index_of(starts: list[int], offset: int) -> int:
    """Return the index of the span (word or sentence) that contains ``offset``."""
    return max(0, bisect_right(starts, offset) - 1)


def sentence_around(text: str, start: int, end: int, limit: int = 280) -> tuple[int, int]:
    """Return the span of the sentence containing ``start``..``end``, at most ``limit`` long."""
    starts = sentence_starts(text)
    i = index_of(starts, start)
    lo = starts[i]
    hi = starts[i + 1] if i + 1 < len(starts) else len(text)
    j = index_of(starts, max(start, end - 1))
    if j > i:
        hi = starts[j + 1] if j + 1 < len(starts) else len(text)
    if hi - lo > limit:
        centre = (start + end) // 2
        lo = max(lo, centre - limit // 2)
        hi = min(hi, lo + limit)
    return lo, hi


def snippet(text: str, start: int, end: int, limit: int = 280) -> str:
    """Return a readable excerpt of ``text`` around a span, with ellipses where it was cut."""
    lo, hi = sentence_around(text, start, end, limit)
    body = " ".join(text[lo:hi].split())
    starts = sentence_starts(text)
    prefix = "…" if lo > 0 and lo not in starts else ""
    suffix = "…" if hi < len(text) and hi not in starts and text[hi - 1 : hi].isalnum() else ""
    return f"{prefix}{body}{suffix}"
