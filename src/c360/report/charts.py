"""Charts as inline SVG, drawn in Python: the report opens offline, with no script library or CDN.

Every chart scales with its container (``viewBox`` + ``width: 100%``). Each drawn datum (a bar, a
point) carries class ``datum``, ``data-series``, ``data-label``, ``data-value`` and a ``<title>``:
the browser shows it as a tooltip, the page's small script shows it styled, and tests read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 760
HEIGHT = 300
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 48
MAX_X_LABELS = 14
MAX_LABEL = 36  # characters of a horizontal bar's label; the tooltip keeps the whole label
# Colour-blind-safe palette (Okabe-Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")

Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


@dataclass(frozen=True)
class Axes:
    """What the horizontal and vertical axes measure, written beside them."""

    x: str = ""
    y: str = ""


def number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def money(value: float) -> str:
    return f"{value:,.2f}"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact(value: float) -> str:
    """An axis tick: short, since the exact value is in each datum's tooltip (1.5k, 2M)."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.3g}{suffix}"
    return f"{value:,.3g}"


def _tick_format(fmt: Format) -> Format:
    return percent if fmt is percent else compact


def empty(message: str = "No data for this range.") -> Markup:
    return Markup('<p class="empty">{}</p>').format(message)


def nice_ticks(top: float, count: int = 5, whole: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``top`` (1, 2, 2.5 or 5 times a power of ten apart);
    ``whole`` for counts, where a tick at 0.5 events would mean nothing."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _svg(title: str, body: list[str], height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" preserveAspectRatio="xMidYMid meet">'
        f"<desc>{escape(title)}</desc>{''.join(body)}</svg>"
    )


def _legend(series: Sequence[Series]) -> str:
    if len(series) < 2:
        return ""
    items = "".join(
        f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(s.name)}</span>'
        for i, s in enumerate(series)
    )
    return f'<div class="legend">{items}</div>'


def _datum(shape: str, series: str, label: str, value: float, text: str) -> str:
    """One drawn value: ``shape`` is an unclosed SVG element, closed here with its tooltip."""
    tip = escape(text)
    return (
        f'{shape} class="datum" data-series="{escape(series)}" data-label="{escape(label)}" '
        f'data-value="{value:g}" data-tip="{tip}"><title>{tip}</title></{shape.split()[0][1:]}>'
    )


def _y_axis(ticks: list[float], scale: Callable[[float], float], fmt: Format) -> list[str]:
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick y" x="{MARGIN_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_tick_format(fmt)(tick))}</text>"
        )
    base = scale(0)
    parts.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{base:.1f}" y2="{base:.1f}"/>'
    )
    return parts


def _axis_titles(axes: Axes, left: float, bottom: float, height: int) -> list[str]:
    parts = []
    if axes.x:
        middle = (left + WIDTH - MARGIN_RIGHT) / 2
        parts.append(
            f'<text class="axis-title x" x="{middle:.1f}" y="{height - 6}" text-anchor="middle">'
            f"{escape(axes.x)}</text>"
        )
    if axes.y:
        middle = (MARGIN_TOP + bottom) / 2
        parts.append(
            f'<text class="axis-title y" transform="translate(14 {middle:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(axes.y)}</text>'
        )
    return parts


def _x_labels(labels: Sequence[str], centers: list[float], y: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        f'<text class="tick x" x="{x:.1f}" y="{y + 18:.1f}" text-anchor="middle">{escape(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, centers, strict=True))
        if i % every == 0
    ]


def _value_scale(series: Sequence[Series], fmt: Format) -> tuple[list[float], Callable[[float], float]]:
    top = max((float(v) for s in series for v in s.values), default=0.0)
    ticks = nice_ticks(top, whole=fmt is number)
    bottom = HEIGHT - MARGIN_BOTTOM
    span = bottom - MARGIN_TOP

    def scale(value: float) -> float:
        return bottom - span * float(value) / ticks[-1]

    return ticks, scale


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format = number,
    axes: Axes = Axes(),
) -> Markup:
    """Values over time (one point per label); a single label still shows as a point."""
    if not labels:
        return empty()
    ticks, scale = _value_scale(series, fmt)
    # Points sit mid-slot, as bars do: the first and last labels are not clipped at the edges.
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(labels)
    xs = [MARGIN_LEFT + slot * (i + 0.5) for i in range(len(labels))]
    body = _y_axis(ticks, scale, fmt)
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{x:.1f},{scale(v):.1f}" for x, v in zip(xs, one.values, strict=True))
        # Later series dashed: where two series coincide (visitors = sessions) both stay visible.
        dash = ' stroke-dasharray="7 5"' if index else ""
        body.append(
            f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2.5"{dash} '
            f'points="{points}"/>'
        )
        for x, label, value in zip(xs, labels, one.values, strict=True):
            shape = f'<circle cx="{x:.1f}" cy="{scale(value):.1f}" r="4" fill="{colour}"'
            body.append(
                _datum(shape, one.name, label, float(value), f"{label} · {one.name}: {fmt(float(value))}")
            )
    body += _x_labels(labels, xs, HEIGHT - MARGIN_BOTTOM)
    body += _axis_titles(axes, MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM, HEIGHT)
    return Markup(_legend(series)) + _svg(title, body)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format = number,
    notes: Sequence[str] | None = None,
    axes: Axes = Axes(),
) -> Markup:
    """Vertical bars, one group per label and one bar per series; ``notes`` add a line to each tooltip."""
    if not labels:
        return empty()
    ticks, scale = _value_scale(series, fmt)
    inner = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    group = inner / len(labels)
    width = group * 0.8 / len(series)
    body = _y_axis(ticks, scale, fmt)
    centers = [MARGIN_LEFT + group * (i + 0.5) for i in range(len(labels))]
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        for i, (label, value) in enumerate(zip(labels, one.values, strict=True)):
            x = MARGIN_LEFT + group * (i + 0.1) + width * index
            y = scale(value)
            tip = f"{label} · {one.name}: {fmt(float(value))}"
            if notes and notes[i]:
                tip += f" · {notes[i]}"
            shape = (
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{scale(0) - y:.1f}" '
                f'rx="2" fill="{colour}"'
            )
            body.append(_datum(shape, one.name, label, float(value), tip))
    body += _x_labels(labels, centers, HEIGHT - MARGIN_BOTTOM)
    body += _axis_titles(axes, MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM, HEIGHT)
    return Markup(_legend(series)) + _svg(title, body)


def hbar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    name: str,
    fmt: Format = number,
    notes: Sequence[str] | None = None,
    axes: Axes = Axes(),
) -> Markup:
    """Horizontal bars, one per label: long names (brands, categories) stay readable."""
    if not labels:
        return empty()
    row = 28
    left = 290
    height = MARGIN_TOP + row * len(labels) + (56 if axes.x else 36)
    ticks = nice_ticks(max((float(v) for v in values), default=0.0), whole=fmt is number)
    span = WIDTH - left - MARGIN_RIGHT

    def scale(value: float) -> float:
        return left + span * float(value) / ticks[-1]

    body = []
    bottom = MARGIN_TOP + row * len(labels)
    for tick in ticks:
        x = scale(tick)
        body.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" y2="{bottom}"/>'
            f'<text class="tick x" x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">'
            f"{escape(_tick_format(fmt)(tick))}</text>"
        )
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = MARGIN_TOP + row * i
        body.append(
            f'<text class="tick y" x="{left - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(shorten(label, MAX_LABEL))}</text>"
        )
        tip = f"{label} · {name}: {fmt(float(value))}" + (f" · {notes[i]}" if notes and notes[i] else "")
        shape = (
            f'<rect x="{left}" y="{y + 4}" width="{scale(value) - left:.1f}" height="{row - 8}" rx="2" '
            f'fill="{PALETTE[0]}"'
        )
        body.append(_datum(shape, name, label, float(value), tip))
    body.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{MARGIN_TOP}" y2="{bottom}"/>')
    body += _axis_titles(Axes(x=axes.x), left, bottom, height)
    return _svg(title, body, height)
