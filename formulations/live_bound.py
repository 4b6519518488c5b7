"""live-bound: a lower bound over all schedules (any order, any recomputation), beside a heuristic schedule.

The bound (formulations/_live_bound.py): at a node's first computation, the values computed only once
before it that still have a reader among its descendants are live; CP-SAT finds the cheapest
recomputations that bring every node's forced memory within the budget (`model=ancestors`: the
ancestors every order keeps live; `model=order`, the default: every value first computed before it
with a reader first computed after it, the order chosen by CP-SAT),
and Σ duration plus that least duration bounds every fitting schedule. It is stored as the run's `best_bound` with the scope
"any order, any recomputation", so the report's gap of every schedule of the cell uses it. The
schedule returned beside it is the cheapest of the heuristics (no recomputation, staged repair and
greedy along the reference orders, a reordering local search): `optimal` when it meets the bound.
"""

from __future__ import annotations

import time

import numpy as np

from moccasin_bench.formulation import BoundScope, Problem, SolverOutput
from moccasin_bench.params import Param
from moccasin_bench.simulate import schedule_cost

NAME = "live-bound"
DESCRIPTION = "a lower bound over all schedules (ancestors forced live unless recomputed; CP-SAT cover) + heuristics"
LABEL = "Live-value bound"
PARAMS = (
    Param(
        "bound_share",
        float,
        0.5,
        "share of the time limit for the bound; the heuristic schedule gets the rest",
        low=0,
        high=1,
        open_low=True,
    ),
    Param(
        "model",
        str,
        "order",
        "ancestors: the covering model only; order: also the model with first-computation positions (stronger)",
        ("order", "ancestors"),
    ),
    Param("schedule", str, "heuristics", "the schedule returned beside the bound", ("heuristics", "none")),
)


def solve(problem: Problem) -> SolverOutput:
    from formulations._live_bound import live_bound
    from formulations._warm_start import fitting_schedules

    g, budget, p = problem.graph, problem.budget.bytes, problem.params
    t0 = time.perf_counter()
    found = live_bound(
        g, budget, p["bound_share"] * problem.time_limit_seconds, problem.threads, problem.seed, p["model"]
    )
    variant = {
        "bound": found.status,
        "models": {m: {"status": s, "added_duration": b} for m, s, b in found.by_model},
        "rows": found.rows,
        "variables": found.variables,
        "bound_seconds": round(found.seconds, 3),
        "schedule": p["schedule"],
    }
    scope = BoundScope(None, None)
    if found.status == "infeasible":
        return SolverOutput(
            status="infeasible",
            solve_seconds=time.perf_counter() - t0,
            variant=variant,
            restrictions="none: any order, any recomputation",
            message="a node's inputs and output alone exceed the budget",
        )
    bound = None if found.added_duration is None else float(g.sum_duration + found.added_duration)
    bounds = () if bound is None else ((problem.elapsed(), bound),)
    fitting: list[tuple[str, np.ndarray]] = []
    if p["schedule"] == "heuristics":
        deadline = t0 + problem.time_limit_seconds
        strategies = ("no-recompute", "staged-repair", "staged-greedy", "local-search")
        fitting = fitting_schedules(g, budget, strategies=strategies, deadline=deadline)
    common = dict(
        best_bound=bound,
        bound_trajectory=bounds,
        solve_seconds=time.perf_counter() - t0,
        model_size={"variables": found.variables, "constraints": found.rows},
        restrictions="none: any order, any recomputation",
        bound_scope=None if bound is None else scope,
    )
    if not fitting:
        why = "no heuristic schedule fits" if p["schedule"] == "heuristics" else "bound only (schedule=none)"
        return SolverOutput(status="no_solution", variant=variant, message=why, **common)
    name, s = fitting[0]
    cost = float(schedule_cost(g, s))
    return SolverOutput(
        status="optimal" if bound is not None and cost <= bound else "feasible",
        schedule=s,
        objective=cost,
        trajectory=((problem.elapsed(), cost),),
        variant={**variant, "chosen": name},
        **common,
    )
