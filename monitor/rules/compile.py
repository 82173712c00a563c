"""Compile rule terms to linear-time RE2 patterns and all rules into one RuleSet."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import ahocorasick
import re2

from monitor.rules.schema import Clause, RuleSpec, Term, terms_of

# RE2's \b is ASCII-only, so word boundaries are spelled out with Unicode classes.
_BEFORE = r"(?:^|[^\pL\pN_])"
_AFTER = r"(?:[^\pL\pN_]|$)"
_WORDCHAR = r"[\pL\pN_]"


class TermError(ValueError):
    """A term cannot be compiled; the message says why."""


# One term's pattern needs little; RE2 falls back to a slower engine rather than fail.
SINGLE_MAX_MEM = 1 << 20
# Occurrences of one term kept per field: enough for evidence and snippets, and a text that
# repeats a word ten thousand times cannot make matching quadratic.
MAX_HITS = 64
# RE2 program size of a user regex (\w{1000} is about 3,000; ".{1000}" x 7 is 56,000).
MAX_PROGRAM = 10_000


def _options(max_mem: int = 64 << 20) -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = True
    options.max_mem = max_mem
    return options


def term_body(term: Term) -> str:
    """Return the RE2 pattern for a term's words, without boundaries or flags."""
    text = term.text
    if term.is_regex:
        source = text[1:-1]
        try:
            re.compile(source)
        except re.error as exc:
            raise TermError(f"invalid regex '{source}': {exc}") from exc
        except (OverflowError, RecursionError) as exc:
            raise TermError(f"invalid regex '{source}': too complex") from exc
        try:
            program = re2.compile(source, _options()).programsize
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise TermError(
                f"regex '{source}' uses syntax the linear-time engine does not support"
                f" ({reason}); backreferences and lookarounds are not allowed"
            ) from exc
        if program > MAX_PROGRAM:
            # Linear time with a huge constant is still too slow to run on every article.
            raise TermError(
                f"regex '{source}' is too complex (program size {program}, limit {MAX_PROGRAM});"
                " use smaller repetition counts"
            )
        return f"(?:{source})"
    words = text.split()
    if not words:
        raise TermError("empty term")
    parts: list[str] = []
    for word in words:
        stem = word[:-1] if word.endswith("*") else word
        if "*" in stem:
            raise TermError(f"'*' is only allowed at the end of a word, in '{text}'")
        if not stem:
            raise TermError(f"'*' needs letters before it, in '{text}'")
        piece = re.escape(stem)
        if word.endswith("*"):
            piece += f"{_WORDCHAR}*"
        parts.append(piece)
    return r"\s+".join(parts)


def term_pattern(term: Term, case_sensitive: bool) -> str:
    """Return the full RE2 pattern: flags, Unicode word boundaries, and group 1 = the term."""
    flags = "" if case_sensitive else "(?i)"
    return f"{flags}{_BEFORE}({term_body(term)}){_AFTER}"


FIELD_BITS = {"title": 1, "summary": 2, "text": 4}
ALL_FIELDS = 7


@dataclass(frozen=True)
class Rule:
    """A compiled, matchable rule: its spec and the index of each of its terms."""

    spec: RuleSpec
    term_ids: dict[Term, int]
    positive: frozenset[int]
    # Necessary condition: each group needs at least one of its terms in the text.
    required: tuple[frozenset[int], ...] = ()
    # Terms whose modality decides the match (all positive terms when no clause is a trigger).
    triggers: frozenset[int] = frozenset()
    # Term ids by object identity: hashing a frozen dataclass on every lookup was a hot spot.
    tid_of: dict[int, int] = field(default_factory=dict)
    # For each clause (by identity): the term ids among its ``any`` items, checked as one set.
    any_terms: dict[int, frozenset[int]] = field(default_factory=dict)
    # The rule's fields as bits of FIELD_BITS.
    mask: int = 7
    # True when some clause needs word or sentence positions (``near``, ``same_sentence``).
    positional: bool = False
    # True when some clause counts words apart (``near``).
    near: bool = False
    # ``required`` as indexes into RuleSet.groups, and each clause's ``any`` terms likewise.
    required_groups: tuple[int, ...] = ()
    # True when the rule filters by source or language (``admits`` has work to do).
    filtered: bool = False
    any_groups: dict[int, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    def term_id(self, term: Term) -> int:
        return self.term_ids[term]


# How a term is checked in the screening text (lower-cased, runs of whitespace as one space):
# (words, is_prefix) found with str.find and a boundary check, or None: its RE2 pattern decides.
Check = tuple[str, bool] | None
# What the screen looks for to notice a term: (literal, boundary before, boundary after).
ScreenKey = tuple[str, bool, bool]


@dataclass
class RuleSet:
    """Every enabled rule compiled together.

    Matching an article has two stages. The screen is one Aho-Corasick automaton over one
    literal per rule (taken from the rule's rarest necessary group of terms), run once over
    the article's lower-cased text: it names the few rules that can possibly match. Only those
    rules are then evaluated, each term checked exactly (a substring search with word
    boundaries, or the term's RE2 pattern) and cached for the article. Positions, modality and
    the snippet are computed only for the rules that match.
    """

    rules: list[Rule]
    patterns: list[str]
    labels: list[str]
    by_term: dict[int, list[int]] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()
    # For group_by @list: each list's term texts, as Events are keyed by the term that matched.
    list_terms: dict[str, dict[str, str]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list, repr=False)
    # Rules whose necessary terms have no literal to screen for: evaluated on every article.
    always: tuple[int, ...] = ()
    # The longest literal screened for or searched: what a cut in a text can hide.
    longest: int = 0
    # literal -> (its length, [(boundary before, boundary after, rule indexes)])
    _screen: Any = field(default=None, repr=False)
    # Every plain-words term: literal -> (its length, exact term ids, prefix term ids).
    _words: Any = field(default=None, repr=False)
    _single: list[re2._Regexp | None] = field(default_factory=list, repr=False)
    # Sets of terms of which any one is enough (a rule's necessary groups, an ``any`` list).
    groups: list[frozenset[int]] = field(default_factory=list, repr=False)
    # Each group split into its plain-words terms and the others (regexes, case-sensitive).
    group_parts: list[tuple[frozenset[int], tuple[int, ...]]] = field(
        default_factory=list, repr=False
    )
    _phrases: dict[int, re.Pattern[str]] = field(default_factory=dict, repr=False)
    # Single-word, case-insensitive terms: (word, is_prefix); found with str.find, not RE2.
    simple: dict[int, tuple[str, bool]] = field(default_factory=dict, repr=False)
    # For terms checked with their RE2 pattern: a lower-case literal every match contains. A
    # field without it is not searched (most texts lack "sanction" or "veto").
    needs: dict[int, str] = field(default_factory=dict, repr=False)

    def screen(self, text: str) -> set[int]:
        """Return the indexes of the rules that may match ``text`` (screening form, see
        ``screening_text``); every other rule certainly does not."""
        found = set(self.always)
        automaton = self._screen
        if automaton is None or not text:
            return found
        last = len(text) - 1
        for end, (size, entries) in automaton.iter(text):
            start = end - size + 1
            before = start == 0 or not _is_word_char(text[start - 1])
            after = end == last or not _is_word_char(text[end + 1])
            for need_before, need_after, rules in entries:
                if (before or not need_before) and (after or not need_after):
                    found.update(rules)
        return found

    def words_in(self, text: str) -> set[int]:
        """Return the ids of every plain-words term (``checks``) that occurs in screening text."""
        automaton = self._words
        found: set[int] = set()
        if automaton is None or not text:
            return found
        last = len(text) - 1
        for end, (size, exact, prefixes) in automaton.iter(text):
            start = end - size + 1
            if start and _is_word_char(text[start - 1]):
                continue
            found.update(prefixes)
            if exact and (end == last or not _is_word_char(text[end + 1])):
                found.update(exact)
        return found

    def regex(self, term_id: int) -> re2._Regexp:
        """Return the compiled RE2 pattern of one term (compiled on first use)."""
        regex = self._single[term_id]
        if regex is None:
            # Most terms of a large rule set never get this far.
            try:
                regex = re2.compile(self.patterns[term_id], _options(SINGLE_MAX_MEM))
            except re2.error:
                # A big regular expression needs the budget it was validated with.
                regex = re2.compile(self.patterns[term_id], _options())
            self._single[term_id] = regex
        return regex

    def spans(self, term_id: int, text: str, lowered: str | None = None) -> list[tuple[int, int]]:
        """Return the (start, end) of every occurrence of one term in ``text``.

        ``lowered`` is ``text.lower()`` when that keeps every offset; simple terms use it.
        """
        simple = self.simple.get(term_id)
        if simple is not None and lowered is not None:
            return _find_word(lowered, *simple)[:MAX_HITS]
        check = self.checks[term_id]
        if check is not None and lowered is not None:
            # Plain words: a Python pattern on the lower-cased text, compiled in microseconds
            # where a Unicode-aware RE2 pattern takes milliseconds; literal words joined by
            # whitespace cannot backtrack.
            phrase = self._phrases.get(term_id)
            if phrase is None:
                phrase = self._phrases[term_id] = _phrase_pattern(*check)
            return _phrase_spans(phrase, lowered)
        regex = self.regex(term_id)
        out: list[tuple[int, int]] = []
        pos = 0
        while pos <= len(text) and len(out) < MAX_HITS:
            m = regex.search(text, pos)
            if m is None:
                break
            start, end = m.span(1)
            out.append((start, end))
            pos = end if end > pos else pos + 1
        return out


# Whitespace that str.split() drops but RE2's \s (tab, newline, form feed, carriage return,
# space) does not match: it must stay a boundary without joining words. A no-break space
# never gets here (fold turns it into a space).
ODD_SPACES = (
    "\x0b\x1c\x1d\x1e\x1f\x85\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ODD_TABLE = dict.fromkeys(map(ord, ODD_SPACES), "\x01")
_ODD_ASCII = re.compile("[\x0b\x1c-\x1f]")


def screening_text(folded: str) -> str:
    """Return the form of a (quote-folded) text that terms are screened and checked in.

    Lower-cased, with every run of RE2 whitespace as one space, so that a phrase's words joined
    by single spaces are found with a plain substring search; other whitespace becomes \x01,
    a boundary that no term contains.
    """
    lowered = folded.lower()
    if lowered.isascii():
        if _ODD_ASCII.search(lowered) is not None:
            lowered = lowered.translate(_ODD_TABLE)
    else:
        lowered = lowered.translate(_ODD_TABLE)
    return " ".join(lowered.split())


def _phrase_pattern(words: str, prefix: bool) -> re.Pattern[str]:
    """Return the pattern of lower-case words as RE2 would find them: any RE2 whitespace
    between words, a word boundary after (Python's \\w is RE2's [\\pL\\pN_]) and, for a
    prefix, the rest of the last word. It starts with a literal, which ``re`` searches for
    quickly; the boundary before is checked by ``_phrase_spans``."""
    body = "[\t\n\f\r ]+".join(re.escape(word) for word in words.split(" "))
    return re.compile(body + ("\\w*" if prefix else "(?!\\w)"))


def _phrase_spans(phrase: re.Pattern[str], lowered: str) -> list[tuple[int, int]]:
    """Find a phrase pattern on word boundaries, each search starting where the last hit
    ended (as the RE2 loop in ``RuleSet.spans`` does)."""
    out: list[tuple[int, int]] = []
    pos = 0
    while len(out) < MAX_HITS:
        m = phrase.search(lowered, pos)
        if m is None:
            break
        start, end = m.span()
        if start and _is_word_char(lowered[start - 1]):
            pos = start + 1
            continue
        out.append((start, end))
        pos = end if end > start else start + 1
    return out


def contains(text: str, check: tuple[str, bool]) -> bool:
    """Return whether a screening text holds the words of ``check`` on word boundaries."""
    words, prefix = check
    size = len(words)
    start = text.find(words)
    while start != -1:
        end = start + size
        if (start == 0 or not _is_word_char(text[start - 1])) and (
            prefix or end == len(text) or not _is_word_char(text[end])
        ):
            return True
        start = text.find(words, start + 1)
    return False


def _any_terms(node: Clause | Term, tid_of: dict[int, int]) -> dict[int, frozenset[int]]:
    out: dict[int, frozenset[int]] = {}
    if isinstance(node, Term):
        return out
    out[id(node)] = frozenset(tid_of[id(c)] for c in node.any if isinstance(c, Term))
    for child in (*node.any, *node.all, *node.none):
        out.update(_any_terms(child, tid_of))
    return out


def _list_terms(rules: list[Rule]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}

    def walk(node: Clause | Term) -> None:
        if isinstance(node, Term):
            return
        if node.list_name:
            found.setdefault(node.list_name, {}).update(
                {t.text: t.text for t in node.any if isinstance(t, Term)}
            )
        for child in (*node.any, *node.all, *node.none):
            walk(child)

    for rule in rules:
        walk(rule.spec.match)
    return found


def _trigger_terms(node: Clause | Term, inside: bool = False) -> list[Term]:
    """Return the positive terms below clauses marked ``trigger: true``."""
    if isinstance(node, Term):
        return [node] if inside else []
    inside = inside or node.trigger
    out: list[Term] = []
    for child in (*node.any, *node.all):
        out += _trigger_terms(child, inside)
    return out


def _required(node: Clause | Term, ids: dict[Term, int]) -> list[frozenset[int]]:
    """Groups of terms of which at least one must occur for ``node`` to hold."""
    if isinstance(node, Term):
        return [frozenset({ids[node]})]
    groups: list[frozenset[int]] = []
    for child in node.all:
        groups += _required(child, ids)
    if node.any:
        groups.append(
            frozenset(ids[t] for child in node.any for t, negated in terms_of(child) if not negated)
        )
    return groups


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _find_word(lowered: str, word: str, prefix: bool) -> list[tuple[int, int]]:
    """Find a word (or a prefix) on word boundaries, as the RE2 pattern would."""
    out: list[tuple[int, int]] = []
    size = len(word)
    start = lowered.find(word)
    while start != -1:
        end = start + size
        if start == 0 or not _is_word_char(lowered[start - 1]):
            if prefix:
                while end < len(lowered) and _is_word_char(lowered[end]):
                    end += 1
                out.append((start, end))
            elif end == len(lowered) or not _is_word_char(lowered[end]):
                out.append((start, end))
        start = lowered.find(word, start + 1)
    return out


def _simple(term: Term, case_sensitive: bool) -> tuple[str, bool] | None:
    """Return (word, is_prefix) for a one-word, case-insensitive, all-letters term."""
    if case_sensitive or term.is_regex or len(term.text.split()) != 1:
        return None
    word = term.text[:-1] if term.text.endswith("*") else term.text
    if not word or not all(_is_word_char(c) for c in word) or word.lower() != word.casefold():
        return None
    return word.lower(), term.text.endswith("*")


def _lowers_cleanly(text: str) -> bool:
    """Whether lower-casing keeps the length and agrees with case folding, char by char."""
    lowered = text.lower()
    return len(lowered) == len(text) and lowered == text.casefold()


def _check(term: Term, case_sensitive: bool) -> Check:
    """Return how a term is checked in screening text, or None when its RE2 pattern must."""
    if case_sensitive or term.is_regex or not _lowers_cleanly(term.text):
        return None
    words = term.text.split()
    if any("*" in w for w in words[:-1]):
        return None
    prefix = words[-1].endswith("*")
    if prefix:
        words[-1] = words[-1][:-1]
    return " ".join(words).lower(), prefix


def _screen_key(term: Term) -> ScreenKey | None:
    """Return the literal that every occurrence of ``term`` shows in screening text."""
    if term.is_regex:
        literal = regex_literal(term.text[1:-1])
        return None if literal is None else (literal, False, False)
    if not _lowers_cleanly(term.text):
        return None
    kept: list[str] = []
    for word in term.text.split():
        if word.endswith("*"):
            kept.append(word[:-1])
            return " ".join(kept).lower(), True, False
        kept.append(word)
    return " ".join(kept).lower(), True, True


# A regex literal shorter than this would wake its rules on most articles.
_MIN_LITERAL = 3


def regex_literal(source: str) -> str | None:
    """Return a lower-case literal that every match of a regular expression contains.

    Only runs of plain characters at the top level of the pattern count (``ICBMs?`` gives
    "icbm"), cut at whitespace because the screening text spaces words differently; the
    longest ASCII piece wins. None when there is no such literal: the term cannot wake its
    rule, so another necessary term of the rule has to.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = re._parser.parse(source)  # type: ignore[attr-defined]
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    runs: list[str] = []
    current: list[str] = []
    for op, arg in parsed:
        if op is re._constants.LITERAL:  # type: ignore[attr-defined]
            current.append(chr(arg))
            continue
        runs.append("".join(current))
        current = []
    runs.append("".join(current))
    pieces = [
        piece.lower()
        for run in runs
        for piece in run.split()
        if piece.isascii() and len(piece) >= _MIN_LITERAL
    ]
    return max(pieces, key=len) if pieces else None


def _positional(node: Clause | Term, near_only: bool = False) -> bool:
    """Whether a clause tree uses positions (only ``near`` with ``near_only``)."""
    if isinstance(node, Term):
        return False
    if node.near is not None or (node.same_sentence and not near_only):
        return True
    return any(_positional(c, near_only) for c in (*node.any, *node.all, *node.none))


def compile_rules(specs: list[RuleSpec]) -> RuleSet:
    """Compile rule specs (already validated) into one RuleSet."""
    patterns: list[str] = []
    labels: list[str] = []
    checks: list[Check] = []
    keys: list[ScreenKey | None] = []
    simple: dict[int, tuple[str, bool]] = {}
    index: dict[str, int] = {}
    rules: list[Rule] = []
    by_term: dict[int, list[int]] = {}
    for spec in specs:
        if not spec.fields.enabled:
            continue
        term_ids: dict[Term, int] = {}
        positive: set[int] = set()
        case_sensitive = spec.fields.case_sensitive
        for term, negated in terms_of(spec.match):
            pattern = term_pattern(term, case_sensitive)
            if pattern not in index:
                index[pattern] = len(patterns)
                patterns.append(pattern)
                labels.append(term.text)
                checks.append(_check(term, case_sensitive))
                keys.append(_screen_key(term))
                quick = _simple(term, case_sensitive)
                if quick is not None:
                    simple[len(patterns) - 1] = quick
            tid = index[pattern]
            term_ids[term] = tid
            if not negated:
                positive.add(tid)
            by_term.setdefault(tid, [])
            if not by_term[tid] or by_term[tid][-1] != len(rules):
                by_term[tid].append(len(rules))
        required = tuple(_required(spec.match, term_ids))
        triggers = frozenset(term_ids[t] for t in _trigger_terms(spec.match)) or frozenset(positive)
        tid_of = {id(term): term_ids[term] for term, _ in terms_of(spec.match)}
        any_terms = _any_terms(spec.match, tid_of)
        mask = sum(FIELD_BITS[name] for name in set(spec.fields.fields))
        rules.append(
            Rule(
                spec,
                term_ids,
                frozenset(positive),
                required,
                triggers,
                tid_of,
                any_terms,
                mask=mask,
                positional=_positional(spec.match),
                near=_positional(spec.match, near_only=True),
                filtered=spec.fields.sources is not None or bool(spec.fields.languages),
            )
        )
    ruleset = RuleSet(
        rules=rules,
        patterns=patterns,
        labels=labels,
        by_term=by_term,
        fields=frozenset(f for rule in rules for f in rule.spec.fields.fields),
        list_terms=_list_terms(rules),
        checks=checks,
    )
    ruleset._single = [None] * len(patterns)
    ruleset.simple = simple
    ruleset.needs = {
        tid: key[0]
        for tid, key in enumerate(keys)
        if checks[tid] is None and key is not None and len(key[0]) >= _MIN_LITERAL
    }
    _build_groups(ruleset)
    _build_screen(ruleset, keys)
    _build_words(ruleset)
    ruleset.longest = max(
        [len(k[0]) for k in keys if k is not None] + [len(c[0]) for c in checks if c is not None],
        default=0,
    )
    return ruleset


def _build_words(ruleset: RuleSet) -> None:
    """Build the automaton of every plain-words term, for articles that ask about many."""
    by_literal: dict[str, tuple[list[int], list[int]]] = {}
    for tid, check in enumerate(ruleset.checks):
        if check is not None:
            exact, prefixes = by_literal.setdefault(check[0], ([], []))
            (prefixes if check[1] else exact).append(tid)
    if by_literal:
        automaton = ahocorasick.Automaton()
        for literal, (exact, prefixes) in by_literal.items():
            automaton.add_word(literal, (len(literal), tuple(exact), tuple(prefixes)))
        automaton.make_automaton()
        ruleset._words = automaton


def _build_groups(ruleset: RuleSet) -> None:
    """Number every distinct group of terms, split into plain words and the others."""
    ids: dict[frozenset[int], int] = {}

    def gid(group: frozenset[int]) -> int:
        if group not in ids:
            ids[group] = len(ruleset.groups)
            ruleset.groups.append(group)
            words = frozenset(tid for tid in group if ruleset.checks[tid] is not None)
            ruleset.group_parts.append((words, tuple(sorted(group - words))))
        return ids[group]

    for number, rule in enumerate(ruleset.rules):
        ruleset.rules[number] = replace(
            rule,
            required_groups=tuple(gid(g) for g in rule.required),
            any_groups={key: gid(terms) for key, terms in rule.any_terms.items() if terms},
        )


def _build_screen(ruleset: RuleSet, keys: list[ScreenKey | None]) -> None:
    """Give each rule one necessary group of terms to be woken by, and build the automaton.

    The group chosen is the one whose terms the fewest rules share (names are rare in news,
    words that many rules share are common), with a penalty for very short literals.
    """
    entries: dict[str, dict[tuple[bool, bool], list[int]]] = {}
    always: list[int] = []
    for number, rule in enumerate(ruleset.rules):
        best: frozenset[int] | None = None
        best_cost = 0
        for group in rule.required:
            found = [keys[tid] for tid in group]
            usable = [key for key in found if key is not None]
            if not group or len(usable) < len(found):
                continue
            cost = sum(len(ruleset.by_term[tid]) for tid in group)
            cost += sum(50 for literal, _, _ in usable if len(literal) < 4)
            if best is None or cost < best_cost:
                best, best_cost = group, cost
        if best is None:
            always.append(number)
            continue
        for tid in sorted(best):
            key = keys[tid]
            assert key is not None
            literal, before, after = key
            slot = entries.setdefault(literal, {}).setdefault((before, after), [])
            if not slot or slot[-1] != number:
                slot.append(number)
    ruleset.always = tuple(always)
    if entries:
        automaton = ahocorasick.Automaton()
        for literal, flags in entries.items():
            automaton.add_word(
                literal,
                (len(literal), tuple((b, a, tuple(r)) for (b, a), r in flags.items())),
            )
        automaton.make_automaton()
        ruleset._screen = automaton


def clause_terms(clause: Clause | Term) -> list[Term]:
    return [term for term, _ in terms_of(clause)]
