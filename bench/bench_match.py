"""Benchmark rule matching alone: articles per second for 10 to 10,000 rules on one core.

For each rule count the generated rules (plus the three shipped ones) are parsed and compiled
once, then one fixed list of generated articles is matched in a single thread: first a cold pass
(reported, and the warm-up), then timed warm passes, of which the fastest counts.
Run ``python bench/bench_match.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common
import corpus

from monitor.model import Article
from monitor.rules.compile import RuleSet, compile_rules
from monitor.rules.load import load_rules, parse_rule
from monitor.rules.match import match_article
from monitor.rules.schema import RuleSpec, terms_of
from monitor.yamlsrc import load_text

RULE_COUNTS = (10, 100, 1_000, 10_000)
QUICK_RULE_COUNTS = (10, 100, 1_000)
ARTICLES = 2_000
QUICK_ARTICLES = 500
ARTICLE_SEED = 1
RULE_SEED = 1
# The summary the pipeline stores: the first 500 characters of the text on one line.
SUMMARY_CHARS = 500
CHANNELS = ["console"]
# The issue's promise: at 10,000 rules at least this rate, and at most this cost ratio to 10.
TARGET_RATE = 20_000.0
TARGET_RATIO = 8.0
# The rules whose matches must be the same whatever else is loaded (see ``consistent``).
BASELINE_GENERATED = 10
MIN_PASS_SECONDS = 1.0
MAX_PASSES = 7


def shipped_specs() -> tuple[list[RuleSpec], list[str]]:
    """Load the shipped rules (and their shared term lists) with the daemon's own loader.

    Returns the rules that loaded and every problem found, as ``file:line:col: message``.
    """
    loaded = load_rules(common.ROOT / "rules", CHANNELS, base=common.ROOT)
    return loaded.specs, [str(p) for p in loaded.problems]


def generated_specs(n: int, seed: int = RULE_SEED) -> list[RuleSpec]:
    """Return ``n`` generated rules, parsed and validated like rule files."""
    return [
        _parse(doc, f"generated/gen-{i:05d}.yaml", f"gen-{i:05d}")
        for i, doc in enumerate(corpus.make_rules(n, seed))
    ]


def _parse(text: str, file: str, default_id: str) -> RuleSpec:
    """Parse one rule document; a problem is a bug in the generator, so it stops the run."""
    data, located, problems = load_text(text, file)
    spec, more = (None, []) if problems else parse_rule(data, located, default_id, CHANNELS)
    if spec is None or problems or more:
        details = "; ".join(str(p) for p in [*problems, *more])
        raise SystemExit(f"bench: generated rule {file} is invalid: {details}\n{text}")
    return spec


def make_articles(n: int, seed: int = ARTICLE_SEED) -> list[Article]:
    """Return ``n`` generated articles shaped like the pipeline's (title, summary, text)."""
    when = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
    out: list[Article] = []
    for i, (title, text) in enumerate(corpus.articles(n, seed)):
        out.append(
            Article(
                source_id="bench",
                guid=f"urn:bench:{i}",
                url=f"https://news.example.com/story/{i}",
                title=title,
                summary=" ".join(text.split())[:SUMMARY_CHARS],
                text=text,
                published_at=when,
                fetched_at=when,
                content_hash=f"{i:032x}",
                publisher="Bench Wire",
                language="en",
            )
        )
    return out


def _pass(ruleset: RuleSet, articles: Sequence[Article]) -> tuple[float, list[list[str]]]:
    """Match every article once; return the seconds taken and the rule ids each matched."""
    gc.collect()
    found: list[list[str]] = []
    start = time.perf_counter()
    for article in articles:
        found.append([m.rule_id for m in match_article(ruleset, article)])
    return time.perf_counter() - start, found


def run_case(
    n_rules: int, articles: Sequence[Article], shipped: list[RuleSpec]
) -> tuple[dict[str, Any], RuleSet | None, list[list[str]] | None]:
    """Load, compile and match ``n_rules`` generated rules plus the shipped ones.

    A compile that fails is returned as a case with an ``error`` and no RuleSet.
    """
    start = time.perf_counter()
    specs = [*shipped, *generated_specs(n_rules)]
    load_s = time.perf_counter() - start
    terms = [term for spec in specs for term, _ in terms_of(spec.match)]
    gc.collect()
    rss_before = common.current_rss_mb()
    start = time.perf_counter()
    try:
        ruleset = compile_rules(specs)
    except Exception as exc:  # a failed compile is a result to report, not a crash
        failed: dict[str, Any] = {
            "rules": len(specs),
            "generated_rules": n_rules,
            "terms": len(terms),
            "distinct_terms": len({(t.text, t.is_regex) for t in terms}),
            "regex_terms": sum(t.is_regex for t in terms),
            "load_s": round(load_s, 4),
            "compile_s": round(time.perf_counter() - start, 4),
            "error": f"{type(exc).__name__}: {exc}",
        }
        return failed, None, None
    compile_s = time.perf_counter() - start
    cold_s, found = _pass(ruleset, articles)
    times: list[float] = []
    while len(times) < 2 or (sum(times) < MIN_PASS_SECONDS and len(times) < MAX_PASSES):
        seconds, again = _pass(ruleset, articles)
        times.append(seconds)
        if again != found:
            raise SystemExit(f"bench: {n_rules} rules matched differently on a second pass")
    best = min(times)
    rss_after = common.current_rss_mb()
    grown = None if rss_before is None or rss_after is None else rss_after - rss_before
    per_rule = Counter(rule for ids in found for rule in ids)
    shipped_ids = [spec.id for spec in shipped]
    generated = {rule: k for rule, k in per_rule.items() if rule not in shipped_ids}
    result: dict[str, Any] = {
        "rules": len(specs),
        "generated_rules": n_rules,
        "terms": len(terms),
        "distinct_terms": len({(t.text, t.is_regex) for t in terms}),
        "regex_terms": sum(t.is_regex for t in terms),
        "load_s": round(load_s, 4),
        "compile_s": round(compile_s, 4),
        "cold_pass_s": round(cold_s, 4),
        "cold_articles_per_s": round(len(articles) / cold_s, 1),
        "passes": len(times),
        "best_pass_s": round(best, 4),
        "median_pass_s": round(statistics.median(times), 4),
        "articles_per_s": round(len(articles) / best, 1),
        "us_per_article": round(best / len(articles) * 1e6, 2),
        "rss_growth_mb": None if grown is None else round(grown, 1),
        "matches": sum(per_rule.values()),
        "articles_matched": sum(1 for ids in found if ids),
        "shipped_matches": {rule: per_rule.get(rule, 0) for rule in shipped_ids},
        "articles_matched_by_shipped": sum(
            1 for ids in found if any(rule in shipped_ids for rule in ids)
        ),
        "generated_rules_fired": len(generated),
        "max_rule_share_pct": round(100 * max(generated.values(), default=0) / len(articles), 3),
        "mean_rule_share_pct": round(
            100 * sum(generated.values()) / max(n_rules, 1) / len(articles), 4
        ),
    }
    return result, ruleset, found


def _baseline(found: list[list[str]], keep: set[str]) -> list[list[str]]:
    """Return, per article, the matched rule ids that belong to ``keep``."""
    return [[rule for rule in ids if rule in keep] for ids in found]


def profile(ruleset: RuleSet, articles: Sequence[Article], top: int = 15) -> list[dict[str, Any]]:
    """Profile one warm pass with cProfile; return the top functions by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for article in articles:
        match_article(ruleset, article)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows: list[dict[str, Any]] = []
    entries = stats.stats  # type: ignore[attr-defined]
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in sorted(
        entries.items(), key=lambda item: -item[1][3]
    ):
        if Path(file).resolve().parent == common.BENCH_DIR or name == "<module>":
            continue
        if file == "~" and name.startswith("<built-in method builtins.exec"):
            continue
        where = name if file == "~" else f"{_short(file)}:{line}({name})"
        rows.append(
            {
                "function": where,
                "calls": calls,
                "tottime_s": round(tottime, 4),
                "cumtime_s": round(cumtime, 4),
                "cum_pct": 0.0,
            }
        )
        if len(rows) >= top:
            break
    total = rows[0]["cumtime_s"] if rows else 0.0
    for row in rows:
        row["cum_pct"] = round(100 * row["cumtime_s"] / total, 1) if total else 0.0
    return rows


def _short(file: str) -> str:
    """Return a source path relative to the repository or to site-packages."""
    path = Path(file)
    try:
        return str(path.resolve().relative_to(common.ROOT))
    except ValueError:
        parts = path.parts
        if "site-packages" in parts:
            return "/".join(parts[parts.index("site-packages") + 1 :])
        return file


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="500 articles, up to 1,000 rules")
    parser.add_argument("--articles", type=int, help="how many articles to match")
    parser.add_argument("--rules", help="comma-separated rule counts, e.g. 10,100,1000")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one warm pass of the largest case"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON output file (default: bench/results/match.json, match-quick.json with --quick)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out or common.RESULTS_DIR / (
        "match-quick.json" if args.quick else "match.json"
    )
    counts: tuple[int, ...] = QUICK_RULE_COUNTS if args.quick else RULE_COUNTS
    if args.rules:
        counts = tuple(int(c) for c in args.rules.split(","))
    n_articles = args.articles or (QUICK_ARTICLES if args.quick else ARTICLES)

    start = time.perf_counter()
    articles = make_articles(n_articles)
    sizes = [len(a.text.encode("utf-8")) for a in articles]
    shipped, shipped_problems = shipped_specs()
    for problem in shipped_problems:
        print(f"bench: shipped rule problem: {problem}", file=sys.stderr)
    baseline_ids = {s.id for s in shipped} | {
        f"gen-{i:05d}" for i in range(min(BASELINE_GENERATED, *counts))
    }
    print(
        f"rule matching: {n_articles:,} articles, mean {statistics.mean(sizes):,.0f} B"
        f" (min {min(sizes):,}, max {max(sizes):,}); rule counts {', '.join(map(str, counts))}",
        file=sys.stderr,
        flush=True,
    )
    cases: list[dict[str, Any]] = []
    reference: list[list[str]] | None = None
    top: list[dict[str, Any]] | None = None
    for n in counts:
        case, ruleset, found = run_case(n, articles, shipped)
        cases.append(case)
        if ruleset is None or found is None:
            print(f"  {n:>6,} rules: FAILED: {case['error']}", file=sys.stderr, flush=True)
            continue
        base = _baseline(found, baseline_ids)
        reference = base if reference is None else reference
        case["consistent"] = base == reference
        print(
            f"  {n:>6,} rules: {case['articles_per_s']:>10,.0f} articles/s,"
            f" compile {case['compile_s']:.2f} s, cold {case['cold_articles_per_s']:,.0f}/s,"
            f" {case['matches']:,} matches, +{case['rss_growth_mb'] or 0:,.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        if args.profile and n == max(counts):
            top = profile(ruleset, articles)
        # Let this RuleSet go before the next one is measured.
        del ruleset, found
    ratio = cost_ratio(cases)
    result: dict[str, Any] = {
        "name": "match",
        "title": "Rule matching alone (one core, one thread)",
        "quick": args.quick,
        "config": {
            "articles": n_articles,
            "article_seed": ARTICLE_SEED,
            "rule_seed": RULE_SEED,
            "mean_article_bytes": round(statistics.mean(sizes), 1),
            "median_article_bytes": statistics.median(sizes),
            "fields": ["title", "summary", "text"],
            "shipped_rules": [spec.id for spec in shipped],
            "shipped_problems": shipped_problems,
        },
        "cases": cases,
        "ratio": ratio,
        "targets": targets(cases, ratio),
        "rows": rows(cases),
    }
    if top is not None:
        result["profile"] = {"case": f"{max(counts):,} rules", "top": top}
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(common.peak_rss_mb(), 1)
    common.write_json(out, result)
    print(report(result))
    return 0


def cost_ratio(cases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the per-article cost of the largest measured case over the smallest."""
    done = [c for c in cases if "error" not in c]
    if len(done) < 2:
        return None
    first, last = done[0], done[-1]
    return {
        "of": f"{last['generated_rules']:,} : {first['generated_rules']:,} rules",
        "largest": last["generated_rules"],
        "smallest": first["generated_rules"],
        "value": round(last["us_per_article"] / first["us_per_article"], 2),
    }


def targets(cases: list[dict[str, Any]], ratio: dict[str, Any] | None) -> list[common.Target]:
    """Check the issue's targets; a case that was not run is n/a, one that failed is missed."""
    big = next((c for c in cases if c["generated_rules"] == 10_000), None)
    rate: float | None = None if big is None else big.get("articles_per_s")
    full = ratio is not None and (ratio["largest"], ratio["smallest"]) == (10_000, 10)
    return [
        {
            "name": "articles/s at 10,000 rules",
            "target": f">= {TARGET_RATE:,.0f}",
            "value": rate,
            "met": None if big is None else rate is not None and rate >= TARGET_RATE,
        },
        {
            "name": "cost ratio 10,000 : 10 rules",
            "target": f"<= {TARGET_RATIO:g}x",
            "value": ratio["value"] if ratio and full else None,
            "met": (ratio["value"] <= TARGET_RATIO if ratio and full else None)
            if big is None or "error" not in big
            else False,
        },
        {
            "name": "every rule count compiles",
            "target": "yes",
            "value": None,
            "met": all("error" not in c for c in cases),
        },
        {
            "name": "same matches for the shared rules in every case",
            "target": "yes",
            "value": None,
            "met": all(c.get("consistent", True) for c in cases),
        },
    ]


def rows(cases: list[dict[str, Any]]) -> list[common.Row]:
    """Return the rows of the combined table, one per rule count."""
    out: list[common.Row] = []
    for c in cases:
        if "error" in c:
            notes = f"FAILED to compile: {c['error']}"
            out.append(_row(c, None, None, c["load_s"] + c["compile_s"], notes))
            continue
        notes = (
            f"compile {c['compile_s']:.2f} s, cold pass {c['cold_articles_per_s']:,.0f}/s,"
            f" {c['matches']:,} matches"
        )
        wall = c["load_s"] + c["compile_s"] + c["cold_pass_s"]
        out.append(_row(c, c["articles_per_s"], c["us_per_article"], wall, notes))
    return out


def _row(
    case: dict[str, Any], rate: float | None, per: float | None, wall: float, notes: str
) -> common.Row:
    """Return one table row for a case."""
    shipped = case["rules"] - case["generated_rules"]
    return {
        "case": f"{case['generated_rules']:,} rules (+{shipped} shipped)",
        "throughput": rate,
        "unit": "articles/s",
        "per_item_us": per,
        "wall_s": round(wall, 3),
        "notes": notes,
    }


def report(result: dict[str, Any]) -> str:
    """Return the benchmark's own table, its targets and, if any, its profile."""
    body: list[list[str]] = []
    for c in result["cases"]:
        row = [
            f"{c['generated_rules']:,}",
            f"{c['distinct_terms']:,}",
            f"{c['regex_terms']:,}",
            common.fmt_number(c["load_s"]),
            common.fmt_number(c["compile_s"]),
        ]
        if "error" in c:
            body.append([*row, "FAILED", "-", "-", "-", "-", "-", "-"])
            continue
        body.append(
            [
                *row,
                common.fmt_number(c["cold_articles_per_s"]),
                common.fmt_number(c["articles_per_s"]),
                common.fmt_number(c["us_per_article"]),
                f"{c['matches']:,}",
                f"{c['articles_matched_by_shipped']:,}",
                f"{c['max_rule_share_pct']:.2f}",
                "yes" if c["consistent"] else "NO",
            ]
        )
    headers = [
        "rules",
        "terms",
        "regex",
        "load s",
        "compile s",
        "cold art/s",
        "articles/s",
        "us/article",
        "matches",
        "shipped hits",
        "max rule %",
        "same",
    ]
    config = result["config"]
    ratio = result["ratio"]
    parts = [
        f"## {result['title']}: {config['articles']:,} articles,"
        f" mean {config['mean_article_bytes']:,.0f} B",
        "",
        common.table(headers, body, right=tuple(range(11))),
        "",
        f"cost ratio {ratio['of']}: {ratio['value']:.2f}x" if ratio else "cost ratio: n/a",
    ]
    parts += [
        f"FAILED {c['generated_rules']:,} rules: {c['error']}"
        for c in result["cases"]
        if "error" in c
    ]
    parts += ["", common.targets_table(result["targets"])]
    if "profile" in result:
        prof = result["profile"]
        top = [
            [
                p["function"],
                f"{p['calls']:,}",
                f"{p['tottime_s']:.3f}",
                f"{p['cumtime_s']:.3f}",
                f"{p['cum_pct']:.1f}",
            ]
            for p in prof["top"]
        ]
        parts += [
            "",
            f"cProfile, one warm pass at {prof['case']} (by cumulative time):",
            "",
            common.table(["function", "calls", "own s", "cum s", "cum %"], top, right=(1, 2, 3, 4)),
        ]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
