"""Exact oracle for tiny graphs (n <= ~8), for tests: Dijkstra over memory states.

A state is (nodes held in memory, computations so far per node, progress); holding a
value longer than its last read never helps, so "drop a held value" moves (cost 0)
plus "compute a node whose inputs are all held" moves (cost = its duration) explore
every schedule's best freeing policy. The step's memory is the held values plus the
new output. Two order modes, mirroring the formulations:
- `free`: any sequence, each node computed at most `max_computations` times;
- `fixed`: the stage structure of Checkmate and of Moccasin's stage grid for a given
  topological order: stage s recomputes some earlier nodes in order position, then
  computes order[s] for the first time.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from moccasin_bench.formulation import BoundScope, Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "oracle"
DESCRIPTION = "exhaustive search for tiny graphs (tests only)"
LABEL = "Exact oracle"
KEY_PARAMS = ("order",)
PARAMS = (
    Param(
        "order", str, "free", "free: any sequence; fixed: stage structure along the reference order", ("free", "fixed")
    ),
    Param("max_computations", int, 0, "at most this many computations per node (0 = no limit)", low=0, high=1000),
    Param("max_nodes", int, 9, "refuse graphs larger than this", low=0, high=64),
)


def optimal_schedule(
    n: int,
    duration: list[int],
    memory: list[int],
    preds: list[list[int]],
    budget: int,
    order_mode: str = "free",
    order: list[int] | None = None,
    max_computations: int = 0,
    deadline: float | None = None,
) -> tuple[int, list[int]] | None:
    """(optimal cost, schedule of dense indices), or None when no schedule fits."""
    import time

    track = max_computations > 0  # without a cap, counts are not part of the state: truly unrestricted
    cap = max_computations if track else 1 << 30
    pred_mask = [sum(1 << u for u in preds[v]) for v in range(n)]
    if order_mode == "fixed":
        if order is None:
            raise ValueError("fixed order mode needs an order")
        position = {v: k for k, v in enumerate(order)}
    mem_of = memory

    def held_memory(held: int) -> int:
        return sum(mem_of[v] for v in range(n) if held >> v & 1)

    # state: (held bitmask, counts tuple, progress) ; progress = computed-ever mask (free)
    # or (stage, next position) (fixed).
    start_progress = 0 if order_mode == "free" else (0, 0)
    start = (0, (0,) * n, start_progress)
    dist = {start: 0}
    parent: dict = {start: None}
    tie = itertools.count()
    heap = [(0, next(tie), start)]
    full = (1 << n) - 1
    while heap:
        cost, _, state = heapq.heappop(heap)
        if dist.get(state, None) != cost:
            continue
        held, counts, progress = state
        if (order_mode == "free" and progress == full) or (order_mode == "fixed" and progress[0] == n):
            seq = []
            s = state
            while parent[s] is not None:
                s, v = parent[s]
                if v is not None:
                    seq.append(v)
            return cost, seq[::-1]
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError
        moves: list[tuple[int, int | None, tuple]] = []
        # drop a held value
        for u in range(n):
            if held >> u & 1:
                moves.append((0, None, (held & ~(1 << u), counts, progress)))
        base = held_memory(held)
        if order_mode == "free":
            candidates = [v for v in range(n) if not held >> v & 1 and counts[v] < cap]
        else:
            stage, nxt = progress
            candidates = [
                order[p] for p in range(nxt, stage + 1) if not held >> order[p] & 1 and counts[order[p]] < cap
            ]
        for v in candidates:
            if pred_mask[v] & ~held or base + mem_of[v] > budget:
                continue
            c = list(counts)
            if track:
                c[v] += 1
            if order_mode == "free":
                nprog = progress | (1 << v)
            else:
                p = position[v]
                nprog = (stage + 1, 0) if p == stage else (stage, p + 1)
            moves.append((duration[v], v, (held | (1 << v), tuple(c), nprog)))
        for dc, v, nstate in moves:
            nc = cost + dc
            if nc < dist.get(nstate, nc + 1):
                dist[nstate] = nc
                parent[nstate] = (state, v)
                heapq.heappush(heap, (nc, next(tie), nstate))
    return None


def check(params, graph) -> None:
    """Refuse, when the run is planned, a graph larger than the exhaustive search handles."""
    from moccasin_bench.errors import UserError

    if graph.n > params["max_nodes"]:
        raise UserError(f"the oracle handles at most {params['max_nodes']} nodes (max_nodes); this graph has {graph.n}")


def solve(problem: Problem) -> SolverOutput:
    import time

    from moccasin_bench.orders import reference_order

    g, p = problem.graph, problem.params
    if g.n > p["max_nodes"]:
        return SolverOutput(
            status="error", message=f"the oracle handles at most {p['max_nodes']} nodes; this graph has {g.n}"
        )
    order = reference_order(g, problem.reference_order_name).tolist() if p["order"] == "fixed" else None
    preds = [g.predecessors(v).tolist() for v in range(g.n)]
    t0 = time.perf_counter()
    cap = p["max_computations"]
    variant = {"order": p["order"], "max_computations": cap}
    restrictions = f"{p['order']} order" + (f", at most {cap} computations per node" if cap else "")
    try:
        found = optimal_schedule(
            g.n,
            g.duration.tolist(),
            g.memory.tolist(),
            preds,
            problem.budget.bytes,
            p["order"],
            order,
            p["max_computations"],
            deadline=t0 + problem.time_limit_seconds,
        )
    except TimeoutError:
        return SolverOutput(
            status="no_solution",
            solve_seconds=time.perf_counter() - t0,
            variant=variant,
            restrictions=restrictions,
            message="time limit reached",
        )
    seconds = time.perf_counter() - t0
    if found is None:
        return SolverOutput(status="infeasible", solve_seconds=seconds, variant=variant, restrictions=restrictions)
    cost, seq = found
    return SolverOutput(
        status="optimal",
        schedule=np.array(seq, dtype=np.int64),
        objective=cost,
        best_bound=cost,
        trajectory=((problem.elapsed(), float(cost)),),
        solve_seconds=seconds,
        variant=variant,
        restrictions=restrictions,
        bound_scope=BoundScope(problem.reference_order_name if p["order"] == "fixed" else None, cap or None),
    )
