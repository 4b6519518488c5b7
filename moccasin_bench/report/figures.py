"""The report's result figures: scaling curves, anytime curves, TDI against budget,
performance profiles. Each function takes the Analysis and returns the Figures it wrote.
(The memory / retention-interval picture of one schedule is in report.schedule.)"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moccasin_bench.report.analysis import Analysis
from moccasin_bench.report.metrics import TARGET_RELATIVE, performance_ratios, profile_curve
from moccasin_bench.report.style import (
    LINESTYLES,
    Figure,
    MethodStyle,
    log_axis,
    log_seconds_axis,
    pyplot,
    save,
    slug,
    tdi_axis,
)
from moccasin_bench.report.table import status_text


def _fractions(a: Analysis) -> list[float]:
    return sorted({float(f) for f in a.cells["budget_fraction"].dropna()}, reverse=True)


def _outside_legend(
    fig: Any, axes: Sequence[Any], extra_handles: Sequence[Any] = (), order: Sequence[str] = ()
) -> None:
    """One legend for the whole figure, to the right of the panels (never over data);
    methods in `order` first, in that order."""
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    rank = {m: i for i, m in enumerate(order)}
    pairs = sorted(zip(handles, labels), key=lambda hl: rank.get(hl[1], len(rank)))
    handles, labels = [h for h, _ in pairs], [label for _, label in pairs]
    for h in extra_handles:
        handles.append(h)
        labels.append(h.get_label())
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def _panels(plt: Any, count: int, ncols: int, width: float = 4.2, height: float = 3.2, sharey: bool = False):
    ncols = max(1, min(ncols, count))
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, sharey=sharey)
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def scaling(a: Analysis, out_dir: Path) -> list[Figure]:
    """Time to within 1 % of the best known cost, and final TDI, against the number of nodes."""
    from matplotlib.lines import Line2D

    plt = pyplot()
    fractions = _fractions(a)
    if not fractions:
        return []
    style = MethodStyle(a.methods)
    families = list(dict.fromkeys(a.graphs["family"]))
    fam_style = {f: LINESTYLES[i % len(LINESTYLES)] for i, f in enumerate(families)}
    fam_graphs = {f: list(a.graphs.loc[a.graphs["family"] == f, "graph_label"]) for f in families}
    lined = [f for f in families if len(fam_graphs[f]) > 1]  # a family of one graph is a point, not a line
    cells = a.cells[a.cells["budget_fraction"].notna()]
    figures = []
    for measure in ("time", "tdi"):
        fig, axes = _panels(plt, len(fractions), 2, width=4.6, height=3.6, sharey=True)
        all_y = []
        for ax, f in zip(axes, fractions):
            here = cells[cells["budget_fraction"].round(6) == round(f, 6)]
            lines_drawn = 0
            for m in a.methods:
                mine = here[here["method"] == m]
                for fam in families:
                    pts = mine[mine["family"] == fam].sort_values("nodes")
                    xs, ys, hollow = [], [], []
                    for r in pts.itertuples():
                        if measure == "time":
                            reached = r.valid and not math.isnan(r.seconds_to_1pct)
                            y = r.seconds_to_1pct if reached else r.time_limit_seconds
                            y = max(y, 1e-3)
                        else:
                            if not r.valid:
                                continue
                            reached, y = True, r.tdi_percent
                        xs.append(r.nodes), ys.append(y), hollow.append(not reached)
                    if not xs:
                        continue
                    all_y += ys
                    lines_drawn += len(xs) > 1
                    ax.plot(xs, ys, linestyle=fam_style[fam], color=style.color(m), linewidth=1.2, alpha=0.8)
                    fx = [x for x, h in zip(xs, hollow) if not h]
                    fy = [y for y, h in zip(ys, hollow) if not h]
                    ax.plot(
                        fx, fy, linestyle="none", marker=style.marker(m), color=style.color(m), label=m, markersize=6
                    )
                    hx = [x for x, h in zip(xs, hollow) if h]
                    hy = [y for y, h in zip(ys, hollow) if h]
                    if hx:
                        ax.plot(
                            hx,
                            hy,
                            linestyle="none",
                            marker=style.marker(m),
                            markerfacecolor="white",
                            markeredgecolor=style.color(m),
                            markersize=7,
                            label=m if not fx else None,
                        )
            ax.set_title(f"budget {100 * f:g} % of the reference peak")
            if not lines_drawn and len(here):
                ax.text(
                    0.98,
                    0.02,
                    "one graph per family and method here:\npoints, no lines",
                    transform=ax.transAxes,
                    ha="right",
                    va="bottom",
                    fontsize=7,
                    color="grey",
                )
            ax.set_xscale("log")
            ax.set_xlabel("nodes n (log)")
        if measure == "time":
            log_seconds_axis(axes[0], "y", f"seconds to within {100 * TARGET_RELATIVE:g} % of best known (log)")
        else:
            tdi_axis(axes[0], all_y)
            axes[0].set_ylabel("final TDI (%)")
        for ax in axes:
            log_axis(ax, "x")
        extra = (
            [
                Line2D(
                    [],
                    [],
                    color="grey",
                    marker="o",
                    markerfacecolor="white",
                    linestyle="none",
                    label="hollow: not within 1 % by the time limit\n(drawn at the limit)",
                )
            ]
            if measure == "time"
            else []
        )
        if len(families) > 1:
            for fam in lined:
                names = fam_graphs[fam]
                shown = ", ".join(names) if len(names) <= 4 else f"{len(names)} graphs"
                extra.append(Line2D([], [], color="grey", linestyle=fam_style[fam], label=f"{fam} ({shown})"))
            single = [f"{fam_graphs[fam][0]} ({fam})" for fam in families if fam not in lined]
            if single:
                extra.append(
                    Line2D([], [], linestyle="none", label="one graph, a point per method:\n" + ", ".join(single))
                )
        _outside_legend(fig, axes, extra, order=a.methods)
        fig.tight_layout()
        if measure == "time":
            figures.append(
                save(
                    fig,
                    out_dir,
                    "scaling-time",
                    "Scaling: time to within 1 % of the best known cost",
                    "Seconds (log) until each method's cost was within 1 % of the best cost any method found for "
                    "that graph and budget, against the graph's node count (log); one line per method and graph "
                    "family (a family of one graph is a point, no line). Hollow markers: never within 1 % (or no valid schedule) by the time limit, drawn at "
                    "the limit. Seconds include model building.",
                )
            )
        else:
            figures.append(
                save(
                    fig,
                    out_dir,
                    "scaling-tdi",
                    "Scaling: final TDI against graph size",
                    "Final total duration increase (TDI, %) of each method's best valid schedule against the "
                    "node count (log). Methods without a valid schedule on a graph have no point there.",
                )
            )
    return figures


def anytime(a: Analysis, out_dir: Path) -> list[Figure]:
    """TDI of the best schedule so far against wall seconds, per graph (one file) and budget (one panel)."""
    plt = pyplot()
    style = MethodStyle(a.methods)
    traj = a.trajectories
    figures = []
    for g in a.graphs.itertuples():
        cells = a.cells[a.cells["graph_hash"] == g.graph_hash]
        budgets = cells[["budget", "budget_label", "budget_fraction"]].drop_duplicates("budget")
        budgets = budgets.assign(_f=budgets["budget_fraction"].fillna(-1.0)).sort_values(
            ["_f", "budget"], ascending=False
        )
        if not len(budgets):
            continue
        fig, axes = _panels(plt, len(budgets), 3, width=4.6, height=3.6, sharey=True)
        all_y = []
        for ax, b in zip(axes, budgets.itertuples()):
            here = cells[cells["budget"] == b.budget]
            missing, ends = [], []
            for c in here.sort_values("method_rank").itertuples():
                t = traj[(traj["run_key"] == c.key) & traj["cost"].notna()]
                ends.append(float(c.time_limit_seconds))
                if not c.valid or not len(t):
                    missing.append(f"{c.method} ({status_text(c)})")
                    continue
                xs = [max(s, 1e-3) for s in t["seconds"]]
                ys = list(t["tdi_percent"])
                end = max(float(c.end_seconds) if not math.isnan(c.end_seconds) else xs[-1], xs[-1])
                xs.append(end), ys.append(c.tdi_percent)  # the simulated final TDI closes the curve
                all_y += ys
                ax.step(xs, ys, where="post", color=style.color(c.method), linewidth=1.4, label=c.method)
                ax.plot([xs[0]], [ys[0]], marker=style.marker(c.method), color=style.color(c.method), markersize=5)
                ax.plot([end], [c.tdi_percent], marker="|", color=style.color(c.method), markersize=10)
            title = f"{g.graph_label}, budget {b.budget_label}"
            if missing:
                title += "\n" + textwrap.fill("no valid schedule: " + ", ".join(missing), 62)
            ax.set_title(title, fontsize=8.5 if missing else None)
            if len(missing) == len(here):
                ax.set_xlim(0.1, max(ends))
                ax.text(
                    0.5,
                    0.5,
                    "no method found a valid schedule",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="grey",
                )
            log_seconds_axis(ax, "x", "wall seconds since the run started (log)")
        tdi_axis(axes[0], all_y)
        from matplotlib.lines import Line2D

        extra = [
            Line2D([], [], color="grey", marker="o", linestyle="none", label="first solution"),
            Line2D([], [], color="grey", marker="|", markersize=10, linestyle="none", label="end of run"),
        ]
        _outside_legend(fig, axes, extra, order=a.methods)
        fig.tight_layout()
        figures.append(
            save(
                fig,
                out_dir,
                f"anytime-{slug(g.graph_label)}",
                f"Anytime: {g.graph_label}",
                f"TDI (%) of the best schedule found so far against wall seconds (log) on {g.graph_label} "
                f"(n={int(g.nodes):,}), one panel per budget and one line per method (the cell's representative "
                "run). Costs on the curve are the solver's reports; the tick at the end is the simulated "
                "final TDI. Methods without a valid schedule are named under the panel's title.",
            )
        )
    return figures


def tdi_vs_budget(a: Analysis, out_dir: Path) -> list[Figure]:
    """Final TDI against the budget as a fraction of the reference peak, one panel per graph."""
    plt = pyplot()
    cells = a.cells[a.cells["budget_fraction"].notna() & a.cells["valid"]]
    graphs = [g for g in a.graphs.itertuples() if (cells["graph_hash"] == g.graph_hash).any()]
    if not graphs:
        return []
    style = MethodStyle(a.methods)
    fig, axes = _panels(plt, len(graphs), 3, width=4.0, height=3.2)
    for ax, g in zip(axes, graphs):
        here = cells[cells["graph_hash"] == g.graph_hash]
        for m in a.methods:
            pts = here[here["method"] == m].sort_values("budget_fraction")
            if len(pts):
                ax.plot(
                    100 * pts["budget_fraction"],
                    pts["tdi_percent"],
                    marker=style.marker(m),
                    color=style.color(m),
                    label=m,
                    linewidth=1.2,
                )
        ax.set_title(f"{g.graph_label} (n={int(g.nodes):,})")
        ax.set_xlabel("budget (% of the reference order's peak)")
        tdi_axis(ax, here["tdi_percent"])
    _outside_legend(fig, axes, order=a.methods)
    fig.tight_layout()
    return [
        save(
            fig,
            out_dir,
            "tdi-vs-budget",
            "TDI against budget",
            "Final TDI (%) of each method's best valid schedule against the memory budget, as a percentage of the "
            "peak of the reference order run without recomputation; one panel per graph. A missing point: no "
            "valid schedule at that budget (see the table).",
        )
    ]


def performance_profiles(a: Analysis, out_dir: Path) -> list[Figure]:
    """Dolan–Moré profiles over the (graph, budget) instances: final cost and time to within 1 %.

    Cost ratios of good methods differ in the third digit, so the cost panel's axis is the
    excess over the best, 100 (τ − 1) %, on a symmetric-log scale; the time panel is τ, log."""
    from matplotlib.ticker import FuncFormatter

    plt = pyplot()
    if not len(a.cells):
        return []
    style = MethodStyle(a.methods)
    cells = a.cells
    panels = (
        ("total_duration", "final cost", "cost above the best found, 100 (τ − 1) (%, symlog)"),
        (
            "seconds_to_1pct",
            f"time to within {100 * TARGET_RELATIVE:g} % of best",
            "time ratio to the fastest, τ (log)",
        ),
    )
    fig, axes = _panels(plt, 2, 2, width=4.8, height=3.6, sharey=True)
    counts = []
    for i, (ax, (column, title, xlabel)) in enumerate(zip(axes, panels)):
        values = {m: {} for m in a.methods}
        for c in cells.itertuples():
            v = getattr(c, column)
            values[c.method][(c.graph_hash, int(c.budget))] = float(v) if c.valid and v is not None else math.nan
        ratios = performance_ratios(values)
        n = len({p for r in ratios.values() for p in r})
        counts.append(n)
        finite = [x for r in ratios.values() for x in r.values() if math.isfinite(x)]
        top = max(finite) if finite else 1.0
        for m in a.methods:
            taus, share = profile_curve(ratios[m], n)
            if i == 0:
                xs = [0.0, *(100 * (taus - 1)), max(100 * (top - 1), 0.1) * 1.5]
            else:
                xs = [1.0, *taus, max(top, 2.0) * 1.3]
            ys = [0.0, *share, share[-1] if len(share) else 0.0]
            ax.step(xs, ys, where="post", color=style.color(m), label=m, linewidth=1.5, alpha=0.9)
        if i == 0:
            ax.set_xscale("symlog", linthresh=0.1, linscale=0.5)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_xlim(-0.02, max(100 * (top - 1), 0.1) * 1.5)
        else:
            ax.set_xlim(0.93, max(top, 2.0) * 1.3)
            log_axis(ax, "x")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{title} ({n} instances)")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("share of instances within τ of the best")
    _outside_legend(fig, axes, order=a.methods)
    fig.tight_layout()
    return [
        save(
            fig,
            out_dir,
            "performance-profiles",
            "Performance profiles (Dolan–Moré)",
            "For each method, the share of instances (graph × budget) on which its measure is within a factor τ of "
            "the best method's. Left: final cost (total duration of the best valid schedule), drawn as the excess "
            "over the best cost found, 100 (τ − 1) %, so 0 is 'best'. Right: seconds to within 1 % of the best known "
            "cost, as the ratio τ to the fastest method. Failures (no valid schedule; never within 1 %) never count, "
            "so a curve's right end is the share of instances the method solved. Instances no method solved are "
            f"left out ({counts[0]} and {counts[1]} instances counted).",
        )
    ]
