"""The command line: the only place errors become messages and exit codes."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from monitor import __version__
from monitor.clock import Clock, SystemClock, iso, parse_duration, parse_iso
from monitor.errors import ConfigError, MonitorError, Problem, display_path
from monitor.secrets import MaskFilter, mask
from monitor.text import displayable

# Everything else is imported by the commands that use it: --help and every command start
# without the store (sqlite_utils), apprise, jinja2, httpx or the web server unless they need
# them.
if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.model import Article
    from monitor.pipeline import Rules
    from monitor.store import Store

log = logging.getLogger("monitor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="news-monitor",
        description="Watch news sources with YAML rules; one alert per real-world event.",
    )
    parser.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help="config file (default: $NEWS_MONITOR_CONFIG, else config/monitor.yaml)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="human text (default) or one JSON object per line",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--once", action="store_true", help="do one full cycle and exit")
    sub.add_parser("check", help="validate the config and every rule file")
    sub.add_parser("status", help="show sources, counts and pending or failed alerts")
    sources = sub.add_parser("sources", help="list sources with their health; add, import, export")
    actions = sources.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list sources with their health (the default)")
    add = actions.add_parser("add", help="append a feed to the config file, keeping its comments")
    add.add_argument("url", help="the feed's http(s) URL")
    add.add_argument("--every", help="poll interval such as 10m (default 10m)")
    add.add_argument("--id", dest="source_id", help="source id (default: derived from the URL)")
    add.add_argument("--publisher", help="publisher name shown in alerts")
    imp = actions.add_parser("import", help="add every feed of an OPML file to the config")
    imp.add_argument("file", type=Path, help="OPML file")
    imp.add_argument("--every", help="poll interval for the imported feeds")
    exp = actions.add_parser("export", help="print the configured feeds as OPML")
    exp.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    alerts = sub.add_parser("alerts", help="list the outbox; retry alerts; test a channel")
    alerts.add_argument(
        "--state",
        action="append",
        choices=["held", "digested", "pending", "sending", "sent", "retry", "dead"],
        help="only alerts in this state (repeatable)",
    )
    alerts.add_argument("--failed", action="store_true", help="only retry and dead alerts")
    alerts.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    alert_actions = alerts.add_subparsers(dest="action", metavar="ACTION")
    alert_actions.add_parser("list", help="list alerts with state, attempts and last error")
    retry = alert_actions.add_parser("retry", help="requeue an alert, or every dead alert")
    retry.add_argument("alert_id", nargs="?", type=int, metavar="ID")
    retry.add_argument("--dead", action="store_true", help="requeue every dead alert")
    test_channel = alert_actions.add_parser(
        "test", help="send a test message to a channel now and say whether it arrived"
    )
    test_channel.add_argument("channel")
    rules = sub.add_parser("rules", help="test rules on stored or labeled articles; explain")
    rule_actions = rules.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = rule_actions.add_parser(
        "test", help="replay rules over stored articles, or score them on labeled texts"
    )
    test.add_argument("rule_ids", nargs="*", metavar="RULE", help="rule ids (default: all)")
    test.add_argument("--since", default="30d", help="how far back to replay (default 30d)")
    test.add_argument("--labels", type=Path, help="JSON lines: id, title, text, rules")
    explain = rule_actions.add_parser("explain", help="show why a rule did or did not match")
    explain.add_argument("rule_id", metavar="RULE")
    explain.add_argument("article", metavar="ARTICLE", help="a stored article id, or a text file")
    prune = sub.add_parser(
        "prune", help="remove unmatched articles older than retention.articles, now"
    )
    prune.add_argument("--dry-run", action="store_true", help="only count what would go")
    events = sub.add_parser("events", help="list events with their rule, times and sources")
    events.add_argument("--limit", type=int, default=50, help="how many events (default 50)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    clock: Clock | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; return its exit code."""
    # Article titles, snippets and server answers are written as they came from the feed or
    # the server: nothing in them may drive the terminal.
    # (Shown is an io.TextIOBase, which typing's nominal TextIO does not cover.)
    stdout = cast(TextIO, Shown(out or sys.stdout))
    stderr = cast(TextIO, Shown(err or sys.stderr))
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level, stderr, args.log_format)
    commands = {
        "run": cmd_run,
        "check": cmd_check,
        "status": cmd_status,
        "events": cmd_events,
        "sources": cmd_sources,
        "rules": cmd_rules,
        "alerts": cmd_alerts,
        "prune": cmd_prune,
    }
    try:
        return commands[args.command](args, clock or SystemClock(), stdout, stderr)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=stderr)
        print(f"{len(exc.problems)} problem(s) found", file=stderr)
        return 1
    except MonitorError as exc:
        print(f"news-monitor: error: {mask(str(exc))}", file=stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class Shown(io.TextIOBase):
    """A text stream that writes through to another one, minus terminal controls."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(displayable(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


class TextFormatter(logging.Formatter):
    """The plain log line, minus terminal controls (newlines of tracebacks stay)."""

    def format(self, record: logging.LogRecord) -> str:
        return displayable(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": displayable(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = displayable(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _setup_logging(level: str, stream: TextIO, log_format: str = "text") -> None:
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # apprise logs raw configuration text at DEBUG; keep it at INFO or above.
    logging.getLogger("apprise").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # httpx logs one INFO line per request: too much for a thousand feeds; urllib3 (under
    # apprise) logs request paths at DEBUG, and chat webhooks carry their token in the path.
    for name in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _load(args: argparse.Namespace) -> Config:
    from monitor.alerts.channels import check_channels
    from monitor.config import load_config, resolve_path

    config = load_config(resolve_path(args.config))
    problems = check_channels(config)
    if problems:
        raise ConfigError(problems)
    return config


def cmd_check(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.alerts.channels import check_channels
    from monitor.alerts.templates import TemplateSet
    from monitor.config import load_config, resolve_path
    from monitor.pipeline import Rules

    problems: list[Problem] = []
    try:
        config = load_config(resolve_path(args.config))
    except ConfigError as exc:
        raise ConfigError(exc.problems) from None
    problems += check_channels(config)
    rules = Rules.load(config)
    problems += rules.loaded.problems
    templates, template_problems = TemplateSet.load(config.templates_dir)
    problems += template_problems or templates.check()
    if problems:
        raise ConfigError(problems)
    print(
        f"ok: {config.display}: {len(config.spec.sources)} source(s), "
        f"{len(rules.specs)} rule(s), channels: {', '.join(config.channel_names)}",
        file=out,
    )
    return 0


def cmd_run(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.pipeline import build_runtime, run_once
    from monitor.store.db import DaemonLock

    config = _load(args)
    lock = DaemonLock(config.database)
    lock.acquire()
    try:
        store, rules = _open_with_rules(config)
        try:
            rt = build_runtime(config, store, clock, console=out, rules=rules)
            for problem in rt.rules.loaded.problems:
                log.error("rule skipped: %s", problem)
            try:
                if args.once:
                    report = run_once(rt)
                    failed = [p for p in report.polls if p.error]
                    log.info(
                        "cycle done: %d source(s) polled, %d failed, %d alert(s) sent,"
                        " %d to retry, %d dead",
                        len(report.polls),
                        len(failed),
                        report.delivery.sent,
                        report.delivery.retried,
                        report.delivery.dead,
                    )
                    return 0
                from monitor.daemon import Daemon

                http = config.spec.http
                if http is False:
                    Daemon(rt, clock).run()
                    return 0
                token = os.environ.get(http.token_env, "") if http.token_env else ""
                if http.token_env and not token:
                    raise MonitorError(
                        f"http.token_env names '{http.token_env}', but it is not set"
                    )
                from monitor.web import CycleProbe, WebServer, check_listen

                check_listen(http.listen, token or None)
                daemon = Daemon(rt, clock)
                daemon.probe = CycleProbe(daemon.alive, max_cycle_age=http.max_cycle_age)
                web = WebServer(
                    config.database,
                    http.listen,
                    token or None,
                    clock=clock,
                    health=daemon.probe,
                    metrics=rt.metrics,
                )
                web.start()
                try:
                    daemon.run()
                finally:
                    web.stop()
                return 0
            finally:
                rt.close()
        finally:
            store.close()
    finally:
        lock.release()


def _open_with_rules(config: Config) -> tuple[Store, Rules]:
    """Open the database while the rules load: its integrity check (a read of the whole file,
    0.16 s for 280 MB here) runs in SQLite without the GIL, beside the rules' parsing."""
    from concurrent.futures import ThreadPoolExecutor

    from monitor.pipeline import Rules
    from monitor.store import open_store

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-store") as pool:
        opening = pool.submit(open_store, config.database)
        try:
            rules = Rules.load(config)
        except BaseException:
            with contextlib.suppress(Exception):
                opening.result().close()
            raise
        return opening.result(), rules


def _when(value: Any, now: datetime) -> str:
    if not value:
        return "-"
    when = parse_iso(str(value))
    seconds = int((now - when).total_seconds())
    ago = abs(seconds)
    unit = (
        f"{ago}s"
        if ago < 120
        else f"{ago // 60}m"
        if ago < 7200
        else f"{ago // 3600}h"
        if ago < 172800
        else f"{ago // 86400}d"
    )
    rel = f"{unit} ago" if seconds >= 0 else f"in {unit}"
    return f"{when:%Y-%m-%d %H:%M:%S} ({rel})"


def _duration(seconds: float) -> str:
    value = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}s"


def _print_sources(config: Config, store: Store, now: datetime, out: TextIO) -> None:
    from monitor.sources.fetch import redact_url
    from monitor.store import sources as source_q

    known = {row["id"]: row for row in source_q.list_sources(store)}
    for spec in config.spec.sources:
        row = known.get(spec.id)
        state = "disabled in config" if not spec.enabled else (row["state"] if row else "new")
        if row and row["state"] == "active" and row["failures"]:
            state = f"failing ({row['failures']} in a row)"
        elif row and row["state"] == "active" and not row["last_poll_at"]:
            state = "never polled"
        elif row and row["state"] == "active":
            state = "ok"
        every = _duration(spec.every.total_seconds())
        if row and row["interval_s"] and row["interval_s"] != spec.every.total_seconds():
            every += f" (now {_duration(row['interval_s'])})"
        where = redact_url(str(row["url"])) if row and spec.kind == "feed" else spec.path or ""
        print(f"  {spec.id} [{spec.kind}, every {every}] {state}: {where}", file=out)
        if not row:
            continue
        print(
            f"    last success: {_when(row['last_success_at'], now)};"
            f" next poll: {_when(row['next_poll_at'], now)};"
            f" items seen: {row['items_seen']}"
            + (f"; last HTTP status: {row['last_status']}" if row["last_status"] else ""),
            file=out,
        )
        if row["last_error"]:
            print(
                f"    last error: {row['last_error']} ({_when(row['last_error_at'], now)})",
                file=out,
            )
        if row["state_reason"]:
            print(f"    {row['state']}: {row['state_reason']}", file=out)
        if row["warning"]:
            print(f"    warning: {row['warning']}", file=out)


def _open_existing(config: Config, out: TextIO) -> Store | None:
    if not config.database.exists():
        print(f"no database yet at {config.database}; start 'news-monitor run'", file=out)
        return None
    from monitor.store import open_store

    return open_store(config.database)


def cmd_prune(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.retention import prune

    config = _load(args)
    keep = config.spec.retention.articles
    if keep is None:
        print("retention.articles is null: every article is kept", file=out)
        return 0
    store = _open_existing(config, out)
    if store is None:
        return 0
    try:
        report = prune(store, keep, clock.now(), dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {report.removed} unmatched articles fetched before {iso(report.before)}"
        " (matched articles, events and alerts are kept)",
        file=out,
    )
    return 0


def cmd_status(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.alerts.channels import Channels
    from monitor.store import alerts as alert_q
    from monitor.store import articles as article_q
    from monitor.store import events as event_q
    from monitor.store import state as state_q

    config = _load(args)
    now = clock.now()
    store = _open_existing(config, out)
    if store is None:
        return 0
    try:
        print(f"database: {config.database}", file=out)
        for key, (value, since) in state_q.all_state(store).items():
            label = {
                "config_problems": "config reload rejected (the last good config runs)",
                "rule_problems": "rule problems (broken files skipped)",
                "retention.last_prune": "retention last ran",
            }.get(key, key)
            print(f"{label}, since {_when(since, now)}:", file=out)
            for line in value.splitlines():
                print(f"  {line}", file=out)
        print("sources:", file=out)
        _print_sources(config, store, now, out)
        print(
            f"articles: {article_q.count_articles(store)};"
            f" matches: {article_q.count_matches(store)};"
            f" events: {event_q.count_events(store)}",
            file=out,
        )
        states = alert_q.count_by_state(store)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none"
        print(f"alerts: {summary}", file=out)
        waiting = alert_q.list_alerts(store, ("pending", "retry", "sending", "dead"), limit=20)
        for row in waiting:
            print(
                f"  alert {row['id']} -> {row['channel']}: {row['state']},"
                f" attempts {row['attempts']}, next {_when(row['next_attempt_at'], now)}"
                + (f", last error: {row['last_error']}" if row["last_error"] else ""),
                file=out,
            )
        channels = Channels(dict(config.spec.channels), base=config.path.resolve().parent)
        print("channels:", file=out)
        health = {str(r["channel"]): r for r in alert_q.channel_health(store)}
        for name in channels.names:
            print(f"  {name}: {', '.join(channels.describe(name))}", file=out)
            sick = health.get(name)
            if sick and (sick["dead"] or sick["retry"]):
                print(
                    f"    unhealthy: {sick['dead']} dead, {sick['retry']} to retry;"
                    f" last error: {sick['last_error']}",
                    file=out,
                )
    finally:
        store.close()
    return 0


def cmd_sources(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.config import load_config, resolve_path
    from monitor.sources.fetch import redact_url
    from monitor.sources.manage import add_source, export_opml, import_opml

    path = resolve_path(args.config)
    if args.action == "add":
        source_id = add_source(
            path, args.url, every=args.every, source_id=args.source_id, publisher=args.publisher
        )
        print(f"added source '{source_id}' to {display_path(path)}", file=out)
        return 0
    if args.action == "import":
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            raise MonitorError(f"cannot read {args.file}: {exc.strerror}") from exc
        report = import_opml(path, data, every=args.every)
        for url, reason in report.skipped:
            print(f"skipped {redact_url(url)}: {reason}", file=out)
        print(
            f"imported {len(report.added)} source(s) into {display_path(path)}"
            + (f", skipped {len(report.skipped)}" if report.skipped else ""),
            file=out,
        )
        return 0
    config = load_config(path)
    if args.action == "export":
        text = export_opml(list(config.spec.sources))
        if args.output:
            args.output.write_text(text, encoding="utf-8")
            print(f"wrote {args.output}", file=out)
        else:
            out.write(text)
        return 0
    store = _open_existing(config, out)
    if store is None:
        return 0
    try:
        _print_sources(config, store, clock.now(), out)
    finally:
        store.close()
    return 0


def cmd_alerts(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.alerts.channels import Channels
    from monitor.store import alerts as alert_q

    config = _load(args)
    now = clock.now()
    if args.action == "test":
        channels = Channels(dict(config.spec.channels), console=out, base=config.path.parent)
        if args.channel not in channels.names:
            raise MonitorError(
                f"unknown channel '{args.channel}' (configured: {', '.join(channels.names)})"
            )
        where = ", ".join(channels.describe(args.channel))
        result = channels.send(
            args.channel,
            "news-monitor test message",
            f"This is a test message from news-monitor, sent at {now:%Y-%m-%d %H:%M:%S} UTC.",
        )
        if result.ok:
            print(f"sent: the test message was accepted by {args.channel} ({where})", file=out)
            return 0
        print(f"FAILED: {args.channel} ({where}) did not accept it: {result.error}", file=out)
        return 1
    store = _open_existing(config, out)
    if store is None:
        return 0
    try:
        if args.action == "retry":
            if args.dead:
                count = alert_q.requeue_dead(store, now)
                print(f"requeued {count} dead alert(s)", file=out)
                return 0
            if args.alert_id is None:
                raise MonitorError("give an alert id, or --dead")
            if not alert_q.requeue(store, args.alert_id, now):
                row = alert_q.get_alert(store, args.alert_id)
                state = row["state"] if row else "not found"
                raise MonitorError(f"alert {args.alert_id} cannot be requeued ({state})")
            print(f"requeued alert {args.alert_id}", file=out)
            return 0
        states = tuple(args.state or ()) + (("retry", "dead") if args.failed else ())
        rows = alert_q.list_alerts(store, states, limit=args.limit)
    finally:
        store.close()
    if not rows:
        print("no alerts", file=out)
        return 0
    for row in rows:
        print(
            f"{row['id']:>5} {row['state']:<9} {row['channel']:<12} attempts {row['attempts']}"
            f"  created {row['created_at']}"
            + (f"  sent {row['sent_at']}" if row["sent_at"] else "")
            + (f"  next {_when(row['next_attempt_at'], now)}" if row["state"] == "retry" else ""),
            file=out,
        )
        print(f"      {row['title']}", file=out)
        if row["last_error"]:
            print(f"      last error: {row['last_error']}", file=out)
    return 0


def _stored_article(row: dict[str, Any]) -> Article:
    from monitor.model import Article

    return Article(
        source_id=str(row["source_id"]),
        guid=str(row["guid"]),
        url=str(row["url"]),
        title=str(row["title"]),
        summary=str(row["summary"]),
        text=str(row["text"]),
        published_at=parse_iso(str(row["published_at"])),
        fetched_at=parse_iso(str(row["fetched_at"])),
        content_hash=str(row["content_hash"]),
        publisher=str(row["publisher"]),
        language=str(row["language"]),
    )


def cmd_rules(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.config import load_config, resolve_path
    from monitor.pipeline import Rules
    from monitor.rules.explain import explain, read_labels, score
    from monitor.rules.match import match_article
    from monitor.store import articles as article_q
    from monitor.store import open_store

    config = load_config(resolve_path(args.config))
    rules = Rules.load(config)
    for problem in rules.loaded.problems:
        print(f"warning: rule skipped: {problem}", file=err)
    ruleset = rules.ruleset
    if args.action == "explain":
        article = _article_for(config, args.article, clock)
        for line in explain(ruleset, args.rule_id, article):
            print(line, file=out)
        if args.article.isdigit():
            db = open_store(config.database)
            try:
                row = article_q.stored_match(db, args.rule_id, int(args.article))
            finally:
                db.close()
            if row is None:
                print("stored: no match was recorded for this article", file=out)
            elif row["event_id"]:
                print(f"stored: the match joined or opened event #{row['event_id']}", file=out)
            else:
                print(f"stored: no event; {row['reason'] or 'no reason recorded'}", file=out)
        return 0
    wanted = args.rule_ids or sorted(rules.specs)
    unknown = [r for r in wanted if r not in rules.specs]
    if unknown:
        raise MonitorError(f"unknown rule(s): {', '.join(unknown)}")
    if args.labels:
        items = read_labels(args.labels)
        print(f"{len(items)} labeled texts from {args.labels}", file=out)
        print(
            f"{'rule':<28} {'precision':>9} {'recall':>7} {'TP':>4} {'FP':>4} {'FN':>4}", file=out
        )
        scores = score(ruleset, items, wanted)
        for s in scores:
            print(
                f"{s.rule_id:<28} {s.precision:>9.2f} {s.recall:>7.2f}"
                f" {len(s.true_positives):>4} {len(s.false_positives):>4}"
                f" {len(s.false_negatives):>4}",
                file=out,
            )
        for s in scores:
            if s.false_positives:
                print(f"{s.rule_id} false positives: {', '.join(s.false_positives)}", file=out)
            if s.false_negatives:
                print(f"{s.rule_id} false negatives: {', '.join(s.false_negatives)}", file=out)
        return 0
    since = clock.now() - parse_duration(args.since)
    store = _open_existing(config, out)
    if store is None:
        return 0
    try:
        rows = article_q.articles_since(store, since)
    finally:
        store.close()
    print(f"replayed {len(rows)} article(s) fetched since {since:%Y-%m-%d %H:%M} UTC", file=out)
    found: dict[str, list[str]] = {r: [] for r in wanted}
    quiet: dict[str, list[str]] = {r: [] for r in wanted}
    for row in rows:
        article = _stored_article(row)
        for match in match_article(ruleset, article):
            if match.rule_id not in found:
                continue
            line = f"  #{row['id']} [{row['source_id']}] {article.title[:90]}"
            if match.modality in rules.specs[match.rule_id].fields.modality:
                found[match.rule_id].append(f"{line}\n      {match.snippet[:200]}")
            else:
                quiet[match.rule_id].append(f"{line} ({match.modality}: '{match.cue}')")
    for rule_id in wanted:
        print(
            f"{rule_id}: {len(found[rule_id])} article(s) would alert"
            + (f", {len(quiet[rule_id])} matched but did not count" if quiet[rule_id] else ""),
            file=out,
        )
        for line in found[rule_id]:
            print(line, file=out)
        for line in quiet[rule_id]:
            print(f"  not counted:{line[1:]}", file=out)
    return 0


def _article_for(config: Config, ref: str, clock: Clock) -> Article:
    """Find an article by stored id, or read one from a text file."""
    from monitor.sources.seeds import parse_seed
    from monitor.store import articles as article_q

    if ref.isdigit():
        store = _open_existing(config, io.StringIO())
        if store is None:
            raise MonitorError("no database yet; run 'news-monitor run' first")
        try:
            row = article_q.get_article(store, int(ref))
        finally:
            store.close()
        if row is None:
            raise MonitorError(f"no article #{ref} in {config.database}")
        return _stored_article(row)
    path = Path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MonitorError(f"cannot read {ref}: {exc.strerror}") from exc
    article, problems = parse_seed(text, path.name, ref, "file", clock.now())
    if article is None:
        raise ConfigError(problems)
    return article


def cmd_events(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    from monitor.config import load_config, resolve_path
    from monitor.store import events as event_q
    from monitor.store import open_store

    config = load_config(resolve_path(args.config))
    if not config.database.exists():
        print("no events yet", file=out)
        return 0
    store = open_store(config.database)
    try:
        rows = event_q.list_events(store, limit=args.limit)
    finally:
        store.close()
    if not rows:
        print("no events yet", file=out)
        return 0
    for row in rows:
        print(
            f"#{row['id']} {row['rule_id']} [{row['severity']}, {row['state']}]"
            f" first seen {row['first_seen_at']}, last seen {row['last_seen_at']},"
            f" {row['article_count']} article(s) from {row['source_count']} source(s)"
            f" ({row['sources'] or '-'})",
            file=out,
        )
        print(f"    {row['title']}", file=out)
    return 0
