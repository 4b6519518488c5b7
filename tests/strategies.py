"""Hypothesis strategies shared by the tests: small random DAGs."""

from __future__ import annotations

from hypothesis import strategies as st

from moccasin_bench.graph import Graph


@st.composite
def dags(
    draw, min_nodes: int = 1, max_nodes: int = 7, max_duration: int = 9, max_memory: int = 9, shuffle_ids: bool = True
) -> Graph:
    """A random DAG: edges go from a lower to a higher id; nodes are listed in a random order."""
    n = draw(st.integers(min_nodes, max_nodes))
    pairs = [(u, v) for v in range(n) for u in range(v)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    duration = draw(st.lists(st.integers(0, max_duration), min_size=n, max_size=n))
    memory = draw(st.lists(st.integers(0, max_memory), min_size=n, max_size=n))
    ids = draw(st.permutations(range(n))) if shuffle_ids else list(range(n))
    return Graph.build("random-dag", node_ids=list(ids), duration=duration, memory=memory, edges=chosen)


@st.composite
def training_graphs(
    draw,
    max_nodes: int = 7,
    min_layers: int = 2,
    max_duration: int = 6,
    min_memory: int = 1,
    max_memory: int = 6,
    shuffle_ids: bool = True,
) -> Graph:
    """Forward chain, loss, backward chain reading the forward values, plus up to two random edges: values
    live long, so tight budgets call for recomputation (unlike most random tiny DAGs)."""
    k = draw(st.integers(min_layers, (max_nodes - 1) // 2))
    n = 2 * k + 1  # forward 0..k-1, loss k, gradient k+1+i of forward k-1-i
    edges = [(i, i + 1) for i in range(2 * k)] + [(k - 1 - i, k + 1 + i) for i in range(k)]
    extra = [(u, v) for v in range(n) for u in range(v - 1) if (u, v) not in edges]
    edges += draw(st.lists(st.sampled_from(extra), unique=True, max_size=2)) if extra else []
    duration = draw(st.lists(st.integers(0, max_duration), min_size=n, max_size=n))
    memory = draw(st.lists(st.integers(min_memory, max_memory), min_size=n, max_size=n))
    ids = draw(st.permutations(range(n))) if shuffle_ids else list(range(n))
    return Graph.build("training", [ids[v] for v in range(n)], duration, memory, [(ids[a], ids[b]) for a, b in edges])
