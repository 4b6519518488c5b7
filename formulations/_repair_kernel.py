"""Compiled memory-above-budget and cost of a schedule, for staged repair's tries
(formulations/_checkpointing.py).

Staged repair scores every try by simulating it: tens of thousands per run (pt-gpt at 1.25 x its minimum:
40,186 tries, 5.5 s of its 14 s in the simulator). A try needs only two numbers, the memory above the budget
summed over the steps and the cost, which one compiled pass over the schedule gives without building the
simulator's arrays. The try that wins a round is simulated as always.
"""

from __future__ import annotations

import numpy as np

from formulations._anneal_kernel import _jit
from moccasin_bench.graph import Graph
from moccasin_bench.simulate import schedule_cost


@_jit
def _overflow_cost(s, pred_ptr, pred_idx, mem, dur, budget):
    T = len(s)
    n = len(pred_ptr) - 1
    last = np.full(n, -1, dtype=np.int64)
    live_until = np.arange(T)
    ok = True
    for k in range(T):  # each read holds the input's latest earlier copy up to step k
        v = s[k]
        for e in range(pred_ptr[v], pred_ptr[v + 1]):
            p = last[pred_idx[e]]
            if p < 0:
                ok = False
            else:
                live_until[p] = k
        last[v] = k
    delta = np.zeros(T + 1, dtype=np.int64)
    for k in range(T):
        delta[k] += mem[s[k]]
        delta[live_until[k] + 1] -= mem[s[k]]
    current = 0
    over = 0
    cost = 0
    for k in range(T):
        current += delta[k]
        if current > budget:
            over += current - budget
        cost += dur[s[k]]
    return over, cost, ok


def overflow_cost(graph: Graph, schedule: np.ndarray, budget_bytes: int) -> tuple[int, int, bool]:
    """(Σ over the steps of the memory above `budget_bytes`, Σ duration, every read has an earlier copy),
    as the simulator would give them (moccasin_bench.simulate)."""
    s = np.asarray(schedule, dtype=np.int64)
    over, cost, ok = _overflow_cost(
        s,
        graph.pred_ptr,
        graph.pred_idx,
        np.asarray(graph.memory, dtype=np.int64),  # no copy: the graph's arrays are int64
        np.asarray(graph.duration, dtype=np.int64),
        int(budget_bytes),
    )
    if len(s) and len(s) * int(graph.duration.max()) >= 2**62:  # int64 would overflow: the exact sum
        cost = schedule_cost(graph, s)
    return int(over), int(cost), bool(ok)
