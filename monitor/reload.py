"""Live changes: config and rule edits apply without a restart; a broken edit changes nothing."""

from __future__ import annotations

import logging
from pathlib import Path

from monitor.alerts.channels import Channels, check_channels
from monitor.config import load_config
from monitor.errors import ConfigError, Problem
from monitor.pipeline import Rules, Runtime, sync_config_sources
from monitor.rules.load import rule_files
from monitor.sources.feed import FeedPoller
from monitor.store import state as state_q

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]

CONFIG_PROBLEMS = "config_problems"
RULE_PROBLEMS = "rule_problems"


def fingerprint(config_path: Path, rules_dir: Path) -> Fingerprint:
    """Return (name, mtime, size) of the config file and of every rule file."""
    out: list[tuple[str, int, int]] = []
    for path in [config_path, *rule_files(rules_dir)]:
        try:
            info = path.stat()
        except OSError:
            continue
        out.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(out)


def record_rule_problems(rt: Runtime) -> None:
    """Save the current rule problems where ``news-monitor status`` shows them."""
    loaded = rt.rules.loaded
    if loaded.problems:
        lines = [str(p) for p in loaded.problems]
        if loaded.kept:
            lines.append("last good version still in force for: " + ", ".join(loaded.kept))
        state_q.set_state(rt.store, RULE_PROBLEMS, "\n".join(lines), rt.clock.now())
    else:
        state_q.clear_state(rt.store, RULE_PROBLEMS)


class Reloader:
    """Watch the config file and the rule files; reload the runtime when they change."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.config_path = rt.config.path
        self.seen = fingerprint(self.config_path, rt.config.rules_dir)
        self.retired: list[FeedPoller] = []

    def check(self, force: bool = False) -> bool:
        """Reload when a watched file changed or when forced; True when a reload was applied."""
        current = fingerprint(self.config_path, self.rt.config.rules_dir)
        if current == self.seen and not force:
            return False
        self.seen = current
        return self.reload()

    def reload(self) -> bool:
        rt = self.rt
        now = rt.clock.now()
        try:
            config = load_config(self.config_path)
            problems: list[Problem] = check_channels(config)
            if problems:
                raise ConfigError(problems)
        except ConfigError as exc:
            text = "\n".join(str(p) for p in exc.problems)
            log.error("config reload rejected; the last good config stays in force:\n%s", text)
            state_q.set_state(rt.store, CONFIG_PROBLEMS, text, now)
            return False
        state_q.clear_state(rt.store, CONFIG_PROBLEMS)
        if config.database != rt.config.database:
            log.warning("a new database path takes effect only after a restart")
        rules = Rules.load(config, previous=rt.rules)
        for problem in rules.loaded.problems:
            log.error("rule problem: %s", problem)
        for kept in rules.loaded.kept:
            log.error("%s is broken; its last good version stays in force", kept)
        if config.spec.channels != rt.config.spec.channels:
            rt.channels = Channels(
                dict(config.spec.channels),
                console=rt.channels.console,
                base=config.path.resolve().parent,
            )
        if config.spec.fetch != rt.config.spec.fetch:
            # Polls in flight still use the old poller; it is closed at shutdown.
            self.retired.append(rt.poller)
            rt.poller = FeedPoller(config.spec.fetch)
        rt.config = config
        rt.rules = rules
        rt.poller.set_rules(rules.version, rules.loaded.specs)
        sync_config_sources(rt)
        record_rule_problems(rt)
        log.info(
            "reloaded: %d sources, %d rules, channels %s",
            len(config.spec.sources),
            len(rules.specs),
            ", ".join(rt.channels.names),
        )
        return True

    def close(self) -> None:
        for poller in self.retired:
            poller.close()
        self.retired.clear()
