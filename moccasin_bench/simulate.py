"""The simulator: the one source of truth for a schedule's memory and cost.

Semantics (docs/semantics.md): step j computes node v; v reads, for each input u, the most
recent earlier computation of u (one must exist). A computed copy is live from its own
step through the last step that reads it; memory at a step is the sum of live copies,
the step's own output included. Vectorised: one sort plus one binary search per read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moccasin_bench.graph import Graph, NodeId


@dataclass(frozen=True)
class Violation:
    """The first reason a schedule is not executable."""

    kind: str  # "missing_input" (a read with no earlier computation) or "never_computed"
    node: NodeId
    step: int | None = None  # step whose read failed (missing_input)
    missing_input: NodeId | None = None

    def describe(self) -> str:
        if self.kind == "missing_input":
            return f"step {self.step} computes node {self.node!r}, but its input {self.missing_input!r} has not been computed before that step"
        return f"node {self.node!r} is never computed"

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "step": self.step,
            "node": self.node,
            "missing_input": self.missing_input,
            "message": self.describe(),
        }


@dataclass(frozen=True, eq=False)
class Simulation:
    """What the simulator measured. For an invalid schedule, failed reads are ignored in the memory figures."""

    schedule: np.ndarray  # dense node indices, one per step
    memory_per_step: np.ndarray  # int64 (T,)
    live_until: np.ndarray  # int64 (T,): last step at which the output of step j is live
    peak_memory: int
    peak_step: int
    total_duration: int
    tdi_percent: float
    violation: Violation | None

    @property
    def valid(self) -> bool:
        return self.violation is None

    @property
    def steps(self) -> int:
        return len(self.schedule)

    def fits(self, budget_bytes: int) -> bool:
        return self.valid and self.peak_memory <= budget_bytes


def tdi_percent(total_duration: int, sum_duration: int) -> float:
    """Total duration increase over computing every node once, in percent."""
    if sum_duration == 0:
        return 0.0
    return 100.0 * (total_duration - sum_duration) / sum_duration


def schedule_cost(graph: Graph, s: np.ndarray) -> int:
    """Σ duration over the steps, exact: int64 while it cannot overflow, Python ints beyond
    (a schedule may repeat a node any number of times)."""
    if not len(s):
        return 0
    if len(s) * int(graph.duration.max()) < 2**62:
        return int(graph.duration[s].sum())
    counts = np.bincount(s, minlength=graph.n)
    return sum(int(c) * int(d) for c, d in zip(counts.tolist(), graph.duration.tolist()) if c)


def simulate(graph: Graph, schedule: np.ndarray | list[int]) -> Simulation:
    """Simulate a schedule given as dense node indices (see Graph.to_indices)."""
    s = np.asarray(schedule, dtype=np.int64).reshape(-1)
    n, T = graph.n, len(s)
    if T and (s.min() < 0 or s.max() >= n):
        raise ValueError("schedule holds indices outside 0..n-1; convert node ids with Graph.to_indices")
    steps = np.arange(T, dtype=np.int64)
    reader_step, read_node, producer = _reads(graph, s)
    found = producer >= 0

    live_until = steps.copy()
    np.maximum.at(live_until, producer[found], reader_step[found])

    mem = graph.memory[s]
    delta = np.zeros(T + 1, dtype=np.int64)
    delta[:T] += mem
    np.subtract.at(delta, live_until + 1, mem)
    memory_per_step = np.cumsum(delta[:T])

    violation = None
    if not found.all():
        k = int(np.argmin(found))  # reads are in step order, so the first False is the first failure
        violation = Violation(
            "missing_input",
            graph.node_ids[int(s[reader_step[k]])],
            int(reader_step[k]),
            graph.node_ids[int(read_node[k])],
        )
    else:
        never = np.nonzero(np.bincount(s, minlength=n) == 0)[0]
        if len(never):
            violation = Violation("never_computed", graph.node_ids[int(never[0])])

    peak_step = int(np.argmax(memory_per_step)) if T else 0
    total = schedule_cost(graph, s)
    memory_per_step.setflags(write=False)
    live_until.setflags(write=False)
    s.setflags(write=False)
    return Simulation(
        schedule=s,
        memory_per_step=memory_per_step,
        live_until=live_until,
        peak_memory=int(memory_per_step[peak_step]) if T else 0,
        peak_step=peak_step,
        total_duration=total,
        tdi_percent=tdi_percent(total, graph.sum_duration),
        violation=violation,
    )


def _reads(graph: Graph, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every read of schedule `s` in step order: (reader step, input node, producer step), the
    producer being the latest earlier computation of the input, -1 where there is none."""
    T = len(s)
    steps = np.arange(T, dtype=np.int64)
    counts = graph.in_degree[s]
    total_reads = int(counts.sum())
    reader_step = np.repeat(steps, counts)
    first = np.repeat(graph.pred_ptr[s], counts)
    within = np.arange(total_reads, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    read_node = graph.pred_idx[first + within]
    # Computations sorted node-major: key = node * T + step. The producer of a read is the
    # largest key below read_node * T + reader_step within the same node.
    keys = np.sort(s * T + steps)
    pos = np.searchsorted(keys, read_node * T + reader_step) - 1
    found = pos >= 0
    found[found] = keys[pos[found]] // T == read_node[found]
    producer = np.where(found, keys[np.maximum(pos, 0)] % T if T else 0, -1)
    return reader_step, read_node, producer


def read_producers(graph: Graph, schedule: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every read of a schedule: (reader step, producer step); producer -1 where the input
    was not computed before (an invalid schedule)."""
    reader, _, producer = _reads(graph, np.asarray(schedule, dtype=np.int64).reshape(-1))
    return reader, producer
