"""In-process metrics and the Prometheus text exposition format (version 0.0.4), by hand."""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class MetricSpec:
    """The name, kind, help text and label names of one metric family."""

    name: str
    kind: str  # "counter", "gauge" or "histogram"
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


PROCESS_METRICS = (
    MetricSpec(
        "news_monitor_polls_total",
        "counter",
        "Polls of a source by outcome.",
        ("source", "outcome"),
    ),
    MetricSpec(
        "news_monitor_fetch_errors_total", "counter", "Failed fetches of a source.", ("source",)
    ),
    MetricSpec(
        "news_monitor_cycle_seconds",
        "histogram",
        "Duration of one daemon cycle in seconds.",
        buckets=LATENCY_BUCKETS,
    ),
    MetricSpec(
        "news_monitor_delivery_seconds",
        "histogram",
        "Duration of one alert delivery attempt in seconds.",
        ("channel",),
        LATENCY_BUCKETS,
    ),
    MetricSpec(
        "news_monitor_alerts_sent_total", "counter", "Alerts a channel accepted.", ("channel",)
    ),
    MetricSpec(
        "news_monitor_alerts_failed_total",
        "counter",
        "Delivery attempts that failed and will be retried.",
        ("channel",),
    ),
    MetricSpec(
        "news_monitor_alerts_dead_total",
        "counter",
        "Alerts given up after their last attempt.",
        ("channel",),
    ),
    MetricSpec(
        "news_monitor_pruned_articles_total",
        "counter",
        "Unmatched articles removed by retention.",
    ),
    MetricSpec(
        "news_monitor_items_over_quota_total",
        "counter",
        "New items not stored because their source gave more than max_new_per_day.",
        ("source",),
    ),
)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0


class Metrics:
    """A thread-safe registry of the daemon's counters and histograms."""

    # Only the families in ``specs`` exist; a wrong name or label set raises ValueError, so a
    # typo shows up in tests rather than as a silently missing series.

    def __init__(self, specs: Iterable[MetricSpec] = PROCESS_METRICS) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[str, ...], float]] = {}
        self._histograms: dict[str, dict[tuple[str, ...], _Histogram]] = {}

    def _key(self, name: str, kind: str, labels: Mapping[str, str] | None) -> tuple[str, ...]:
        spec = self._specs.get(name)
        if spec is None:
            raise ValueError(f"unknown metric {name!r}")
        if spec.kind != kind:
            raise ValueError(f"metric {name} is a {spec.kind}, not a {kind}")
        given = dict(labels or {})
        if set(given) != set(spec.labels):
            raise ValueError(
                f"metric {name} takes labels {sorted(spec.labels)}, got {sorted(given)}"
            )
        return tuple(str(given[label]) for label in spec.labels)

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1) -> None:
        """Add ``value`` (not negative) to a counter."""
        if value < 0 or math.isnan(value):
            raise ValueError(f"a counter only goes up: cannot add {value} to {name}")
        key = self._key(name, "counter", labels)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, labels: Mapping[str, str] | None, seconds: float) -> None:
        """Record one observation in a histogram."""
        if math.isnan(seconds):
            raise ValueError(f"cannot observe NaN in {name}")
        key = self._key(name, "histogram", labels)
        buckets = self._specs[name].buckets
        with self._lock:
            series = self._histograms.setdefault(name, {})
            histogram = series.get(key)
            if histogram is None:
                histogram = series[key] = _Histogram(buckets)
            histogram.counts[bisect_left(buckets, seconds)] += 1
            histogram.sum += seconds

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """Return a counter's current value (0 when never incremented)."""
        key = self._key(name, "counter", labels)
        with self._lock:
            return self._counters.get(name, {}).get(key, 0.0)

    def render(self) -> str:
        """Return every family in the text exposition format."""
        out: list[str] = []
        with self._lock:
            for spec in self._specs.values():
                out.extend(header(spec))
                if spec.kind == "histogram":
                    series = self._histograms.get(spec.name, {})
                    if not series and not spec.labels:
                        series = {(): _Histogram(spec.buckets)}
                    for key, histogram in sorted(series.items()):
                        out.extend(_histogram_lines(spec, key, histogram))
                else:
                    for key, number in sorted(self._counters.get(spec.name, {}).items()):
                        out.append(sample(spec.name, zip(spec.labels, key, strict=True), number))
        return "".join(line + "\n" for line in out)


def _histogram_lines(spec: MetricSpec, key: tuple[str, ...], histogram: _Histogram) -> list[str]:
    labels = list(zip(spec.labels, key, strict=True))
    lines: list[str] = []
    running = 0
    for bound, count in zip((*spec.buckets, math.inf), histogram.counts, strict=True):
        running += count
        lines.append(sample(spec.name + "_bucket", [*labels, ("le", number(bound))], running))
    lines.append(sample(spec.name + "_sum", labels, histogram.sum))
    lines.append(sample(spec.name + "_count", labels, running))
    return lines


def header(spec: MetricSpec) -> list[str]:
    """Return the ``# HELP`` and ``# TYPE`` lines of a family."""
    text = spec.help.replace("\\", "\\\\").replace("\n", "\\n")
    return [f"# HELP {spec.name} {text}", f"# TYPE {spec.name} {spec.kind}"]


def escape_label(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    """Format a sample value or bucket bound the way Prometheus reads it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def sample(name: str, labels: Iterable[tuple[str, str]], value: float) -> str:
    """Return one sample line."""
    pairs = ",".join(f'{key}="{escape_label(str(val))}"' for key, val in labels)
    return f"{name}{{{pairs}}} {number(value)}" if pairs else f"{name} {number(value)}"


def family(spec: MetricSpec, rows: Iterable[tuple[Sequence[str], float]]) -> list[str]:
    """Return a gauge or counter family with one sample per (label values, value) row."""
    lines = header(spec)
    for values, val in rows:
        lines.append(sample(spec.name, zip(spec.labels, values, strict=True), val))
    return lines
