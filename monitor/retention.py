"""Retention: articles that no rule matched are removed once they are older than configured.

Matched articles, Events, matches and alerts are the record of what the monitor did and are
kept. A removed article leaves its (source, guid) behind, so that a feed still carrying it
does not bring it back as new.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.clock import iso, parse_iso
from monitor.store import Store
from monitor.store import retention as retention_q
from monitor.store import state as state_q

log = logging.getLogger(__name__)

# Pruning runs at most this often (the daemon checks every hour; ``run --once`` every run).
EVERY = timedelta(hours=6)
# Articles removed per transaction: the daemon's writes wait at most for one batch.
BATCH = 2_000
STATE_KEY = "retention.last_prune"


@dataclass(frozen=True)
class PruneReport:
    before: datetime
    removed: int


def prune(store: Store, keep: timedelta, now: datetime, *, dry_run: bool = False) -> PruneReport:
    """Remove unmatched articles fetched more than ``keep`` ago (only count them: ``dry_run``)."""
    before = now - keep
    if dry_run:
        return PruneReport(before, retention_q.count_prunable(store, before))
    removed = 0
    while True:
        with store.transaction():
            batch = retention_q.prunable(store, before, BATCH)
            if batch:
                retention_q.prune(store, batch, now)
            state_q.set_state(store, STATE_KEY, iso(now), now)
        removed += len(batch)
        if len(batch) < BATCH:
            break
    if removed:
        log.info("retention: removed %d unmatched articles fetched before %s", removed, iso(before))
    return PruneReport(before, removed)


def prune_if_due(store: Store, keep: timedelta | None, now: datetime) -> PruneReport | None:
    """Prune when retention is on and the last prune is ``EVERY`` ago or more."""
    if keep is None:
        return None
    last = state_q.all_state(store).get(STATE_KEY)
    if last is not None:
        try:
            # A clock set back makes the last prune look future: prune rather than wait.
            if timedelta(0) <= now - parse_iso(last[0]) < EVERY:
                return None
        except ValueError:
            pass
    return prune(store, keep, now)
