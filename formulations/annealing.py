"""Simulated annealing over schedules with recomputation, in the spirit of FastSA
(Imanishi et al., NeurIPS 2023), written from the method's description (docs/annealing.md).

The schedule lives in a row of time slots, some empty, so that a computation can be added,
removed or moved without shifting the others. Moves: add a computation of a node into an
empty slot before one of its readers (after its inputs' first computations), remove a
computation whose readers an earlier copy still serves, move a computation to another slot.
Objective max(budget, peak) x cost: memory is driven under the budget first, then cost
down. The peak is kept by a segment tree over the slots (range add, max), so a move costs
O(degree x log T) instead of a simulation. Geometric cooling within each cycle; each
restart resumes from the best schedule found. The move loop is compiled by numba
(`formulations/_anneal_kernel.py`, which says why).

This module holds the parameters and `solve`; the run's state is `_anneal_search.Search`, its
start schedules and rescue `_anneal_start`, its cycles and stopping `_anneal_cycles`.

`order=free` reorders; `order=fixed` keeps the reference order and only adds, removes and
moves recomputations on the stage grid (the fixed-order Moccasin model's grid), so its
schedules can warm-start that model. Deterministic for a seed and `max_moves` (unless the
time limit stops the run first); `move_budget` also frees the start and the rescue from the
clock, so that its results can be compared across machines. It claims optimality only for a fitting schedule without
recomputation (no schedule costs less), and stops there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.formulation import BoundScope, Problem, SolverOutput
from moccasin_bench.graph import Graph
from moccasin_bench.params import Param

NAME = "annealing"
LABEL = "Annealing"
KEY_PARAMS = ("order",)
DESCRIPTION = "simulated annealing over slotted schedules (add/remove/move computations; numba): free order or the reference order's stage grid"
STARTS = ("auto", "reference", "heuristics")
PARAMS = (
    Param(
        "order",
        str,
        "free",
        "free: any order (the search reorders); fixed: the reference order's stage grid, recomputations only",
        ("free", "fixed"),
    ),
    Param(
        "max_moves",
        int,
        0,
        "stop after this many proposed moves (0 = run to the time limit); with it set the "
        "schedule does not depend on wall time unless the time limit stops the run first",
        low=0,
        high=10**12,
    ),
    Param(
        "move_budget",
        int,
        0,
        "a limit that does not depend on the machine's load: stop after this many proposed moves, "
        "like max_moves, and give the heuristic start and the staged-repair rescue the whole time "
        "limit instead of a share of it; the time limit only guards (a run it stops says "
        "stopped_by=time). 0 = off; not together with max_moves",
        keyed_at_default=False,  # added after runs were stored: their keys stay
        low=0,
        high=10**12,
    ),
    Param(
        "restarts",
        int,
        3,
        "restarts from the best schedule (cycles = restarts + 1; the temperature falls from "
        "t_start to t_end in each; the first cycle gets 40 % of the moves or time, the others equal shares)",
        low=0,
        high=1000,
    ),
    Param(
        "t_start",
        float,
        1.0,
        "temperature at the start of a cycle, in mean node durations (an addition of a "
        "mean-duration node within the budget is accepted with probability e^-1/t)",
        low=1e-6,
        high=1e6,
    ),
    Param("t_end", float, 0.01, "temperature at the end of a cycle (0 < t_end <= t_start)", low=1e-6, high=1e6),
    Param(
        "heat",
        float,
        4.0,
        "temperatures are multiplied by this while nothing fits (memory moves need more "
        "heat to climb out of a peak than cost moves)",
        low=1e-3,
        high=1000,
    ),
    Param("p_add", float, 0.3, "share of proposals that add a computation", low=0, high=1),
    Param("p_remove", float, 0.3, "share of proposals that remove one (the rest move one)", low=0, high=1),
    Param(
        "memory_weight",
        float,
        1.0,
        "omega: the objective is max(budget, peak)^omega x cost (1 = FastSA's "
        "product); while nothing fits, omega doubles with every new cycle",
        low=1e-3,
        high=100,
    ),
    Param(
        "smooth",
        float,
        1.0,
        "while nothing fits, judge memory by a smooth peak, budget + tau ln(sum of "
        "exp((memory - budget) / tau)) over the steps, tau = this many mean node sizes (0 = the plain peak)",
        low=0,
        high=1000,
    ),
    Param(
        "count_weight",
        float,
        0.0,
        "over the budget, at an unchanged peak: cost of one more step at the peak, in "
        "mean node durations (breaks the plateaus of the max)",
        low=0,
        high=1e6,
    ),
    Param(
        "p_focus",
        float,
        0.0,
        "over the budget: share of proposals aimed at the peak step (recompute or move "
        "a value live across it to after it)",
        low=0,
        high=1,
    ),
    Param(
        "local", float, 0.7, "share of additions and moves that stay near the reader / the current slot", low=0, high=1
    ),
    Param("span", int, 0, "reach of a local move: slots (free) or stages (fixed); 0 = automatic", low=0, high=10**6),
    Param("max_computations", int, 0, "at most this many computations per node (0 = up to 64)", low=0, high=1000),
    Param("slack", int, 4, "free order: slots per computation when the schedule is spread out (>= 2)", low=2, high=256),
    Param(
        "start",
        str,
        "auto",
        "reference: the reference order without recomputation; heuristics: the cheapest "
        "fitting schedule of the project's staged heuristics if one fits (slower start); auto: reference, and "
        "staged repair before the last cycle if nothing fits by then",
        STARTS,
    ),
    Param(
        "debug", bool, False, "check the incremental state against a from-scratch computation after every move (slow)"
    ),
)

DEFAULT_MAX_COMPUTATIONS = 64
FOCUS_TRIES = 16  # random nodes looked at per move aimed at the peak
START_SHARE = 0.2  # of the time limit, for the heuristic start (start=heuristics)


def validate(p) -> None:
    """Raise UserError (one line) for a parameter out of range."""

    def bad(name: str, rule: str) -> None:
        raise UserError(f"parameter {name!r} of formulation 'annealing' must be {rule}, got {p[name]!r}")

    if p["max_moves"] < 0:
        bad("max_moves", ">= 0")
    if p["move_budget"] < 0:
        bad("move_budget", ">= 0")
    if p["move_budget"] and p["max_moves"]:
        raise UserError(
            "parameters 'max_moves' and 'move_budget' of formulation 'annealing' exclude each other (set one, "
            f"the other 0), got {p['max_moves']!r} and {p['move_budget']!r}"
        )
    if p["restarts"] < 0:
        bad("restarts", ">= 0")
    for name in ("t_start", "t_end", "heat"):
        if not (math.isfinite(p[name]) and p[name] > 0):
            bad(name, "a number > 0")
    if p["t_end"] > p["t_start"]:
        raise UserError(
            f"parameter 't_end' of formulation 'annealing' must be <= t_start ({p['t_start']!r}), got {p['t_end']!r}"
        )
    if not (math.isfinite(p["memory_weight"]) and p["memory_weight"] > 0):
        bad("memory_weight", "a number > 0")
    if not (math.isfinite(p["smooth"]) and p["smooth"] >= 0):
        bad("smooth", "a number >= 0")
    if not (math.isfinite(p["count_weight"]) and p["count_weight"] >= 0):
        bad("count_weight", "a number >= 0")
    for name in ("p_add", "p_remove", "local", "p_focus"):
        if not (0.0 <= p[name] <= 1.0):
            bad(name, "in [0, 1]")
    if p["p_add"] + p["p_remove"] > 1.0 + 1e-12:
        raise UserError(
            f"parameters 'p_add' + 'p_remove' of formulation 'annealing' must be <= 1, got {p['p_add'] + p['p_remove']!r}"
        )
    if p["span"] < 0:
        bad("span", ">= 0")
    if p["max_computations"] < 0:
        bad("max_computations", f">= 0 (0 = up to {DEFAULT_MAX_COMPUTATIONS})")
    if p["slack"] < 2:
        bad("slack", ">= 2")


def check(params: Mapping[str, Any], graph: Graph) -> None:
    """Parameter ranges, checked when a run is planned (so `solve` and `sweep --dry-run` refuse them)."""
    validate(params)


# ---- the formulation --------------------------------------------------------------------------------


def solve(problem: Problem) -> SolverOutput:
    """Start from the best start schedule, anneal in cycles (`_anneal_cycles`), return the best
    schedule within the budget."""
    from formulations._anneal_start import pick_start, start_schedules, with_initial

    p = problem.params
    validate(p)
    g, budget = problem.graph, int(problem.budget.bytes)
    limit = float(problem.time_limit_seconds)
    fixed = p["order"] == "fixed"
    K = int(p["max_computations"]) or DEFAULT_MAX_COMPUTATIONS
    clock_free = p["move_budget"] > 0
    variant = _variant(p, K, problem.seed)
    order, order_name = _reference_order(problem)
    if fixed:
        variant["order_followed"] = order_name
        restrictions = f"fixed order along the {order_name} order (stage grid), at most {K} computations per node; heuristic search: optimal only without recomputation"
    else:
        restrictions = (
            f"free order, at most {K} computations per node; heuristic search: optimal only without recomputation"
        )
    # exact int64 costs: the largest schedule's cost must fit
    if g.sum_duration > 0 and int(g.duration.max()) * K * g.n >= (1 << 62):
        return SolverOutput(
            status="error",
            variant=variant,
            restrictions=restrictions,
            message="durations too large for exact 64-bit costs with this many computations per node",
        )

    t0 = time.perf_counter()
    deadline = problem.started_at + (1.0 if clock_free else START_SHARE) * limit
    candidates = start_schedules(g, budget, order, p["start"], K, deadline, fixed)
    if problem.initial_schedule is not None:
        candidates, variant["initial"] = with_initial(problem, candidates, K, order if fixed else None)
    chosen = pick_start(g, budget, candidates, K)
    if chosen is None:
        return SolverOutput(
            status="error", variant=variant, restrictions=restrictions, message="no valid start schedule"
        )
    (_, start_name, start, start_sim) = chosen
    if "initial" in variant:
        variant["initial"]["chosen"] = start_name == "initial"
    variant["start_schedule"] = {"name": start_name, "cost": start_sim.total_duration, "peak": start_sim.peak_memory}
    if clock_free and p["start"] == "heuristics":
        variant["start_schedule"]["cut_by_the_time_limit"] = time.perf_counter() > deadline
    trajectory: list[tuple[float, float]] = []
    search, mv, jit_seconds = _prepare(problem, p, K, order if fixed else None, start, start_sim, variant, trajectory)
    variant["jit_seconds"] = round(jit_seconds, 3)
    build_seconds = time.perf_counter() - t0

    from formulations._anneal_cycles import Cooling, run_cycles

    cooling = Cooling(
        cycles=int(p["restarts"]) + 1,
        t_start=float(p["t_start"]),
        t_end=float(p["t_end"]),
        heat=float(p["heat"]),
        memory_weight=float(p["memory_weight"]),
        smooth=p["smooth"] > 0,
        rescue=p["start"] == "auto",
        max_moves=int(p["max_moves"]) or int(p["move_budget"]),
        clock_free=clock_free,
    )
    outcome = run_cycles(search, problem, cooling, mv, order, trajectory)
    return _output(
        search,
        outcome,
        variant,
        restrictions,
        trajectory,
        build_seconds,
        debug=p["debug"],
        staged_order=order_name if fixed else None,
    )


def _variant(p: Mapping[str, Any], K: int, seed: int) -> dict:
    """The run's settings as the result reports them."""
    variant = {
        "order": p["order"],
        "max_computations": K,
        "restarts": int(p["restarts"]),
        "t_start": p["t_start"],
        "t_end": p["t_end"],
        "heat": p["heat"],
        "p_add": p["p_add"],
        "p_remove": p["p_remove"],
        "memory_weight": p["memory_weight"],
        "smooth": p["smooth"],
        "count_weight": p["count_weight"],
        "p_focus": p["p_focus"],
        "local": p["local"],
        "start": p["start"],
        "seed": seed,
        "max_moves": int(p["max_moves"]),
    }
    if p["move_budget"]:
        variant["move_budget"] = int(p["move_budget"])
    return variant


def _reference_order(problem: Problem) -> tuple[np.ndarray, str]:
    """The problem's reference order (dense indices) and its name."""
    from moccasin_bench.orders import default_order_name, reference_order

    name = problem.reference_order_name
    if name == "default":
        name = default_order_name(problem.graph)
    return np.asarray(reference_order(problem.graph, name), dtype=np.int64), name


def _prepare(problem: Problem, p, K: int, fixed_order, start, start_sim, variant: dict, trajectory: list):
    """The search loaded with the start schedule (kept as the best one when it fits), the move
    parameters, and the seconds the kernels took to import and compile or load from numba's cache."""
    g, budget = problem.graph, int(problem.budget.bytes)
    t_import = time.perf_counter()
    from formulations import _anneal_kernel as ak
    from formulations._anneal_search import Search, moves

    search = Search.create(g, budget, fixed_order is not None, K, int(p["slack"]), fixed_order)
    search.load(start)
    import_seconds = time.perf_counter() - t_import
    if start_sim.peak_memory <= budget:
        search.keep_as_best(start_sim.total_duration, start_sim.peak_memory)
        trajectory.append((problem.elapsed(), float(start_sim.total_duration)))
        problem.notify(float(start_sim.total_duration))
    search.note_peak(start_sim.peak_memory)

    span = int(p["span"]) or (8 if search.fixed else 3 * int(p["slack"]))
    variant["span"] = span
    mv = moves(
        p_add=p["p_add"],
        p_remove=p["p_remove"],
        mean=g.sum_duration / g.n if g.sum_duration > 0 else 1.0,
        local=p["local"],
        omega=p["memory_weight"],
        count_weight=p["count_weight"],
        p_focus=p["p_focus"],
        span=span,
        debug=p["debug"],
        tries=FOCUS_TRIES,
    )
    sizes = g.memory[g.memory > 0]
    tau = max(
        float(p["smooth"]) * (float(sizes.mean()) if len(sizes) else 1.0), (start_sim.peak_memory - budget) / 500.0, 1.0
    )  # exp((memory - budget) / tau) stays in float range
    search.trees.sf[ak.F_INV_TAU] = 1.0 / tau
    if p["smooth"] > 0:
        variant["smooth_tau"] = round(tau, 3)

    # compile (or load from the cache) with a zero-move call: its time is reported apart
    t_jit = time.perf_counter()
    ak.seed(int(problem.seed) & 0xFFFFFFFF)
    search.run(0, 1.0, 1.0, mv)
    return search, mv, time.perf_counter() - t_jit + import_seconds


def _output(
    search,
    outcome,
    variant: dict,
    restrictions: str,
    trajectory: list,
    build_seconds: float,
    debug: bool,
    staged_order: str | None,
):
    """The run's result: the best schedule within the budget, or the smallest peak reached;
    `staged_order` names the order whose stage grid holds the schedule (fixed order)."""
    from formulations import _anneal_kernel as ak

    g, budget = search.graph, int(search.sc[ak.S_BUDGET])
    cn = search.cn
    if outcome.rescue is not None:
        variant["rescue"] = outcome.rescue
    variant.update(
        {
            "moves_proposed": int(cn[ak.C_PROPOSED]),
            "moves_decided": int(cn[ak.C_DECIDED]),
            "moves_applied": int(cn[ak.C_APPLIED]),
            "moves_accepted": int(cn[ak.C_ACCEPTED]),
            "accepted_add_remove_move": [int(x) for x in cn[ak.C_ACCEPTED_KIND : ak.C_ACCEPTED_KIND + 3]],
            "best_improvements": int(cn[ak.C_IMPROVED]),
            "cycles": outcome.cycles,
            "stopped_by": outcome.stopped_by,
            "moves_per_second": round(outcome.moves / outcome.seconds) if outcome.seconds > 0 else None,
            "least_peak": search.least_peak,
        }
    )
    if debug:
        variant["debug_failures"] = int(cn[ak.C_DEBUG_FAILURES])
    common = dict(
        trajectory=tuple(trajectory),
        build_seconds=build_seconds,
        solve_seconds=outcome.seconds,
        variant=variant,
        restrictions=restrictions,
        model_size={"slots": int(search.sc[ak.S_SLOTS]), "nodes": g.n},
        staged_order=staged_order,  # the fixed order's stage grid: its bounds cover these
    )
    if not search.found:
        return SolverOutput(
            status="no_solution",
            message=f"no schedule within the budget {budget:,}; the smallest peak "
            f"reached was {search.least_peak:,} ({100.0 * search.least_peak / max(budget, 1):.2f} % of the budget)",
            **common,
        )
    schedule = search.schedule(best=True)
    cost = int(g.duration[schedule].sum())
    if cost == g.sum_duration:
        return SolverOutput(
            status="optimal",
            schedule=schedule,
            objective=float(cost),
            best_bound=float(cost),
            bound_scope=BoundScope(),  # every schedule computes each node at least once
            message="no recomputation: optimal among all schedules (each computes every node at least once)",
            **common,
        )
    return SolverOutput(status="feasible", schedule=schedule, objective=float(cost), **common)
