"""checkmate-cp: Checkmate's Boolean model (formulations/_checkmate_model.py) in CP-SAT.

Same variables, same stages and the same integer points as checkmate-milp. Being a
SAT-based solver, CP-SAT gets the Boolean rows as clauses: carry-over and dependencies
are three-literal clauses, and FREE[t,(i,k)] <=> R[t,k] and not S[t+1,i] and no later
reader of i runs in stage t (implications one way, one clause the other). U[t,k] is an
integer in GCD memory units, bounded by the budget: exact, no tolerances.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from moccasin_bench.formulation import VALID_STATUSES, BoundScope, Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "checkmate-cp"
DESCRIPTION = "Checkmate's Boolean model (R, S, FREE, U; n stages along the reference order) in CP-SAT"
LABEL = "Checkmate CP (CP-SAT)"
PARAMS = (
    Param(
        "warm_start",
        str,
        "heuristics",
        "hint the cheapest fitting staged heuristic schedule, or the annealer's on the stage grid (annealing)",
        ("heuristics", "none", "annealing"),
    ),
    Param("free_rule", str, "exact", "exact: FREE <=> no hazard; upper: only FREE => no hazard", ("exact", "upper")),
    Param("solver_log", bool, False, "print CP-SAT's search log"),
)


def build(graph, order: np.ndarray, budget_bytes: int, free_rule: str = "exact"):
    """(model, R variables in layout order, layout, duration GCD, S variables by stage)."""
    from formulations._checkmate_model import make_layout, successor_positions
    from formulations._cpsat import cp_model
    from formulations._scaling import gcd, memory_unit

    lay = make_layout(graph, order)
    n = lay.n
    mem_gcd = memory_unit(graph.memory, budget_bytes)
    mem = (graph.memory[lay.order] // mem_gcd).astype(np.int64).tolist()
    budget_units = int(budget_bytes) // mem_gcd
    dur_gcd = gcd(graph.duration)
    dur = (graph.duration[lay.order] // dur_gcd).astype(np.int64).tolist()
    succ_ptr, succ = successor_positions(graph, lay)
    readers = [succ[succ_ptr[i] : succ_ptr[i + 1]].tolist() for i in range(n)]
    pair_src, pair_dst = lay.pair_src.tolist(), lay.pair_dst.tolist()
    pairs_with_dst: list[list[int]] = [[] for _ in range(n)]
    for q, k in enumerate(pair_dst):
        pairs_with_dst[k].append(q)

    m = cp_model.CpModel()
    R = [[m.new_bool_var(f"R_{t}_{i}") for i in range(t + 1)] for t in range(n)]
    S = [[m.new_bool_var(f"S_{t}_{i}") for i in range(t)] for t in range(n)]
    for t in range(n):
        m.add(R[t][t] == 1)
    for t in range(n - 1):
        for i in range(t):
            m.add_bool_or([~S[t + 1][i], S[t][i], R[t][i]])
    for u, v in zip(pair_src, pair_dst):
        for t in range(v, n):
            m.add_bool_or([~R[t][v], R[t][u], S[t][u]])
    for t in range(n):
        p = int(lay.pairs_upto[t])
        F = [m.new_bool_var(f"F_{t}_{q}") for q in range(p)]
        for q in range(p):
            i, k = pair_src[q], pair_dst[q]
            hazards = [~R[t][k]] + ([S[t + 1][i]] if t < n - 1 else []) + [R[t][j] for j in readers[i] if k < j <= t]
            for h in hazards:
                m.add_implication(F[q], ~h)
            if free_rule == "exact":
                m.add_bool_or([F[q]] + hazards)
        U = [m.new_int_var(0, budget_units, f"U_{t}_{k}") for k in range(t + 1)]
        m.add(U[0] == sum(mem[i] * S[t][i] for i in range(t) if mem[i]) + mem[0] * R[t][0])
        for k in range(1, t + 1):
            freed = [mem[pair_src[q]] * F[q] for q in pairs_with_dst[k - 1] if mem[pair_src[q]]]
            m.add(U[k] == U[k - 1] + mem[k] * R[t][k] - sum(freed))
    flat_r = [R[t][i] for t in range(n) for i in range(t + 1)]
    m.minimize(sum(dur[i] * R[t][i] for t in range(n) for i in range(t + 1) if dur[i]))
    return m, flat_r, lay, dur_gcd, S


def model_size(problem: Problem) -> dict[str, int]:
    """Build the CP-SAT model `solve` would build (no warm start, no solve) and return its size."""
    from formulations._cpsat import model_size as cpsat_size
    from moccasin_bench.orders import reference_order

    order = reference_order(problem.graph, problem.reference_order_name)
    model = build(problem.graph, order, problem.budget.bytes, problem.params["free_rule"])[0]
    return cpsat_size(model, nonzeros=True)


def _search(problem: Problem) -> SolverOutput:
    from formulations._cpsat import Stopwatch, TrajectoryCallback, make_solver, model_size, status_name
    from moccasin_bench.orders import reference_order

    g, p = problem.graph, problem.params
    order = reference_order(g, problem.reference_order_name)
    watch = Stopwatch()
    model, flat_r, lay, dur_gcd, S = build(g, order, problem.budget.bytes, p["free_rule"])
    build_seconds = watch.seconds()
    variant = {
        "free_rule": p["free_rule"],
        "order": "fixed",
        "reference_order": problem.reference_order_name,
        "warm_start": "none",
    }
    first_point = []
    start = None
    notes: list[str] = []
    if p["warm_start"] in ("heuristics", "annealing") or problem.initial_schedule is not None:
        from formulations._checkmate_model import least_checkpoints
        from formulations._warm_start import checkmate_start

        start, initial = checkmate_start(
            problem, order, heuristics=p["warm_start"] == "heuristics", annealing=p["warm_start"] == "annealing"
        )
        if initial is not None and "annealing" in initial:
            variant["annealing"] = initial.pop("annealing")
        initial = initial or None
        if initial is not None:
            variant["initial"] = initial
            if not initial["used"]:
                notes.append(f"the initial schedule was not used: {initial['why']}")
        if start is None:
            variant["warm_start"] = "none found"
        else:
            variant["warm_start"] = {"name": start.name, "cost": start.cost, "seconds": start.seconds}
            first_point = [(problem.elapsed(), float(start.cost))]
            t_idx, i_idx = lay.triangle()
            for var, value in zip(flat_r, start.r[t_idx, i_idx].tolist()):
                model.add_hint(var, value)
            s = least_checkpoints(g, order, start.r)
            for t in range(g.n):
                for i in range(t):
                    model.add_hint(S[t][i], bool(s[t, i]))
    remaining = max(0.5, problem.time_limit_seconds - problem.elapsed())
    solver = make_solver(problem, time_limit_seconds=remaining, log_search_progress=bool(p["solver_log"]))
    callback = TrajectoryCallback(problem, to_cost=lambda v: float(round(v) * dur_gcd))
    watch = Stopwatch()
    code = solver.solve(model, callback)
    solve_seconds = watch.seconds()
    status = status_name(code)
    restrictions = f"Checkmate stage structure along the {problem.reference_order_name} reference order"
    if problem.relative_gap > 0:
        restrictions += f"; optimal within a relative gap of {problem.relative_gap:g}"
    points = first_point + [(t, c) for t, c in callback.points if not first_point or c < first_point[0][1]]
    common = dict(
        trajectory=tuple(points),
        bound_trajectory=tuple(callback.bounds),
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        model_size=model_size(model),
        variant=variant,
        restrictions=restrictions,
        message="; ".join(notes),
    )
    if status not in VALID_STATUSES:
        bound = None
        if status == "no_solution":
            bound = float(np.ceil(solver.best_objective_bound - 1e-9) * dur_gcd)
            if start is not None:  # CP-SAT found nothing of its own: the start it was given is the incumbent
                common["message"] = "; ".join(
                    filter(
                        None,
                        [
                            common["message"],
                            "CP-SAT found no solution of its own "
                            f"in the time limit: the start ({start.name}) is reported",
                        ],
                    )
                )
                return SolverOutput(
                    status="feasible",
                    schedule=lay.schedule_from_r(start.r[lay.triangle()]),
                    objective=float(start.cost),
                    best_bound=bound,
                    **common,
                )
        return SolverOutput(status=status, best_bound=bound, **common)
    r = np.array([solver.boolean_value(v) for v in flat_r], dtype=float)
    schedule = lay.schedule_from_r(r)
    objective = float(round(solver.objective_value) * dur_gcd)
    bound = float(np.ceil(solver.best_objective_bound - 1e-9) * dur_gcd)
    return SolverOutput(
        status=status, schedule=schedule, objective=objective, best_bound=min(bound, objective), **common
    )


def solve(problem: Problem) -> SolverOutput:
    """The search; its schedules are staged along the reference order, and so is its bound's scope."""
    out = _search(problem)
    order = problem.reference_order_name
    scope = BoundScope(order, None) if out.best_bound is not None else None
    return dataclasses.replace(out, bound_scope=scope, staged_order=order)
