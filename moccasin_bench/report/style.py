"""Shared figure plumbing: matplotlib with the Agg backend (imported lazily), one colour and
marker per method across every figure, PNG + SVG output, axis scales chosen from the data."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")
PNG_DPI = 150


@dataclass(frozen=True)
class Figure:
    """A written figure: its files and what it shows (for the index page)."""

    stem: str
    title: str
    caption: str
    png: Path
    svg: Path


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 9,
            "axes.titlesize": 10,
            "legend.fontsize": 8,
            "svg.fonttype": "none",
        }
    )
    return plt


class MethodStyle:
    """Colour and marker of each method, fixed by its position in the method order."""

    def __init__(self, methods: Sequence[str]) -> None:
        plt = pyplot()
        palette = plt.get_cmap("tab10").colors
        self._style = {m: (palette[i % len(palette)], MARKERS[i % len(MARKERS)]) for i, m in enumerate(methods)}

    def color(self, method: str) -> Any:
        return self._style[method][0]

    def marker(self, method: str) -> str:
        return self._style[method][1]


def save(fig: Any, out_dir: Path, stem: str, title: str, caption: str) -> Figure:
    """Write PNG and SVG, close the figure, return its record."""
    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    fig.savefig(png, dpi=PNG_DPI, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return Figure(stem=stem, title=title, caption=caption, png=png, svg=svg)


def spans_decades(values: Iterable[float], factor: float = 20.0) -> bool:
    """True when the positive values differ by more than `factor` (then a log axis reads better)."""
    pos = [float(v) for v in values if v is not None and not math.isnan(float(v)) and float(v) > 0]
    return len(pos) >= 2 and max(pos) / min(pos) > factor


def tdi_axis(ax: Any, values: Iterable[float]) -> None:
    """TDI axis (call after plotting): symmetric-log when the values span decades or hold 0
    next to large ones, else linear; never a negative range when no value is negative."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    ax.set_ylabel("TDI (%)")
    if not vals:
        return
    lo, hi = min(vals), max(vals)
    if hi > 5 and (spans_decades(vals) or lo <= 0):
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("symlog", linthresh=0.1, linscale=0.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.set_ylim(-0.03 if lo >= 0 else lo * 1.5, hi * 1.8)
    elif lo >= 0:
        ax.set_ylim(bottom=-0.04 * max(hi, 0.1), top=max(hi, 0.1) * 1.1)


def log_axis(ax: Any, which: str = "y") -> None:
    """Log scale with plain-number labels (0.5, 1, 2, 10, ...): the coarsest of powers of ten,
    1-2-5, 1-2-3-5 or every integer multiple that puts at least three ticks in the range.
    Call after plotting (it reads the limits)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    ticks: list[float] = []
    if lo > 0 and hi > lo:
        for subs in ((1,), (1, 2, 5), (1, 2, 3, 5), tuple(range(1, 10))):
            ticks = [
                m * 10.0**e
                for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                for m in subs
                if lo <= m * 10.0**e <= hi
            ]
            if len(ticks) >= 3:
                break
    if ticks:
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_minor_locator(NullLocator() if len(ticks) > 8 else axis.get_minor_locator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def log_seconds_axis(ax: Any, which: str = "y", label: str = "seconds") -> None:
    log_axis(ax, which)
    (ax.set_ylabel if which == "y" else ax.set_xlabel)(label)


def memory_axis(ax: Any, largest: float) -> None:
    """Memory tick labels: 12,345 for graph units, 30.4 G for byte-sized graphs."""
    from matplotlib.ticker import EngFormatter, FuncFormatter

    ax.yaxis.set_major_formatter(EngFormatter(sep=" ") if largest >= 1e7 else FuncFormatter(lambda v, _: f"{v:,.0f}"))


def slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in str(text))
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "x"
