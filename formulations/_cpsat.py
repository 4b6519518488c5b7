"""CP-SAT plumbing shared by the CP formulations: the import, parameters, trajectory, status.

Imported only from inside a formulation's `solve`, so ortools loads lazily. Formulations
take `cp_model` from here (`from formulations._cpsat import cp_model`), never from ortools
directly, so that it is imported the fast way (see `_import_cp_model`).
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

from moccasin_bench.formulation import Problem


def _import_cp_model() -> types.ModuleType:
    """ortools' cp_model module imports pandas at its top for its pandas-Series API (new_int_var_series,
    values, ...), which the harness never calls; pandas and the pyarrow it loads take about 0.8 s, more
    than proving CM1's optimum. Unless pandas is already loaded, cp_model is imported against a stand-in
    with empty Index and Series classes (its isinstance checks then say no), and the stand-in is removed
    from sys.modules at once, so a later `import pandas` in the same process loads the real one."""
    if "ortools.sat.python.cp_model" in sys.modules or "pandas" in sys.modules:
        from ortools.sat.python import cp_model as module

        return module
    stand_in = types.ModuleType("pandas", "stand-in while ortools.sat.python.cp_model is imported")
    stand_in.Index = type("Index", (), {})
    stand_in.Series = type("Series", (), {})
    sys.modules["pandas"] = stand_in
    try:
        from ortools.sat.python import cp_model as module
    finally:
        if sys.modules.get("pandas") is stand_in:
            del sys.modules["pandas"]
    return module


cp_model = _import_cp_model()


class TrajectoryCallback(cp_model.CpSolverSolutionCallback):
    """Records (seconds since Problem.started_at, cost, bound) at each improving solution.

    `to_cost` maps CP-SAT's (possibly scaled) objective value back to the graph's units;
    `on_solution` (optional) receives the callback to read variable values; `accept`
    (optional) may veto a solution (e.g. one the simulator rejects): it is then not recorded
    and counted in `rejected`.
    """

    def __init__(
        self,
        problem: Problem,
        to_cost: Callable[[float], float] = float,
        on_solution: Callable[[TrajectoryCallback], None] | None = None,
        accept: Callable[[TrajectoryCallback], bool] | None = None,
    ) -> None:
        super().__init__()
        self.problem = problem
        self.to_cost = to_cost
        self.on_solution = on_solution
        self.accept = accept
        self.rejected = 0
        self.points: list[tuple[float, float]] = []
        self.bounds: list[tuple[float, float]] = []

    def on_solution_callback(self) -> None:
        if self.accept is not None and not self.accept(self):
            self.rejected += 1
            return
        t = self.problem.elapsed()
        cost, bound = self.to_cost(self.objective_value), self.to_cost(self.best_objective_bound)
        self.points.append((t, cost))
        self.bounds.append((t, bound))
        self.problem.notify(cost, bound)
        if self.on_solution is not None:
            self.on_solution(self)


def make_solver(problem: Problem, time_limit_seconds: float | None = None, **extra) -> cp_model.CpSolver:
    """A CpSolver with the problem's time limit, threads, seed and relative gap applied."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    limit = problem.time_limit_seconds if time_limit_seconds is None else time_limit_seconds
    params.max_time_in_seconds = max(0.0, float(limit))
    params.num_workers = max(1, int(problem.threads))
    params.random_seed = int(problem.seed)
    if problem.relative_gap > 0:
        params.relative_gap_limit = float(problem.relative_gap)
    for key, value in extra.items():
        setattr(params, key, value)
    return solver


STATUS_NAMES = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.UNKNOWN: "no_solution",
    cp_model.MODEL_INVALID: "error",
}


def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, "error")


def model_size(model: cp_model.CpModel, nonzeros: bool = False) -> dict[str, int]:
    """Variables and constraints of a model; with `nonzeros`, also its variable references
    (a walk over every constraint: for model-size measurements, not for every solve)."""
    proto = model.proto
    size = {"variables": len(proto.variables), "constraints": len(proto.constraints)}
    if nonzeros:
        size["nonzeros"] = count_references(model)
    return size


def _expr_refs(expr) -> int:
    return len(expr.vars)


def count_references(model: cp_model.CpModel) -> int:
    """Variable and literal references over all constraints and the objective: the CP-SAT
    counterpart of a MIP's nonzeros. Covers the constraint kinds the harness's models use; any
    other kind raises, so a new model cannot be measured wrongly without notice."""
    total = 0
    for c in model.proto.constraints:
        total += len(c.enforcement_literal)
        if c.has_linear():
            total += len(c.linear.vars)
        elif c.has_bool_and():
            total += len(c.bool_and.literals)
        elif c.has_bool_or():
            total += len(c.bool_or.literals)
        elif c.has_at_most_one():
            total += len(c.at_most_one.literals)
        elif c.has_exactly_one():
            total += len(c.exactly_one.literals)
        elif c.has_interval():
            total += _expr_refs(c.interval.start) + _expr_refs(c.interval.end) + _expr_refs(c.interval.size)
        elif c.has_cumulative():
            total += len(c.cumulative.intervals) + sum(_expr_refs(d) for d in c.cumulative.demands)
            total += _expr_refs(c.cumulative.capacity)
        elif c.has_no_overlap():
            total += len(c.no_overlap.intervals)
        elif c.has_reservoir():
            r = c.reservoir
            total += sum(_expr_refs(e) for e in r.time_exprs) + sum(_expr_refs(e) for e in r.level_changes)
            total += len(r.active_literals)
        else:
            raise ValueError("count_references: a constraint kind it does not know")
    if model.proto.has_objective():
        total += len(model.proto.objective.vars)
    return total


@dataclass
class Stopwatch:
    """Wall seconds of a phase (build, solve)."""

    start: float = field(default_factory=time.perf_counter)

    def seconds(self) -> float:
        return time.perf_counter() - self.start
