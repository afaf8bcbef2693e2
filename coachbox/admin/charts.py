"""Small server-rendered SVG charts (bars and grouped bars); no JavaScript, no library, text escaped."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from markupsafe import Markup, escape

# Colour-blind-safe pair/triple (Okabe–Ito) with enough contrast on white.
PALETTE = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00")
_ids = itertools.count(1)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5):
        for power in range(0, 10):
            candidate = step * 10**power
            if candidate >= value:
                return candidate
    return value


def bars(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    width: int = 640,
    height: int = 220,
    unit: str = "",
    colors: Sequence[str] = PALETTE,
) -> Markup:
    """Vertical (grouped) bars: one group per label, one bar per series; a legend when there are several."""
    uid = f"chart{next(_ids)}"
    left, right, top, bottom = 44, 8, 10, 34 + (18 if len(series) > 1 else 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for values in series.values() for v in values), default=0))
    n, k = max(1, len(labels)), max(1, len(series))
    group_w = plot_w / n
    bar_w = max(1.0, group_w * 0.8 / k)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-t" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{uid}-t">{escape(title)}</title>',
    ]
    for i in range(5):  # gridlines and y labels
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d5db"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#4d5560">{_fmt(value)}{escape(unit)}</text>'
        )
    for s, (name, values) in enumerate(series.items()):
        color = colors[s % len(colors)]
        for i, value in enumerate(values):
            h = plot_h * (value / peak) if peak else 0
            x = left + i * group_w + group_w * 0.1 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(labels[i])} · {escape(name)}: {_fmt(value)}{escape(unit)}</title></rect>'
            )
    every = max(1, n // 8)  # at most ~8 x labels so they stay readable at 360 px
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            x = left + i * group_w + group_w / 2
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="#4d5560">{escape(label)}</text>'
            )
    if len(series) > 1:
        x = left
        for s, name in enumerate(series):
            parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{colors[s % len(colors)]}"/>')
            parts.append(f'<text x="{x + 14}" y="{height - 5}" fill="#1b1f23">{escape(name)}</text>')
            x += 24 + 7 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(
    title: str, items: Sequence[tuple[str, float]], *, width: int = 640, row: int = 24, highlight: Sequence[str] = ()
) -> Markup:
    """Horizontal bars with the value printed: for distributions and counts by status."""
    uid = f"chart{next(_ids)}"
    label_w = 110
    height = max(row, row * len(items)) + 6
    peak = max((v for _, v in items), default=0) or 1
    plot_w = width - label_w - 60
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-t" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{uid}-t">{escape(title)}</title>',
    ]
    for i, (label, value) in enumerate(items):
        y = 3 + i * row
        w = plot_w * value / peak
        color = "#a4161a" if label in highlight and value else PALETTE[0]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row * 0.65:.1f}" text-anchor="end" fill="#1b1f23">{escape(label)}</text>'
        )
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + row * 0.65:.1f}" fill="#1b1f23">{_fmt(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _fmt(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.1f}"
