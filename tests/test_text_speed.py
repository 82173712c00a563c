"""Properties that the fast paths of monitor.text and the modality tokenizer must keep.

``sentence_starts`` and ``word_starts`` take shortcuts (ASCII-only patterns, sentence ends
decided inside the regex for common words) and ``snippet`` accepts precomputed sentence starts.
These tests hold them to the plain definitions below, on text built to hit the edge cases:
abbreviations in any letter case, quotes and brackets around them, blank lines, unusual
whitespace, non-ASCII letters. No timing here: see bench/ for speed.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.rules.modality import Modality, classify
from monitor.text import (
    _ABBREVIATIONS,  # the list is data; the test is about the algorithm around it
    fold,
    sentence_around,
    sentence_starts,
    snippet,
    word_starts,
)

PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)

# --------------------------------------------------------------------------------------------
# Plain definitions: slow, obviously right, and what the fast code must agree with.
# --------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*\.?")
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n\s*\n")


def plain_word_starts(text: str) -> list[int]:
    return [m.start() for m in _WORD.finditer(text)]


def plain_sentence_starts(text: str) -> list[int]:
    """Sentences end at . ! ? … (then closing quotes) before whitespace, or at a blank line.

    A period after an abbreviation, a single character or a word with a period inside does not
    end one. The next sentence starts after the whitespace.
    """
    starts = [0]
    for m in _END.finditer(text):
        if m.group().startswith("."):
            cut = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
            last = text[cut : m.start()].lower().strip("\"'“‘(")
            if last in _ABBREVIATIONS or len(last) == 1 or "." in last:
                continue
        nxt = m.end()
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        if len(text) > nxt > starts[-1]:
            starts.append(nxt)
    return starts


# --------------------------------------------------------------------------------------------
# Text strategies
# --------------------------------------------------------------------------------------------

_OPENERS = st.sampled_from(["", "", "", '"', "'", "“", "‘", "(", '("', "["])
# Abbreviations in several letter cases, single characters, words with a period inside, words
# whose length is near the 2 to 12 characters that the regex decides alone, cue words.
_WORDS = st.one_of(
    st.sampled_from(["J", "5", "İ", "Mr", "MR", "sT", "Sept", "U.S", "No", "INC", "war"]),
    st.sampled_from(["said", "launched", "abcdefghijkl", "abcdefghijklm", "5.4%", "été"]),
    st.sampled_from(["May", "didn't", "it'll", "could", "no", "denied", "if", "but"]),
    st.text(alphabet="aZ.5'’-_é", min_size=1, max_size=14),
)
_MARKS = st.sampled_from(["", ".", ".", ".", "..", "!", "?", "?!", "…", ",", ";", " -", " —"])
_CLOSERS = st.sampled_from(["", "", "", '"', "'", "”", "’", ")", '")', "]"])
_SPACES = st.sampled_from(
    [" ", " ", " ", "  ", "\n", "\n\n", " \n \n", "\t", "\xa0", "\x1c", "\u2028", "\r\n", ""]
)
_PIECE = st.tuples(_OPENERS, _WORDS, _MARKS, _CLOSERS, _SPACES).map("".join)
TEXT = st.one_of(st.lists(_PIECE, max_size=40).map("".join), st.text(max_size=200))
ASCII_TEXT = st.lists(_PIECE, max_size=40).map(
    lambda p: "".join(p).encode("ascii", "ignore").decode()
)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@PROPERTY
@given(TEXT)
def test_sentence_starts_shape(text: str) -> None:
    starts = sentence_starts(text)
    assert starts[0] == 0
    assert all(a < b for a, b in itertools.pairwise(starts))
    for start in starts[1:]:
        # Each later sentence begins inside the text, just after whitespace.
        assert 0 < start < len(text)
        assert text[start - 1].isspace() and not text[start].isspace()


@PROPERTY
@given(TEXT)
def test_sentence_starts_follow_the_plain_definition(text: str) -> None:
    assert sentence_starts(text) == plain_sentence_starts(text)


@PROPERTY
@given(ASCII_TEXT)
def test_sentence_starts_ignore_letter_case(text: str) -> None:
    # Abbreviations are found in any letter case, in the regex and in Python alike.
    assert sentence_starts(text.swapcase()) == sentence_starts(text)


@PROPERTY
@given(TEXT)
def test_word_starts_follow_the_plain_definition(text: str) -> None:
    starts = word_starts(text)
    assert starts == plain_word_starts(text)
    # An ASCII text and the same text with a non-ASCII word after it take different patterns.
    assert word_starts(text + " é") == [*starts, len(text) + 1]


@PROPERTY
@given(TEXT, st.data())
def test_snippet_with_precomputed_starts(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    limit = data.draw(st.sampled_from([280, 40, 5]))
    starts = sentence_starts(text)
    assert snippet(text, start, end, limit, starts=starts) == snippet(text, start, end, limit)
    assert sentence_around(text, start, end, limit, starts=starts) == sentence_around(
        text, start, end, limit
    )


@PROPERTY
@given(TEXT)
def test_classify_result_is_consistent(text: str) -> None:
    # Every word of the text in turn is the trigger, and so is the empty span at the end.
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)] + [(len(text), len(text))]
    for start, end in spans:
        result = classify(text, start, end)
        if result.modality is Modality.ASSERTED:
            assert (result.cue, result.cue_start, result.cue_end) == ("", start, start)
        else:
            assert result.cue and text[result.cue_start : result.cue_end] == result.cue
        # "…" is no token, and it sends the sentence down the non-ASCII path: same answer.
        assert classify(text + "…", start, end) == result
        # Typographic quotes are folded before anything else.
        assert classify(fold(text), start, end).modality is result.modality
