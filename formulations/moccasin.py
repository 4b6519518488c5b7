"""The Moccasin formulation: retention intervals in CP-SAT, warm-started from heuristics.

Pipeline: (1) heuristic schedules that fit the budget and that the model can express
(staged along the fixed order, at most C computations per node) -> the cheapest is the
hint; (2) with no such schedule, or with `phases=2`, a first phase minimises the
cumulative capacity (memory over the budget) from the least-overflow heuristic schedule,
and its first solution within the budget hints the second; (3) the cost phase minimises
the duration of the optional copies. The model itself is in `_moccasin_model`, the window search in `_moccasin_search`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.formulation import BoundScope, Problem, SolverOutput
from moccasin_bench.graph import TOTAL_LIMIT, Graph
from moccasin_bench.params import Param
from moccasin_bench.simulate import schedule_cost

NAME = "moccasin"
# search=auto: one CP-SAT solve up to this many variables (it proves RL2 90 % optimal in ~150 s on
# 2 threads, and improves RL2 80 % as well as the window search); window search above (RL3, RL4,
# where CP-SAT's presolve alone takes tens of seconds and its own neighbourhoods rarely improve)
LARGE_MODEL_VARIABLES = 8000
DESCRIPTION = "Moccasin CP-SAT model: C retention intervals per node, fixed (stage grid) or free order"
LABEL = "Moccasin"
KEY_PARAMS = ("order",)
PARAMS = (
    Param(
        "order",
        str,
        "fixed",
        "fixed: the paper's stage grid along the reference order; free: any order",
        ("fixed", "free"),
    ),
    Param("copies", int, 2, "C: retention intervals (= computations) per node", low=1, high=1000),
    Param("copies_per_node", str, "", "per-node C overrides as id=k,id=k (ids as in the graph file)"),
    Param(
        "precedence",
        str,
        "latest",
        "latest: one literal per later copy of the input (is it the latest before the reader?); "
        "literals: one literal per (input copy, reader copy) pair; reservoir: the authors' reservoir constraints",
        ("latest", "literals", "reservoir"),
    ),
    Param(
        "phases",
        str,
        "auto",
        "1: minimise cost directly; 2: first bring memory within the budget, then cost; "
        "auto: 2 only when no warm start fits",
        ("auto", "1", "2"),
    ),
    Param(
        "warm_start",
        str,
        "heuristics",
        "heuristics: hint the cheapest fitting heuristic schedule; annealing: run the annealer (same order, at most "
        "`copies` computations per node) for heuristic_share of the time and hint its schedule; none: no hint",
        ("heuristics", "none", "annealing"),
    ),
    Param("horizon", int, 0, "free order: number of time steps (0 = total copies, which restricts nothing)", low=0),
    Param(
        "end_domain",
        str,
        "bounds",
        "bounds: interval ends in a range; readers (fixed order): only just after a possible reader",
        ("bounds", "readers"),
    ),
    Param(
        "time_axis",
        str,
        "strided",
        "fixed order: number grid events stage*n + position (strided) or "
        "stage*(stage+1)/2 + position (triangular, the paper's); same model, strided presolves faster",
        ("strided", "triangular"),
    ),
    Param(
        "lengths",
        str,
        "free",
        "free: any interval length; paper: the authors' 5n log-spaced lengths (restricts the model)",
        ("free", "paper"),
    ),
    Param("symmetry", bool, True, "absent copies take fixed canonical times"),
    Param("gcd", bool, True, "divide durations and sizes by their GCDs"),
    Param(
        "heuristic_share",
        float,
        0.3,
        "at most this share of the time limit goes to warm-start heuristics",
        low=0,
        high=1,
    ),
    Param(
        "search",
        str,
        "auto",
        "cpsat: one CP-SAT solve; lns: window neighbourhood search, then a CP-SAT solve "
        "for the last 10 % of the time; auto: cpsat up to 8000 model variables, lns above",
        ("auto", "cpsat", "lns"),
    ),
    Param("cpsat", str, "", "extra CP-SAT parameters, name=value;name=value (e.g. linearization_level=2)"),
)


def copies_per_node(graph: Graph, default: int, overrides: str) -> np.ndarray:
    """C_v for every node from the default and an 'id=k,id=k' override list."""
    if default < 1:
        raise UserError(f"parameter 'copies' of formulation 'moccasin' must be at least 1, got {default}")
    c = np.full(graph.n, int(default), dtype=np.int64)
    for item in filter(None, (x.strip() for x in overrides.split(","))):
        key, sep, value = item.rpartition("=")
        if not sep:
            raise UserError(f"copies_per_node: expected id=k, got {item!r}")
        node = key.strip()
        candidates = [node] + ([int(node)] if node.lstrip("-").isdigit() else [])
        index = next((graph.index_of(x) for x in candidates if graph.has_node(x)), None)
        if index is None:
            raise UserError(f"copies_per_node: unknown node id {node!r}")
        try:
            k = int(value)
        except ValueError:
            raise UserError(f"copies_per_node: {item!r} needs an integer count") from None
        if k < 1:
            raise UserError(f"copies_per_node: node {node!r} needs at least 1 copy, got {k}")
        c[index] = k
    return c


def _restrictions(p, order_name: str, copies: np.ndarray, horizon: int) -> str:
    c = (
        f"at most {int(copies.max())} computations per node"
        if np.all(copies == copies.max())
        else f"at most C_v computations per node (C_v from {int(copies.min())} to {int(copies.max())})"
    )
    where = (
        f"fixed order along the {order_name} order (stage grid)"
        if p["order"] == "fixed"
        else f"free order over {horizon} time steps"
    )
    extra = ", interval lengths from the authors' log-spaced set" if p["lengths"] == "paper" else ""
    return f"{where}, {c}{extra}"


def solve(problem: Problem) -> SolverOutput:
    """The model solved within the time limit. When building or solving it runs out of memory (a run's memory
    cap on a very large model), the fitting warm start already found is reported, not lost."""
    salvage: dict[str, Any] = {}
    try:
        return _scoped(problem, _solve(problem, salvage))
    except MemoryError:
        hint = salvage.get("hint")
        if hint is None:
            raise
        variant = {**salvage.get("variant", {}), "out_of_memory": True}
        out = SolverOutput(
            status="feasible",
            schedule=hint[1],
            objective=float(hint[2]),
            trajectory=((salvage.get("at_seconds", 0.0), float(hint[2])),),
            build_seconds=salvage.get("build_seconds", 0.0),
            model_size=salvage.get("size", {}),
            variant=variant,
            message=f"the model ran out of memory after {problem.elapsed():.0f} s (building or solving it); the schedule "
            f"reported is the warm start's ({hint[0]}): whatever the model had found was lost with it",
        )
        return _scoped(problem, out)


def _scoped(problem: Problem, out: SolverOutput) -> SolverOutput:
    """`out` with the scope of its bound: at most C computations per node, staged along the reference order in
    fixed order (any order in free order); none with per-node copies, the authors' lengths or a horizon, whose
    scopes are narrower than the report checks."""
    p = problem.params
    staged = problem.reference_order_name if p["order"] == "fixed" else None
    narrower = bool(p["copies_per_node"]) or p["lengths"] == "paper" or int(p["horizon"]) > 0
    scope = None if narrower or out.best_bound is None else BoundScope(staged, int(p["copies"]))
    return dataclasses.replace(out, bound_scope=scope, staged_order=staged)


def _solve(problem: Problem, salvage: dict[str, Any]) -> SolverOutput:
    from formulations import _cpsat
    from formulations import _moccasin_model as mm
    from formulations._warm_start import warm_start
    from moccasin_bench.orders import reference_order

    g, budget, p = problem.graph, problem.budget.bytes, problem.params
    limit = problem.time_limit_seconds
    copies = copies_per_node(g, p["copies"], p["copies_per_node"])
    fixed = p["order"] == "fixed"
    order_name = problem.reference_order_name
    order = reference_order(g, order_name) if fixed else None
    variant: dict = {
        "order": p["order"],
        "copies": int(p["copies"]),
        "copies_overridden": int(np.sum(copies != p["copies"])),
        "precedence": p["precedence"],
        "time_axis": p["time_axis"],
        "end_domain": p["end_domain"],
        "lengths": p["lengths"],
        "symmetry": p["symmetry"],
        "search": p["search"],
        "cpsat": p["cpsat"],
        "threads": problem.threads,
    }
    if fixed:
        variant["order_followed"] = order_name
    extra = _search_params(p, problem)
    options = _model_options(p)
    variant["time_axis"] = options.time_axis

    # ---- starting points: the given initial schedule, heuristic schedules (fitting ones, and the closest
    # miss for phase 1) ---------------------------------------------------------------------------------
    notes: list[str] = []
    given = None  # (name, schedule) of an initial schedule the model can express
    given_closest = None
    if problem.initial_schedule is not None:
        given, given_closest, copies = _use_initial(problem, copies, options, order, variant, notes)
    start = None
    if p["warm_start"] == "annealing":
        from formulations._warm_start import annealed_start

        annealed, variant["annealing"] = annealed_start(problem, fixed, int(p["copies"]), p["heuristic_share"])
        if annealed is not None:
            given = min(
                [x for x in (given, ("annealing", annealed)) if x is not None],
                key=lambda x: int(g.duration[x[1]].sum()),
            )
        else:
            notes.append(f"the annealer found no fitting schedule ({variant['annealing']['status']})")
    if p["warm_start"] == "heuristics":
        start = warm_start(
            g, budget, order, max_computations=copies, deadline=problem.started_at + p["heuristic_share"] * limit
        )

    # ---- build ------------------------------------------------------------------------------------
    watch = _cpsat.Stopwatch()
    hint = None
    pool = ([given] if given is not None else []) + list(start.fitting if start is not None else [])
    for name, s in sorted(pool, key=lambda x: int(g.duration[x[1]].sum())):  # the cheapest the model can express
        if mm.expressible(g, s, copies, options, order):
            hint = (name, s, schedule_cost(g, s))
            salvage.update(hint=hint, variant=variant, at_seconds=problem.elapsed())
            break
    two_phase = p["phases"] == "2" or (p["phases"] == "auto" and hint is None)
    if two_phase:
        options = mm.ModelOptions(**{**options.__dict__, "capacity_variable": True})
    model = mm.build(g, budget, copies, options, order, p["gcd"])
    # everything before the first solver call: warm-start heuristics plus model construction
    build_seconds = (
        watch.seconds()
        + (start.seconds if start is not None else 0.0)
        + variant.get("annealing", {}).get("seconds", 0.0)
    )
    sc = model.scale
    variant.update(
        {
            "horizon": model.horizon,
            "modelled_copies": int(model.copies.sum()),
            "scaling": sc.to_json(),
            "heuristic_seconds": round(start.seconds, 3) if start is not None else 0.0,
            "build_seconds_include": "warm start (heuristics or the annealer) and model construction",
            "warm_start_pool": len(start.fitting) if start is not None else 0,
            "warm_start": None if hint is None else {"name": hint[0], "cost": hint[2]},
            "phases": 2 if two_phase else 1,
        }
    )
    restrictions = _restrictions(p, order_name, model.copies, model.horizon)
    size = {**_cpsat.model_size(model.model), "intervals": int(model.copies.sum())}
    salvage.update(build_seconds=build_seconds, size=size)
    if size["variables"] <= LARGE_MODEL_VARIABLES and "cp_model_probing_level" not in extra:
        # probing in presolve costs more than it saves on these models (CM1 90 %: 0.16 -> 0.07 s to the
        # proven optimum; RL1 80 %: 0.70 -> 0.50 s; RL2 90 %: the same proof time, the optimum found sooner)
        extra["cp_model_probing_level"] = 0
        variant["cpsat_defaults"] = "cp_model_probing_level=0"

    def to_cost(objective: float) -> float:  # exact unless durations had to be rounded (see Scaling)
        return (model.base_cost + objective) * sc.duration_factor

    objective_of = model.objective_of
    trajectory: list[tuple[float, float]] = []
    bounds: list[tuple[float, float]] = []
    if hint is not None:
        trajectory.append((problem.elapsed(), float(hint[2])))
        problem.notify(float(hint[2]))
    solve_watch = _cpsat.Stopwatch()

    def finish(status: str, schedule=None, objective=None, bound=None, message=""):
        return SolverOutput(
            status=status,
            schedule=schedule,
            objective=objective,
            best_bound=bound,
            trajectory=tuple(_improving(trajectory)),
            bound_trajectory=tuple(bounds),
            build_seconds=build_seconds,
            solve_seconds=solve_watch.seconds(),
            model_size=size,
            variant=variant,
            restrictions=restrictions,
            message="; ".join(filter(None, [message, *notes])),
        )

    # ---- phase 1: bring memory within the budget ----------------------------------------------------
    incumbent = None  # (schedule, model objective) in the cost phase
    if two_phase:
        first = (
            hint[1]
            if hint is not None
            else (
                given_closest
                if given_closest is not None
                else start.closest[1]
                if start is not None and start.closest
                else None
            )
        )
        outcome = _phase_one(model, problem, first, limit, extra, variant)
        if outcome is None:
            proven = variant["phase1"]["status"] in ("optimal", "infeasible")
            return finish(
                "infeasible" if proven else "no_solution",
                message="phase 1 proved that no schedule within the model's restrictions fits the budget"
                if proven
                else "phase 1 found no schedule within the budget in the time limit",
            )
        model.model.clear_objective()
        model.model.add(model.capacity <= sc.capacity)
        incumbent = (outcome, objective_of(outcome))
        trajectory.append((problem.elapsed(), float(schedule_cost(g, outcome))))
        problem.notify(float(schedule_cost(g, outcome)))
    elif hint is not None:
        incumbent = (hint[1], objective_of(hint[1]))
        if hint[2] == g.sum_duration:  # the start recomputes nothing: no schedule costs less
            variant["search_stages"] = []
            return finish(
                "optimal",
                hint[1],
                float(hint[2]),
                float(hint[2]),
                f"the start ({hint[0]}) recomputes nothing: optimal among all schedules, no search needed",
            )

    # ---- cost phase ---------------------------------------------------------------------------------
    if isinstance(model.cost, int):
        model.model.minimize(0)
    else:
        model.model.minimize(model.cost)
    best, proven, bound, message = _cost_phase(
        model, problem, incumbent, to_cost, limit, extra, p["search"], variant, trajectory, bounds
    )
    if best is None:
        if variant.get("cost_phase_status") == "infeasible":
            return finish(
                "infeasible", message="CP-SAT proved that no schedule within the model's restrictions fits the budget"
            )
        if variant.get("cost_phase_status") == "error":
            return finish("error", message=message)
        return finish("no_solution", message=message or "no solution within the time limit")
    schedule, objective = best
    if not sc.exact_durations:  # the model optimised rounded durations: no optimality or bound claim
        return finish(
            "feasible",
            schedule,
            float(schedule_cost(g, schedule)),
            None,
            f"durations were divided by {sc.duration_factor} and rounded to keep CP-SAT's objective below "
            f"2^50; the schedule's cost is exact, its optimality is not claimed",
        )
    bound_cost = None if bound is None else to_cost(bound)
    return finish("optimal" if proven else "feasible", schedule, to_cost(objective), bound_cost, message)


def _use_initial(
    problem: Problem, copies: np.ndarray, options: Any, order: np.ndarray | None, variant: dict, notes: list[str]
) -> tuple[tuple[str, np.ndarray] | None, np.ndarray | None, np.ndarray]:
    """The initial schedule as a starting point: (name, schedule) when it fits and the model can express it,
    the schedule as phase 1's start when it is valid but over the budget, and the copies per node, raised
    where the schedule computes a node more often than the model would allow."""
    from formulations import _moccasin_model as mm
    from moccasin_bench.simulate import simulate

    g = problem.graph
    s = np.asarray(problem.initial_schedule, dtype=np.int64)
    need = np.bincount(s, minlength=g.n)
    raised = need > copies
    if raised.any():
        copies = np.maximum(copies, need)
    sim = simulate(g, s)
    info: dict = {
        "steps": int(len(s)),
        "cost": int(sim.total_duration),
        "peak": int(sim.peak_memory),
        "valid": sim.valid,
        "fits": sim.fits(problem.budget.bytes),
        "copies_raised": int(raised.sum()),
    }
    variant["initial"] = info
    if not sim.valid:
        info["used"] = False
        notes.append(f"the initial schedule was not used: {sim.violation.describe()}")
        return None, None, copies
    if not mm.expressible(g, s, copies, options, order):
        info["used"] = False
        where = (
            f"it is not staged along the {problem.reference_order_name} order (the fixed-order grid)"
            if options.order_mode == "fixed"
            else "it is longer than the model's horizon"
        )
        notes.append(f"the initial schedule was not used: {where}")
        return None, None, copies
    info["used"] = True
    return (("initial", s), None, copies) if info["fits"] else (None, s, copies)


def _model_options(p: Mapping[str, Any]) -> Any:
    """The model's variant switches from the parameters (lengths=paper implies the paper's event numbering)."""
    from formulations import _moccasin_model as mm

    time_axis = p["time_axis"]
    if p["lengths"] == "paper":
        if p["order"] != "fixed":
            raise UserError("lengths=paper needs order=fixed (the authors' lengths are defined on their stage grid)")
        time_axis = "triangular"  # the authors' lengths only make sense with their event numbers
    return mm.ModelOptions(
        order_mode=p["order"],
        precedence=p["precedence"],
        end_domain=p["end_domain"],
        lengths=p["lengths"],
        symmetry=p["symmetry"],
        horizon=p["horizon"],
        time_axis=time_axis,
    )


def model_size(problem: Problem) -> dict[str, int]:
    """Build the model `solve` would build (no warm start, no search) and return its size, nonzeros included."""
    from formulations import _cpsat
    from formulations import _moccasin_model as mm
    from moccasin_bench.orders import reference_order

    g, p = problem.graph, problem.params
    copies = copies_per_node(g, p["copies"], p["copies_per_node"])
    order = reference_order(g, problem.reference_order_name) if p["order"] == "fixed" else None
    model = mm.build(g, problem.budget.bytes, copies, _model_options(p), order, p["gcd"])
    return {**_cpsat.model_size(model.model, nonzeros=True), "intervals": int(model.copies.sum())}


def _phase_one(model, problem: Problem, first, limit: float, extra: dict, variant: dict):
    """Minimise memory over the budget (ties: cost) until the budget is met; the schedule, or None."""
    from formulations import _cpsat
    from formulations._cpsat import cp_model
    from formulations._moccasin_search import Incumbent, window_search

    sc = model.scale
    m = model.model
    over = model.capacity - sc.capacity
    cost_span = int(sum(int(v) for v in _cost_coefficients(model))) + 1
    over_span = model.capacity_max - sc.capacity
    lexicographic = isinstance(model.cost, int) is False and cost_span * (over_span + 1) < (1 << 62)
    m.minimize(cost_span * over + model.cost if lexicographic else over)
    variant["phase1"] = {
        "objective": "memory over budget, then cost" if lexicographic else "memory over budget",
        "hinted": False,
    }
    if first is not None and (values := model.hint_values(first)) is not None:
        model.add_hints(values)
        variant["phase1"]["hinted"] = True

    def fits(objective: float) -> bool:
        return objective < cost_span if lexicographic else objective <= 0

    class StopAtBudget(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            if fits(self.objective_value):
                self.stop_search()

    watch = _cpsat.Stopwatch()
    share = max(1.0, 0.5 * (limit - problem.elapsed()))
    solver = _cpsat.make_solver(problem, time_limit_seconds=min(max(0.0, limit - problem.elapsed()), share), **extra)
    status = solver.solve(m, StopAtBudget())
    schedule = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        schedule = model.schedule_from(solver.value)
        objective = int(round(solver.objective_value))
        if not fits(objective):
            incumbent = Incumbent(schedule=schedule, objective=objective)
            window_search(
                model,
                problem,
                incumbent,
                to_cost=float,
                until_seconds=limit,
                threads=problem.threads,
                seed=problem.seed,
                stop_when=fits,
                report=False,
            )
            schedule, objective = incumbent.schedule, incumbent.objective
            variant["phase1"]["window_search"] = {
                "iterations": incumbent.iterations,
                "improvements": incumbent.improvements,
            }
        reached = fits(objective)
    else:
        reached = False
    if reached:  # safety net, as in the cost phase
        from moccasin_bench.simulate import simulate

        if not simulate(model.graph, schedule).fits(problem.budget.bytes):
            variant["rejected_invalid_solutions"] = variant.get("rejected_invalid_solutions", 0) + 1
            reached = False
    variant["phase1"].update(
        {"status": _cpsat.status_name(status), "seconds": round(watch.seconds(), 3), "reached_budget": reached}
    )
    m.clear_hints()
    return schedule if reached else None


def _cost_coefficients(model) -> list[int]:
    return [int(model.duration_units[v]) for v in range(model.graph.n) for _ in range(1, int(model.copies[v]))]


def _cost_phase(
    model,
    problem: Problem,
    incumbent,
    to_cost,
    limit: float,
    extra: dict,
    search: str,
    variant: dict,
    trajectory: list,
    bounds: list,
):
    """Minimise cost: full CP-SAT solves and (search=lns/auto) window neighbourhood search in between.
    Returns (best (schedule, objective) or None, proven, bound, message)."""
    from formulations import _cpsat
    from formulations._cpsat import cp_model
    from formulations._moccasin_search import Incumbent, window_search

    stages: list[dict] = []
    best = incumbent
    proven, bound, message = False, None, ""

    variant.setdefault("rejected_invalid_solutions", 0)

    def valid(schedule: np.ndarray) -> bool:
        """The simulator's verdict, checked before any solver solution is accepted (a safety net:
        the model is sound, see _moccasin_model; a rejection means a solver or model bug, and the
        first rejected schedule is kept in the variant for the bug report)."""
        from moccasin_bench.simulate import simulate

        counts = np.bincount(schedule, minlength=model.graph.n)
        ok = bool(np.all(counts <= model.copies)) and simulate(model.graph, schedule).fits(problem.budget.bytes)
        if not ok and "rejected_example" not in variant:
            variant["rejected_example"] = model.graph.to_ids(schedule)
        return ok

    def reject() -> None:
        variant["rejected_invalid_solutions"] += 1

    done = False  # proven, or within the requested relative gap

    def full_solve(seconds: float) -> None:
        nonlocal best, proven, bound, message, done
        if best is not None:
            model.add_hints(model.hint_values(best[0]))
        callback = _cpsat.TrajectoryCallback(
            problem, to_cost=to_cost, accept=lambda cb: valid(model.schedule_from(cb.value))
        )
        solver = _cpsat.make_solver(problem, time_limit_seconds=max(0.0, seconds), **extra)
        status = solver.solve(model.model, callback)
        trajectory.extend(callback.points)
        bounds.extend(callback.bounds)
        name = _cpsat.status_name(status)
        stages.append({"stage": "cpsat", "status": name, "seconds": round(solver.wall_time, 3)})
        variant["cost_phase_status"] = name
        variant["rejected_invalid_solutions"] += callback.rejected
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            objective = int(round(solver.objective_value))
            found = model.schedule_from(solver.value)
            if not valid(found):
                reject()
                return
            if best is None or objective <= best[1]:
                best = (found, objective)
            b = int(round(solver.best_objective_bound))
            bound = b if bound is None else max(bound, b)
            bounds.append((problem.elapsed(), to_cost(bound)))
            # with a relative gap CP-SAT says OPTIMAL once within the gap: only an exact bound proves
            proven = proven or (status == cp_model.OPTIMAL and bound >= best[1])
            done = done or status == cp_model.OPTIMAL
        elif status == cp_model.MODEL_INVALID:
            message = f"CP-SAT: model invalid: {solver.solution_info()}"

    def lns(until: float) -> None:
        nonlocal best, proven, bound
        state = Incumbent(schedule=best[0], objective=best[1])
        window_search(model, problem, state, to_cost, until, problem.threads, seed=problem.seed, accept=valid)
        variant["rejected_invalid_solutions"] += state.rejected
        trajectory.extend(state.points)
        stages.append(
            {
                "stage": "window_search",
                "seconds": None,
                "iterations": state.iterations,
                "improvements": state.improvements,
                "closed": state.closed,
            }
        )
        best = (state.schedule, state.objective)
        if state.proven:
            proven, bound = True, state.objective

    def left() -> float:
        return max(0.0, limit - problem.elapsed())

    large = len(model.model.proto.variables) > LARGE_MODEL_VARIABLES
    if search == "cpsat" or best is None or (search == "auto" and not large):
        full_solve(left())
    else:  # lns, or auto on a large model: window search, then a full solve from its best schedule
        final_share = 0.1 * limit
        if left() > final_share + 0.5:
            lns(limit - final_share)
        if not proven and left() > 0.05:
            full_solve(left())
    if best is not None and bound is not None and bound >= best[1]:
        proven = True
    variant["search_stages"] = stages
    if variant["rejected_invalid_solutions"]:
        message = (
            f"LOUD: {variant['rejected_invalid_solutions']} solver solution(s) failed the simulator and were "
            f"discarded (a solver or model bug; please report). " + message
        ).strip()
    if best is None:
        return None, False, None, message
    return best, proven, bound, message


def _improving(points):
    best = None
    for t, c in sorted(points):
        if best is None or c < best:
            best = c
            yield (t, c)


def _search_params(p, problem: Problem) -> dict:
    """CP-SAT parameters given as name=value;name=value, typed by the parameter's current value."""
    from ortools.sat import sat_parameters_pb2

    defaults = sat_parameters_pb2.SatParameters()
    out = {}
    for item in filter(None, (x.strip() for x in p["cpsat"].split(";"))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not hasattr(defaults, key):
            raise UserError(f"cpsat: unknown CP-SAT parameter {key!r} (expected name=value;name=value)")
        current = getattr(defaults, key)
        try:
            if isinstance(current, bool):
                out[key] = value.strip().lower() in ("1", "true", "yes")
            elif isinstance(current, int):
                out[key] = int(value)
                setattr(sat_parameters_pb2.SatParameters(), key, out[key])  # out of the field's range: ValueError
            elif isinstance(current, float):
                out[key] = float(value)
                if not math.isfinite(out[key]):
                    raise ValueError
            else:
                out[key] = value.strip()
        except (ValueError, TypeError, OverflowError):
            raise UserError(
                f"cpsat: parameter {key!r} needs a {type(current).__name__} value, got {value.strip()!r}"
            ) from None
    return out


def check(params: Mapping[str, Any], graph: Graph) -> None:
    """Parameter errors a run would meet, found before it runs (a sweep's plan, --dry-run)."""
    copies = copies_per_node(graph, params["copies"], params["copies_per_node"])
    most = int(copies.max())
    if most * max(graph.sum_memory, graph.sum_duration) >= TOTAL_LIMIT:
        raise UserError(
            f"copies: {most} copies of every node of graph {graph.name!r} would overflow 64-bit sums "
            f"(sum of memory {graph.sum_memory:,}, of durations {graph.sum_duration:,}); use fewer copies"
        )
    if params["lengths"] == "paper" and params["order"] != "fixed":
        raise UserError("lengths=paper needs order=fixed (the authors' lengths are defined on their stage grid)")
    if params["cpsat"].strip():
        _search_params(params, None)
