"""Solve effort against graph size, with censoring: seconds to the first fitting schedule and to
within 1 % of the best known cost, and the effort ratio of two methods an experiment names
(`Experiment.effort_ratios`, e.g. Checkmate's MILP over Moccasin's fixed-order model).

A run that did not get there by its time limit is *censored*: its time is only known to be at
least the limit. A median that counts a censored run at its limit is a lower bound, and is drawn
and printed as one. For a pair of methods on one instance, both are timed to within 1 % of the
better of their two costs; the ratio is exact when both got there, a lower bound when only the
numerator is censored, an upper bound when only the denominator is, and unknown when both are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from moccasin_bench.model_sizes import growth_exponent
from moccasin_bench.report.metrics import seconds_to_target
from moccasin_bench.report.style import Figure, MethodStyle, log_axis, log_seconds_axis, pyplot, save

if TYPE_CHECKING:
    import pandas as pd

    from moccasin_bench.report.analysis import Analysis

TEN_TIMES = 10.0  # the paper's "an order of magnitude"
MIN_SECONDS = 1e-3  # floor for log axes


@dataclass(frozen=True)
class Censored:
    """A time that is either exact or at least `seconds` (the run's limit)."""

    seconds: float
    censored: bool


def run_times(a: Analysis) -> pd.DataFrame:
    """Per run: nodes, budget fraction, method, the limit, seconds to the first fitting schedule and to within
    1 % of the best known cost, each with a censored flag (not reached by the limit)."""
    import pandas as pd

    runs = a.runs[a.runs["budget_fraction"].notna()]
    first = a.trajectories.groupby("run_key")["seconds"].min() if len(a.trajectories) else pd.Series(dtype=float)
    rows = []
    for r in runs.itertuples():
        limit = float(r.time_limit_seconds)
        t_first = float(first.get(r.key, math.nan)) if r.valid else math.nan
        if r.valid and math.isnan(t_first):  # a valid run with no trajectory: its end is the honest figure
            t_first = float(r.end_seconds)
        t_1 = float(r.seconds_to_1pct) if r.valid else math.nan
        rows.append(
            {
                "key": r.key,
                "graph_hash": r.graph_hash,
                "nodes": int(r.nodes),
                "budget": int(r.budget),
                "budget_fraction": float(r.budget_fraction),
                "method": r.method,
                "limit": limit,
                "first_seconds": limit if math.isnan(t_first) else t_first,
                "first_censored": math.isnan(t_first),
                "target_seconds": limit if math.isnan(t_1) else t_1,
                "target_censored": math.isnan(t_1),
            }
        )
    return pd.DataFrame(rows)


def _pair_time(a: Analysis, run: object | None, target: float) -> Censored | None:
    if run is None:
        return None
    limit = float(run.time_limit_seconds)
    if not run.valid or math.isnan(target):
        return Censored(limit, True)
    t = a.trajectories[a.trajectories["run_key"] == run.key]
    s = seconds_to_target(t["seconds"].to_numpy(), t["cost"].to_numpy(dtype=float), target)
    if math.isnan(s) and float(run.total_duration) <= 1.01 * target:  # no trajectory point: the run's end
        s = float(run.end_seconds)
    return Censored(limit, True) if math.isnan(s) else Censored(max(s, MIN_SECONDS), False)


def pair_ratios(a: Analysis, numerator: str, denominator: str) -> pd.DataFrame:
    """Per instance where both methods ran: their times to within 1 % of the better of their costs and the
    ratio numerator / denominator with its kind (exact, lower, upper, unknown)."""
    import pandas as pd

    runs = a.runs[a.runs["budget_fraction"].notna() & a.runs["method"].isin([numerator, denominator])]
    rows = []
    for (h, _budget), group in runs.groupby(["graph_hash", "budget"]):
        pick = {}
        for m in (numerator, denominator):
            mine = group[group["method"] == m]
            pick[m] = mine.sort_values("valid", ascending=False).iloc[0] if len(mine) else None
        if pick[numerator] is None or pick[denominator] is None:
            continue
        costs = [float(p.total_duration) for p in pick.values() if p.valid]
        target = min(costs) if costs else math.nan
        tn, td = _pair_time(a, pick[numerator], target), _pair_time(a, pick[denominator], target)
        if tn.censored and td.censored:
            kind, ratio = "unknown", math.nan
        else:
            kind = "lower" if tn.censored else "upper" if td.censored else "exact"
            ratio = tn.seconds / td.seconds
        first = group.iloc[0]
        rows.append(
            {
                "graph_hash": h,
                "graph_label": first.graph_label,
                "nodes": int(first.nodes),
                "budget_fraction": float(first.budget_fraction),
                "numerator_seconds": tn.seconds,
                "numerator_censored": tn.censored,
                "denominator_seconds": td.seconds,
                "denominator_censored": td.censored,
                "ratio": ratio,
                "kind": kind,
            }
        )
    return pd.DataFrame(rows)


def ratio_summary(ratios: pd.DataFrame) -> list[dict]:
    """Per n: the median ratio (a lower bound when any counted value is), min, max, and the counts by kind."""
    import numpy as np

    out = []
    for n, group in ratios.groupby("nodes"):
        known = group[group["kind"] != "unknown"]
        values = known["ratio"].to_numpy(dtype=float)
        out.append(
            {
                "nodes": int(n),
                "median": float(np.median(values)) if len(values) else math.nan,
                "min": float(values.min()) if len(values) else math.nan,
                "max": float(values.max()) if len(values) else math.nan,
                "median_is_lower_bound": bool((known["kind"] == "lower").any()),
                "median_is_upper_bound": bool((known["kind"] == "upper").any()),
                **{kind: int((group["kind"] == kind).sum()) for kind in ("exact", "lower", "upper", "unknown")},
            }
        )
    return out


def claim_sentence(numerator: str, denominator: str, summary: Sequence[dict]) -> str:
    """The paper's "an order of magnitude" as measured: from which n the median ratio passes 10x, or not."""
    if not summary:
        return f"No instance where both {numerator} and {denominator} ran."
    passes = [s for s in summary if not math.isnan(s["median"]) and s["median"] >= TEN_TIMES]
    stays = all(s["median"] >= TEN_TIMES for s in summary if s["nodes"] >= (passes[0]["nodes"] if passes else 0))
    sizes = ", ".join(f"{s['nodes']:,}" for s in summary)
    if passes and stays:
        bound = " (a lower bound: censored runs counted at the limit)" if passes[0]["median_is_lower_bound"] else ""
        return (
            f"Measured: {numerator} takes at least {TEN_TIMES:g}x as long as {denominator} to get within 1 % of "
            f"their better cost from n = {passes[0]['nodes']:,} on (median over graphs and budgets{bound}; "
            f"sizes run: {sizes})."
        )
    best = max((s for s in summary if not math.isnan(s["median"])), key=lambda s: s["median"], default=None)
    if best is None:
        return f"Measured: no size where the ratio {numerator} / {denominator} is known (sizes run: {sizes})."
    return (
        f"Measured: the median ratio {numerator} / {denominator} does not stay at or above {TEN_TIMES:g}x within the "
        f"sizes run ({sizes}); its largest median is {best['median']:.3g}x at n = {best['nodes']:,}"
        + (" (a lower bound)" if best["median_is_lower_bound"] else "")
        + "."
    )


def ratio_rows(numerator: str, denominator: str, summary: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    header = [
        "n",
        f"median {numerator} / {denominator}",
        "min",
        "max",
        "exact",
        "lower bounds",
        "upper bounds",
        "both censored",
    ]
    rows = []
    for s in summary:
        mark = "≥ " if s["median_is_lower_bound"] and not s["median_is_upper_bound"] else ""
        mark = "≤ " if s["median_is_upper_bound"] and not s["median_is_lower_bound"] else mark
        mark = "~ " if s["median_is_upper_bound"] and s["median_is_lower_bound"] else mark
        fmt = "–" if math.isnan(s["median"]) else f"{mark}{s['median']:.3g}x"
        rows.append(
            [
                f"{s['nodes']:,}",
                fmt,
                "–" if math.isnan(s["min"]) else f"{s['min']:.3g}x",
                "–" if math.isnan(s["max"]) else f"{s['max']:.3g}x",
                str(s["exact"]),
                str(s["lower"]),
                str(s["upper"]),
                str(s["unknown"]),
            ]
        )
    return header, rows


def times_figure(a: Analysis, out_dir: Path) -> list[Figure]:
    """Seconds to the first fitting schedule and to within 1 % of the best known cost against n, per method and
    budget: medians over the graphs of each size, spread shaded, censored medians drawn as lower bounds."""
    import numpy as np

    times = run_times(a)
    if not len(times) or times["nodes"].nunique() < 2:
        return []
    plt = pyplot()
    fractions = sorted(times["budget_fraction"].unique(), reverse=True)
    style = MethodStyle(a.methods)
    measures = (("first", "seconds to the first fitting schedule"), ("target", "seconds to within 1 % of best known"))
    fig, axes = plt.subplots(
        len(measures), len(fractions), figsize=(5.2 * len(fractions), 3.8 * len(measures)), squeeze=False
    )
    for row, (measure, ylabel) in enumerate(measures):
        for col, f in enumerate(fractions):
            ax = axes[row][col]
            here = times[times["budget_fraction"] == f]
            for m in a.methods:
                mine = here[here["method"] == m]
                if not len(mine):
                    continue
                ns, med, lo, hi, cens = [], [], [], [], []
                for n, group in mine.groupby("nodes"):
                    values = group[f"{measure}_seconds"].to_numpy(dtype=float)
                    ns.append(n)
                    med.append(max(float(np.median(values)), MIN_SECONDS))
                    lo.append(max(float(values.min()), MIN_SECONDS))
                    hi.append(max(float(values.max()), MIN_SECONDS))
                    cens.append(bool(group[f"{measure}_censored"].any()))
                color = style.color(m)
                ax.plot(ns, med, color=color, linewidth=1.2)
                ax.fill_between(ns, lo, hi, color=color, alpha=0.12, linewidth=0)
                done = [(x, y) for x, y, c in zip(ns, med, cens) if not c]
                cut = [(x, y) for x, y, c in zip(ns, med, cens) if c]
                slope = growth_exponent([x for x, _ in done], [y for _, y in done]) if done else None
                name = m if slope is None else f"{m} (slope {slope:.2f})"
                if done:
                    ax.plot(*zip(*done), linestyle="none", marker=style.marker(m), color=color, label=name)
                if cut:
                    ax.plot(
                        *zip(*cut),
                        linestyle="none",
                        marker="^",
                        markerfacecolor="white",
                        markeredgecolor=color,
                        markersize=8,
                        label=None if done else name,
                    )
            limit = float(here["limit"].max())
            ax.axhline(limit, color="0.6", linewidth=0.8, linestyle=":")
            ax.set_xscale("log")
            ax.set_xlabel("nodes n (log)")
            ax.set_title(f"budget {100 * f:g} % of the reference peak")
            log_axis(ax, "x")
            log_seconds_axis(ax, "y", ylabel + " (log)")
            ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return [
        save(
            fig,
            out_dir,
            "effort-times",
            "Time to a first schedule and to within 1 % of the best, against graph size",
            "Top: seconds until each method had its first schedule within the budget; bottom: until its cost was "
            "within 1 % of the best cost any method found for that graph and budget. Median over the graphs (seeds) "
            "of each size, min to max shaded. A hollow triangle is censored: at least one of its runs had not got "
            "there by the time limit (dotted line) and counts at the limit, so the median is a lower bound. "
            "Legend: the fitted log-log slope over the sizes no run of which was censored.",
        )
    ]


def ratio_figure(a: Analysis, pairs: Sequence[tuple[str, str]], out_dir: Path) -> list[Figure]:
    """Per pair: the effort ratio against n, every instance drawn by kind, the median line."""
    plt = pyplot()
    data = [(num, den, pair_ratios(a, num, den)) for num, den in pairs]
    data = [(num, den, r) for num, den, r in data if len(r) and r["nodes"].nunique() >= 2]
    if not data:
        return []
    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 4.2), squeeze=False)
    markers = {"exact": ("o", "filled"), "lower": ("^", "hollow"), "upper": ("v", "hollow")}
    claims = []
    for ax, (num, den, r) in zip(axes[0], data):
        colors = {f: c for f, c in zip(sorted(r["budget_fraction"].unique(), reverse=True), ("C0", "C3", "C2", "C1"))}
        for f, color in colors.items():
            for kind, (marker, fill) in markers.items():
                pts = r[(r["budget_fraction"] == f) & (r["kind"] == kind)]
                if len(pts):
                    ax.plot(
                        pts["nodes"] * (1.04 if f != max(colors) else 0.96),
                        pts["ratio"],
                        linestyle="none",
                        marker=marker,
                        color=color,
                        markerfacecolor=color if fill == "filled" else "white",
                        markersize=6,
                        label=f"{100 * f:g} %: {'exact' if kind == 'exact' else kind + ' bound'}",
                    )
        summary = ratio_summary(r)
        xs = [s["nodes"] for s in summary if not math.isnan(s["median"])]
        ys = [s["median"] for s in summary if not math.isnan(s["median"])]
        ax.plot(xs, ys, color="black", linewidth=1.4, label="median")
        ax.axhline(1.0, color="0.5", linewidth=0.8)
        ax.axhline(TEN_TIMES, color="0.5", linewidth=0.8, linestyle="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        log_axis(ax, "x")
        ax.set_xlabel("nodes n (log)")
        ax.set_ylabel(f"{num} / {den} (log)")
        ax.set_title(f"{num} / {den}: time to within 1 %", fontsize=9)
        unknown = int((r["kind"] == "unknown").sum())
        claims.append(
            claim_sentence(num, den, summary)
            + (f" {unknown} instance(s) where both were censored are not drawn." if unknown else "")
        )
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return [
        save(
            fig,
            out_dir,
            "effort-ratio",
            "The paper's claim: solve-effort ratio against graph size",
            "Seconds to within 1 % of the better of the two methods' costs, first method over second, per graph "
            "and budget (log-log). Filled: both got there. Up triangle: a lower bound (the first method did not "
            "by its limit). Down triangle: an upper bound (the second did not). Black line: the median per n. "
            "Dashed: 10x. " + " ".join(claims),
        )
    ]


def instance_rows(numerator: str, denominator: str, ratios: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """One row per instance (graphs of one size each, such as the paper's): both times and the ratio."""

    def t(seconds: float, censored: bool) -> str:
        return f"≥ {seconds:.3g}" if censored else f"{seconds:.3g}"

    header = ["Graph", "n", "Budget", f"{numerator} s", f"{denominator} s", "ratio"]
    rows = []
    for r in ratios.sort_values(
        ["nodes", "graph_label", "budget_fraction"], ascending=[True, True, False]
    ).itertuples():
        mark = {"lower": "≥ ", "upper": "≤ ", "exact": ""}.get(r.kind, "")
        rows.append(
            [
                str(r.graph_label),
                f"{r.nodes:,}",
                f"{100 * r.budget_fraction:g} %",
                t(r.numerator_seconds, r.numerator_censored),
                t(r.denominator_seconds, r.denominator_censored),
                "unknown (both censored)" if r.kind == "unknown" else f"{mark}{r.ratio:.3g}x",
            ]
        )
    return header, rows
