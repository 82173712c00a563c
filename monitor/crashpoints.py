"""Named crash points for the crash-test harness; test-only and off unless the variable is set.

``MONITOR_CRASH_AT=in_tx_before_commit`` makes the process exit at once (``os._exit(137)``,
like a kill -9) the first time it reaches that point. ``MONITOR_CRASH_AT=name:3`` crashes
at the third time instead.
"""

from __future__ import annotations

import os

VARIABLE = "MONITOR_CRASH_AT"
POINTS = (
    "after_fetch",
    "in_tx_before_commit",
    "after_commit",
    "after_send_before_mark",
)

_seen: dict[str, int] = {}


def reach(name: str) -> None:
    """Crash here when the harness asked for this point."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= (int(count) if count.isdigit() else 1):
        os._exit(137)
