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
    minus the inputs it is the last reader of); ties go to the lower step peak, then index."""
    n = graph.n
    mem = graph.memory
    remaining_readers = graph.out_degree.astype(np.int64).copy()
    missing_inputs = graph.in_degree.astype(np.int64).copy()
    ready = set(np.nonzero(missing_inputs == 0)[0].tolist())
    order: list[int] = []
    while ready:
        best = None
        for v in ready:
            preds = graph.predecessors(v)
            freed = int(mem[preds[remaining_readers[preds] == 1]].sum())
            key = (int(mem[v]) - freed, int(mem[v]), v)
            if best is None or key < best:
                best = key
        v = best[2]
        ready.remove(v)
        order.append(v)
        remaining_readers[graph.predecessors(v)] -= 1
        for w in graph.successors(v):
            missing_inputs[w] -= 1
            if missing_inputs[w] == 0:
                ready.add(int(w))
    assert len(order) == n
    return np.array(order, dtype=np.int64)
