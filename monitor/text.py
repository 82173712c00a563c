"""Plain-text helpers shared by normalization and matching: words, sentences, snippets."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right

# A word: letters and digits, joined by apostrophes, periods or hyphens ("U.S.", "don't"), with
# an optional final period. ``{w}`` stands for one letter or digit: ``[^\W_]`` in any script, or
# ``[A-Za-z0-9]``, the same set on ASCII text and about a third faster to scan. The possessive
# quantifiers (``++``, ``*+``) give the same matches as plain ones here, since the pattern always
# succeeds on its first, greedy try, but skip the bookkeeping for backtracking.
_WORD_PATTERN = r"{w}++(?:['’.\-]{w}++)*+\.?"
_WORD = re.compile(_WORD_PATTERN.format(w=r"[^\W_]"))
_ASCII_WORD = re.compile(_WORD_PATTERN.format(w="[A-Za-z0-9]"))
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
# Sentence ends. A sentence ends at a run of . ! ? or … (with any closing quotes or brackets
# after it) followed by whitespace, unless the run starts with a period after an abbreviation,
# and at a blank line. The next sentence begins after the whitespace, so every pattern below
# takes that whitespace too: the end of a match is the start of a sentence.
#
# Each pattern begins with one literal character, because the regex engine jumps from one
# occurrence of a literal to the next (as str.find does) but tests every character of the text
# against a character set, several times slower; so there is one pattern per kind of ending,
# not one pattern for all. A run is only matched from its first character (the lookbehind
# after that character), since a run that does not end a sentence from its start does not from
# inside either.
_TERMINATORS = "[.!?…]"
_RUN_REST = r"[.!?…]*+[\"'”’)\]]*+\s+"
# Characters stripped from the word before a period when testing for an abbreviation.
_OPENERS = "\"'“‘("


def _plain_word_before(size: int) -> str:
    """Return a lookbehind, for use after a period, that the word before is no abbreviation.

    It holds when that word is whole (a space or newline before it), is ``size`` ASCII letters
    or digits long, and is none of the abbreviations of that length in any letter case. Such a
    word has no period and nothing to strip, so this is exactly the test ``sentence_starts``
    makes in Python (lower case, strip, look up), for the most common words.
    """
    lookbehind = rf"(?<=[ \n][A-Za-z0-9]{{{size}}}\.)"
    same = sorted(a for a in _ABBREVIATIONS if len(a) == size and a.isalnum())
    if same:
        lookbehind += rf"(?<![ \n](?i:{'|'.join(same)})\.)"
    return lookbehind


# Plain words of 2 to 12 characters; longer words, and all others, take the test in Python.
# The first lookbehind (two letters or digits before the period) rules out most other text at
# once, before the eleven alternatives are tried.
_PLAIN_WORDS = "|".join(f"(?:{_plain_word_before(size)})" for size in range(2, 13))
_PLAIN_WORD_BEFORE = rf"(?<=[A-Za-z0-9]{{2}}\.)(?:{_PLAIN_WORDS})"
# A run that starts with a period after a plain word: it ends a sentence, no test needed.
_PERIOD_END = re.compile(rf"\.(?:{_PLAIN_WORD_BEFORE}){_RUN_REST}")
# Every other run that starts with a period: it ends a sentence unless it follows an
# abbreviation, which sentence_starts() tests for each match.
_PERIOD_TO_CHECK = re.compile(rf"\.(?<!{_TERMINATORS}\.)(?!{_PLAIN_WORD_BEFORE}){_RUN_REST}")
# Runs that start with ! ? or …, one pattern each; rare, so only used when the text has one.
_OTHER_ENDS = tuple(
    (mark, re.compile(rf"{re.escape(mark)}(?<!{_TERMINATORS}{re.escape(mark)}){_RUN_REST}"))
    for mark in "!?…"
)
# A blank line: \n, any whitespace, \n. It also ends a sentence after an abbreviation.
_BLANK_LINE = re.compile(r"\n\s*\n\s*")

# Same-length replacements so offsets in the matched text equal offsets in the stored text.
_QUOTE_PAIRS = (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("\u00a0", " "))
# C0 and C1 controls and DEL. The C1 range holds the 8-bit forms of terminal escapes (CSI
# U+009B, OSC U+009D), which a feed can carry as ordinary UTF-8 characters.
# Also the invisible format characters a CMS leaves inside words (soft hyphen, zero-width
# space, word joiner, a stray BOM): kept, they would hide "mis\u00adsile" from every rule.
# And the invisible ones a hostile feed can use to the same end or to smuggle text past a
# reader: bidi embeddings, overrides and isolates (which every display strips anyway), and
# the Unicode tag characters U+E0000-E007F (whose one honest use, subdivision flags such as
# England's, then shows as a plain black flag).
# Bidi embeddings, overrides and isolates: they reorder what a terminal or a mail client shows.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff"
    f"{''.join(sorted(BIDI_CONTROLS))}\U000e0000-\U000e007f]"
)
_NOT_SHOWN = re.compile(
    f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\ud800-\\udfff{''.join(sorted(BIDI_CONTROLS))}]"
)


def clean(text: str) -> str:
    """Return NFC text without NUL and control characters (newlines and tabs stay).

    Latin ligatures ("ﬁ", "ﬂ", left by PDF and print systems) are spelled out, so that
    "conﬁrmed" is found by a rule or a search for "confirmed".
    """
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    if _LIGATURES.search(text) is not None:
        text = text.translate(_LIGATURE_LETTERS)
    return text


_LIGATURE_LETTERS = {
    code: unicodedata.normalize("NFKC", chr(code)) for code in range(0xFB00, 0xFB07)
}
_LIGATURES = re.compile("[\ufb00-\ufb06]")


def displayable(text: str) -> str:
    """Return ``text`` safe to show on a terminal: only newlines and tabs of the controls.

    Feed text and server answers reach terminals and logs; a carriage return, an escape
    sequence or a bidi override in them could rewrite or disguise what a reader sees.
    """
    if text.isprintable() or not _NOT_SHOWN.search(text):
        return text
    return _NOT_SHOWN.sub("", text)


def fold(text: str) -> str:
    """Return the form of ``text`` that rules are matched in; every offset stays the same.

    Typographic quotes become ASCII ones; compatibility forms of letters and digits become the
    plain character they stand for (``ｍｉｓｓｉｌｅ``, ``𝐦𝐢𝐬𝐬𝐢𝐥𝐞``); and inside a word that
    mixes Latin letters with Cyrillic or Greek lookalikes (``mіssile`` with a Cyrillic і), the
    lookalikes become Latin. A word written wholly in Cyrillic or Greek is left alone.
    """
    if text.isascii():
        return text
    for fancy, plain in _QUOTE_PAIRS:
        if fancy in text:
            text = text.replace(fancy, plain)
    if _COMPAT_CHARS.search(text) is not None:
        text = text.translate(_COMPAT)
    if _MIXED_PAIR.search(text) is not None:
        text = _LETTERS.sub(_unmix, text)
    return text


# Unicode blocks of compatibility letters and digits: half- and full-width forms, mathematical
# alphanumerics, enclosed (circled, parenthesised, squared) alphanumerics, letterlike symbols,
# super- and subscripts, modifier letters, number forms. Only characters whose NFKC form is a
# single character are folded, so that offsets keep (a ligature such as "ﬁ" is two letters and
# is expanded when text is stored, see ``clean``).
_COMPAT_BLOCKS = (
    (0xFF01, 0xFFEE),
    (0x1D400, 0x1D7FF),
    (0x2460, 0x24FF),
    (0x1F100, 0x1F1FF),
    (0x2100, 0x214F),
    (0x2070, 0x209F),
    (0x1D2C, 0x1D6A),
    (0x2150, 0x218F),
)


def _compat_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for first, last in _COMPAT_BLOCKS:
        for code in range(first, last + 1):
            plain = unicodedata.normalize("NFKC", chr(code))
            if len(plain) == 1 and plain != chr(code):
                table[code] = plain
    return table


_COMPAT = _compat_table()
_COMPAT_CHARS = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _COMPAT_BLOCKS) + "]"
)
# Cyrillic and Greek letters drawn like Latin ones (a subset of Unicode's confusables.txt,
# https://www.unicode.org/Public/security/latest/confusables.txt, for the letters of English).
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁԛԝһӏɡАВЕКМНОРСТХІЈЅԜΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν",
    "aeopcyxijsdqwhlgABEKMHOPCTXIJSWABEZHIKMNOPTYXoiv",
)
_LOOKALIKE_CHARS = re.compile("[" + "".join(chr(c) for c in _LOOKALIKES) + "]")
# A lookalike next to a Latin letter: a word that mixes the two has one such pair somewhere.
_MIXED_PAIR = re.compile(f"[A-Za-z]{_LOOKALIKE_CHARS.pattern}|{_LOOKALIKE_CHARS.pattern}[A-Za-z]")
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_ASCII_LETTER = re.compile("[A-Za-z]")


def _unmix(word: re.Match[str]) -> str:
    """Fold the lookalikes of one word that mixes them with Latin letters."""
    text = word.group()
    if text.isascii() or _ASCII_LETTER.search(text) is None:
        return text
    if _LOOKALIKE_CHARS.search(text) is None:
        return text
    return text.translate(_LOOKALIKES)


def word_starts(text: str) -> list[int]:
    """Return the offset of every word in ``text``."""
    words = _ASCII_WORD if text.isascii() else _WORD
    # map() over the unbound method keeps the per-word loop in C.
    return list(map(re.Match.start, words.finditer(text)))


def sentence_starts(text: str) -> list[int]:
    """Return the offset where each sentence of ``text`` begins (the first is 0).

    A period after an abbreviation (``Mr.``, ``Gen.``), after a single letter or digit
    (``J.``), or at the end of a word with a period inside (``U.S.``, ``5.4%.``), ends no
    sentence unless a blank line follows it.
    """
    end = re.Match.end
    # map() over the unbound method keeps the loop over matches in C.
    ends = set(map(end, _PERIOD_END.finditer(text)))
    ends.update(map(end, _BLANK_LINE.finditer(text)))
    for mark, pattern in _OTHER_ENDS:
        if mark in text:
            ends.update(map(end, pattern.finditer(text)))
    # The word before a period begins after the last space or newline before it. ``cut`` is
    # that offset for the text before ``seen``, and the search resumes from ``seen``, so the
    # text is searched once however many periods it has.
    cut = seen = 0
    for m in _PERIOD_TO_CHECK.finditer(text):
        stop = m.start()
        space = max(text.rfind(" ", seen, stop), text.rfind("\n", seen, stop))
        if space >= 0:
            cut = space + 1
        seen = stop
        # "U.S." or "5.4%.": a period inside the word. Searched from the end, this finds at
        # once the period checked before when no space came since.
        if text.rfind(".", cut, stop) >= 0:
            continue
        word = text[cut:stop].lower().strip(_OPENERS)
        if len(word) != 1 and word not in _ABBREVIATIONS:
            ends.add(m.end())
    # Several endings may share the whitespace before a sentence (". " then a blank line), and
    # the text's own end starts no sentence.
    ends.discard(len(text))
    return [0, *sorted(ends)]


def index_of(starts: list[int], offset: int) -> int:
    """Return the index of the span (word or sentence) that contains ``offset``."""
    return max(0, bisect_right(starts, offset) - 1)


def _is_start(starts: list[int], offset: int) -> bool:
    """Return True when ``offset`` is in the sorted list ``starts`` (by bisection, not a scan)."""
    i = bisect_left(starts, offset)
    return i < len(starts) and starts[i] == offset


def sentence_around(
    text: str, start: int, end: int, limit: int = 280, *, starts: list[int] | None = None
) -> tuple[int, int]:
    """Return the span of the sentence containing ``start``..``end``, at most ``limit`` long.

    ``starts`` may pass ``sentence_starts(text)`` when the caller already has it.
    """
    if starts is None:
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


def snippet(
    text: str, start: int, end: int, limit: int = 280, *, starts: list[int] | None = None
) -> str:
    """Return a readable excerpt of ``text`` around a span, with ellipses where it was cut.

    ``starts`` may pass ``sentence_starts(text)`` when the caller already has it; the
    sentence starts of any other text, even the same text with its quotes folded, may differ.
    """
    if starts is None:
        starts = sentence_starts(text)
    lo, hi = sentence_around(text, start, end, limit, starts=starts)
    body = " ".join(text[lo:hi].split())
    prefix = "…" if lo > 0 and not _is_start(starts, lo) else ""
    cut_word = text[hi - 1 : hi].isalnum()
    suffix = "…" if hi < len(text) and not _is_start(starts, hi) and cut_word else ""
    return f"{prefix}{body}{suffix}"
