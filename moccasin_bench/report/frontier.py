"""The memory–compute frontier of a grid that runs each method from the reference peak down to each
graph's minimum feasible budget: per graph TDI against budget, each method's lowest budget reached
(and why not lower), and how often each method is best or within 1 % of the best.

Pure functions of the report's Analysis (its `cells`: one representative run per graph, budget and
method), so that the same figures follow from any store holding such runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moccasin_bench.report.style import Figure, MethodStyle, pyplot, save, slug, tdi_axis

if TYPE_CHECKING:
    import pandas as pd

    from moccasin_bench.report.analysis import Analysis

WITHIN = 0.01  # "within 1 % of the best": cost <= (1 + WITHIN) x the best cost of the cell


@dataclass(frozen=True)
class Reach:
    """How low one method went on one graph."""

    graph_hash: str
    method: str
    lowest_budget: int | None  # the smallest budget with a valid schedule; None: none fits
    lowest_percent: float | None  # the same, in % of the reference peak
    tdi_percent: float | None  # the TDI there (the best run of the cell)
    optimal: bool  # proven optimal there
    at_minimum: bool  # the lowest budget is the graph's minimum feasible budget (nothing lower exists)
    below_budget: int | None  # the next budget tried below it, if any
    below_status: str  # what the method reported there
    below_message: str


def budget_percent(cells: pd.DataFrame) -> pd.Series:
    """Each cell's budget in % of its reference peak (the budget kinds all keep the peak)."""
    ref = cells["reference_peak"].astype("float64")
    return 100.0 * cells["budget"].astype("float64") / ref.where(ref > 0)


def reach(a: Analysis) -> list[Reach]:
    """Per (graph, method): the lowest budget at which the method returned a schedule that fits, its TDI
    there, and what it said at the next budget below (the store's smallest fitting budget: a method
    that fits at 30 % but not at 40 % still reaches 30 %)."""
    cells = a.cells.assign(budget_percent=budget_percent(a.cells))
    out = []
    for (h, m), c in cells.groupby(["graph_hash", "method"], sort=False):
        ok = c[c["valid"]]
        low = ok.loc[ok["budget"].idxmin()] if len(ok) else None
        lowest = None if low is None else int(low["budget"])
        below = c[c["budget"] < lowest] if lowest is not None else c
        nxt = below.loc[below["budget"].idxmax()] if len(below) else None
        minimum = c["min_feasible_budget"].dropna()
        out.append(
            Reach(
                graph_hash=h,
                method=m,
                lowest_budget=lowest,
                lowest_percent=None if low is None else float(low["budget_percent"]),
                tdi_percent=None if low is None else float(low["tdi_percent"]),
                optimal=low is not None and low["status"] == "optimal",
                at_minimum=lowest is not None and len(minimum) > 0 and lowest <= int(minimum.iloc[0]),
                below_budget=None if nxt is None else int(nxt["budget"]),
                below_status="" if nxt is None else str(nxt["status"]),
                below_message="" if nxt is None else _first_line(nxt["message"]),
            )
        )
    return out


def _first_line(message: Any, width: int = 160) -> str:
    text = message if isinstance(message, str) else ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def best_shares(a: Analysis) -> dict[str, tuple[int, int]]:
    """method -> (cells where its cost is within 1 % of the cell's best, cells where it ran), over the
    (graph, budget) cells at which at least one method fits."""
    cells = a.cells
    best = cells[cells["valid"]].groupby(["graph_hash", "budget"])["total_duration"].min()
    out: dict[str, tuple[int, int]] = {}
    for m in a.methods:
        mine = cells[cells["method"] == m]
        hit = ran = 0
        for c in mine.itertuples():
            b = best.get((c.graph_hash, c.budget))
            if b is None or (isinstance(b, float) and math.isnan(b)):
                continue
            ran += 1
            if c.valid and float(c.total_duration) <= (1 + WITHIN) * float(b):
                hit += 1
        out[m] = (hit, ran)
    return out


def _pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.1f} %" if x >= 10 else f"{x:.2f} %"


def reach_rows(a: Analysis, fixed_bytes: Mapping[str, int], not_run: Mapping[tuple[str, str], str]) -> tuple:
    """The lowest-budget table: one row per graph, one column per method ('12.2 % · TDI 5.96 %', '✓' where
    proven optimal, '(min)' at the minimum feasible budget, 'none fits' or 'n/a' (why: below the table))."""
    by = {(r.graph_hash, r.method): r for r in reach(a)}
    header = ["Graph", "minimum feasible (% of peak)", *a.methods]
    rows = []
    for g in a.graphs.itertuples():
        c = a.cells[a.cells["graph_hash"] == g.graph_hash]
        if not len(c):
            continue
        mfb = c["min_feasible_budget"].dropna()
        ref = c["reference_peak"].dropna()
        minimum = (
            f"{100 * float(mfb.iloc[0]) / float(ref.iloc[0]):.1f} % ({int(mfb.iloc[0]):,})"
            if len(mfb) and len(ref)
            else "–"
        )
        fixed = fixed_bytes.get(g.graph_label)
        label = g.graph_label + (f" (+ {fixed / 2**20:,.0f} MiB fixed)" if fixed else "")
        row = [label, minimum]
        for m in a.methods:
            r = by.get((g.graph_hash, m))
            if r is None:
                row.append("n/a" if (g.graph_label, m) in not_run else "–")
            elif r.lowest_budget is None:
                row.append("none fits")
            else:
                row.append(
                    f"{r.lowest_percent:.1f} %{' (min)' if r.at_minimum else ''} · TDI {_pct(r.tdi_percent)}"
                    + (" ✓" if r.optimal else "")
                )
        rows.append(row)
    return header, rows


def why_rows(a: Analysis) -> tuple:
    """Why each method stops where it does: what it reported at the next budget tried below its lowest."""
    labels = dict(zip(a.graphs["graph_hash"], a.graphs["graph_label"]))
    rank = {m: i for i, m in enumerate(a.methods)}
    order = {h: i for i, h in enumerate(a.graphs["graph_hash"])}
    rows = []
    for r in sorted(reach(a), key=lambda r: (order.get(r.graph_hash, 0), rank.get(r.method, 0))):
        if r.at_minimum or r.below_budget is None:
            continue
        ref = a.cells[a.cells["graph_hash"] == r.graph_hash]["reference_peak"].dropna()
        pct = f"{100 * r.below_budget / float(ref.iloc[0]):.1f} %" if len(ref) else f"{r.below_budget:,}"
        rows.append([labels.get(r.graph_hash, r.graph_hash), r.method, pct, r.below_status, r.below_message])
    return ["Graph", "Method", "next budget below", "status there", "its message"], rows


def frontier_figures(
    a: Analysis,
    out_dir: Path,
    fixed_bytes: Mapping[str, int],
    executed: Sequence[Mapping[str, Any]] = (),
) -> list[Figure]:
    """One figure per graph: TDI (symlog where it spans decades) against the budget in % of the reference
    peak, one line per method; filled markers where proven optimal, a band from best to worst seed where
    a cell has several runs; a dotted line at the minimum feasible budget. Where schedules of the graph were
    executed (`executed`: the points of executed.json), a panel below shares the budget axis: each executed
    schedule's allocator peak against its simulated peak plus fixed bytes, and its measured step time against
    the plain step's."""
    plt = pyplot()
    style = MethodStyle(a.methods)
    cells = a.cells.assign(budget_percent=budget_percent(a.cells))
    reached = {(r.graph_hash, r.method): r for r in reach(a)}
    figures = []
    for g in a.graphs.itertuples():
        here = cells[cells["graph_hash"] == g.graph_hash]
        ok = here[here["valid"]]
        if not len(ok):
            continue
        runs = [p for p in executed if p.get("graph") == g.graph_label and p.get("report")]
        if runs:
            fig, (ax, low) = plt.subplots(
                2, 1, figsize=(6.4, 5.6), sharex=True, gridspec_kw={"height_ratios": (3, 1.3)}
            )
        else:
            fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for m in a.methods:
            pts = ok[ok["method"] == m].sort_values("budget_percent")
            if not len(pts):
                continue
            r = reached.get((g.graph_hash, m))
            stop = f" (to {r.lowest_percent:.0f} %)" if r is not None and r.lowest_percent is not None else ""
            color = style.color(m)
            ax.plot(pts["budget_percent"], pts["tdi_percent"], color=color, linewidth=1.3, label=m + stop, alpha=0.9)
            opt = pts["status"] == "optimal"
            ax.scatter(
                pts.loc[~opt, "budget_percent"],
                pts.loc[~opt, "tdi_percent"],
                marker=style.marker(m),
                facecolors="none",
                edgecolors=color,
                s=28,
                zorder=3,
            )
            ax.scatter(
                pts.loc[opt, "budget_percent"],
                pts.loc[opt, "tdi_percent"],
                marker=style.marker(m),
                color=color,
                s=28,
                zorder=3,
            )
            spread = pts[pts["valid_in_cell"] > 1]
            if len(spread):
                ax.fill_between(
                    spread["budget_percent"],
                    spread["tdi_percent"],
                    spread["tdi_worst"],
                    color=color,
                    alpha=0.18,
                    linewidth=0,
                )
        mfb, ref = here["min_feasible_budget"].dropna(), here["reference_peak"].dropna()
        if len(mfb) and len(ref):
            x = 100 * float(mfb.iloc[0]) / float(ref.iloc[0])
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
            ax.annotate("minimum\nfeasible", (x, 0.98), xycoords=("data", "axes fraction"), fontsize=7, va="top")
        tdi_axis(ax, ok["tdi_percent"].tolist() + ok["tdi_worst"].dropna().tolist())
        fixed = fixed_bytes.get(g.graph_label)
        peak = (
            f"{float(ref.iloc[0]) / 2**20:,.0f} MiB"
            if fixed and len(ref)
            else (f"{int(ref.iloc[0]):,}" if len(ref) else "")
        )
        (low if runs else ax).set_xlabel(
            f"budget (% of the reference peak {peak})"
            + (f"; + {fixed / 2**20:,.0f} MiB fixed (parameters, batch, gradients, optimizer state)" if fixed else "")
        )
        ax.set_title(f"{g.graph_label} (n = {int(g.nodes):,})")
        ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
        if runs:
            _executed_panel(low, runs, style, a.methods)
        fig.tight_layout()
        figures.append(
            save(
                fig,
                out_dir,
                f"frontier-{slug(g.graph_label)}",
                f"Frontier: {g.graph_label}",
                f"TDI (%) of each method's best schedule on {g.graph_label} against the budget (% of the reference "
                "order's peak without recomputation); a line ends at the lowest budget the method reached (the legend "
                "says where). Filled markers: proven optimal (within the method's restrictions); band: best to worst "
                "seed. Dotted line: the minimum feasible budget (no schedule peaks below it)."
                + (
                    " Lower panel: the schedules executed as one real training step on the CPU (`execute`), at "
                    "their budgets: filled, the allocator's peak over the simulated peak plus fixed bytes (%); "
                    "hollow, the measured step time over the plain step's (%); a cross where the outputs are not "
                    "bitwise equal to the plain step's."
                    if runs
                    else ""
                ),
            )
        )
    return figures


def _executed_panel(ax: Any, points: Sequence[Mapping[str, Any]], style: MethodStyle, methods: Sequence[str]) -> None:
    """Executed points at their budgets: memory and step time measured against the prediction and the plain step."""
    for p in points:
        r = p["report"]
        predicted = r["simulated"]["scheduled_peak_with_fixed"]
        memory = 100.0 * (r["measured"]["scheduled"]["peak_bytes"] - predicted) / predicted
        known = p["method"] in methods
        color, marker = (style.color(p["method"]), style.marker(p["method"])) if known else ("black", "o")
        x = p["budget_percent"]
        ax.scatter([x], [memory], color=color, marker=marker, s=26, zorder=3)
        ax.scatter(
            [x],
            [r["measured"]["time_increase_percent"]],
            facecolors="none",
            edgecolors=color,
            marker=marker,
            s=26,
            zorder=3,
        )
        if not r["check"]["bitwise_equal"]:
            ax.scatter([x], [memory], color="red", marker="x", s=40, zorder=4)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel("executed: % over\npredicted / plain", fontsize=7)
    ax.tick_params(labelsize=7)


def profile_figure(a: Analysis, out_dir: Path) -> list[Figure]:
    """The share of (graph, budget) cells where each method is best or within 1 % of the best."""
    shares = best_shares(a)
    methods = [m for m in a.methods if shares.get(m, (0, 0))[1]]
    if not methods:
        return []
    plt = pyplot()
    style = MethodStyle(a.methods)
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(methods) + 1.2))
    values = [shares[m][0] / shares[m][1] for m in methods]
    ax.barh(range(len(methods)), values, color=[style.color(m) for m in methods])
    for i, m in enumerate(methods):
        hit, ran = shares[m]
        ax.annotate(f" {hit}/{ran}", (values[i], i), va="center", fontsize=8)
    ax.set_yticks(range(len(methods)), methods)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    ax.set_xlabel(f"share of (graph, budget) cells where the method is best or within {100 * WITHIN:g} % of the best")
    fig.tight_layout()
    return [
        save(
            fig,
            out_dir,
            "frontier-profile",
            "Frontier: who is best",
            f"For each method, the share of (graph, budget) cells of the frontier, among those it ran on and at which "
            f"some method fits, where its cost is at most {100 * WITHIN:g} % above the best cost any method found "
            "there (a performance profile at τ = 1.01). A budget the method could not reach counts against it.",
        )
    ]


def executed_rows(points: Sequence[Mapping[str, Any]]) -> tuple:
    """The executed points (a frontier grid's executed.json): outputs, memory and time against the plain step."""
    header = [
        "Graph",
        "Method",
        "budget",
        "simulated TDI",
        "outputs",
        "allocator peak",
        "simulated + fixed",
        "difference",
        "step time vs plain",
    ]
    rows = []
    for p in points:
        if p.get("skipped"):
            rows.append([p["graph"], p["method"], p["which"], _pct(p.get("tdi_percent")), p["skipped"]] + [""] * 4)
            continue
        if p.get("error"):
            rows.append(
                [p["graph"], p["method"], p["which"], _pct(p.get("tdi_percent")), "ERROR: " + p["error"]] + [""] * 4
            )
            continue
        r = p["report"]
        sim, meas, check = r["simulated"], r["measured"], r["check"]
        predicted = sim["scheduled_peak_with_fixed"]
        measured = meas["scheduled"]["peak_bytes"]
        outputs = (
            "bitwise equal"
            if check["bitwise_equal"]
            else ("within tolerance" if check["equal_within_tolerance"] else "DIFFERENT")
        )
        rows.append(
            [
                p["graph"],
                p["method"],
                f"{p['which']}: {p['budget_percent']:.1f} %",
                _pct(sim["predicted_tdi_percent"]),
                outputs,
                f"{measured / 2**20:,.0f} MiB",
                f"{predicted / 2**20:,.0f} MiB",
                f"{100 * (measured - predicted) / predicted:+.1f} %",
                f"{meas['time_increase_percent']:+.1f} %",
            ]
        )
    return header, rows
