"""The `torch-sac` formulation: selective activation checkpointing as LLM trainers configure it
(torch.utils.checkpoint with a policy, as torchtitan's `selective` mode does), simulated on our
graph from the aten op names and module paths in the labels (no torch needed).

Inside each checkpointed block (the blocks `torch-checkpoint` reads: `blocks.3`, `layer1.0`,
...) an op policy decides which outputs the forward keeps (MUST_SAVE) and which are
recomputed in the backward (PREFER_RECOMPUTE):

- `op`: keep the outputs of matrix multiplications (mm, addmm, bmm, baddbmm, matmul),
  convolutions and attention kernels (scaled_dot_product_*, flash/efficient attention);
  recompute everything else;
- `op-alt`: the same, but every second linear-layer matmul (mm, addmm; counted per block in
  forward order: the 2nd, 4th, ...) is recomputed too, as torchtitan's policy does;
- `full`: keep nothing inside the block (plain checkpointing), torchtitan's per-layer option.

Each policy is applied to every k-th block (k = 1: every block; torchtitan's `op` mode is
k = 1, its layer mode is `full` with k). A recomputation runs the block's unsaved ops in
forward order up to the last one the backward needs, right before the backward first reads
one of the block's internal values (non-reentrant checkpoint, early stop). The cheapest
fitting (policy, k) wins; `variant` says which. Runs only on graphs extracted from PyTorch
(REQUIRES). See docs/pytorch.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "torch-sac"
DESCRIPTION = (
    "selective activation checkpointing (torchtitan's policy: keep matmul/conv/attention outputs, "
    "recompute the rest) on every k-th block, policy and k searched, simulated on the graph"
)
LABEL = "PyTorch SAC"
BASELINE = "selective activation checkpointing as LLM trainers configure it"
REQUIRES = "pytorch"
POLICIES = ("best", "op", "op-alt", "full")
PARAMS = (
    Param(
        "policy",
        str,
        "best",
        "op = keep matmul/conv/attention outputs; op-alt = and recompute every second linear matmul; "
        "full = keep nothing in the block; best = each of them",
        POLICIES,
    ),
)

# Ops whose outputs the op policy keeps: the packet name (`aten.addmm` of `aten.addmm.default`).
MATMULS = frozenset({"aten.mm", "aten.addmm", "aten.bmm", "aten.baddbmm", "aten.matmul"})
LINEAR_MATMULS = frozenset({"aten.mm", "aten.addmm"})  # the ones op-alt alternates
CONVOLUTIONS = frozenset({"aten.convolution", "aten.conv2d", "aten.conv1d", "aten.conv3d", "aten._convolution"})
ATTENTION = frozenset(
    {
        "aten.scaled_dot_product_attention",
        "aten._scaled_dot_product_flash_attention",
        "aten._scaled_dot_product_efficient_attention",
        "aten._scaled_dot_product_cudnn_attention",
        "aten._scaled_dot_product_flash_attention_for_cpu",
        "aten._scaled_dot_product_attention_math",
        "aten._flash_attention_forward",
        "aten._efficient_attention_forward",
    }
)
SAVE_LIST = MATMULS | CONVOLUTIONS | ATTENTION


def label(params: Mapping[str, Any]) -> str:
    policy = params.get("policy", "best")
    return LABEL if policy == "best" else f"{LABEL} ({policy})"


def op_packet(label_text: str) -> str:
    """`aten.add.Tensor layer1.0 (backward)` -> `aten.add`."""
    op = label_text.split(" ", 1)[0]
    return ".".join(op.split(".")[:2])


def saved_nodes(labels, region: list[int], policy: str) -> set[int]:
    """The region's nodes whose outputs the policy keeps from the forward."""
    if policy == "full":
        return set()
    out: set[int] = set()
    linear_count = 0
    for v in region:
        packet = op_packet(labels[v])
        if packet in LINEAR_MATMULS:
            linear_count += 1
            if policy == "op-alt" and linear_count % 2 == 0:
                continue
        if packet in SAVE_LIST:
            out.add(v)
    return out


def solve(problem: Problem) -> SolverOutput:
    from formulations._torch_remat import checkpoint_regions, checkpoint_schedule, checkpoint_units, step_parts
    from moccasin_bench.simulate import simulate

    g, budget = problem.graph, problem.budget.bytes
    t0 = time.perf_counter()
    parts = step_parts(g)
    forward, units = checkpoint_units(g, parts)
    policies = ("op", "op-alt", "full") if problem.params["policy"] == "best" else (problem.params["policy"],)
    best = smallest = None
    tried = 0
    trajectory: list[tuple[float, float]] = []
    candidates = [("none", 0)] + [(p, k) for p in policies for k in range(1, len(units) + 1)]
    for policy, k in candidates:
        regions = checkpoint_regions(units, "every", k) if k else []
        saved: set[int] = set()
        for first, last in regions:
            saved |= saved_nodes(g.labels, [int(v) for v in forward[first : last + 1]], policy)
        sim = simulate(g, checkpoint_schedule(g, parts, forward, regions, frozenset(saved)))
        if not sim.valid:  # pragma: no cover - the construction keeps every read after its computation
            raise RuntimeError(f"selective checkpoint ({policy}, k={k}) is not valid: {sim.violation.describe()}")
        tried += 1
        entry = {"policy": policy, "k": k, "regions": len(regions), "saved": len(saved)}
        if smallest is None or sim.peak_memory < smallest[1].peak_memory:
            smallest = (entry, sim)
        if sim.fits(budget) and (
            best is None or (sim.total_duration, sim.steps) < (best[1].total_duration, best[1].steps)
        ):
            best = (entry, sim, regions)
            trajectory.append((problem.elapsed(), float(sim.total_duration)))
            problem.notify(float(sim.total_duration))
    seconds = time.perf_counter() - t0
    variant: dict[str, Any] = {
        "policy": problem.params["policy"],
        "units": len(units),
        "tried": tried,
        "simulated": "on the graph, from aten op names and module paths (no torch)",
    }
    if best is None:
        entry, sim = smallest
        return SolverOutput(
            status="no_solution",
            solve_seconds=seconds,
            variant={**variant, "smallest_peak": sim.peak_memory},
            message=(
                f"no selective checkpointing of the {len(units)} blocks fits the budget {budget:,}: the smallest "
                f"peak is {sim.peak_memory:,} ({entry['policy']}, k={entry['k']})"
            ),
        )
    entry, sim, regions = best
    return SolverOutput(
        status="feasible",
        schedule=sim.schedule,
        objective=float(sim.total_duration),
        trajectory=tuple(trajectory),
        solve_seconds=seconds,
        variant={
            **variant,
            "chosen_policy": entry["policy"],
            "k": entry["k"],
            "regions": entry["regions"],
            "saved": entry["saved"],
            "recomputations": sim.steps - g.n,
        },
        restrictions="selective activation checkpointing of whole blocks at a searched (policy, k): no optimality claim",
    )
