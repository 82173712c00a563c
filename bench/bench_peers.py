"""Benchmark the peers: rss2email and feed2exec over the same local feeds as ``bench_cycle``.

Each peer is installed from PyPI into its own virtualenv under ``bench/.cache/venvs/`` (made by
this script with ``python -m venv`` and pip; reused while its pinned version stays the same).
The corpus of ``bench_cycle`` (1,000 feeds x 50 items; 200 feeds with ``--quick``) is served from
127.0.0.1 by the same server, and each peer runs twice in its fastest mode, first with every
item new and then with every feed unchanged: ``r2e run --no-send`` and ``feed2exec fetch
--parallel`` with the null output plugin. Each run is measured as a whole process tree, as
news-monitor's are. The ratios compare with news-monitor's cycle from the same ``run.py``
invocation (``results/cycle.json``, when ``bench_cycle`` ran before this under the same parent
process and on as many feeds); otherwise news-monitor is measured here, on the same server.
A peer that cannot be installed or run is reported as ``n/a`` with the error, and the run goes
on. Run ``python bench/bench_peers.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import bench_cycle
import common

CACHE_DIR = common.BENCH_DIR / ".cache"
VENV_DIR = CACHE_DIR / "venvs"
INSTALL_TIMEOUT = 900.0
# The targets, against the faster peer in its fastest mode.
FIRST_TARGET = 3.0
UNCHANGED_TARGET = 5.0


@dataclass(frozen=True)
class Peer:
    """A tool users would pick instead: what to install and how it is named."""

    name: str
    requirement: str
    mode: str


PEERS = (
    Peer("rss2email", "rss2email==3.14", "r2e run --no-send"),
    Peer("feed2exec", "feed2exec==0.23.0", "feed2exec fetch --parallel, null output"),
)


class PeerError(Exception):
    """A peer could not be installed, set up or run; the message says why."""


# --------------------------------------------------------------------------------------------
# Installing
# --------------------------------------------------------------------------------------------


def ensure_venv(peer: Peer) -> tuple[Path, dict[str, Any]]:
    """Return the peer's cached virtualenv, creating it and installing the peer if needed."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    ignore = CACHE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Made by bench/bench_peers.py: nothing here belongs in git.\n*\n")
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    venv = VENV_DIR / f"{peer.requirement.replace('==', '-')}-{tag}"
    marker = venv / ".bench-installed"
    python = venv / "bin" / "python"
    info: dict[str, Any] = {"venv": common.display(venv), "cached": True, "install_s": 0.0}
    if not (marker.exists() and marker.read_text() == peer.requirement and python.exists()):
        info["cached"] = False
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        log = venv.parent / f"{venv.name}.install.log"
        start = time.perf_counter()
        _install_step([sys.executable, "-m", "venv", str(venv)], log, "python -m venv")
        _install_step(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                peer.requirement,
            ],
            log,
            f"pip install {peer.requirement}",
        )
        marker.write_text(peer.requirement)
        info["install_s"] = round(time.perf_counter() - start, 1)
    versions = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, sys\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n"
            "        print(name, m.version(name))\n"
            "    except m.PackageNotFoundError:\n"
            "        print(name, '-')",
            peer.name,
            "feedparser",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    info["versions"] = dict(
        line.split(" ", 1) for line in versions.stdout.splitlines() if " " in line
    )
    return venv, info


def _install_step(command: list[str], log: Path, what: str) -> None:
    """Run one installation command, appending to ``log``; raise PeerError if it fails."""
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PeerError(f"{what} took more than {INSTALL_TIMEOUT:g} s") from None
    if done.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-1:]
        raise PeerError(f"{what} failed (exit {done.returncode}): {' / '.join(errors[-2:])}")


# --------------------------------------------------------------------------------------------
# Setting up and counting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """How to run a prepared peer and how to count the items it has seen."""

    command: list[str]
    env: dict[str, str]
    seen: Callable[[], int]


def peer_env(venv: Path, home: Path) -> dict[str, str]:
    """Return an environment that keeps the peer's files inside ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        LC_ALL="C.UTF-8",
    )
    return env


def setup_rss2email(venv: Path, work: Path, urls: Sequence[str]) -> Setup:
    """Create an rss2email config and data file with every feed added (one OPML import)."""
    env = peer_env(venv, work / "home")
    r2e = [str(venv / "bin" / "r2e"), "-c", str(work / "r2e.cfg"), "-d", str(work / "r2e.json")]
    opml = work / "feeds.opml"
    outlines = "".join(
        f"<outline type={quoteattr('rss')} text={quoteattr(f'feed-{n:05d}')}"
        f" xmlUrl={quoteattr(url)}/>\n"
        for n, url in enumerate(urls)
    )
    opml.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="1.0">\n<head><title>bench</title>'
        f"</head>\n<body>\n{outlines}</body>\n</opml>\n",
        encoding="utf-8",
    )
    for args in (["new", "bench@example.invalid"], ["opmlimport", str(opml)]):
        _setup_step([*r2e, *args], env, work)

    def seen() -> int:
        """Return how many items rss2email remembers."""
        data = json.loads((work / "r2e.json").read_text(encoding="utf-8"))
        return sum(len(feed.get("seen") or {}) for feed in data.get("feeds", []))

    return Setup([*r2e, "run", "--no-send"], env, seen)


def setup_feed2exec(venv: Path, work: Path, urls: Sequence[str]) -> Setup:
    """Write a feed2exec config with every feed sent to the null output plugin."""
    env = peer_env(venv, work / "home")
    ini = work / "feed2exec.ini"
    database = work / "feed2exec.db"
    ini.write_text(
        "".join(
            f"[feed-{n:05d}]\nurl = {url}\noutput = feed2exec.plugins.null\n\n"
            for n, url in enumerate(urls)
        ),
        encoding="utf-8",
    )
    f2e = [str(venv / "bin" / "feed2exec"), "--config", str(ini), "--database", str(database)]
    _setup_step([*f2e, "ls"], env, work)

    def seen() -> int:
        """Return how many items feed2exec remembers."""
        if not database.exists():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            count: int = db.execute("SELECT count(*) FROM feedcache").fetchone()[0]
        return count

    return Setup([*f2e, "fetch", "--parallel"], env, seen)


SETUPS: dict[str, Callable[[Path, Path, Sequence[str]], Setup]] = {
    "rss2email": setup_rss2email,
    "feed2exec": setup_feed2exec,
}


def _setup_step(command: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run one setup command; raise PeerError with its output if it fails."""
    try:
        done = subprocess.run(
            command,
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerError(f"{Path(command[0]).name} {command[-2]}: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PeerError(f"`{Path(command[0]).name} ... {command[-1]}` failed: {detail[0]}")


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def run_peer(
    peer: Peer, server: bench_cycle.FeedServer, work: Path, timeout: float
) -> dict[str, Any]:
    """Install, set up and run one peer twice; return its runs, or its error."""
    record: dict[str, Any] = {"name": peer.name, "requirement": peer.requirement}
    record["mode"] = peer.mode
    try:
        venv, info = ensure_venv(peer)
        record.update(info)
        folder = work / peer.name
        folder.mkdir()
        setup = SETUPS[peer.name](venv, folder, server.urls())
    except (PeerError, OSError) as exc:
        record["error"] = str(exc)
        print(f"  {peer.name}: n/a: {exc}", file=sys.stderr, flush=True)
        return record
    record["command"] = " ".join([Path(setup.command[0]).name, *_public(setup.command[1:])])
    items = server.corpus.total_items
    server.stats(reset=True)
    for name in ("first", "unchanged"):
        log = folder / f"{name}.log"
        measured = bench_cycle.measure(
            setup.command, cwd=folder, log=log, env=setup.env, timeout=timeout
        )
        served = server.stats(reset=True)
        try:
            seen = setup.seen()
        except (OSError, ValueError, sqlite3.Error) as exc:
            seen = -1
            record.setdefault("warnings", []).append(f"could not count items: {exc}")
        record[name] = {
            **asdict(measured),
            "items": items,
            "items_per_s": round(items / measured.wall_s, 1),
            "us_per_item": round(measured.wall_s / items * 1e6, 2),
            "cpu_us_per_item": round(measured.cpu_s / items * 1e6, 2),
            "served": served,
            "seen": seen,
        }
        status = "timed out" if measured.timed_out else f"exit {measured.exit_code}"
        print(
            f"  {peer.name} {name}: {measured.wall_s:.2f} s, {items / measured.wall_s:,.0f}"
            f" items/s, CPU {measured.cpu_s:.1f} s, tree RSS {measured.tree_rss_mb:,.0f} MB,"
            f" {served['200']} x 200, {served['304']} x 304, {seen:,} items seen, {status}",
            file=sys.stderr,
            flush=True,
        )
        if measured.timed_out or measured.exit_code != 0:
            why = "timed out" if measured.timed_out else f"exit code {measured.exit_code}"
            last = measured.log_tail.splitlines()[-1:] or ["no output"]
            record[name]["error"] = f"{why}: {last[0]}"
    return record


def _public(args: Sequence[str]) -> list[str]:
    """Return command arguments with temporary paths shortened to their file names."""
    return [Path(a).name if os.sep in a else a for a in args]


def ours_from_cycle(path: Path, feeds: int) -> dict[str, Any] | None:
    """Return news-monitor's runs from ``bench_cycle``'s result if it belongs to this run."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not bench_cycle.same_run(result) or result.get("config", {}).get("feeds") != feeds:
        return None
    runs: dict[str, Any] = result["runs"]
    return {**runs, "source": f"{common.display(path)} (bench_cycle, same run.py invocation)"}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _ok(run: dict[str, Any] | None) -> bool:
    """Return whether a measured run finished cleanly."""
    return run is not None and "error" not in run and run.get("exit_code") == 0


def comparisons(ours: dict[str, Any], peers: list[dict[str, Any]]) -> dict[str, Any]:
    """Return news-monitor's speed-ups over each peer and over the faster peer."""
    first_ok = _ok(ours.get("first"))
    second_ok = _ok(ours.get("unchanged"))
    out: dict[str, Any] = {"per_peer": {}, "ours_ok": {"first": first_ok, "unchanged": second_ok}}
    for peer in peers:
        entry: dict[str, float | None] = {"first": None, "unchanged": None}
        if first_ok and _ok(peer.get("first")):
            entry["first"] = round(ours["first"]["items_per_s"] / peer["first"]["items_per_s"], 2)
        if second_ok and _ok(peer.get("unchanged")):
            entry["unchanged"] = round(peer["unchanged"]["wall_s"] / ours["unchanged"]["wall_s"], 2)
        out["per_peer"][peer["name"]] = entry
    firsts = [p for p in peers if _ok(p.get("first"))]
    seconds = [p for p in peers if _ok(p.get("unchanged"))]
    if firsts and first_ok:
        best = max(firsts, key=lambda p: p["first"]["items_per_s"])
        out["first"] = {
            "peer": best["name"],
            "peer_items_per_s": best["first"]["items_per_s"],
            "ours_items_per_s": ours["first"]["items_per_s"],
            "ratio": round(ours["first"]["items_per_s"] / best["first"]["items_per_s"], 2),
        }
    if seconds and second_ok:
        best = min(seconds, key=lambda p: p["unchanged"]["wall_s"])
        out["unchanged"] = {
            "peer": best["name"],
            "peer_wall_s": best["unchanged"]["wall_s"],
            "ours_wall_s": ours["unchanged"]["wall_s"],
            "ratio": round(best["unchanged"]["wall_s"] / ours["unchanged"]["wall_s"], 2),
        }
    return out


def targets(ratios: dict[str, Any]) -> list[common.Target]:
    """Check the issue's two targets against the faster peer; n/a when no peer ran."""
    out: list[common.Target] = []
    for key, label, wanted in (
        ("first", "first cycle items/s vs faster peer", FIRST_TARGET),
        ("unchanged", "unchanged cycle speed vs faster peer", UNCHANGED_TARGET),
    ):
        found = ratios.get(key)
        # news-monitor failing its own run misses the target; no peer to compare with is n/a.
        met = None if found is None else found["ratio"] >= wanted
        if not ratios["ours_ok"][key]:
            met = False
        out.append(
            {
                "name": label + (f" ({found['peer']})" if found else ""),
                "target": f">= {wanted:g}x",
                "value": found["ratio"] if found else None,
                "met": met,
            }
        )
    return out


def rows(peers: list[dict[str, Any]], ratios: dict[str, Any], feeds: int) -> list[common.Row]:
    """Return one row per peer and run for the combined table; a failed peer shows n/a."""
    out: list[common.Row] = []
    for peer in peers:
        version = peer.get("versions", {}).get(peer["name"], peer["requirement"].split("==")[-1])
        for name, label in (("first", "all new"), ("unchanged", "all unchanged")):
            case = f"{peer['name']} {version}, {feeds:,} feeds, {label}"
            run = peer.get(name)
            if "error" in peer or run is None:
                reason = peer.get("error", "not run")
                out.append(_row(case, None, None, None, f"n/a: {reason}"))
                continue
            ratio = ratios["per_peer"].get(peer["name"], {}).get(name)
            versus = "-" if ratio is None else f"{ratio:.2f}x"
            notes = (
                f"news-monitor {versus} this; tree peak {run['tree_rss_mb']:,.0f} MB RSS /"
                f" {run['tree_pss_mb'] or 0:,.0f} MB PSS, CPU {run['cpu_s']:.1f} s,"
                f" {run['served']['200']:,} x 200, {run['served']['304']:,} x 304,"
                f" {run['seen']:,} items seen"
            )
            if "error" in run:
                notes = f"FAILED ({run['error']}); {notes}"
            out.append(_row(case, run["items_per_s"], run["us_per_item"], run["wall_s"], notes))
    return out


def _row(
    case: str, rate: float | None, per: float | None, wall: float | None, notes: str
) -> common.Row:
    """Return one table row."""
    return {
        "case": case,
        "throughput": rate,
        "unit": "items/s",
        "per_item_us": per,
        "wall_s": wall,
        "notes": notes,
    }


def report(result: dict[str, Any]) -> str:
    """Return the side-by-side table of news-monitor and the peers, then the targets."""
    body: list[list[str]] = []
    tools: list[tuple[str, str, dict[str, Any]]] = [("news-monitor", "run --once", result["ours"])]
    tools += [(p["name"], p["mode"], p) for p in result["peers"]]
    for tool, mode, record in tools:
        for name in ("first", "unchanged"):
            run = record.get(name)
            if "error" in record or run is None:
                body.append([tool, mode, name, "n/a", "-", "-", "-", "-", "-", "-"])
                continue
            body.append(
                [
                    tool,
                    mode,
                    name,
                    common.fmt_number(run["wall_s"]),
                    common.fmt_number(run["items_per_s"]),
                    common.fmt_number(run["cpu_s"]),
                    common.fmt_number(run["tree_rss_mb"]),
                    common.fmt_number(run["tree_pss_mb"]),
                    f"{run['served']['200']}/{run['served']['304']}",
                    "timeout" if run["timed_out"] else str(run["exit_code"]),
                ]
            )
    headers = [
        "tool",
        "mode",
        "run",
        "wall s",
        "items/s",
        "CPU s",
        "tree RSS MB",
        "tree PSS MB",
        "200/304",
        "exit",
    ]
    cfg = result["config"]
    lines = [
        f"\n## {result['title']}: {cfg['feeds']:,} feeds x {cfg['items']} items;"
        f" news-monitor from {result['ours']['source']}\n",
        common.table(headers, body, right=(3, 4, 5, 6, 7, 8, 9)),
        "",
        common.targets_table(result["targets"]),
    ]
    for peer in result["peers"]:
        if "error" in peer:
            lines.append(f"{peer['name']}: n/a: {peer['error']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{bench_cycle.QUICK_FEEDS} feeds")
    parser.add_argument("--feeds", type=int, help=f"how many feeds (default {bench_cycle.FEEDS})")
    parser.add_argument(
        "--peers", default=",".join(p.name for p in PEERS), help="comma-separated peers to run"
    )
    parser.add_argument(
        "--measure-ours",
        action="store_true",
        help="measure news-monitor here even if bench_cycle's result of this run exists",
    )
    parser.add_argument(
        "--timeout", type=float, default=bench_cycle.RUN_TIMEOUT, help="seconds per run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON output file (default: bench/results/peers.json, peers-quick.json with --quick)",
    )
    args = parser.parse_args(argv)
    suffix = "-quick" if args.quick else ""
    out: Path = args.out or common.RESULTS_DIR / f"peers{suffix}.json"
    feeds: int = args.feeds or (bench_cycle.QUICK_FEEDS if args.quick else bench_cycle.FEEDS)
    wanted = {name.strip() for name in args.peers.split(",") if name.strip()}
    unknown = wanted - {p.name for p in PEERS}
    if unknown:
        parser.error(f"unknown peer(s): {', '.join(sorted(unknown))}")
    chosen = [p for p in PEERS if p.name in wanted]

    start = time.perf_counter()
    cycle_file = out.with_name(f"cycle{suffix}.json")
    ours = None if args.measure_ours else ours_from_cycle(cycle_file, feeds)
    peers: list[dict[str, Any]] = []
    with bench_cycle.workspace(args.keep) as work:
        made = bench_cycle.write_corpus(work / "feeds", feeds)
        print(
            f"peers: {feeds:,} feeds x {made.items} items, {made.total_bytes / 2**20:.1f} MB;"
            f" news-monitor {'from ' + cycle_file.name if ours else 'measured here'}",
            file=sys.stderr,
            flush=True,
        )
        with bench_cycle.FeedServer(made) as server:
            if ours is None:
                project = work / "news-monitor"
                project.mkdir()
                ours = bench_cycle.run_news_monitor(server, project, timeout=args.timeout)
                ours["source"] = "measured by bench_peers on the same server"
            for peer in chosen:
                peers.append(run_peer(peer, server, work, args.timeout))
    ratios = comparisons(ours, peers)
    result: dict[str, Any] = {
        "name": "peers",
        "title": "news-monitor against rss2email and feed2exec",
        "quick": args.quick,
        "config": {
            "feeds": feeds,
            "items": made.items,
            "corpus_mb": round(made.total_bytes / 2**20, 2),
            "cache": common.display(VENV_DIR),
            "ratios": "first: news-monitor items/s over the peer's; unchanged: the peer's wall"
            " time over news-monitor's",
        },
        "ours": {k: ours[k] for k in ("first", "unchanged", "source") if k in ours},
        "peers": peers,
        "ratios": ratios,
        "targets": targets(ratios),
        "rows": rows(peers, ratios, feeds),
    }
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(common.peak_rss_mb(), 1)
    common.write_json(out, result)
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
