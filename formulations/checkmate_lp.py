"""checkmate-lp: the LP relaxation of Checkmate's MILP, then rounding of S.

The relaxation (formulations/_checkmate_model.py, solved by HiGHS) gives fractional
checkpoints S. Each rounding of S (deterministic thresholds, then Bernoulli samples with
the run's seed) is completed by the least computation it requires: each stage computes
its frontier node, every value that must be held into the next stage but is not held now,
and, backwards through the stage, every input of a computed node that is not held. The
simulator judges each resulting schedule; the cheapest that fits is kept. When none fits,
the run is `no_solution` and the message gives the smallest excess found.

Checkmate solved the relaxation at 0.9 x budget to push roundings under the budget:
`lp_budget_scale` reproduces that (default 1.0, the true budget). With scale 1 the LP
optimum is a lower bound for the fixed-order MILP and is reported as best_bound. The LP
gets 80 % of the remaining time; when it does not finish, its last iterate (if HiGHS
has one) is rounded instead and no bound is reported.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from moccasin_bench.formulation import BoundScope, Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "checkmate-lp"
DESCRIPTION = "LP relaxation of Checkmate's MILP + threshold and randomized rounding of S (HiGHS)"
LABEL = "Checkmate LP+rounding"
PARAMS = (
    Param(
        "thresholds",
        str,
        "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
        "deterministic rounding: S >= threshold, comma-separated",
    ),
    Param(
        "samples", int, 20, "randomized roundings: S[t,i] = 1 with probability S_lp[t,i] (seeded)", low=0, high=100_000
    ),
    Param(
        "lp_budget_scale",
        float,
        1.0,
        "solve the LP at this fraction of the budget (Checkmate used 0.9)",
        low=0,
        high=1,
        open_low=True,
    ),
    Param("hazard", str, "clique", "FREE rows of the relaxation (see checkmate-milp)", ("both", "upper", "clique")),
    Param("lp_method", str, "choose", "HiGHS LP algorithm", ("choose", "simplex", "ipm", "pdlp")),
    Param("solver_log", bool, False, "print HiGHS's log"),
)


def least_computation(s: np.ndarray, pred_pos: list[np.ndarray]) -> np.ndarray:
    """The least R (dense bool by position) that checkpoints `s` require: frontier nodes,
    values carried into the next stage that are not held now, and unheld inputs of
    computed nodes, backwards within each stage (all stages at once)."""
    n = s.shape[0]
    s = np.tril(np.asarray(s, dtype=bool), -1)
    r = np.zeros((n, n), dtype=bool)
    r[np.arange(n), np.arange(n)] = True
    if n > 1:
        r[:-1] |= s[1:] & ~s[:-1]
    for v in range(n - 1, -1, -1):
        rows = r[:, v]
        if not rows.any():
            continue
        for u in pred_pos[v]:
            r[:, u] |= rows & ~s[:, u]
    return np.tril(r)


def parse_thresholds(text: str) -> list[float]:
    """The rounding thresholds: comma-separated numbers, each strictly between 0 and 1."""
    from moccasin_bench.errors import UserError

    try:
        thresholds = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UserError(
            f"parameter 'thresholds' of checkmate-lp must be comma-separated numbers, got {text!r}"
        ) from None
    bad = [t for t in thresholds if not 0 < t < 1]
    if bad:
        raise UserError(f"parameter 'thresholds' of checkmate-lp: every threshold must be in (0, 1), got {bad[0]!r}")
    return thresholds


def check(params, graph) -> None:
    """Parameter errors a run would meet, found before it runs (a sweep's plan, --dry-run)."""
    parse_thresholds(params["thresholds"])


def _search(problem: Problem) -> SolverOutput:
    from formulations._checkmate_model import build_model, ceil_units, make_layout
    from formulations._highs import highs_instance, highs_status, pass_model
    from formulations._scaling import gcd
    from moccasin_bench.orders import reference_order
    from moccasin_bench.simulate import simulate

    g, p = problem.graph, problem.params
    thresholds = parse_thresholds(p["thresholds"])
    order = reference_order(g, problem.reference_order_name)
    budget = problem.budget.bytes
    scale = float(p["lp_budget_scale"])
    lp_budget = int(math.floor(scale * budget))
    variant = {
        "hazard": p["hazard"],
        "lp_budget_scale": scale,
        "lp_method": p["lp_method"],
        "order": "fixed",
        "reference_order": problem.reference_order_name,
        "samples": p["samples"],
        "thresholds": thresholds,
    }
    restrictions = (
        f"rounded LP relaxation of the Checkmate model along the {problem.reference_order_name} reference order"
    )

    t0 = time.perf_counter()
    model = build_model(g, order, lp_budget, normalize=True, hazard=p["hazard"])
    build_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    h = highs_instance(problem, 1e-7, mip=False)
    h.setOptionValue("solver", p["lp_method"])
    # leave a fifth of the time for rounding: an unfinished relaxation is rounded all the same
    h.setOptionValue("time_limit", max(0.5, 0.8 * (problem.time_limit_seconds - problem.elapsed())))
    pass_model(h, model, mip=False)
    h.run()
    lp_status, has = highs_status(h, mip=False)
    if lp_status == "infeasible":  # only a verdict HiGHS repeats without presolve (see _highs.recheck_infeasible)
        h.clearSolver()
        h.setOptionValue("presolve", "off")
        h.run()
        lp_status, has = highs_status(h, mip=False)
        variant["infeasible_rechecked_without_presolve"] = True
    values_known = bool(h.getSolution().value_valid)
    lp_seconds = time.perf_counter() - t1
    variant["lp_status"] = h.modelStatusToString(h.getModelStatus())
    variant["lp_seconds"] = lp_seconds
    size = model.size()
    common = dict(build_seconds=build_seconds, model_size=size, variant=variant, restrictions=restrictions)
    if lp_status == "infeasible":
        status = "infeasible" if scale >= 1 else "no_solution"
        return SolverOutput(
            status=status, solve_seconds=lp_seconds, message="the LP relaxation is infeasible", **common
        )
    finished = lp_status == "optimal" and has
    if not finished and not (lp_status in ("feasible", "no_solution") and values_known):
        return SolverOutput(
            status="no_solution" if lp_status != "error" else "error",
            solve_seconds=lp_seconds,
            message=f"the LP relaxation ended with {variant['lp_status']}",
            **common,
        )
    x = np.asarray(h.getSolution().col_value)
    bound = None
    if finished and scale >= 1:
        bound = float(ceil_units(h.getInfo().objective_function_value * model.cost_scale, gcd(g.duration)))
    if not finished:
        variant["rounded"] = "the last iterate of the unfinished relaxation (no bound)"
    lay = model.layout
    s_lp = np.clip(lay.s_matrix(x), 0.0, 1.0)
    del x, model, h

    lay = make_layout(g, order)
    pos = np.empty(g.n, dtype=np.int64)
    pos[lay.order] = np.arange(g.n)
    pred_pos = [pos[g.predecessors(int(v))] for v in lay.order]
    rng = np.random.default_rng(problem.seed)
    candidates = [(f"threshold {th:g}", s_lp >= th - 1e-9) for th in thresholds]
    best = None  # (cost, schedule, how)
    closest = None  # (peak, how)
    trajectory = []
    seen: set[bytes] = set()
    k = 0
    while k < len(thresholds) + p["samples"]:
        if problem.elapsed() > problem.time_limit_seconds:
            break
        how, s = (
            candidates[k]
            if k < len(thresholds)
            else (f"random sample {k - len(thresholds) + 1}", rng.random(s_lp.shape) < s_lp)
        )
        k += 1
        key = np.packbits(s).tobytes()
        if key in seen:
            continue
        seen.add(key)
        r = least_computation(s, pred_pos)
        t_idx, i_idx = np.nonzero(r)  # row-major: stage by stage, positions ascending
        schedule = lay.order[i_idx]
        sim = simulate(g, schedule)
        if sim.fits(budget):
            if best is None or sim.total_duration < best[0]:
                best = (sim.total_duration, schedule, how)
                trajectory.append((problem.elapsed(), float(sim.total_duration)))
                problem.notify(float(sim.total_duration), bound)
        elif closest is None or sim.peak_memory < closest[0]:
            closest = (sim.peak_memory, how)
    solve_seconds = time.perf_counter() - t1
    variant["roundings_tried"] = len(seen)
    if best is None:
        msg = "no rounding fits the budget"
        if closest is not None:
            over = closest[0] - budget
            msg += f"; the closest ({closest[1]}) peaks at {closest[0]:,}, {over:,} ({100 * over / max(budget, 1):.2f} %) over"
        return SolverOutput(status="no_solution", best_bound=bound, solve_seconds=solve_seconds, message=msg, **common)
    cost, schedule, how = best
    variant["chosen"] = how
    return SolverOutput(
        status="feasible",
        schedule=schedule,
        objective=float(cost),
        best_bound=bound,
        trajectory=tuple(trajectory),
        solve_seconds=solve_seconds,
        **common,
    )


def solve(problem: Problem) -> SolverOutput:
    """The search; its schedules are staged along the reference order, and so is its bound's scope."""
    out = _search(problem)
    order = problem.reference_order_name
    scope = BoundScope(order, None) if out.best_bound is not None else None
    return dataclasses.replace(out, bound_scope=scope, staged_order=order)
