"""Charts as inline SVG strings, for the HTML report (no JavaScript, no network, no plotting library).

Every chart has a title, labelled axes with tick values, a legend when it has more than one series,
and a ``<title>`` tooltip on every bar with the exact numbers. Sizes are in SVG user units; the
report scales them to the page width (``viewBox``).

* :func:`hbar` – horizontal bars, one per label (funnel, languages, PII types, reasons);
* :func:`stacked_hbar` – horizontal stacked bars, one per category (fate per source, tokens per split);
* :func:`histogram` – vertical stacked bars over bins (metric distributions, cluster sizes).
"""

from __future__ import annotations

import math
import unicodedata
from html import escape
from typing import Callable, Sequence

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Noto Sans CJK KR', 'Apple SD Gothic Neo', sans-serif"
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"
AXIS = "#9aa5b1"

KEPT = "#2f7ed8"
DROPPED_HERE = "#e8590c"
DROPPED_ELSEWHERE = "#c4cbd4"
#: colours for series without a meaning of their own (Tableau 10, colour-blind tolerant order)
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")


def _e(s: object) -> str:
    return escape(str(s), quote=True)


def text_width(s: str, size: float = 12) -> float:
    """Approximate rendered width of ``s``, on the generous side (DejaVu Sans, a common fallback, is wide);
    wide East Asian characters count as a full em."""
    w = 0.0
    for ch in str(s):
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            w += 1.0
        elif ch in "il.,:;|!'`":
            w += 0.32
        elif ch == " ":
            w += 0.34
        elif ch in "mwMW@%#—":
            w += 0.9
        elif ch.isupper():
            w += 0.72
        else:
            w += 0.62
    return w * size


def on_color(fill: str) -> str:
    """White or dark text, whichever reads better on ``fill`` (#rrggbb)."""
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 150 else INK


def truncate(s: str, width: float, size: float = 12) -> str:
    s = str(s)
    if text_width(s, size) <= width:
        return s
    while s and text_width(s + "…", size) > width:
        s = s[:-1]
    return s + "…"


def compact(v: float) -> str:
    """1234 -> 1.2k, 5600000 -> 5.6M; small numbers as they are."""
    if v is None:
        return ""
    a = abs(v)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            x = v / div
            return (f"{x:.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.1f}".rstrip("0").rstrip(".")) + suf
    return number(v)


def number(v: float) -> str:
    """A tick or value label: integers with thousands separators, others with up to 3 decimals."""
    if v is None:
        return ""
    if float(v).is_integer():
        return f"{int(v):,}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    if a >= 0.001:
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return f"{v:.2g}" if a >= 1e-6 else "≈0"


def percent(v: float) -> str:
    if v == 0:
        return "0%"
    if abs(v) < 0.001:
        return "<0.1%"
    if abs(v) < 0.1:
        return f"{v * 100:.1f}%"
    if v < 1 and round(v * 100) >= 100:
        return f"{v * 100:.1f}%" if v * 100 < 99.95 else ">99.9%"
    return f"{v * 100:.0f}%"


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (about ``n`` of them); ``integer``: steps of at least 1."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if step >= raw:
            break
    if integer:
        step = max(step, 1.0)
        if step == 2.5:
            step = 2.0
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    t = start
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
        if len(ticks) > 50:
            break
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


class _Svg:
    def __init__(self, width: float, height: float, title: str, kind: str) -> None:
        self.width, self.height, self.title, self.kind = width, height, title, kind
        self.parts: list[str] = []

    def add(self, s: str) -> None:
        self.parts.append(s)

    def text(self, x: float, y: float, s: object, size: float = 12, anchor: str = "start", fill: str = INK,
             weight: str = "normal", extra: str = "") -> None:
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"'
                 f'{" font-weight=" + chr(34) + weight + chr(34) if weight != "normal" else ""}{extra}>{_e(s)}</text>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str | None = None) -> None:
        w, h = max(w, 0.0), max(h, 0.0)
        body = f"<title>{_e(tip)}</title>" if tip else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}">{body}</rect>'
                 if body else f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}"/>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = GRID, width: float = 1) -> None:
        self.add(f'<path d="M{x1:.1f} {y1:.1f}L{x2:.1f} {y2:.1f}" stroke="{stroke}" stroke-width="{width}" fill="none"/>')

    def header(self, title: str, subtitle: str | None) -> float:
        """Title and subtitle (wrapped to two lines at most) at the top; returns the y where the plot may start."""
        self.text(0, 16, truncate(title, self.width, 14), size=14, weight="600")
        if not subtitle:
            return 26
        lines, cur = [], ""
        for word in subtitle.split(" "):
            trial = f"{cur} {word}".strip()
            if cur and text_width(trial, 12) > self.width:
                lines.append(cur)
                cur = word
            else:
                cur = trial
        lines.append(cur)
        if len(lines) > 2:
            lines = [lines[0], truncate(" ".join(lines[1:]), self.width, 12)]
        for i, line in enumerate(lines):
            self.text(0, 34 + 16 * i, line, size=12, fill=MUTED)
        return 44 + 16 * (len(lines) - 1)

    def legend(self, items: Sequence[tuple[str, str]], y: float, x0: float = 0) -> float:
        """Legend swatches in rows from (x0, y); returns the y below it."""
        x = x0
        for name, color in items:
            w = 18 + text_width(name, 12) + 16
            if x + w > self.width and x > x0:
                x, y = x0, y + 18
            self.rect(x, y - 9, 10, 10, color)
            self.text(x + 14, y, name, size=12, fill=INK)
            x += w
        return y + 14

    def svg(self) -> str:
        return (f'<svg class="chart" data-chart="{self.kind}" xmlns="http://www.w3.org/2000/svg" role="img" '
                f'aria-label="{_e(self.title)}" viewBox="0 0 {self.width:.0f} {self.height:.0f}" '
                f'width="{self.width:.0f}" height="{self.height:.0f}" font-family="{_e(FONT)}">'
                f"<title>{_e(self.title)}</title>" + "".join(self.parts) + "</svg>")


def hbar(items: Sequence[tuple[str, float]], *, title: str, xlabel: str, subtitle: str | None = None,
         color: str | Sequence[str] = KEPT, value_label: Callable[[float, int], str] | None = None,
         width: float = 880, bar: float = 20, tips: Sequence[str] | None = None, label_width: float | None = None,
         axis: Callable[[float], str] = None) -> str:
    """One horizontal bar per (label, value), largest scale from 0; the value is written at the bar end."""
    svg = _Svg(width, 0, title, "hbar")
    top = svg.header(title, subtitle)
    labels = [str(lab) for lab, _ in items]
    lw = label_width or min(max([text_width(s) for s in labels] + [40]) + 16, width * 0.34)
    values = [float(v or 0) for _, v in items]
    vmax = max(values + [0.0])
    ticks = nice_ticks(0, vmax if vmax > 0 else 1, 5, integer=axis is None and all(float(v).is_integer() for v in values))
    xmax = ticks[-1]
    vl = value_label or (lambda v, i: f"{v:,.0f}")
    pad_right = max([text_width(vl(v, i)) for i, v in enumerate(values)] + [20]) + 10
    x0, x1 = lw, width - pad_right
    gap = 6
    y = top + 8
    plot_top = y
    for i, (lab, v) in enumerate(zip(labels, values)):
        c = color if isinstance(color, str) else color[i % len(color)]
        w = (x1 - x0) * (v / xmax if xmax else 0)
        tip = tips[i] if tips else f"{lab}: {vl(v, i)}"
        svg.text(x0 - 8, y + bar * 0.7, truncate(lab, lw - 12), anchor="end")
        svg.rect(x0, y, max(w, 1.0 if v > 0 else 0.0), bar, c, tip)
        svg.text(x0 + w + 5, y + bar * 0.7, vl(v, i), fill=MUTED)
        y += bar + gap
    plot_bottom = y - gap + 4
    # axis with ticks under the bars, grid lines behind (drawn after, light, so bars stay readable)
    for t in ticks:
        x = x0 + (x1 - x0) * (t / xmax if xmax else 0)
        svg.parts.insert(0, f'<path d="M{x:.1f} {plot_top - 4:.1f}L{x:.1f} {plot_bottom:.1f}" stroke="{GRID}" '
                            'stroke-width="1" fill="none"/>')
        svg.text(x, plot_bottom + 14, (axis or compact)(t), size=11, anchor="middle", fill=MUTED)
    svg.line(x0, plot_top - 4, x0, plot_bottom, AXIS)
    svg.text((x0 + x1) / 2, plot_bottom + 32, xlabel, size=12, anchor="middle", fill=MUTED)
    svg.height = plot_bottom + 40
    return svg.svg()


def stacked_hbar(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], *, title: str,
                 xlabel: str, subtitle: str | None = None, normalize: bool = False, width: float = 880,
                 bar: float = 22, totals_label: Callable[[float], str] | None = None,
                 end_labels: Sequence[str] | None = None) -> str:
    """One horizontal bar per category, split into the series (stacked, in series order).

    ``normalize``: each bar shows shares of its own total (0-100 %), and the total is written at the end.
    """
    svg = _Svg(width, 0, title, "stacked_hbar")
    top = svg.header(title, subtitle)
    top = svg.legend([(name, color) for name, _, color in series], top + 10) + 6
    cats = [str(c) for c in categories]
    lw = min(max([text_width(s) for s in cats] + [40]) + 16, width * 0.3)
    totals = [sum(float(s[1][i] or 0) for s in series) for i in range(len(cats))]
    tl = totals_label or (lambda v: f"{v:,.0f}")
    ends = list(end_labels) if end_labels is not None else [tl(t) for t in totals]
    pad_right = max([text_width(e) for e in ends] + [20]) + 12
    x0, x1 = lw, width - pad_right
    xmax = 1.0 if normalize else nice_ticks(0, max(totals + [1.0]), 5, integer=True)[-1]
    y = top + 6
    plot_top = y
    for i, cat in enumerate(cats):
        svg.text(x0 - 8, y + bar * 0.7, truncate(cat, lw - 12), anchor="end")
        x = x0
        for name, vals, color in series:
            v = float(vals[i] or 0)
            share = v / totals[i] if totals[i] else 0
            w = (x1 - x0) * ((share if normalize else v) / xmax if xmax else 0)
            if v > 0:
                svg.rect(x, y, max(w, 0.8), bar, color, f"{cat} — {name}: {v:,.0f} ({percent(share)} of {totals[i]:,.0f})")
                if w > text_width(percent(share), 11) + 8 and normalize:
                    svg.text(x + w / 2, y + bar * 0.7, percent(share), size=11, anchor="middle", fill=on_color(color))
            x += w
        svg.text(x + 6, y + bar * 0.7, ends[i], fill=MUTED)
        y += bar + 8
    plot_bottom = y - 4
    ticks = [0, 0.25, 0.5, 0.75, 1.0] if normalize else nice_ticks(0, xmax, 5, integer=True)
    for t in ticks:
        x = x0 + (x1 - x0) * (t / xmax if xmax else 0)
        svg.parts.insert(0, f'<path d="M{x:.1f} {plot_top - 4:.1f}L{x:.1f} {plot_bottom:.1f}" stroke="{GRID}" '
                            'stroke-width="1" fill="none"/>')
        svg.text(x, plot_bottom + 14, percent(t) if normalize else compact(t), size=11, anchor="middle", fill=MUTED)
    svg.line(x0, plot_top - 4, x0, plot_bottom, AXIS)
    svg.text((x0 + x1) / 2, plot_bottom + 32, xlabel, size=12, anchor="middle", fill=MUTED)
    svg.height = plot_bottom + 40
    return svg.svg()


def histogram(series: Sequence[tuple[str, Sequence[float], str]], *, title: str, xlabel: str,
              ylabel: str = "documents", edges: Sequence[float] | None = None, labels: Sequence[str] | None = None,
              edge_labels: Sequence[str] | None = None, subtitle: str | None = None, width: float = 540,
              height: float = 300, markers: Sequence[tuple[float, str]] = ()) -> str:
    """Vertical bars over bins, the series stacked.

    Bins are given one of three ways: ``edges`` (numeric, bars as wide as their range, ticks at round
    values), ``edge_labels`` (len(bins) + 1 labels at the bin boundaries, equal widths: log-spaced
    bins), or ``labels`` (one label under each bin, equal widths: categories, small integers).
    ``markers``: vertical dashed lines at x values (with ``edges``), e.g. a filter threshold.
    """
    svg = _Svg(width, height, title, "histogram")
    top = svg.header(title, subtitle)
    if len(series) > 1:
        top = svg.legend([(name, color) for name, _, color in series], top + 10) + 2
    nb = len(series[0][1]) if series else 0
    totals = [sum(float(s[1][i] or 0) for s in series) for i in range(nb)]
    yt = nice_ticks(0, max(totals + [1.0]), 4, integer=True)
    ymax = yt[-1]
    left = max(text_width(compact(t), 11) for t in yt) + 30
    x0, x1 = left, width - 12
    y0, y1 = top + 10, height - 46  # plot top, plot bottom
    for t in yt:
        y = y1 - (y1 - y0) * t / ymax
        svg.line(x0, y, x1, y)
        svg.text(x0 - 6, y + 4, compact(t), size=11, anchor="end", fill=MUTED)
    svg.add(f'<text transform="translate(12 {(y0 + y1) / 2:.1f}) rotate(-90)" font-size="12" text-anchor="middle" '
            f'fill="{MUTED}">{_e(ylabel)}</text>')
    if edges is not None:
        lo, hi = float(edges[0]), float(edges[-1])
        span = hi - lo or 1.0
        xs = [x0 + (x1 - x0) * (float(e) - lo) / span for e in edges]
    else:  # equal widths, at most 56 units each (a chart of three bins stays a chart, not three slabs)
        step = min((x1 - x0) / max(nb, 1), 56.0)
        start = x0 + ((x1 - x0) - step * nb) / 2
        xs = [start + step * i for i in range(nb + 1)]
    gap = 1.0 if nb > 40 else 2.0
    for i in range(nb):
        bx, bw = xs[i] + gap / 2, max(xs[i + 1] - xs[i] - gap, 0.8)
        y = y1
        rng = (labels[i] if labels is not None else
               f"{edge_labels[i]} – {edge_labels[i + 1]}" if edge_labels is not None else
               f"{number(edges[i])} – {number(edges[i + 1])}" if edges is not None else str(i))
        for name, vals, color in series:
            v = float(vals[i] or 0)
            if v <= 0:
                continue
            h = (y1 - y0) * v / ymax
            tip = f"{rng}: {v:,.0f} {ylabel}" + (f" ({name})" if len(series) > 1 else "")
            svg.rect(bx, y - h, bw, max(h, 0.8), color, tip)
            y -= h
    svg.line(x0, y1, x1, y1, AXIS)
    # x ticks
    if edges is not None:
        lo, hi = float(edges[0]), float(edges[-1])
        span = hi - lo or 1.0
        for t in nice_ticks(lo, hi, 6):
            if t < lo - 1e-9 or t > hi + 1e-9:
                continue
            x = x0 + (x1 - x0) * (t - lo) / span
            svg.line(x, y1, x, y1 + 4, AXIS)
            svg.text(x, y1 + 17, number(t), size=11, anchor="middle", fill=MUTED)
        for mx, mlabel in markers:
            if lo <= mx <= hi:
                x = x0 + (x1 - x0) * (mx - lo) / span
                svg.add(f'<path d="M{x:.1f} {y0:.1f}L{x:.1f} {y1:.1f}" stroke="{INK}" stroke-width="1.2" '
                        f'stroke-dasharray="4 3" fill="none"><title>{_e(mlabel)}</title></path>')
                svg.text(min(x + 4, x1 - text_width(mlabel, 11)), y0 + 10, mlabel, size=11, fill=INK)
    else:
        names = list(edge_labels) if edge_labels is not None else list(labels or [])
        positions = xs if edge_labels is not None else [(xs[i] + xs[i + 1]) / 2 for i in range(nb)]
        widest = max([text_width(s, 11) for s in names] + [1])
        every = max(1, math.ceil((widest + 8) / max((x1 - x0) / max(len(names), 1), 1)))
        for i, (s, x) in enumerate(zip(names, positions)):
            if i % every and i != len(names) - 1:
                continue
            if i == len(names) - 1 and i % every and len(names) > 2:
                continue
            svg.line(x, y1, x, y1 + 4, AXIS)
            svg.text(x, y1 + 17, s, size=11, anchor="middle", fill=MUTED)
    svg.text((x0 + x1) / 2, height - 8, xlabel, size=12, anchor="middle", fill=MUTED)
    return svg.svg()
