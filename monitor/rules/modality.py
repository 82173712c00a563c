"""Tell whether a matched event is asserted, negated, hedged, planned or past, from cue words.

A rule match only says that the trigger words (``launched``, ``oil ban``) occur. This module
says whether the sentence reports the event as something that happened. It is a small,
explainable classifier: fixed cue lists and scope rules, no statistics, and every answer
names the cue that decided it.

Method
------
1. The sentence is split into words (``didn't`` becomes ``did`` + ``n't``; typographic
   quotes are folded first) and cue phrases are found left to right, longest phrase first,
   case-insensitively and on word boundaries. A longer phrase hides the shorter cues inside
   it: ``did not rule out`` is one hedge, ``as well as`` is no clause boundary.
2. The sentence is cut into clauses at ``;`` ``:`` dashes and brackets, at ``but``,
   ``however``, ``although``, ``though``, ``while``, ``whereas``, ``when``, ``whenever``,
   ``after``, ``before``, ``until``, ``since``, ``as``, ``because``, ``if``, ``unless``,
   ``whether``, at a comma followed by ``and``, ``or``, ``so``, ``yet``, ``nor``, ``which``,
   ``who``, ``where``, ``saying`` or ``adding``, and at the comma that closes a clause
   opened by one of those subordinating words (``Although talks failed, ...``).
3. A cue *before* the trigger scopes over it when both are in the same clause and at most
   eight words apart, and, depending on the cue's kind:

   - verb cues (``not``, ``n't``, ``never``, modal verbs, ``threatened to``, ``plans to``)
     stop at the next finite auxiliary (``is``, ``was``, ``had``, ``did``...) once a content
     word has followed them: ``a missile that could reach Guam was launched`` is asserted;
   - noun-phrase cues (``no``, ``without``, ``possible``, ``proposed``, ``draft``) stop at a
     preposition other than ``of``, ``on``, ``against`` or ``for``: ``There was no comment
     from Seoul about the launch`` is asserted;
   - clause cues (``if``, ``whether``, ``ruled out``, ``did not include``, ``no sign of``)
     cover the rest of their clause;
   - denial cues (``denied``, ``denies``, ``refuted``, ``rejected reports``, ``retracted``)
     cover everything after them in the sentence up to a contrast (``but``, ``however``,
     ``although``, ``;``) or the end of a subordinate clause: ``officials denied reports
     that a missile had been launched`` is negated.
4. A few cues also work *after* the trigger, in its own clause and before any ``and``,
   ``or``, ``that``, ``which`` or ``who``: modal verbs and ``will`` within two words
   (``sanctions could be imposed``), predicates within five words (``an oil embargo is one
   of the options``, ``the vote was postponed``, ``the launch was called off``).
5. When several cues scope over the trigger, NEGATED beats HEDGED beats PLANNED beats PAST,
   and the nearest cue of that kind is reported. With no cue in scope the event is ASSERTED.

Cues (the full lists are in ``_TABLE`` below):

- NEGATED: not, n't, never, no, without, neither/nor, cannot, no longer, failed to, did not
  include, no sign of, no evidence, ruled out, called off, scrapped, cancelled, postponed,
  abandoned; denials: denied, denies, deny, refuted, retracted, rejected reports, dismissed
  reports, not true; after the trigger: was denied, did not happen, were false.
- HEDGED: may, might, could, would, should, possible, possibly, potential, suspected,
  alleged, considering, reportedly considering, options, one of the options, if, unless,
  whether, speculation, rumour(s)/rumor(s), threatened to, threatens to, vowed to, capable
  of, ability to, warned of, seek, urged, called for, recommended, unclear, did not rule
  out; corrections (an earlier version, incorrectly reported), which cover the rest of the
  sentence like a denial; after the trigger: is possible, under consideration, on the table.
- PLANNED: will, 'll, shall, plans to, planned, is set to, is due to, are due to,
  scheduled, next week, next month, expected to, preparing to, intends to, aims to, to vote,
  proposed, draft, upcoming.
- PAST (history recalled in a story about something else): years ago, decades ago, a decade
  ago, years earlier, as far back as, on this day in, years after (which opens a clause like
  "after"); and,
  with no other cue, a clause opened by "when" that names a year ("when missiles flew over
  Hokkaido in 2017"), since a report of the day would name the day instead.
- A trigger that ends a hyphenated word ("submarine-launched missiles") names a kind of
  thing, not an event: HEDGED, with the whole word as the cue.
- A sentence ending in a question mark hedges the event of its last clause, unless a
  stronger cue decides: "is there a date yet for the vote?" is hedged, while in "North Korea
  fires missile: what happens next?" the colon ends the launch's clause first.

Decisions worth knowing: ``no one``, ``no comment`` and ``did not comment`` negate nothing;
``May`` with a capital letter is the month (``in May``, ``May 5``) unless it starts the
sentence or a title-case headline verb follows it; a cue inside the trigger span itself is
ignored; past-tense facts in another clause stay asserted (``Although talks failed, the North
fired a missile``; ``No one was hurt when the missile was launched``).
"""

from __future__ import annotations

import enum
import itertools
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple

from monitor.text import fold, index_of, sentence_starts


class Modality(enum.StrEnum):
    ASSERTED = "asserted"
    NEGATED = "negated"
    HEDGED = "hedged"
    PLANNED = "planned"
    # Recalled as history: "25 years ago", "when missiles flew over Hokkaido in 2017".
    PAST = "past"


@dataclass(frozen=True)
class ModalityResult:
    """The modality of one trigger and the cue that decided it (empty cue when asserted)."""

    modality: Modality
    cue: str
    cue_start: int
    cue_end: int

    @property
    def asserted(self) -> bool:
        """Return True when the sentence reports the event as having happened."""
        return self.modality is Modality.ASSERTED


class _Scope(enum.Enum):
    VERB = "verb"
    PHRASE = "noun phrase"
    CLAUSE = "clause"
    DENIAL = "denial"
    NONE = "none"


@dataclass(frozen=True)
class _Cue:
    words: tuple[str, ...]
    modality: Modality | None  # None: a neutral phrase that only hides the words it covers
    scope: _Scope
    before: bool  # may scope over a trigger that follows it
    after: int  # how many words after the trigger it may stand; 0 for never
    opens_clause: bool


# A token is a word or a punctuation mark that may cut a clause. "didn't" -> "did" + "n't" and
# "it'll" -> "it" + "'ll", so contractions are cues by themselves. The alternatives, in order:
#   1. the letters before "n't" or "'ll"; the lookahead ``(?={w}++')`` first rules out, at the
#      cost of one pass over the word, every word that no apostrophe follows;
#   2. "n't";  3. "'ll";
#   4. a word, with inner apostrophes or hyphens ("Kim's", "test-fired");
#   5. a punctuation mark;  6. a dash between spaces.
# The leading lookahead rejects at once every position where no token can start, instead of
# trying the six alternatives there. ``{w}`` is one letter or digit: ``[^\W_]`` in any script, or
# ``[A-Za-z0-9]``, the same set on ASCII text and faster to scan (``{first}`` likewise, inside
# a set). The possessive ``++`` and ``*+`` find what plain ``+`` and ``*`` would: nothing after
# them could match had they given a character back.
_TOKEN_PATTERN = (
    r"(?=[{first}';:—–()\[\],\-])"
    r"(?:(?={w}++'){w}+?(?=(?:n't|'ll)\b)"
    r"|n't\b"
    r"|'ll\b"
    r"|{w}++(?:['\-]{w}++)*+"
    r"|[;:—–()\[\],]"
    r"|(?<=\s)--?(?=\s))"
)
_TOKEN = re.compile(_TOKEN_PATTERN.format(w=r"[^\W_]", first=r"\w"))
# With the whole pattern as a group, split() returns [gap, token, gap, token, ..., gap]: every
# token and, from the lengths, every offset, without a Python step per token.
_SPLIT = re.compile(f"({_TOKEN.pattern})")
_ASCII_SPLIT = re.compile(f"({_TOKEN_PATTERN.format(w='[A-Za-z0-9]', first='A-Za-z0-9')})")
# Every token that is not a word: words start with a letter, a digit or an apostrophe.
_PUNCT_TOKENS = frozenset({";", ":", "—", "–", "(", ")", "[", "]", ",", "-", "--"})

_MAX_GAP = 8
_MODAL_AFTER = 2
_PREDICATE_AFTER = 5
# "A Security Council vote on a US proposal to impose an arms embargo on South Sudan was
# postponed": the subject that was called off or postponed can be a long noun phrase.
_LONG_PREDICATE_AFTER = 14

_NEG = Modality.NEGATED
_HEDGE = Modality.HEDGED
_PLAN = Modality.PLANNED
_PAST = Modality.PAST

# (modality, scope, before, after, phrases); each phrase list is "|"-separated.
_TABLE: list[tuple[Modality | None, _Scope, bool, int, str]] = [
    # Negation.
    (_NEG, _Scope.VERB, True, 0, "not|n't|never|never before|cannot|no longer|neither|nor"),
    (_NEG, _Scope.VERB, True, 0, "failed to|fails to|fail to|failing to"),
    (_NEG, _Scope.PHRASE, True, 0, "no|without|none of"),
    (
        _NEG,
        _Scope.CLAUSE,
        True,
        0,
        "did not include|does not include|do not include|didn't include|doesn't include"
        "|no sign of|no signs of|no evidence|no indication|ruled out|rules out|rule out"
        "|ruling out|scrapped|scraps|scrap|abandoned|abandons"
        "|stopped short of|stopping short of|stops short of|stop short of",
    ),
    (
        _NEG,
        _Scope.CLAUSE,
        True,
        _LONG_PREDICATE_AFTER,
        "called off|calls off|call off|cancelled|canceled|cancels|postponed|postpones"
        "|put off|pushed back|was delayed|were delayed|been delayed|deferred",
    ),
    (
        _NEG,
        _Scope.DENIAL,
        True,
        0,
        "denied|denies|deny|denying|refuted|refutes|refute|retracted|retracts|not true"
        "|rejected reports|rejects reports|rejected claims|rejects claims"
        "|rejected accusations|rejects accusations|rejected allegations|rejects allegations"
        "|dismissed reports|dismisses reports|dismissed claims|dismisses claims"
        "|dismissed as|dismisses as|dismissing as|rejected as|rejects as|rejecting as"
        "|"
        + "|".join(
            f"{verb} {whose} {what}"
            for verb in ("rejected", "rejects", "dismissed", "dismisses")
            for whose in ("media", "press", "news", "the", "these", "those")
            for what in ("reports", "claims", "accusations", "allegations")
        ),
    ),
    # Corrections: "An earlier version of this report said Pakistan had test-fired ...". What
    # follows was reported and withdrawn: in doubt, like a hedge, to the end of the sentence
    # (a correction often fixes a detail, and the event itself may still be true).
    (
        _HEDGE,
        _Scope.DENIAL,
        True,
        0,
        "an earlier version|a previous version|incorrectly reported|wrongly reported"
        "|erroneously reported|mistakenly reported|incorrectly said|wrongly said"
        "|erroneously said|mistakenly said|incorrectly stated|wrongly stated",
    ),
    (
        _NEG,
        _Scope.CLAUSE,
        False,
        _PREDICATE_AFTER,
        "was denied|were denied|been denied|did not happen|did not take place|didn't happen"
        "|never happened|never took place|did not occur|had not occurred|was false|were false"
        "|is false|are false|was untrue|were untrue|not imminent|not necessarily imminent"
        "|is fabrication|is a fabrication|was a fabrication|is a lie|was a lie",
    ),
    # Hedges.
    (_HEDGE, _Scope.VERB, True, _MODAL_AFTER, "may|might|could|would|should"),
    (
        _HEDGE,
        _Scope.VERB,
        True,
        0,
        "threatened to|threatens to|threaten to|threatening to|vowed to|vows to|vow to"
        "|vowing to|capable of|ability to|hopes to|wants to|want to|likely to|ready to",
    ),
    (
        _HEDGE,
        _Scope.PHRASE,
        True,
        0,
        "possible|possibly|potential|potentially|suspected|alleged|allegedly|apparent|any"
        "|probable|probably|purported|purportedly",
    ),
    (
        _HEDGE,
        _Scope.CLAUSE,
        True,
        0,
        "reportedly considering|considering|considers|consider|weighing|weighs|mulling"
        "|speculation|rumour|rumours|rumor|rumors|warned of|warns of|threat of|risk of"
        "|suggest|suggests|suggested|suggesting|seek|seeks|sought|seeking|urged|urges"
        "|called for|calls for|call for|threatens|threatened|threatening|comparable to"
        "|equivalent to"
        "|recommended|recommends|recommend|demanded|demands|pushing for|push for"
        "|did not rule out|does not rule out|would not rule out|could not rule out"
        "|not ruling out|didn't rule out|not ruled out|hasn't ruled out|haven't ruled out"
        "|not clear|not immediately clear|unclear"
        "|purported to show|purporting to show|purports to show|claimed to show"
        "|claiming to show|claims to show|said to show"
        "|could not confirm|could not be confirmed|could not immediately confirm"
        "|not immediately confirm|could not independently confirm",
    ),
    (_HEDGE, _Scope.CLAUSE, True, 0, "if|unless|whether"),
    (_HEDGE, _Scope.CLAUSE, True, _PREDICATE_AFTER, "one of the options|options|an option"),
    (
        _HEDGE,
        _Scope.CLAUSE,
        True,
        _PREDICATE_AFTER,
        "is possible|are possible|under consideration|being considered|on the table"
        "|being discussed|being weighed|remains an option|unverified|unconfirmed"
        "|not verified|not confirmed|not been verified|not been confirmed",
    ),
    # Past: history recalled in a story about something else.
    (
        _PAST,
        _Scope.CLAUSE,
        True,
        _PREDICATE_AFTER,
        "years ago|decades ago|a decade ago|a century ago|a generation ago|years earlier"
        "|decades earlier|as far back as",
    ),
    (_PAST, _Scope.CLAUSE, True, 0, "years after|decades after|on this day in|on this date in"),
    # Planned.
    (_PLAN, _Scope.VERB, True, _MODAL_AFTER, "will|'ll|shall"),
    (
        _PLAN,
        _Scope.VERB,
        True,
        0,
        "plans to|plan to|planning to|planned to|is set to|are set to|set to|is due to"
        "|are due to|was due to|were due to|expected to|is expected to|are expected to"
        "|is scheduled to|are scheduled to|preparing to|prepares to"
        "|prepare to|intends to|intend to|intended to|intending to|aims to|aim to"
        "|to vote|is to|are to|scheduled to|poised to|about to|going to",
    ),
    (
        _PLAN,
        _Scope.PHRASE,
        True,
        0,
        "planned|proposed|draft|upcoming|forthcoming|scheduled|imminent",
    ),
    (_PLAN, _Scope.CLAUSE, True, 0, "preparing|preparations for|preparation for|readying|readies"),
    (_PLAN, _Scope.CLAUSE, True, _MODAL_AFTER, "next week|next month|next year|later this week"),
    (
        _PLAN,
        _Scope.CLAUSE,
        True,
        _MODAL_AFTER,
        "is scheduled|is planned|planned for|is expected|are expected|is due|are due"
        "|later this month|tomorrow",
    ),
    # Neutral phrases: they negate or hedge nothing, and hide the cue or boundary inside.
    (
        None,
        _Scope.NONE,
        False,
        0,
        "no one|nobody|no comment|no immediate comment|not only|not just|not least"
        "|not the first|did not comment|didn't comment|did not immediately comment"
        "|did not respond|did not immediately respond|could not be reached"
        "|declined to comment|no doubt|as well as|such as|as many as|as much as|as few as"
        "|as far as|as part of|as early as|as of|as planned|as expected|as usual|as reported"
        "|as a result",
    ),
]

# Subordinating words open a clause that the next comma closes; contrasting ones also end
# the reach of a denial.
_SUBORDINATE = {
    "although": True,
    "though": True,
    "while": True,
    "whereas": True,
    "when": False,
    "whenever": False,
    "after": False,
    "before": False,
    "until": False,
    "since": False,
    "as": False,
    "because": False,
    "if": False,
    "unless": False,
    "whether": False,
}
_CONTRAST = frozenset({"but", "however"})
# Word after a comma -> whether the new clause contrasts with the previous one.
_AFTER_COMMA = {
    "and": False,
    "or": False,
    "so": False,
    "yet": True,
    "nor": False,
    "which": False,
    "who": False,
    "where": False,
    "saying": False,
    "adding": False,
}
_RELATIVE = frozenset({"which", "who", "where"})
_HARD_PUNCT = frozenset({";"})
_SOFT_PUNCT = frozenset({":", "—", "–", "(", ")", "[", "]", "-", "--"})
_FINITE_AUX = frozenset(
    {"is", "are", "was", "were", "am", "has", "have", "had", "do", "does", "did"}
)
# Words that may sit between a verb cue and its verb without ending its reach.
_VERB_CHAIN = _FINITE_AUX | {
    "be",
    "been",
    "being",
    "not",
    "n't",
    "also",
    "still",
    "soon",
    "again",
    "yet",
    "never",
    "even",
    "already",
    "ever",
    "then",
    "now",
    "only",
    "just",
    "reportedly",
    "possibly",
    "probably",
    "likely",
    "immediately",
    "actually",
    "formally",
    "finally",
}
# A noun phrase keeps these prepositions ("a ban on oil", "no sign of"); others end it.
_PHRASE_PREPOSITIONS = frozenset({"of", "on", "against", "for"})
_PREPOSITIONS = frozenset(
    {
        "of",
        "on",
        "in",
        "at",
        "from",
        "for",
        "about",
        "to",
        "with",
        "by",
        "over",
        "near",
        "during",
        "since",
        "into",
        "against",
        "toward",
        "towards",
        "amid",
        "despite",
        "through",
        "across",
        "off",
    }
)
_NOT_AFTER = frozenset({"and", "or", "that", "which", "who", "whose", "where"})
# "in May", "since May": the month, not the modal verb.
_MONTH_BEFORE = frozenset(
    {"in", "on", "of", "since", "early", "late", "mid", "last", "next", "until", "by", "from"}
)

_RANK = {_NEG: 0, _HEDGE: 1, _PLAN: 2, _PAST: 3}
# A year, as in "when missiles flew over Hokkaido in 2017" (see _when_in_a_year).
_YEAR = re.compile(r"(?:19|20)\d\ds?")
# A sentence that ends in a question mark (before closing quotes, brackets or an ellipsis).
_QUESTION = re.compile(r"\?[\s\"'\u201d\u2019)\]\u2026]*$")


class _Words(NamedTuple):
    """The words of a sentence, as parallel lists indexed by word number."""

    texts: list[str]  # lower case
    starts: list[int]
    ends: list[int]
    # Every token in order, words and punctuation marks alike, in lower case.
    tokens: list[str]
    # The word number of each token that is a word (and of the word before a punctuation mark).
    word_of: list[int]


class _Found(NamedTuple):
    cue: _Cue
    first: int  # word indices, inclusive
    last: int


@dataclass
class _Node:
    """A node of the cue trie: the cue whose phrase ends here, and the words that may follow."""

    cue: _Cue | None = None
    next: dict[str, _Node] = field(default_factory=dict)


def _cue_trie() -> dict[str, _Node]:
    """Index every cue phrase word by word, from its first word."""
    root: dict[str, _Node] = {}
    for modality, scope, before, after, phrases in _TABLE:
        for phrase in phrases.split("|"):
            words = tuple(m.group().lower() for m in _TOKEN.finditer(phrase))
            first = words[0]
            # "after" opens a clause, and so does "years after" (at its last word).
            opens = modality is not None and (
                (len(words) == 1 and first in _SUBORDINATE)
                or (len(words) > 1 and words[-1] == "after")
            )
            node = root.setdefault(first, _Node())
            for word in words[1:]:
                node = node.next.setdefault(word, _Node())
            if node.cue is None:  # were a phrase listed twice, its first entry would count
                node.cue = _Cue(words, modality, scope, before, after, opens)
    return root


_CUES = _cue_trie()


def classify(sentence: str, trigger_start: int, trigger_end: int) -> ModalityResult:
    """Classify the event named by ``sentence[trigger_start:trigger_end]``."""
    text = fold(sentence)
    if _in_compound(text, trigger_start):
        # "submarine-launched missiles" names a kind of missile; it reports no launch.
        start = text.rfind(" ", 0, trigger_start) + 1
        return ModalityResult(Modality.HEDGED, sentence[start:trigger_end], start, trigger_end)
    parts = _split(text)
    tokens = list(map(str.lower, parts[1::2]))
    found = _find_cues(tokens, parts, text)
    question = _QUESTION.search(text)
    dated = "when" in tokens and any(_YEAR.fullmatch(t) for t in tokens)
    # Without a cue that has a modality (neutral phrases have none) nothing can change the
    # answer, so word positions, clauses and scopes are only worked out when one was found.
    if all(f.cue.modality is None for f in found) and question is None and not dated:
        return ModalityResult(Modality.ASSERTED, "", trigger_start, trigger_start)
    words = _words(parts, tokens)
    found = [_Found(f.cue, words.word_of[f.first], words.word_of[f.last]) for f in found]
    t0, t1 = _trigger_words(words, trigger_start, trigger_end)
    clause, region = _clauses(words, found)
    best: tuple[int, int, _Found] | None = None
    for f in found:
        modality = f.cue.modality
        if modality is None:
            continue
        gap = _reach(f, t0, t1, words.texts, clause, region)
        if gap is None:
            continue
        key = (_RANK[modality], gap)
        if best is None or key < best[:2]:
            best = (key[0], key[1], f)
    # A question asks about the event of its last clause ("is there a date yet for the
    # Council vote?"); a headline's question after a dash or colon leaves the event before it
    # asserted ("North Korea fires missile: what happens next?").
    if (
        question is not None
        and (best is None or _RANK[_HEDGE] < best[0])
        and words.texts
        and clause[len(words.texts) - 1] == clause[t0]
    ):
        at = question.start()
        return ModalityResult(Modality.HEDGED, sentence[at : at + 1], at, at + 1)
    if best is None and dated:
        year = _when_in_a_year(words, clause, t0)
        if year is not None:
            start, end = words.starts[year], words.ends[year]
            return ModalityResult(Modality.PAST, sentence[start:end], start, end)
    if best is None:
        return ModalityResult(Modality.ASSERTED, "", trigger_start, trigger_start)
    f = best[2]
    start, end = words.starts[f.first], words.ends[f.last]
    assert f.cue.modality is not None
    return ModalityResult(f.cue.modality, sentence[start:end], start, end)


def _in_compound(text: str, start: int) -> bool:
    """Whether the trigger at ``start`` ends a hyphenated word such as "air-launched" (not a
    verb such as "test-fired" or "re-launched")."""
    if start < 2 or text[start - 1] != "-" or not text[start - 2].isalpha():
        return False
    first = text.rfind(" ", 0, start) + 1
    return text[first : start - 1].lower().lstrip("\"'(\u201c\u2018") not in _VERB_PREFIXES


# "test-fired", "re-launched", "flight-tested": the hyphenated word is still the verb.
_VERB_PREFIXES = frozenset({"test", "re", "flight", "live", "co", "pre", "double", "triple"})


def _when_in_a_year(words: _Words, clause: list[int], t0: int) -> int | None:
    """The year in the trigger's clause when that clause opens with "when": "When North Korean
    missiles flew over Hokkaido in 2017, ..." recalls history (a report of the day would say
    "on Tuesday"). Returns the year's word number, or None."""
    mine = [i for i, c in enumerate(clause) if c == clause[t0]]
    if words.texts[mine[0]] != "when":
        return None
    return next((i for i in mine if _YEAR.fullmatch(words.texts[i])), None)


def classify_in_text(text: str, start: int, end: int) -> ModalityResult:
    """Classify the span ``text[start:end]`` within its sentence; offsets refer to ``text``."""
    starts = sentence_starts(text)
    first = index_of(starts, start)
    last = index_of(starts, max(start, end - 1))
    lo = starts[first]
    hi = starts[last + 1] if last + 1 < len(starts) else len(text)
    result = classify(text[lo:hi], start - lo, end - lo)
    return ModalityResult(result.modality, result.cue, result.cue_start + lo, result.cue_end + lo)


def _split(text: str) -> list[str]:
    """Split ``text`` into ``[gap, token, gap, token, ..., gap]``; tokens are words or marks."""
    return (_ASCII_SPLIT if text.isascii() else _SPLIT).split(text)


def _words(parts: list[str], tokens: list[str]) -> _Words:
    """Return the words among ``tokens`` (lower case) with their offsets in the text."""
    # offsets[j] is where parts[j] ends, so token k (parts[2k + 1]) spans offsets[2k] to
    # offsets[2k + 1].
    offsets = list(itertools.accumulate(map(len, parts)))
    starts = offsets[0:-1:2]
    ends = offsets[1::2]
    if _PUNCT_TOKENS.isdisjoint(tokens):
        # The common case: every token is a word.
        return _Words(tokens, starts, ends, tokens, list(range(len(tokens))))
    is_word = [token not in _PUNCT_TOKENS for token in tokens]
    # Counting the words so far numbers them: the word count up to a word, less one.
    word_of = [count - 1 for count in itertools.accumulate(is_word)]
    return _Words(
        list(itertools.compress(tokens, is_word)),
        list(itertools.compress(starts, is_word)),
        list(itertools.compress(ends, is_word)),
        tokens,
        word_of,
    )


def _trigger_words(words: _Words, start: int, end: int) -> tuple[int, int]:
    """Return the first and last word index covered by the trigger span.

    Words do not overlap, so both their starts and their ends increase, and bisection finds
    the words that overlap ``start``..``end`` (at least one character wide).
    """
    first = bisect_right(words.ends, start)  # the first word that ends after ``start``
    last = bisect_left(words.starts, max(end, start + 1)) - 1  # the last that starts before
    if first <= last:
        return first, last
    # No word inside: the first word at or after ``start``, else the last word.
    i = min(bisect_left(words.starts, start), len(words.starts) - 1)
    return i, i


def _find_cues(tokens: list[str], parts: list[str], text: str) -> list[_Found]:
    """Find cue phrases left to right, longest first; found phrases do not overlap.

    ``tokens`` are all tokens in lower case, punctuation marks included, and the phrases found
    are numbered by token. A phrase never spans punctuation: no mark equals a word of a cue.
    """
    found: list[_Found] = []
    size = len(tokens)
    ends: list[int] = []  # where each token ends in ``text``; worked out when first needed
    free = 0  # the first token not inside a phrase found so far
    for i in [i for i, token in enumerate(tokens) if token in _CUES]:
        if i < free:
            continue
        # Walk the trie along the tokens from i: each node with a cue is a phrase that matches.
        matches: list[tuple[int, _Cue]] = []  # (token after the phrase, cue)
        node: _Node | None = _CUES[tokens[i]]
        after = i + 1
        while node is not None:
            if node.cue is not None:
                matches.append((after, node.cue))
            node = node.next.get(tokens[after]) if after < size else None
            after += 1
        for after, cue in reversed(matches):  # longest first
            if after == i + 1 and tokens[i] in _LOOKALIKES:
                if not ends:
                    ends = list(itertools.accumulate(map(len, parts)))[1::2]
                if not _is_cue(tokens, parts, ends, i, text):
                    continue
            found.append(_Found(cue, i, after - 1))
            free = after
            break
    return found


# Single-word cues that have a look-alike (see _is_cue).
_LOOKALIKES = frozenset({"may", "no"})


def _is_cue(tokens: list[str], parts: list[str], ends: list[int], i: int, text: str) -> bool:
    """Rule out look-alikes of the cue ``tokens[i]``: the month May and the abbreviation No.

    ``parts`` is ``_split(text)`` and ``ends`` where each token ends.
    """
    end = ends[i]
    if parts[2 * i + 1] == "May":
        # The words next to it, skipping punctuation marks.
        nxt = next((k for k in range(i + 1, len(tokens)) if tokens[k] not in _PUNCT_TOKENS), None)
        prev = next((k for k in range(i - 1, -1, -1) if tokens[k] not in _PUNCT_TOKENS), None)
        if nxt is None or tokens[nxt].isdigit() or text[end : end + 1] == ",":
            return False
        if prev is not None and (tokens[prev] in _MONTH_BEFORE or tokens[prev].isdigit()):
            return False
        # Mid-sentence capital May is a month or a name, unless a headline is in title case.
        return prev is None or parts[2 * nxt + 1][:1].isupper()
    return not (tokens[i] == "no" and text[end : end + 1] == ".")


def _clauses(words: _Words, found: list[_Found]) -> tuple[list[int], list[int]]:
    """Number each word's clause, and its region (the reach of a denial)."""
    hidden: set[int] = set()
    opener: set[int] = set()
    for f in found:
        hidden.update(range(f.first, f.last + 1))
        if f.cue.opens_clause:
            opener.add(f.last)
    clause_of: list[int] = []
    region_of: list[int] = []
    clause = region = 0
    subordinate = False
    comma = False
    i = 0  # word number
    # All tokens in order: a punctuation mark acts on the clause of the words after it.
    for mark in words.tokens:
        if mark in _PUNCT_TOKENS:
            if mark in _HARD_PUNCT:
                clause, region, subordinate = clause + 1, region + 1, False
            elif mark in _SOFT_PUNCT:
                clause += 1
            elif mark == "," and subordinate:
                clause, region, subordinate = clause + 1, region + 1, False
                comma = True  # ", which ..." may open the next clause at once
            elif mark == ",":
                comma = True
            continue
        text = words.texts[i]
        if i not in hidden or i in opener:
            if text in _SUBORDINATE:
                clause += 1
                region += _SUBORDINATE[text]
                subordinate = True
            elif text in _CONTRAST:
                clause, region, subordinate = clause + 1, region + 1, False
            elif comma and text in _AFTER_COMMA:
                clause += 1
                region += _AFTER_COMMA[text]
                # A relative clause ends at its closing comma: in "..., which flew higher
                # than any missile, the Council voted" the vote is no longer in its scope.
                subordinate = text in _RELATIVE
        comma = False
        clause_of.append(clause)
        region_of.append(region)
        i += 1
    return clause_of, region_of


def _reach(
    f: _Found, t0: int, t1: int, texts: list[str], clause: list[int], region: list[int]
) -> int | None:
    """Return the distance in words when the cue scopes over the trigger, else None."""
    cue = f.cue
    if t0 <= f.first <= t1:
        return None  # the cue is part of the trigger itself
    if f.first < t0:
        if not cue.before:
            return None
        gap = max(0, t0 - f.last - 1)  # the number of words between cue and trigger
        if cue.scope is _Scope.DENIAL:
            return gap if region[f.first] == region[t0] else None
        if clause[f.last] != clause[t0] or gap > _MAX_GAP:
            return None
        between = texts[f.last + 1 : t0]
        if cue.scope is _Scope.VERB and _verb_ends(between):
            return None
        if cue.scope is _Scope.PHRASE and any(
            w in _PREPOSITIONS and w not in _PHRASE_PREPOSITIONS for w in between
        ):
            return None
        return gap
    gap = f.first - t1 - 1
    if not cue.after or gap > cue.after or clause[f.first] != clause[t1]:
        return None
    if any(w in _NOT_AFTER for w in texts[t1 + 1 : f.first]):
        return None
    return gap


def _verb_ends(between: list[str]) -> bool:
    """Return True when a new finite verb follows the verb a cue governs."""
    content = False
    for word in between:
        if word in _FINITE_AUX and content:
            return True
        if word not in _VERB_CHAIN:
            content = True
    return False
