"""Benchmark parse cost per item: normalize() against feedparser and a bare XML parse.

The same feed bytes (200 generated feeds x 50 items; 40 feeds with ``--quick``) go in one
thread through four parsers: ``xml.etree.ElementTree.fromstring`` (the floor: a bare XML parse),
``feedparser.parse`` with ``sanitize_html`` and ``resolve_relative_uris`` off (what normalize()
asks of it), ``feedparser.parse`` with its defaults (what feed2exec and rss2email call), and
``monitor.normalize.normalize`` on a ``FetchResult`` (guards, feedparser, text extraction,
canonical URLs, dates: everything between the fetched bytes and the stored Article). Each
parser takes a warm-up on a few feeds, then the best of ``--passes`` timed passes counts.
If ``bench_cycle`` ran before this under the same parent (as in ``run.py``), the whole
pipeline's CPU time per item is compared too. Run ``python bench/bench_parse.py --help``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_cycle
import common
import corpus
import feedparser

from monitor.model import FetchResult
from monitor.normalize import normalize

FEEDS = 200
QUICK_FEEDS = 40
ITEMS = 50
SEED = 1
PASSES = 2
QUICK_PASSES = 1
WARMUP_FEEDS = 3
# The promise: the pipeline within 2x of feedparser's own parse time, same bytes.
TARGET_RATIO = 2.0
FETCHED_AT = datetime(2025, 11, 20, 12, 30, tzinfo=UTC)


def _bare(body: bytes, feed_no: int) -> int:
    """Parse ``body`` into an element tree; return its number of items."""
    return len(ET.fromstring(body).findall("./channel/item"))


def _feedparser_minimal(body: bytes, feed_no: int) -> int:
    """Parse with feedparser as normalize() calls it; return its number of entries."""
    return len(feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False).entries)


def _feedparser_default(body: bytes, feed_no: int) -> int:
    """Parse with feedparser's defaults; return its number of entries."""
    return len(feedparser.parse(body).entries)


def _normalize(body: bytes, feed_no: int) -> int:
    """Normalize ``body`` as a fetched feed into Articles; return how many."""
    result = FetchResult(
        source_id=f"feed-{feed_no:05d}",
        url=f"http://127.0.0.1:8000/feed-{feed_no:05d}.xml",
        status=200,
        body=body,
        headers={"content-type": "application/rss+xml"},
        fetched_at=FETCHED_AT,
        etag='"bench"',
    )
    return len(normalize(result).articles)


# (key, label, function): the order they run in.
PARSERS: tuple[tuple[str, str, Callable[[bytes, int], int]], ...] = (
    ("bare", "ElementTree.fromstring (bare XML)", _bare),
    ("feedparser_minimal", "feedparser, no sanitize/resolve", _feedparser_minimal),
    ("feedparser_default", "feedparser, defaults", _feedparser_default),
    ("normalize", "news-monitor normalize()", _normalize),
)


def time_parser(
    func: Callable[[bytes, int], int], feeds: Sequence[bytes], passes: int
) -> dict[str, Any]:
    """Warm ``func`` up, then time ``passes`` passes over ``feeds``; return the best."""
    for n, body in enumerate(feeds[:WARMUP_FEEDS]):
        func(body, n)
    times: list[float] = []
    items = 0
    for _ in range(passes):
        gc.collect()
        items = 0
        start = time.perf_counter()
        for n, body in enumerate(feeds):
            items += func(body, n)
        times.append(time.perf_counter() - start)
    best = min(times)
    return {
        "items": items,
        "best_s": round(best, 4),
        "passes_s": [round(t, 4) for t in times],
        "us_per_item": round(best / items * 1e6, 2) if items else None,
        "items_per_s": round(items / best, 1) if items else None,
    }


def pipeline_from_cycle(path: Path) -> dict[str, Any] | None:
    """Return the first cycle's CPU per item from ``bench_cycle``'s result of this run, if any."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not bench_cycle.same_run(result):
        return None
    first = result.get("runs", {}).get("first", {})
    if first.get("exit_code") != 0 or not first.get("cpu_us_per_item"):
        return None
    return {
        "file": common.display(path),
        "feeds": result["config"]["feeds"],
        # Every process of the tree (the parse workers too) when the run measured it.
        "cpu_us_per_item": first.get("tree_cpu_us_per_item") or first["cpu_us_per_item"],
        "wall_us_per_item": first["us_per_item"],
        "rules": result["config"]["rules"],
    }


def ratios(cases: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Return normalize()'s cost over each of the other parsers' (per item)."""
    ours = cases["normalize"]["us_per_item"]
    out: dict[str, float | None] = {}
    for key in ("bare", "feedparser_minimal", "feedparser_default"):
        theirs = cases[key]["us_per_item"]
        out[f"normalize/{key}"] = round(ours / theirs, 2) if ours and theirs else None
    return out


def targets(
    cases: dict[str, dict[str, Any]],
    ratio: dict[str, float | None],
    pipeline: dict[str, Any] | None,
) -> list[common.Target]:
    """Check the 2x promise against feedparser with normalize()'s options (the stricter one)."""
    ours = ratio["normalize/feedparser_minimal"]
    reference = cases["feedparser_minimal"]["us_per_item"]
    whole = round(pipeline["cpu_us_per_item"] / reference, 2) if pipeline and reference else None
    return [
        {
            "name": "normalize() per item vs feedparser (no sanitize/resolve)",
            "target": f"<= {TARGET_RATIO:g}x",
            "value": ours,
            "met": ours <= TARGET_RATIO if ours is not None else False,
        },
        {
            "name": "whole cycle CPU per item (bench_cycle, all processes) vs feedparser",
            "target": f"<= {TARGET_RATIO:g}x",
            "value": whole,
            "met": whole <= TARGET_RATIO if whole is not None else None,
        },
    ]


def rows(
    cases: dict[str, dict[str, Any]],
    ratio: dict[str, float | None],
    pipeline: dict[str, Any] | None,
    feeds: int,
) -> list[common.Row]:
    """Return one row per parser, plus the whole cycle when its result is at hand."""
    out: list[common.Row] = []
    ours = cases["normalize"]["us_per_item"]
    for key, label, _func in PARSERS:
        c = cases[key]
        if key == "normalize":
            notes = (
                f"{ratio['normalize/bare']:.1f}x bare XML,"
                f" {ratio['normalize/feedparser_minimal']:.2f}x feedparser minimal,"
                f" {ratio['normalize/feedparser_default']:.2f}x feedparser defaults"
            )
        else:
            notes = f"normalize() is {ours / c['us_per_item']:.2f}x this" if ours else ""
        out.append(
            {
                "case": f"{label}, {feeds} feeds",
                "throughput": c["items_per_s"],
                "unit": "items/s",
                "per_item_us": c["us_per_item"],
                "wall_s": c["best_s"],
                "notes": f"{c['items']:,} items; {notes}",
            }
        )
    if pipeline is not None:
        per = pipeline["cpu_us_per_item"]
        minimal = cases["feedparser_minimal"]["us_per_item"]
        default = cases["feedparser_default"]["us_per_item"]
        out.append(
            {
                "case": f"whole cycle, CPU per item ({pipeline['feeds']:,} feeds)",
                "throughput": round(1e6 / per, 1),
                "unit": "items/CPU-s",
                "per_item_us": per,
                "wall_s": None,
                "notes": f"{per / minimal:.2f}x feedparser minimal, {per / default:.2f}x"
                f" defaults; fetch, parse, {pipeline['rules']:,}+ rules, store, alerts",
            }
        )
    return out


def report(result: dict[str, Any]) -> str:
    """Return the benchmark's own table and its targets."""
    body = []
    for key, label, _func in PARSERS:
        c = result["cases"][key]
        body.append(
            [
                label,
                f"{c['items']:,}",
                common.fmt_number(c["best_s"]),
                common.fmt_number(c["us_per_item"]),
                common.fmt_number(c["items_per_s"]),
                " ".join(f"{t:.2f}" for t in c["passes_s"]),
            ]
        )
    cfg = result["config"]
    lines = [
        f"\n## {result['title']}: {cfg['feeds']} feeds x {cfg['items']} items"
        f" ({cfg['corpus_mb']:.1f} MB), one thread\n",
        common.table(
            ["parser", "items", "best s", "us/item", "items/s", "passes s"],
            body,
            right=(1, 2, 3, 4),
        ),
        "",
        "ratios: " + ", ".join(f"{k} {v}x" for k, v in result["ratios"].items()),
    ]
    if result["pipeline"]:
        p = result["pipeline"]
        lines.append(
            f"whole cycle ({p['file']}): {p['cpu_us_per_item']:,.0f} CPU us/item,"
            f" {p['wall_us_per_item']:,.0f} wall us/item"
        )
    lines += ["", common.targets_table(result["targets"])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FEEDS} feeds, one pass")
    parser.add_argument("--feeds", type=int, help=f"how many feeds (default {FEEDS})")
    parser.add_argument("--passes", type=int, help=f"timed passes per parser (default {PASSES})")
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON output file (default: bench/results/parse.json, parse-quick.json with --quick)",
    )
    args = parser.parse_args(argv)
    suffix = "-quick" if args.quick else ""
    out: Path = args.out or common.RESULTS_DIR / f"parse{suffix}.json"
    feeds: int = args.feeds or (QUICK_FEEDS if args.quick else FEEDS)
    passes: int = args.passes or (QUICK_PASSES if args.quick else PASSES)

    start = time.perf_counter()
    bodies = [corpus.rss_feed(n, items=ITEMS, seed=SEED) for n in range(feeds)]
    size = sum(len(b) for b in bodies)
    print(
        f"parse: {feeds} feeds x {ITEMS} items, {size / 2**20:.1f} MB, {passes} pass(es)",
        file=sys.stderr,
        flush=True,
    )
    cases: dict[str, dict[str, Any]] = {}
    for key, label, func in PARSERS:
        cases[key] = time_parser(func, bodies, passes)
        c = cases[key]
        print(
            f"  {label}: {c['us_per_item']:,.1f} us/item, {c['items_per_s']:,.0f} items/s",
            file=sys.stderr,
            flush=True,
        )
        if c["items"] != feeds * ITEMS:
            print(
                f"  {label}: {c['items']:,} items, expected {feeds * ITEMS:,}",
                file=sys.stderr,
            )
    ratio = ratios(cases)
    pipeline = pipeline_from_cycle(out.with_name(f"cycle{suffix}.json"))
    result: dict[str, Any] = {
        "name": "parse",
        "title": "Parse cost per item",
        "quick": args.quick,
        "config": {
            "feeds": feeds,
            "items": ITEMS,
            "seed": SEED,
            "passes": passes,
            "corpus_mb": round(size / 2**20, 2),
            "feedparser": getattr(feedparser, "__version__", "?"),
        },
        "cases": cases,
        "ratios": ratio,
        "pipeline": pipeline,
        "targets": targets(cases, ratio, pipeline),
        "rows": rows(cases, ratio, pipeline, feeds),
    }
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(common.peak_rss_mb(), 1)
    common.write_json(out, result)
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
