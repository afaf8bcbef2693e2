"""Small server-rendered SVG charts (bars and grouped bars); no JavaScript, no library, text escaped."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

# Colour-blind-safe pair/triple (Okabe–Ito) with enough contrast on white.
PALETTE = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00")
_ids = itertools.count(1)


def _whole_ticks(value: float) -> tuple[int, int]:
    """(peak, step) for counts of people or things: whole-number ticks (1, 2, 5, 10, 20…), at most 4 steps."""
    if value <= 0:
        return 1, 1
    step = 1
    while step * 4 < value:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    steps = -(-int(-(-value // 1)) // step)  # ceil(ceil(value) / step)
    return step * steps, step


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
    font_size: int = 11,
    whole: bool = False,
    x_labels: int = 8,
) -> Markup:
    """Vertical (grouped) bars: one group per label, one bar per series; a legend when there are several. `fmt`
    writes the y axis's values (e.g. as money), `tip_fmt` each bar's tooltip value (default: `fmt`). `whole`: the
    values count people or things, so the axis has whole-number ticks only. `font_size` is in viewBox units: the
    text is font_size × (shown width / width) pixels, so a chart read on a phone needs a narrow `width`. At most
    `x_labels` labels under the bars (the last one always)."""
    axis = fmt or (lambda value: _fmt(value) + unit)
    tip = tip_fmt or axis
    uid = f"chart{next(_ids)}"
    highest = max((v for values in series.values() for v in values), default=0)
    peak: float
    ticks: list[float]
    if whole:
        peak, step = _whole_ticks(highest)
        ticks = [float(step * i) for i in range(int(peak // step) + 1)]
    else:
        peak = _nice_max(highest)
        ticks = [peak * i / 4 for i in range(5)]
    left = max(44, 8 + int(font_size * 0.62 * max(len(axis(t)) for t in ticks)))
    right, top = 8, 10
    bottom = font_size * 3 + (font_size + 8 if len(series) > 1 else 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    n, k = max(1, len(labels)), max(1, len(series))
    group_w = plot_w / n
    bar_w = max(1.0, group_w * 0.8 / k)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-t" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="{font_size}">',
        f'<title id="{uid}-t">{escape(title)}</title>',
    ]
    for value in ticks:  # gridlines and y labels
        y = top + plot_h - plot_h * value / peak
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d5db"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#4d5560">{escape(axis(value))}</text>'
        )
    for s, (name, values) in enumerate(series.items()):
        color = colors[s % len(colors)]
        for i, value in enumerate(values):
            h = plot_h * (value / peak) if peak else 0.0
            x = left + i * group_w + group_w * 0.1 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(labels[i])} · {escape(name)}: {escape(tip(value))}</title></rect>'
            )
    every = max(1, -(-n // max(1, x_labels)))  # at most x_labels labels, so they stay readable on a phone
    for i, label in enumerate(labels):
        if (n - 1 - i) % every == 0:  # counted from the last (newest) bar, which is always labelled
            x = left + i * group_w + group_w / 2
            anchor = "middle"
            if x + font_size * 0.3 * len(label) > width - right:  # the newest would run off the right edge
                anchor, x = "end", width - right
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + font_size + 4}" text-anchor="{anchor}" '
                f'fill="#4d5560">{escape(label)}</text>'
            )
    if len(series) > 1:
        x = left
        box = font_size - 1
        for s, name in enumerate(series):
            parts.append(
                f'<rect x="{x}" y="{height - box - 4}" width="{box}" height="{box}" fill="{colors[s % len(colors)]}"/>'
            )
            parts.append(f'<text x="{x + box + 4}" y="{height - 5}" fill="#1b1f23">{escape(name)}</text>')
            x += box + 14 + int(font_size * 0.6 * len(name))
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
    font_size: int = 12,
) -> Markup:
    """Horizontal bars with the value printed: for distributions and counts by status. `font_size` in viewBox
    units, as for `bars`."""
    uid = f"chart{next(_ids)}"
    label_w = label_width
    row = max(row, font_size * 2)
    height = max(row, row * len(items)) + 6
    peak = max((v for _, v in items), default=0) or 1
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-t" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="{font_size}">',
        f'<title id="{uid}-t">{escape(title)}</title>',
    ]
    plot_w = width - label_w - 10 - int(font_size * 0.62 * max((len(_fmt(v)) for _, v in items), default=1))
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
    nearest 10 % below the lowest value (at most 50 %), so the usual 70–100 % stays readable. Its text is 16 units:
    11.5 px when the chart is shrunk to a 390 px phone's card (about 330 px)."""
    uid = f"chart{next(_ids)}"
    left, right, top, bottom = 64, 26, 12, 50
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
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="16">',
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
