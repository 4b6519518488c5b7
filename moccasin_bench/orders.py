"""Reference orders: topological orders run without recomputation to set budgets.

`stored` is the order the graph file carries; `topological` is networkx's
`topological_sort` on the graph with nodes and edges inserted in file order (what the
paper used for graphs without a stored order); `memory-aware` is a greedy order that
picks, among ready nodes, the one that leaves the least memory live.
"""

from __future__ import annotations

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph

REFERENCE_ORDERS = ("stored", "topological", "memory-aware")  # the orders themselves
DEFAULT = "default"  # the stored order when the file has one, else topological (the paper's choice)
ORDER_CHOICES = (DEFAULT, *REFERENCE_ORDERS)  # what a user may name: CLI choices, sweep values


def default_order_name(graph: Graph) -> str:
    """The paper's choice: the stored order when the file has one, else networkx's."""
    return "stored" if graph.stored_order is not None else "topological"


def resolve_order_name(graph: Graph, name: str | None = DEFAULT) -> str:
    """The reference order a name stands for on this graph (`default` or None resolved);
    an unknown name, or `stored` on a graph without one, is a UserError."""
    if name in (None, DEFAULT):
        return default_order_name(graph)
    if name not in REFERENCE_ORDERS:
        raise UserError(f"unknown reference order {name!r}; choose one of: {', '.join(ORDER_CHOICES)}")
    if name == "stored" and graph.stored_order is None:
        raise UserError(f"graph {graph.name!r} has no stored order; use --reference-order topological or memory-aware")
    return name


def reference_order(graph: Graph, name: str | None = DEFAULT) -> np.ndarray:
    """The named reference order as dense indices."""
    name = resolve_order_name(graph, name)
    if name == "stored":
        return graph.stored_order
    if name == "topological":
        return networkx_topological_order(graph)
    return memory_aware_order(graph)


def networkx_topological_order(graph: Graph) -> np.ndarray:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n))
    g.add_edges_from(map(tuple, graph.edges.tolist()))
    return np.fromiter(nx.topological_sort(g), dtype=np.int64, count=graph.n)


def memory_aware_order(graph: Graph) -> np.ndarray:
    """Greedy: compute next the ready node with the smallest net memory change (its output
    minus the inputs it is the last reader of); ties go to the lower step peak, then index.

    A heap of ready nodes with lazy updates: a ready node's key only falls (when it becomes
    the last reader of an input), so the pass is O((n + m) log n)."""
    import heapq

    n = graph.n
    mem = graph.memory.tolist()
    remaining_readers = graph.out_degree.tolist()
    missing_inputs = graph.in_degree.tolist()
    pred_ptr, pred_idx = graph.pred_ptr.tolist(), graph.pred_idx.tolist()
    succ_ptr, succ_idx = graph.succ_ptr.tolist(), graph.succ_idx.tolist()
    done = [False] * n
    freed = [0] * n  # Σ memory of the inputs a node is the last remaining reader of
    for u in range(n):
        if remaining_readers[u] == 1:
            freed[succ_idx[succ_ptr[u]]] += mem[u]

    def push(v: int) -> None:
        heapq.heappush(heap, (mem[v] - freed[v], mem[v], v))

    heap: list[tuple[int, int, int]] = []
    for v in range(n):
        if missing_inputs[v] == 0:
            push(v)
    order: list[int] = []
    while heap:
        key, _, v = heapq.heappop(heap)
        if done[v] or key != mem[v] - freed[v]:
            continue  # a stale entry: v was computed, or its key fell since
        done[v] = True
        order.append(v)
        for u in pred_idx[pred_ptr[v] : pred_ptr[v + 1]]:
            remaining_readers[u] -= 1
            if remaining_readers[u] == 1:  # its last reader now frees it, when that reader is ready
                w = next(x for x in succ_idx[succ_ptr[u] : succ_ptr[u + 1]] if not done[x])
                freed[w] += mem[u]
                if missing_inputs[w] == 0:
                    push(w)
        for w in succ_idx[succ_ptr[v] : succ_ptr[v + 1]]:
            missing_inputs[w] -= 1
            if missing_inputs[w] == 0:
                push(w)
    assert len(order) == n
    return np.array(order, dtype=np.int64)
