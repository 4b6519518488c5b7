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
