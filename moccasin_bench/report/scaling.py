"""How each formulation's cost grows with the graph: model size against n (from a model-size
table, moccasin_bench.model_sizes) and solve effort against n (from the runs), on log-log axes
with the fitted growth exponent (log-log slope) of every curve in its legend.

Graphs of one size n made with different seeds are one point per method: the median, with
the spread (min to max) shaded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from moccasin_bench.model_sizes import growth_exponent
from moccasin_bench.report.style import Figure, MethodStyle, log_axis, log_seconds_axis, pyplot, save

if TYPE_CHECKING:
    import pandas as pd

    from moccasin_bench.report.analysis import Analysis

SIZE_MEASURES = (
    ("variables", "variables"),
    ("constraints", "constraints"),
    ("nonzeros", "nonzeros (variable references)"),
    ("build_seconds", "build seconds"),
    ("peak_rss_bytes", "peak memory of the build process (MiB)"),
)
FIT_FROM_NODES = 100  # fit exponents from here on: below, fixed overheads dominate
MEMORY_FIT_FROM_BYTES = 16 << 20  # fit the memory exponent where the build added at least this much


def _fit(built: pd.DataFrame, col: str) -> float | None:
    """The growth exponent of one size measure; memory: of what the build added to its process."""
    if col == "peak_rss_bytes":
        added = built[col].astype(float) - built["rss_before_build_bytes"].astype(float)
        keep = added >= MEMORY_FIT_FROM_BYTES
        return growth_exponent(built["nodes"][keep], added[keep])
    return growth_exponent(built["nodes"], built[col], FIT_FROM_NODES)


def _label(method: str, slope: float | None) -> str:
    return f"{method} (slope {slope:.2f})" if slope is not None else method


def method_labels(sizes: pd.DataFrame) -> dict[str, str]:
    """Method key -> report name (the formulation's own label)."""
    import json

    from moccasin_bench.report.methods import base_label

    out = {}
    for r in sizes.drop_duplicates("method").itertuples():
        out[r.method] = base_label(
            r.formulation, json.loads(r.params) if isinstance(r.params, str) and r.params else {}
        )
    return out


def exponent_table(sizes: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Per method: the fitted exponent of each size measure, and the largest n built (or where it stopped)."""
    names = method_labels(sizes)
    header = ["Method", *[label.split(" (")[0] for _, label in SIZE_MEASURES], "largest n built", "stopped at"]
    rows = []
    for key, name in names.items():
        mine = sizes[sizes["method"] == key].sort_values("nodes")
        built = mine[mine["status"] == "built"]
        if mine["status"].eq("not_supported").all():
            continue
        line = [name]
        for col, _ in SIZE_MEASURES:
            slope = _fit(built, col)
            line.append("–" if slope is None else f"{slope:.2f}")
        line.append(f"{int(built['nodes'].max()):,}" if len(built) else "none")
        failed = mine[~mine["status"].isin(["built", "skipped", "not_supported"])]
        line.append(
            f"n={int(failed.iloc[0]['nodes']):,}: {failed.iloc[0]['status'].replace('_', ' ')}" if len(failed) else "–"
        )
        rows.append(line)
    return header, rows


def model_size_figure(sizes: pd.DataFrame, out_dir: Path) -> list[Figure]:
    """Variables, constraints, nonzeros, build seconds and builder memory against n, per method."""
    plt = pyplot()
    names = method_labels(sizes)
    keys = [k for k in names if not sizes[sizes["method"] == k]["status"].eq("not_supported").all()]
    if not keys or not (sizes["status"] == "built").any():
        return []
    style = MethodStyle([names[k] for k in keys])
    fig, axes = plt.subplots(1, len(SIZE_MEASURES), figsize=(4.0 * len(SIZE_MEASURES), 3.6), squeeze=False)
    for ax, (col, title) in zip(axes[0], SIZE_MEASURES):
        for key in keys:
            mine = sizes[sizes["method"] == key].sort_values("nodes")
            built = mine[mine["status"] == "built"]
            y = built[col].astype(float) / (2**20 if col == "peak_rss_bytes" else 1)
            slope = _fit(built, col)
            name = names[key]
            ax.plot(
                built["nodes"],
                y,
                marker=style.marker(name),
                color=style.color(name),
                label=_label(name, slope),
                linewidth=1.2,
                markersize=5,
            )
            failed = mine[~mine["status"].isin(["built", "skipped", "not_supported"])]
            if len(failed) and len(y):
                ax.plot(
                    [failed.iloc[0]["nodes"]],
                    [float(y.max())],
                    marker="x",
                    color=style.color(name),
                    markersize=9,
                    linestyle="none",
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("nodes n (log)")
        ax.set_title(title)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return [
        save(
            fig,
            out_dir,
            "model-size",
            "Model size against graph size",
            "Each formulation's model built (not solved) on random layered graphs of growing n, log-log: variables, "
            "constraints, nonzeros (a MIP's nonzeros; for CP-SAT, the variable and literal references of every "
            "constraint), build seconds and the peak memory of the build's process (the interpreter and the solver "
            "library included). The legend gives each curve's fitted growth exponent (log-log slope, points with "
            f"n >= {FIT_FROM_NODES}; for memory, of what the build added, where it added at least "
            f"{MEMORY_FIT_FROM_BYTES >> 20} MiB). A cross marks the first size a builder did not finish within its "
            "caps (drawn at its largest value).",
        )
    ]


def effort_figure(a: Analysis, out_dir: Path) -> list[Figure]:
    """Seconds to within 1 % of the best known cost against n: median over the graphs of each size, spread shaded."""
    import numpy as np

    plt = pyplot()
    cells = a.cells[a.cells["budget_fraction"].notna()]
    fractions = sorted({float(f) for f in cells["budget_fraction"]}, reverse=True)
    if not fractions or cells["nodes"].nunique() < 2:
        return []
    style = MethodStyle(a.methods)
    fig, axes = plt.subplots(1, len(fractions), figsize=(5.2 * len(fractions), 4.0), squeeze=False, sharey=True)
    for ax, f in zip(axes[0], fractions):
        here = cells[cells["budget_fraction"].round(6) == round(f, 6)]
        for m in a.methods:
            mine = here[here["method"] == m]
            if not len(mine):
                continue
            ns, med, lo, hi, reached_all = [], [], [], [], []
            for n, group in mine.groupby("nodes"):
                secs = [
                    r.seconds_to_1pct if r.valid and not math.isnan(r.seconds_to_1pct) else math.nan
                    for r in group.itertuples()
                ]
                limit = float(group["time_limit_seconds"].max())
                values = np.array([s if not math.isnan(s) else limit for s in secs])
                ns.append(n)
                med.append(max(float(np.median(values)), 1e-3))
                lo.append(max(float(values.min()), 1e-3))
                hi.append(max(float(values.max()), 1e-3))
                reached_all.append(not any(math.isnan(s) for s in secs))
            fit_n = [x for x, ok in zip(ns, reached_all) if ok]
            fit_y = [y for y, ok in zip(med, reached_all) if ok]
            slope = growth_exponent(fit_n, fit_y)
            color = style.color(m)
            ax.plot(ns, med, color=color, linewidth=1.2)
            ax.fill_between(ns, lo, hi, color=color, alpha=0.12, linewidth=0)
            if fit_n:
                ax.plot(fit_n, fit_y, linestyle="none", marker=style.marker(m), color=color, label=_label(m, slope))
            miss_n = [x for x, ok in zip(ns, reached_all) if not ok]
            miss_y = [y for y, ok in zip(med, reached_all) if not ok]
            if miss_n:
                ax.plot(
                    miss_n,
                    miss_y,
                    linestyle="none",
                    marker=style.marker(m),
                    markerfacecolor="white",
                    markeredgecolor=color,
                    label=None if fit_n else _label(m, None),
                )
        ax.set_xscale("log")
        ax.set_xlabel("nodes n (log)")
        ax.set_title(f"budget {100 * f:g} % of the reference peak")
        log_axis(ax, "x")
        ax.legend(fontsize=7, loc="upper left")
    log_seconds_axis(axes[0][0], "y", "seconds to within 1 % of best known (log)")
    fig.tight_layout()
    return [
        save(
            fig,
            out_dir,
            "scaling-effort",
            "Solve effort against graph size",
            "Seconds (log) until each method's cost was within 1 % of the best cost any method found for that graph "
            "and budget, against n (log): the median over the graphs of each size (seeds), the spread shaded. "
            "Hollow markers: at least one graph of that size was not within 1 % by the time limit (counted at the "
            "limit). Legend: the fitted log-log slope over the sizes every graph reached.",
        )
    ]


def edges_exponent(sizes: pd.DataFrame) -> float | None:
    """How the graphs' edge count grows with n (models with per-edge terms grow at least as fast)."""
    graphs = sizes.drop_duplicates("graph")
    return growth_exponent(graphs["nodes"], graphs["edges"], FIT_FROM_NODES)


def size_section(sizes_path: Path, out_dir: Path) -> tuple[list[Figure], tuple[list[str], list[list[str]]] | None, str]:
    """The figures, the exponent table and a note on the graphs of a model-size CSV (nothing when it is
    missing or empty)."""
    from moccasin_bench.model_sizes import load_sizes

    if not sizes_path.is_file():
        return [], None, ""
    sizes = load_sizes(sizes_path)
    if not len(sizes):
        return [], None, ""
    m = edges_exponent(sizes)
    note = "" if m is None else f" In these graphs the edge count m grows as n^{m:.2f}."
    return model_size_figure(sizes, out_dir), exponent_table(sizes), note
