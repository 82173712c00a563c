"""One cycle: poll sources, ingest new articles, match, group into Events, enqueue alerts."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from monitor import events
from monitor.alerts.channels import Channels
from monitor.alerts.deliver import DeliveryReport, RetryPolicy, deliver_due
from monitor.alerts.render import render_open
from monitor.clock import Clock, parse_iso
from monitor.config import Config, SourceSpec
from monitor.errors import FetchError
from monitor.model import Article
from monitor.rules.compile import RuleSet, compile_rules
from monitor.rules.load import LoadedRules, load_rules
from monitor.rules.match import match_article
from monitor.rules.schema import RuleSpec
from monitor.sources.feed import FeedPoller
from monitor.sources.seeds import read_seeds
from monitor.store import Store
from monitor.store import alerts as alert_q
from monitor.store import articles as article_q
from monitor.store import events as event_q
from monitor.store import sources as source_q

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)


@dataclass
class Rules:
    """The rules in force: the compiled set and each spec by id."""

    ruleset: RuleSet
    specs: dict[str, RuleSpec]
    loaded: LoadedRules

    @classmethod
    def load(cls, config: Config) -> Rules:
        loaded = load_rules(config.rules_dir, config.channel_names, config.path.resolve().parent)
        return cls(compile_rules(loaded.specs), {s.id: s for s in loaded.specs}, loaded)


@dataclass
class IngestReport:
    new: int = 0
    updated: int = 0
    matches: int = 0
    events_opened: int = 0
    alerts: int = 0


@dataclass
class PollReport:
    source_id: str
    ingest: IngestReport = field(default_factory=IngestReport)
    not_modified: bool = False
    error: str = ""
    warning: str = ""


@dataclass
class Runtime:
    """Everything one cycle needs, built once by the daemon or ``run --once``."""

    config: Config
    store: Store
    rules: Rules
    channels: Channels
    clock: Clock
    poller: FeedPoller
    rng: random.Random = field(default_factory=random.Random)

    @property
    def policy(self) -> RetryPolicy:
        d = self.config.spec.delivery
        return RetryPolicy(
            max_attempts=d.max_attempts,
            backoff_min=d.backoff_min,
            backoff_max=d.backoff_max,
            max_age=d.max_age,
            lease=d.lease,
            batch=d.batch,
        )

    def close(self) -> None:
        self.poller.close()


def build_runtime(
    config: Config, store: Store, clock: Clock, console: TextIO | None = None
) -> Runtime:
    rules = Rules.load(config)
    channels = Channels(dict(config.spec.channels), console=console)
    poller = FeedPoller(config.spec.fetch)
    source_q.sync_sources(
        store,
        [
            (s.id, s.kind, s.url or str(config.source_paths.get(s.id, "")))
            for s in config.spec.sources
        ],
    )
    return Runtime(config, store, rules, channels, clock, poller)


def ingest(rt: Runtime, articles: list[Article], now: datetime) -> IngestReport:
    """Store new or changed articles, match them, and open or join Events; call in a transaction."""
    report = IngestReport()
    for article in articles:
        article_id, saved = article_q.save_article(rt.store, article, now)
        if saved is article_q.Saved.NEW:
            report.new += 1
        elif saved is article_q.Saved.UPDATED:
            report.updated += 1
        else:
            continue
        for match in match_article(rt.rules.ruleset, article):
            match_id = article_q.insert_match(rt.store, match, article_id, now)
            if match_id is None:
                continue
            report.matches += 1
            spec = rt.rules.specs[match.rule_id].fields
            assignment = events.assign(
                rt.store,
                rule_id=spec.id,
                key="",
                title=article.title,
                severity=spec.severity.value,
                window=spec.window,
                now=now,
            )
            article_q.set_match_event(rt.store, match_id, assignment.event_id)
            event_q.touch_event(rt.store, assignment.event_id, now)
            if not assignment.opened:
                continue
            report.events_opened += 1
            rendered = render_open(
                rule_id=spec.id,
                rule_name=spec.name,
                severity=spec.severity.value,
                event_id=assignment.event_id,
                article=article,
                match=match,
            )
            for channel in spec.channels or rt.config.spec.default_channels:
                if alert_q.enqueue(
                    rt.store,
                    assignment.event_id,
                    channel,
                    "open",
                    rendered.title,
                    rendered.body,
                    now,
                ):
                    report.alerts += 1
    return report


def failure_delay(every: timedelta, failures: int, rng: random.Random) -> timedelta:
    """Back off a failing source exponentially with jitter, up to a cap, probing forever."""
    base = every.total_seconds() * 2 ** min(failures, 20)
    capped = min(base, MAX_BACKOFF.total_seconds())
    return timedelta(seconds=capped * rng.uniform(0.9, 1.1))


def is_due(rt: Runtime, spec: SourceSpec, now: datetime) -> bool:
    row = source_q.get_source(rt.store, spec.id)
    if row is None or not row["next_poll_at"]:
        return True
    return parse_iso(row["next_poll_at"]) <= now


def poll_source(rt: Runtime, spec: SourceSpec) -> PollReport:
    """Poll one source and ingest what it yields; a failure is saved on the source row."""
    report = PollReport(spec.id)
    now = rt.clock.now()
    try:
        if spec.kind == "seeds":
            folder = rt.config.source_paths[spec.id]
            seeds = read_seeds(folder, spec.id, now, spec.path or spec.id, spec.publisher)
            articles = seeds.articles
            report.warning = "; ".join(str(p) for p in seeds.problems)
            etag = modified = None
        else:
            row = source_q.get_source(rt.store, spec.id) or {}
            polled = rt.poller.poll(
                spec, etag=row.get("etag"), last_modified=row.get("last_modified"), now=now
            )
            report.not_modified = polled.not_modified
            articles = polled.articles
            report.warning = polled.warning
            etag, modified = polled.etag, polled.last_modified
    except FetchError as exc:
        report.error = str(exc)
        with rt.store.transaction():
            row = source_q.get_source(rt.store, spec.id) or {}
            delay = failure_delay(spec.every, int(row.get("failures") or 0), rt.rng)
            if exc.retry_after:
                delay = max(delay, timedelta(seconds=min(exc.retry_after, 86400)))
            failures = source_q.record_failure(rt.store, spec.id, now, now + delay, report.error)
        log.warning("source %s: poll failed (%d in a row): %s", spec.id, failures, report.error)
        return report
    with rt.store.transaction():
        report.ingest = ingest(rt, articles, now)
        source_q.record_success(
            rt.store,
            spec.id,
            now,
            now + spec.every,
            new_items=report.ingest.new,
            etag=etag,
            last_modified=modified,
            warning=report.warning,
        )
    if report.warning:
        log.warning("source %s: %s", spec.id, report.warning)
    log.info(
        "source %s: %d new, %d updated, %d matches, %d events opened",
        spec.id,
        report.ingest.new,
        report.ingest.updated,
        report.ingest.matches,
        report.ingest.events_opened,
    )
    return report


def close_expired_events(rt: Runtime) -> list[int]:
    windows = {rid: spec.fields.window for rid, spec in rt.rules.specs.items()}
    return events.close_expired(rt.store, windows, rt.clock.now())


def deliver(rt: Runtime) -> DeliveryReport:
    return deliver_due(rt.store, rt.channels, rt.clock, rt.policy, rng=rt.rng)


@dataclass
class CycleReport:
    polls: list[PollReport]
    delivery: DeliveryReport


def run_once(rt: Runtime, *, only_due: bool = False) -> CycleReport:
    """Poll every enabled source (or only the due ones), then deliver what is due."""
    polls: list[PollReport] = []
    for spec in rt.config.spec.sources:
        if not spec.enabled:
            continue
        if only_due and not is_due(rt, spec, rt.clock.now()):
            continue
        polls.append(poll_source(rt, spec))
    close_expired_events(rt)
    return CycleReport(polls, deliver(rt))
