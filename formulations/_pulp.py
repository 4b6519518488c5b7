"""PuLP plumbing for the Checkmate MILP: the same sparse rows as a PuLP model, solved by
HiGHS (PuLP's highspy interface) or the CBC binary bundled with PuLP, with the status read
from the solver itself (PuLP calls a CBC time-out with an incumbent "Optimal").
"""

from __future__ import annotations

import re
import time

import numpy as np

from formulations._highs import SolveResult, highs_status, remaining_seconds, use_threads
from formulations._scaling import gcd
from moccasin_bench.formulation import Problem


def build_pulp(model):
    """The sparse model as a PuLP problem: (problem, variables in column order)."""
    import pulp

    lay = model.layout
    prob = pulp.LpProblem("checkmate", pulp.LpMinimize)
    names = _column_names(lay)
    new = prob.add_variable
    variables = [
        new(name, float(lo), float(up), pulp.LpInteger if integer else pulp.LpContinuous)
        for name, lo, up, integer in zip(
            names, model.col_lower.tolist(), model.col_upper.tolist(), model.integer.tolist()
        )
    ]
    nz = np.nonzero(model.col_cost)[0]
    prob.setObjective(
        pulp.LpAffineExpression([(variables[j], c) for j, c in zip(nz.tolist(), model.col_cost[nz].tolist())])
    )
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
    step = gcd(problem.graph.duration) / model.cost_scale
    t0 = time.perf_counter()
    if which == "highs":
        solver = pulp.HiGHS(
            msg=bool(problem.params.get("solver_log")),
            timeLimit=remaining_seconds(problem),
            threads=use_threads(problem.threads),
            gapRel=float(problem.relative_gap),
            gapAbs=float(step * (1 - 1e-6)),
            primal_feasibility_tolerance=float(tolerance),
            mip_feasibility_tolerance=float(tolerance),
            random_seed=int(problem.seed),
        )
        # PuLP's own solve() runs these four steps; calling them separately times the transfer
        # into HiGHS (a build cost), lets the time limit count it, and gives the HiGHS object.
        solver.createAndConfigureSolver(prob)
        solver.buildSolverModel(prob)
        transfer = time.perf_counter() - t0
        prob.solverModel.setOptionValue("time_limit", float(remaining_seconds(problem)))  # what the transfer left
        t1 = time.perf_counter()
        solver.callSolver(prob)
        h = prob.solverModel
        rechecked = {}
        if highs_status(h, True)[0] == "infeasible":  # HiGHS's presolve can be wrong: see _highs.recheck_infeasible
            h.clearSolver()
            h.setOptionValue("presolve", "off")
            h.setOptionValue("time_limit", float(remaining_seconds(problem)))
            h.run()
            rechecked = {"infeasible_rechecked_without_presolve": True}
        prob.assignStatus(*solver.findSolutionValues(prob))
        seconds = time.perf_counter() - t1
        status, has = highs_status(h, True)
        info = h.getInfo()
        x = _pulp_values(variables, model) if has else None
        extra = {
            "highs_model_status": h.modelStatusToString(h.getModelStatus()),
            "pulp_status": pulp.LpStatus[prob.status],
            "pulp_sol_status": prob.sol_status,
            "pulp_transfer_seconds": transfer,
            "solve_seconds": seconds,
            **rechecked,
        }
        obj = info.objective_function_value if has else None
        return SolveResult(
            status=status,
            x=x,
            objective=obj,
            bound=info.mip_dual_bound,
            trajectory=[(problem.elapsed(), obj)] if has else [],
            extra=extra,
        )
    import os
    import tempfile

    from pulp.apis.coin_api import pulp_cbc_path

    with tempfile.TemporaryDirectory(prefix="checkmate-cbc-") as tmp:
        log = os.path.join(tmp, "cbc.log")
        solver = pulp.COIN_CMD(
            path=pulp_cbc_path,
            msg=False,
            timeLimit=remaining_seconds(problem),
            threads=max(1, int(problem.threads)),
            gapRel=float(problem.relative_gap),
            gapAbs=float(step * (1 - 1e-6)),
            logPath=log,
        )
        prob.solve(solver)
        seconds = time.perf_counter() - t0
        text = open(log).read() if os.path.exists(log) else ""
    status, has = _cbc_status(prob, text)
    x = _pulp_values(variables, model) if has else None
    obj = pulp.value(prob.objective) if has else None
    if has and obj is None:  # an objective without terms (all durations 0)
        obj = float(model.col_cost[: model.layout.num_r] @ x)
    bound = _cbc_bound(text)
    if status == "optimal" and (bound is None or problem.relative_gap == 0):
        bound = (
            obj  # CBC proved it (its printed lower bound has 3 decimals; the proof used the objective's granularity)
        )
    extra = {
        "pulp_status": pulp.LpStatus[prob.status],
        "pulp_sol_status": prob.sol_status,
        "cbc_result": _cbc_result(text),
        "solve_seconds": seconds,
    }
    return SolveResult(
        status=status,
        x=x,
        objective=obj,
        bound=bound,
        trajectory=[(problem.elapsed(), obj)] if has else [],
        extra=extra,
        message="" if status != "error" else f"CBC: {_cbc_result(text) or 'no result line'}",
    )


def _pulp_values(variables, model) -> np.ndarray:
    """R values; a variable in no row and without cost is unknown to PuLP's solvers (value
    None) and takes its lower bound (1 for a frontier R[t,t])."""
    n = model.layout.num_r
    return np.array(
        [v.varValue if v.varValue is not None else lo for v, lo in zip(variables[:n], model.col_lower[:n].tolist())]
    )


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
