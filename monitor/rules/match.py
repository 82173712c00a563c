"""Match an Article against a RuleSet: which rules fire, on which words, with which snippet."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from monitor.model import Article, Hit, Match
from monitor.rules.compile import (
    ALL_FIELDS,
    FIELD_BITS,
    Rule,
    RuleSet,
    contains,
    screening_text,
)
from monitor.rules.modality import Modality, classify
from monitor.rules.schema import Clause, Term
from monitor.text import fold, index_of, sentence_starts, snippet, word_starts

# Gaps between fields so that ``near`` and ``same_sentence`` never join words of two fields.
_FIELD_GAP = 1_000_000
_MAX_TEXT = 200_000


@dataclass(frozen=True)
class Pos:
    """One occurrence of one term, placed by word and sentence."""

    term: int
    field: str
    start: int
    end: int
    word: int
    sentence: int


_FIELDS = ("title", "summary", "text")
MAX_SENTENCES_JUDGED = 16
MAX_TRIGGERS_JUDGED = 8


class Doc:
    """One article prepared for matching: terms checked once each, positions on demand."""

    def __init__(self, ruleset: RuleSet, article: Article, fields: Collection[str]) -> None:
        self.ruleset = ruleset
        self.texts: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        # The screening form of each field (see compile.screening_text), in _FIELDS order.
        self._screening: list[tuple[int, str]] = []
        self._has: dict[int, int] = {}
        self._anywhere: dict[int, bool] = {}
        self._words: set[int] | None = None
        self._groups: dict[int, bool] = {}
        self._cache: dict[int, list[Pos]] = {}
        self._sentences: dict[str, list[int]] = {}
        self._word_starts: dict[str, list[int]] = {}
        self._lowered: dict[str, str | None] = {}
        for name in _FIELDS:
            if name not in fields:
                continue
            original = article.field_text(name)[:_MAX_TEXT]
            self.texts[name] = original
            folded = fold(original)
            self._folded[name] = folded
            self._screening.append((FIELD_BITS[name], screening_text(folded)))
        screened = dict(self._screening).get(TEXT_BIT, ""), ruleset.longest

        # Every field's screening text, joined by a newline: a boundary no term contains.
        self.joined = "\n".join(
            _unique_part(text, screened) if bit == SUMMARY_BIT else text
            for bit, text in self._screening
        )

    def screen(self) -> set[int]:
        """Return the indexes of the rules that may match (one pass over every field)."""
        return self.ruleset.screen(self.joined)

    def anywhere(self, tid: int) -> bool:
        """Whether a term occurs in any field; exact, cached (one search for plain words)."""
        found = self._anywhere.get(tid)
        if found is None:
            # Plain words are all found by one pass over the article (measured faster than
            # searching for them one by one, from the first word on, at 10 to 10,000 rules);
            # regexes and case-sensitive terms are searched for each.
            if self.ruleset.checks[tid] is None:
                found = bool(self.has(tid))
            else:
                found = tid in self.scan_words()
            self._anywhere[tid] = found
        return found

    def scan_words(self) -> set[int]:
        """Find every plain-words term of every rule in one pass (once per article)."""
        if self._words is None:
            self._words = self.ruleset.words_in(self.joined)
        return self._words

    def any_of(self, gid: int, mask: int) -> bool:
        """Whether any term of a group occurs in the fields of ``mask``."""
        if mask != ALL_FIELDS:
            return any(self.has(tid) & mask for tid in self.ruleset.groups[gid])
        found = self._groups.get(gid)
        if found is None:
            words, others = self.ruleset.group_parts[gid]
            found = not self.scan_words().isdisjoint(words) or any(map(self.anywhere, others))
            self._groups[gid] = found
        return found

    def has(self, tid: int) -> int:
        """Return the fields (as FIELD_BITS) in which a term occurs; exact, cached."""
        found = self._has.get(tid)
        if found is not None:
            return found
        found = 0
        check = self.ruleset.checks[tid]
        if check is not None:
            for bit, text in self._screening:
                if contains(text, check):
                    found |= bit
        else:
            regex = self.ruleset.regex(tid)
            need = self.ruleset.needs.get(tid)
            # _screening holds the same fields as _folded, in the same order.
            for (bit, screened), folded in zip(self._screening, self._folded.values(), strict=True):
                if need is not None and need not in screened:
                    continue
                if regex.search(folded) is not None:
                    found |= bit
        self._has[tid] = found
        return found

    def positions(self, tid: int, words: bool = True) -> list[Pos]:
        """Return every occurrence of one term, in every field.

        Without ``words`` a position's ``word`` is its character offset (plus the field's
        gap), which orders positions the same way; only ``near`` needs true word numbers.
        """
        key = tid if words else -1 - tid
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        out: list[Pos] = []
        where = self.has(tid)
        for n, name in enumerate(_FIELDS):
            if not where & FIELD_BITS[name]:
                continue
            text = self._folded[name]
            gap = n * _FIELD_GAP
            sentences = self.sentences_of(name)
            starts = self._words_of(name, text) if words else None
            for start, end in self.ruleset.spans(tid, text, self._lowered_of(name, text)):
                word = gap + (index_of(starts, start) if starts is not None else start)
                sentence = gap + index_of(sentences, start)
                out.append(Pos(tid, name, start, end, word, sentence))
        self._cache[key] = out
        return out

    def _lowered_of(self, name: str, text: str) -> str | None:
        # Lower-casing can change the length of a few characters; then offsets would shift.
        if name not in self._lowered:
            lowered = text.lower()
            self._lowered[name] = lowered if len(lowered) == len(text) else None
        return self._lowered[name]

    def sentences_of(self, name: str) -> list[int]:
        """Sentence starts of a field (computed once per article)."""
        starts = self._sentences.get(name)
        if starts is None:
            starts = self._sentences[name] = sentence_starts(self.folded(name))
        return starts

    def _words_of(self, name: str, text: str) -> list[int]:
        # Word starts are needed only by ``near``; computed once per field when asked.
        starts = self._word_starts.get(name)
        if starts is None:
            starts = self._word_starts[name] = word_starts(text)
        return starts

    def folded(self, name: str) -> str:
        return self._folded.get(name) or fold(self.texts[name])


SUMMARY_BIT = FIELD_BITS["summary"]
TEXT_BIT = FIELD_BITS["text"]


def _unique_part(summary: str, screened: tuple[str, int]) -> str:
    """Return what of a summary's screening text can hold a term the text does not.

    A summary is usually the start of the text, cut (at a word or not, with or without an
    ellipsis). Then every occurrence of a term in it is one in the text too, except one that
    ends exactly at the cut, where the summary ends and the text goes on: only the summary's
    last ``longest`` characters (back to a space, a true word boundary) need searching.
    """
    text, longest = screened
    base = summary[:-1] if summary.endswith("…") else summary
    if not base or not text.startswith(base):
        return summary
    start = max(0, len(summary) - longest - 1)
    return summary[summary.rfind(" ", 0, start) + 1 :] if start else summary


def match_article(ruleset: RuleSet, article: Article) -> list[Match]:
    """Return one Match per rule of ``ruleset`` that ``article`` satisfies."""
    if not ruleset.rules:
        return []
    doc = Doc(ruleset, article, ruleset.fields)
    matches: list[Match] = []
    for index in sorted(doc.screen()):
        rule = ruleset.rules[index]
        if rule.filtered and not admits(rule, article):
            continue
        mask = rule.mask
        if not all(doc.any_of(gid, mask) for gid in rule.required_groups):
            continue
        # With positions ignored (and, for rules that have them, ``not`` too, as a word can be
        # excluded in one sentence and allowed in another), this is a necessary condition.
        if not holds(rule, rule.spec.match, doc, relaxed=rule.positional):
            continue
        found = match_rule(rule, doc)
        if found is not None:
            matches.append(found)
    return matches


def holds(rule: Rule, node: Clause | Term, doc: Doc, relaxed: bool = False) -> bool:
    """Whether a clause holds from which terms occur, ignoring positions (as ``evaluate``).

    ``relaxed`` also ignores ``not``: then it is only a necessary condition.
    """
    if isinstance(node, Term):
        tid = rule.tid_of[id(node)]
        return doc.anywhere(tid) if rule.mask == ALL_FIELDS else bool(doc.has(tid) & rule.mask)
    if not node.all and not node.any:
        return False
    if not relaxed and any(holds(rule, child, doc) for child in node.none):
        return False
    if not all(holds(rule, child, doc, relaxed) for child in node.all):
        return False
    if not node.any:
        return True
    gid = rule.any_groups.get(id(node))
    if gid is not None and doc.any_of(gid, rule.mask):
        return True
    return any(
        holds(rule, child, doc, relaxed) for child in node.any if not isinstance(child, Term)
    )


def admits(rule: Rule, article: Article) -> bool:
    """Apply the rule's source and language filters."""
    fields = rule.spec.fields
    if fields.sources is not None:
        if fields.sources.only and article.source_id not in fields.sources.only:
            return False
        if article.source_id in fields.sources.exclude:
            return False
    if fields.languages and article.language:
        language = article.language.lower()
        if not any(
            language == w.lower() or language.startswith(w.lower() + "-") for w in fields.languages
        ):
            return False
    return True


# A match keeps the first place of every term it matched, and more places up to these
# limits: text stuffed with rule terms (60 KB of them in the hostile-feed run) made matches
# of 27 KB of evidence each, stored for ever, and held them all in memory while storing.
MAX_HITS = 64
MAX_HITS_PER_TERM = 4


def _kept_hits(evidence: set[Pos]) -> list[Pos]:
    """The evidence a match records: every term's first place, then others, within limits."""
    if len(evidence) <= MAX_HITS:
        return list(evidence)
    seen: dict[int, int] = {}
    first: list[Pos] = []
    more: list[Pos] = []
    for pos in sorted(evidence, key=lambda p: (_FIELDS.index(p.field), p.start, p.end)):
        count = seen.get(pos.term, 0)
        if count == 0:
            first.append(pos)
        elif count < MAX_HITS_PER_TERM:
            more.append(pos)
        seen[pos.term] = count + 1
    return first + more[: max(0, MAX_HITS - len(first))]


def match_rule(rule: Rule, doc: Doc) -> Match | None:
    """Evaluate one rule on a prepared document."""
    fields = set(rule.spec.fields.fields)
    pool = [
        pos
        for tid in set(rule.term_ids.values())
        if doc.anywhere(tid) and doc.has(tid) & rule.mask
        for pos in doc.positions(tid, words=rule.near)
        if pos.field in fields
    ]
    if not pool:
        return None
    evidence = evaluate(rule, rule.spec.match, pool)
    if not evidence:
        return None
    ordered = sorted(set(evidence), key=lambda p: (p.field != "title", p.word, p.start))
    labels = {tid: term.text for term, tid in rule.term_ids.items()}
    hits = tuple(
        Hit(
            term=labels[p.term],
            field=p.field,
            start=p.start,
            end=p.end,
            matched=doc.texts[p.field][p.start : p.end],
        )
        for p in sorted(
            _kept_hits(set(evidence)),
            key=lambda p: (_FIELDS.index(p.field), p.start, p.end, labels[p.term]),
        )
    )
    modality, cue, best = _modality(rule, doc, ordered)
    name = best[0].field
    text = doc.texts[name]
    lo = min(p.start for p in best)
    hi = max(p.end for p in best)
    # Sentence starts of the quote-folded text hold for the original when they are one string
    # (always for ASCII); folding can move a boundary otherwise.
    starts = doc.sentences_of(name) if doc.folded(name) is text else None
    return Match(
        rule_id=rule.id,
        hits=hits,
        snippet=snippet(text, lo, hi, starts=starts),
        modality=modality,
        cue=cue,
    )


_STRENGTH = {
    Modality.NEGATED: 4,
    Modality.HEDGED: 3,
    Modality.PLANNED: 2,
    Modality.PAST: 1,
    Modality.ASSERTED: 0,
}


def _modality(rule: Rule, doc: Doc, ordered: list[Pos]) -> tuple[str, str, list[Pos]]:
    """Judge each evidence sentence by its trigger words; asserted if any sentence asserts.

    A sentence is asserted when one of its trigger words is; otherwise it takes the strongest
    cue found (negated, then hedged, planned, past). Returns the modality, the deciding cue
    and the sentence to show.
    """
    groups: dict[tuple[str, int], list[Pos]] = {}
    for pos in ordered:
        groups.setdefault((pos.field, pos.sentence), []).append(pos)
    ranked = sorted(groups.values(), key=lambda g: (-len({p.term for p in g}), g[0].word))
    judged: list[tuple[Modality, str, list[Pos]]] = []
    # Bounded work: a hostile text full of trigger words must not make matching quadratic.
    for group in ranked[:MAX_SENTENCES_JUDGED]:
        triggers = [p for p in group if p.term in rule.triggers][:MAX_TRIGGERS_JUDGED]
        if not triggers:
            continue
        name = group[0].field
        text = doc.folded(name)
        starts = doc.sentences_of(name)
        index = group[0].sentence - _FIELDS.index(name) * _FIELD_GAP
        lo = starts[index] if index < len(starts) else 0
        hi = starts[index + 1] if index + 1 < len(starts) else len(text)
        sentence = text[lo:hi]
        results = []
        for p in triggers:
            result = classify(sentence, p.start - lo, p.end - lo)
            results.append(result)
            if result.modality is Modality.ASSERTED:
                break
        if results[-1].modality is Modality.ASSERTED:
            judged.append((Modality.ASSERTED, "", group))
            break
        worst = max(results, key=lambda r: _STRENGTH[r.modality])
        judged.append((worst.modality, worst.cue, group))
    if not judged:
        return Modality.ASSERTED.value, "", ranked[0]
    asserted = [j for j in judged if j[0] is Modality.ASSERTED]
    modality, cue, group = asserted[0] if asserted else judged[0]
    return modality.value, cue, group


def evaluate(
    rule: Rule, node: Clause | Term, pool: list[Pos], present: set[int] | None = None
) -> list[Pos] | None:
    """Return the evidence for ``node`` within ``pool``, or None when it does not hold."""
    if present is None:
        present = {p.term for p in pool}
    if isinstance(node, Term):
        tid = rule.tid_of[id(node)]
        if tid not in present:
            return None
        return [p for p in pool if p.term == tid]
    if node.same_sentence or node.near is not None:
        scopes: list[list[Pos]] = []
        if node.same_sentence:
            by_sentence: dict[int, list[Pos]] = {}
            for p in pool:
                by_sentence.setdefault(p.sentence, []).append(p)
            scopes = [by_sentence[k] for k in sorted(by_sentence)]
        else:
            width = node.near or 0
            for start in sorted({p.word for p in pool}):
                scopes.append([p for p in pool if start <= p.word <= start + width])
        if node.same_sentence and node.near is not None:
            width = node.near
            narrowed: list[list[Pos]] = []
            for scope in scopes:
                for start in sorted({p.word for p in scope}):
                    narrowed.append([p for p in scope if start <= p.word <= start + width])
            scopes = narrowed
        evidence: list[Pos] = []
        for scope in scopes:
            evidence += _logic(rule, node, scope, {p.term for p in scope}) or []
        return evidence or None
    return _logic(rule, node, pool, present)


def _logic(rule: Rule, node: Clause, pool: list[Pos], present: set[int]) -> list[Pos] | None:
    evidence: list[Pos] = []
    for child in node.none:
        if evaluate(rule, child, pool, present):
            return None
    for child in node.all:
        found = evaluate(rule, child, pool, present)
        if not found:
            return None
        evidence += found
    if node.any:
        hits = rule.any_terms[id(node)] & present
        matched = bool(hits)
        if hits:
            evidence += [p for p in pool if p.term in hits]
        for child in node.any:
            if isinstance(child, Term):
                continue  # covered by the set check above
            found = evaluate(rule, child, pool, present)
            if found:
                matched = True
                evidence += found
        if not matched:
            return None
    return evidence or None
