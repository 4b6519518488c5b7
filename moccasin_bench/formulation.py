"""The small interface every formulation implements, and lookup in the registry.

A formulation module (in `formulations/`, registered in `formulations/__init__.py`) has

- `NAME` (its registry name), `DESCRIPTION` (one line), `PARAMS` (a tuple of Param);
- `solve(problem: Problem) -> SolverOutput`, importing its solver library inside, never at
  module top level; it returns a schedule as dense node indices, which the engine
  simulates (moccasin_bench/judge.py): a formulation never reports peak memory or cost as final;
- optionally, how reports name it: `LABEL` (default: NAME), `KEY_PARAMS` (parameters whose
  values are part of the method's name, e.g. moccasin's `order` -> "Moccasin (fixed)"), and
  `label(params) -> str` when the name needs more than that;
- in its SolverOutput, when it reports a lower bound, the bound's scope (`bound_scope`: which
  order, how many computations per node) and, when its schedules follow the reference order's
  stages by construction, `staged_order`: the report compares a bound with every schedule its
  scope contains, whichever formulation found it;
- optionally, `check(params, graph)` (raise UserError for parameter values that cannot work on
  this graph; called when a run is planned) and `model_size(problem)` (build without solving);
- optionally, `REQUIRES`: what the graph must be for the formulation to run at all, one of
  REQUIREMENTS (`"pytorch"`: a graph extracted from PyTorch by `moccasin-bench graphs extract`,
  which records how to trace its step again). The engine checks it before planning a run
  (`check_params`: a sweep, even `--dry-run`, or `solve` refuses the run with one line) and
  before solving (`judge.solve_in_process`: an `error` result of one line), so the
  formulation's `solve` never sees another graph.

tests/test_formulation_contract.py checks every registered formulation against this
contract. docs/architecture.md describes the path of a run.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from moccasin_bench.budget import Budget
from moccasin_bench.errors import UserError
from moccasin_bench.graph import PYTORCH_SOURCE_KIND, Graph

STATUSES = ("optimal", "feasible", "infeasible", "no_solution", "invalid", "error")  # docs/semantics.md
VALID_STATUSES = ("optimal", "feasible")  # the statuses that carry a schedule that fits


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
    reference_order_name: str = (
        "default"  # the order fixed-order formulations follow; resolved on creation (never "default")
    )
    started_at: float = field(default_factory=time.perf_counter)  # trajectory times count from here
    progress: Callable[[float, float, float | None], None] | None = None  # (seconds, cost, bound) on each improvement
    initial_schedule: np.ndarray | None = None  # a schedule (dense indices) to start from, from any source; may not fit

    def __post_init__(self) -> None:
        from moccasin_bench.orders import resolve_order_name

        object.__setattr__(self, "reference_order_name", resolve_order_name(self.graph, self.reference_order_name))

    def elapsed(self) -> float:
        return time.perf_counter() - self.started_at

    def notify(self, cost: float, bound: float | None = None) -> None:
        """Tell whoever watches (the CLI's progress line) about an improving solution."""
        if self.progress is not None:
            self.progress(self.elapsed(), cost, bound)


@dataclass(frozen=True)
class BoundScope:
    """The schedules a lower bound holds for: staged along the reference order `order` (None: any
    order) with at most `max_computations` computations of any node (None: any number). The report
    compares a bound only with the schedules its scope contains (moccasin_bench/report/bounds.py)."""

    order: str | None = None
    max_computations: int | None = None

    def contains(self, max_computations: int | None, staged_order: str | None) -> bool:
        """Whether a schedule computing no node more than `max_computations` times (None: unknown), staged
        along `staged_order` by construction (None: not known to be), lies in this scope."""
        if self.max_computations is not None and (max_computations is None or max_computations > self.max_computations):
            return False
        return self.order is None or self.order == staged_order

    def describe(self) -> str:
        where = f"staged along the {self.order} order" if self.order else "any order"
        many = (
            f"at most {self.max_computations} computations per node" if self.max_computations else "any recomputation"
        )
        return f"{where}, {many}"

    def to_json(self) -> dict[str, Any]:
        return {"order": self.order, "max_computations": self.max_computations}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BoundScope:
        cap = doc.get("max_computations")
        return cls(doc.get("order") or None, int(cap) if cap else None)


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
    bound_scope: BoundScope | None = None  # the schedules best_bound holds for (None: it covers no other run's)
    staged_order: str | None = None  # the reference order the schedule is staged along by construction, if any


PLUGINS_ENV = "MOCCASIN_BENCH_PLUGINS"

# What a formulation's REQUIRES may name: requirement -> (what it means, in words; test on a graph).
REQUIREMENTS: dict[str, tuple[str, Callable[[Graph], bool]]] = {
    "pytorch": (
        "graphs extracted from PyTorch (`moccasin-bench graphs extract`, e.g. the catalogue's pt-* graphs)",
        lambda g: (g.source or {}).get("kind") == PYTORCH_SOURCE_KIND,
    ),
}


def requirement_problem(name: str, module: ModuleType, graph: Graph) -> str | None:
    """One line saying why formulation `name` cannot run on `graph` (its REQUIRES), or None."""
    needs = getattr(module, "REQUIRES", None)
    if needs is None:
        return None
    if needs not in REQUIREMENTS:
        return f"formulation {name!r} declares REQUIRES = {needs!r}, which is none of {', '.join(REQUIREMENTS)}"
    what, test = REQUIREMENTS[needs]
    if test(graph):
        return None
    return f"formulation {name!r} runs only on {what}; graph {graph.name!r} is not one"


def registry() -> dict[str, str]:
    """Built-in formulations plus plug-ins named in $MOCCASIN_BENCH_PLUGINS ("name=module.path,...")."""
    import formulations

    return {**formulations.REGISTRY, **plugin_formulations(formulations.REGISTRY)}


def plugin_formulations(builtin: Mapping[str, str]) -> dict[str, str]:
    """Formulations from outside the project, e.g. MOCCASIN_BENCH_PLUGINS="mine=mypkg.mymodel".
    Child runs inherit the variable, so a plug-in runs isolated like any formulation."""
    import os

    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in os.environ.get(PLUGINS_ENV, "").split(","))):
        name, sep, module = (x.strip() for x in item.partition("="))
        if not sep or not name or not module:
            raise UserError(f"${PLUGINS_ENV}: expected name=module.path, got {item!r}")
        if name in builtin:
            raise UserError(f"${PLUGINS_ENV}: plug-in {name!r} has the name of a built-in formulation")
        out[name] = module
    return out


def check_params(module: ModuleType, values: Mapping[str, Any], graph: Graph) -> None:
    """The formulation's requirement on the graph (`REQUIRES`) and its own checks of resolved
    parameters on it (optional `check(params, graph)`): what would fail inside a run fails
    here, before it is planned (UserError)."""
    problem = requirement_problem(getattr(module, "NAME", module.__name__), module, graph)
    if problem is not None:
        raise UserError(problem)
    check = getattr(module, "check", None)
    if check is not None:
        check(values, graph)


def formulation_module(name: str) -> ModuleType:
    reg = registry()
    if name not in reg:
        raise UserError(f"unknown formulation {name!r}; known: {', '.join(sorted(reg))}")
    try:
        module = importlib.import_module(reg[name])
    except ModuleNotFoundError as exc:
        if not exc.name or not (reg[name] + ".").startswith(exc.name + "."):
            raise  # the module exists but something it imports is missing: a real bug, keep the traceback
        raise UserError(
            f"formulation {name!r}: cannot import its module {reg[name]!r}; is it installed (on PYTHONPATH)?"
        ) from None
    except (ValueError, TypeError) as exc:  # e.g. an empty or relative module name
        raise UserError(f"formulation {name!r}: cannot import its module {reg[name]!r}: {exc}") from None
    missing = [a for a in ("DESCRIPTION", "PARAMS", "solve") if not hasattr(module, a)]
    if missing or not callable(module.solve) or not isinstance(module.PARAMS, (tuple, list)):
        raise UserError(
            f"formulation {name!r}: module {reg[name]!r} is not a formulation "
            f"(it lacks {', '.join(missing) or 'a callable solve and a PARAMS tuple'}; see docs/architecture.md)"
        )
    return module
