"""CP-SAT plumbing shared by the CP formulations: parameters, trajectory, status.

Imported only from inside a formulation's `solve`, so ortools loads lazily.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ortools.sat.python import cp_model

from moccasin_bench.formulation import Problem


class TrajectoryCallback(cp_model.CpSolverSolutionCallback):
    """Records (seconds since Problem.started_at, cost, bound) at each improving solution.

    `to_cost` maps CP-SAT's (possibly scaled) objective value back to the graph's units;
    `on_solution` (optional) receives the callback to read variable values; `accept`
    (optional) may veto a solution (e.g. one the simulator rejects): it is then not recorded
    and counted in `rejected`.
    """

    def __init__(self, problem: Problem, to_cost: Callable[[float], float] = float,
                 on_solution: Callable[["TrajectoryCallback"], None] | None = None,
                 accept: Callable[["TrajectoryCallback"], bool] | None = None) -> None:
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


def model_size(model: cp_model.CpModel) -> dict[str, int]:
    proto = model.proto
    return {"variables": len(proto.variables), "constraints": len(proto.constraints)}


@dataclass
class Stopwatch:
    """Wall seconds of a phase (build, solve)."""

    start: float = field(default_factory=time.perf_counter)

    def seconds(self) -> float:
        return time.perf_counter() - self.start
