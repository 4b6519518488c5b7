"""The Moccasin formulation: retention intervals in CP-SAT, started from the best schedule the harness finds.

Pipeline (`_Run`): (1) starts: by default a portfolio (formulations/_portfolio: heuristics, the annealer,
PyTorch's own rematerialisation on PyTorch graphs, the user's initial schedule) within portfolio_share of
the limit; the cheapest fitting start the model can express (staged along the fixed order, at most C
computations per node) is the hint, and the cheapest fitting start of all is the floor of the result;
(2) with no fitting start the model can take, or with `phases=2`, a first phase minimises the
cumulative capacity (memory over the budget) from the closest miss, and its first solution within the
budget hints the second; (3) the cost phase minimises the duration of the optional copies, by CP-SAT
and neighbourhood search around the incumbent. The model is in `_moccasin_model`, the neighbourhood
search in `_moccasin_search`.
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

# search=hybrid: the neighbourhoods of the search around the incumbent (formulations/_moccasin_search.py)
NEIGHBOURHOODS = ("order", "steps", "peak", "recompute")

NAME = "moccasin"
# search=auto: one CP-SAT solve up to this many variables (it proves RL2 90 % optimal in ~150 s on
# 2 threads, and improves RL2 80 % as well as the window search); window search above (RL3, RL4,
# where CP-SAT's presolve alone takes tens of seconds and its own neighbourhoods rarely improve)
LARGE_MODEL_VARIABLES = 8000
# warm_start=portfolio: the model's copies of a node are raised to take the cheapest start when it computes
# the node at most this many times (the members recompute freely; dtr and the annealer at tight budgets)
RAISE_COPIES_UP_TO = 8
# search=hybrid or segments on a graph of more edges than this, from a fitting start: no full model is built;
# the segment search (small CP-SAT models over windows of the start) takes the time left. The full model's
# size grows with the edges (a precedence literal per edge and copy): random layered n = 10,000 (150,644
# edges), fixed order, took 183 s to build under load (361,275 variables, 1.6 M constraints) and its
# neighbourhoods copy the whole model (4 in 81 s); pt-llama (3,557 nodes, 5,292 edges) builds and its
# neighbourhoods improve the start.
SEGMENTS_ONLY_EDGES = 50_000
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
        "portfolio",
        "portfolio: within portfolio_share of the limit, the initial schedule, the staged heuristics, every "
        "heuristic, PyTorch's partitioner and checkpointing (PyTorch graphs) and the annealer started from the best "
        "of them; the cheapest the model can express is the hint, the cheapest of all the floor of the result; "
        "heuristics (the paper's): hint the cheapest fitting staged heuristic schedule; annealing: run the annealer "
        "(same order, at most `copies` computations per node) for heuristic_share of the time and hint its "
        "schedule; none: no hint",
        ("portfolio", "heuristics", "none", "annealing"),
    ),
    Param(
        "horizon",
        int,
        0,
        "free order: number of time steps (0 = total copies, which restricts nothing)",
        low=0,
        high=10**9,
    ),
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
        "at most this share of the time limit goes to the start (heuristics, annealer or portfolio)",
        low=0,
        high=1,
    ),
    Param(
        "portfolio_share",
        float,
        0.5,
        "warm_start=portfolio: at most this share of the time limit goes to the portfolio (the rest to the model)",
        low=0,
        high=1,
        keyed_at_default=False,
    ),
    Param(
        "search",
        str,
        "hybrid",
        "hybrid: CP-SAT (up to 8000 model variables, for a third of the time) then neighbourhood search around "
        "the incumbent (windows along the order and the schedule, steps around the memory peak, blocks of "
        "recomputations) and a final CP-SAT solve for the last 10 %; cpsat: one CP-SAT solve; lns: window "
        "search, then a CP-SAT solve for the last 10 % of the time; auto: cpsat up to 8000 model variables, lns above; "
        "segments: CP-SAT (up to 8000 model variables, for a third of the time), then small CP-SAT models over "
        "windows of the best schedule (the model's or the start's) with the rest fixed, to the end of the limit",
        ("hybrid", "auto", "cpsat", "lns", "segments"),
    ),
    Param("cpsat", str, "", "extra CP-SAT parameters, name=value;name=value (e.g. linearization_level=2)"),
    Param(
        "deterministic_time",
        float,
        0.0,
        "stop each CP-SAT solve of the model at this many deterministic seconds (CP-SAT's "
        "max_deterministic_time: a limit that does not depend on the machine's load; 0 = none); "
        "the window search (search=lns, or hybrid and auto on large models) still follows the clock",
        low=0,
        high=1e9,
        keyed_at_default=False,
        limit=True,
    ),
)


DEFAULT_COPIES = next(x.default for x in PARAMS if x.name == "copies")


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
    """The model solved within the time limit, from the best start the run found. When building or solving
    it runs out of memory (a run's memory cap on a very large model), the fitting start already found is
    reported, not lost."""
    run = _Run(problem)
    try:
        return _scoped(problem, run.solve(), run)
    except MemoryError:
        out = run.out_of_memory()
        if out is None:
            raise
        return _scoped(problem, out, run)


def _scoped(problem: Problem, out: SolverOutput, run: _Run) -> SolverOutput:
    """`out` with the scope of its bound: at most C computations per node, staged along the reference order in
    fixed order (any order in free order); none with per-node copies, the authors' lengths or a horizon, whose
    scopes are narrower than the report checks. A schedule that is a start outside the model, or that follows
    a start's own order, is staged along no reference order (and carries no bound: `_Run.finish`)."""
    p = problem.params
    fixed_reference = p["order"] == "fixed" and run.follows_start is None and run.result_in_model
    staged = problem.reference_order_name if fixed_reference else None
    narrower = bool(p["copies_per_node"]) or p["lengths"] == "paper" or int(p["horizon"]) > 0
    scope = None if narrower or out.best_bound is None else BoundScope(staged, int(p["copies"]))
    return dataclasses.replace(out, bound_scope=scope, staged_order=staged)


class _Run:
    """One Moccasin solve, in phases: settle the model's copies and the initial schedule, find starts,
    build the model, bring memory within the budget (phase 1, only without a fitting start), minimise
    cost. The phases share this object's state, so what the run has found is never lost: a run that runs
    out of memory, or whose search ends costlier than its start, reports the start."""

    def __init__(self, problem: Problem) -> None:
        from moccasin_bench.orders import reference_order

        p = problem.params
        self.problem, self.p, self.g = problem, p, problem.graph
        self.copies = copies_per_node(self.g, p["copies"], p["copies_per_node"])
        self.fixed = p["order"] == "fixed"
        self.order = reference_order(self.g, problem.reference_order_name) if self.fixed else None
        self.options = _model_options(p)
        self.variant: dict = {
            "order": p["order"],
            "copies": int(p["copies"]),
            "copies_overridden": int(np.sum(self.copies != p["copies"])),
            "precedence": p["precedence"],
            "time_axis": self.options.time_axis,
            "end_domain": p["end_domain"],
            "lengths": p["lengths"],
            "symmetry": p["symmetry"],
            "search": p["search"],
            "cpsat": p["cpsat"],
            "threads": problem.threads,
        }
        if self.fixed:
            self.variant["order_followed"] = problem.reference_order_name
        self.notes: list[str] = []
        self.pool: list = []  # fitting starts as _portfolio.Start, cheapest first
        self.closest = None  # a schedule over the budget for phase 1 to start from
        self.start_seconds = 0.0
        self.hint = None  # (name, schedule, cost) of the cheapest start the model can express
        self.best_start = None  # the cheapest fitting start, in the model or not (a Start)
        self.build_seconds = 0.0
        self.size: dict = {}
        self.trajectory: list[tuple[float, float]] = []
        self.bounds: list[tuple[float, float]] = []
        self.restrictions = ""
        self.follows_start = None  # the start whose order the fixed-order model follows instead of the reference
        self.result_in_model = True  # False when the result is a start the model could not express
        # warm_start=portfolio: the cheapest start is the result's floor; the other modes report the model's
        # result, as they always did (their runs' keys keep their meaning)
        self.portfolio = p["warm_start"] == "portfolio"

    # ---- phases ---------------------------------------------------------------------------------------

    def solve(self) -> SolverOutput:
        from formulations import _cpsat
        from formulations import _moccasin_model as mm

        problem, g, p = self.problem, self.g, self.p
        limit = problem.time_limit_seconds
        extra = _search_params(p, problem)
        if p["deterministic_time"] > 0:
            extra.setdefault("max_deterministic_time", float(p["deterministic_time"]))
        given = self._initial()
        self._starts(given)
        if self._segments_only():
            return self._segments_without_model(limit)
        watch = _cpsat.Stopwatch()
        narrower = self._raise_copies_for_best_start()
        self._follow_best_start()
        for start in self.pool:  # the cheapest the model can express
            if mm.expressible(g, start.schedule, self.copies, self.options, self.order):
                self.hint = (start.name, start.schedule, start.cost)
                break
        if narrower is not None and (
            self.hint is None or not np.any(np.bincount(self.hint[1], minlength=g.n) > narrower)
        ):
            self.copies = narrower  # the start that needed more copies is not the hint: the model as it was
            self.variant.pop("copies_raised_for_start", None)
        two_phase = p["phases"] == "2" or (p["phases"] == "auto" and self.hint is None)
        options = self.options
        if two_phase:
            options = mm.ModelOptions(**{**options.__dict__, "capacity_variable": True})
        model = mm.build(g, problem.budget.bytes, self.copies, options, self.order, p["gcd"])
        # everything before the first solver call: the starts plus model construction
        self.build_seconds = watch.seconds() + self.start_seconds
        sc = model.scale
        self.variant.update(
            {
                "horizon": model.horizon,
                "modelled_copies": int(model.copies.sum()),
                "scaling": sc.to_json(),
                "heuristic_seconds": round(self.start_seconds, 3),
                "build_seconds_include": "the starts (heuristics, annealer or portfolio) and model construction",
                "warm_start_pool": len(self.pool),
                "warm_start": None if self.hint is None else {"name": self.hint[0], "cost": self.hint[2]},
                "phases": 2 if two_phase else 1,
            }
        )
        self.restrictions = _restrictions(
            p,
            problem.reference_order_name if self.follows_start is None else f"start's ({self.follows_start})",
            model.copies,
            model.horizon,
        )
        self.size = {**_cpsat.model_size(model.model), "intervals": int(model.copies.sum())}
        if self.size["variables"] <= LARGE_MODEL_VARIABLES and "cp_model_probing_level" not in extra:
            # probing in presolve costs more than it saves on these models (CM1 90 %: 0.16 -> 0.07 s to the
            # proven optimum; RL1 80 %: 0.70 -> 0.50 s; RL2 90 %: the same proof time, the optimum found sooner)
            extra["cp_model_probing_level"] = 0
            self.variant["cpsat_defaults"] = "cp_model_probing_level=0"
        self.solve_watch = _cpsat.Stopwatch()
        # the best known schedule over time: the portfolio's starts (the result's floor), else the hint
        floor = [s for s in self.pool if self.portfolio] or [
            s for s in self.pool if self.hint is not None and s.name == self.hint[0] and s.cost == self.hint[2]
        ][:1]
        for start in floor:
            self.trajectory.append((start.found_at_seconds, float(start.cost)))
        if floor:
            problem.notify(float(floor[0].cost))

        def to_cost(objective: float) -> float:  # exact unless durations had to be rounded (see Scaling)
            return (model.base_cost + objective) * sc.duration_factor

        # ---- phase 1: bring memory within the budget (only when no start fits, or phases=2) -------------
        incumbent = None  # (schedule, model objective) in the cost phase
        if two_phase:
            first = self.hint[1] if self.hint is not None else self.closest
            outcome = _phase_one(model, problem, first, limit, extra, self.variant)
            if outcome is None:
                proven = self.variant["phase1"]["status"] in ("optimal", "infeasible")
                return self.finish(
                    "infeasible" if proven else "no_solution",
                    message="phase 1 proved that no schedule within the model's restrictions fits the budget"
                    if proven
                    else "phase 1 found no schedule within the budget in the time limit",
                )
            model.model.clear_objective()
            model.model.add(model.capacity <= sc.capacity)
            incumbent = (outcome, model.objective_of(outcome))
            self.trajectory.append((problem.elapsed(), float(schedule_cost(g, outcome))))
            problem.notify(float(schedule_cost(g, outcome)))
        elif self.hint is not None:
            incumbent = (self.hint[1], model.objective_of(self.hint[1]))
            if self.hint[2] == g.sum_duration:  # the start recomputes nothing: no schedule costs less
                self.variant["search_stages"] = []
                return self.finish(
                    "optimal",
                    self.hint[1],
                    float(self.hint[2]),
                    float(self.hint[2]),
                    f"the start ({self.hint[0]}) recomputes nothing: optimal among all schedules, no search needed",
                )

        # ---- cost phase ---------------------------------------------------------------------------------
        model.model.minimize(0 if isinstance(model.cost, int) else model.cost)
        best, proven, bound, message = _cost_phase(
            model, problem, incumbent, to_cost, limit, extra, p["search"], self.variant, self.trajectory, self.bounds
        )
        if p["search"] == "segments":
            best, proven, bound = self._segments(model, best, proven, bound, to_cost, limit)
        if best is None:
            status = self.variant.get("cost_phase_status")
            if status == "infeasible":
                return self.finish(
                    "infeasible",
                    message="CP-SAT proved that no schedule within the model's restrictions fits the budget",
                )
            if status == "error":
                return self.finish("error", message=message)
            return self.finish("no_solution", message=message or "no solution within the time limit")
        schedule, objective = best
        if not self.result_in_model:  # a segment search's schedule outside the model: its cost, no bound
            return self.finish("feasible", schedule, float(schedule_cost(g, schedule)), None, message)
        if not sc.exact_durations:  # the model optimised rounded durations: no optimality or bound claim
            return self.finish(
                "feasible",
                schedule,
                float(schedule_cost(g, schedule)),
                None,
                f"durations were divided by {sc.duration_factor} and rounded to keep CP-SAT's objective below "
                f"2^50; the schedule's cost is exact, its optimality is not claimed",
            )
        bound_cost = None if bound is None else to_cost(bound)
        return self.finish("optimal" if proven else "feasible", schedule, to_cost(objective), bound_cost, message)

    def _segments(self, model, best, proven, bound, to_cost, limit):
        """search=segments: from the cheaper of the model's best and the best start, windows of the schedule
        re-solved as small CP-SAT models (formulations/_segment_search) to the end of the limit. A result the
        model cannot express leaves the model's scope: no bound, `result_in_model` False."""
        from formulations import _moccasin_model as mm
        from formulations._segment_search import segment_search

        g, problem = self.g, self.problem
        cost = None if best is None else float(schedule_cost(g, best[0]))
        schedule, origin = (None, None) if best is None else (best[0], "model")
        b = self.best_start
        if b is not None and (cost is None or b.cost < cost):
            schedule, cost, origin = b.schedule, float(b.cost), f"start ({b.name})"
        if schedule is None or (proven and origin == "model") or problem.elapsed() >= limit - 0.05:
            return best, proven, bound

        def improved(s: np.ndarray, c: int) -> None:
            problem.notify(float(c))

        began = problem.elapsed()
        found, stats = segment_search(
            g, problem.budget.bytes, schedule, problem.elapsed, limit, seed=problem.seed, on_improvement=improved
        )
        self.trajectory.extend(stats.points)
        self.variant["segments"] = {
            "from": origin,
            "seconds": round(problem.elapsed() - began, 3),
            **stats.to_json(),
        }
        if schedule_cost(g, found) >= cost:
            return best, proven, bound
        if mm.expressible(g, found, model.copies, model.options, self.order):
            self.variant["segments"]["in_model"] = True
            return (found, model.objective_of(found)), False, bound
        self.variant["segments"]["in_model"] = False
        self.result_in_model = False
        return (found, None), False, None

    def _large(self) -> bool:
        """Too large for the full model under the default search (see SEGMENTS_ONLY_EDGES)."""
        return self.p["search"] in ("hybrid", "segments") and self.p["phases"] != "2" and self.g.m > SEGMENTS_ONLY_EDGES

    def _segments_only(self) -> bool:
        """A large graph (more than SEGMENTS_ONLY_EDGES edges) with a fitting start, under the default search
        (or search=segments): the full model is not built (see SEGMENTS_ONLY_EDGES)."""
        return self.portfolio and self.best_start is not None and self._large()

    def _segments_without_model(self, limit: float) -> SolverOutput:
        """The best start improved window by window (formulations/_segment_search) to the end of the limit,
        without the full model: a feasible result without a bound, staged along no order."""
        from formulations import _cpsat
        from formulations._segment_search import segment_search

        g, problem, b = self.g, self.problem, self.best_start
        self.build_seconds = self.start_seconds
        self.solve_watch = _cpsat.Stopwatch()
        self.variant.update(
            {
                "heuristic_seconds": round(self.start_seconds, 3),
                "build_seconds_include": "the starts (no model built)",
                "warm_start_pool": len(self.pool),
                "full_model": f"not built: the graph has {g.m:,} edges (more than {SEGMENTS_ONLY_EDGES:,}); "
                "windows of the best start are solved as small CP-SAT models instead",
            }
        )
        self.restrictions = "the best start improved by windows re-solved as small CP-SAT models (no model bound)"
        self.result_in_model = False
        if b.cost == g.sum_duration:  # the start recomputes nothing: no schedule costs less
            self.variant["search_stages"] = []
            return self.finish(
                "optimal", b.schedule, float(b.cost), float(b.cost), "the start recomputes nothing: optimal"
            )
        for start in self.pool:
            self.trajectory.append((start.found_at_seconds, float(start.cost)))
        problem.notify(float(b.cost))
        began = problem.elapsed()
        found, stats = segment_search(
            g,
            problem.budget.bytes,
            b.schedule,
            problem.elapsed,
            limit,
            seed=problem.seed,
            on_improvement=lambda s, c: problem.notify(float(c)),
        )
        self.trajectory.extend(stats.points)
        self.variant["segments"] = {
            "from": f"start ({b.name})",
            "seconds": round(problem.elapsed() - began, 3),
            **stats.to_json(),
            "in_model": False,
        }
        self.variant["search_stages"] = [{"stage": "segments", "seconds": round(problem.elapsed() - began, 3)}]
        return self.finish("feasible", found, float(schedule_cost(g, found)), None)

    def _initial(self):
        """The initial schedule: (name, schedule) when it fits and the model can express it; the model's
        copies are raised only then. Over the budget but valid and expressible: phase 1's start."""
        if self.problem.initial_schedule is None:
            return None
        given, closest, self.copies = _use_initial(
            self.problem, self.copies, self.options, self.order, self.variant, self.notes
        )
        if closest is not None:
            self.closest = closest
        return given

    def _starts(self, given) -> None:
        """Fill the start pool as `warm_start` says, within heuristic_share (portfolio_share) of the limit."""
        from formulations._portfolio import Portfolio

        problem, g, p = self.problem, self.g, self.p
        pool = Portfolio()
        began = problem.elapsed()
        mode = p["warm_start"]
        if given is not None:
            pool.add(problem, "initial", given[1], None)
        if mode == "portfolio":
            from formulations._portfolio import run_portfolio

            fitting_initial = None
            if given is None and self.problem.initial_schedule is not None:
                fitting_initial = self.problem.initial_schedule  # not in the model, yet a start to beat
            # an explicit `copies` (or per-node copies) caps every member; at the default the members recompute
            # as they do alone and the model raises its copies to take the best start
            capped = p["copies"] != DEFAULT_COPIES or bool(p["copies_per_node"])
            found = run_portfolio(
                problem,
                self.order,
                self.copies,
                p["portfolio_share"],
                initial=fitting_initial,
                capped=capped,
                model_to_build=not self._large(),
            )
            pool.starts = sorted(pool.starts + found.starts, key=lambda x: (x.cost, len(x.schedule)))
            self.closest = self.closest if self.closest is not None else (found.closest[1] if found.closest else None)
            self.variant["portfolio"] = {**found.members, "share": p["portfolio_share"]}
            if found.tight is not None:
                self.variant["portfolio"]["tight"] = found.tight
        elif mode == "annealing":
            from formulations._warm_start import annealed_start

            annealed, self.variant["annealing"] = annealed_start(
                problem, self.fixed, int(p["copies"]), p["heuristic_share"]
            )
            if annealed is not None:
                pool.add(problem, "annealing", annealed, None)
            else:
                self.notes.append(f"the annealer found no fitting schedule ({self.variant['annealing']['status']})")
        elif mode == "heuristics":
            from formulations._warm_start import warm_start

            start = warm_start(
                g,
                problem.budget.bytes,
                self.order,
                max_computations=self.copies,
                deadline=problem.started_at + p["heuristic_share"] * problem.time_limit_seconds,
            )
            for name, s in start.fitting:
                pool.add(problem, name, s, None)
            if self.closest is None and start.closest:
                self.closest = start.closest[1]
        self.start_seconds = problem.elapsed() - began
        self.pool = pool.starts
        self.best_start = pool.best
        if self.best_start is not None:
            b = self.best_start
            self.variant["start"] = {
                "name": b.name,
                "cost": b.cost,
                "tdi_percent": round(100.0 * (b.cost / g.sum_duration - 1.0), 4) if g.sum_duration else 0.0,
                "found_at_seconds": b.found_at_seconds,
            }

    def _raise_copies_for_best_start(self):
        """Portfolio: the cheapest start may compute some nodes more often than `copies` (the members
        recompute freely); the model's copies are raised for those nodes (up to RAISE_COPIES_UP_TO) so the
        search improves the best schedule. Returns the copies before (None when nothing was raised)."""
        if not self.portfolio or not self.pool:
            return None
        b = self.pool[0]
        need = np.bincount(b.schedule, minlength=self.g.n)
        raised = need > self.copies
        if not raised.any() or int(need.max()) > RAISE_COPIES_UP_TO:
            return None
        before = self.copies
        self.copies = np.maximum(self.copies, need)
        self.variant["copies_raised_for_start"] = {"start": b.name, "nodes": int(raised.sum())}
        return before

    def _follow_best_start(self) -> None:
        """Fixed order, portfolio: when the cheapest start is not staged along the reference order but is
        along its own order of first computations (after sorting each stage's recomputations by that
        order, when the simulator still accepts it), the model follows that order: its grid holds the
        start, so the search improves the best schedule, not a worse one. Its bound covers that order only."""
        if not self.fixed or not self.pool or self.p["warm_start"] != "portfolio" or self.p["lengths"] == "paper":
            return
        from formulations import _moccasin_model as mm
        from formulations._portfolio import Start

        for i, b in enumerate(self.pool[:3]):  # the cheapest few: a cheaper start the model can take wins
            if mm.expressible(self.g, b.schedule, self.copies, self.options, self.order):
                return
            _, first = np.unique(b.schedule, return_index=True)
            own = b.schedule[np.sort(first)]
            for s in (b.schedule, _staged_along(b.schedule, own)):
                if s is None or not mm.expressible(self.g, s, self.copies, self.options, own):
                    continue
                if not np.array_equal(s, b.schedule):
                    from moccasin_bench.simulate import simulate

                    sim = simulate(self.g, s)
                    if not sim.fits(self.problem.budget.bytes) or sim.total_duration > b.cost:
                        continue
                    self.pool[i] = b = Start(b.name, s, int(sim.total_duration), b.found_at_seconds)
                self.order = own
                self.follows_start = b.name
                self.variant["order_followed"] = f"the first computations of the start ({b.name})"
                self.pool.sort(key=lambda x: (x.cost, len(x.schedule)))
                self.best_start = self.pool[0]
                return

    # ---- results --------------------------------------------------------------------------------------

    def finish(self, status: str, schedule=None, objective=None, bound=None, message="") -> SolverOutput:
        """The result, never costlier than the best start: the start is returned when the search ended
        above it (or found nothing); its bound then no longer applies (the start may lie outside the model)."""
        if self.follows_start is not None and bound is not None and objective != self.g.sum_duration:
            # a bound over schedules staged along the start's order, not the reference order: kept apart
            self.variant["model_bound"] = bound
            if status == "optimal":
                status = "feasible"
                message = "; ".join(
                    filter(None, [f"optimal along the order of the start ({self.follows_start})", message])
                )
            bound = None
        b = self.best_start if self.portfolio else None
        if b is not None:
            in_model = self.hint is not None and b.name == self.hint[0] and b.cost == self.hint[2]
            self.variant["start"]["in_model"] = in_model
            if schedule is None or schedule_cost(self.g, schedule) > b.cost:
                why = "found nothing" if schedule is None else f"ended at {schedule_cost(self.g, schedule):,}"
                keep_bound = in_model and status != "infeasible"
                message = "; ".join(
                    filter(
                        None, [f"the start ({b.name}, cost {b.cost:,}) is reported: the model's search {why}", message]
                    )
                )
                status = "optimal" if status == "optimal" and keep_bound else "feasible"
                schedule, objective = b.schedule, float(b.cost)
                bound = bound if keep_bound else None
                self.result_in_model = in_model
            self.variant["cpsat_improved"] = self._improvement(float(objective))
        return SolverOutput(
            status=status,
            schedule=schedule,
            objective=objective,
            best_bound=bound,
            trajectory=tuple(_improving(self.trajectory)),
            bound_trajectory=tuple(self.bounds),
            build_seconds=self.build_seconds,
            solve_seconds=self.solve_watch.seconds() if hasattr(self, "solve_watch") else 0.0,
            model_size=self.size,
            variant=self.variant,
            restrictions=self.restrictions,
            message="; ".join(filter(None, [message, *self.notes])),
        )

    def _improvement(self, final_cost: float) -> dict | None:
        """When the model's search first beat the best start, and by how much in the end (None: it did not)."""
        b = self.best_start
        if final_cost >= b.cost:
            return None
        first = min((t for t, c in self.trajectory if c < b.cost), default=None)
        return {
            "cost_saved": int(round(b.cost - final_cost)),
            "tdi_points": round(100.0 * (b.cost - final_cost) / self.g.sum_duration, 4),
            "first_at_seconds": None if first is None else round(first, 3),
        }

    def out_of_memory(self) -> SolverOutput | None:
        """After a MemoryError: the best start, feasible, said in the message; None without one."""
        b = self.best_start
        if b is None:
            return None
        self.variant["out_of_memory"] = True
        self.result_in_model = self.hint is not None and b.name == self.hint[0] and b.cost == self.hint[2]
        return SolverOutput(
            status="feasible",
            schedule=b.schedule,
            objective=float(b.cost),
            trajectory=((b.found_at_seconds, float(b.cost)),),
            build_seconds=self.build_seconds,
            model_size=self.size,
            variant=self.variant,
            message=f"the model ran out of memory after {self.problem.elapsed():.0f} s (building or solving it); the "
            f"schedule reported is the start's ({b.name}): whatever the model had found was lost with it",
        )


def _staged_along(schedule: np.ndarray, order: np.ndarray) -> np.ndarray | None:
    """`schedule` with each stage's recomputations sorted by position in `order` (a node recomputed twice
    in one stage keeps its later copy); None when a first computation comes out of `order`."""
    n = len(order)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    out: list[int] = []
    pending: dict[int, int] = {}
    stage = 0
    for v in schedule.tolist():
        k = int(position[v])
        if k == stage:  # the stage's first computation closes it
            out.extend(sorted(pending, key=pending.__getitem__))
            out.append(v)
            pending.clear()
            stage += 1
        elif k < stage:
            pending[v] = k
        else:
            return None
    return np.asarray(out, dtype=np.int64) if stage == n else None


def _use_initial(
    problem: Problem, copies: np.ndarray, options: Any, order: np.ndarray | None, variant: dict, notes: list[str]
) -> tuple[tuple[str, np.ndarray] | None, np.ndarray | None, np.ndarray]:
    """The initial schedule as a starting point: (name, schedule) when it fits and the model can express it,
    the schedule as phase 1's start when it is valid but over the budget, and the copies per node, raised
    where the schedule computes a node more often than the model would allow (up to the `copies` cap), and
    only when the schedule is used: a schedule the model does not take leaves the model as it was."""
    from formulations import _moccasin_model as mm
    from moccasin_bench.simulate import simulate

    g = problem.graph
    s = np.asarray(problem.initial_schedule, dtype=np.int64)
    need = np.bincount(s, minlength=g.n)
    raised = need > copies
    wider = np.maximum(copies, need)
    sim = simulate(g, s)
    info: dict = {
        "steps": int(len(s)),
        "cost": int(sim.total_duration),
        "peak": int(sim.peak_memory),
        "valid": sim.valid,
        "fits": sim.fits(problem.budget.bytes),
        "copies_raised": 0,
        "used": False,
    }
    variant["initial"] = info
    cap = int(next(x.high for x in PARAMS if x.name == "copies"))
    if not sim.valid:
        info["why"] = sim.violation.describe()
    elif int(need.max(initial=0)) > cap:
        v = int(np.argmax(need))
        info["why"] = f"it computes node {g.to_ids([v])[0]!r} {int(need[v]):,} times, more than the copies cap {cap:,}"
    elif not mm.expressible(g, s, wider, options, order):
        info["why"] = (
            f"it is not staged along the {problem.reference_order_name} order (the fixed-order grid)"
            if options.order_mode == "fixed"
            else "it is longer than the model's horizon"
        )
    else:
        info["used"] = True
        info["copies_raised"] = int(raised.sum())
        return (("initial", s), None, wider) if info["fits"] else (None, s, wider)
    notes.append(f"the initial schedule was not used: {info['why']}")
    return None, None, copies


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
            model.model.clear_hints()
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

    def lns(until: float, kinds: tuple[str, ...] | None = None) -> None:
        nonlocal best, proven, bound
        state = Incumbent(schedule=best[0], objective=best[1])
        began = problem.elapsed()
        window_search(
            model, problem, state, to_cost, until, problem.threads, seed=problem.seed, accept=valid, kinds=kinds
        )
        variant["rejected_invalid_solutions"] += state.rejected
        trajectory.extend(state.points)
        stages.append(
            {
                "stage": "window_search" if kinds is None else "neighbourhoods",
                "seconds": round(problem.elapsed() - began, 3),
                "iterations": state.iterations,
                "improvements": state.improvements,
                "closed": state.closed,
                **({"by_kind": state.by_kind} if kinds is not None else {}),
            }
        )
        best = (state.schedule, state.objective)
        if state.proven:
            proven, bound = True, state.objective

    def left() -> float:
        return max(0.0, limit - problem.elapsed())

    large = len(model.model.proto.variables) > LARGE_MODEL_VARIABLES
    if search == "hybrid" and best is not None:
        # CP-SAT first where it is fast (small models: it often proves the optimum), then neighbourhoods
        # around the incumbent, then CP-SAT from the best schedule for the last 10 % (its bound)
        final_share = 0.1 * limit
        if not large:
            full_solve(min(left(), max(1.0, left() / 3)))
        if not done and left() > final_share + 0.5:
            lns(limit - final_share, kinds=NEIGHBOURHOODS)
        if not done and not proven and left() > 0.05:
            full_solve(left())
    elif search == "segments":  # CP-SAT on small models; the segment search follows (_Run._segments)
        if best is None or not large:
            full_solve(left() if best is None else min(left(), max(1.0, left() / 3)))
    elif search in ("cpsat", "hybrid") or best is None or (search == "auto" and not large):
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
