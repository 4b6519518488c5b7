"""One schedule, drawn: memory at every step against the budget line, and the retention
intervals of every node's copies (a Gantt-like picture), both from the simulator.

Copy j (the output of step j) is live from step j through `live_until[j]`; the Gantt draws
that interval on the row of its node, rows ordered by first computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.report.style import Figure, memory_axis, pyplot, save, slug

if TYPE_CHECKING:
    from moccasin_bench.graph import Graph
    from moccasin_bench.report.analysis import Analysis


@dataclass(frozen=True)
class ScheduleToDraw:
    """A schedule (node ids) on a graph, with what to say about it."""

    graph: object  # moccasin_bench.graph.Graph
    schedule: Sequence
    budget_bytes: int | None
    reference_peak: int | None
    title: str  # e.g. "RL4, budget 80 % (486,896): Moccasin (fixed)"
    stem: str  # file name without extension


def pick_default_run(a: Analysis) -> str | None:
    """The key of the best Moccasin run on the largest graph at the tightest budget
    (any method when no Moccasin run is valid); None when no run is valid."""
    runs = a.runs[a.runs["valid"]]
    if not len(runs):
        return None
    preferred = runs[runs["formulation"] == "moccasin"]
    pool = preferred if len(preferred) else runs
    pool = pool[pool["nodes"] == pool["nodes"].max()]
    tight = pool.assign(_f=pool["budget_fraction"].fillna(math.inf)).sort_values(
        ["_f", "budget", "total_duration", "seconds_to_best"]
    )
    return str(tight.iloc[0]["key"])


def graph_of_run(row: Any, data_dir: str | None = None) -> Graph | None:
    """Rebuild a run's graph from what the store recorded (its source, else its origin),
    checked against the stored content hash; None when it cannot be found again."""
    from moccasin_bench.sources import load_graph

    for spec in (row.graph_source, row.graph_origin, row.graph):
        if not spec or (isinstance(spec, float) and math.isnan(spec)):
            continue
        try:
            g = load_graph(str(spec), data_dir)
        except UserError:
            continue
        if g.content_hash == row.graph_hash:
            return g
    return None


def from_store(a: Analysis, store_path: Path, key: str, data_dir: str | None = None) -> ScheduleToDraw:
    """The stored schedule of run `key` (a unique prefix is enough)."""
    from moccasin_bench.store import load_schedule

    match = a.runs[a.runs["key"].str.startswith(key)]
    if len(match) != 1:
        raise UserError(
            f"run key {key!r} matches {len(match)} runs in the store; give more of it (see table.csv or `export`)"
        )
    row = next(match.itertuples())
    ids = load_schedule(store_path, row.key)
    if ids is None:
        raise UserError(f"run {row.key} has no stored schedule (status {row.status})")
    graph = graph_of_run(row, data_dir)
    if graph is None:
        raise UserError(
            f"cannot rebuild graph {row.graph!r} of run {row.key} (source {row.graph_source!r}); "
            "pass --data-dir if it is one of the paper's graphs"
        )
    ref = None if row.reference_peak is None or math.isnan(row.reference_peak) else int(row.reference_peak)
    return ScheduleToDraw(
        graph=graph,
        schedule=ids,
        budget_bytes=int(row.budget),
        reference_peak=ref,
        title=f"{row.graph_label}, budget {row.budget_label}: {row.method}",
        stem=f"schedule-{slug(row.graph_label)}-{row.key[:8]}",
    )


def from_file(schedule_path: str, graph_spec: str, data_dir: str | None = None) -> ScheduleToDraw:
    """A schedule file (`solve -o` JSON or a list of node ids) on a named graph."""
    from moccasin_bench.jsonio import check_schedule_document, read_schedule
    from moccasin_bench.sources import load_graph

    graph = load_graph(graph_spec, data_dir)
    ids, doc = read_schedule(schedule_path)
    method = doc.get("formulation", "schedule")
    budget = check_schedule_document(doc, graph.name, graph.content_hash, schedule_path)
    return ScheduleToDraw(
        graph=graph,
        schedule=ids,
        budget_bytes=budget,
        reference_peak=peak
        if isinstance(peak := doc.get("reference_peak"), int) and not isinstance(peak, bool)
        else None,
        title=f"{graph.name}: {method} ({Path(schedule_path).name})",
        stem=f"schedule-{slug(Path(schedule_path).stem)}",
    )


def draw(item: ScheduleToDraw, out_dir: Path) -> Figure:
    """Memory per step with the budget line (top) and retention intervals per node (bottom)."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    from moccasin_bench.errors import GraphError, ScheduleError
    from moccasin_bench.simulate import simulate

    plt = pyplot()
    g = item.graph
    try:
        idx = g.to_indices(item.schedule)
    except GraphError as exc:
        raise ScheduleError(f"{exc.problem} (not a node of graph {g.name!r})") from None
    sim = simulate(g, idx)
    steps = np.arange(sim.steps)
    n = g.n
    gantt_height = 2.5 + min(n, 600) / 110
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 2.8 + gantt_height), sharex=True, gridspec_kw={"height_ratios": [2.8, gantt_height]}
    )
    top.step(steps, sim.memory_per_step, where="mid", color="tab:blue", linewidth=1.0, label="memory in use")
    top.fill_between(steps, sim.memory_per_step, step="mid", color="tab:blue", alpha=0.15)
    if item.budget_bytes is not None:
        top.axhline(
            item.budget_bytes, color="tab:red", linestyle="--", linewidth=1.3, label=f"budget {item.budget_bytes:,}"
        )
    if item.reference_peak:
        top.axhline(
            item.reference_peak,
            color="grey",
            linestyle=":",
            linewidth=1.2,
            label=f"reference order's peak {item.reference_peak:,} (no recomputation)",
        )
    top.plot(
        [sim.peak_step],
        [sim.peak_memory],
        marker="v",
        color="black",
        linestyle="none",
        label=f"peak {sim.peak_memory:,} at step {sim.peak_step:,}",
    )
    top.set_ylabel("memory (graph units)")
    ymax = max(sim.peak_memory, item.budget_bytes or 0, item.reference_peak or 0)
    top.set_ylim(0, ymax * 1.35)  # headroom for the legend above the curve
    memory_axis(top, ymax)
    top.legend(loc="upper left", ncol=2, frameon=True, framealpha=0.9)
    verdict = "valid" if sim.valid else "INVALID"
    top.set_title(f"{item.title}\n{sim.steps:,} steps for {n:,} nodes, TDI {sim.tdi_percent:.2f} %, {verdict}")

    # Gantt: one row per node, ordered by first computation; recomputed copies in another colour.
    first_step = np.full(n, sim.steps, dtype=np.int64)
    np.minimum.at(first_step, sim.schedule, steps)
    row_of = np.empty(n, dtype=np.int64)
    row_of[np.argsort(first_step, kind="stable")] = np.arange(n)
    is_first = first_step[sim.schedule] == steps
    ys = row_of[sim.schedule]
    segs = np.stack([np.stack([steps - 0.4, ys], 1), np.stack([sim.live_until + 0.4, ys], 1)], 1).astype(float)
    width = float(np.clip(250.0 / max(n, 1), 0.4, 6.0))
    for mask, color, w, z in ((is_first, "tab:blue", width, 2), (~is_first, "tab:orange", max(1.5 * width, 1.2), 3)):
        if mask.any():
            bottom.add_collection(LineCollection(segs[mask], colors=color, linewidths=w, zorder=z))
    bottom.set_xlim(-1, max(sim.steps, 1))
    bottom.set_ylim(n - 0.5, -0.5)
    bottom.set_ylabel("node (rows in order of first computation)")
    bottom.set_xlabel("step (one node computed per step)")
    bottom.legend(
        handles=[
            Line2D([], [], color="tab:blue", linewidth=3, label="first computation: live interval"),
            Line2D([], [], color="tab:orange", linewidth=3, label="recomputation: live interval"),
        ],
        loc="lower left",
        frameon=True,
        framealpha=0.9,
    )  # rows ordered by first computation: that corner is empty
    bottom.grid(False)
    fig.tight_layout()
    return save(
        fig,
        out_dir,
        item.stem,
        f"Schedule: {item.title}",
        "Top: memory in use at each step of the schedule (the simulator's figures) against the budget (dashed "
        "red) and the peak of the reference order run without recomputation (dotted). Bottom: each computed "
        "copy's retention interval — from the step that computes it to the last step that reads it — on its "
        "node's row (rows ordered by first computation); orange intervals are recomputations.",
    )
