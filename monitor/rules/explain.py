"""Explain a rule on one article, and score rules against labeled texts (``rules test``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from monitor.digest import content_hash
from monitor.errors import MonitorError
from monitor.model import Article
from monitor.rules.compile import Rule, RuleSet
from monitor.rules.match import Doc, Pos, admits, evaluate, match_article
from monitor.rules.schema import Clause, Term


def explain(ruleset: RuleSet, rule_id: str, article: Article) -> list[str]:
    """Return lines showing which clause matched which words, and which did not."""
    rule = next((r for r in ruleset.rules if r.id == rule_id), None)
    if rule is None:
        raise MonitorError(f"no enabled rule '{rule_id}'")
    doc = Doc(ruleset, article, rule.spec.fields.fields)
    fields = set(rule.spec.fields.fields)
    pool = [
        p
        for tid in set(rule.term_ids.values())
        if doc.has(tid)
        for p in doc.positions(tid)
        if p.field in fields
    ]
    lines = [f"rule {rule.id} ({rule.spec.file}:{rule.spec.line}), fields: {', '.join(fields)}"]
    if not admits(rule, article):
        lines.append("  skipped: the article's source or language is filtered out by the rule")
    lines += _node(rule, rule.spec.match, pool, doc, "match", 1)
    found = [m for m in match_article(ruleset, article) if m.rule_id == rule.id]
    if not found:
        lines.append("result: no match")
        return lines
    match = found[0]
    lines.append(f"result: match; snippet: {match.snippet}")
    counted = match.modality in rule.spec.fields.modality
    cue = f" (cue '{match.cue}')" if match.cue else ""
    verdict = "counts" if counted else "does not count"
    allowed = ", ".join(rule.spec.fields.modality)
    lines.append(f"modality: {match.modality}{cue}; {verdict} (rule counts: {allowed})")
    return lines


def _words(pool: list[Pos], doc: Doc) -> str:
    seen: list[str] = []
    for p in sorted(pool, key=lambda p: (p.field, p.start)):
        word = f"'{doc.texts[p.field][p.start : p.end]}' ({p.field} @{p.start})"
        if word not in seen:
            seen.append(word)
    return ", ".join(seen[:8]) + (" ..." if len(seen) > 8 else "")


def _node(
    rule: Rule, node: Clause | Term, pool: list[Pos], doc: Doc, label: str, depth: int
) -> list[str]:
    pad = "  " * depth
    result = evaluate(rule, node, pool)
    mark = "yes" if result else "no "
    if isinstance(node, Term):
        detail = _words(result, doc) if result else "not found"
        return [f"{pad}[{mark}] {label} '{node.text}': {detail}"]
    scope = []
    if node.same_sentence:
        scope.append("same sentence")
    if node.near is not None:
        scope.append(f"within {node.near} words")
    if node.list_name:
        scope.append(f"list @{node.list_name}")
    if node.trigger:
        scope.append("trigger")
    extra = f" ({', '.join(scope)})" if scope else ""
    lines = [f"{pad}[{mark}] {label}{extra}" + (f": {_words(result, doc)}" if result else "")]
    if node.list_name:
        return lines
    for key, children in (("all", node.all), ("any", node.any), ("not", node.none)):
        for i, child in enumerate(children):
            lines += _node(rule, child, pool, doc, f"{key}[{i}]", depth + 1)
    return lines


@dataclass
class RuleScore:
    """Precision and recall of one rule against labeled texts."""

    rule_id: str
    true_positives: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)
    false_negatives: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = len(self.true_positives) + len(self.false_negatives)
        return len(self.true_positives) / wanted if wanted else 1.0


@dataclass(frozen=True)
class Labeled:
    id: str
    article: Article
    rules: frozenset[str]


def read_labels(path: Path) -> list[Labeled]:
    """Read ``{"id", "title", "text", "rules": [...]}`` lines; errors name the line."""
    items: list[Labeled] = []
    now = datetime.now(UTC)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MonitorError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            title, text = str(data.get("title", "")), str(data.get("text", ""))
            expected = data.get("rules", [])
            if not isinstance(expected, list):
                raise ValueError("'rules' must be a list of rule ids")
        except (ValueError, AttributeError) as exc:
            raise MonitorError(f"{path}:{number}: {exc}") from exc
        item_id = str(data.get("id", f"line {number}"))
        article = Article(
            source_id=str(data.get("source", "labels")),
            guid=item_id,
            url=str(data.get("url", "")),
            title=title,
            summary=str(data.get("summary", "")),
            text=text,
            published_at=now,
            fetched_at=now,
            content_hash=content_hash(title, text),
            language=str(data.get("language", "")),
        )
        items.append(Labeled(item_id, article, frozenset(str(r) for r in expected)))
    return items


def score(ruleset: RuleSet, items: list[Labeled], rule_ids: list[str]) -> list[RuleScore]:
    """Score rules: an item counts as fired when the rule matches with a modality it counts."""
    scores = {rid: RuleScore(rid) for rid in rule_ids}
    modality = {r.id: set(r.spec.fields.modality) for r in ruleset.rules}
    for item in items:
        fired = {
            m.rule_id
            for m in match_article(ruleset, item.article)
            if m.modality in modality.get(m.rule_id, ())
        }
        for rid, result in scores.items():
            if rid in fired and rid in item.rules:
                result.true_positives.append(item.id)
            elif rid in fired:
                result.false_positives.append(item.id)
            elif rid in item.rules:
                result.false_negatives.append(item.id)
    return list(scores.values())
