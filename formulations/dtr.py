"""The `dtr` formulation: Dynamic Tensor Rematerialization (Kirisame et al., ICLR 2021), an online
policy with no solver and no look-ahead, written from the paper's description.

The graph runs in the reference order. Before an op runs, its inputs must be resident: an
evicted input is recomputed first, recursively (its own evicted inputs before it). When the
op's output would not fit, resident tensors that are not inputs of an op in progress are
evicted, the one with the smallest score first. A tensor no future op of the reference
order reads is freed at once when that last reader runs (the paper's eager eviction of
tensors the program drops); it can still be recomputed when an evicted tensor needs it,
and such a recomputed copy stays resident, evictable like any other, until evicted. The
sequence of computations performed is the schedule.

Scores (`score`; lower = evicted first; c = duration, m = bytes, s = staleness, the number
of computations since the tensor was last computed or read):

- `dtr`: c* / (m x s), c* = c plus the cost of the evicted neighbourhood, computed exactly:
  the evicted ancestors reachable through evicted tensors (recomputing t needs them) and the
  evicted descendants still needed reachable through evicted tensors (recomputing them
  needs t);
- `dtr-eq`: the same with the paper's equivalence-class approximation: evicted tensors are
  merged into classes (union-find) with their evicted neighbours when evicted, never split;
  c* = c plus the costs of the distinct classes of t's evicted neighbours;
- `lru`: 1 / s; `size`: 1 / m; `msps`: (c + cost of the evicted ancestors) / m (memory
  saved per second of recomputation, Capuchin's rule, as the paper's ablation uses it);
- `best` (default): each of them, the cheapest fitting schedule.

Memory is counted as the simulator does or above it: a tensor counts from its computation
until it is evicted or freed, which is never before its last read in the schedule, so the
simulated peak never exceeds the budget DTR kept to. An op whose output cannot be made to
fit (everything evictable evicted) stops the run: `no_solution`, saying where.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "dtr"
DESCRIPTION = "Dynamic Tensor Rematerialization: online eviction in the reference order by a heuristic score"
LABEL = "DTR"
BASELINE = "DTR: deciding online, with no plan, at the same budget"
SCORES = ("dtr-eq", "msps", "size", "lru", "dtr")  # `best` runs them in this order, the exact one last (slowest)
PARAMS = (
    Param(
        "score",
        str,
        "best",
        "eviction score: dtr (exact evicted neighbourhood), dtr-eq (equivalence classes), lru, size, msps; "
        "best = each, the cheapest fitting",
        ("best", *SCORES),
    ),
    Param(
        "max_recompute_factor",
        float,
        50.0,
        "give up (thrashing) when the schedule grows beyond this many times the node count",
        low=1.0,
        high=1e6,
    ),
)


def label(params: Mapping[str, Any]) -> str:
    score = params.get("score", "best")
    return LABEL if score == "best" else f"{LABEL} ({score})"


@dataclass(frozen=True)
class DtrRun:
    """One online run: the computations performed, or where it stopped."""

    score: str
    schedule: np.ndarray | None
    evictions: int
    stopped: str  # "" when it ran to the end
    peak_bytes: int  # DTR's own accounting (>= the simulator's peak)


def run_dtr(
    graph, order: np.ndarray, budget_bytes: int, score: str, deadline: float | None = None, max_steps: int | None = None
) -> DtrRun:
    """Run DTR with one score along `order` under `budget_bytes` (the compiled kernel in
    formulations/_dtr_kernel.py; `deadline` is a time.perf_counter() value)."""
    from formulations import _dtr_kernel as K

    if score not in SCORES:
        raise ValueError(f"unknown DTR score {score!r}")
    kernel = K.compiled()
    max_steps = max_steps if max_steps is not None else 50 * graph.n
    st = K.new_state(graph, max_steps)
    csr = (graph.pred_ptr, graph.pred_idx, graph.succ_ptr, graph.succ_idx)
    order = np.ascontiguousarray(order, dtype=np.int64)
    stopped = ""
    # the kernel pauses every `pause` computations for the clock; a computation's eviction scan grows with n,
    # so large graphs pause sooner (n = 10,000: 4,096 computations per call ran 80 s past a 45 s limit)
    pause = int(max(64, min(4096, 4_096_000 // max(1, graph.n))))
    while True:
        status = kernel(
            *csr, graph.memory, graph.duration, order, int(budget_bytes), SCORES.index(score), max_steps, pause, **st
        )
        sc = st["sc"]
        if status == K.DONE:
            break
        if status == K.STUCK:
            y = int(sc[K.S_STOP_NODE])
            stopped = (
                f"at op {int(sc[K.S_T]):,} (computing node {graph.node_ids[y]!r}) nothing is left to evict: "
                f"{int(sc[K.S_MEM]):,} bytes are held by the op's inputs and ops in progress, "
                f"{int(graph.memory[y]):,} more needed, budget {budget_bytes:,}"
            )
            break
        if status == K.THRASH:
            stopped = f"gave up after {int(sc[K.S_T]):,} computations (thrashing)"
            break
        if deadline is not None and time.perf_counter() > deadline:
            stopped = f"time limit at op {int(sc[K.S_T]):,}"
            break
    sc = st["sc"]
    return DtrRun(
        score=score,
        schedule=None if stopped else st["out"][: int(sc[K.S_T])].copy(),
        evictions=int(sc[K.S_EVICT]),
        stopped=stopped,
        peak_bytes=int(sc[K.S_PEAK]),
    )


def solve(problem: Problem) -> SolverOutput:
    from moccasin_bench.orders import reference_order
    from moccasin_bench.simulate import simulate

    g, budget = problem.graph, problem.budget.bytes
    t0 = time.perf_counter()
    order = reference_order(g, problem.reference_order_name)
    scores = SCORES if problem.params["score"] == "best" else (problem.params["score"],)
    deadline = problem.started_at + problem.time_limit_seconds
    max_steps = int(problem.params["max_recompute_factor"] * g.n)
    runs: list[dict] = []
    best = None
    trajectory: list[tuple[float, float]] = []
    for i, score in enumerate(scores):
        now = time.perf_counter()
        if now > deadline:
            runs.append({"score": score, "stopped": "not run: time limit"})
            continue
        share = now + (deadline - now) / (len(scores) - i)  # each score its share of the time left
        run = run_dtr(g, order, budget, score, deadline=share, max_steps=max_steps)
        entry: dict[str, Any] = {"score": score, "evictions": run.evictions}
        if run.schedule is None:
            entry["stopped"] = run.stopped
        else:
            sim = simulate(g, run.schedule)
            if not sim.fits(budget):  # pragma: no cover - the accounting is conservative by construction
                raise RuntimeError(f"DTR ({score}) made a schedule the simulator rejects or that exceeds the budget")
            entry.update(cost=int(sim.total_duration), recomputations=sim.steps - g.n, peak=int(sim.peak_memory))
            if best is None or (sim.total_duration, sim.steps) < (best[1].total_duration, best[1].steps):
                best = (score, sim)
                trajectory.append((problem.elapsed(), float(sim.total_duration)))
                problem.notify(float(sim.total_duration))
        runs.append(entry)
    seconds = time.perf_counter() - t0
    variant: dict[str, Any] = {"score": problem.params["score"], "order": problem.reference_order_name, "runs": runs}
    if best is None:
        stops = "; ".join(f"{r['score']}: {r['stopped']}" for r in runs)
        return SolverOutput(
            status="no_solution",
            solve_seconds=seconds,
            variant=variant,
            message=f"DTR could not keep to the budget {budget:,}: {stops}",
        )
    score, sim = best
    return SolverOutput(
        status="feasible",
        schedule=sim.schedule,
        objective=float(sim.total_duration),
        trajectory=tuple(trajectory),
        solve_seconds=seconds,
        variant={**variant, "chosen_score": score, "recomputations": sim.steps - g.n},
        restrictions="online eviction along the reference order: no optimality claim",
    )
