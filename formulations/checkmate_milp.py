"""checkmate-milp: Checkmate's O(n^2) Boolean MILP (model: formulations/checkmate_model.py).

Two backends. `highs` hands the sparse CSR arrays to highspy in one `passModel` call and
records every improving incumbent through HiGHS's MIP callback. `pulp` builds the same
rows as a PuLP model and solves it with HiGHS (PuLP's highspy interface) or with the CBC
binary bundled with PuLP; the final point is the whole trajectory. Either way the status
is read from the solver itself: HiGHS's model status, CBC's result line (PuLP maps a
time-out with an incumbent to "Optimal"). The time limit covers the whole run: the solver
gets what the build and the warm start left of it.

Warm start (`warm_start=heuristics`, highs backend, the default as for `moccasin`): the
cheapest schedule that formulations.heuristics stages along the reference order and that
fits is turned into a full point of the model (R, the least S it needs, every release the
rows allow, U) and handed to HiGHS; it is the trajectory's first point.

The FREE rows default to the set-packing form (`hazard=clique`): the same variables and
integer points as Checkmate's two-sided linearisation (`hazard=both`), with a tighter LP
relaxation; on RL1 at 90 % HiGHS proves the optimum in about 45 s with it and not within
600 s with Checkmate's rows.

Huge models (`large_model`, auto = above 500,000 columns): two steps of HiGHS 1.16's MIP
solver do not check the time limit and run for tens of minutes on RL3 (0.9 M columns):
the clique merging that ends presolve probing (and enumeration), and the clique partition
of the objective's binaries in the MIP setup. For such models both rules are off and the
objective is moved into one continuous column z = cost.x, which leaves nothing to
partition (free-column substitution and the aggregator are switched off too, or
presolve would put the objective back; all via `presolve_rule_off`). Same model, same optimum; recorded in
the variant. Smaller models can still stall in those steps (CM2: 50 s past a 25 s limit),
so HiGHS runs in a thread and, 3 s past the limit, its last incumbent is reported instead
(`highs_overrun_seconds` in the variant).

Tolerances: memory is normalised by the budget, so a solver accepting violations of
`feasibility_tolerance` (tol) could hide up to tol x budget of excess memory. The bound on
U is therefore budget + 0.5 - 4 tol budget in GCD memory units: when that slack is below
half a unit the model is exact (integer memories), otherwise the budget is tightened by
the difference (recorded in `restrictions`; below one part per million for the paper's
graphs). Every schedule is simulated; if its peak still exceeds the budget, the model is
re-solved with the bound lowered by the excess (recorded as `budget_retries`).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import numpy as np

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "checkmate-milp"
DESCRIPTION = "Checkmate's Boolean MILP (R, S, FREE, U; n stages along the reference order) on HiGHS or PuLP"
PARAMS = (
    Param("backend", str, "highs", "highs: sparse arrays into highspy; pulp: a PuLP model", ("highs", "pulp")),
    Param("pulp_solver", str, "highs", "solver behind PuLP (backend=pulp)", ("highs", "cbc")),
    Param("hazard", str, "clique", "FREE rows: both = Checkmate's two-sided linearisation, upper = only FREE <= rule, clique = set-packing rows (tighter LP)", ("both", "upper", "clique")),
    Param("feasibility_tolerance", float, 1e-7, "solver primal/MIP feasibility tolerance (memory is normalised by the budget)"),
    Param("warm_start", str, "heuristics", "start HiGHS from the cheapest fitting staged schedule of formulations.heuristics (backend=highs)", ("heuristics", "none")),
    Param("large_model", str, "auto", "HiGHS settings for huge models (probing off, objective as one continuous column): auto = above 500,000 columns", ("auto", "on", "off")),
    Param("solver_log", bool, False, "print the solver's log (HiGHS or CBC) to the console"),
    Param("max_retries", int, 2, "re-solves with a lower bound on U if a schedule's simulated peak exceeds the budget"),
)

_MARGIN_FACTOR = 4.0


@dataclass
class SolveResult:
    """What one solver call found, in the model's (normalised) units."""

    status: str  # optimal | feasible | infeasible | no_solution | error
    x: np.ndarray | None = None  # column values (None without a solution)
    objective: float | None = None
    bound: float | None = None
    trajectory: list = field(default_factory=list)  # (seconds, objective)
    bound_trajectory: list = field(default_factory=list)
    message: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class WarmStart:
    """A fitting schedule in Checkmate's stage form, as R by position."""

    r: np.ndarray
    name: str
    cost: int
    seconds: float


def heuristic_start(problem: Problem, order: np.ndarray, max_seconds: float = 30.0) -> WarmStart | None:
    """The cheapest schedule that formulations.heuristics stages along `order` and that fits,
    without recomputations nobody reads; None when it finds none."""
    from formulations.checkmate_model import prune_unread, r_from_schedule
    from formulations.heuristics import warm_start

    t0 = time.perf_counter()
    g, budget = problem.graph, problem.budget.bytes
    deadline = t0 + min(max_seconds, 0.2 * max(0.0, problem.time_limit_seconds - problem.elapsed()))
    found = warm_start(g, budget, order=order, deadline=deadline)
    for name, schedule in found.fitting:
        schedule = prune_unread(g, schedule)
        r = r_from_schedule(schedule, order)
        if r is not None:
            return WarmStart(r=r, name=name, cost=int(g.duration[schedule].sum()), seconds=time.perf_counter() - t0)
    return None


def u_upper_units(budget_units: int, tolerance: float) -> float:
    """The bound put on U (GCD memory units) so that tolerance-level violations stay below the next unit."""
    return budget_units + 0.5 - _MARGIN_FACTOR * tolerance * max(budget_units, 1)


def solve(problem: Problem) -> SolverOutput:
    from formulations.checkmate_model import build_model, memory_gcd
    from moccasin_bench.orders import reference_order
    from moccasin_bench.simulate import simulate

    g, p = problem.graph, problem.params
    order = reference_order(g, problem.reference_order_name)
    budget = problem.budget.bytes
    unit = memory_gcd(g, budget)
    budget_units = budget // unit
    tol = float(p["feasibility_tolerance"])
    upper = u_upper_units(budget_units, tol)
    backend = p["backend"] if p["backend"] == "highs" else f"pulp-{p['pulp_solver']}"
    variant = {"backend": backend, "hazard": p["hazard"], "order": "fixed", "reference_order": problem.reference_order_name,
               "feasibility_tolerance": tol}
    build_seconds = solve_seconds = 0.0
    trajectory: list = []
    bounds: list = []
    retries = 0
    start = None
    if p["warm_start"] == "heuristics" and p["backend"] == "highs":
        start = heuristic_start(problem, order)
        variant["warm_start"] = "none found" if start is None else {"name": start.name, "cost": start.cost, "seconds": start.seconds}
        first_point = [] if start is None else [(problem.elapsed(), float(start.cost))]
    else:
        variant["warm_start"] = "none"
        first_point = []
    while True:
        t0 = time.perf_counter()
        model = build_model(g, order, budget, normalize=True, hazard=p["hazard"], u_upper_units=upper)
        if p["backend"] == "highs":
            x0 = None
            if start is not None:
                from formulations.checkmate_model import canonical_point, row_violation

                x0 = canonical_point(g, model, start.r)
                if row_violation(model, x0) > 1e-9:  # e.g. its peak lies in a band the tolerances cut off
                    variant["warm_start"] = {**variant["warm_start"], "rejected": f"violates the model by {row_violation(model, x0):.3g}"}
                    x0 = None
            build_seconds += time.perf_counter() - t0
            t1 = time.perf_counter()
            res = solve_highs(model, problem, mip=True, tolerance=tol, start=x0)
            solve_seconds += time.perf_counter() - t1
        else:
            res = solve_pulp(model, problem, p["pulp_solver"], tolerance=tol)
            build_seconds += time.perf_counter() - t0 - res.extra.get("solve_seconds", 0.0)
            solve_seconds += res.extra.get("solve_seconds", 0.0)
        scale = model.cost_scale
        # a retry's incumbents replace the last ones; the warm start counts from when it was found
        trajectory = first_point + [(t, c) for t, c in ((t, _to_units(v, scale, g)) for t, v in res.trajectory)
                                    if not first_point or c < first_point[0][1]]
        bounds = [(t, b) for t, b in ((t, _bound_units(v, scale, g)) for t, v in res.bound_trajectory) if b is not None]
        variant.update({k: v for k, v in res.extra.items() if k != "solve_seconds"})
        if res.x is None:
            break
        schedule = model.layout.schedule_from_r(res.x)
        sim = simulate(g, schedule)
        if sim.peak_memory <= budget or retries >= p["max_retries"] or problem.elapsed() >= problem.time_limit_seconds:
            break
        retries += 1
        excess_units = math.ceil((sim.peak_memory - budget) / unit)
        upper -= excess_units + 1
    variant["budget_retries"] = retries
    variant["u_upper_units"] = upper
    size = model.size()
    restrictions = _restrictions(problem, upper, budget_units, unit)
    if res.x is None:
        return SolverOutput(status=res.status, best_bound=_bound_units(res.bound, model.cost_scale, g),
                            trajectory=tuple(trajectory), bound_trajectory=tuple(bounds), build_seconds=build_seconds,
                            solve_seconds=solve_seconds, model_size=size, variant=variant, restrictions=restrictions,
                            message=res.message)
    if sim.peak_memory > budget:
        return SolverOutput(status="error", build_seconds=build_seconds, solve_seconds=solve_seconds, model_size=size,
                            variant=variant, restrictions=restrictions,
                            message=f"the solver's schedule peaks at {sim.peak_memory:,}, over the budget {budget:,}, after "
                                    f"{retries} re-solve(s) with a tighter bound: solver tolerances too loose for this instance "
                                    f"(try a smaller feasibility_tolerance)")
    objective = _to_units(res.objective, model.cost_scale, g)
    bound = _bound_units(res.bound, model.cost_scale, g)
    if res.status == "optimal" and problem.relative_gap == 0 and bound is not None:
        bound = min(bound, objective)
    if not trajectory or trajectory[-1][1] != objective:
        trajectory.append((problem.elapsed(), objective))
    return SolverOutput(status=res.status, schedule=schedule, objective=objective, best_bound=bound,
                        trajectory=tuple(trajectory), bound_trajectory=tuple(bounds), build_seconds=build_seconds,
                        solve_seconds=solve_seconds, model_size=size, variant=variant, restrictions=restrictions,
                        message=res.message)


def _restrictions(problem: Problem, upper: float, budget_units: int, unit: int) -> str:
    text = f"Checkmate stage structure along the {problem.reference_order_name} reference order"
    if upper < budget_units:
        cut = math.ceil(budget_units - upper) * unit
        text += f"; budget tightened by {cut:,} ({1e6 * cut / max(problem.budget.bytes, 1):.2g} ppm) to absorb solver tolerances"
    if problem.relative_gap > 0:
        text += f"; optimal within a relative gap of {problem.relative_gap:g}"
    return text


def _to_units(value: float | None, scale: float, graph) -> float | None:
    """A model objective in graph duration units, snapped to the durations' GCD grid."""
    if value is None or not math.isfinite(value):
        return None
    from formulations.checkmate_model import _gcd

    unit = _gcd(graph.duration)
    return float(round(value * scale / unit) * unit)


def _bound_units(value: float | None, scale: float, graph) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    from formulations.checkmate_model import _gcd, ceil_units

    return float(ceil_units(value * scale, _gcd(graph.duration)))


def remaining_seconds(problem: Problem) -> float:
    return max(0.5, problem.time_limit_seconds - problem.elapsed())


# ---- HiGHS (highspy) --------------------------------------------------------------------
_scheduler_threads: list[int] = []  # thread count HiGHS's process-wide scheduler was started with


def use_threads(threads: int) -> int:
    """HiGHS keeps one task scheduler per process: a run asking for another thread count than
    the previous one fails ("Not Set") unless it is reset first. Runs in one process are
    sequential, so resetting between them is safe."""
    import highspy

    threads = max(1, int(threads))
    if _scheduler_threads and _scheduler_threads[-1] != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads[:] = [threads]
    return threads


def highs_instance(problem: Problem, tolerance: float, mip: bool):
    import highspy

    threads = use_threads(problem.threads)
    h = highspy.Highs()
    h.silent(not problem.params.get("solver_log", False))
    h.setOptionValue("time_limit", float(remaining_seconds(problem)))
    h.setOptionValue("threads", threads)
    h.setOptionValue("random_seed", int(problem.seed))
    h.setOptionValue("primal_feasibility_tolerance", float(tolerance))
    if mip:
        h.setOptionValue("mip_feasibility_tolerance", float(tolerance))
        h.setOptionValue("mip_rel_gap", float(problem.relative_gap))
    return h


def pass_model(h, model, mip: bool) -> None:
    import highspy

    status = h.passModel(model.num_col, model.num_row, model.num_nz, int(highspy.MatrixFormat.kRowwise), 1, 0.0,
                         model.col_cost, model.col_lower, model.col_upper, model.row_lower, model.row_upper,
                         model.row_start[:-1], model.col_index, model.value,
                         model.integer.astype(np.int32) if mip else np.zeros(model.num_col, dtype=np.int32))
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model (passModel returned an error)")


def pass_with_objective_column(h, model) -> None:
    """The MIP with its objective moved into one continuous column z = cost.x (an extra row).
    HiGHS's MIP setup partitions the binaries of the objective into cliques without checking
    the time limit; with the objective on a continuous column there is nothing to partition."""
    import highspy

    nz = np.nonzero(model.col_cost)[0]
    z = model.num_col
    start = np.append(model.row_start, model.row_start[-1] + len(nz) + 1).astype(np.int32)
    index = np.concatenate([model.col_index, nz.astype(np.int32), np.array([z], dtype=np.int32)])
    value = np.concatenate([model.value, model.col_cost[nz], [-1.0]])
    status = h.passModel(z + 1, model.num_row + 1, len(value), int(highspy.MatrixFormat.kRowwise), 1, 0.0,
                         np.append(np.zeros(z), 1.0), np.append(model.col_lower, 0.0), np.append(model.col_upper, np.inf),
                         np.append(model.row_lower, 0.0), np.append(model.row_upper, 0.0), start[:-1], index, value,
                         np.append(model.integer.astype(np.int32), 0).astype(np.int32))
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model (passModel returned an error)")


def highs_status(h, mip: bool) -> tuple[str, bool]:
    """(our status, whether a primal solution exists) from HiGHS's model status."""
    import highspy

    M = highspy.HighsModelStatus
    status = h.getModelStatus()
    has = h.getInfo().primal_solution_status == int(highspy.SolutionStatus.kSolutionStatusFeasible)
    if status == M.kOptimal:
        return "optimal", has
    if status in (M.kInfeasible, M.kUnboundedOrInfeasible):
        return "infeasible", False
    if status in (M.kTimeLimit, M.kInterrupt, M.kIterationLimit, M.kSolutionLimit, M.kObjectiveBound,
                  M.kObjectiveTarget, M.kMemoryLimit, M.kHighsInterrupt):
        return ("feasible" if has else "no_solution"), has
    return "error", has


# HiGHS presolve rules for presolve_rule_off: kPresolveRuleProbing (15) and
# kPresolveRuleEnumeration (16), both ending in the unchecked clique merging, and
# kPresolveRuleFreeColSubstitution (8) and kPresolveRuleAggregator (12), either of which
# would substitute the objective column back into the objective
_LARGE_MODEL_RULES_OFF = (1 << 15) | (1 << 16) | (1 << 8) | (1 << 12)
_LARGE_MODEL_COLUMNS = 500_000


def solve_highs(model, problem: Problem, mip: bool, tolerance: float, start: np.ndarray | None = None) -> SolveResult:
    import highspy

    h = highs_instance(problem, tolerance, mip)
    large = problem.params.get("large_model", "auto")
    large = mip and (large == "on" or (large == "auto" and model.num_col > _LARGE_MODEL_COLUMNS))
    if large:
        h.setOptionValue("presolve_rule_off", _LARGE_MODEL_RULES_OFF)
    if mip:
        # costs are integers on the grid 1/cost_scale * gcd: a gap below one grid step proves optimality
        from formulations.checkmate_model import _gcd

        step = _gcd(problem.graph.duration) / model.cost_scale
        h.setOptionValue("mip_abs_gap", float(step * (1 - 1e-6)))
    if large:
        pass_with_objective_column(h, model)
        if start is not None:
            start = np.append(start, float(model.col_cost @ start))
    else:
        pass_model(h, model, mip)
    points: list = []
    bounds: list = []
    incumbent: list = [] if start is None else [start]  # the last point HiGHS reported, for an overrun
    if mip:
        def improving(event) -> None:
            t = problem.elapsed()
            obj, bound = event.data_out.objective_function_value, event.data_out.mip_dual_bound
            points.append((t, obj))
            bounds.append((t, bound))
            incumbent[:] = [np.array(event.data_out.mip_solution, dtype=float)]
            problem.notify(obj * model.cost_scale, bound * model.cost_scale if math.isfinite(bound) else None)

        h.cbMipImprovingSolution.subscribe(improving)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = start.tolist()
        sol.value_valid = True
        h.setSolution(sol)
    overran = _run_with_deadline(h, problem)
    extra = {"large_model_settings": bool(large)} if mip else {}
    if overran is None:
        status, has = highs_status(h, mip)
        info = h.getInfo()
        extra["highs_model_status"] = h.modelStatusToString(h.getModelStatus())
        if mip:
            extra["mip_nodes"] = int(info.mip_node_count)
            bound = info.mip_dual_bound
        else:
            bound = info.objective_function_value if status == "optimal" else None
        x = np.asarray(h.getSolution().col_value)[:model.num_col] if has else None
        obj = info.objective_function_value if has else None
        message = "" if status != "error" else f"HiGHS ended with model status {extra['highs_model_status']}"
    else:  # HiGHS is still running in its thread: only what its callback reported is known
        status, x, obj = "no_solution", None, None
        bound = bounds[-1][1] if bounds and math.isfinite(bounds[-1][1]) else None
        extra.update(highs_model_status="stopped by the harness after overrunning its time limit",
                     highs_overrun_seconds=round(overran, 1))
        message = (f"HiGHS did not stop within {overran:.0f} s of its time limit (some of its MIP phases do not check "
                   f"the limit)")
    if x is None and incumbent and status in ("no_solution", "error"):  # an overrun, its memory limit: keep the start
        x = incumbent[-1][:model.num_col]
        obj, status = float(model.col_cost @ x), "feasible"
        message = (f"{message}; its last incumbent is reported" if overran is not None else
                   f"HiGHS ended with model status {extra['highs_model_status']} and no solution of its own; "
                   f"the last incumbent it was given or found is reported")
    return SolveResult(status=status, x=x, objective=obj, bound=bound, trajectory=points, bound_trajectory=bounds,
                       message=message, extra=extra)


def _run_with_deadline(h, problem: Problem, overrun_seconds: float = 3.0) -> float | None:
    """Run HiGHS in a thread (highspy releases the GIL) and wait until the run's time limit
    plus `overrun_seconds`. If it is still busy then (HiGHS 1.16 skips the limit in some
    presolve and setup steps, where no interrupt callback fires either), give up on it.
    Returns None when HiGHS ended by itself, else the seconds it ran past the limit. A
    HiGHS left running dies with the run's child process (the runner's child exits hard)."""
    import threading

    worker = threading.Thread(target=h.run, name="highs", daemon=True)
    worker.start()
    worker.join(max(0.0, problem.time_limit_seconds - problem.elapsed()) + overrun_seconds)
    if not worker.is_alive():
        return None
    return max(0.0, problem.elapsed() - problem.time_limit_seconds)


# ---- PuLP ---------------------------------------------------------------------------------
def build_pulp(model):
    """The sparse model as a PuLP problem: (problem, variables in column order)."""
    import pulp

    lay = model.layout
    prob = pulp.LpProblem("checkmate", pulp.LpMinimize)
    names = _column_names(lay)
    new = prob.add_variable
    variables = [new(name, float(lo), float(up), pulp.LpInteger if integer else pulp.LpContinuous)
                 for name, lo, up, integer in zip(names, model.col_lower.tolist(), model.col_upper.tolist(), model.integer.tolist())]
    nz = np.nonzero(model.col_cost)[0]
    prob.setObjective(pulp.LpAffineExpression([(variables[j], c) for j, c in zip(nz.tolist(), model.col_cost[nz].tolist())]))
    start, cols, vals = model.row_start.tolist(), model.col_index.tolist(), model.value.tolist()
    lower, upper = model.row_lower.tolist(), model.row_upper.tolist()
    add = prob.addConstraint
    for r in range(model.num_row):
        a, b = start[r], start[r + 1]
        expr = pulp.LpAffineExpression([(variables[c], v) for c, v in zip(cols[a:b], vals[a:b])])
        if lower[r] == upper[r]:
            add(pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"c{r}", upper[r]))
        else:
            add(pulp.LpConstraint(expr, pulp.LpConstraintLE, f"c{r}", upper[r]))
    return prob, variables


def _column_names(lay) -> list[str]:
    rt, ri = lay.triangle()
    st, si = lay.strict_triangle()
    names = [f"R_{t}_{i}" for t, i in zip(rt.tolist(), ri.tolist())]
    names += [f"S_{t}_{i}" for t, i in zip(st.tolist(), si.tolist())]
    names += [f"U_{t}_{i}" for t, i in zip(rt.tolist(), ri.tolist())]
    ft = np.repeat(np.arange(lay.n), np.diff(lay.free_start))
    fq = np.arange(lay.num_free) - lay.free_start[ft]
    names += [f"F_{t}_{q}" for t, q in zip(ft.tolist(), fq.tolist())]
    return names


def solve_pulp(model, problem: Problem, which: str, tolerance: float) -> SolveResult:
    import pulp

    prob, variables = build_pulp(model)
    from formulations.checkmate_model import _gcd

    step = _gcd(problem.graph.duration) / model.cost_scale
    t0 = time.perf_counter()
    if which == "highs":
        solver = pulp.HiGHS(msg=bool(problem.params.get("solver_log")), timeLimit=remaining_seconds(problem),
                            threads=use_threads(problem.threads),
                            gapRel=float(problem.relative_gap), gapAbs=float(step * (1 - 1e-6)),
                            primal_feasibility_tolerance=float(tolerance), mip_feasibility_tolerance=float(tolerance),
                            random_seed=int(problem.seed))
        # PuLP's own solve() runs these four steps; calling them separately times the transfer
        # into HiGHS (a build cost), lets the time limit count it, and gives the HiGHS object.
        solver.createAndConfigureSolver(prob)
        solver.buildSolverModel(prob)
        transfer = time.perf_counter() - t0
        prob.solverModel.setOptionValue("time_limit", float(remaining_seconds(problem)))  # what the transfer left
        t1 = time.perf_counter()
        solver.callSolver(prob)
        prob.assignStatus(*solver.findSolutionValues(prob))
        seconds = time.perf_counter() - t1
        h = prob.solverModel
        status, has = highs_status(h, True)
        info = h.getInfo()
        x = _pulp_values(variables, model) if has else None
        extra = {"highs_model_status": h.modelStatusToString(h.getModelStatus()), "pulp_status": pulp.LpStatus[prob.status],
                 "pulp_sol_status": prob.sol_status, "pulp_transfer_seconds": transfer, "solve_seconds": seconds}
        obj = info.objective_function_value if has else None
        return SolveResult(status=status, x=x, objective=obj, bound=info.mip_dual_bound, trajectory=[(problem.elapsed(), obj)] if has else [],
                           extra=extra)
    import os
    import tempfile

    from pulp.apis.coin_api import pulp_cbc_path

    with tempfile.TemporaryDirectory(prefix="checkmate-cbc-") as tmp:
        log = os.path.join(tmp, "cbc.log")
        solver = pulp.COIN_CMD(path=pulp_cbc_path, msg=False, timeLimit=remaining_seconds(problem),
                               threads=max(1, int(problem.threads)), gapRel=float(problem.relative_gap),
                               gapAbs=float(step * (1 - 1e-6)), logPath=log)
        prob.solve(solver)
        seconds = time.perf_counter() - t0
        text = open(log).read() if os.path.exists(log) else ""
    status, has = _cbc_status(prob, text)
    x = _pulp_values(variables, model) if has else None
    obj = pulp.value(prob.objective) if has else None
    if has and obj is None:  # an objective without terms (all durations 0)
        obj = float(model.col_cost[:model.layout.num_r] @ x)
    bound = _cbc_bound(text)
    if status == "optimal" and (bound is None or problem.relative_gap == 0):
        bound = obj  # CBC proved it (its printed lower bound has 3 decimals; the proof used the objective's granularity)
    extra = {"pulp_status": pulp.LpStatus[prob.status], "pulp_sol_status": prob.sol_status, "cbc_result": _cbc_result(text),
             "solve_seconds": seconds}
    return SolveResult(status=status, x=x, objective=obj, bound=bound, trajectory=[(problem.elapsed(), obj)] if has else [],
                       extra=extra, message="" if status != "error" else f"CBC: {_cbc_result(text) or 'no result line'}")


def _pulp_values(variables, model) -> np.ndarray:
    """R values; a variable in no row and without cost is unknown to PuLP's solvers (value
    None) and takes its lower bound (1 for a frontier R[t,t])."""
    n = model.layout.num_r
    return np.array([v.varValue if v.varValue is not None else lo for v, lo in zip(variables[:n], model.col_lower[:n].tolist())])


def _cbc_result(log: str) -> str:
    m = re.search(r"^Result - (.*)$", log, re.M)
    return m.group(1).strip() if m else ""


def _cbc_bound(log: str) -> float | None:
    m = re.search(r"^Lower bound:\s*([-+0-9.eE]+)", log, re.M)
    return float(m.group(1)) if m else None


def _cbc_status(prob, log: str) -> tuple[str, bool]:
    """CBC's real outcome: its own result line first (PuLP reads only the solution file's first
    word, calling a time-out with an incumbent "Optimal"), PuLP's sol_status otherwise."""
    import pulp

    has = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    result = _cbc_result(log).lower()
    # every variable is bounded, so "infeasible or unbounded" from CBC's preprocessing is infeasible
    if "infeasible" in result or "pre-processing says infeasible" in log.lower():
        return "infeasible", False
    if result.startswith("optimal"):
        return ("optimal", True) if has else ("error", False)
    if result.startswith("stopped"):
        return ("feasible", True) if has else ("no_solution", False)
    if result:
        return ("feasible", True) if has else ("error", False)
    if prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal", True
    if prob.sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible", True
    if prob.sol_status == pulp.LpSolutionInfeasible or prob.status == pulp.LpStatusInfeasible:
        return "infeasible", False
    return "no_solution", False
