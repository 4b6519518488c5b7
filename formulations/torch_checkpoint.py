"""The `torch-checkpoint` formulation: what a PyTorch user writes by hand, torch.utils.checkpoint
around blocks of the model's top-level sequence, simulated on our graph (no torch needed).

The blocks are read from the module paths in the node labels (`layer1.0`, `blocks.3`,
`features.5`, `down.2`: a numbered child of a Sequential or ModuleList; a model without
numbered blocks: its top-level modules). Two patterns, each for every k:

- `every`: one checkpoint around each of blocks 0, k, 2k, ... (k = 1: every block);
- `segments`: one checkpoint around each run of k consecutive blocks (checkpoint_sequential).

A checkpointed region saves nothing inside it in the forward; right before the backward
first reads one of its internal values, its forward ops are recomputed in order up to the
last one the backward needs (non-reentrant checkpoint with early stop). The cheapest
(pattern, k) whose simulated peak fits the budget wins; the result's `variant` says which.
Runs only on graphs extracted from PyTorch (REQUIRES). See docs/pytorch.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "torch-checkpoint"
DESCRIPTION = "torch.utils.checkpoint around every k-th block (or k-block segments), k searched, simulated on the graph"
LABEL = "PyTorch checkpoint"
KEY_PARAMS = ("pattern",)
REQUIRES = "pytorch"
PATTERNS = ("best", "every", "segments")
PARAMS = (
    Param(
        "pattern",
        str,
        "best",
        "every = a checkpoint around blocks 0, k, 2k, ...; segments = around each k consecutive blocks; best = both",
        PATTERNS,
    ),
)


def check(params: Mapping[str, Any], graph) -> None:
    """Refuse, when the run is planned, a graph whose labels do not split it into a forward
    and a backward pass consistent with its edges (step_parts raises UserError)."""
    from formulations._torch_remat import step_parts

    step_parts(graph)


def label(params: Mapping[str, Any]) -> str:
    pattern = params.get("pattern", "best")
    return LABEL if pattern == "best" else f"{LABEL} ({pattern})"


def solve(problem: Problem) -> SolverOutput:
    from formulations._torch_remat import (
        checkpoint_regions,
        checkpoint_schedule,
        checkpoint_units,
        step_parts,
        unit_keys,
    )
    from moccasin_bench.simulate import simulate

    g, budget = problem.graph, problem.budget.bytes
    t0 = time.perf_counter()
    parts = step_parts(g)
    forward, units = checkpoint_units(g, parts)
    patterns = ("every", "segments") if problem.params["pattern"] == "best" else (problem.params["pattern"],)
    tried: list[dict] = []
    best = smallest = None
    seen: set[tuple] = set()
    trajectory: list[tuple[float, float]] = []
    candidates = [("none", 0)] + [(p, k) for p in patterns for k in range(1, len(units) + 1)]
    for pattern, k in candidates:
        regions = checkpoint_regions(units, pattern, k) if k else []
        if tuple(regions) in seen:
            continue
        seen.add(tuple(regions))
        sim = simulate(g, checkpoint_schedule(g, parts, forward, regions))
        if not sim.valid:  # pragma: no cover - the construction keeps every read after its computation
            raise RuntimeError(f"checkpoint schedule ({pattern}, k={k}) is not valid: {sim.violation.describe()}")
        entry = {"pattern": pattern, "k": k, "regions": len(regions), "peak": sim.peak_memory}
        tried.append(entry)
        if smallest is None or sim.peak_memory < smallest[1].peak_memory:
            smallest = (entry, sim)
        if sim.fits(budget) and (
            best is None or (sim.total_duration, sim.steps) < (best[1].total_duration, best[1].steps)
        ):
            best = ((entry, regions), sim)
            trajectory.append((problem.elapsed(), float(sim.total_duration)))
            problem.notify(float(sim.total_duration))
    seconds = time.perf_counter() - t0
    variant: dict[str, Any] = {
        "pattern": problem.params["pattern"],
        "units": len(units),
        "unit_examples": [u.key for u in units[:3]],
        "tried": len(tried),
        "simulated": "on the graph, from module paths (no torch)",
    }
    if best is None:
        low = smallest[1].peak_memory if smallest else None
        where = f" ({smallest[0]['pattern']}, k={smallest[0]['k']})" if smallest else ""
        return SolverOutput(
            status="no_solution",
            solve_seconds=seconds,
            variant={**variant, "smallest_peak": low},
            message=f"no checkpointing of the {len(units)} blocks fits: the smallest peak is {low:,}{where}",
        )
    (entry, regions), sim = best
    return SolverOutput(
        status="feasible",
        schedule=sim.schedule,
        objective=float(sim.total_duration),
        trajectory=tuple(trajectory),
        solve_seconds=seconds,
        variant={
            **variant,
            "chosen_pattern": entry["pattern"],
            "k": entry["k"],
            "regions": len(regions),
            "checkpointed": unit_keys(units, regions)[:20],
            "recomputations": sim.steps - g.n,
        },
        restrictions="torch.utils.checkpoint around whole blocks of the top-level sequence: no optimality claim",
    )
