"""What a PyTorch user would pick instead: shared plumbing of the two PyTorch baselines
(`torch-partitioner`, `torch-checkpoint`; docs/pytorch.md, "PyTorch's own rematerialization").

Both turn a PyTorch decision into a schedule of OUR graph (a graph made by `moccasin-bench
graphs extract`): the forward ops in the stored (traced) order, then the backward ops in
the stored order, with the forward ops the decision recomputes placed in the backward
right before their first backward reader. The simulator then judges the schedule like any
other.

- `StepParts` / `step_parts`: which nodes are backward ops and each node's module path,
  read from the labels the extraction writes (`aten.convolution layer1.0.conv1`,
  `... (backward)`).
- `assemble`: head + tail + recomputations at anchor positions -> a schedule.
- `partitioner_schedule` (with `Partitioner`): the min-cut partitioner's forward and backward
  graphs (node names) -> our schedule. `Partitioner` re-traces the graph's step (torch
  imported inside) and runs `min_cut_rematerialization_partition` at one knob setting.
- `checkpoint_units`, `checkpoint_regions`, `checkpoint_schedule`: torch.utils.checkpoint
  around blocks of the model's top-level sequence, simulated on our graph from module
  paths (no torch).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph

BACKWARD_SUFFIX = " (backward)"
KNAPSACK_SOLVERS = ("dp", "greedy", "ilp")  # torch._functorch.config.activation_memory_budget_solver values used


@dataclass(frozen=True)
class StepParts:
    """A PyTorch graph's nodes split into the forward and the backward pass (dense indices,
    stored order) and each node's module path."""

    backward: np.ndarray  # bool (n,)
    paths: tuple[str, ...]  # module path per node ("layer1.0.conv1", "<model>", "<loss>", ...)
    position: np.ndarray  # int64 (n,): position of each node in the stored order

    @property
    def forward_nodes(self) -> list[int]:
        return [v for v in self.order if not self.backward[v]]

    @property
    def backward_nodes(self) -> list[int]:
        return [v for v in self.order if self.backward[v]]

    @property
    def order(self) -> list[int]:
        return np.argsort(self.position, kind="stable").tolist()


def step_parts(graph: Graph) -> StepParts:
    """Forward/backward split and module paths from the extraction's labels."""
    if graph.labels is None:
        raise UserError(f"graph {graph.name!r} has no node labels (module paths); it was not extracted from PyTorch")
    backward = np.array([label.endswith(BACKWARD_SUFFIX) for label in graph.labels], dtype=bool)
    paths = []
    for label in graph.labels:
        text = label[: -len(BACKWARD_SUFFIX)] if label.endswith(BACKWARD_SUFFIX) else label
        _, _, path = text.partition(" ")
        paths.append(path or "<step>")
    order = graph.stored_order if graph.stored_order is not None else graph.topological_indices
    position = np.empty(graph.n, dtype=np.int64)
    position[np.asarray(order, dtype=np.int64)] = np.arange(graph.n)
    _check_labels(graph, backward)
    return StepParts(backward=backward, paths=tuple(paths), position=position)


def _check_labels(graph: Graph, backward: np.ndarray) -> None:
    """The labels must split the graph as an extraction does: some forward and some backward
    nodes, and no forward node reading a backward one (the baselines build their schedules on
    that split; labels edited to contradict the edges would make an invalid schedule)."""
    if backward.all() or not backward.any():
        which = "forward" if backward.all() else "backward"
        raise UserError(
            f"graph {graph.name!r}: no node is labelled as a {which} op (labels ending in "
            f"'{BACKWARD_SUFFIX.strip()}' mark the backward); its labels are not those of `graphs extract`"
        )
    src = np.repeat(np.arange(graph.n), np.diff(graph.succ_ptr))
    bad = np.nonzero(backward[src] & ~backward[graph.succ_idx])[0]
    if len(bad):
        u, v = int(src[bad[0]]), int(graph.succ_idx[bad[0]])
        ids = graph.to_ids([u, v])
        raise UserError(
            f"graph {graph.name!r}: node {ids[1]!r} ({graph.labels[v]}) is labelled forward but reads backward "
            f"node {ids[0]!r} ({graph.labels[u]}): its labels contradict its edges ({len(bad)} edge(s) like this one)"
        )


def assemble(head: Sequence[int], tail: Sequence[int], inserts: Iterable[tuple[int, Sequence[int]]]) -> np.ndarray:
    """head, then tail with each insert's nodes (in their order) right before tail[anchor]
    (anchor == len(tail): at the end); inserts at one anchor keep the order given."""
    at: dict[int, list[int]] = {}
    for anchor, nodes in inserts:
        at.setdefault(int(anchor), []).extend(int(v) for v in nodes)
    out = [int(v) for v in head]
    for i, v in enumerate(tail):
        out += at.get(i, [])
        out.append(int(v))
    out += at.get(len(tail), [])
    return np.asarray(out, dtype=np.int64)


def anchors_before_first_reader(graph: Graph, parts: StepParts, tail: Sequence[int], moved: Iterable[int]) -> dict:
    """For each node of `moved` (placed in the backward), the tail position of its first reader
    in the tail, directly or through other moved nodes (len(tail) when nothing reads it)."""
    where = {int(v): i for i, v in enumerate(tail)}
    moved_set = {int(v) for v in moved}
    anchor: dict[int, int] = {}
    for v in sorted(moved_set, key=lambda x: -parts.position[x]):  # readers before their inputs
        best = len(tail)
        for s in graph.successors(v).tolist():
            if s in moved_set:
                best = min(best, anchor[s])
            elif s in where:
                best = min(best, where[s])
        anchor[v] = best
    return anchor


# ---- torch-partitioner ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionSchedule:
    """The partitioner's decision as a schedule of our graph."""

    schedule: np.ndarray
    recomputed: frozenset[int]  # forward nodes computed in the forward and again in the backward
    deferred: frozenset[int]  # forward nodes computed only in the backward


def partitioner_schedule(
    graph: Graph,
    parts: StepParts,
    groups: Sequence[Sequence[str]],
    forward_names: set[str],
    backward_names: set[str],
) -> PartitionSchedule:
    """Our schedule from the names of the ops in the partitioner's forward and backward graphs.

    A node (an op with the views and getitems folded into it, `groups[v]`, op first) is in the
    forward when its op is in the forward graph (or, a forward op, in neither graph); a
    forward node whose op the backward graph computes is recomputed (or deferred, when the
    forward graph does not compute it), placed right before its first backward reader."""
    head: list[int] = []
    moved: list[int] = []
    for v in parts.order:
        op = groups[v][0]
        in_fw, in_bw = op in forward_names, op in backward_names
        if in_fw or (not in_bw and not parts.backward[v]):
            head.append(v)
            if in_bw:
                moved.append(v)
        elif not parts.backward[v]:  # a forward op only the backward graph computes
            moved.append(v)
    head_set = set(head)
    tail = [v for v in parts.order if v not in head_set and parts.backward[v]]
    anchor = anchors_before_first_reader(graph, parts, tail, moved)
    by_order = sorted(moved, key=lambda v: parts.position[v])
    schedule = assemble(head, tail, [(anchor[v], [v]) for v in by_order])
    return PartitionSchedule(
        schedule=schedule,
        recomputed=frozenset(v for v in moved if v in head_set),
        deferred=frozenset(v for v in moved if v not in head_set),
    )


def knapsack_solvers_available() -> tuple[tuple[str, ...], dict[str, str]]:
    """The knapsack solvers that can run here, and why the others cannot."""
    skipped: dict[str, str] = {}
    try:
        import scipy.optimize  # noqa: F401  (torch's "ilp" knapsack is scipy.optimize.milp)
    except ImportError:
        skipped["ilp"] = "needs scipy (torch's ilp knapsack is scipy.optimize.milp), not installed"
    return tuple(s for s in KNAPSACK_SOLVERS if s not in skipped), skipped


class Partitioner:
    """PyTorch's min-cut rematerialization partitioner on the graph's re-traced joint graph."""

    def __init__(self, graph: Graph, threads: int = 1) -> None:
        from graphs.pytorch import require_torch
        from graphs.pytorch.retrace import retrace

        torch = require_torch()
        torch.set_num_threads(max(1, int(threads)))
        source = graph.source or {}
        optimizer = (source.get("fixed") or {}).get("optimizer", "adam")
        with _quiet():
            joint, plan, _ = retrace(graph, real=False, optimizer=optimizer)
        self.torch = torch
        self.gm = joint.gm
        self.groups = plan.groups
        descs = self.gm.graph.output_node().meta.get("desc") or []
        kinds = [type(d).__name__ for d in descs]
        # The joint graph returns the forward outputs (buffer updates, the loss) first, then gradients.
        self.num_fwd_outputs = next((i for i, k in enumerate(kinds) if k == "GradAOTOutput"), len(kinds))
        if not all(k in ("GradAOTOutput", "NoneType") for k in kinds[self.num_fwd_outputs :]):
            raise UserError(f"graph {graph.name!r}: the joint graph's outputs are not forward outputs then gradients")

    def partition(self, knob: float, solver: str) -> tuple[set[str], set[str]]:
        """Names of the ops (call_function nodes) of the forward and the backward graph the
        partitioner makes with activation_memory_budget = knob and the given knapsack solver."""
        import copy

        import torch._functorch.config as config
        from torch._functorch.partitioners import min_cut_rematerialization_partition

        with _quiet():
            gm = copy.deepcopy(self.gm)
            with config.patch(activation_memory_budget=float(knob), activation_memory_budget_solver=solver, cse=False):
                fw, bw = min_cut_rematerialization_partition(gm, None, num_fwd_outputs=self.num_fwd_outputs)
        names = lambda m: {n.name for n in m.graph.nodes if n.op == "call_function"}  # noqa: E731
        return names(fw), names(bw)


_SHARED_PLANS: dict | None = None  # set inside plans_shared_across_batches()


@contextlib.contextmanager
def plans_shared_across_batches():
    """Within it, `partitioner_for` gives the graphs of one step at different batch sizes (same factory and
    arguments but the batch, same nodes and edges) the partitions of the first of them that was traced, each
    (knob, solver) partitioned once: for `maxbatch`, which solves the same step at many batches and would
    otherwise trace it again at each (the plans are the partitioner's at that first batch; every schedule
    made from them is still simulated at its own batch)."""
    global _SHARED_PLANS
    before, _SHARED_PLANS = _SHARED_PLANS, {}
    try:
        yield _SHARED_PLANS
    finally:
        _SHARED_PLANS = before


def partitioner_for(graph: Graph, threads: int = 1) -> Partitioner:
    """The graph's Partitioner: a new trace, or inside plans_shared_across_batches() the memoized one of the
    same step at another batch."""
    if _SHARED_PLANS is None:
        return Partitioner(graph, threads=threads)
    source = dict(graph.source or {})
    kwargs = {k: v for k, v in (source.get("factory_kwargs") or {}).items() if k != "batch"}
    key = (source.get("factory"), repr(sorted(kwargs.items())), graph.n, graph.edges.tobytes())
    if key not in _SHARED_PLANS:
        part = Partitioner(graph, threads=threads)
        plans: dict = {}
        plain = part.partition

        def memo(knob: float, solver: str) -> tuple[set[str], set[str]]:
            k = (round(float(knob), 9), solver)
            if k not in plans:
                plans[k] = plain(knob, solver)
            return plans[k]

        part.partition = memo  # type: ignore[method-assign]
        part.traced_batch = source.get("batch")
        _SHARED_PLANS[key] = part
    return _SHARED_PLANS[key]


class _quiet:
    """Silence Python warnings and torch's loggers below ERROR while tracing and partitioning."""

    def __enter__(self):
        import logging
        import warnings

        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore")
        self.loggers = [logging.getLogger(n) for n in ("torch", "torch._functorch", "torch._functorch.partitioners")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        for lg, level in zip(self.loggers, self.levels):
            lg.setLevel(level)
        self.warnings.__exit__(*exc)
        return False


# ---- torch-checkpoint ----------------------------------------------------------------------------

_INDEXED = re.compile(r"^(.*?\.\d+)(?:\.|$)")


def block_key(path: str) -> str | None:
    """The block a module path belongs to: the path up to its first numeric component
    (`layer1.0.conv1` -> `layer1.0`, `blocks.3.attn` -> `blocks.3`, `features.5.conv.0.1` ->
    `features.5`), else its first component (`conv1`); None for the model's and the loss's
    own ops (`<model>`, `<loss>`, `<step>`), which no checkpoint wraps."""
    if not path or path.startswith("<"):
        return None
    m = _INDEXED.match(path)
    return m.group(1) if m else path.split(".")[0]


@dataclass(frozen=True)
class Unit:
    """One call of a block of the top-level sequence: consecutive forward nodes of one block."""

    key: str
    nodes: tuple[int, ...]  # dense indices in forward order
    first: int  # position of its first node in the forward order
    last: int  # position of its last node


def checkpoint_units(graph: Graph, parts: StepParts) -> tuple[list[int], list[Unit]]:
    """The forward order and the units a user would wrap: maximal runs of forward nodes of one
    block whose key is indexed (`layer1.0`, `blocks.3`: the repeated blocks of a Sequential or
    ModuleList); a model without indexed blocks: every top-level module's run."""
    forward = parts.forward_nodes
    runs: list[tuple[str, list[int], int]] = []
    for i, v in enumerate(forward):
        key = block_key(parts.paths[v])
        if runs and runs[-1][0] == key and key is not None:
            runs[-1][1].append(v)
        else:
            runs.append((key, [v], i))
    made = [Unit(k, tuple(nodes), start, start + len(nodes) - 1) for k, nodes, start in runs if k is not None]
    indexed = [u for u in made if _INDEXED.match(u.key + ".")]
    return forward, indexed or made


def checkpoint_regions(units: Sequence[Unit], pattern: str, k: int) -> list[tuple[int, int]]:
    """Forward-order position ranges [first, last] checkpointed: `every` wraps units 0, k, 2k, ...
    one checkpoint each; `segments` wraps each run of k consecutive units (and whatever runs
    between them) in one checkpoint, as checkpoint_sequential does."""
    if k < 1 or not units:
        return []
    if pattern == "every":
        return [(u.first, u.last) for u in units[::k]]
    if pattern == "segments":
        return [(units[i].first, units[min(i + k, len(units)) - 1].last) for i in range(0, len(units), k)]
    raise ValueError(f"unknown checkpoint pattern {pattern!r}")


def checkpoint_schedule(
    graph: Graph,
    parts: StepParts,
    forward: Sequence[int],
    regions: Sequence[tuple[int, int]],
    saved: frozenset[int] = frozenset(),
) -> np.ndarray:
    """The step with torch.utils.checkpoint around each region (non-reentrant, early stop).

    A region's forward saves nothing inside it; its backward recomputes the region's forward
    ops in order up to the last one the backward needs (an op a backward op reads, and what it
    is computed from inside the region), right before the first backward op that reads one of
    the region's internal values (read by nothing outside the region in the forward). Values
    the region hands on (its outputs) stay as the forward made them for readers before that.

    `saved` (selective checkpointing, a policy's MUST_SAVE ops): their outputs are kept from
    the forward and never recomputed; the recomputation runs the region's other ops up to
    the last one the backward needs, reading the saved values."""
    tail = parts.backward_nodes
    where = {v: i for i, v in enumerate(tail)}
    inserts: list[tuple[int, list[int]]] = []
    for first, last in regions:
        region = [int(v) for v in forward[first : last + 1]]
        inside = set(region)
        needed = {v for v in region if v not in saved and any(parts.backward[s] for s in graph.successors(v).tolist())}
        for v in reversed(region):  # what the needed values are computed from, inside the region
            if v in needed:
                needed.update(p for p in graph.predecessors(v).tolist() if p in inside and p not in saved)
        if not needed:
            continue
        stop = max(i for i, v in enumerate(region) if v in needed)
        recompute = [v for v in region[: stop + 1] if v not in saved]
        internal = {v for v in recompute if all(parts.backward[s] or s in inside for s in graph.successors(v).tolist())}
        readers: list[int] = []
        for group in (internal, recompute):
            readers = [where[s] for v in group for s in graph.successors(v).tolist() if s in where]
            if readers:
                break
        inserts.append((min(readers) if readers else len(tail), recompute))
    inserts.sort(key=lambda item: item[0])
    return assemble(forward, tail, inserts)


def summarize_names(names: Iterable[str], limit: int = 6) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def unit_keys(units: Sequence[Unit], regions: Sequence[tuple[int, int]]) -> list[str]:
    """The keys of the units each region starts with (for the result's variant)."""
    starts = {u.first: u.key for u in units}
    return [starts.get(first, "?") for first, _ in regions]


__all__ = [
    "StepParts",
    "step_parts",
    "assemble",
    "PartitionSchedule",
    "partitioner_schedule",
    "Partitioner",
    "partitioner_for",
    "plans_shared_across_batches",
    "knapsack_solvers_available",
    "Unit",
    "block_key",
    "checkpoint_units",
    "checkpoint_regions",
    "checkpoint_schedule",
    "KNAPSACK_SOLVERS",
]
