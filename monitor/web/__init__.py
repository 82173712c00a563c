"""The read-only web dashboard, JSON API, /healthz and /metrics the daemon serves."""

from monitor.web.health import CycleProbe, HealthProbe, StaticProbe, database_writable
from monitor.web.metrics import Metrics
from monitor.web.server import WebServer, check_listen

__all__ = [
    "CycleProbe",
    "HealthProbe",
    "Metrics",
    "StaticProbe",
    "WebServer",
    "check_listen",
    "database_writable",
]
