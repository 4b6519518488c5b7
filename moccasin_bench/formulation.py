"""The small interface every formulation implements, and lookup in the registry.

A formulation module (in `formulations/`) has `NAME`, `DESCRIPTION`, `PARAMS` (a tuple
of Param) and `solve(problem: Problem) -> SolverOutput`. It imports its solver library
inside `solve`, never at module top level. It returns a schedule as dense node indices;
the runner simulates it, so a formulation never reports peak memory or cost as final.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping

import numpy as np

from moccasin_bench.budget import Budget
from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph

STATUSES = ("optimal", "feasible", "infeasible", "no_solution", "invalid", "error")


@dataclass(frozen=True, eq=False)
class Problem:
    """One instance handed to a formulation."""

    graph: Graph
    budget: Budget
    params: Mapping[str, Any]  # resolved: every declared parameter present
    time_limit_seconds: float = 60.0
    threads: int = 1
    seed: int = 0
    relative_gap: float = 0.0
    reference_order_name: str = "default"  # the order fixed-order formulations follow
    started_at: float = field(default_factory=time.perf_counter)  # trajectory times count from here
    progress: Callable[[float, float, float | None], None] | None = None  # (seconds, cost, bound) on each improvement

    def elapsed(self) -> float:
        return time.perf_counter() - self.started_at

    def notify(self, cost: float, bound: float | None = None) -> None:
        """Tell whoever watches (the CLI's progress line) about an improving solution."""
        if self.progress is not None:
            self.progress(self.elapsed(), cost, bound)


@dataclass(frozen=True, eq=False)
class SolverOutput:
    """What a formulation found, in the graph's own units."""

    status: str  # one of STATUSES except "invalid" (only the runner says that)
    schedule: np.ndarray | None = None  # dense node indices
    objective: float | None = None  # the formulation's own cost for `schedule`
    best_bound: float | None = None  # lower bound on cost under the formulation's restrictions
    trajectory: tuple[tuple[float, float], ...] = ()  # (seconds since Problem.started_at, cost)
    bound_trajectory: tuple[tuple[float, float], ...] = ()  # (seconds, bound), where the solver reports it
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    model_size: Mapping[str, int] = field(default_factory=dict)  # e.g. variables, constraints
    variant: Mapping[str, Any] = field(default_factory=dict)  # what actually ran (order mode, phases, backend ...)
    restrictions: str = ""  # what "optimal" is relative to, e.g. "fixed order, <= 2 computations per node"
    message: str = ""


def registry() -> dict[str, str]:
    import formulations

    return formulations.REGISTRY


def formulation_module(name: str) -> ModuleType:
    reg = registry()
    if name not in reg:
        raise UserError(f"unknown formulation {name!r}; known: {', '.join(sorted(reg))}")
    return importlib.import_module(reg[name])
