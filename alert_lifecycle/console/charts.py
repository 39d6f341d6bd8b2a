"""Charts drawn on the server as inline SVG: no JavaScript, no chart library, no network.

Each function returns markup whose every text is escaped; colours come from classes in console.css (so the
page's Content-Security-Policy needs no inline styles). Each mark has a ``<title>`` (the browser's tooltip).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from cachewatch.alert_lifecycle.views import duration_text

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
              86400, 2 * 86400, 7 * 86400)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str  # the class console.css colours it with


def _count_step(top: float) -> float:
    raw = top / 4 or 1
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _time_step(top: float) -> float:
    raw = top / 4 or 1
    return next((s for s in TIME_STEPS if s >= raw), _count_step(top))


def _ticks(top: float, seconds: bool) -> list[float]:
    step = (_time_step if seconds else _count_step)(top)
    return [step * i for i in range(math.ceil(top / step) + 1)] if top > 0 else [0.0, 1.0]


def _label(value: float, seconds: bool) -> str:
    if seconds:
        return duration_text(value)
    return f"{value:g}"


def _svg(body: list[str], label: str, height: int = HEIGHT) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
                  f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')


def line_chart(days: Sequence[str], series: Sequence[Series], label: str, seconds: bool = True) -> Markup:
    """One line per series over ``days``; a missing value (None) breaks its line."""
    values = [v for s in series for v in s.values if v is not None]
    if not days or not values:
        return Markup('<p class="empty">No data in this range.</p>')
    ticks = _ticks(max(values), seconds)
    top, inner_w, inner_h = ticks[-1] or 1, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (inner_w * i / (len(days) - 1) if len(days) > 1 else inner_w / 2)

    def y(v: float) -> float:
        return TOP + inner_h * (1 - v / top)

    body = []
    for tick in ticks:
        body.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                    f'<text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                    f'{escape(_label(tick, seconds))}</text>')
    every = max(1, math.ceil(len(days) / 8))
    for i, day in enumerate(days):
        if i % every == 0 or i == len(days) - 1:
            body.append(f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                        f'{escape(day[5:] if len(day) == 10 else day)}</text>')
    for s in series:
        run: list[str] = []
        for i, v in enumerate([*s.values, None]):
            if v is not None:
                run.append(f"{x(i):.1f},{y(v):.1f}")
                body.append(f'<circle class="{escape(s.css)}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3">'
                            f'<title>{escape(s.name)} {escape(days[i])}: {escape(_label(v, seconds))}</title>'
                            f'</circle>')
            elif run:
                body.append(f'<polyline class="{escape(s.css)}" fill="none" points="{" ".join(run)}"/>')
                run = []
    legend_x = LEFT
    for s in series:
        body.append(f'<rect class="{escape(s.css)}" x="{legend_x}" y="{HEIGHT - 14}" width="10" height="10"/>'
                    f'<text class="legend" x="{legend_x + 14}" y="{HEIGHT - 5}">{escape(s.name)}</text>')
        legend_x += 24 + 8 * len(s.name)
    return _svg(body, label)


def bar_chart(bars: Sequence[tuple[str, float]], label: str,
              value_text: Callable[[float], str] = lambda v: f"{v:g}") -> Markup:
    """Horizontal bars, largest first as given; the label on the left, the value at the bar's end."""
    if not bars:
        return Markup('<p class="empty">No data in this range.</p>')
    row, gap, name_w = 22, 6, 260
    height = TOP + len(bars) * (row + gap)
    top = max(v for _, v in bars) or 1
    span = WIDTH - name_w - 80
    body = []
    for i, (name, value) in enumerate(bars):
        y = TOP + i * (row + gap)
        width = max(1.0, span * value / top)
        short = name if len(name) <= 38 else name[:37] + "…"
        body.append(f'<text class="axis" x="{name_w - 8}" y="{y + 15}" text-anchor="end">{escape(short)}</text>'
                    f'<rect class="bar" x="{name_w}" y="{y}" width="{width:.1f}" height="{row}">'
                    f'<title>{escape(name)}: {escape(value_text(value))}</title></rect>'
                    f'<text class="value" x="{name_w + width + 6:.1f}" y="{y + 15}">{escape(value_text(value))}'
                    f'</text>')
    return _svg(body, label, height)


def share_bar(value: float | None, target: float, label: str) -> Markup:
    """A share (0..1) as a bar against its target line, e.g. the false-positive rate against 1 %."""
    if value is None:
        return Markup('<p class="empty">Nothing classified in this range.</p>')
    scale = max(value, target) * 1.25 or 1
    span, height = WIDTH - LEFT - RIGHT, 56
    width = max(1.0, span * value / scale)
    mark = LEFT + span * target / scale
    state = "bar bad" if value > target else "bar good"
    body = [f'<rect class="track" x="{LEFT}" y="8" width="{span}" height="22"/>',
            f'<rect class="{state}" x="{LEFT}" y="8" width="{width:.1f}" height="22">'
            f'<title>{escape(label)}: {value:.2%}</title></rect>',
            f'<line class="target" x1="{mark:.1f}" x2="{mark:.1f}" y1="2" y2="36"/>',
            f'<text class="axis" x="{mark:.1f}" y="50" text-anchor="middle">target {target:.0%}</text>',
            f'<text class="value" x="{LEFT - 6}" y="24" text-anchor="end">{value:.1%}</text>']
    return _svg(body, label, height)
