"""Group Matches into Events: thresholds, keys, cooldowns, and the open/update/close lifecycle.

A counted Match of rule R with key K (``group_by``) joins R's open Event for K while matches
keep arriving within the rule's ``window``. Without an open Event, the match waits until the
rule's thresholds hold over the window's waiting matches (``min_sources``, ``frequency``,
``spike``), unless a ``cooldown`` after the last Event for K still runs; then an Event opens
and takes every waiting match. An Event closes after a quiet ``window``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import parse_iso
from monitor.rules.schema import RuleFields
from monitor.store import Store
from monitor.store import articles as match_q
from monitor.store import events as q

HEALTH_RULE = "source-health"


@dataclass(frozen=True)
class Notice:
    """An alert owed about an Event: ``open``, ``update`` or ``close``."""

    transition: str
    event_id: int


@dataclass
class Outcome:
    """What one counted Match did: the Event it joined or opened, notices, or why it waits."""

    event_id: int | None = None
    opened: bool = False
    notices: list[Notice] = field(default_factory=list)
    reason: str = ""


def is_expired(last_seen_at: str, window: timedelta, now: datetime) -> bool:
    """An Event expires when no match joined it for a whole window."""
    return now - parse_iso(last_seen_at) > window


def thresholds_hold(
    rule: RuleFields, waiting: list[dict[str, Any]], now: datetime, baseline: int | None
) -> str:
    """Return "" when the waiting matches may open an Event, else why they may not yet."""
    sources = {str(w["source_id"]) for w in waiting}
    if len(sources) < rule.min_sources:
        return f"waiting for {rule.min_sources} sources within {rule.window} (have {len(sources)})"
    if rule.frequency is not None:
        since = now - rule.frequency.within
        recent = [w for w in waiting if parse_iso(str(w["matched_at"])) >= since]
        if len(recent) < rule.frequency.count:
            return (
                f"waiting for {rule.frequency.count} matches within {rule.frequency.within}"
                f" (have {len(recent)})"
            )
    if rule.spike is not None:
        spike = rule.spike
        since = now - spike.within
        recent = [w for w in waiting if parse_iso(str(w["matched_at"])) >= since]
        span = spike.baseline - spike.within
        expected = (baseline or 0) * (spike.within / span) if span > timedelta(0) else 0.0
        needed = max(spike.min_count, spike.factor * expected)
        if len(recent) < needed:
            return (
                f"no spike: {len(recent)} matches within {spike.within},"
                f" need {needed:.1f} ({spike.factor}x the usual {expected:.1f})"
            )
    return ""


def on_match(store: Store, rule: RuleFields, match_id: int, key: str, now: datetime) -> Outcome:
    """Place one counted match: join the open Event, open one, or leave it waiting."""
    outcome = Outcome()
    current = q.open_event_for(store, rule.id, key)
    if current is not None and is_expired(current["last_seen_at"], rule.window, now):
        outcome.notices += close(store, rule, current, now)
        current = None
    if current is not None:
        event_id = int(current["id"])
        match_q.set_match_event(store, match_id, event_id)
        q.touch_event(store, event_id, now, [match_id])
        outcome.event_id = event_id
        if "update" in rule.notify_on and _update_due(store, rule, event_id, now):
            # The alert is rendered from what readers were last told; it marks itself sent.
            outcome.notices.append(Notice("update", event_id))
        return outcome
    previous = q.last_closed(store, rule.id, key)
    if previous is not None and rule.cooldown > timedelta(0) and previous["closed_at"]:
        until = parse_iso(str(previous["closed_at"])) + rule.cooldown
        if now < until:
            outcome.reason = (
                f"cooldown after event #{previous['id']} until {until:%Y-%m-%d %H:%M} UTC"
            )
            match_q.set_match_reason(store, match_id, outcome.reason)
            return outcome
    waiting = match_q.pending_matches(store, rule.id, key, now - rule.window)
    baseline = None
    if rule.spike is not None:
        baseline = match_q.count_counted(
            store, rule.id, now - rule.spike.baseline, now - rule.spike.within
        )
    reason = thresholds_hold(rule, waiting, now, baseline)
    if reason:
        outcome.reason = reason
        match_q.set_match_reason(store, match_id, reason)
        return outcome
    title = match_q.match_title(store, match_id) or rule.name or rule.id
    event_id = q.open_event(store, rule.id, key, title, rule.severity.value, now)
    joined = [int(row["id"]) for row in waiting]
    for match in joined:
        match_q.set_match_event(store, match, event_id)
    q.touch_event(store, event_id, now, joined)
    q.mark_notified(store, event_id, now, update=False)
    outcome.event_id = event_id
    outcome.opened = True
    if "open" in rule.notify_on:
        outcome.notices.append(Notice("open", event_id))
    return outcome


def _update_due(store: Store, rule: RuleFields, event_id: int, now: datetime) -> bool:
    """An update goes out when new sources or stories joined, at most once per update_every."""
    event = q.get_event(store, event_id)
    if event is None:
        return False
    grew = (
        event["source_count"] > event["notified_sources"]
        or event["story_count"] > event["notified_stories"]
    )
    last = event["last_notified_at"]
    return bool(grew) and (not last or now - parse_iso(str(last)) >= rule.update_every)


def close(
    store: Store, rule: RuleFields | None, event: dict[str, Any], now: datetime
) -> list[Notice]:
    """Close an Event; a notice when its rule asks to hear about closes."""
    event_id = int(event["id"])
    q.close_event(store, event_id, now)
    if rule is not None and "close" in rule.notify_on:
        return [Notice("close", event_id)]
    return []


def close_expired(store: Store, rules: dict[str, RuleFields], now: datetime) -> list[Notice]:
    """Close every open Event whose rule's window passed without a new match."""
    notices: list[Notice] = []
    with store.transaction():
        for event in q.open_events(store):
            rule_id = str(event["rule_id"])
            if rule_id == HEALTH_RULE or str(event["key"]).startswith("flatline"):
                continue  # closed by their own checks
            rule = rules.get(rule_id)
            window = rule.window if rule else timedelta(hours=24)
            if is_expired(event["last_seen_at"], window, now):
                notices += close(store, rule, event, now)
    return notices
