"""HiGHS (highspy) plumbing shared by the Checkmate MILP and LP formulations.

A sparse model (formulations._checkmate_model.SparseModel) goes to HiGHS in one
`passModel` call; `solve_highs` runs it in a thread with the run's time limit, records
improving incumbents through HiGHS's MIP callback, and reports the last incumbent when HiGHS
overruns its limit (HiGHS 1.16 skips the limit in some presolve and setup steps). Imported
only from inside a formulation's `solve`, so highspy loads lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from formulations._scaling import gcd
from moccasin_bench.formulation import Problem


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


def remaining_seconds(problem: Problem) -> float:
    return max(0.5, problem.time_limit_seconds - problem.elapsed())


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

    status = h.passModel(
        model.num_col,
        model.num_row,
        model.num_nz,
        int(highspy.MatrixFormat.kRowwise),
        1,
        0.0,
        model.col_cost,
        model.col_lower,
        model.col_upper,
        model.row_lower,
        model.row_upper,
        model.row_start[:-1],
        model.col_index,
        model.value,
        model.integer.astype(np.int32) if mip else np.zeros(model.num_col, dtype=np.int32),
    )
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
    status = h.passModel(
        z + 1,
        model.num_row + 1,
        len(value),
        int(highspy.MatrixFormat.kRowwise),
        1,
        0.0,
        np.append(np.zeros(z), 1.0),
        np.append(model.col_lower, 0.0),
        np.append(model.col_upper, np.inf),
        np.append(model.row_lower, 0.0),
        np.append(model.row_upper, 0.0),
        start[:-1],
        index,
        value,
        np.append(model.integer.astype(np.int32), 0).astype(np.int32),
    )
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
    if status in (
        M.kTimeLimit,
        M.kInterrupt,
        M.kIterationLimit,
        M.kSolutionLimit,
        M.kObjectiveBound,
        M.kObjectiveTarget,
        M.kMemoryLimit,
        M.kHighsInterrupt,
    ):
        return ("feasible" if has else "no_solution"), has
    return "error", has


# HiGHS presolve rules for presolve_rule_off: kPresolveRuleProbing (15) and
# kPresolveRuleEnumeration (16), both ending in the unchecked clique merging, and
# kPresolveRuleFreeColSubstitution (8) and kPresolveRuleAggregator (12), either of which
# would substitute the objective column back into the objective
_LARGE_MODEL_RULES_OFF = (1 << 15) | (1 << 16) | (1 << 8) | (1 << 12)
_LARGE_MODEL_COLUMNS = 500_000


def solve_highs(model, problem: Problem, mip: bool, tolerance: float, start: np.ndarray | None = None) -> SolveResult:
    h = highs_instance(problem, tolerance, mip)
    large = problem.params.get("large_model", "auto")
    large = mip and (large == "on" or (large == "auto" and model.num_col > _LARGE_MODEL_COLUMNS))
    if large:
        h.setOptionValue("presolve_rule_off", _LARGE_MODEL_RULES_OFF)
    if mip:
        # costs are integers on the grid 1/cost_scale * gcd: a gap below one grid step proves optimality
        step = gcd(problem.graph.duration) / model.cost_scale
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
        _give_start(h, start)
    overran = _run_with_deadline(h, problem)
    extra = {"large_model_settings": bool(large)} if mip else {}
    verdict = highs_status(h, mip)[0] if mip and overran is None else None
    if verdict == "infeasible":
        overran = recheck_infeasible(h, problem, extra)
    elif verdict == "error" and remaining_seconds(problem) > 0:
        overran = recheck_solve_error(h, problem, extra, start)
    if overran is None:
        status, has = highs_status(h, mip)
        info = h.getInfo()
        extra["highs_model_status"] = h.modelStatusToString(h.getModelStatus())
        if mip:
            extra["mip_nodes"] = int(info.mip_node_count)
            bound = info.mip_dual_bound
        else:
            bound = info.objective_function_value if status == "optimal" else None
        x = np.asarray(h.getSolution().col_value)[: model.num_col] if has else None
        obj = info.objective_function_value if has else None
        message = "" if status != "error" else f"HiGHS ended with model status {extra['highs_model_status']}"
    else:  # HiGHS is still running in its thread: only what its callback reported is known
        status, x, obj = "no_solution", None, None
        bound = bounds[-1][1] if bounds and math.isfinite(bounds[-1][1]) else None
        extra.update(
            highs_model_status="stopped by the harness after overrunning its time limit",
            highs_overrun_seconds=round(overran, 1),
        )
        message = (
            f"HiGHS did not stop within {overran:.0f} s of its time limit (some of its MIP phases do not check "
            f"the limit)"
        )
    if x is None and incumbent and status in ("no_solution", "error"):  # an overrun, its memory limit: keep the start
        x = incumbent[-1][: model.num_col]
        obj, status = float(model.col_cost @ x), "feasible"
        message = (
            f"{message}; its last incumbent is reported"
            if overran is not None
            else f"HiGHS ended with model status {extra['highs_model_status']} and no solution of its own; "
            f"the last incumbent it was given or found is reported"
        )
    return SolveResult(
        status=status,
        x=x,
        objective=obj,
        bound=bound,
        trajectory=points,
        bound_trajectory=bounds,
        message=message,
        extra=extra,
    )


def recheck_infeasible(h, problem: Problem, extra: dict) -> float | None:
    """HiGHS 1.16's MIP presolve can call a feasible model infeasible (a 5-node Checkmate model
    with clique rows, found by tests/test_crosscheck.py): an `infeasible` verdict is only
    kept when HiGHS finds it again without presolve; a re-solve that runs out of time is
    then `no_solution`. Returns what `_run_with_deadline` returns for the re-solve."""
    h.clearSolver()
    h.setOptionValue("presolve", "off")
    h.setOptionValue("time_limit", float(remaining_seconds(problem)))
    extra["infeasible_rechecked_without_presolve"] = True
    return _run_with_deadline(h, problem)


def recheck_solve_error(h, problem: Problem, extra: dict, start: np.ndarray | None) -> float | None:
    """HiGHS 1.16's MIP presolve can also end in "Solve error" on a small feasible model (a 5-node
    Checkmate model with zero durations, found by tests/test_crosscheck.py; solved to optimality
    without presolve): solve once more without presolve, from the same start, in the time left."""
    extra["solve_error_resolved_without_presolve"] = True
    h.clearSolver()
    h.setOptionValue("presolve", "off")
    h.setOptionValue("time_limit", float(remaining_seconds(problem)))
    if start is not None:
        _give_start(h, start)
    return _run_with_deadline(h, problem)


def _give_start(h, start: np.ndarray) -> None:
    """Hand HiGHS a MIP start (it checks it and keeps it as its incumbent when feasible)."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = start.tolist()
    sol.value_valid = True
    h.setSolution(sol)


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
