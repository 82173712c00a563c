"""The outbox sender: claim due alerts with a lease, send, release with an outcome."""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor import crashpoints
from monitor.alerts.channels import Channels
from monitor.clock import Clock
from monitor.model import Alert, Outcome
from monitor.store import Store
from monitor.store import alerts as q
from monitor.web.metrics import Metrics

log = logging.getLogger(__name__)

# Said of an attempt whose request was sent but never answered: the receiver may have taken
# it, so the retry can duplicate it; every copy carries the same alert id to drop it by.
AMBIGUOUS = "may have been delivered (no answer before the read timeout)"


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again, and when to give up."""

    max_attempts: int = 8
    backoff_min: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    max_age: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(minutes=2)
    batch: int = 50


def backoff(attempts: int, policy: RetryPolicy, rng: random.Random) -> timedelta:
    """Return the wait after ``attempts`` failures: doubling from the minimum, capped, ±20%."""
    exponent = min(max(attempts - 1, 0), 32)
    base = min(policy.backoff_max.total_seconds(), policy.backoff_min.total_seconds() * 2**exponent)
    jittered = base * rng.uniform(0.8, 1.2)
    return timedelta(seconds=min(jittered, policy.backoff_max.total_seconds()))


def decide(
    alert: Alert, ok: bool, policy: RetryPolicy, now: datetime, rng: random.Random
) -> tuple[Outcome, datetime | None]:
    """Choose the outcome of one attempt: sent, retry at a time, or dead."""
    if ok:
        return Outcome.SENT, None
    if alert.attempts >= policy.max_attempts:
        return Outcome.DEAD, None
    retry_at = now + backoff(alert.attempts, policy, rng)
    if retry_at - alert.created_at > policy.max_age:
        return Outcome.DEAD, None
    return Outcome.RETRY, retry_at


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver_due(
    store: Store,
    channels: Channels,
    clock: Clock,
    policy: RetryPolicy,
    *,
    rng: random.Random | None = None,
    owner: str | None = None,
    max_batches: int = 100,
    metrics: Metrics | None = None,
) -> DeliveryReport:
    """Send every alert that is due now; failures are saved on the alert row."""
    report = DeliveryReport()
    chance = rng or random.Random()
    me = owner or owner_id()
    # After the clock moved back, no alert waits longer than the longest backoff.
    q.clamp_waits(store, clock.now(), policy.backoff_max)
    for _ in range(max_batches):
        now = clock.now()
        claimed = q.claim_due(store, now, now + policy.lease, me, policy.batch)
        if not claimed:
            break
        for alert in claimed:
            started = time.monotonic()
            result = channels.send(
                alert.channel,
                alert.title,
                alert.body,
                alert.body_format,
                alert_id=alert.id,
                thread=f"event-{alert.event_id}" if alert.event_id else None,
            )
            if result.ok:
                crashpoints.reach("after_send_before_mark")
            now = clock.now()
            outcome, retry_at = decide(alert, result.ok, policy, now, chance)
            if metrics is not None:
                labels = {"channel": alert.channel}
                metrics.observe("news_monitor_delivery_seconds", labels, time.monotonic() - started)
                name = {Outcome.SENT: "sent", Outcome.RETRY: "failed", Outcome.DEAD: "dead"}[
                    outcome
                ]
                metrics.inc(f"news_monitor_alerts_{name}_total", labels)
            error = result.error
            if result.ambiguous and not result.ok:
                error = f"{AMBIGUOUS}: {error}"
            if outcome is Outcome.DEAD:
                error = f"gave up after {alert.attempts} attempts: {result.error}"
            if not q.release(store, alert.id, me, outcome, now, next_attempt=retry_at, error=error):
                log.warning("alert %d: lease was taken over by another sender", alert.id)
            if outcome is Outcome.SENT:
                report.sent += 1
                log.info("alert %d sent to %s", alert.id, alert.channel)
            elif outcome is Outcome.RETRY:
                report.retried += 1
                report.errors.append(f"alert {alert.id} -> {alert.channel}: {error}")
                log.warning(
                    "alert %d to %s failed (attempt %d), retry at %s: %s",
                    alert.id,
                    alert.channel,
                    alert.attempts,
                    retry_at,
                    error,
                )
            else:
                report.dead += 1
                report.errors.append(f"alert {alert.id} -> {alert.channel}: {error}")
                log.error("alert %d to %s is dead: %s", alert.id, alert.channel, error)
    return report
