"""Small inline SVG charts for the check report: histograms, bars, a timeline.

Each function returns one ``<svg>`` element as text, with its own size and no external
reference (no script, font or stylesheet), so a report that embeds them is self-contained.
Colours follow the report's palette: reference in grey-blue, the current window in orange,
findings in red.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

__all__ = ["TimelinePoint", "histogram_pair", "timeline"]

REFERENCE_COLOUR = "#5b7fa6"
CURRENT_COLOUR = "#e8833a"
FOUND_COLOUR = "#c62828"
OK_COLOUR = "#2e7d32"
GRID_COLOUR = "#d9dde3"
TEXT_COLOUR = "#37474f"


def _text(x: float, y: float, value: str, anchor: str = "start", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{TEXT_COLOUR}">{html.escape(value)}</text>'
    )


def _tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.4g}"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def histogram_pair(
    reference: Sequence[float],
    current: Sequence[float],
    *,
    width: int = 320,
    height: int = 150,
    bins: int = 24,
    title: str = "",
) -> str:
    """Overlaid density histograms of a column in the reference and the current window.

    Both share the bin edges (from the pooled values), so their bars line up; heights are
    densities, so windows of different sizes compare.
    """
    ref = np.asarray([v for v in reference if math.isfinite(v)], dtype=float)
    cur = np.asarray([v for v in current if math.isfinite(v)], dtype=float)
    label = f' aria-label="{html.escape(title)}"' if title else ""
    head = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"{label}>'
    if ref.size == 0 or cur.size == 0:
        return head + _text(8, height / 2, "no finite values to draw") + "</svg>"
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=bins)
    if edges[0] == edges[-1]:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    ref_density, _ = np.histogram(ref, bins=edges, density=True)
    cur_density, _ = np.histogram(cur, bins=edges, density=True)
    top = float(max(ref_density.max(), cur_density.max())) or 1.0
    left, right, upper, lower = 8, 8, 8, 22
    plot_w, plot_h = width - left - right, height - upper - lower
    step = plot_w / (len(edges) - 1)
    parts = [head, f'<rect width="{width}" height="{height}" fill="white"/>']
    for density, colour, inset in (
        (ref_density, REFERENCE_COLOUR, 0.0),
        (cur_density, CURRENT_COLOUR, 0.25),
    ):
        for i, value in enumerate(density):
            bar = plot_h * float(value) / top
            x = left + i * step + inset * step
            parts.append(
                f'<rect x="{x:.1f}" y="{upper + plot_h - bar:.1f}" width="{step * 0.75:.1f}" '
                f'height="{bar:.1f}" fill="{colour}" fill-opacity="0.6"/>'
            )
    base = upper + plot_h
    parts.append(
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="{GRID_COLOUR}"/>'
    )
    parts.append(_text(left, height - 6, _tick(float(edges[0]))))
    parts.append(_text(width - right, height - 6, _tick(float(edges[-1])), anchor="end"))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class TimelinePoint:
    """One check on the timeline.

    Attributes:
        when: when the check finished.
        kind: ``drift`` or ``performance``.
        value: the number drawn: a drift check's p-value, a performance check's main metric.
        found: the check found drift or degradation.
        triggered: it fired a retraining trigger.
        current: it is the check the report is about.
    """

    when: datetime
    kind: str
    value: float
    found: bool
    triggered: bool = False
    current: bool = False


def timeline(
    points: Sequence[TimelinePoint],
    *,
    threshold: float | None,
    log_scale: bool,
    label: str,
    width: int = 680,
    height: int = 190,
) -> str:
    """Checks of one kind on calendar time, with the decision threshold and findings marked.

    Args:
        points: the checks, any order (drawn by time).
        threshold: a horizontal line at this value (the significance level), or None.
        log_scale: draw the values on a log scale (p-values), else linearly.
        label: the y axis' name.
    """
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'aria-label="{html.escape(label)} over time">'
    )
    shown = sorted((p for p in points if math.isfinite(p.value)), key=lambda p: p.when)
    if not shown:
        return head + _text(8, height / 2, "no checks yet") + "</svg>"
    left, right, upper, lower = 58, 12, 12, 30
    plot_w, plot_h = width - left - right, height - upper - lower

    def scaled(value: float) -> float:
        return math.log10(max(value, 1e-300)) if log_scale else value

    values = [scaled(p.value) for p in shown]
    if threshold is not None:
        values.append(scaled(threshold))
    low, high = min(values), max(values)
    if high == low:
        pad = 1.0 if log_scale else (abs(low) * 0.1 or 1.0)
        low, high = low - pad, high + pad
    if log_scale:
        low, high = math.floor(low), max(math.ceil(high), 0.0)
    else:
        ticks = _nice_ticks(low, high)
        low, high = min(low, ticks[0]), max(high, ticks[-1])
    start, end = shown[0].when.timestamp(), shown[-1].when.timestamp()
    span = (end - start) or 1.0

    def x_of(point: TimelinePoint) -> float:
        return left + plot_w * ((point.when.timestamp() - start) / span if end > start else 0.5)

    def y_of(value: float) -> float:
        return upper + plot_h * (1 - (scaled(value) - low) / (high - low))

    parts = [head, f'<rect width="{width}" height="{height}" fill="white"/>']
    ticks = (
        [10.0**e for e in range(int(low), int(high) + 1)] if log_scale else _nice_ticks(low, high)
    )
    if len(ticks) > 7:  # a long log axis: every other decade
        ticks = ticks[:: math.ceil(len(ticks) / 7)]
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}"/>'
        )
        parts.append(_text(left - 4, y + 4, _tick(tick), anchor="end", size=10))
    if threshold is not None:
        y = y_of(threshold)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{FOUND_COLOUR}" stroke-dasharray="5 4"/>'
        )
        parts.append(
            _text(width - right, y - 4, f"threshold {_tick(threshold)}", anchor="end", size=10)
        )
    path = " ".join(f"{x_of(p):.1f},{y_of(p.value):.1f}" for p in shown)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{REFERENCE_COLOUR}"/>')
    for point in shown:
        x, y = x_of(point), y_of(point.value)
        colour = FOUND_COLOUR if point.found else OK_COLOUR
        radius = 5.5 if point.current else 3.5
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}"/>')
        if point.triggered:
            parts.append(
                f'<path d="M{x - 5:.1f},{upper + plot_h + 12:.1f} l5,-8 l5,8 z" '
                f'fill="{FOUND_COLOUR}"><title>retraining triggered</title></path>'
            )
    parts.append(_text(left, height - 4, f"{shown[0].when:%Y-%m-%d %H:%M}", size=10))
    parts.append(
        _text(
            width - right, height - 4, f"{shown[-1].when:%Y-%m-%d %H:%M} UTC", anchor="end", size=10
        )
    )
    parts.append(
        f'<text x="12" y="{upper + plot_h / 2:.1f}" font-size="10" fill="{TEXT_COLOUR}" '
        f'transform="rotate(-90 12 {upper + plot_h / 2:.1f})" text-anchor="middle">'
        f"{html.escape(label)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
