"""The read-only web dashboard, JSON API, /healthz and /metrics the daemon serves.

The names below are imported on first use: the daemon's cycle needs only ``Metrics`` (and the
config only ``monitor.web.access``), so the server, pages and API load when the dashboard
starts, not at every start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.store.dashboard import database_writable
    from monitor.web.access import check_listen
    from monitor.web.health import CycleProbe, HealthProbe, StaticProbe
    from monitor.web.metrics import Metrics
    from monitor.web.server import WebServer

_WHERE = {
    "CycleProbe": "monitor.web.health",
    "HealthProbe": "monitor.web.health",
    "StaticProbe": "monitor.web.health",
    "database_writable": "monitor.store.dashboard",
    "Metrics": "monitor.web.metrics",
    "WebServer": "monitor.web.server",
    "check_listen": "monitor.web.access",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CycleProbe",
    "HealthProbe",
    "Metrics",
    "StaticProbe",
    "WebServer",
    "check_listen",
    "database_writable",
]
