"""Run normalize in worker processes, each parse under a deadline and a memory ceiling.

A hostile or broken feed can keep feedparser busy for minutes (author-email ReDoS, deep
nesting) or make it allocate gigabytes (RELIABILITY §2.1-2.5). A thread cannot stop CPU-bound
Python, so each parse runs in a worker process that is killed and replaced when it misses
its deadline, dies, or runs out of memory; the other parses carry on.

Workers are started with the ``forkserver`` method: forking a parent that runs fetch threads
can copy a lock held by another thread and deadlock the child, and ``spawn`` re-imports the
program's main script (the whole daemon) in every worker. The fork server is a fresh,
single-threaded process that has imported only the parser, so each worker starts small and
shares its pages.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from types import TracebackType
from typing import TYPE_CHECKING, Any

from monitor.errors import FetchCancelled, FetchError
from monitor.model import FetchResult, Match

if TYPE_CHECKING:
    from monitor.normalize import NormalizedFeed
    from monitor.rules.compile import RuleSet
    from monitor.rules.schema import RuleSpec
    from monitor.stories import Signature

# Starting a worker imports feedparser; a loaded machine may take seconds, and this wait
# is not charged to the parse deadline.
START_TIMEOUT = 60.0
# How often a wait for a worker, or for its answer, looks at the cancel flag.
CANCEL_CHECK = 0.25


@dataclass(frozen=True)
class RulesUpdate:
    """The rules a worker matches parsed articles against, sent when they change."""

    version: int
    specs: list[RuleSpec]


@dataclass
class Parsed:
    """A parsed feed and, when the worker had rules, each article's matches."""

    feed: NormalizedFeed
    # One list per article of ``feed``, made with the rules of ``rules_version``.
    matches: list[list[Match]] | None = None
    rules_version: int = 0
    # The story signature of each article with a match that counts (None for the others).
    signatures: list[Signature | None] | None = None
    # CPU seconds the worker spent on this feed (parsing, matching, signing).
    seconds: float = 0.0


def parse_inline(result: FetchResult) -> NormalizedFeed:
    """Normalize ``result`` in this process: for tests and small trusted inputs."""
    from monitor.normalize import normalize

    return normalize(result)


class ParsePool:
    """A fixed set of parse workers that several threads may use at once."""

    def __init__(
        self, workers: int = 2, timeout: float = 10.0, memory_bytes: int = 512 * 1024 * 1024
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self._ctx = multiprocessing.get_context("forkserver")
        # Replaces the default preload of __main__: the server imports only the parser, which
        # the daemon's own process never loads (feedparser alone is 14 MB).
        self._ctx.set_forkserver_preload(["monitor.normalize", "monitor.sources.parse"])
        self._cond = threading.Condition()
        self._rules: RulesUpdate | None = None
        self._closed = False
        self._started = 0
        # None is a slot whose worker is started by the next thread that takes it.
        self._idle: list[_Worker | None] = []
        for _ in range(workers):
            self._idle.append(self._start())

    def set_rules(self, version: int, specs: list[RuleSpec]) -> None:
        """Match parsed articles in the workers with these rules from now on.

        Matching runs next to parsing, on the workers' cores, so the daemon's own process
        only stores; each worker compiles the rules once per version.
        """
        self._rules = RulesUpdate(version, list(specs))

    def parse(self, result: FetchResult) -> NormalizedFeed:
        """Normalize ``result`` in a worker; raise FetchError if it fails or takes too long."""
        return self.parse_and_match(result).feed

    def parse_and_match(self, result: FetchResult, cancel: threading.Event | None = None) -> Parsed:
        """Normalize ``result`` in a worker and match its articles against the current rules.

        When ``cancel`` is set (news-monitor is stopping), waiting for a worker or for its
        answer ends within CANCEL_CHECK seconds with FetchCancelled; a busy worker is killed.
        """
        worker = self._acquire(cancel)
        kind: str = "died"
        payload: object = "did not start"
        try:
            if worker is not None and not worker.proc.is_alive():
                # Killed while idle (OOM killer, an operator): not this feed's fault.
                worker.stop(kill=True)
                worker = None
            if worker is None:
                worker = self._start()
            kind, payload = self._exchange(worker, result, cancel)
        except OSError as exc:
            payload = f"could not start: {exc}"
        finally:
            # Only a worker that answered normally is trusted with the next feed.
            self._release(worker, healthy=kind in ("ok", "error"), replace=kind != "cancelled")
        if kind == "ok" and isinstance(payload, Parsed):
            return payload
        if kind == "cancelled":
            raise FetchCancelled("news-monitor is stopping")
        raise FetchError(self._message(kind, str(payload)))

    def close(self) -> None:
        """Stop every idle worker now and every busy one when its parse ends."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            if worker is not None:
                worker.stop()

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _acquire(self, cancel: threading.Event | None = None) -> _Worker | None:
        with self._cond:
            while not self._idle and not self._closed:
                if cancel is not None and cancel.is_set():
                    raise FetchCancelled("news-monitor is stopping")
                self._cond.wait(None if cancel is None else CANCEL_CHECK)
            if self._closed:
                raise RuntimeError("the parse pool is closed")
            return self._idle.pop()

    def _release(self, worker: _Worker | None, *, healthy: bool, replace: bool = True) -> None:
        if worker is not None and not healthy:
            worker.stop(kill=True)
            worker = None
            # If no process can be started now the slot stays empty; the next parse retries
            # (and so it does after a stop, which has no use for a new process).
            if replace:
                with contextlib.suppress(OSError):
                    worker = self._start()
        with self._cond:
            if not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
        if worker is not None:
            worker.stop()

    def _start(self) -> _Worker:
        with self._cond:
            self._started += 1
            name = f"news-monitor-parse-{self._started}"
        return _Worker(self._ctx, self.memory_bytes, name)

    def _exchange(
        self, worker: _Worker, result: FetchResult, cancel: threading.Event | None = None
    ) -> tuple[str, object]:
        """Send one task and wait for its reply: ("ok", feed) or (failure kind, detail);
        ("cancelled", "") when ``cancel`` was set meanwhile (the worker, still busy, is then
        killed, and its slot left empty until a parse needs it)."""
        try:
            if not worker.wait_ready(START_TIMEOUT):
                return "died", "did not start"
            rules = self._rules
            if rules is not None and worker.rules_version != rules.version:
                worker.conn.send(rules)
                worker.rules_version = rules.version
            worker.conn.send(result)
            # The deadline is wall-clock: RLIMIT_CPU would count the worker's whole life.
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return "timeout", ""
                if worker.conn.poll(left if cancel is None else min(left, CANCEL_CHECK)):
                    break
                if cancel is not None and cancel.is_set():
                    return "cancelled", ""
            reply = worker.conn.recv()
        except (EOFError, OSError):
            return "died", worker.exit_status()
        kind, payload = reply
        return str(kind), payload

    def _message(self, kind: str, detail: str) -> str:
        if kind == "error":
            return detail
        if kind == "timeout":
            return f"parse exceeded {self.timeout:g}s; the feed was skipped"
        if kind == "memory":
            return f"parse ran out of memory (limit {self.memory_bytes / 2**20:g} MiB)"
        if kind == "crash":
            return f"parse failed ({detail}); the feed was skipped"
        return f"parse worker died ({detail}); the feed was skipped"


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: ForkServerContext, memory_bytes: int, name: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, memory_bytes), name=name, daemon=True)
        self.proc.start()
        child.close()
        self._ready = False
        self.rules_version = 0

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the worker has started; False if it did not within ``timeout``."""
        if not self._ready:
            if not self.conn.poll(timeout):
                return False
            self.conn.recv()
            self._ready = True
        return True

    def exit_status(self) -> str:
        """Describe how the process ended, for the error saved on the source."""
        self.proc.join(1.0)
        code = self.proc.exitcode
        if code is None:
            return "no reply"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def stop(self, *, kill: bool = False) -> None:
        """End the worker: politely if it is idle, at once if ``kill``."""
        if not kill:
            try:
                self.conn.send(None)
                self.proc.join(1.0)
            except OSError:
                pass
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5.0)
        self.conn.close()


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Answer parse tasks from ``conn`` until told to stop: the worker's main loop."""
    # Ctrl-C in a terminal reaches the whole process group; shutdown is the parent's call.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_memory(memory_bytes)
    conn.send(("ready", ""))
    rules: tuple[int, RuleSet] | None = None
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        except MemoryError:
            # The rest of the message is still in the pipe; the parent replaces this worker.
            conn.send(("memory", ""))
            return
        if task is None:
            return
        if isinstance(task, RulesUpdate):
            rules = _compile(task)
            continue
        reply = _handle(task, rules)
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory", ""))


def _compile(update: RulesUpdate) -> tuple[int, RuleSet] | None:
    """Compile the rules sent by the parent; None (the parent matches) if that fails."""
    try:
        from monitor.rules.compile import compile_rules

        return update.version, compile_rules(update.specs)
    except Exception:  # the parent compiled the same rules; it will match by itself
        return None


def _handle(task: FetchResult, rules: tuple[int, RuleSet] | None) -> tuple[str, Any]:
    """Normalize one task (and match its articles) and return a picklable reply."""
    from monitor.normalize import normalize

    started = time.process_time()
    try:
        feed = normalize(task)
        if rules is None:
            return "ok", Parsed(feed, seconds=time.process_time() - started)
        from monitor.rules.match import match_article
        from monitor.stories import story_signature

        version, ruleset = rules
        matches = [match_article(ruleset, article) for article in feed.articles]
        counts = {rule.id: rule.spec.fields.modality for rule in ruleset.rules}
        signatures = [
            story_signature(article.title, article.text)
            if any(m.modality in counts[m.rule_id] for m in found)
            else None
            for article, found in zip(feed.articles, matches, strict=True)
        ]
        return "ok", Parsed(feed, matches, version, signatures, time.process_time() - started)
    except FetchError as exc:
        return "error", str(exc)
    except MemoryError:
        return "memory", ""
    except Exception as exc:  # a bug in parsing one feed is reported, not fatal
        return "crash", f"{type(exc).__name__}: {exc}"


def _limit_memory(memory_bytes: int) -> None:
    """Cap this process's address space; only the soft limit, which is all a parse can hit."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
