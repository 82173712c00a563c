"""Benchmark whole cycles: ``news-monitor run --once`` over 1,000 local feeds, new then unchanged.

A generated corpus (1,000 feeds x 50 items; 200 feeds with ``--quick``) is written to a temporary
folder and served from 127.0.0.1 by a small threaded HTTP server in its own process, with ETag
and Last-Modified, answering If-None-Match and If-Modified-Since with 304. A temporary project
gets one ``kind: feed`` source per feed, the shipped rules plus 1,000 generated ones, and the
built-in console channel (its output goes to /dev/null). ``news-monitor run --once`` then runs
as a child process twice: first everything is new, then every feed is unchanged. Each run is
measured whole: wall time, items per second, CPU time and peak memory of its process tree.
Run ``python bench/bench_cycle.py --help`` for the options.

The server, the process-tree measurement and the corpus folder are also used by
``bench_peers.py``, which points rss2email and feed2exec at the same feeds.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import common
import corpus

FEEDS = 1_000
QUICK_FEEDS = 200
ITEMS = 50
RULES = 1_000
FEED_SEED = 1
RULE_SEED = 1
# All feeds come from one local server; real feeds come from many hosts. news-monitor allows
# 2 polls per host by default, so the benchmark raises it to the global limit (16).
PER_HOST = 16
# The promise for the 1,000-feed run, whole process tree.
MEMORY_TARGET_MB = 300.0
LAST_MODIFIED = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
SAMPLE_INTERVAL = 0.1
RUN_TIMEOUT = 900.0
_CYCLE_DONE = re.compile(r"cycle done: .*")


# --------------------------------------------------------------------------------------------
# The corpus and its server
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """Feed files written to a folder: how many, how big, and where."""

    folder: Path
    feeds: int
    items: int
    seed: int
    total_bytes: int

    @property
    def total_items(self) -> int:
        """Return the number of items in all feeds."""
        return self.feeds * self.items

    def name(self, feed_no: int) -> str:
        """Return the file name (and URL path) of feed number ``feed_no``."""
        return f"feed-{feed_no:05d}.xml"


def write_corpus(folder: Path, feeds: int, items: int = ITEMS, seed: int = FEED_SEED) -> Corpus:
    """Generate ``feeds`` RSS documents of ``items`` items each into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for n in range(feeds):
        body = corpus.rss_feed(n, items=items, seed=seed)
        (folder / f"feed-{n:05d}.xml").write_bytes(body)
        total += len(body)
    return Corpus(folder, feeds, items, seed, total)


def _serve(folder: str, conn: Connection) -> None:
    """Serve every file of ``folder`` until the parent closes ``conn``: the server's main."""
    last_modified = format_datetime(LAST_MODIFIED, usegmt=True)
    files: dict[str, tuple[bytes, str]] = {}
    for path in Path(folder).iterdir():
        body = path.read_bytes()
        files["/" + path.name] = (body, '"' + hashlib.sha1(body).hexdigest()[:20] + '"')
    counts: dict[str, int] = {"200": 0, "304": 0, "404": 0, "bytes": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        """Answer GETs from memory, with validators and conditional requests."""

        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            """Send one feed, a 304, the counters (``/_stats``) or a 404."""
            if self.path.startswith("/_stats"):
                with lock:
                    payload = json.dumps(counts).encode()
                    if "reset" in self.path:
                        for key in counts:
                            counts[key] = 0
                self._reply(200, payload, {"Content-Type": "application/json"})
                return
            found = files.get(self.path.split("?", 1)[0])
            if found is None:
                self._count("404", 0)
                self._reply(404, b"not found\n", {"Content-Type": "text/plain"})
                return
            body, etag = found
            validators = {"ETag": etag, "Last-Modified": last_modified}
            if self._unchanged(etag):
                self._count("304", 0)
                self.send_response(304)
                for key, value in validators.items():
                    self.send_header(key, value)
                self.end_headers()
                return
            self._count("200", len(body))
            self._reply(200, body, {"Content-Type": "application/rss+xml", **validators})

        def _unchanged(self, etag: str) -> bool:
            """Return whether the request's validators still match: If-None-Match first."""
            tags = self.headers.get("If-None-Match")
            if tags is not None:
                return any(t.strip().removeprefix("W/") == etag for t in tags.split(","))
            since = self.headers.get("If-Modified-Since")
            if since:
                try:
                    return parsedate_to_datetime(since) >= LAST_MODIFIED
                except (TypeError, ValueError):
                    return False
            return False

        def _count(self, key: str, size: int) -> None:
            """Count one answer and its body bytes."""
            with lock:
                counts[key] += 1
                counts["bytes"] += size

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            """Send a whole response with its length, so the connection can be kept."""
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Log nothing: a thousand lines per cycle would only cost time."""

    class Server(ThreadingHTTPServer):
        """A threaded server with a listen backlog for many clients at once."""

        request_queue_size = 256
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    conn.send(server.server_address[1])
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    server.shutdown()
    server.server_close()


class FeedServer:
    """The corpus served from 127.0.0.1 by a child process; use it as a context manager."""

    def __init__(self, corpus_: Corpus) -> None:
        self.corpus = corpus_
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(str(corpus_.folder), child), name="bench-feed-server"
        )
        self._proc.start()
        child.close()
        try:
            if not self._conn.poll(60):
                raise RuntimeError("the feed server did not start within 60 s")
            self.port: int = self._conn.recv()
        except (EOFError, RuntimeError) as exc:
            self.close()
            raise RuntimeError(f"the feed server failed to start: {exc or 'it exited'}") from None
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, feed_no: int) -> str:
        """Return the URL of feed number ``feed_no``."""
        return f"{self.base}/{self.corpus.name(feed_no)}"

    def urls(self) -> list[str]:
        """Return the URL of every feed, in order."""
        return [self.url(n) for n in range(self.corpus.feeds)]

    def stats(self, reset: bool = True) -> dict[str, int]:
        """Return the answers counted since the last reset (200, 304, 404, bytes); reset them."""
        path = "/_stats?reset=1" if reset else "/_stats"
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            data: dict[str, int] = json.loads(response.read())
        return data

    def close(self) -> None:
        """Stop the server process."""
        self._conn.close()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Measuring a process tree
# --------------------------------------------------------------------------------------------


@dataclass
class Measured:
    """How one child process (with everything it started) ran."""

    exit_code: int | None
    wall_s: float
    cpu_s: float
    # CPU of every process of the tree (sampled; at least cpu_s).
    tree_cpu_s: float
    # The largest single process (wait4's ru_maxrss, which covers reaped descendants too).
    max_rss_mb: float
    # Peaks of the summed memory of the process and all its descendants, sampled every 0.1 s:
    # RSS counts shared pages once per process (an upper bound), PSS shares them out.
    tree_rss_mb: float
    tree_pss_mb: float | None
    max_processes: int
    at_peak: list[tuple[str, float]]
    timed_out: bool
    log_tail: str


def _proc_tree(root: int) -> list[int]:
    """Return ``root`` and every live process descended from it, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += frontier
    return tree


def _memory_kb(pid: int) -> tuple[int, int | None]:
    """Return the RSS and PSS of ``pid`` in KiB (PSS None where the kernel does not tell it)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        text = ""
    rss = re.search(r"^Rss:\s+(\d+)", text, re.M)
    pss = re.search(r"^Pss:\s+(\d+)", text, re.M)
    if rss is not None:
        return int(rss.group(1)), int(pss.group(1)) if pss else None
    try:
        with open(f"/proc/{pid}/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0, None
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024, None


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float | None:
    """Return a process's own user + system CPU seconds so far, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _short_name(pid: int) -> str:
    """Return a short name for a process: its program and, for Python, what it runs."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    words = [a.decode(errors="replace") for a in args if a]
    if not words:
        return str(pid)
    name = Path(words[0]).name
    if "multiprocessing" in " ".join(words):
        return f"{name} (multiprocessing child)"
    rest = [Path(w).name if os.sep in w else w for w in words[1:3]]
    return " ".join([name, *rest])


class TreeSampler(threading.Thread):
    """Sample the summed memory of a process tree until stopped; keep the peaks."""

    def __init__(self, root: int, interval: float = SAMPLE_INTERVAL) -> None:
        super().__init__(daemon=True, name="tree-sampler")
        self.root = root
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb: int | None = None
        self.max_processes = 0
        # Each process's RSS (MiB) in the sample where the sum peaked.
        self.at_peak: list[tuple[str, float]] = []
        # Each process's CPU seconds at its last sample: parse workers are children of the
        # fork server, which the parent never waits for, so wait4 alone would miss them.
        self.cpu_by_pid: dict[int, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample now and then every ``interval`` seconds until ``stop``."""
        while True:
            self.sample()
            if self._halt.wait(self.interval):
                return

    def sample(self) -> None:
        """Take one sample of the tree."""
        if not os.path.isdir("/proc"):
            return
        rss_sum, pss_sum, pss_known = 0, 0, True
        pids = _proc_tree(self.root)
        each: list[tuple[int, int]] = []
        for pid in pids:
            cpu = _cpu_seconds(pid)
            if cpu is not None:
                self.cpu_by_pid[pid] = cpu
            rss, pss = _memory_kb(pid)
            rss_sum += rss
            each.append((pid, rss))
            if pss is None:
                pss_known = False
            else:
                pss_sum += pss
        if rss_sum > self.peak_rss_kb:
            self.peak_rss_kb = rss_sum
            self.at_peak = [(_short_name(pid), round(rss / 1024, 1)) for pid, rss in each if rss]
        if pss_known:
            self.peak_pss_kb = max(self.peak_pss_kb or 0, pss_sum)
        self.max_processes = max(self.max_processes, len(pids))

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._halt.set()
        self.join()


def measure(
    command: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
) -> Measured:
    """Run ``command`` to its end (killed after ``timeout`` s); measure its whole process tree."""
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=err,
            start_new_session=True,
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        expired = threading.Event()

        def kill() -> None:
            """Kill the whole session of the child: it ran out of time."""
            expired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
    # Whatever the child left behind in its session (its own process group) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return Measured(
        exit_code=None if expired.is_set() else proc.returncode,
        wall_s=round(wall, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        tree_cpu_s=round(max(usage.ru_utime + usage.ru_stime, sum(sampler.cpu_by_pid.values())), 2),
        max_rss_mb=round(usage.ru_maxrss / scale, 1),
        tree_rss_mb=round(sampler.peak_rss_kb / 1024, 1),
        tree_pss_mb=None if sampler.peak_pss_kb is None else round(sampler.peak_pss_kb / 1024, 1),
        max_processes=sampler.max_processes,
        at_peak=sampler.at_peak,
        timed_out=expired.is_set(),
        log_tail=tail(log),
    )


def tail(path: Path, lines: int = 5, width: int = 300) -> str:
    """Return the last ``lines`` lines of a log file, each cut to ``width`` characters."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(line[:width] for line in text.strip().splitlines()[-lines:])


def run_identity() -> dict[str, Any]:
    """Return who started this benchmark (pid and start time), to pair results of one run."""
    ppid = os.getppid()
    try:
        stat = Path(f"/proc/{ppid}/stat").read_bytes()
        started: str | None = stat[stat.rfind(b")") + 2 :].split()[19].decode()
    except (OSError, IndexError):
        started = None
    return {"parent_pid": ppid, "parent_started": started}


def same_run(result: dict[str, Any]) -> bool:
    """Return whether ``result`` was written by a benchmark started by the same parent."""
    mine = run_identity()
    theirs = result.get("run") or {}
    return mine["parent_started"] is not None and theirs == mine


# --------------------------------------------------------------------------------------------
# news-monitor
# --------------------------------------------------------------------------------------------


def news_monitor_command() -> list[str]:
    """Return how to start news-monitor from this virtualenv."""
    script = Path(sys.executable).with_name("news-monitor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def make_project(folder: Path, server: FeedServer, rules: int, per_host: int) -> Path:
    """Write a project (config, shipped plus generated rules) for the served feeds; return it."""
    rules_dir = folder / "rules"
    shutil.copytree(common.ROOT / "rules", rules_dir, ignore=shutil.ignore_patterns("*.md"))
    for i, doc in enumerate(corpus.make_rules(rules, RULE_SEED)):
        (rules_dir / f"gen-{i:05d}.yaml").write_text(doc, encoding="utf-8")
    lines = [
        "# Written by bench/bench_cycle.py",
        "database: data/news-monitor.db",
        "rules: rules",
        "default_channels: [console]",
        "fetch:",
        f"  per_host: {per_host}",
        "sources:",
    ]
    for n, url in enumerate(server.urls()):
        lines += [
            f"  - id: feed-{n:05d}",
            "    kind: feed",
            f"    url: {url}",
            "    every: 10m",
        ]
    config = folder / "monitor.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def db_counts(database: Path) -> dict[str, Any]:
    """Return what the runs left in the database: articles, matches, events, alerts, errors."""
    out: dict[str, Any] = {}
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        for table in ("articles", "matches", "events", "alerts"):
            out[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        out["sources_failing"] = db.execute(
            "SELECT count(*) FROM sources WHERE last_error != '' AND failures > 0"
        ).fetchone()[0]
        out["last_status"] = {
            str(status): n
            for status, n in db.execute(
                "SELECT last_status, count(*) FROM sources GROUP BY last_status"
            )
        }
    return out


def run_news_monitor(
    server: FeedServer,
    work: Path,
    *,
    rules: int = RULES,
    per_host: int = PER_HOST,
    timeout: float = RUN_TIMEOUT,
) -> dict[str, Any]:
    """Run ``news-monitor run --once`` twice against ``server``; return both measured runs."""
    config = make_project(work, server, rules, per_host)
    command = [*news_monitor_command(), "--config", str(config), "run", "--once"]
    env = {k: v for k, v in os.environ.items() if k != "NEWS_MONITOR_CONFIG"}
    items = server.corpus.total_items
    runs: dict[str, Any] = {}
    server.stats(reset=True)
    for name in ("first", "unchanged"):
        log = work / f"news-monitor-{name}.log"
        measured = measure(command, cwd=work, log=log, env=env, timeout=timeout)
        served = server.stats(reset=True)
        database = work / "data" / "news-monitor.db"
        counts = db_counts(database) if database.exists() else {}
        done = _CYCLE_DONE.findall(log.read_text(encoding="utf-8", errors="replace"))
        runs[name] = {
            **asdict(measured),
            "items": items,
            "items_per_s": round(items / measured.wall_s, 1),
            "us_per_item": round(measured.wall_s / items * 1e6, 2),
            "cpu_us_per_item": round(measured.cpu_s / items * 1e6, 2),
            "tree_cpu_s": measured.tree_cpu_s,
            "tree_cpu_us_per_item": round(measured.tree_cpu_s / items * 1e6, 2),
            "served": served,
            "db": counts,
            "cycle_done": done[-1] if done else "",
        }
        status = "timed out" if measured.timed_out else f"exit {measured.exit_code}"
        print(
            f"  news-monitor {name}: {measured.wall_s:.2f} s, {items / measured.wall_s:,.0f}"
            f" items/s, CPU {measured.cpu_s:.1f} s (all processes {measured.tree_cpu_s:.1f} s),"
            f" tree RSS {measured.tree_rss_mb:,.0f} MB,"
            f" {served['200']} x 200, {served['304']} x 304, {counts.get('articles', 0):,}"
            f" articles, {status}",
            file=sys.stderr,
            flush=True,
        )
    # The config sits in a temporary folder: record its file name, not this machine's path.
    shown = [Path(a).name if os.sep in a else a for a in command[-4:]]
    runs["command"] = " ".join(["news-monitor", *shown])
    runs["rules"] = {"generated": rules, "shipped": "rules/ (copied)"}
    runs["per_host"] = per_host
    return runs


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def rows(runs: dict[str, Any], feeds: int) -> list[common.Row]:
    """Return the two rows of the combined table: the first and the unchanged cycle."""
    out: list[common.Row] = []
    for name, label in (("first", "all new"), ("unchanged", "all unchanged")):
        r = runs[name]
        failed = r["timed_out"] or r["exit_code"] != 0
        served = r["served"]
        notes = (
            f"tree peak {r['tree_rss_mb']:,.0f} MB RSS / {r['tree_pss_mb'] or 0:,.0f} MB PSS,"
            f" CPU {r.get('tree_cpu_s', r['cpu_s']):.1f} s (all processes),"
            f" {served['200']:,} x 200, {served['304']:,} x 304,"
            f" {r['db'].get('articles', 0):,} articles in DB"
        )
        if failed:
            why = "timed out" if r["timed_out"] else f"exit code {r['exit_code']}"
            last = (r["log_tail"].splitlines() or ["no output"])[-1]
            notes = f"FAILED ({why}): {last}; {notes}"
        out.append(
            {
                "case": f"run --once, {feeds:,} feeds x {r['items'] // feeds}, {label}",
                "throughput": r["items_per_s"],
                "unit": "items/s",
                "per_item_us": r["us_per_item"],
                "wall_s": r["wall_s"],
                "notes": notes,
            }
        )
    return out


def targets(runs: dict[str, Any], feeds: int) -> list[common.Target]:
    """Check the promises: memory on the 1,000-feed run, every item stored, 304s when unchanged."""
    first, second = runs["first"], runs["unchanged"]
    peak = max(first["tree_rss_mb"], second["tree_rss_mb"])
    items = first["items"]
    stored = second["db"].get("articles", 0)
    not_modified = second["served"]["304"]
    clean = all(
        r["exit_code"] == 0 and r["db"].get("sources_failing", 1) == 0 for r in (first, second)
    )
    return [
        {
            "name": f"peak memory, {FEEDS:,}-feed run (process tree, summed RSS)",
            "target": f"< {MEMORY_TARGET_MB:,.0f} MB",
            "value": peak if feeds == FEEDS else None,
            "met": peak < MEMORY_TARGET_MB if feeds == FEEDS else None,
        },
        {
            "name": "every item stored once",
            "target": f"{items:,} articles",
            "value": stored,
            "met": stored == items,
        },
        {
            "name": "unchanged run: every feed answers 304",
            "target": f"{feeds:,} x 304",
            "value": not_modified,
            "met": not_modified == feeds and second["served"]["200"] == 0,
        },
        {
            "name": "both runs exit 0, no source fails",
            "target": "yes",
            "value": None,
            "met": clean,
        },
    ]


def report(result: dict[str, Any]) -> str:
    """Return the benchmark's own table and its targets."""
    runs = result["runs"]
    body = []
    for name in ("first", "unchanged"):
        r = runs[name]
        body.append(
            [
                name,
                common.fmt_number(r["wall_s"]),
                common.fmt_number(r["items_per_s"]),
                common.fmt_number(r.get("tree_cpu_s", r["cpu_s"])),
                common.fmt_number(r.get("tree_cpu_us_per_item", r["cpu_us_per_item"])),
                common.fmt_number(r["tree_rss_mb"]),
                common.fmt_number(r["tree_pss_mb"]),
                common.fmt_number(r["max_rss_mb"]),
                str(r["served"]["200"]),
                str(r["served"]["304"]),
                f"{r['db'].get('articles', 0):,}",
                str(r["db"].get("alerts", "-")),
                "timeout" if r["timed_out"] else str(r["exit_code"]),
            ]
        )
    headers = [
        "run",
        "wall s",
        "items/s",
        "tree CPU s",
        "CPU us/item",
        "tree RSS MB",
        "tree PSS MB",
        "max proc MB",
        "200s",
        "304s",
        "articles",
        "alerts",
        "exit",
    ]
    cfg = result["config"]
    lines = [
        f"\n## {result['title']}: {cfg['feeds']:,} feeds x {cfg['items']} items"
        f" ({cfg['corpus_mb']:.1f} MB), {cfg['rules']:,} generated rules + shipped\n",
        common.table(headers, body, right=tuple(range(1, 13))),
        "",
        "RSS at the peak of the first run: "
        + ", ".join(f"{name} {mb:,.0f} MB" for name, mb in runs["first"]["at_peak"]),
        "",
        common.targets_table(result["targets"]),
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    """Yield a temporary folder, removed afterwards unless ``keep``."""
    folder = Path(tempfile.mkdtemp(prefix="news-monitor-bench-"))
    try:
        yield folder
    finally:
        if keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FEEDS} feeds")
    parser.add_argument("--feeds", type=int, help=f"how many feeds (default {FEEDS:,})")
    parser.add_argument("--items", type=int, default=ITEMS, help="items per feed")
    parser.add_argument("--rules", type=int, default=RULES, help="generated rules")
    parser.add_argument(
        "--per-host", type=int, default=PER_HOST, help="fetch.per_host in the config"
    )
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT, help="seconds per run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON output file (default: bench/results/cycle.json, cycle-quick.json with --quick)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out or common.RESULTS_DIR / (
        "cycle-quick.json" if args.quick else "cycle.json"
    )
    feeds: int = args.feeds or (QUICK_FEEDS if args.quick else FEEDS)
    start = time.perf_counter()
    with workspace(args.keep) as work:
        feeds_dir = work / "feeds"
        made = write_corpus(feeds_dir, feeds, args.items)
        print(
            f"cycle: {feeds:,} feeds x {args.items} items, {made.total_bytes / 2**20:.1f} MB,"
            f" generated in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        project = work / "project"
        project.mkdir()
        with FeedServer(made) as server:
            runs = run_news_monitor(
                server, project, rules=args.rules, per_host=args.per_host, timeout=args.timeout
            )
    result: dict[str, Any] = {
        "name": "cycle",
        "title": "End-to-end cycle (news-monitor run --once)",
        "quick": args.quick,
        "run": run_identity(),
        "config": {
            "feeds": feeds,
            "items": args.items,
            "feed_seed": FEED_SEED,
            "rules": args.rules,
            "rule_seed": RULE_SEED,
            "per_host": args.per_host,
            "corpus_mb": round(made.total_bytes / 2**20, 2),
            "channels": "console, to /dev/null",
            "memory": "tree = the news-monitor process and its parse workers, sampled every"
            f" {SAMPLE_INTERVAL:g} s; max proc = wait4 ru_maxrss",
        },
        "runs": runs,
        "targets": targets(runs, feeds),
        "rows": rows(runs, feeds),
    }
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(common.peak_rss_mb(), 1)
    common.write_json(out, result)
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
