"""Heuristic schedules: no recomputation in a reference order (more strategies to come).

A heuristic never claims optimality: it returns `feasible` when its schedule fits the
budget (checked with the simulator) and `no_solution` when none of its tries fits.
"""

from __future__ import annotations

import time

import numpy as np

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param
from moccasin_bench.simulate import simulate

NAME = "heuristic"
DESCRIPTION = "schedules without a solver: no recomputation in a reference order"
ORDERS = ("stored", "topological", "memory-aware")
PARAMS = (
    Param("strategy", str, "no-recompute", "which heuristic", ("no-recompute",)),
    Param("order", str, "best", "reference order to follow, or best = the cheapest one that fits", ("best",) + ORDERS),
)


def candidate_orders(graph, which: str) -> dict[str, np.ndarray]:
    from moccasin_bench.orders import reference_order

    names = [which] if which != "best" else [o for o in ORDERS if o != "stored" or graph.stored_order is not None]
    return {name: reference_order(graph, name) for name in names}


def solve(problem: Problem) -> SolverOutput:
    g, budget = problem.graph, problem.budget.bytes
    t0 = time.perf_counter()
    best = None
    for name, order in candidate_orders(g, problem.params["order"]).items():
        sim = simulate(g, order)
        if sim.fits(budget) and (best is None or sim.peak_memory < best[1].peak_memory):
            best = (name, sim)
    seconds = time.perf_counter() - t0
    variant = {"strategy": problem.params["strategy"], "order": problem.params["order"]}
    if best is None:
        return SolverOutput(status="no_solution", solve_seconds=seconds, variant=variant,
                            message="no reference order fits the budget without recomputation")
    name, sim = best
    return SolverOutput(status="feasible", schedule=sim.schedule, objective=float(sim.total_duration),
                        trajectory=((problem.elapsed(), float(sim.total_duration)),), solve_seconds=seconds,
                        variant={**variant, "chosen_order": name})
