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

    @property
    def id(self) -> str:
        return self.spec.id

    def term_id(self, term: Term) -> int:
        return self.term_ids[term]


@dataclass
class RuleSet:
    """Every enabled rule compiled together into one RE2 Set plus one pattern per term."""

    rules: list[Rule]
    patterns: list[str]
    labels: list[str]
    _set: re2.Set | None = field(default=None, repr=False)
    _single: list[re2._Regexp] = field(default_factory=list, repr=False)
    by_term: dict[int, list[int]] = field(default_factory=dict)

    def detect(self, text: str) -> list[int]:
        """Return the ids of the terms that occur in ``text``."""
        if self._set is None or not text:
            return []
        found = self._set.Match(text)
        return list(found) if found else []

    def spans(self, term_id: int, text: str) -> list[tuple[int, int]]:
        """Return the (start, end) of every occurrence of one term in ``text``."""
        regex = self._single[term_id]
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


def compile_rules(specs: list[RuleSpec]) -> RuleSet:
    """Compile rule specs (already validated) into one RuleSet."""
    patterns: list[str] = []
    labels: list[str] = []
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
            tid = index[pattern]
            term_ids[term] = tid
            if not negated:
                positive.add(tid)
            by_term.setdefault(tid, [])
            if not by_term[tid] or by_term[tid][-1] != len(rules):
                by_term[tid].append(len(rules))
        rules.append(Rule(spec, term_ids, frozenset(positive)))
    ruleset = RuleSet(rules=rules, patterns=patterns, labels=labels, by_term=by_term)
    if patterns:
        max_mem = min(1 << 30, max(64 << 20, len(patterns) * (24 << 10)))
        options = _options(max_mem)
        compiled = re2.Set.SearchSet(options)
        for pattern in patterns:
            compiled.Add(pattern)
        # A Set whose Compile failed must never be matched against: it crashes the process.
        try:
            compiled.Compile()
        except re2.error as exc:
            raise TermError(
                f"cannot compile {len(patterns)} patterns within {max_mem} bytes"
            ) from exc
        ruleset._set = compiled
        ruleset._single = [re2.compile(p, _options()) for p in patterns]
    return ruleset


def clause_terms(clause: Clause | Term) -> list[Term]:
    return [term for term, _ in terms_of(clause)]
