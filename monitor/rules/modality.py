"""Tell whether a matched event is asserted, negated, hedged or planned, from cue words.

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
5. When several cues scope over the trigger, NEGATED beats HEDGED beats PLANNED, and the
   nearest cue of that kind is reported. With no cue in scope the event is ASSERTED.

Cues (the full lists are in ``_TABLE`` below):

- NEGATED: not, n't, never, no, without, neither/nor, cannot, no longer, failed to, did not
  include, no sign of, no evidence, ruled out, called off, scrapped, cancelled, postponed,
  abandoned; denials: denied, denies, deny, refuted, retracted, rejected reports, dismissed
  reports, not true; after the trigger: was denied, did not happen, were false.
- HEDGED: may, might, could, would, should, possible, possibly, potential, suspected,
  alleged, considering, reportedly considering, options, one of the options, if, unless,
  whether, speculation, rumour(s)/rumor(s), threatened to, threatens to, vowed to, capable
  of, ability to, warned of, seek, urged, called for, recommended, unclear, did not rule
  out; after the trigger: is possible, under consideration, on the table.
- PLANNED: will, 'll, shall, plans to, planned, is set to, is due to, are due to,
  scheduled, next week, next month, expected to, preparing to, intends to, aims to, to vote,
  proposed, draft, upcoming.

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
from dataclasses import dataclass

from monitor.text import fold_quotes, index_of, sentence_starts


class Modality(enum.StrEnum):
    ASSERTED = "asserted"
    NEGATED = "negated"
    HEDGED = "hedged"
    PLANNED = "planned"


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


# "didn't" -> "did" + "n't" and "it'll" -> "it" + "'ll", so contractions are cues by themselves.
_TOKEN = re.compile(
    r"[^\W_]+?(?=(?:n't|'ll)\b)|n't\b|'ll\b|[^\W_]+(?:['\-][^\W_]+)*|[;:—–()\[\],]|(?<=\s)--?(?=\s)"
)

_MAX_GAP = 8
_MODAL_AFTER = 2
_PREDICATE_AFTER = 5

_NEG = Modality.NEGATED
_HEDGE = Modality.HEDGED
_PLAN = Modality.PLANNED

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
        "|ruling out|scrapped|scraps|scrap|abandoned|abandons",
    ),
    (
        _NEG,
        _Scope.CLAUSE,
        True,
        _PREDICATE_AFTER,
        "called off|calls off|call off|cancelled|canceled|cancels|postponed|postpones",
    ),
    (
        _NEG,
        _Scope.DENIAL,
        True,
        0,
        "denied|denies|deny|denying|refuted|refutes|refute|retracted|retracts|not true"
        "|rejected reports|rejects reports|rejected claims|rejects claims"
        "|dismissed reports|dismisses reports|dismissed claims|dismisses claims",
    ),
    (
        _NEG,
        _Scope.CLAUSE,
        False,
        _PREDICATE_AFTER,
        "was denied|were denied|been denied|did not happen|did not take place|didn't happen"
        "|never happened|never took place|did not occur|had not occurred|was false|were false"
        "|is false|are false|was untrue|were untrue",
    ),
    # Hedges.
    (_HEDGE, _Scope.VERB, True, _MODAL_AFTER, "may|might|could|would|should"),
    (
        _HEDGE,
        _Scope.VERB,
        True,
        0,
        "threatened to|threatens to|threaten to|threatening to|vowed to|vows to|vow to"
        "|vowing to|capable of|ability to|hopes to|wants to|want to|likely to",
    ),
    (
        _HEDGE,
        _Scope.PHRASE,
        True,
        0,
        "possible|possibly|potential|potentially|suspected|alleged|allegedly|apparent"
        "|probable|probably",
    ),
    (
        _HEDGE,
        _Scope.CLAUSE,
        True,
        0,
        "reportedly considering|considering|considers|consider|weighing|weighs|mulling"
        "|speculation|rumour|rumours|rumor|rumors|warned of|warns of|threat of|risk of"
        "|suggest|suggests|suggested|suggesting|seek|seeks|sought|seeking|urged|urges"
        "|called for|calls for|call for"
        "|recommended|recommends|recommend|demanded|demands|pushing for|push for"
        "|did not rule out|does not rule out|would not rule out|could not rule out"
        "|not ruling out|didn't rule out|not clear|not immediately clear|unclear|unconfirmed"
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
        "|being discussed|being weighed|remains an option",
    ),
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
    (_PLAN, _Scope.CLAUSE, True, 0, "preparing|preparations for|preparation for"),
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

_RANK = {_NEG: 0, _HEDGE: 1, _PLAN: 2}


@dataclass(frozen=True)
class _Word:
    text: str  # lower-case
    raw: str
    start: int
    end: int
    token: int  # index among all tokens, to tell whether two words are adjacent


@dataclass(frozen=True)
class _Found:
    cue: _Cue
    first: int  # word indices, inclusive
    last: int


def _lexicon() -> dict[str, list[_Cue]]:
    """Index every cue phrase by its first word, longest phrase first."""
    index: dict[str, list[_Cue]] = {}
    for modality, scope, before, after, phrases in _TABLE:
        for phrase in phrases.split("|"):
            words = tuple(m.group().lower() for m in _TOKEN.finditer(phrase))
            first = words[0]
            opens = modality is not None and len(words) == 1 and first in _SUBORDINATE
            cue = _Cue(words, modality, scope, before, after, opens)
            index.setdefault(first, []).append(cue)
    for cues in index.values():
        cues.sort(key=lambda c: -len(c.words))
    return index


_LEXICON = _lexicon()


def classify(sentence: str, trigger_start: int, trigger_end: int) -> ModalityResult:
    """Classify the event named by ``sentence[trigger_start:trigger_end]``."""
    text = fold_quotes(sentence)
    words, puncts = _tokenize(text)
    asserted = ModalityResult(Modality.ASSERTED, "", trigger_start, trigger_start)
    if not words:
        return asserted
    t0, t1 = _trigger_words(words, trigger_start, trigger_end)
    found = _find_cues(words, text)
    clause, region = _clauses(words, puncts, found)
    best: tuple[int, int, _Found] | None = None
    for f in found:
        modality = f.cue.modality
        if modality is None:
            continue
        gap = _reach(f, t0, t1, words, clause, region)
        if gap is None:
            continue
        key = (_RANK[modality], gap)
        if best is None or key < best[:2]:
            best = (key[0], key[1], f)
    if best is None:
        return asserted
    f = best[2]
    start, end = words[f.first].start, words[f.last].end
    assert f.cue.modality is not None
    return ModalityResult(f.cue.modality, sentence[start:end], start, end)


def classify_in_text(text: str, start: int, end: int) -> ModalityResult:
    """Classify the span ``text[start:end]`` within its sentence; offsets refer to ``text``."""
    starts = sentence_starts(text)
    first = index_of(starts, start)
    last = index_of(starts, max(start, end - 1))
    lo = starts[first]
    hi = starts[last + 1] if last + 1 < len(starts) else len(text)
    result = classify(text[lo:hi], start - lo, end - lo)
    return ModalityResult(result.modality, result.cue, result.cue_start + lo, result.cue_end + lo)


def _tokenize(text: str) -> tuple[list[_Word], dict[int, str]]:
    """Split ``text`` into words and punctuation marks, the latter keyed by token index."""
    words: list[_Word] = []
    puncts: dict[int, str] = {}
    for n, m in enumerate(_TOKEN.finditer(text)):
        token = m.group()
        if token[0].isalnum() or token[0] == "'":
            words.append(_Word(token.lower(), token, m.start(), m.end(), n))
        else:
            puncts[n] = token
    return words, puncts


def _trigger_words(words: list[_Word], start: int, end: int) -> tuple[int, int]:
    """Return the first and last word index covered by the trigger span."""
    inside = [i for i, w in enumerate(words) if w.end > start and w.start < max(end, start + 1)]
    if inside:
        return inside[0], inside[-1]
    following = [i for i, w in enumerate(words) if w.start >= start]
    i = following[0] if following else len(words) - 1
    return i, i


def _find_cues(words: list[_Word], text: str) -> list[_Found]:
    """Find cue phrases left to right, longest first; found phrases do not overlap."""
    found: list[_Found] = []
    i = 0
    while i < len(words):
        for cue in _LEXICON.get(words[i].text, ()):
            n = len(cue.words)
            span = words[i : i + n]
            if len(span) < n or any(w.text != c for w, c in zip(span, cue.words, strict=True)):
                continue
            if any(b.token != a.token + 1 for a, b in itertools.pairwise(span)):
                continue  # a phrase never spans punctuation
            if not _is_cue(cue, words, i, text):
                continue
            found.append(_Found(cue, i, i + n - 1))
            i += n
            break
        else:
            i += 1
    return found


def _is_cue(cue: _Cue, words: list[_Word], i: int, text: str) -> bool:
    """Rule out look-alikes: the month May and the abbreviation No."""
    word = words[i]
    if cue.words == ("may",) and word.raw == "May":
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is None or nxt.text.isdigit() or text[word.end : word.end + 1] == ",":
            return False
        if i > 0 and (words[i - 1].text in _MONTH_BEFORE or words[i - 1].text.isdigit()):
            return False
        # Mid-sentence capital May is a month or a name, unless a headline is in title case.
        return i == 0 or nxt.raw[:1].isupper()
    return not (cue.words == ("no",) and text[word.end : word.end + 1] == ".")


def _clauses(
    words: list[_Word], puncts: dict[int, str], found: list[_Found]
) -> tuple[list[int], list[int]]:
    """Number each word's clause, and its region (the reach of a denial)."""
    hidden: set[int] = set()
    opener: set[int] = set()
    for f in found:
        hidden.update(range(f.first, f.last + 1))
        if f.cue.opens_clause:
            opener.add(f.first)
    clause_of: list[int] = []
    region_of: list[int] = []
    clause = region = 0
    subordinate = False
    comma = False
    token = 0
    for i, word in enumerate(words):
        while token < word.token:
            mark = puncts.get(token)
            token += 1
            if mark is None:
                continue
            if mark in _HARD_PUNCT:
                clause, region, subordinate = clause + 1, region + 1, False
            elif mark in _SOFT_PUNCT:
                clause += 1
            elif mark == "," and subordinate:
                clause, region, subordinate = clause + 1, region + 1, False
            elif mark == ",":
                comma = True
        token = word.token + 1
        text = word.text
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
        comma = False
        clause_of.append(clause)
        region_of.append(region)
    return clause_of, region_of


def _reach(
    f: _Found, t0: int, t1: int, words: list[_Word], clause: list[int], region: list[int]
) -> int | None:
    """Return the distance in words when the cue scopes over the trigger, else None."""
    cue = f.cue
    if t0 <= f.first <= t1:
        return None  # the cue is part of the trigger itself
    if f.first < t0:
        if not cue.before:
            return None
        between = [w.text for w in words[f.last + 1 : t0]]
        if cue.scope is _Scope.DENIAL:
            return len(between) if region[f.first] == region[t0] else None
        if clause[f.last] != clause[t0] or len(between) > _MAX_GAP:
            return None
        if cue.scope is _Scope.VERB and _verb_ends(between):
            return None
        if cue.scope is _Scope.PHRASE and any(
            w in _PREPOSITIONS and w not in _PHRASE_PREPOSITIONS for w in between
        ):
            return None
        return len(between)
    between = [w.text for w in words[t1 + 1 : f.first]]
    if not cue.after or len(between) > cue.after or clause[f.first] != clause[t1]:
        return None
    if any(w in _NOT_AFTER for w in between):
        return None
    return len(between)


def _verb_ends(between: list[str]) -> bool:
    """Return True when a new finite verb follows the verb a cue governs."""
    content = False
    for word in between:
        if word in _FINITE_AUX and content:
            return True
        if word not in _VERB_CHAIN:
            content = True
    return False
