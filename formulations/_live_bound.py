"""A lower bound on the cost of every schedule (any order, any recomputation): values forced live.

Take any schedule and a node w at its first computation. Besides w's output and its inputs, every
ancestor a of w that the schedule computes only once and that has a successor among w's
descendants is live at that step: a's only copy was computed before w (an ancestor's first
computation precedes its descendants'), and that successor reads it after w (every computation of
a descendant of w comes after w's first). So

    memory[w] + Σ memory[inputs of w] + Σ_{a in F(w), a computed once} memory[a] <= budget

for every w, where F(w) holds the ancestors of w, inputs excluded, with a successor among w's
descendants. When the forced memory of some w exceeds the budget, a fitting schedule computes some
of F(w) twice or more, paying their durations again. The cheapest set R of recomputed nodes that
brings every row within the budget is a covering problem (one knapsack row per such w), solved by
CP-SAT; every fitting schedule recomputes at least such a set, so

    Σ duration + (its optimum, or CP-SAT's proven bound on it when time runs out)

bounds the cost of every schedule that fits. It is exact where the memory that matters is held by
long-lived ancestors (the paper's CNNs) and 0 above it where no row binds (loose budgets, and wide
graphs whose peak comes from values that are not ancestors of one node).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from moccasin_bench.graph import Graph


@dataclass(frozen=True, eq=False)
class CoverRow:
    """One node's forced memory: `need_bytes` more than the budget allows unless some of `members`
    (dense indices, with their output sizes) are recomputed."""

    node: int
    need_bytes: int
    members: np.ndarray  # int64 dense indices: F(node)


@dataclass(frozen=True)
class LiveBound:
    """What the covering model proved. `added_duration` is a lower bound on the duration any fitting
    schedule adds to Σ duration (None: no fitting schedule exists, or the rows could not be built in time)."""

    status: str  # "optimal" (cover solved), "bounded" (time ran out: CP-SAT's bound), "none" (no row binds),
    # "infeasible" (some row cannot be met even recomputing all of F), "timeout" (rows not built in time)
    added_duration: int | None
    rows: int
    variables: int
    recomputed: tuple[int, ...] = ()  # dense indices of the best cover found (not a schedule)
    seconds: float = 0.0


def _bits(mask: int, n: int) -> np.ndarray:
    """Dense indices of the set bits of `mask` (bit i = node i)."""
    raw = np.frombuffer(mask.to_bytes((n + 7) // 8, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little")[:n])


def cover_rows(graph: Graph, budget_bytes: int, deadline: float | None = None) -> list[CoverRow] | None:
    """The rows of the covering model at `budget_bytes`: nodes whose forced memory exceeds it (None when the
    deadline passes first). Bitsets as Python integers: ancestors, and Q(w) = the nodes with a successor
    among w and its descendants (Q(w) = inputs(w) ∪ ⋃ Q(s) over w's successors)."""
    n = graph.n
    mem = graph.memory.astype(np.int64)
    order = graph.topological_indices.tolist()
    preds = [graph.predecessors(v).tolist() for v in range(n)]
    succs = [graph.successors(v).tolist() for v in range(n)]
    pred_mask = [0] * n
    for v in range(n):
        for u in preds[v]:
            pred_mask[v] |= 1 << u
    anc = [0] * n
    for v in order:
        a = pred_mask[v]
        for u in preds[v]:
            a |= anc[u]
        anc[v] = a
    feeds = [0] * n  # Q(w)
    for k, v in enumerate(reversed(order)):
        q = pred_mask[v]
        for s in succs[v]:
            q |= feeds[s]
        feeds[v] = q
        if deadline is not None and k % 256 == 0 and time.perf_counter() > deadline:
            return None
    rows: list[CoverRow] = []
    for w in range(n):
        base = int(mem[w]) + int(mem[preds[w]].sum())
        members = _bits(anc[w] & feeds[w] & ~pred_mask[w], n)
        need = base + int(mem[members].sum()) - budget_bytes
        if need > 0:
            rows.append(CoverRow(w, need, members[mem[members] > 0]))
        if deadline is not None and w % 256 == 0 and time.perf_counter() > deadline:
            return None
    return rows


def live_bound(
    graph: Graph, budget_bytes: int, time_limit_seconds: float, threads: int = 1, seed: int = 0
) -> LiveBound:
    """The least duration any schedule fitting `budget_bytes` must add to Σ duration, by the covering model
    (module docstring): its optimum, or CP-SAT's proven bound on it when the time runs out."""
    t0 = time.perf_counter()
    rows = cover_rows(graph, budget_bytes, deadline=t0 + time_limit_seconds)
    if rows is None:
        return LiveBound("timeout", None, 0, 0, seconds=time.perf_counter() - t0)
    if not rows:
        return LiveBound("none", 0, 0, 0, seconds=time.perf_counter() - t0)
    mem = graph.memory.astype(np.int64)
    dur = graph.duration.astype(np.int64)
    if any(r.need_bytes > int(mem[r.members].sum()) for r in rows):
        return LiveBound("infeasible", None, len(rows), 0, seconds=time.perf_counter() - t0)
    from formulations._cpsat import cp_model

    model = cp_model.CpModel()
    used = sorted({int(u) for r in rows for u in r.members})
    x = {u: model.new_bool_var(f"r{u}") for u in used}
    for r in rows:
        model.add(sum(int(mem[u]) * x[int(u)] for u in r.members) >= r.need_bytes)
    model.minimize(sum(int(dur[u]) * x[u] for u in used))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, time_limit_seconds - (time.perf_counter() - t0))
    solver.parameters.num_workers = max(1, int(threads))
    solver.parameters.random_seed = int(seed)
    code = solver.solve(model)
    seconds = time.perf_counter() - t0
    if code == cp_model.INFEASIBLE:  # cannot happen after the check above; kept as a proof, not a guess
        return LiveBound("infeasible", None, len(rows), len(used), seconds=seconds)
    if code == cp_model.OPTIMAL:
        chosen = tuple(u for u in used if solver.value(x[u]))
        return LiveBound("optimal", int(round(solver.objective_value)), len(rows), len(used), chosen, seconds)
    bound = max(0, math.floor(solver.best_objective_bound + 1e-9))  # integer durations: the floor stays sound
    chosen = tuple(u for u in used if solver.value(x[u])) if code == cp_model.FEASIBLE else ()
    return LiveBound("bounded", bound, len(rows), len(used), chosen, seconds)
