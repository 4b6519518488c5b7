"""Where an annealing run starts, and the rescue it takes when nothing fits: schedules from the
reference order and the project's staged heuristics, simulated and picked."""

from __future__ import annotations

import time

import numpy as np

from moccasin_bench.formulation import Problem
from moccasin_bench.graph import Graph


def start_schedules(
    graph: Graph, budget: int, order: np.ndarray, which: str, max_computations: int, deadline: float, fixed: bool
) -> list[tuple[str, np.ndarray]]:
    """Candidate start schedules: the reference order without recomputation; with
    which=heuristics also the project's staged schedules that fit (along the reference order
    in fixed mode, along every reference order and a reordered one in free mode)."""
    from formulations import _warm_start as heuristics

    out = [("no-recompute@reference", np.asarray(order, dtype=np.int64))]
    if which == "heuristics":
        out += heuristics.fitting_schedules(
            graph,
            budget,
            order=order if fixed else None,
            max_computations=max_computations,
            strategies=("no-recompute", "staged-greedy", "staged-repair"),
            deadline=deadline,
        )
    return out


def pick_start(graph: Graph, budget: int, candidates: list[tuple[str, np.ndarray]], cap: int):
    """The cheapest candidate that fits, else the one with the lowest peak, as (key, name,
    schedule, simulation), or None when no candidate is valid."""
    from moccasin_bench.simulate import simulate

    best = None
    for name, s in candidates:
        if np.any(np.bincount(s, minlength=graph.n) > cap):
            continue
        sim = simulate(graph, s)
        if not sim.valid:
            continue
        key = (0, sim.total_duration) if sim.peak_memory <= budget else (1, sim.peak_memory)
        if best is None or key < best[0]:
            best = (key, name, s, sim)
    return best


def first_computations(schedule: np.ndarray, n: int) -> np.ndarray:
    """The order of the nodes' first computations in a schedule."""
    first = np.zeros(n, dtype=bool)
    keep = np.zeros(len(schedule), dtype=bool)
    for j, v in enumerate(schedule.tolist()):
        if not first[v]:
            first[v] = keep[j] = True
    return schedule[keep]


def rescue(
    graph: Graph, budget: int, order: np.ndarray, over_budget: np.ndarray | None, K: int, deadline: float
) -> tuple[dict, np.ndarray | None]:
    """Staged repair (formulations/_checkpointing.py) until `deadline` (perf_counter), along
    the order of first computations of `over_budget` (free order: the best schedule over
    budget the search found) and along the reference order. Returns what it did (for the
    run's variant) and the cheapest fitting schedule, or None."""
    from formulations._checkpointing import staged_repair
    from moccasin_bench.simulate import simulate

    t0 = time.perf_counter()
    orders = [("reference", order)]
    if over_budget is not None:
        orders.insert(0, ("search", first_computations(over_budget, graph.n)))
    best = None
    tried = []
    for name, o in orders:
        if time.perf_counter() > deadline:
            break
        r = staged_repair(graph, o, budget, K, deadline=deadline, cleanup=False)
        sim = simulate(graph, r.schedule)
        fits = sim.fits(budget) and np.bincount(r.schedule, minlength=graph.n).max() <= K
        tried.append(name)
        if fits and (best is None or sim.total_duration < best[2]):
            best = (name, r.schedule, sim.total_duration)
    out = {"seconds": round(time.perf_counter() - t0, 3), "orders": tried, "fits": best is not None}
    if best is None:
        return out, None
    out["order"] = best[0]
    return out, best[1]


def with_initial(problem: Problem, candidates: list, cap: int, order: np.ndarray | None) -> tuple[list, dict]:
    """The initial schedule as one more start candidate when the search can load it: valid, at most `cap`
    computations per node, and (fixed order) staged along the reference order. The dict says what became of it."""
    from formulations._stage_grid import grid_positions
    from moccasin_bench.simulate import simulate

    g = problem.graph
    s = np.asarray(problem.initial_schedule, dtype=np.int64)
    sim = simulate(g, s)
    info: dict = {"steps": int(len(s)), "cost": int(sim.total_duration), "peak": int(sim.peak_memory)}
    most = int(np.bincount(s, minlength=g.n).max()) if len(s) else 0
    if not sim.valid:
        why = f"not executable: {sim.violation.describe()}"
    elif most > cap:
        why = f"it computes a node {most} times, more than max_computations = {cap}"
    elif order is not None and grid_positions(s, order) is None:
        why = f"it is not staged along the {problem.reference_order_name} order (the fixed-order grid)"
    else:
        return [("initial", s), *candidates], {**info, "used": True}
    return candidates, {**info, "used": False, "why": why}
