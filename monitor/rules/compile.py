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
            re2.compile(source, _options())
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise TermError(
                f"regex '{source}' uses syntax the linear-time engine does not support"
                f" ({reason}); backreferences and lookarounds are not allowed"
            ) from exc
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

    def spans(self, term_id: int, text: str) -> list[tuple[int, int]]:
        """Return the (start, end) of every occurrence of one term in ``text``."""
        regex = self._single[term_id]
        if regex is None:
            # Compiled on first use: most terms of a large rule set never get this far.
            regex = self._single[term_id] = re2.compile(self.patterns[term_id], _options())
        out: list[tuple[int, int]] = []
        pos = 0
        while pos <= len(text):
            m = regex.search(text, pos)
            if m is None:
                break
            start, end = m.span(1)
            out.append((start, end))
            pos = end if end > pos else pos + 1
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


def compile_rules(specs: list[RuleSpec]) -> RuleSet:
    """Compile rule specs (already validated) into one RuleSet."""
    patterns: list[str] = []
    labels: list[str] = []
    keys: list[tuple[str, bool] | None] = []
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
            tid = index[pattern]
            term_ids[term] = tid
            if not negated:
                positive.add(tid)
            by_term.setdefault(tid, [])
            if not by_term[tid] or by_term[tid][-1] != len(rules):
                by_term[tid].append(len(rules))
        required = tuple(_required(spec.match, term_ids))
        triggers = frozenset(term_ids[t] for t in _trigger_terms(spec.match)) or frozenset(positive)
        rules.append(Rule(spec, term_ids, frozenset(positive), required, triggers))
    ruleset = RuleSet(
        rules=rules,
        patterns=patterns,
        labels=labels,
        by_term=by_term,
        fields=frozenset(f for rule in rules for f in rule.spec.fields.fields),
        list_terms=_list_terms(rules),
    )
    ruleset._single = [None] * len(patterns)
    regex_ids: list[int] = []
    for tid, key in enumerate(keys):
        ruleset._index.add(tid, key)
        if key is None:
            regex_ids.append(tid)
    if regex_ids:
        max_mem = min(1 << 30, max(64 << 20, len(regex_ids) * (24 << 10)))
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
