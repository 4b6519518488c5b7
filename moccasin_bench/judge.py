"""Judging a run: call a formulation in this process, simulate what it returns, give the verdict.

`solve_in_process` is what the child interpreter of every run executes (and `solve
--in-process`): a budget below the minimum feasible one is `infeasible` without a solver; a
formulation's exception is an `error` result; every returned schedule goes through the
simulator (`judge`), and one that is not executable or breaks the budget is `invalid`.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moccasin_bench.budget import Budget
from moccasin_bench.errors import UserError
from moccasin_bench.formulation import Problem, SolverOutput, formulation_module, requirement_problem
from moccasin_bench.graph import Graph
from moccasin_bench.orders import DEFAULT
from moccasin_bench.params import resolve_params
from moccasin_bench.simulate import simulate


@dataclass(frozen=True, eq=False)
class RunResult:
    """A judged run: solver facts plus the simulator's verdict. `to_json` is the schedule file."""

    graph: Graph
    formulation: str
    params: Mapping[str, Any]
    budget: Budget
    status: str
    schedule: np.ndarray | None
    peak_memory: int | None
    total_duration: int | None
    tdi_percent: float | None
    output: SolverOutput
    time_limit_seconds: float
    threads: int
    seed: int
    wall_seconds: float
    violation: dict | None = None
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        g, out = self.graph, self.output
        return {
            "graph": g.name,
            "graph_origin": g.origin,
            "graph_hash": g.content_hash,
            "nodes": g.n,
            "edges": g.m,
            "sum_duration": g.sum_duration,
            "formulation": self.formulation,
            "params": dict(self.params),
            "variant": dict(out.variant),
            "restrictions": out.restrictions,
            "budget": self.budget.bytes,
            "budget_fraction": self.budget.fraction,
            "reference_order": self.budget.reference_order,
            "reference_peak": self.budget.reference_peak,
            "min_feasible_budget": g.min_feasible_budget,
            "status": self.status,
            "schedule": None if self.schedule is None else g.to_ids(self.schedule),
            "peak_memory": self.peak_memory,
            "total_duration": self.total_duration,
            "tdi_percent": self.tdi_percent,
            "reported_objective": out.objective,
            "best_bound": out.best_bound,
            "bound_scope": None if out.bound_scope is None else out.bound_scope.to_json(),
            "staged_order": out.staged_order,
            "build_seconds": out.build_seconds,
            "solve_seconds": out.solve_seconds,
            "wall_seconds": self.wall_seconds,
            "time_limit_seconds": self.time_limit_seconds,
            "threads": self.threads,
            "seed": self.seed,
            "model_size": dict(out.model_size),
            "trajectory": [[float(t), float(c)] for t, c in out.trajectory],
            "bound_trajectory": [[float(t), float(b)] for t, b in out.bound_trajectory],
            "violation": self.violation,
            "message": self.message,
            **dict(self.extra),
        }


def judge(problem: Problem, formulation: str, out: SolverOutput, wall_seconds: float) -> RunResult:
    """Simulate the returned schedule; over budget or not executable is `invalid`, loudly."""
    graph, budget = problem.graph, problem.budget
    common = dict(
        graph=graph,
        formulation=formulation,
        params=problem.params,
        budget=budget,
        output=out,
        time_limit_seconds=problem.time_limit_seconds,
        threads=problem.threads,
        seed=problem.seed,
        wall_seconds=wall_seconds,
    )
    if out.schedule is None:
        return RunResult(
            status=out.status,
            schedule=None,
            peak_memory=None,
            total_duration=None,
            tdi_percent=None,
            message=out.message,
            **common,
        )
    sim = simulate(graph, out.schedule)
    status, messages, violation = out.status, [out.message] if out.message else [], None
    if not sim.valid:
        status, violation = "invalid", sim.violation.to_json()
        messages.append(f"INVALID schedule from {formulation}: {sim.violation.describe()}")
    elif sim.peak_memory > budget.bytes:
        status = "invalid"
        violation = {
            "kind": "over_budget",
            "step": sim.peak_step,
            "peak_memory": sim.peak_memory,
            "budget": budget.bytes,
            "message": f"peak memory {sim.peak_memory:,} at step {sim.peak_step} exceeds the budget {budget.bytes:,}",
        }
        messages.append(f"INVALID schedule from {formulation}: {violation['message']}")
    if out.objective is not None and abs(out.objective - sim.total_duration) > 1e-6 * max(1.0, abs(sim.total_duration)):
        messages.append(
            f"{formulation} reported cost {out.objective:g} but the simulator measured {sim.total_duration}"
        )
    return RunResult(
        status=status,
        schedule=sim.schedule,
        peak_memory=sim.peak_memory,
        total_duration=sim.total_duration,
        tdi_percent=sim.tdi_percent,
        violation=violation,
        message="; ".join(messages),
        **common,
    )


def solve_in_process(
    graph: Graph,
    budget: Budget,
    formulation: str,
    params: Mapping[str, Any] | None = None,
    time_limit_seconds: float = 60.0,
    threads: int = 1,
    seed: int = 0,
    relative_gap: float = 0.0,
    reference_order_name: str | None = None,
    progress: Callable[[float, float, float | None], None] | None = None,
    initial: Sequence[Any] | None = None,
) -> RunResult:
    """Run one formulation in this process and judge it. Bad parameters raise UserError.
    `initial` (node ids) is a schedule to start from; the formulation says in its result what it made of it."""
    module = formulation_module(formulation)
    values = resolve_params(module.PARAMS, dict(params or {}), f"formulation {formulation!r}")
    problem = Problem(
        graph=graph,
        budget=budget,
        params=values,
        time_limit_seconds=float(time_limit_seconds),
        threads=int(threads),
        seed=int(seed),
        relative_gap=float(relative_gap),
        reference_order_name=reference_order_name or budget.reference_order or DEFAULT,
        progress=progress,
        initial_schedule=None if initial is None else graph.to_indices(initial),
    )
    unmet = requirement_problem(formulation, module, graph)
    if unmet is not None:  # e.g. a PyTorch baseline on a generated graph: one line, no solver run
        return judge(problem, formulation, SolverOutput(status="error", message=unmet), problem.elapsed())
    if budget.bytes < graph.min_feasible_budget:
        out = SolverOutput(
            status="infeasible",
            message=f"budget {budget.bytes:,} is below the minimum feasible budget {graph.min_feasible_budget:,} (the largest node plus its inputs); no solver was run",
        )
        return judge(problem, formulation, out, problem.elapsed())
    # No schedule peaks above Σ memory: a larger budget is the same problem, and the formulation gets
    # Σ memory instead (models never see a budget far beyond the graph's own sums); the verdict keeps the budget.
    solved = problem
    if budget.bytes > graph.sum_memory:
        solved = dataclasses.replace(problem, budget=dataclasses.replace(budget, bytes=graph.sum_memory))
    try:
        out = module.solve(solved)
    except MemoryError:
        out = SolverOutput(status="error", message="out of memory")
    except UserError as exc:  # a formulation's own one-line refusal: no traceback
        out = SolverOutput(status="error", message=str(exc))
    except Exception as exc:  # a formulation bug becomes an error row, not a crash of the harness
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        out = SolverOutput(status="error", message=f"{type(exc).__name__}: {exc} | {tail}")
    if problem.initial_schedule is not None:
        out = _initial_said(formulation, out)
    return judge(problem, formulation, out, problem.elapsed())


def _initial_said(formulation: str, out: SolverOutput) -> SolverOutput:
    """Make the result say what became of an initial schedule: a formulation that does not report it
    (in variant["initial"]) did not use it; one that did not use it says why in its message."""
    info = out.variant.get("initial") if isinstance(out.variant, Mapping) else None
    if not isinstance(info, Mapping):
        info = {"used": False, "why": f"formulation {formulation!r} does not start from a given schedule"}
        out = dataclasses.replace(out, variant={**out.variant, "initial": info})
    if info.get("used") is False and "initial schedule" not in out.message:
        note = f"the initial schedule was not used: {info.get('why', 'see variant.initial')}"
        out = dataclasses.replace(out, message="; ".join(filter(None, [out.message, note])))
    return out


def measure_model_size(
    graph: Graph,
    budget: Budget,
    formulation: str,
    params: Mapping[str, Any] | None = None,
    reference_order_name: str | None = None,
) -> dict[str, Any]:
    """Build a formulation's model without solving it (its optional `model_size(problem)`) and report
    the size, the build seconds and the process's peak memory before and after the build."""
    module = formulation_module(formulation)
    values = resolve_params(module.PARAMS, dict(params or {}), f"formulation {formulation!r}")
    doc: dict[str, Any] = {
        "graph": graph.name,
        "graph_hash": graph.content_hash,
        "nodes": graph.n,
        "edges": graph.m,
        "formulation": formulation,
        "params": dict(values),
        "budget": budget.bytes,
        "model_size": None,
        "build_seconds": None,
        "message": "",
    }
    if not callable(getattr(module, "model_size", None)):
        return {**doc, "status": "not_supported", "message": f"{formulation} builds no model (it has no model_size)"}
    problem = Problem(
        graph=graph,
        budget=budget,
        params=values,
        reference_order_name=reference_order_name or budget.reference_order or DEFAULT,
    )
    doc["rss_before_build_bytes"] = max_rss_bytes()
    t0 = time.perf_counter()
    try:
        size = module.model_size(problem)
    except MemoryError:
        return {**doc, "status": "error", "message": "out of memory while building the model"}
    except Exception as exc:  # a builder bug: an error document, not a crash
        return {**doc, "status": "error", "message": f"{type(exc).__name__}: {exc}"}
    return {
        **doc,
        "status": "built",
        "model_size": {k: int(v) for k, v in size.items()},
        "build_seconds": time.perf_counter() - t0,
    }


def max_rss_bytes() -> int | None:
    """This process's (and its finished children's) peak resident memory so far."""
    try:
        import resource
        import sys

        scale = 1 if sys.platform == "darwin" else 1024
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return int(max(own, kids) * scale)
    except (ImportError, OSError):
        return None
