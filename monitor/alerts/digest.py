"""Digests: a channel's held alerts go out as one summary per period, grouped by rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from monitor.clock import parse_iso
from monitor.config import ChannelSpec
from monitor.store import Store
from monitor.store import alerts as q

Renderer = Callable[[str, list[dict[str, Any]]], tuple[str, str, str]]


def plain_digest(channel: str, held: list[dict[str, Any]]) -> tuple[str, str, str]:
    """Render a digest as plain text: (title, body, format)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in held:
        groups.setdefault(str(row["rule_id"] or "other"), []).append(row)
    title = f"Digest: {len(held)} alert{'s' if len(held) != 1 else ''} from {len(groups)} rule" + (
        "s" if len(groups) != 1 else ""
    )
    lines: list[str] = []
    for rule_id, rows in sorted(groups.items(), key=lambda g: g[1][0]["created_at"], reverse=True):
        lines.append(f"== {rule_id} ({len(rows)})")
        for row in rows:
            first = str(row["body"]).splitlines()
            lines.append(f"- {row['created_at']}: {row['title']}")
            lines += [f"    {line}" for line in first[:6]]
        lines.append("")
    return title, "\n".join(lines).rstrip(), "text"


def due(spec: ChannelSpec, last: str | None, oldest: str, now: datetime) -> bool:
    """A digest is due a period after the last one, or a period after the oldest held alert."""
    assert spec.digest is not None
    since = parse_iso(last) if last else parse_iso(oldest)
    return now - since >= spec.digest.every


def build_digests(
    store: Store,
    specs: dict[str, ChannelSpec],
    now: datetime,
    render: Renderer = plain_digest,
) -> list[int]:
    """Turn each due channel's held alerts into one digest alert; return the digest ids."""
    made: list[int] = []
    for channel, spec in specs.items():
        if spec.digest is None:
            continue
        with store.transaction():
            held = q.held(store, channel)
            if not held or not due(
                spec, q.last_digest_at(store, channel), held[-1]["created_at"], now
            ):
                continue
            title, body, body_format = render(channel, held)
            made.append(
                q.add_digest(
                    store, channel, title, body, body_format, [int(r["id"]) for r in held], now
                )
            )
    return made
