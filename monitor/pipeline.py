"""One cycle: poll sources, ingest new articles, match, group into Events, enqueue alerts."""

from __future__ import annotations

import functools
import ipaddress
import itertools
import logging
import random
import re
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit

from monitor import crashpoints, events, health, retention, schedule
from monitor.alerts.channels import Channels
from monitor.alerts.deliver import DeliveryReport, RetryPolicy, deliver_due
from monitor.alerts.digest import build_digests
from monitor.alerts.render import render_flatline
from monitor.alerts.templates import Format, TemplateSet, build_context
from monitor.clock import Clock, iso, parse_iso
from monitor.config import Config, SourceSpec
from monitor.errors import DeliveryError, FetchCancelled, FetchError
from monitor.model import Article, Match
from monitor.rules.compile import RuleSet, compile_rules
from monitor.rules.load import LoadedRules, load_rules
from monitor.rules.match import match_article
from monitor.rules.schema import RuleFields, RuleSpec
from monitor.secrets import mask, storable_url
from monitor.sources.feed import FeedPoller
from monitor.sources.fetch import redact_url
from monitor.sources.seeds import read_seeds
from monitor.store import Store
from monitor.store import alerts as alert_q
from monitor.store import articles as article_q
from monitor.store import events as event_q
from monitor.store import sources as source_q
from monitor.store import stories as story_q
from monitor.stories import Signature, story_signature
from monitor.web.metrics import Metrics

log = logging.getLogger(__name__)


_RULE_VERSIONS = itertools.count(1)


@dataclass
class Rules:
    """The rules in force: each spec by id and, compiled when first needed, the RuleSet.

    Parse workers match feed articles with their own copy, so a cycle whose feeds are all
    unchanged never compiles the rules in the daemon's process.
    """

    specs: dict[str, RuleSpec]
    loaded: LoadedRules
    # Tells matches made by parse workers with these rules from those made with older ones.
    version: int = field(default_factory=lambda: next(_RULE_VERSIONS))

    @functools.cached_property
    def ruleset(self) -> RuleSet:
        return compile_rules(self.loaded.specs)

    @classmethod
    def load(cls, config: Config, previous: Rules | None = None) -> Rules:
        loaded = load_rules(
            config.rules_dir,
            config.channel_names,
            config.path.resolve().parent,
            previous=previous.loaded if previous else None,
            sources=[s.id for s in config.spec.sources],
        )
        return cls({s.id: s for s in loaded.specs}, loaded)


@dataclass
class IngestReport:
    new: int = 0
    updated: int = 0
    matches: int = 0
    events_opened: int = 0
    alerts: int = 0
    # New articles not stored because the source used up its daily quota.
    over_quota: int = 0


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
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    templates: TemplateSet = field(default_factory=lambda: TemplateSet.defaults())
    metrics: Metrics = field(default_factory=Metrics)
    committer: GroupCommitter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.committer = GroupCommitter(self)

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
    config: Config,
    store: Store,
    clock: Clock,
    console: TextIO | None = None,
    rules: Rules | None = None,
) -> Runtime:
    """Build a Runtime; ``rules``: already loaded from ``config`` (else they are loaded)."""
    rules = rules if rules is not None else Rules.load(config)
    channels = Channels(
        dict(config.spec.channels), console=console, base=config.path.resolve().parent
    )
    poller = FeedPoller(config.spec.fetch)
    templates, problems = TemplateSet.load(config.templates_dir)
    for problem in problems:
        log.error("template problem: %s", problem)
    poller.set_rules(rules.version, rules.loaded.specs)
    rt = Runtime(
        config, store, rules, channels, clock, poller, started_at=clock.now(), templates=templates
    )
    sync_config_sources(rt)
    return rt


def sync_config_sources(rt: Runtime) -> None:
    """Give every configured source a row in the database."""
    config = rt.config
    source_q.sync_sources(
        rt.store,
        [
            (s.id, s.kind, storable_url(s.url or str(config.source_paths.get(s.id, ""))))
            for s in config.spec.sources
        ],
    )


def ingest(
    rt: Runtime,
    articles: list[Article],
    now: datetime,
    matched: list[list[Match]] | None = None,
    signatures: list[Signature | None] | None = None,
    quota: _Quota | None = None,
) -> IngestReport:
    """Store new or changed articles, match them, and open or join Events; call in a transaction.

    ``matched`` holds each article's matches when a parse worker made them with the rules in
    force; otherwise (or after a reload) the articles are matched here. ``quota``: the new
    articles it admits are stored (the first ones, newest first in most feeds) and counted
    against it; the rest are counted in ``over_quota`` and left for a later poll.
    """
    report = IngestReport()
    unindexed: list[tuple[int, str, str, str]] = []
    for n, article in enumerate(articles):
        article_id, saved = article_q.save_article(
            rt.store,
            article,
            now,
            index_later=unindexed,
            insert=quota is None or quota.admits(article),
        )
        if saved is article_q.Saved.NEW:
            report.new += 1
            if quota is not None:
                quota.take(article, now)
        elif saved is article_q.Saved.UPDATED:
            report.updated += 1
        else:
            if saved is article_q.Saved.OVER_QUOTA:
                report.over_quota += 1
            continue
        found = matched[n] if matched is not None else match_article(rt.rules.ruleset, article)
        sig = signatures[n] if signatures is not None else None
        for match in found:
            record_match(rt, article, article_id, match, now, report, sig)
    article_q.index_articles(rt.store, unindexed)
    return report


def record_match(
    rt: Runtime,
    article: Article,
    article_id: int,
    match: Match,
    now: datetime,
    report: IngestReport,
    sig: Signature | None = None,
) -> None:
    """Store one match and let it open, join or wait for an Event.

    ``sig`` is the article's story signature when a parse worker computed it already.
    """
    spec = rt.rules.specs[match.rule_id].fields
    counted = match.modality in spec.modality
    reason = "" if counted else f"modality {match.modality} ('{match.cue}') does not count"
    match_id = article_q.insert_match(
        rt.store, match, article_id, now, counted=counted, reason=reason
    )
    if match_id is None:
        return
    report.matches += 1
    if not counted:
        return
    story_id = story_q.assign_story(
        rt.store, article_id, lambda: sig or story_signature(article.title, article.text), now
    )
    key = group_key(rt, spec.group_by, match, article, story_id)
    article_q.set_match_key(rt.store, match_id, key)
    outcome = events.on_match(rt.store, spec, match_id, key, now)
    flat = event_q.open_event_for(rt.store, spec.id, "flatline")
    if flat is not None:
        notify(rt, events.close(rt.store, spec, flat, now), article, match, now, report)
    if outcome.opened:
        report.events_opened += 1
    notify(rt, outcome.notices, article, match, now, report)


def group_key(
    rt: Runtime, group_by: str | None, match: Match, article: Article, story_id: int
) -> str:
    """Return the Event key of a match: one Event per story, source, publisher or list term."""
    if group_by is None:
        return ""
    if group_by == "story":
        return f"story:{story_id}"
    if group_by == "source":
        return article.source_id
    if group_by == "publisher":
        return article.publisher or article.source_id
    terms = rt.rules.ruleset.list_terms.get(group_by[1:], {})
    for hit in match.hits:
        if hit.term in terms:
            return terms[hit.term]
    return ""


def notify(
    rt: Runtime,
    notices: list[events.Notice],
    article: Article | None,
    match: Match | None,
    now: datetime,
    report: IngestReport | None = None,
) -> None:
    """Render (per channel format) and enqueue the alerts owed for Event transitions."""
    for notice in notices:
        event = event_q.get_event(rt.store, notice.event_id)
        if event is None:
            continue
        rule_id = str(event["rule_id"])
        rule = rt.rules.specs.get(rule_id)
        fields = rule.fields if rule else None
        severity = str(event["severity"])
        kind = notice.transition
        if kind == "update":
            kind = f"update-{int(event['updates']) + 1}"
        for channel in channels_for(rt, fields, severity):
            title, body, body_format = render_for(
                rt, notice, event, fields, channel, article, match, now
            )
            held, not_before = _pacing(rt, channel, now)
            if (
                alert_q.enqueue(
                    rt.store,
                    notice.event_id,
                    channel,
                    kind,
                    title,
                    body,
                    now,
                    body_format=body_format,
                    held=held,
                    not_before=not_before,
                    rule_id=rule_id,
                    severity=severity,
                )
                and report is not None
            ):
                report.alerts += 1
        if notice.transition == "update":
            event_q.mark_notified(rt.store, notice.event_id, now, update=True)


def render_for(
    rt: Runtime,
    notice: events.Notice,
    event: dict[str, Any],
    fields: RuleFields | None,
    channel: str,
    article: Article | None,
    match: Match | None,
    now: datetime,
) -> tuple[str, str, str]:
    """Render one alert for one channel's format: (title, body, apprise body format)."""
    rule_id = str(event["rule_id"])
    name = fields.name if fields and fields.name else rule_id
    severity = str(event["severity"])
    if notice.transition == "open" and event["key"] == "flatline" and fields is not None:
        flat = render_flatline(
            rule_id=rule_id, rule_name=name, severity=severity, quiet=_human(fields.flatline)
        )
        return flat.title, flat.body, "text"
    fmt = Format(rt.channels.format_of(channel))
    context = build_context(
        notice.transition,
        event=event,
        rule_name=name,
        severity=severity,
        description=fields.description if fields else "",
        articles=[(article, match)] if article is not None else [],
        quiet=_human(fields.window) if fields else "",
        channel=channel,
        now=now,
    )
    try:
        message = rt.templates.render(
            notice.transition, fmt, context, rule_id=rule_id, channel=channel
        )
    except DeliveryError as exc:
        # A broken template must not lose the alert: fall back to the built-in text.
        log.error("template for %s on %s failed, sending plain text: %s", rule_id, channel, exc)
        fallback = build_context(notice.transition, event=event, rule_name=name, severity=severity)
        message = TemplateSet.defaults().render(notice.transition, Format.TEXT, fallback)
    body_format = {Format.HTML: "html", Format.MARKDOWN: "markdown"}.get(message.format, "text")
    return message.title, message.body, body_format


def channels_for(rt: Runtime, fields: RuleFields | None, severity: str) -> list[str]:
    """A rule's own channels, else the route for its severity, else the default channels."""
    if fields is not None and fields.channels:
        return list(fields.channels)
    routes = {str(k): v for k, v in rt.config.spec.routes.items()}
    return list(routes.get(severity) or rt.config.spec.default_channels)


def _pacing(rt: Runtime, channel: str, now: datetime) -> tuple[bool, datetime | None]:
    """Hold an alert for the channel's digest, or delay it past the channel's rate limit."""
    spec = rt.config.spec.channels.get(channel)
    if spec is None:
        return False, None
    if spec.digest is not None and spec.rate_limit is None:
        return True, None
    if spec.rate_limit is not None:
        recent = alert_q.sent_recently(rt.store, channel, now - spec.rate_limit.per)
        if recent >= spec.rate_limit.count:
            if spec.digest is not None:
                return True, None  # overflow goes into the next digest, never dropped
            return False, now + spec.rate_limit.per
    return False, None


def _human(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_flatlines(rt: Runtime) -> None:
    """Open a flatline Event for every rule that has not matched for its flatline period."""
    now = rt.clock.now()
    with rt.store.transaction():
        for rule in rt.rules.specs.values():
            period = rule.fields.flatline
            if period is None:
                continue
            last = article_q.last_counted_at(rt.store, rule.id)
            since = max(parse_iso(last), rt.started_at) if last else rt.started_at
            if now - since < period:
                continue
            if event_q.open_event_for(rt.store, rule.id, "flatline") is not None:
                continue
            event_id = event_q.open_event(
                rt.store, rule.id, "flatline", "no matches", rule.fields.severity.value, now
            )
            notify(rt, [events.Notice("open", event_id)], None, None, now)


@dataclass(frozen=True)
class PollJob:
    """What a poll needs from the database, read before the network work starts."""

    spec: SourceSpec
    url: str
    etag: str | None
    last_modified: str | None
    interval: float | None


@dataclass
class Fetched:
    """The result of the network and parse work of one poll, before it is stored."""

    job: PollJob
    articles: list[Article] = field(default_factory=list)
    not_modified: bool = False
    warning: str = ""
    etag: str | None = None
    last_modified: str | None = None
    new_url: str | None = None
    max_age: float | None = None
    ttl: float | None = None
    error: FetchError | None = None
    matches: list[list[Match]] | None = None
    rules_version: int = 0
    signatures: list[Signature | None] | None = None
    parse_seconds: float = 0.0


def is_due(rt: Runtime, spec: SourceSpec, now: datetime) -> bool:
    row = source_q.get_source(rt.store, spec.id)
    if row is None:
        return True
    if row["state"] == "gone":
        return False
    if not row["next_poll_at"]:
        return True
    due_at = parse_iso(row["next_poll_at"])
    # Further away than any schedule sets: the clock went back, so poll now.
    return due_at <= now or due_at - now > schedule.MAX_SERVER_DELAY + timedelta(hours=1)


def prepare(rt: Runtime, spec: SourceSpec) -> PollJob:
    row = source_q.get_source(rt.store, spec.id) or {}
    # The database holds the configured URL with its secrets masked (storable_url), so it is
    # polled from the config; a stored URL of its own is a permanent redirect's target, which
    # is remembered only when it carries no secret.
    stored = row.get("url")
    moved = bool(stored) and stored != row.get("config_url")
    return PollJob(
        spec=spec,
        url=str(stored if moved else spec.url or stored or ""),
        etag=row.get("etag"),
        last_modified=row.get("last_modified"),
        interval=row.get("interval_s"),
    )


def fetch_one(rt: Runtime, job: PollJob, now: datetime) -> Fetched:
    """Do the network and parse work of one poll; touches no database, never raises FetchError."""
    spec = job.spec
    try:
        if spec.kind == "seeds":
            folder = rt.config.source_paths[spec.id]
            seeds = read_seeds(folder, spec.id, now, spec.path or spec.id, spec.publisher)
            return Fetched(job, seeds.articles, warning="; ".join(str(p) for p in seeds.problems))
        polled = rt.poller.poll(
            spec, url=job.url, etag=job.etag, last_modified=job.last_modified, now=now
        )
    except FetchError as exc:
        return Fetched(job, error=exc)
    except FetchCancelled:
        raise  # stopping: nothing is recorded, the source is polled again at the next start
    except Exception as exc:  # a bug met by one source costs its poll, never the cycle
        log.exception("source %s: unexpected error while polling", spec.id)
        return Fetched(
            job, error=FetchError(mask(f"unexpected error: {type(exc).__name__}: {exc}"))
        )
    return Fetched(
        job,
        polled.articles,
        not_modified=polled.not_modified,
        warning=polled.warning,
        etag=polled.etag,
        last_modified=polled.last_modified,
        new_url=polled.new_url,
        max_age=polled.max_age,
        ttl=polled.ttl,
        matches=polled.matches,
        rules_version=polled.rules_version,
        signatures=polled.signatures,
        parse_seconds=polled.parse_seconds,
    )


def health_channels(rt: Runtime) -> list[str]:
    wanted = rt.config.spec.health.channels
    return list(rt.config.spec.default_channels if wanted is None else wanted)


QUOTA_WINDOW = timedelta(days=1)


@dataclass
class _Quota:
    """What is left of a source's daily quota of new articles (``max_new_per_day``) and of
    their text (``max_new_mb_per_day``).

    The window opens with the first new article a source gives and lasts a day; a clock set
    back before its start opens a new one.
    """

    source_id: str
    limit: int | None
    byte_limit: int | None
    since: datetime | None
    used: int
    used_bytes: int

    @classmethod
    def read(cls, rt: Runtime, spec: SourceSpec, now: datetime) -> _Quota | None:
        fetch = rt.config.spec.fetch
        limit = spec.max_new_per_day if spec.max_new_per_day is not None else fetch.max_new_per_day
        mb = (
            spec.max_new_mb_per_day
            if spec.max_new_mb_per_day is not None
            else fetch.max_new_mb_per_day
        )
        if limit is None and mb is None:
            return None
        byte_limit = None if mb is None else int(mb * 1_000_000)
        since, used, used_bytes = source_q.quota(rt.store, spec.id)
        if since is None or not since <= now < since + QUOTA_WINDOW:
            return cls(spec.id, limit, byte_limit, None, 0, 0)
        return cls(spec.id, limit, byte_limit, since, used, used_bytes)

    def admits(self, article: Article) -> bool:
        """Whether ``article``, if new, may still be stored."""
        if self.limit is not None and self.used >= self.limit:
            return False
        return self.byte_limit is None or self.used_bytes + _size(article) <= self.byte_limit

    def take(self, article: Article, now: datetime) -> None:
        """Count a stored new article against the quota."""
        if self.since is None:
            self.since = now
        self.used += 1
        self.used_bytes += _size(article)

    @property
    def resets(self) -> datetime:
        assert self.since is not None
        return self.since + QUOTA_WINDOW

    def describe(self) -> str:
        parts = []
        if self.limit is not None and self.used >= self.limit:
            parts.append(f"{self.limit:,} new items (max_new_per_day)")
        if self.byte_limit is not None and self.used_bytes > 0:
            parts.append(f"{self.used_bytes / 1e6:,.1f} MB of new text (max_new_mb_per_day)")
        return " and ".join(parts) if parts else "its quota"

    def save(self, rt: Runtime) -> None:
        """Store what was used; call in the poll's transaction."""
        if self.since is not None:
            source_q.save_quota(rt.store, self.source_id, self.since, self.used, self.used_bytes)


def _size(article: Article) -> int:
    """The text an article adds to the database, in bytes of UTF-8."""
    return len(article.title.encode()) + len(article.summary.encode()) + len(article.text.encode())


def commit(rt: Runtime, fetched: Fetched, *, grouped: bool = False) -> PollReport:
    """Store one poll's outcome: articles, matches, events and alerts in one transaction.

    A database error (a full disk, an I/O error) rolls the whole poll back; it is then saved
    on the source like a fetch error, so the source backs off and the next poll redoes it. So
    does any other error met while storing this poll: it costs this source, not the cycle.
    ``grouped``: the poll is part of commit_group's transaction, which a database error ends
    for every poll in it, so it is raised for the group to handle.
    """
    source_id = fetched.job.spec.id
    try:
        return _commit(rt, fetched)
    except sqlite3.DatabaseError as exc:
        if grouped:
            raise
        problem = f"database error: {exc}"
        log.error("source %s: poll rolled back: %s", source_id, exc)
    except Exception as exc:  # a bug met by one source's articles costs its poll only
        problem = mask(f"unexpected error: {type(exc).__name__}: {exc}")
        log.exception("source %s: poll rolled back after an unexpected error", source_id)
    try:
        return _commit(rt, Fetched(fetched.job, error=FetchError(problem)))
    except sqlite3.DatabaseError as again:
        log.critical("source %s: cannot even save the error: %s", source_id, again)
        return PollReport(source_id, error=problem)


def _commit(rt: Runtime, fetched: Fetched) -> PollReport:
    spec = fetched.job.spec
    report = PollReport(spec.id, not_modified=fetched.not_modified, warning=fetched.warning)
    now = rt.clock.now()
    if fetched.error is not None:
        exc = fetched.error
        report.error = str(exc)
        status = getattr(exc, "status", None)
        gone = bool(getattr(exc, "gone", False))
        with rt.store.transaction():
            row = source_q.get_source(rt.store, spec.id) or {}
            next_poll = schedule.after_failure(
                now=now,
                every=spec.every,
                failures=int(row.get("failures") or 0) + 1,
                rng=rt.rng,
                cap=rt.config.spec.fetch.max_backoff,
                retry_after=exc.retry_after,
            )
            failures = source_q.record_failure(
                rt.store, spec.id, now, next_poll, report.error, status=status, gone=gone
            )
            health.after_poll(rt.store, rt.config.spec.health, health_channels(rt), spec.id, now)
        log.warning("source %s: poll failed (%d in a row): %s", spec.id, failures, report.error)
        return report
    crashpoints.reach("after_fetch")
    with rt.store.transaction():
        current = fetched.matches is not None and fetched.rules_version == rt.rules.version
        matched = fetched.matches if current else None
        signatures = fetched.signatures if current else None
        quota = _Quota.read(rt, spec, now) if fetched.articles else None
        storing = time.thread_time()
        report.ingest = ingest(rt, fetched.articles, now, matched, signatures, quota)
        skipped = report.ingest.over_quota
        if quota is not None:
            if skipped and quota.since is None:
                quota.since = now  # not even one fitted: the window opens anyway
            quota.save(rt)
        if skipped:
            assert quota is not None
            note = (
                f"{skipped} new item(s) not stored: the source gave {quota.describe()}"
                f" within a day; they are stored from {iso(quota.resets)}"
                " if the feed still carries them"
            )
            report.warning = f"{report.warning}; {note}" if report.warning else note
            rt.metrics.inc("news_monitor_items_over_quota_total", {"source": spec.id}, skipped)
        interval = schedule.next_interval(
            every=spec.every,
            current=fetched.job.interval,
            new_items=report.ingest.new,
            max_every=spec.max_every,
        )
        next_poll = schedule.after_success(
            now=now, interval=interval, rng=rt.rng, max_age=fetched.max_age, ttl=fetched.ttl
        )
        # Storing (the search index, matching when no worker did, Events) costs this
        # thread's CPU, like parsing costs a worker's: a feed costly in either waits longer.
        stored_cpu = time.thread_time() - storing
        cpu = fetched.parse_seconds + stored_cpu
        slow = schedule.costly_poll_wait(cpu)
        if slow is not None and now + slow > next_poll:
            next_poll = now + slow
            note = (
                f"parsing and storing took {cpu:.1f} s of CPU ({fetched.parse_seconds:.1f} s"
                f" parsing); next poll in {_human(slow)}"
            )
            report.warning = f"{report.warning}; {note}" if report.warning else note
        source_q.record_success(
            rt.store,
            spec.id,
            now,
            next_poll,
            new_items=report.ingest.new,
            interval=interval,
            status=304 if fetched.not_modified else (None if spec.kind == "seeds" else 200),
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            warning=report.warning,
            new_url=_movable(fetched.new_url),
            # Items left out must come back: the next poll may not be answered "not modified".
            forget_validators=skipped > 0,
        )
        health.after_poll(
            rt.store,
            rt.config.spec.health,
            health_channels(rt),
            spec.id,
            now,
            new_items=report.ingest.new,
        )
        crashpoints.reach("in_tx_before_commit")
    crashpoints.reach("after_commit")
    if fetched.new_url:
        log.info(
            "source %s moved permanently to %s; update its url in the config%s",
            spec.id,
            redact_url(fetched.new_url),
            ""
            if _movable(fetched.new_url)
            else " (the move is not remembered: the new URL carries credentials, which are"
            " never stored, so each poll follows the redirect)",
        )
    if report.warning:
        log.warning("source %s: %s", spec.id, report.warning)
    log.info(
        "source %s: %s%d new, %d updated, %d matches, %d events opened",
        spec.id,
        "not modified; " if fetched.not_modified else "",
        report.ingest.new,
        report.ingest.updated,
        report.ingest.matches,
        report.ingest.events_opened,
    )
    return report


def _movable(new_url: str | None) -> str | None:
    """A permanent redirect's target, when it may be stored: one that carries no secret."""
    return new_url if new_url and storable_url(new_url) == new_url else None


def poll_source(rt: Runtime, spec: SourceSpec) -> PollReport:
    """Poll one source now and store what it yields; a failure is saved on the source row.

    Polls that finish while others are being stored are stored together (GroupCommitter).
    """
    fetched = fetch_one(rt, prepare(rt, spec), rt.clock.now())
    if rt.poller.cancel.is_set():
        # Stopping: storing a big poll can take seconds, and nothing is lost by not storing
        # it (its validators are not saved either, so the next start fetches it again).
        raise FetchCancelled("news-monitor is stopping")
    return count_poll(rt, rt.committer.commit(fetched))


def count_poll(rt: Runtime, report: PollReport) -> PollReport:
    """Feed the poll counters of /metrics."""
    outcome = "error" if report.error else ("not_modified" if report.not_modified else "ok")
    rt.metrics.inc("news_monitor_polls_total", {"source": report.source_id, "outcome": outcome})
    if report.error:
        rt.metrics.inc("news_monitor_fetch_errors_total", {"source": report.source_id})
    return report


def host_of(spec: SourceSpec) -> str:
    """The server a source is fetched from, for the per-host limit.

    Addresses are compared in one form: "127.1", "0x7f000001", "2130706433" and
    "::ffff:127.0.0.1" all reach 127.0.0.1, and counted apart they would give one server
    several times its share of connections. (Different names for one server cannot be told
    apart without asking DNS.)
    """
    if spec.kind != "feed" or not spec.url:
        return f"local:{spec.id}"
    try:
        host = urlsplit(spec.url).hostname or spec.url
    except ValueError:
        return spec.url
    return _canonical_host(host)


_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")


def _canonical_host(host: str) -> str:
    host = host.rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(host) or not any(c.isdigit() for c in host):
            return host
        try:
            # The forms inet_aton (and so the dialler) accepts: 127.1, 0x7f.1, 017700000001.
            return str(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:
            return host
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return str(mapped or ip)


# At most this many finished polls are stored in one transaction (see commit_group).
GROUP_MAX = 20


def poll_many(rt: Runtime, specs: list[SourceSpec]) -> list[PollReport]:
    """Poll sources concurrently: a global limit, a per-host limit, results stored as they come
    (those that finish together in one transaction, see GroupCommitter)."""
    limits = rt.config.spec.fetch
    hosts: dict[str, threading.Semaphore] = {}
    for spec in specs:
        hosts.setdefault(host_of(spec), threading.Semaphore(limits.per_host))
    jobs = [prepare(rt, spec) for spec in _interleave_hosts(specs)]

    def work(job: PollJob) -> PollReport:
        with hosts[host_of(job.spec)]:
            fetched = fetch_one(rt, job, rt.clock.now())
        return count_poll(rt, rt.committer.commit(fetched))

    if len(jobs) <= 1:
        return [work(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=min(limits.max_concurrency, len(jobs))) as pool:
        reports = list(pool.map(work, jobs))
    order = {spec.id: i for i, spec in enumerate(specs)}
    return sorted(reports, key=lambda r: order[r.source_id])


class _Waiting:
    """One poll handed to the GroupCommitter, and its outcome once stored."""

    def __init__(self, fetched: Fetched) -> None:
        self.fetched = fetched
        # Set when the poll is stored, or when its thread is asked to take the lead.
        self.wake = threading.Event()
        self.lead = False
        self.stored = False
        self.report: PollReport | None = None
        self.error: BaseException | None = None


class GroupCommitter:
    """Store finished polls, those that arrive while others are being stored together.

    The thread that finds no one storing becomes the leader: it stores what is waiting, in
    groups of at most GROUP_MAX (commit_group), and hands each poll's report to the thread
    that polled it. Once its own poll is stored it passes the lead to the oldest waiting
    thread, so no thread stores for others for long. A lone poll is stored alone, at once.
    """

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False

    def commit(self, fetched: Fetched) -> PollReport:
        mine = _Waiting(fetched)
        with self._lock:
            self._queue.append(mine)
            if not self._leading:
                self._leading = mine.lead = True
        while True:
            if mine.lead:
                mine.lead = False
                self._store_until(mine)
            mine.wake.wait()
            mine.wake.clear()
            if mine.stored:
                break
        if mine.error is not None:
            raise mine.error
        assert mine.report is not None
        return mine.report

    def _store_until(self, mine: _Waiting) -> None:
        """Store groups until ``mine`` is stored; then pass the lead on, or end it."""
        while True:
            with self._lock:
                if mine.stored:
                    if self._queue:
                        self._queue[0].lead = True
                        self._queue[0].wake.set()
                    else:
                        self._leading = False
                    return
                batch = self._queue[:GROUP_MAX]
                del self._queue[:GROUP_MAX]
            try:
                reports: list[PollReport | None] = list(
                    commit_group(self._rt, [w.fetched for w in batch])
                )
                error: BaseException | None = None
            except Exception as exc:  # never leave a waiting poller without an answer
                reports, error = [None] * len(batch), exc
            for waiting, report in zip(batch, reports, strict=True):
                waiting.report, waiting.error = report, error
                waiting.stored = True
                waiting.wake.set()


def commit_group(rt: Runtime, group: list[Fetched]) -> list[PollReport]:
    """Store several finished polls in one transaction, each in a savepoint of its own.

    Every write a poll makes dirties whole pages, and random keys (links, content hashes,
    story bands) spread over the whole index: stored one poll per transaction, a first cycle
    rewrote the same pages again and again (on 200 bench feeds 850 MB written for a 57 MB
    database; 200 MB in groups of 20). A poll that meets a bug rolls back to its savepoint
    and is saved as failed, as alone. A database error (a full disk) can undo the whole
    transaction, so then the polls are stored again one by one.
    """
    if len(group) == 1:
        return [commit(rt, group[0])]
    try:
        with rt.store.transaction():
            return [commit(rt, fetched, grouped=True) for fetched in group]
    except sqlite3.DatabaseError as exc:
        log.warning(
            "storing %d polls together failed (%s); storing them one by one", len(group), exc
        )
        return [commit(rt, fetched) for fetched in group]


def _interleave_hosts(specs: list[SourceSpec]) -> list[SourceSpec]:
    """Order sources round-robin by host so one big host cannot hold every worker."""
    by_host: dict[str, list[SourceSpec]] = {}
    for spec in specs:
        by_host.setdefault(host_of(spec), []).append(spec)
    out: list[SourceSpec] = []
    queues = list(by_host.values())
    while queues:
        out += [q.pop(0) for q in queues]
        queues = [q for q in queues if q]
    return out


def close_expired_events(rt: Runtime) -> None:
    """Close quiet Events (with close alerts where rules ask) and check flatlines."""
    now = rt.clock.now()
    notices = events.close_expired(rt.store, {k: v.fields for k, v in rt.rules.specs.items()}, now)
    if notices:
        with rt.store.transaction():
            notify(rt, notices, None, None, now)
    check_flatlines(rt)


def deliver(rt: Runtime) -> DeliveryReport:
    """Build due digests, then send every alert that is due."""
    build_digests(rt.store, dict(rt.config.spec.channels), rt.clock.now())
    return deliver_due(rt.store, rt.channels, rt.clock, rt.policy, rng=rt.rng, metrics=rt.metrics)


@dataclass
class CycleReport:
    polls: list[PollReport]
    delivery: DeliveryReport


def run_once(rt: Runtime, *, only_due: bool = False) -> CycleReport:
    """Poll every enabled source now (or only the due ones), then deliver what is due."""
    now = rt.clock.now()
    source_q.rebase_after_clock_jump(rt.store, now)
    specs = [
        s
        for s in rt.config.spec.sources
        if s.enabled and not _is_gone(rt, s) and (not only_due or is_due(rt, s, now))
    ]
    polls = poll_many(rt, specs)
    close_expired_events(rt)
    report = CycleReport(polls, deliver(rt))
    prune_old_articles(rt)
    return report


def prune_old_articles(rt: Runtime) -> None:
    """Apply retention when it is due (see ``monitor.retention``)."""
    pruned = retention.prune_if_due(rt.store, rt.config.spec.retention.articles, rt.clock.now())
    if pruned is not None and pruned.removed:
        rt.metrics.inc("news_monitor_pruned_articles_total", {}, pruned.removed)


def _is_gone(rt: Runtime, spec: SourceSpec) -> bool:
    row = source_q.get_source(rt.store, spec.id)
    return row is not None and row["state"] == "gone"
