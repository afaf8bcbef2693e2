"""Small server-rendered SVG charts (bars and grouped bars); no JavaScript, no library, text escaped."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

# Colour-blind-safe pair/triple (Okabe–Ito) with enough contrast on white.
PALETTE = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00")
_ids = itertools.count(1)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for power in range(-6, 10):  # from 0.000001 (a day's cost in dollars can be cents) up
        for step in (1, 2, 5):
            candidate = step * 10.0**power if power < 0 else step * 10**power
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
    fmt: Callable[[float], str] | None = None,
    tip_fmt: Callable[[float], str] | None = None,
) -> Markup:
    """Vertical (grouped) bars: one group per label, one bar per series; a legend when there are several. `fmt`
    writes the y axis's values (e.g. as money), `tip_fmt` each bar's tooltip value (default: `fmt`)."""
    axis = fmt or (lambda value: _fmt(value) + unit)
    tip = tip_fmt or axis
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
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#4d5560">{escape(axis(value))}</text>'
        )
    for s, (name, values) in enumerate(series.items()):
        color = colors[s % len(colors)]
        for i, value in enumerate(values):
            h = plot_h * (value / peak) if peak else 0
            x = left + i * group_w + group_w * 0.1 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(labels[i])} · {escape(name)}: {escape(tip(value))}</title></rect>'
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
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    width: int = 640,
    row: int = 24,
    highlight: Sequence[str] = (),
    label_width: int = 110,
) -> Markup:
    """Horizontal bars with the value printed: for distributions and counts by status."""
    uid = f"chart{next(_ids)}"
    label_w = label_width
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


def calibration(
    title: str, points: Sequence[tuple[float, float, int]], *, width: int = 460, height: int = 320
) -> Markup:
    """Predicted against actual, both shares 0–1: one dot per (predicted, actual, count), its area by the count and
    the count printed beside it, over the dashed diagonal where prediction and outcome agree. The axes start at the
    nearest 10 % below the lowest value (at most 50 %), so the usual 70–100 % stays readable."""
    uid = f"chart{next(_ids)}"
    left, right, top, bottom = 56, 22, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    lowest = min([0.5, *(min(p, a) for p, a, _ in points)])
    low = max(0.0, int(lowest * 10) / 10)
    span = 1 - low or 1

    def x(value: float) -> float:
        return left + plot_w * (value - low) / span

    def y(value: float) -> float:
        return top + plot_h - plot_h * (value - low) / span

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-t" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="13">',
        f'<title id="{uid}-t">{escape(title)}</title>',
    ]
    steps = round(span * 10)
    for i in range(steps + 1):
        value = low + i / 10
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#d0d5db"/>'
        )
        parts.append(f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#4d5560">{value:.0%}</text>')
        parts.append(
            f'<text x="{x(value):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#4d5560">{value:.0%}</text>'
        )
    parts.append(
        f'<line x1="{x(low):.1f}" y1="{y(low):.1f}" x2="{x(1):.1f}" y2="{y(1):.1f}" stroke="#4d5560" '
        'stroke-dasharray="4 4"/>'
    )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="#1b1f23">'
        "Predicted recall at review time</text>"
    )
    parts.append(
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" fill="#1b1f23">'
        "Answered right</text>"
    )
    peak = max((n for _, _, n in points), default=1) or 1
    for predicted, actual, count in points:
        radius = 3 + 9 * (count / peak) ** 0.5
        cx, cy = x(predicted), y(actual)
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="{PALETTE[0]}" fill-opacity="0.75">'
            f"<title>predicted {predicted:.0%}, right {actual:.0%}, {count:,} reviews</title></circle>"
        )
        anchor, dx = ("end", -radius - 3) if cx > left + plot_w * 0.85 else ("start", radius + 3)
        parts.append(f'<text x="{cx + dx:.1f}" y="{cy + 4:.1f}" text-anchor="{anchor}" fill="#1b1f23">{count:,}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
