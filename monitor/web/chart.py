"""The events timeline: a stacked bar chart per rule per day, as inline SVG."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape
from urllib.parse import urlencode

# Tableau 10: distinct, colour-blind friendly, readable on white.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

WIDTH = 760
PLOT_TOP = 12
PLOT_HEIGHT = 170
LEFT = 40
RIGHT = 12
LEGEND_ROW = 18


def colors(rules: list[str]) -> dict[str, str]:
    """Give each rule a palette colour, in sorted order."""
    return {rule: PALETTE[i % len(PALETTE)] for i, rule in enumerate(sorted(set(rules)))}


def ticks(top: int) -> list[int]:
    """Return round y-axis ticks from 0 to at least ``top``, at most six of them."""
    step = 1
    while top / step > 5:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if top / step <= 5:
                break
    return list(range(0, -(-max(top, 1) // step) * step + 1, step))


def days_back(today: date, days: int) -> list[date]:
    """Return the ``days`` days ending with ``today``, oldest first."""
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def timeline_svg(counts: list[tuple[str, str, int]], today: date, days: int = 30) -> str:
    """Render (day, rule, events) rows as a stacked bar chart with axes and a legend."""
    span = days_back(today, days)
    index = {d.isoformat(): i for i, d in enumerate(span)}
    per_day: list[list[tuple[str, int]]] = [[] for _ in span]
    for day_text, rule, n in counts:
        if day_text in index and n > 0:
            per_day[index[day_text]].append((rule, n))
    palette = colors([rule for bars in per_day for rule, _ in bars])
    top = max((sum(n for _, n in bars) for bars in per_day), default=0)
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / days
    bar_w = max(2.0, slot * 0.72)
    base = PLOT_TOP + PLOT_HEIGHT
    legend_rows = _legend_layout(list(palette), plot_w)
    height = base + 34 + LEGEND_ROW * max(1, len(legend_rows))
    total = sum(n for bars in per_day for _, n in bars)
    label = f"Events per rule per day, last {days} days: {total} events"
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' width="100%" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<rect x="{LEFT}" y="{PLOT_TOP}" width="{plot_w}" height="{PLOT_HEIGHT}"'
        ' fill="#fafafa" stroke="#ddd"/>',
    ]
    axis = ticks(top)
    scale = PLOT_HEIGHT / axis[-1]
    for tick in axis:
        y = base - tick * scale
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{tick}</text>'
        )
    for i, day in enumerate(span):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = float(base)
        for rule, n in sorted(per_day[i]):
            h = n * scale
            y -= h
            tip = f"{rule}: {n} event{'s' if n != 1 else ''} opened on {day.isoformat()}"
            href = "/?" + urlencode({"rule": rule})
            parts.append(
                f'<a href="{escape(href)}"><rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}"'
                f' height="{h:.1f}" fill="{palette[rule]}"><title>{escape(tip)}</title></rect></a>'
            )
        if i % 5 == 0 or i == days - 1:
            cx = LEFT + i * slot + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{base + 16}" text-anchor="middle" class="axis">'
                f"{day:%m-%d}</text>"
            )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{base + 30}" text-anchor="middle" class="axis">'
        "day opened (UTC)</text>"
        f'<text x="12" y="{PLOT_TOP + PLOT_HEIGHT / 2:.1f}" text-anchor="middle" class="axis"'
        f' transform="rotate(-90 12 {PLOT_TOP + PLOT_HEIGHT / 2:.1f})">events</text>'
    )
    if not palette:
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{PLOT_TOP + PLOT_HEIGHT / 2:.1f}"'
            f' text-anchor="middle" class="empty">no events in the last {days} days</text>'
        )
    for row_i, row in enumerate(legend_rows):
        y = base + 36 + row_i * LEGEND_ROW
        for x, rule in row:
            parts.append(
                f'<g class="legend"><rect x="{x}" y="{y}" width="11" height="11"'
                f' fill="{palette[rule]}"/><text x="{x + 15}" y="{y + 10}">'
                f"{escape(_short(rule))}</text></g>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _short(rule: str, limit: int = 32) -> str:
    return rule if len(rule) <= limit else rule[: limit - 1] + "…"


def _legend_layout(rules: list[str], width: float) -> list[list[tuple[int, str]]]:
    rows: list[list[tuple[int, str]]] = []
    x = LEFT
    for rule in rules:
        item = 15 + 7 * len(_short(rule)) + 18
        if not rows or x + item > LEFT + width:
            rows.append([])
            x = LEFT
        rows[-1].append((x, rule))
        x += item
    return rows
