"""The daemon: APScheduler in the foreground, polls on their own schedules, live reload, signals.

APScheduler fires three small jobs: ``tick`` (every second: hand due sources to the poll
workers), ``deliver`` (send due alerts) and ``reload`` (apply edited config and rule files).
Poll state lives in our own ``sources`` table, not in APScheduler's job store, so a source's
schedule, backoff and validators survive restarts and a thousand sources are one job, not a
thousand.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.clock import Clock
from monitor.config import SourceSpec
from monitor.errors import FetchCancelled
from monitor.pipeline import (
    PollReport,
    Runtime,
    close_expired_events,
    deliver,
    host_of,
    poll_source,
    prune_old_articles,
)
from monitor.reload import Reloader, record_rule_problems
from monitor.store import sources as source_q
from monitor.web.health import CycleProbe

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0

RELOAD_SECONDS = 2.0
# How often the daemon asks whether retention is due (it prunes every few hours).
PRUNE_SECONDS = 3600.0


class Daemon:
    """Run the monitor until asked to stop."""

    def __init__(self, runtime: Runtime, clock: Clock, probe: CycleProbe | None = None) -> None:
        self.rt = runtime
        self.clock = clock
        self.probe = probe or CycleProbe(self.alive)
        self.stop_event = threading.Event()
        self.reload_requested = threading.Event()
        self.reloader = Reloader(runtime)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": JobExecutor(max_workers=3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        self.polls = ThreadPoolExecutor(
            max_workers=runtime.config.spec.fetch.max_concurrency, thread_name_prefix="poll"
        )
        self._lock = threading.Lock()
        self.in_flight: set[str] = set()
        self.host_load: Counter[str] = Counter()
        # Polls of sources whose last poll failed or that never had a good one, per host: see
        # _tick().
        self.failing_load: Counter[str] = Counter()
        self._ticking = threading.Lock()
        # Set by a finished poll that found a tick running: that tick goes round once more.
        self._again = False

    def tick(self) -> None:
        """Start a poll for every due source that is not already being polled."""
        if self.stop_event.is_set():
            return
        with self._ticking:
            self._again = False
            self._tick()

    def _kick(self) -> None:
        """Start the next due polls now that a poll finished, not at the next tick.

        A busy host's freed connection would otherwise sit idle for up to a second. When a
        tick is already running, it is asked to go round once more instead.
        """
        self._again = True
        while self._again and not self.stop_event.is_set():
            if not self._ticking.acquire(blocking=False):
                return
            try:
                self._again = False
                self._tick()
            except Exception:  # a failed kick waits for the next tick
                log.exception("starting the next polls failed")
                return
            finally:
                self._ticking.release()

    def _tick(self) -> None:
        source_q.rebase_after_clock_jump(self.rt.store, self.clock.now())
        specs = {spec.id: spec for spec in self.rt.config.spec.sources if spec.enabled}
        fetch = self.rt.config.spec.fetch
        per_host = fetch.per_host
        # Sources whose last poll failed (often: one that hangs until its timeout), or that
        # never had a good poll yet, get at most half of a host's connections and half of all
        # polls, so that a hundred hanging feeds cannot hold every slot while the healthy ones
        # wait minutes for their turn (at start-up too, before anything is known about them).
        failing = source_q.unproven_source_ids(self.rt.store)
        failing_per_host = max(1, per_host // 2)
        failing_in_all = max(1, fetch.max_concurrency // 2)
        # Longest waiting first: a busy host's free connection goes to the source that has
        # waited longest, not always to the one listed first in the config.
        for source_id in source_q.due_source_ids(self.rt.store, self.clock.now()):
            spec = specs.get(source_id)
            if spec is None:
                continue
            host = host_of(spec)
            failed = spec.id in failing
            with self._lock:
                if spec.id in self.in_flight or self.host_load[host] >= per_host:
                    continue
                if failed and (
                    self.failing_load[host] >= failing_per_host
                    or self.failing_load.total() >= failing_in_all
                ):
                    continue
                self.in_flight.add(spec.id)
                self.host_load[host] += 1
                if failed:
                    self.failing_load[host] += 1
            future = self.polls.submit(poll_source, self.rt, spec)
            future.add_done_callback(self._done(spec, host, failed))

    def _done(
        self, spec: SourceSpec, host: str, failed: bool
    ) -> Callable[[Future[PollReport]], None]:
        def finished(future: Future[PollReport]) -> None:
            with self._lock:
                self.in_flight.discard(spec.id)
                self.host_load[host] -= 1
                if failed:
                    self.failing_load[host] -= 1
            if future.cancelled():
                return  # still queued at a stop (shutdown(cancel_futures=True))
            exc = future.exception()
            self._kick()
            if isinstance(exc, FetchCancelled):
                log.info("poll of %s stopped: news-monitor is stopping", spec.id)
            elif exc is not None:
                log.error("poll of %s failed unexpectedly", spec.id, exc_info=exc)

        return finished

    def alive(self) -> bool:
        """The scheduler runs and no stop was asked for (for /healthz)."""
        return bool(self.scheduler.running) and not self.stop_event.is_set()

    def deliver(self) -> None:
        """One maintenance cycle: close quiet Events, build digests, send due alerts."""
        started = time.monotonic()
        close_expired_events(self.rt)
        deliver(self.rt)
        self.rt.metrics.observe("news_monitor_cycle_seconds", None, time.monotonic() - started)
        self.probe.cycle_completed(self.clock.now())

    def prune(self) -> None:
        prune_old_articles(self.rt)

    def reload(self) -> None:
        force = self.reload_requested.is_set()
        self.reload_requested.clear()
        self.reloader.check(force=force)

    def _guarded(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self.stop_event.is_set():
                return
            try:
                job()
            except Exception:  # a failing job must never stop the scheduler
                log.exception("job %s failed", name)

        return run

    def schedule(self) -> None:
        now = self.clock.now()
        jobs: list[tuple[str, Callable[[], object], float, float]] = [
            ("tick", self.tick, TICK_SECONDS, 0),
            ("deliver", self.deliver, self.rt.config.spec.delivery.every.total_seconds(), 1),
            ("reload", self.reload, RELOAD_SECONDS, RELOAD_SECONDS),
            ("prune", self.prune, PRUNE_SECONDS, PRUNE_SECONDS),
        ]
        for name, job, every, delay in jobs:
            self.scheduler.add_job(
                self._guarded(name, job),
                "interval",
                seconds=every,
                id=name,
                next_run_time=now + timedelta(seconds=delay),
                replace_existing=True,
            )

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        if signum is not None:
            log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def hangup(self, signum: int, frame: FrameType | None) -> None:
        log.info("received SIGHUP, reloading config and rules")
        self.reload_requested.set()

    def run(self) -> None:
        """Run until SIGINT or SIGTERM; polls and sends in progress finish before the exit."""
        handlers = {signal.SIGINT: self.stop, signal.SIGTERM: self.stop, signal.SIGHUP: self.hangup}
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            record_rule_problems(self.rt)
            self.schedule()
            self.scheduler.start()
            log.info(
                "news-monitor running: %d sources, %d rules, channels %s",
                len(self.rt.config.spec.sources),
                len(self.rt.rules.specs),
                ", ".join(self.rt.channels.names),
            )
            while not self.stop_event.wait(1.0):
                pass
        finally:
            # Fetches waiting on slow servers give up now rather than at their timeouts.
            for poller in (self.rt.poller, *self.reloader.retired):
                poller.cancel.set()
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)
            self.polls.shutdown(wait=True, cancel_futures=True)
            self.reloader.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("news-monitor stopped")
