"""The `heuristic` formulation: schedules without a solver (the algorithms live in
_warm_start.py and _checkpointing.py, which the solver formulations' warm starts share).

Strategies (param `strategy`):
- `no-recompute`: each reference order run once, no recomputation;
- `staged-repair`: start from no recomputation along an order and add the recomputation
  with the best overflow reduction per unit of duration until the schedule fits;
- `staged-greedy`: walk the order, keep what fits, evict by a rule, recompute on demand;
- `chen-sqrt`, `chen-greedy`: Chen et al.'s checkpointing generalised to DAGs;
- `local-search`: anneal the order (single-node moves within their windows) to bring the
  no-recomputation peak under the budget, then repair along the best order found;
- `best`: all of the above, the cheapest schedule that fits.

A heuristic never claims optimality: `feasible` when the simulator says its schedule fits,
`no_solution` when none fits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.orders import REFERENCE_ORDERS
from moccasin_bench.params import Param
from moccasin_bench.simulate import schedule_cost, simulate

NAME = "heuristic"
DESCRIPTION = (
    "schedules without a solver: no recomputation, staged repair/greedy, Chen checkpointing, reordering local search"
)
LABEL = "Heuristic"
KEY_PARAMS = ("strategy",)
STRATEGIES = ("best", "no-recompute", "staged-repair", "staged-greedy", "chen-sqrt", "chen-greedy", "local-search")
PARAMS = (
    Param("strategy", str, "best", "which heuristic (best = all, keep the cheapest that fits)", STRATEGIES),
    Param("order", str, "best", "order to follow, or best = try every reference order", ("best",) + REFERENCE_ORDERS),
    Param("max_computations", int, 0, "at most this many computations per node (0 = no limit)", low=0, high=10**6),
)


def label(params: Mapping[str, Any]) -> str:
    """The report's name: "Heuristic (best of all)", "Heuristic (chen-sqrt)"."""
    strategy = params.get("strategy", "best")
    return f"{LABEL} ({'best of all' if strategy == 'best' else strategy})"


def solve(problem: Problem) -> SolverOutput:
    from formulations._warm_start import candidate_orders, fits, reordered, schedules_along

    g, budget = problem.graph, problem.budget.bytes
    p = problem.params
    t0 = time.perf_counter()
    deadline = t0 + problem.time_limit_seconds
    cap = int(p["max_computations"])
    strategy = p["strategy"]
    strategies = STRATEGIES[1:] if strategy == "best" else (strategy,)
    found: list[tuple[str, np.ndarray]] = []
    orders = candidate_orders(g, p["order"])
    for oname, o in orders.items():
        for name, s in schedules_along(g, o, budget, [x for x in strategies if x != "local-search"], cap, deadline):
            found.append((f"{name}@{oname}", s))
    if "local-search" in strategies:
        o = reordered(g, budget, list(orders.values()), deadline=deadline, seed=problem.seed)
        found.append(("no-recompute@local-search", o))
        if not simulate(g, o).fits(budget):
            for name, s in schedules_along(g, o, budget, ["staged-repair"], cap, deadline):
                found.append((f"{name}@local-search", s))
    seconds = time.perf_counter() - t0
    fitting = [(n, s) for n, s in found if fits(g, s, budget, cap)]
    variant = {"strategy": strategy, "order": p["order"], "max_computations": cap, "tried": len(found)}
    if not fitting:
        return SolverOutput(
            status="no_solution",
            solve_seconds=seconds,
            variant=variant,
            message=f"none of the {len(found)} heuristic schedules fits the budget",
        )
    name, s = min(fitting, key=lambda x: (schedule_cost(g, x[1]), len(x[1])))
    cost = float(schedule_cost(g, s))
    return SolverOutput(
        status="feasible",
        schedule=s,
        objective=cost,
        trajectory=((problem.elapsed(), cost),),
        solve_seconds=seconds,
        variant={**variant, "chosen": name},
        restrictions="heuristic: no optimality claim",
    )
