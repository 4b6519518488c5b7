"""The `torch-partitioner` formulation: PyTorch's own rematerialization, the min-cut partitioner
of AOT autograd (`torch._functorch.partitioners.min_cut_rematerialization_partition`, what
torch.compile uses for training), as a schedule of our graph.

The graph's training step is traced again from its pytorch source block (the same tracing
and folding as the extraction, checked to give the same graph); the partitioner splits the
joint graph into a forward and a backward graph at a setting of its knob,
`torch._functorch.config.activation_memory_budget` in [0, 1] (1 = the runtime-optimised
default, 0 = recompute all it may), with one of its knapsack solvers
(`activation_memory_budget_solver`: greedy, dp, ilp). The forward ops it computes again in
the backward graph become recomputations of our graph, each right before its first backward
reader; the simulator measures the schedule.

The knob is not a peak, and the simulated peak is not monotone in it: lowering the knob
recomputes more, which first lowers the peak and then, below some knob, raises it again
(near 0 the backward graph recomputes most of the forward pass before its first use, and
the peak is back at the plain step's). Less recomputation costs less, so the cheapest
fitting schedule is at the largest knob that fits. The search: knob 1 (if it fits, done);
then, per knapsack solver, a scan downwards (0.9, 0.8, ..., 0: `scan_step`) to the first
knob that fits, and a bisection between it and the knob above it (to `precision`) for the
largest knob that fits. The cheapest fitting schedule of all evaluated wins; the result's
`variant` records its knob and solver, and every evaluation (knob, solver, simulated peak,
cost). A budget no evaluated knob reaches is `no_solution`, with the smallest simulated
peak reached. Runs only on
graphs extracted from PyTorch (REQUIRES); needs torch. See docs/pytorch.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "torch-partitioner"
DESCRIPTION = (
    "PyTorch's min-cut rematerialization partitioner (AOT autograd), its memory-budget knob "
    "searched per knapsack solver for the cheapest fitting schedule"
)
LABEL = "PyTorch partitioner"
KEY_PARAMS = ("solver",)
REQUIRES = "pytorch"
SOLVERS = ("all", "dp", "greedy", "ilp")
PARAMS = (
    Param("solver", str, "all", "the partitioner's knapsack solver (all = each that runs here)", SOLVERS),
    Param("scan_step", float, 0.1, "the knob is scanned downwards from 1 in steps of this", low=0.01, high=0.5),
    Param(
        "precision", float, 0.01, "the bisection stops when the knob's interval is this narrow", low=0.0005, high=0.5
    ),
)


def label(params: Mapping[str, Any]) -> str:
    solver = params.get("solver", "all")
    return LABEL if solver == "all" else f"{LABEL} ({solver})"


def check(params: Mapping[str, Any], graph) -> None:
    """Refuse, when the run is planned, a graph whose factory may not be imported
    (graphs/pytorch/trust.py: the partitioner re-traces the step by calling it), and one whose
    labels do not split it into a forward and a backward pass consistent with its edges
    (step_parts raises UserError)."""
    from formulations._torch_remat import step_parts
    from graphs.pytorch.trust import check_factory

    source = graph.source if isinstance(graph.source, dict) else {}
    check_factory(source.get("factory"), source.get("factory_kwargs"), graph.origin or graph.name)
    step_parts(graph)


def solve(problem: Problem) -> SolverOutput:
    from formulations._torch_remat import (
        knapsack_solvers_available,
        partitioner_for,
        partitioner_schedule,
        step_parts,
    )
    from moccasin_bench.simulate import simulate

    g, budget = problem.graph, problem.budget.bytes
    p = problem.params
    t0 = time.perf_counter()
    deadline = problem.started_at + problem.time_limit_seconds
    available, skipped = knapsack_solvers_available()
    wanted = available if p["solver"] == "all" else (p["solver"],)
    if p["solver"] != "all" and p["solver"] in skipped:
        return SolverOutput(status="error", message=f"knapsack solver {p['solver']}: {skipped[p['solver']]}")
    parts = step_parts(g)
    part = partitioner_for(g, threads=problem.threads)
    build = time.perf_counter() - t0

    evaluated: list[dict] = []
    cache: dict[tuple, dict] = {}
    best: dict | None = None
    trajectory: list[tuple[float, float]] = []
    call_seconds: list[float] = []

    def evaluate(knob: float, solver: str) -> dict:
        nonlocal best
        key = (round(knob, 9), solver if knob < 1 else "-")  # knob 1 runs no knapsack: any solver
        if key in cache:
            return cache[key]
        t = time.perf_counter()
        fw, bw = part.partition(knob, solver)
        made = partitioner_schedule(g, parts, part.groups, fw, bw)
        sim = simulate(g, made.schedule)
        call_seconds.append(time.perf_counter() - t)
        if not sim.valid:  # pragma: no cover - the construction reads every value after its computation
            raise RuntimeError(
                f"partitioner schedule (knob {knob:g}, {solver}) is not valid: {sim.violation.describe()}"
            )
        entry = {
            "knob": round(knob, 6),
            "solver": solver if knob < 1 else "(none: knob 1 runs no knapsack)",
            "peak": int(sim.peak_memory),
            "cost": int(sim.total_duration),
            "fits": bool(sim.fits(budget)),
            "recomputed": len(made.recomputed),
            "deferred": len(made.deferred),
            "sim": sim,
            "made": made,
        }
        cache[key] = entry
        evaluated.append(entry)
        if entry["fits"] and (best is None or (entry["cost"], sim.steps) < (best["cost"], best["sim"].steps)):
            best = entry
            trajectory.append((problem.elapsed(), float(entry["cost"])))
            problem.notify(float(entry["cost"]))
        return entry

    def time_left() -> bool:
        per_call = max(call_seconds) if call_seconds else 2.0
        return time.perf_counter() + 1.2 * per_call < deadline

    stopped = ""
    top = evaluate(1.0, wanted[0])
    scan = [round(1.0 - i * float(p["scan_step"]), 9) for i in range(1, int(math.floor(1 / float(p["scan_step"]))) + 1)]
    if scan[-1] > 0:
        scan.append(0.0)
    if not top["fits"]:
        for solver in wanted:
            above, found = 1.0, None  # the smallest knob seen that does not fit, above the first that does
            for knob in scan:  # downwards: the first knob that fits
                if not time_left():
                    stopped = f"time limit in the scan of solver {solver}"
                    break
                if evaluate(knob, solver)["fits"]:
                    found = knob
                    break
                above = knob
            if found is not None:  # bisection between it and the knob above: the largest knob that fits
                lo, hi = found, above
                while hi - lo > float(p["precision"]):
                    if not time_left():
                        stopped = f"time limit in the bisection of solver {solver}"
                        break
                    mid = (lo + hi) / 2
                    if evaluate(mid, solver)["fits"]:
                        lo = mid
                    else:
                        hi = mid
            if stopped:
                break
    seconds = time.perf_counter() - t0
    smallest = min(evaluated, key=lambda e: e["peak"])
    variant: dict[str, Any] = {
        "solver": p["solver"],
        "solvers": list(wanted),
        "evaluations": len(evaluated),
        "tried": [{k: e[k] for k in ("knob", "solver", "peak", "cost", "fits")} for e in evaluated],
        "smallest_peak": smallest["peak"],
        "smallest_peak_knob": smallest["knob"],
        "cse": False,
        "torch_trace_seconds": round(build, 2),
        **({"plans_traced_at_batch": part.traced_batch} if hasattr(part, "traced_batch") else {}),
    }
    if skipped:
        variant["solvers_skipped"] = skipped
    if stopped:
        variant["stopped"] = stopped
    if best is None:
        why = f" ({stopped})" if stopped else ""
        return SolverOutput(
            status="no_solution",
            build_seconds=build,
            solve_seconds=seconds - build,
            variant=variant,
            message=(
                f"no knob setting of the partitioner fits the budget {budget:,}{why}: the smallest simulated peak "
                f"it reached is {smallest['peak']:,} (knob {smallest['knob']:g}, {smallest['solver']})"
            ),
        )
    sim, made = best["sim"], best["made"]
    return SolverOutput(
        status="feasible",
        schedule=sim.schedule,
        objective=float(sim.total_duration),
        trajectory=tuple(trajectory),
        build_seconds=build,
        solve_seconds=seconds - build,
        variant={
            **variant,
            "knob": best["knob"],
            "chosen_solver": best["solver"],
            "recomputed": len(made.recomputed),
            "deferred": len(made.deferred),
        },
        restrictions="PyTorch's min-cut partitioner at a searched knob: no optimality claim",
    )
