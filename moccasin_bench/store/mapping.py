"""Row mapping: a run (its RunSpec and the runner's outcome) flattened into a `runs` row and its trajectory rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from moccasin_bench.store.schema import PROVENANCE_COLUMNS
from moccasin_bench.store.schema import to_json_text as _json

if TYPE_CHECKING:
    from moccasin_bench.graph import Graph
    from moccasin_bench.runner import RunSpec


def make_row(
    spec: RunSpec, outcome: Mapping[str, Any], sweep: str | None = None, graph: Graph | None = None
) -> dict[str, Any]:
    """Flatten a run (a runner.RunSpec) and its outcome (runner.run_isolated) into a `runs` row.
    `graph` (the run's Graph) fills the graph's facts when the run left no result (error rows)."""
    result = outcome.get("result") or {}
    if not result and graph is not None:
        result = {
            "graph_origin": graph.origin,
            "nodes": graph.n,
            "edges": graph.m,
            "sum_duration": graph.sum_duration,
            "min_feasible_budget": graph.min_feasible_budget,
        }
    row: dict[str, Any] = {
        "key": spec.key,
        "sweep": sweep,
        "graph": spec.graph_name,
        "graph_hash": spec.graph_hash,
        "graph_source": spec.graph_source,
        "graph_origin": result.get("graph_origin"),
        "nodes": result.get("nodes"),
        "edges": result.get("edges"),
        "sum_duration": result.get("sum_duration"),
        "min_feasible_budget": result.get("min_feasible_budget"),
        "formulation": spec.formulation,
        "params": _json(dict(spec.params)),
        "variant": _json(result.get("variant")),
        "restrictions": result.get("restrictions"),
        "budget": spec.budget_bytes,
        "budget_fraction": spec.budget_fraction,
        "reference_order": spec.reference_order,
        "reference_peak": spec.reference_peak,
        "time_limit_seconds": spec.time_limit_seconds,
        "threads": spec.threads,
        "seed": spec.seed,
        "relative_gap": spec.relative_gap,
        "status": outcome["status"],
        "message": outcome.get("message") or "",
        "stderr_tail": outcome.get("stderr_tail") or None,
    }
    for name in (
        "peak_memory",
        "total_duration",
        "tdi_percent",
        "reported_objective",
        "best_bound",
        "build_seconds",
        "solve_seconds",
        "wall_seconds",
        "max_rss_bytes",
    ):
        row[name] = result.get(name)
    row["bound_scope"] = _json(result.get("bound_scope"))
    row["staged_order"] = result.get("staged_order")
    row["model_size"] = _json(result.get("model_size"))
    row["violation"] = _json(result.get("violation"))
    for name in ("process_seconds", "memory_limit_bytes", "grace_seconds", "worker", "started_at", "finished_at"):
        row[name] = outcome.get(name)
    prov = outcome.get("provenance") or {}
    for name in PROVENANCE_COLUMNS:
        row[name] = prov.get(name)
    return row


def trajectory_rows(result: Mapping[str, Any] | None) -> list[tuple[float, float | None, float | None]]:
    """Merge the cost and bound trajectories into (seconds, last cost, last bound) events."""
    if not result:
        return []
    events = sorted(
        [(float(t), 0, float(c)) for t, c in result.get("trajectory") or ()]
        + [(float(t), 1, float(b)) for t, b in result.get("bound_trajectory") or ()]
    )
    rows: list[tuple[float, float | None, float | None]] = []
    cost = bound = None
    for seconds, kind, value in events:
        if kind == 0:
            cost = value
        else:
            bound = value
        if rows and rows[-1][0] == seconds:
            rows[-1] = (seconds, cost, bound)
        else:
            rows.append((seconds, cost, bound))
    return rows
