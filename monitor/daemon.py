"""The daemon: APScheduler in the foreground, one lock per database, clean stop on signals."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.clock import Clock
from monitor.pipeline import Runtime, close_expired_events, deliver, is_due, poll_source

log = logging.getLogger(__name__)


class Daemon:
    """Schedule a poll job per source and a delivery job; all jobs share one worker thread.

    One worker thread keeps every database write in one place, in order; fetching in parallel
    happens inside a poll, not across jobs.
    """

    def __init__(self, runtime: Runtime, clock: Clock) -> None:
        self.rt = runtime
        self.clock = clock
        self.stop_event = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )

    def _guard(self, name: str, job: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            if self.stop_event.is_set():
                return
            try:
                job()
            except Exception:  # a failing job must never stop the scheduler
                log.exception("job %s failed", name)

        return run

    def _poll(self, source_id: str) -> Callable[[], None]:
        def job() -> None:
            for spec in self.rt.config.spec.sources:
                if (
                    spec.id == source_id
                    and spec.enabled
                    and is_due(self.rt, spec, self.clock.now())
                ):
                    poll_source(self.rt, spec)

        return self._guard(f"poll:{source_id}", job)

    def _deliver(self) -> None:
        close_expired_events(self.rt)
        deliver(self.rt)

    def schedule(self) -> None:
        now = self.clock.now()
        for spec in self.rt.config.spec.sources:
            if not spec.enabled:
                continue
            seconds = spec.every.total_seconds()
            self.scheduler.add_job(
                self._poll(spec.id),
                "interval",
                seconds=seconds,
                jitter=min(seconds * 0.1, 30),
                id=f"poll:{spec.id}",
                next_run_time=now,
                replace_existing=True,
            )
        self.scheduler.add_job(
            self._guard("deliver", self._deliver),
            "interval",
            seconds=self.rt.config.spec.delivery.every.total_seconds(),
            id="deliver",
            next_run_time=now + timedelta(seconds=1),
            replace_existing=True,
        )

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        if signum is not None:
            log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def run(self) -> None:
        """Run until SIGINT or SIGTERM; the job in progress finishes before the exit."""
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
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
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("news-monitor stopped")
