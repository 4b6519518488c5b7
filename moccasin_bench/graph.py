"""The compute graph: immutable, numpy-backed, validated on construction.

Nodes keep the ids of the input file (ints or strings); internally every array is
indexed by a dense position 0..n-1 in file order. Duplicate edges are merged (a node
that reads the same tensor twice depends on it once); every other defect is an error.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from moccasin_bench.errors import GraphError

if TYPE_CHECKING:
    import networkx as nx

NodeId = int | str

_INT64_MAX = np.iinfo(np.int64).max
# Totals are checked at load time so that every sum the engine and the models form stays exact in
# int64: COPY_FACTOR computations of every node (a budget of up to 10x a peak, C <= 16 copies in a
# model) still sum below TOTAL_LIMIT. Larger graphs are refused with a GraphError saying so.
TOTAL_LIMIT = 2**62
COPY_FACTOR = 16

PYTORCH_SOURCE_KIND = "pytorch-training-step"  # graph.source["kind"] of a graph made by `graphs extract`


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def as_int_value(value: object, what: str) -> int:
    """Return `value` as a non-negative int, or raise GraphError naming `what`."""
    if value is None:
        raise GraphError(f"{what} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise GraphError(f"{what} is not a number: {value!r}")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or value != int(value):
            raise GraphError(f"{what} is not an integer: {value!r}")
    value = int(value)
    if value < 0:
        raise GraphError(f"{what} is negative: {value}")
    if value > _INT64_MAX // 4:
        raise GraphError(f"{what} is too large for 64-bit arithmetic: {value}")
    return value


def _check_endpoint(value: object, what: str) -> NodeId:
    """A node id named by an edge or an order: an int or a string, never a bool, float or list."""
    if isinstance(value, bool) or not isinstance(value, (int, str, np.integer)):
        raise GraphError(f"{what} is not a node id (an integer or a string): {value!r}")
    return int(value) if isinstance(value, np.integer) else value


def _check_totals(dur: list[int], mem: list[int]) -> None:
    for what, values in (("durations", dur), ("memory sizes", mem)):
        total = sum(values)
        if total * COPY_FACTOR >= TOTAL_LIMIT:
            raise GraphError(
                f"the sum of the {what} ({total:,}) is too large: exact 64-bit arithmetic needs it below "
                f"{TOTAL_LIMIT // COPY_FACTOR:,} (2^62 / {COPY_FACTOR}); use a coarser unit"
            )


def _check_node_id(value: object, position: int) -> NodeId:
    if isinstance(value, bool) or not isinstance(value, (int, str, np.integer)):
        raise GraphError(f"node at position {position} has an id that is neither an integer nor a string: {value!r}")
    return int(value) if isinstance(value, np.integer) else value


@dataclass(frozen=True, eq=False)
class Graph:
    """A validated DAG. Build with `Graph.build`, which checks everything."""

    name: str
    node_ids: tuple[NodeId, ...]
    duration: np.ndarray  # int64 (n,), time units of the source (profiled or synthetic)
    memory: np.ndarray  # int64 (n,), output size in the source's memory unit (bytes for Checkmate graphs)
    edges: np.ndarray  # int64 (m, 2) dense indices (u, v): v reads u; file order, duplicates merged
    stored_order: np.ndarray | None = None  # int64 (n,) dense indices, a topological order
    origin: str = ""  # file path or generator call it came from
    labels: tuple[str, ...] | None = None  # optional human-readable node names
    duplicate_edges_merged: int = 0
    # Resident bytes outside the schedulable graph (parameters, batch, optimizer state of a
    # training step): added to every step's memory by the real run, never to the simulator's
    # figures or to budgets, which stay relative to the schedulable peak.
    fixed_bytes: int = 0
    # Free-form provenance of an extracted graph (how it was made); not part of the problem,
    # so not hashed. Treat as read-only.
    source: Mapping[str, Any] | None = field(default=None, repr=False)
    _index: dict = field(default_factory=dict, repr=False)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        name: str,
        node_ids: Sequence[object],
        duration: Sequence[object],
        memory: Sequence[object],
        edges: Iterable[tuple[object, object]],
        stored_order: Sequence[object] | None = None,
        origin: str = "",
        labels: Sequence[str] | None = None,
        fixed_bytes: object = 0,
        source: Mapping[str, Any] | None = None,
    ) -> Graph:
        """Validate raw values (edges and order given as node ids) and build a Graph."""
        ids = tuple(_check_node_id(v, i) for i, v in enumerate(node_ids))
        n = len(ids)
        if n == 0:
            raise GraphError("the graph is empty (no nodes)")
        index: dict[NodeId, int] = {}
        for i, v in enumerate(ids):
            if v in index:
                raise GraphError(f"node id {v!r} appears twice (positions {index[v]} and {i})")
            index[v] = i
        if len(duration) != n or len(memory) != n:
            raise GraphError("duration and memory must have one value per node")
        dur_values = [as_int_value(d, f"duration of node {ids[i]!r}") for i, d in enumerate(duration)]
        mem_values = [as_int_value(m, f"memory of node {ids[i]!r}") for i, m in enumerate(memory)]
        _check_totals(dur_values, mem_values)
        dur = np.array(dur_values, dtype=np.int64)
        mem = np.array(mem_values, dtype=np.int64)

        pairs: list[tuple[int, int]] = []
        seen: set[tuple[int, int]] = set()
        merged = 0
        for k, edge in enumerate(edges):
            try:
                if isinstance(edge, (str, bytes, dict, set, frozenset)):
                    raise TypeError
                a, b = edge
            except (TypeError, ValueError):
                raise GraphError(f"edge {k} is not a pair of node ids: {edge!r}") from None
            a, b = _check_endpoint(a, f"the source of edge {k}"), _check_endpoint(b, f"the target of edge {k}")
            if a not in index:
                raise GraphError(f"edge {k} ({a!r} -> {b!r}) starts at unknown node {a!r}")
            if b not in index:
                raise GraphError(f"edge {k} ({a!r} -> {b!r}) ends at unknown node {b!r}")
            if a == b:
                raise GraphError(f"self-loop on node {a!r} (edge {k})")
            p = (index[a], index[b])
            if p in seen:
                merged += 1
                continue
            seen.add(p)
            pairs.append(p)
        e = np.array(pairs, dtype=np.int64).reshape(-1, 2)

        order = None
        if stored_order is not None:
            if isinstance(stored_order, (str, bytes, dict)) or not isinstance(stored_order, (list, tuple, np.ndarray)):
                raise GraphError(
                    f"the stored order must be a list of node ids, got {type(stored_order).__name__} {stored_order!r:.60}"
                )
            order_ids = [_check_endpoint(v, f"entry {k} of the stored order") for k, v in enumerate(stored_order)]
            try:
                order = np.array([index[v] for v in order_ids], dtype=np.int64)
            except KeyError:
                bad = next(v for v in order_ids if v not in index)
                raise GraphError(f"stored order names unknown node {bad!r}") from None
            if len(order) != n or len(np.unique(order)) != n:
                raise GraphError(
                    f"stored order must list each of the {n} nodes exactly once (it has {len(order)} entries, {len(np.unique(order))} distinct)"
                )
        if labels is not None and len(labels) != n:
            raise GraphError("labels must have one entry per node")
        fixed = as_int_value(fixed_bytes, "fixed_bytes")
        if source is not None and not isinstance(source, Mapping):
            raise GraphError(f"source (provenance) must be a mapping, got {type(source).__name__}")

        g = cls(
            name=str(name),
            node_ids=ids,
            duration=_frozen(dur),
            memory=_frozen(mem),
            edges=_frozen(e),
            stored_order=None if order is None else _frozen(order),
            origin=origin,
            labels=None if labels is None else tuple(str(x) for x in labels),
            duplicate_edges_merged=merged,
            fixed_bytes=fixed,
            source=None if source is None else dict(source),
            _index=index,
        )
        g._check_acyclic()
        if order is not None:
            pos = np.empty(n, dtype=np.int64)
            pos[order] = np.arange(n)
            bad = np.nonzero(pos[e[:, 0]] >= pos[e[:, 1]])[0] if len(e) else []
            if len(bad):
                u, v = e[bad[0]]
                raise GraphError(f"stored order is not topological: node {ids[v]!r} comes before its input {ids[u]!r}")
        return g

    def _check_acyclic(self) -> None:
        if len(self.topological_indices) == self.n:
            return
        # Walk predecessors among the unsorted nodes until one repeats: it lies on a cycle.
        remaining = np.ones(self.n, dtype=bool)
        remaining[self.topological_indices] = False
        v = int(np.nonzero(remaining)[0][0])
        path: list[int] = []
        where: dict[int, int] = {}
        while v not in where:
            where[v] = len(path)
            path.append(v)
            v = next(int(u) for u in self.predecessors(v) if remaining[u])
        cycle = path[where[v] :][::-1]
        shown = " -> ".join(repr(self.node_ids[c]) for c in cycle[:8])
        more = " -> ..." if len(cycle) > 8 else ""
        raise GraphError(
            f"the graph has a cycle through node {self.node_ids[cycle[0]]!r}: {shown}{more} -> {self.node_ids[cycle[0]]!r}"
        )

    # ---- sizes --------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.node_ids)

    @property
    def m(self) -> int:
        return len(self.edges)

    @cached_property
    def sum_duration(self) -> int:
        return int(self.duration.sum())

    @cached_property
    def sum_memory(self) -> int:
        return int(self.memory.sum())

    # ---- adjacency (CSR, dense indices) ------------------------------------------------
    @cached_property
    def _pred_csr(self) -> tuple[np.ndarray, np.ndarray]:
        return _csr(self.n, self.edges[:, 1], self.edges[:, 0])

    @cached_property
    def _succ_csr(self) -> tuple[np.ndarray, np.ndarray]:
        return _csr(self.n, self.edges[:, 0], self.edges[:, 1])

    @property
    def pred_ptr(self) -> np.ndarray:
        return self._pred_csr[0]

    @property
    def pred_idx(self) -> np.ndarray:
        return self._pred_csr[1]

    @property
    def succ_ptr(self) -> np.ndarray:
        return self._succ_csr[0]

    @property
    def succ_idx(self) -> np.ndarray:
        return self._succ_csr[1]

    def predecessors(self, v: int) -> np.ndarray:
        ptr, idx = self._pred_csr
        return idx[ptr[v] : ptr[v + 1]]

    def successors(self, v: int) -> np.ndarray:
        ptr, idx = self._succ_csr
        return idx[ptr[v] : ptr[v + 1]]

    @cached_property
    def in_degree(self) -> np.ndarray:
        return _frozen(np.diff(self.pred_ptr))

    @cached_property
    def out_degree(self) -> np.ndarray:
        return _frozen(np.diff(self.succ_ptr))

    @cached_property
    def topological_indices(self) -> np.ndarray:
        """A topological order by Kahn's algorithm, smallest index first (shorter if cyclic)."""
        import heapq

        indeg = self.in_degree.copy()
        heap = [int(v) for v in np.nonzero(indeg == 0)[0]]
        heapq.heapify(heap)
        out: list[int] = []
        ptr, idx = self._succ_csr
        while heap:
            v = heapq.heappop(heap)
            out.append(v)
            for w in idx[ptr[v] : ptr[v + 1]]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(heap, int(w))
        return _frozen(np.array(out, dtype=np.int64))

    @cached_property
    def min_feasible_budget(self) -> int:
        """max_v (memory[v] + Σ memory of v's inputs): no schedule can peak lower."""
        need = self.memory.copy()
        np.add.at(need, self.edges[:, 1], self.memory[self.edges[:, 0]])
        return int(need.max())

    # ---- ids ---------------------------------------------------------------------------
    def has_node(self, node_id: object) -> bool:
        """Whether `node_id` is the id of a node (ids are compared exactly: 1 is not "1", True or 1.0)."""
        return _is_id(node_id) and node_id in self._index

    def index_of(self, node_id: NodeId) -> int:
        if not self.has_node(node_id):
            raise GraphError(f"unknown node id {node_id!r}")
        return self._index[node_id]

    def to_indices(self, node_ids: Iterable[object]) -> np.ndarray:
        """Dense indices of a sequence of node ids; an unknown id (or a bool, a float) is a GraphError."""
        node_ids = list(node_ids)
        try:
            out = np.fromiter((self._index[v] for v in node_ids), dtype=np.int64, count=len(node_ids))
        except (KeyError, TypeError):
            out = None
        if out is None or not all(map(_is_id, node_ids)):
            bad = next(v for v in node_ids if not self.has_node(v))
            raise GraphError(f"unknown node id {bad!r}")
        return out

    def to_ids(self, indices: Iterable[int]) -> list[NodeId]:
        return [self.node_ids[int(i)] for i in indices]

    # ---- identity ----------------------------------------------------------------------
    @cached_property
    def content_hash(self) -> str:
        """A hash of what defines the problem (ids, sizes, edge set, stored order, fixed bytes
        when nonzero), not the path or the provenance: graphs without fixed bytes keep the
        hash they had before fixed bytes existed."""
        h = hashlib.sha256()
        h.update(repr(self.node_ids).encode())
        edge_set = self.edges[np.lexsort((self.edges[:, 1], self.edges[:, 0]))]
        for a in (self.duration, self.memory, edge_set):
            h.update(np.ascontiguousarray(a).tobytes())
        if self.stored_order is not None:
            h.update(b"order")
            h.update(self.stored_order.tobytes())
        if self.fixed_bytes:
            h.update(b"fixed")
            h.update(str(self.fixed_bytes).encode())
        return h.hexdigest()[:16]

    def to_networkx(self) -> nx.DiGraph:
        """A networkx DiGraph with nodes and edges inserted in file order (attributes: duration, memory)."""
        import networkx as nx

        g = nx.DiGraph(name=self.name)
        for i, v in enumerate(self.node_ids):
            g.add_node(v, duration=int(self.duration[i]), memory=int(self.memory[i]))
        g.add_edges_from((self.node_ids[a], self.node_ids[b]) for a, b in self.edges)
        return g


def _is_id(value: object) -> bool:
    return isinstance(value, (int, str, np.integer)) and not isinstance(value, bool)


def _csr(n: int, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compressed rows: cols grouped by row, stable (file order kept inside a row)."""
    order = np.argsort(rows, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return _frozen(ptr), _frozen(cols[order].astype(np.int64))
