"""How each formulation's model grows with the graph: model size against n (from a model-size
table, moccasin_bench.model_sizes), on log-log axes with the fitted growth exponent (log-log
slope) of every curve in its legend. Solve effort against n is report/effort.py's.

Graphs of one size n made with different seeds are one point per method: the median, with
the spread (min to max) shaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from moccasin_bench.model_sizes import growth_exponent
from moccasin_bench.report.style import Figure, MethodStyle, pyplot, save

if TYPE_CHECKING:
    import pandas as pd


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
