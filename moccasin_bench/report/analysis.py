"""From the store's tables to what the report shows: graphs, instances, methods, derived measures.

An *instance* is a (graph content, budget in bytes) pair. Per instance the *best known
cost* is the least simulated cost over its valid runs (status optimal or feasible); per
run, *seconds to best* is the first trajectory time at which the run's final cost was
reached, and *seconds to 1 %* the first at which its cost was within 1 % of the best
known cost. Trajectory times count from the start of the run (model building included).
A *cell* is (instance, method): its representative is the valid run of least cost (ties:
the earliest to reach it), else the most alarming failure (invalid > error > infeasible
> no_solution).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moccasin_bench.formulation import VALID_STATUSES
from moccasin_bench.report.methods import assign_methods
from moccasin_bench.report.metrics import seconds_to_best, seconds_to_target

if TYPE_CHECKING:
    import pandas as pd

PAPER_ORDER = ("rl1", "rl2", "rl3", "rl4", "cm1", "cm2", "vgg16", "vgg-unet")
FAILURE_PRIORITY = {"invalid": 0, "error": 1, "infeasible": 2, "no_solution": 3}


@dataclass(frozen=True)
class Analysis:
    """Everything the table and figures read. DataFrames are pandas."""

    runs: object  # one row per run, with method, graph_label, valid, seconds_to_best, seconds_to_1pct, ...
    trajectories: object  # long: run_key, seconds, cost, bound, tdi_percent (+ method, graph_label)
    graphs: object  # one row per graph_hash: graph_label, n, m, paper_graph, stand_in_of, family, sort_key
    cells: object  # one row per (graph_hash, budget, method): the representative run, `runs_in_cell`
    methods: tuple[str, ...]  # display order

    @property
    def stand_ins(self) -> dict[str, str]:
        """graph label -> the paper graph it stands in for, for generated stand-ins."""
        g = self.graphs
        return {r.graph_label: r.stand_in_of for r in g.itertuples() if r.stand_in_of}

    @property
    def paper_graphs(self) -> list[str]:
        return [r.graph_label for r in self.graphs.itertuples() if r.paper_graph]


def _graph_facts(row: Any) -> dict:
    """Label, paper name, stand-in target and family of one graph (from a run row)."""
    from moccasin_bench.catalog import PAPER_GRAPHS, STAND_INS

    origin = str(row.graph_origin or "")
    name = str(row.graph)
    by_file = {g.filename: g.name for g in PAPER_GRAPHS.values()}
    paper = by_file.get(Path(origin).name) if origin else None
    gens = {v: k for k, v in STAND_INS.items()}
    stand_in = gens.get(name)
    if paper:
        label = paper.upper()
        family = "random-layered" if paper.startswith("rl") else "checkmate"
    else:
        label = name
        family = origin.split(":", 1)[0] if ":" in origin else (f"file {Path(origin).name}" if origin else name)
    key = PAPER_ORDER.index(paper or stand_in) if (paper or stand_in) in PAPER_ORDER else len(PAPER_ORDER)
    return {
        "graph_label": label,
        "paper_graph": paper or "",
        "stand_in_of": stand_in or "",
        "family": family,
        "sort_key": key,
    }


def graph_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per graph content hash, sorted as the paper lists its graphs, then by size."""
    import pandas as pd

    rows = []
    for h, group in runs.groupby("graph_hash", sort=False):
        first = group.iloc[0]
        facts = _graph_facts(first)
        rows.append(
            {"graph_hash": h, "nodes": first.nodes, "edges": first.edges, "sum_duration": first.sum_duration, **facts}
        )
    g = pd.DataFrame(
        rows,
        columns=[
            "graph_hash",
            "nodes",
            "edges",
            "sum_duration",
            "graph_label",
            "paper_graph",
            "stand_in_of",
            "family",
            "sort_key",
        ],
    )
    if len(g):
        dup = g["graph_label"].duplicated(keep=False)
        g.loc[dup, "graph_label"] = g.loc[dup, "graph_label"] + " [" + g.loc[dup, "graph_hash"].str[:6] + "]"
        g = g.sort_values(["sort_key", "nodes", "graph_label"], kind="stable").reset_index(drop=True)
    return g


def budget_label(fraction: float | None, budget: int) -> str:
    """'90 % (41,688)' for a fractional budget, '41,688' for an absolute one."""
    if fraction is not None and not (isinstance(fraction, float) and math.isnan(fraction)):
        return f"{100 * fraction:g} % ({int(budget):,})"
    return f"{int(budget):,}"


def analyse(runs: pd.DataFrame, trajectories: pd.DataFrame, keys: Iterable[str] | None = None) -> Analysis:
    """Build the Analysis from store.load_runs / load_trajectories frames; `keys` restricts to those runs."""
    import numpy as np

    if keys is not None:
        keys = set(keys)
        runs = runs[runs["key"].isin(keys)]
        trajectories = trajectories[trajectories["run_key"].isin(keys)]
    runs = assign_methods(runs.reset_index(drop=True))
    graphs = graph_table(runs)
    runs = runs.merge(
        graphs[["graph_hash", "graph_label", "paper_graph", "stand_in_of", "family", "sort_key"]],
        on="graph_hash",
        how="left",
    )
    runs["valid"] = runs["status"].isin(VALID_STATUSES)
    runs["budget_label"] = [budget_label(f, b) for f, b in zip(runs["budget_fraction"], runs["budget"])]
    ref = runs["reference_peak"].astype("float64")
    runs["peak_percent"] = 100.0 * runs["peak_memory"].astype("float64") / ref.where(ref > 0)
    best = runs[runs["valid"]].groupby(["graph_hash", "budget"])["total_duration"].min().rename("best_known_cost")
    runs = runs.merge(best, left_on=["graph_hash", "budget"], right_index=True, how="left")
    runs["end_seconds"] = runs["wall_seconds"].where(runs["wall_seconds"].notna(), runs["process_seconds"])

    by_run = {k: g for k, g in trajectories.groupby("run_key", sort=False)}
    to_best, to_best_from, to_target = [], [], []
    for r in runs.itertuples():
        s, source, target = math.nan, "", math.nan
        if r.valid:
            t = by_run.get(r.key)
            secs = t["seconds"].to_numpy() if t is not None else np.array([])
            costs = t["cost"].to_numpy(dtype=float) if t is not None else np.array([])
            final, best = float(r.total_duration), float(r.best_known_cost)
            s, source = seconds_to_best(secs, costs, final), "trajectory"
            if math.isnan(s):  # no trajectory point at the final cost: the run's end is the honest upper figure
                s, source = float(r.end_seconds), "end of run"
            target = seconds_to_target(secs, costs, best)
            if math.isnan(target) and source == "end of run" and final <= 1.01 * best:
                target = s
        to_best.append(s)
        to_best_from.append(source)
        to_target.append(target)
    runs["seconds_to_best"] = to_best
    runs["seconds_to_best_from"] = to_best_from
    runs["seconds_to_1pct"] = to_target

    trajectories = trajectories.merge(
        runs[["key", "method", "graph_hash", "graph_label", "valid"]], left_on="run_key", right_on="key", how="inner"
    ).drop(columns="key")
    cells = _cells(runs)
    order = (
        runs[["method", "method_rank"]].drop_duplicates().sort_values(["method_rank", "method"])["method"].tolist()
        if len(runs)
        else []
    )
    return Analysis(runs=runs, trajectories=trajectories, graphs=graphs, cells=cells, methods=tuple(order))


def _cells(runs: pd.DataFrame) -> pd.DataFrame:
    """The representative run of each (graph, budget, method) cell (its best valid run), with how many runs
    it stands for, how many of them are valid, and the median and worst TDI of those (several seeds)."""
    import pandas as pd

    if not len(runs):
        return runs.assign(
            runs_in_cell=pd.Series(dtype="int64"),
            valid_in_cell=pd.Series(dtype="int64"),
            tdi_median=pd.Series(dtype="float64"),
            tdi_worst=pd.Series(dtype="float64"),
        )
    r = runs.copy()
    r["_fail"] = r["status"].map(FAILURE_PRIORITY).fillna(9)
    r["_cost"] = r["total_duration"].where(r["valid"]).astype("float64")
    r = r.sort_values(
        ["valid", "_cost", "seconds_to_best", "_fail"],
        ascending=[False, True, True, True],
        na_position="last",
        kind="stable",
    )
    keys = ["graph_hash", "budget", "method"]
    grouped = r.groupby(keys)
    spread = pd.DataFrame(
        {
            "runs_in_cell": grouped.size(),
            "valid_in_cell": grouped["valid"].sum(),
            "tdi_median": grouped["tdi_percent"].agg(lambda x: x[r.loc[x.index, "valid"]].median()),
            "tdi_worst": grouped["tdi_percent"].agg(lambda x: x[r.loc[x.index, "valid"]].max()),
        }
    )
    cells = r.drop_duplicates(keys).merge(spread, left_on=keys, right_index=True).drop(columns=["_fail", "_cost"])
    return cells.reset_index(drop=True)
