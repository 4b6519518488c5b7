"""checkmate-milp: Checkmate's O(n^2) Boolean MILP (model: formulations/_checkmate_model.py;
HiGHS plumbing: _highs.py; PuLP: _pulp.py; the warm start: _warm_start.py).

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

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

from moccasin_bench.formulation import BoundScope, Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "checkmate-milp"
DESCRIPTION = "Checkmate's Boolean MILP (R, S, FREE, U; n stages along the reference order) on HiGHS or PuLP"
LABEL = "Checkmate MILP"
KEY_PARAMS = ("backend", "pulp_solver")
PARAMS = (
    Param("backend", str, "highs", "highs: sparse arrays into highspy; pulp: a PuLP model", ("highs", "pulp")),
    Param("pulp_solver", str, "highs", "solver behind PuLP (backend=pulp)", ("highs", "cbc")),
    Param(
        "hazard",
        str,
        "clique",
        "FREE rows: both = Checkmate's two-sided linearisation, upper = only FREE <= rule, clique = set-packing rows (tighter LP)",
        ("both", "upper", "clique"),
    ),
    Param(
        "feasibility_tolerance",
        float,
        1e-7,
        "solver primal/MIP feasibility tolerance (memory is normalised by the budget)",
        low=1e-10,
        high=1e-4,
    ),
    Param(
        "warm_start",
        str,
        "heuristics",
        "start HiGHS from the cheapest fitting staged heuristic schedule, or from the annealer's on the stage grid "
        "(annealing, a fifth of the time limit) (backend=highs)",
        ("heuristics", "none", "annealing"),
    ),
    Param(
        "large_model",
        str,
        "auto",
        "HiGHS settings for huge models (probing off, objective as one continuous column): auto = above 500,000 columns",
        ("auto", "on", "off"),
    ),
    Param("solver_log", bool, False, "print the solver's log (HiGHS or CBC) to the console"),
    Param(
        "max_retries",
        int,
        2,
        "re-solves with a lower bound on U if a schedule's simulated peak exceeds the budget",
        low=0,
        high=100,
    ),
)

_MARGIN_FACTOR = 4.0


def label(params: Mapping[str, Any]) -> str:
    """The report's name: "Checkmate MILP (HiGHS)", "Checkmate MILP (PuLP/CBC)"."""
    names = {"highs": "HiGHS", "cbc": "CBC"}
    if params.get("backend", "highs") == "pulp":
        return f"{LABEL} (PuLP/{names.get(params.get('pulp_solver', 'highs'), params.get('pulp_solver'))})"
    return f"{LABEL} ({names.get(params.get('backend', 'highs'), params.get('backend'))})"


def model_size(problem: Problem) -> dict[str, int]:
    """Build the sparse MILP `solve` would build (no warm start, no solve) and return its size."""
    from formulations._checkmate_model import build_model
    from formulations._scaling import memory_unit
    from moccasin_bench.orders import reference_order

    g, p = problem.graph, problem.params
    order = reference_order(g, problem.reference_order_name)
    budget = problem.budget.bytes
    upper = u_upper_units(budget // memory_unit(g.memory, budget), float(p["feasibility_tolerance"]))
    return build_model(g, order, budget, normalize=True, hazard=p["hazard"], u_upper_units=upper).size()


def u_upper_units(budget_units: int, tolerance: float) -> float:
    """The bound put on U (GCD memory units) so that tolerance-level violations stay below the next unit."""
    return budget_units + 0.5 - _MARGIN_FACTOR * tolerance * max(budget_units, 1)


def _search(problem: Problem) -> SolverOutput:
    from formulations._checkmate_model import build_model, canonical_point, row_violation
    from formulations._highs import solve_highs
    from formulations._scaling import memory_unit
    from formulations._warm_start import checkmate_start
    from moccasin_bench.orders import reference_order
    from moccasin_bench.simulate import simulate

    g, p = problem.graph, problem.params
    order = reference_order(g, problem.reference_order_name)
    budget = problem.budget.bytes
    unit = memory_unit(g.memory, budget)
    budget_units = budget // unit
    tol = float(p["feasibility_tolerance"])
    upper = u_upper_units(budget_units, tol)
    backend = p["backend"] if p["backend"] == "highs" else f"pulp-{p['pulp_solver']}"
    variant = {
        "backend": backend,
        "hazard": p["hazard"],
        "order": "fixed",
        "reference_order": problem.reference_order_name,
        "feasibility_tolerance": tol,
    }
    build_seconds = solve_seconds = 0.0
    trajectory: list = []
    bounds: list = []
    retries = 0
    start = None
    notes: list[str] = []
    heuristics = p["warm_start"] == "heuristics"
    annealing = p["warm_start"] == "annealing"
    if p["backend"] == "highs" and (heuristics or annealing or problem.initial_schedule is not None):
        start, initial = checkmate_start(problem, order, heuristics=heuristics, annealing=annealing)
        variant["warm_start"] = (
            "none found" if start is None else {"name": start.name, "cost": start.cost, "seconds": start.seconds}
        )
        first_point = [] if start is None else [(problem.elapsed(), float(start.cost))]
        if initial is not None and "annealing" in initial:
            variant["annealing"] = initial.pop("annealing")
        if initial:
            variant["initial"] = initial
            if not initial["used"]:
                notes.append(f"the initial schedule was not used: {initial['why']}")
    else:
        variant["warm_start"] = "none"
        first_point = []
        if problem.initial_schedule is not None:
            variant["initial"] = {"used": False}
            notes.append("the initial schedule was not used: the PuLP backend passes no MIP start")
    while True:
        t0 = time.perf_counter()
        model = build_model(g, order, budget, normalize=True, hazard=p["hazard"], u_upper_units=upper)
        if p["backend"] == "highs":
            x0 = None
            if start is not None:
                x0 = canonical_point(g, model, start.r)
                if row_violation(model, x0) > 1e-9:  # e.g. its peak lies in a band the tolerances cut off
                    variant["warm_start"] = {
                        **variant["warm_start"],
                        "rejected": f"violates the model by {row_violation(model, x0):.3g}",
                    }
                    x0 = None
            build_seconds += time.perf_counter() - t0
            t1 = time.perf_counter()
            res = solve_highs(model, problem, mip=True, tolerance=tol, start=x0)
            solve_seconds += time.perf_counter() - t1
        else:
            from formulations._pulp import solve_pulp

            res = solve_pulp(model, problem, p["pulp_solver"], tolerance=tol)
            build_seconds += time.perf_counter() - t0 - res.extra.get("solve_seconds", 0.0)
            solve_seconds += res.extra.get("solve_seconds", 0.0)
        scale = model.cost_scale
        # a retry's incumbents replace the last ones; the warm start counts from when it was found
        trajectory = first_point + [
            (t, c)
            for t, c in ((t, _to_units(v, scale, g)) for t, v in res.trajectory)
            if not first_point or c < first_point[0][1]
        ]
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
        status, message = res.status, res.message
        if (
            status == "infeasible" and upper < budget_units
        ):  # proven only for the tightened budget, not for the budget itself
            status = "no_solution"
            message = "; ".join(
                filter(
                    None,
                    [
                        message,
                        f"the model is infeasible for the budget tightened to {math.floor(upper) * unit:,} "
                        f"to absorb solver tolerances (feasibility_tolerance {tol:g}), which proves "
                        f"nothing for the budget {budget:,}",
                    ],
                )
            )
        return SolverOutput(
            status=status,
            best_bound=_bound_units(res.bound, model.cost_scale, g),
            trajectory=tuple(trajectory),
            bound_trajectory=tuple(bounds),
            build_seconds=build_seconds,
            solve_seconds=solve_seconds,
            model_size=size,
            variant=variant,
            restrictions=restrictions,
            message="; ".join(filter(None, [message, *notes])),
        )
    if sim.peak_memory > budget:
        return SolverOutput(
            status="error",
            build_seconds=build_seconds,
            solve_seconds=solve_seconds,
            model_size=size,
            variant=variant,
            restrictions=restrictions,
            message=f"the solver's schedule peaks at {sim.peak_memory:,}, over the budget {budget:,}, after "
            f"{retries} re-solve(s) with a tighter bound: solver tolerances too loose for this instance "
            f"(try a smaller feasibility_tolerance)",
        )
    objective = _to_units(res.objective, model.cost_scale, g)
    bound = _bound_units(res.bound, model.cost_scale, g)
    if res.status == "optimal" and problem.relative_gap == 0 and bound is not None:
        bound = min(bound, objective)
    if not trajectory or trajectory[-1][1] != objective:
        trajectory.append((problem.elapsed(), objective))
    return SolverOutput(
        status=res.status,
        schedule=schedule,
        objective=objective,
        best_bound=bound,
        trajectory=tuple(trajectory),
        bound_trajectory=tuple(bounds),
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        model_size=size,
        variant=variant,
        restrictions=restrictions,
        message="; ".join(filter(None, [res.message, *notes])),
    )


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
    from formulations._scaling import gcd

    unit = gcd(graph.duration)
    return float(round(value * scale / unit) * unit)


def _bound_units(value: float | None, scale: float, graph) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    from formulations._checkmate_model import ceil_units
    from formulations._scaling import gcd

    return float(ceil_units(value * scale, gcd(graph.duration)))


def solve(problem: Problem) -> SolverOutput:
    """The search; its schedules are staged along the reference order, and so is its bound's scope."""
    out = _search(problem)
    order = problem.reference_order_name
    scope = BoundScope(order, None) if out.best_bound is not None else None
    return dataclasses.replace(out, bound_scope=scope, staged_order=order)
