"""A sweep's plan: every run of a config (graphs loaded, budgets and parameters resolved,
equal runs merged by key), what of it a store already holds, and the dry-run listing."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moccasin_bench.errors import UserError
from moccasin_bench.progress import clock
from moccasin_bench.runner import RunSpec, format_size, make_spec
from moccasin_bench.sweep.config import Grid, SweepConfig

if TYPE_CHECKING:
    from moccasin_bench.graph import Graph


@dataclass
class Plan:
    """The runs of a config, deduplicated by key, with the graphs they use."""

    config: SweepConfig
    runs: list[RunSpec]
    graphs: dict[str, Any]  # content hash -> Graph
    duplicates: int = 0
    axes: dict[str, int] = field(default_factory=dict)  # distinct values per axis, for the summary

    def graph_of(self, spec: RunSpec) -> Graph:
        return self.graphs[spec.graph_hash]


def _load_graph(entry: str, config: SweepConfig, key: str):
    from moccasin_bench.sources import load_graph

    local = config.path.parent / entry
    target = local if local.is_file() else entry
    try:
        return load_graph(target, config.data_dir)
    except UserError as exc:
        raise UserError(f"key '{key}': graph {entry!r}: {exc}", str(config.path)) from None


def plan(config: SweepConfig) -> Plan:
    """Load every graph, resolve every budget and parameter, and list the runs (deduplicated)."""
    from moccasin_bench.budget import resolve_budget

    loaded: dict[str, Any] = {}
    graphs: dict[str, Any] = {}
    budgets: dict[tuple, Any] = {}
    runs: dict[str, RunSpec] = {}
    total = 0
    axes: dict[str, set] = {k: set() for k in ("graphs", "budgets", "formulations", "seeds", "time_limits", "threads")}
    for grid in config.grids:
        for entry in grid.graphs:
            if entry not in loaded:
                loaded[entry] = _load_graph(entry, config, grid.key_names["graphs"])
            graph = loaded[entry]
            graphs.setdefault(graph.content_hash, graph)
            for (kind, value), order, fentry in itertools.product(
                grid.budgets, grid.reference_orders, grid.formulations
            ):
                bkey = (graph.content_hash, kind, value, order)
                if bkey not in budgets:
                    try:
                        budgets[bkey] = (
                            resolve_budget(graph, fraction=value, order_name=order)
                            if kind == "fraction"
                            else resolve_budget(graph, minimum=value, order_name=order)
                            if kind == "minimum"
                            else resolve_budget(graph, absolute=value)
                        )
                    except UserError as exc:
                        raise UserError(
                            f"key '{grid.key_names['reference_orders']}': graph {entry!r}: {exc.problem}",
                            str(config.path),
                        ) from None
                budget = budgets[bkey]
                for params, limit, threads, seed, gap in itertools.product(
                    list(fentry.settings()), grid.time_limits, grid.threads, grid.seeds, grid.gaps
                ):
                    try:
                        spec = make_spec(
                            graph,
                            budget,
                            fentry.name,
                            params,
                            time_limit_seconds=limit,
                            threads=threads,
                            seed=seed,
                            relative_gap=gap,
                            reference_order=order,
                            graph_source=entry,
                        )
                    except UserError as exc:
                        raise UserError(f"key '{fentry.where}': {exc.problem}", str(config.path)) from None
                    total += 1
                    runs.setdefault(spec.key, spec)
                    for name, v in (
                        ("graphs", graph.content_hash),
                        ("budgets", (kind, value)),
                        ("seeds", seed),
                        ("formulations", (fentry.name, tuple(sorted(params.items())))),
                        ("time_limits", limit),
                        ("threads", threads),
                    ):
                        axes[name].add(v)
    return Plan(
        config=config,
        runs=list(runs.values()),
        graphs=graphs,
        duplicates=total - len(runs),
        axes={k: len(v) for k, v in axes.items()},
    )


def to_run(plan_: Plan, stored: Mapping[str, str], retry: Iterable[str] = ()) -> list[RunSpec]:
    """Runs of the plan that are not stored yet, or whose stored status is in `retry`."""
    retry = set(retry)
    return [s for s in plan_.runs if s.key not in stored or stored[s.key] in retry]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def grid_formula(grid: Grid) -> tuple[int, str]:
    """A grid's run count and the product it comes from, naming only axes with more than one value
    (graphs, budgets and formulation settings always): (16, "2 graphs x 2 budgets x 4 formulation settings")."""
    settings = sum(math.prod(len(v) for v in f.params.values()) for f in grid.formulations)
    factors = [
        (len(grid.graphs), "graph", True),
        (len(grid.budgets), "budget", True),
        (len(grid.reference_orders), "reference order", False),
        (settings, "formulation setting", True),
        (len(grid.time_limits), "time limit", False),
        (len(grid.threads), "thread count", False),
        (len(grid.seeds), "seed", False),
        (len(grid.gaps), "gap", False),
    ]
    text = " x ".join(_plural(n, word) for n, word, always in factors if always or n > 1)
    return math.prod(n for n, _, _ in factors), text


def _non_default_params(spec: RunSpec) -> dict:
    """The run's parameters that differ from the formulation's defaults (all of them if it cannot be loaded)."""
    from moccasin_bench.formulation import formulation_module

    try:
        defaults = {p.name: p.default for p in formulation_module(spec.formulation).PARAMS}
    except Exception:  # the listing must not fail on a formulation that cannot load here
        return dict(spec.params)
    return {k: v for k, v in spec.params.items() if k not in defaults or defaults[k] != v}


def run_line(spec: RunSpec) -> str:
    """One run in a few words: graph, budget, formulation with its non-default parameters, limits."""
    budget = (
        f"{100 * spec.budget_fraction:g} % ({spec.budget_bytes:,} B, {spec.reference_order})"
        if spec.budget_fraction is not None
        else f"{spec.budget_bytes:,} B"
    )
    params = ",".join(f"{k}={v}" for k, v in sorted(_non_default_params(spec).items()))
    return (
        f"{spec.graph_name} {budget} {spec.formulation}{'[' + params + ']' if params else ''} "
        f"{spec.time_limit_seconds:g} s, {_plural(spec.threads, 'thread')}, seed {spec.seed}"
        + (f", gap {spec.relative_gap:g}" if spec.relative_gap else "")
        + (f", initial {len(spec.initial)} steps" if spec.initial is not None else "")
    )


def describe_plan(
    plan_: Plan, stored: Mapping[str, str], retry: Iterable[str] = (), store_path: str = "", jobs: int = 1
) -> str:
    """The dry-run listing: the grid's size (how it adds up), then each run, its key and whether it is done."""
    cfg = plan_.config
    todo = {s.key for s in to_run(plan_, stored, retry)}
    formulas = [grid_formula(g) for g in cfg.grids]
    total = sum(n for n, _ in formulas)
    merged = f", {total - len(plan_.runs):,} equal runs merged" if total != len(plan_.runs) else ""
    if len(formulas) == 1:
        lines = [f"sweep {cfg.name!r} ({cfg.path}): {len(plan_.runs):,} runs = {formulas[0][1]}{merged}"]
    else:
        lines = [
            f"sweep {cfg.name!r} ({cfg.path}): {len(plan_.runs):,} runs from {len(formulas)} grids{f' ({total:,}{merged})' if merged else ''}:"
        ]
        for g, (n, text) in zip(cfg.grids, formulas):
            names = ", ".join(g.graphs)
            names = names if len(names) <= 40 else names[:39] + "…"
            lines.append(f"  {g.where} ({names}): {text} = {n:,}")
    limit_seconds = sum(s.time_limit_seconds for s in plan_.runs if s.key in todo)
    lines.append(
        f"store {store_path}: {len(plan_.runs) - len(todo)} done, {len(todo)} to run"
        f" (at most {clock(limit_seconds / max(1, jobs))} of solver time limits with {jobs} job(s))"
    )
    mem = (
        "default (80 % of RAM / concurrent runs)"
        if cfg.memory_limit_bytes is None
        else format_size(cfg.memory_limit_bytes)
    )
    grace = "default (30 s + 25 % of the limit)" if cfg.grace_seconds is None else f"{cfg.grace_seconds:g} s"
    lines.append(f"limits per run: memory {mem}; kill at time limit + grace, grace {grace}")
    lines.append("runs (parameters at their defaults not shown; the key in brackets):")
    for s in plan_.runs:
        state = "to run" if s.key in todo else "done"
        status = stored.get(s.key, "")
        lines.append(f"  {state:6} {status:11} {run_line(s)}  [{s.key}]")
    return "\n".join(lines)
