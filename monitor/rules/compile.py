"""Compile rule terms to linear-time RE2 patterns and all rules into one RuleSet."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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

    @property
    def id(self) -> str:
        return self.spec.id

    def term_id(self, term: Term) -> int:
        return self.term_ids[term]


# Text is cut into runs of word characters; a phrase's first run is its lookup key.
_TOKEN = re.compile(r"\w+")
_PREFIX_KEY = 3


def term_key(term: Term) -> tuple[str, bool] | None:
    """Return the token that must occur in a text for ``term`` to match, and whether it is a prefix.

    None for regular expressions, which RE2 scans for directly.
    """
    if term.is_regex:
        return None
    first = term.text.split()[0]
    prefix = first.endswith("*")
    tokens = _TOKEN.findall((first[:-1] if prefix else first).lower())
    if not tokens:
        return None
    # A prefix only extends the last run of the word ("test-fire*" still needs "test").
    return tokens[0], prefix and len(tokens) == 1


@dataclass
class _TermIndex:
    """Find candidate terms of a text by its tokens: a hash lookup per distinct token."""

    exact: dict[str, list[int]] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    short_prefixes: list[tuple[str, int]] = field(default_factory=list)
    unkeyed: list[int] = field(default_factory=list)

    def add(self, tid: int, key: tuple[str, bool] | None) -> None:
        if key is None:
            self.unkeyed.append(tid)
        elif not key[1]:
            self.exact.setdefault(key[0], []).append(tid)
        elif len(key[0]) < _PREFIX_KEY:
            self.short_prefixes.append((key[0], tid))
        else:
            self.prefixes.setdefault(key[0][:_PREFIX_KEY], []).append((key[0], tid))

    def candidates(self, tokens: set[str]) -> set[int]:
        found: set[int] = set()
        exact = self.exact
        prefixes = self.prefixes
        for token in tokens:
            hit = exact.get(token)
            if hit:
                found.update(hit)
            stems = prefixes.get(token[:_PREFIX_KEY])
            if stems:
                found.update(tid for stem, tid in stems if token.startswith(stem))
        for stem, tid in self.short_prefixes:
            if any(token.startswith(stem) for token in tokens):
                found.add(tid)
        return found


@dataclass
class RuleSet:
    """Every enabled rule compiled together: a token index over all phrase terms, one RE2 Set
    over all regular-expression terms, and one RE2 pattern per term to find exact spans."""

    rules: list[Rule]
    patterns: list[str]
    labels: list[str]
    by_term: dict[int, list[int]] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()
    # For group_by @list: each list's term texts, as Events are keyed by the term that matched.
    list_terms: dict[str, dict[str, str]] = field(default_factory=dict)
    _index: _TermIndex = field(default_factory=_TermIndex, repr=False)
    _regex_set: re2.Set | None = field(default=None, repr=False)
    _regex_ids: list[int] = field(default_factory=list, repr=False)
    _single: list[re2._Regexp | None] = field(default_factory=list, repr=False)
    # Single-word, case-insensitive terms: (word, is_prefix); found with str.find, not RE2.
    simple: dict[int, tuple[str, bool]] = field(default_factory=dict, repr=False)

    def detect(self, text: str) -> list[int]:
        """Return the ids of the terms that may occur in ``text`` (``spans`` confirms them)."""
        if not text or not self.patterns:
            return []
        found = self._index.candidates(set(_TOKEN.findall(text.lower())))
        if self._regex_set is not None:
            hits = self._regex_set.Match(text)
            if hits:
                found.update(self._regex_ids[i] for i in hits)
        return sorted(found)

    def spans(self, term_id: int, text: str, lowered: str | None = None) -> list[tuple[int, int]]:
        """Return the (start, end) of every occurrence of one term in ``text``.

        ``lowered`` is ``text.lower()`` when that keeps every offset; simple terms use it.
        """
        simple = self.simple.get(term_id)
        if simple is not None and lowered is not None:
            return _find_word(lowered, *simple)[:MAX_HITS]
        regex = self._single[term_id]
        if regex is None:
            # Compiled on first use: most terms of a large rule set never get this far.
            try:
                regex = re2.compile(self.patterns[term_id], _options(SINGLE_MAX_MEM))
            except re2.error:
                # A big regular expression needs the budget it was validated with.
                regex = re2.compile(self.patterns[term_id], _options())
            self._single[term_id] = regex
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


def compile_rules(specs: list[RuleSpec]) -> RuleSet:
    """Compile rule specs (already validated) into one RuleSet."""
    patterns: list[str] = []
    labels: list[str] = []
    keys: list[tuple[str, bool] | None] = []
    simple: dict[int, tuple[str, bool]] = {}
    index: dict[str, int] = {}
    rules: list[Rule] = []
    by_term: dict[int, list[int]] = {}
    for spec in specs:
        if not spec.fields.enabled:
            continue
        term_ids: dict[Term, int] = {}
        positive: set[int] = set()
        for term, negated in terms_of(spec.match):
            pattern = term_pattern(term, spec.fields.case_sensitive)
            if pattern not in index:
                index[pattern] = len(patterns)
                patterns.append(pattern)
                labels.append(term.text)
                keys.append(term_key(term))
                quick = _simple(term, spec.fields.case_sensitive)
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
        rules.append(
            Rule(spec, term_ids, frozenset(positive), required, triggers, tid_of, any_terms)
        )
    ruleset = RuleSet(
        rules=rules,
        patterns=patterns,
        labels=labels,
        by_term=by_term,
        fields=frozenset(f for rule in rules for f in rule.spec.fields.fields),
        list_terms=_list_terms(rules),
    )
    ruleset._single = [None] * len(patterns)
    ruleset.simple = simple
    regex_ids: list[int] = []
    for tid, key in enumerate(keys):
        ruleset._index.add(tid, key)
        if key is None:
            regex_ids.append(tid)
    if regex_ids:
        # Measured: a boundary-wrapped Unicode pattern needs about 140 KB in a Set.
        max_mem = min(2 << 30, max(64 << 20, len(regex_ids) * (256 << 10)))
        compiled = re2.Set.SearchSet(_options(max_mem))
        for tid in regex_ids:
            compiled.Add(patterns[tid])
        # A Set whose Compile failed must never be matched against: it crashes the process.
        try:
            compiled.Compile()
        except re2.error as exc:
            raise TermError(
                f"cannot compile {len(regex_ids)} regular expressions within {max_mem} bytes"
            ) from exc
        ruleset._regex_set = compiled
        ruleset._regex_ids = regex_ids
    return ruleset


def clause_terms(clause: Clause | Term) -> list[Term]:
    return [term for term, _ in terms_of(clause)]
