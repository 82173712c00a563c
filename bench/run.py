"""Run every benchmark in its own process and print one combined table (the ``make bench`` entry).

Each benchmark is a script in this folder that takes ``--quick`` and ``--out PATH``, prints its
own detailed table and writes a JSON result with ``title``, ``rows`` and ``targets``. Running it
in a subprocess keeps peak memory per benchmark. The combined result, with machine information,
goes to ``bench/results/all.json`` (``all-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common


@dataclass(frozen=True)
class Bench:
    """One benchmark script and the name its results go under."""

    name: str
    script: str


# One line per benchmark, in the order they run.
BENCHES = (
    Bench("match", "bench_match.py"),
    Bench("cycle", "bench_cycle.py"),
    Bench("peers", "bench_peers.py"),
    # Bench("deliver", "bench_deliver.py"),
    Bench("parse", "bench_parse.py"),
)


def run_one(bench: Bench, quick: bool, results: Path) -> dict[str, Any]:
    """Run one benchmark in a child process; return its result with exit code, time and RSS."""
    suffix = "-quick" if quick else ""
    out = results / f"{bench.name}{suffix}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(common.BENCH_DIR / bench.script), "--out", str(out)]
    if quick:
        command.append("--quick")
    print(f"\n==> {bench.name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=common.ROOT)
    # wait4 gives this child's own rusage, so peak RSS is per benchmark.
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    record: dict[str, Any] = {
        "name": bench.name,
        "script": bench.script,
        "exit_code": code,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(
            usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1
        ),
        "result_file": common.display(out),
    }
    if code != 0:
        record["error"] = f"exited with code {code}"
    try:
        record["result"] = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        record.setdefault("error", f"no result: {exc}")
    return record


def combined_table(records: Sequence[dict[str, Any]]) -> str:
    """Return one aligned table with every case of every benchmark."""
    body: list[list[str]] = []
    for record in records:
        rss = common.fmt_number(record["peak_rss_mb"])
        rows: list[common.Row] = record.get("result", {}).get("rows", [])
        if not rows:
            body.append([record["name"], "-", "-", "-", "-", "-", rss, record.get("error", "")])
        for row in rows:
            body.append(
                [
                    record["name"],
                    row["case"],
                    common.fmt_number(row["throughput"]),
                    row["unit"],
                    common.fmt_number(row["per_item_us"]),
                    common.fmt_number(row["wall_s"]),
                    rss,
                    row["notes"],
                ]
            )
    headers = ["benchmark", "case", "throughput", "unit", "us/item", "wall s", "peak MB", "notes"]
    return common.table(headers, body, right=(2, 4, 5, 6))


def all_targets(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return every benchmark's targets, each named with its benchmark."""
    return [
        {"benchmark": record["name"], **target}
        for record in records
        for target in record.get("result", {}).get("targets", [])
    ]


def targets_table(targets: Sequence[dict[str, Any]]) -> str:
    """Return the targets of all benchmarks as one aligned table."""
    body = [
        [
            t["benchmark"],
            t["name"],
            t["target"],
            common.fmt_number(t["value"]),
            "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED"),
        ]
        for t in targets
    ]
    return common.table(["benchmark", "target", "asked", "measured", "verdict"], body, right=(3,))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks, print the combined table and write ``all.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument(
        "--only", help=f"comma-separated benchmarks ({', '.join(b.name for b in BENCHES)})"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed, not only on errors"
    )
    args = parser.parse_args(argv)
    chosen = list(BENCHES)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        unknown = wanted - {b.name for b in BENCHES}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = [b for b in BENCHES if b.name in wanted]

    started = datetime.now(UTC)
    records = [run_one(bench, args.quick, common.RESULTS_DIR) for bench in chosen]
    targets = all_targets(records)
    summary = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": common.machine(),
        "benchmarks": records,
        "targets": targets,
    }
    name = "all-quick.json" if args.quick else "all.json"
    common.write_json(common.RESULTS_DIR / name, summary)

    info = summary["machine"]
    print(
        f"\n## news-monitor benchmarks{' (quick)' if args.quick else ''}: {info['cpu_count']}"
        f" CPUs ({info['cpu_model']}), Python {info['python']}, {info['platform']}\n"
    )
    print(combined_table(records))
    if targets:
        print()
        print(targets_table(targets))
    print(f"\nresults: {common.display(common.RESULTS_DIR / name)}")
    failed = [r["name"] for r in records if "error" in r]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    if args.strict and any(t["met"] is False for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
