"""The largest batch whose training step fits a device, per method (`moccasin-bench maxbatch`).

At a batch size b the step is extracted on fake tensors (no real memory is used) into a graph G_b with
fixed bytes F_b (parameters, gradients, optimizer state, batch). It fits a device of D bytes under a
method when the method, solving G_b at the absolute budget D − F_b, returns a schedule that fits.
Two bounds need no solve: without recomputation the step fits when plain_peak(G_b) + F_b ≤ D (the
baseline row), and no schedule at all exists when min_feasible_budget(G_b) + F_b > D. The largest b of
each is found by doubling then bisection; each method's largest batch is then bisected between the two
(assuming, as everywhere in this field, that a method fitting at b fits at every smaller batch).

What this does not count: the allocator's fragmentation and rounding, kernels' workspaces, the CUDA
context and library handles (hundreds of MiB on a GPU): the device figure must leave room for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from moccasin_bench.errors import UserError

MAX_BATCH = 1 << 20


@dataclass(frozen=True)
class Probe:
    """The step at one batch size: its graph and the two bounds that need no solve."""

    batch: int
    graph: Any  # moccasin_bench.graph.Graph
    fixed_bytes: int
    plain_peak: int  # schedulable bytes without recomputation (the traced order)
    min_feasible: int  # no schedule peaks lower


@dataclass(frozen=True)
class Attempt:
    batch: int
    status: str
    tdi_percent: float | None
    peak_memory: int | None
    message: str = ""
    key: str = ""  # the run's key (in the store, when one is given)
    schedule: tuple | None = None  # node ids, when it fits


@dataclass(frozen=True)
class MethodBatch:
    """One method's largest batch on one device, with every batch it tried."""

    method: str
    largest_batch: int  # 0: not even batch 1 fits
    tdi_percent: float | None  # at the largest batch
    peak_with_fixed_bytes: int | None
    attempts: tuple[Attempt, ...] = ()
    schedule: tuple | None = None  # node ids at the largest batch (for execute)


@dataclass
class Prober:
    """Extracts the step at each batch once (shared by devices and methods)."""

    extract: Callable[[int], Any]  # batch -> Graph
    cache: dict[int, Probe] = field(default_factory=dict)

    def __call__(self, batch: int) -> Probe:
        if batch not in self.cache:
            from moccasin_bench.budget import reference_peak

            g = self.extract(batch)
            self.cache[batch] = Probe(batch, g, int(g.fixed_bytes), reference_peak(g, "stored"), g.min_feasible_budget)
        return self.cache[batch]


def duration_tolerance(duration: Any, batch: int, base: int, step: int) -> Any:
    """How far an interpolated duration may be from the extracted one: 1 %, or the rounding of the two
    extractions carried to `batch` (two units plus one per `step` examples away from `base`)."""
    import numpy as np

    return np.maximum(0.01 * np.asarray(duration), 2 + abs(batch - base) / step)


class NotAffine(Exception):
    """The step's sizes are not affine in the batch size (the affine prober cannot be used)."""


def affine_extractor(
    extract: Callable[[int], Any], base: int = 2, step: int = 2, check: int = 16
) -> Callable[[int], Any]:
    """batch -> Graph, from three real extractions: node sizes, fixed bytes and FLOP durations of a training
    step are affine in the batch size (activations scale with it, weights and their gradients do not), so
    the graph at any batch follows from two extractions; a third (at `check`) must match the prediction
    exactly in sizes, and in durations within `duration_tolerance` (the cost model rounds each op's time up,
    so the slope is known to a unit per `step` examples), else NotAffine.
    The graph at `b` keeps the structure and records in its source that it was computed, not traced."""
    import numpy as np

    from moccasin_bench.graph import Graph

    g0, g1 = extract(base), extract(base + step)
    if g0.n != g1.n or not np.array_equal(g0.edges, g1.edges):
        raise NotAffine(f"the step's graph at batch {base} and {base + step} differ in structure")

    def at(b: int, dur_tol: int = 0) -> Graph:
        def lin(a0: Any, a1: Any) -> Any:
            d = (np.asarray(a1, dtype=np.int64) - np.asarray(a0, dtype=np.int64)) // step
            r = (np.asarray(a1, dtype=np.int64) - np.asarray(a0, dtype=np.int64)) % step
            if np.any(r):
                raise NotAffine("sizes grow by a fraction of a byte per example")
            return np.asarray(a0, dtype=np.int64) + d * (b - base)

        memory = lin(g0.memory, g1.memory)
        slope = (g1.duration.astype(np.float64) - g0.duration) / step
        duration = np.maximum(0, np.rint(g0.duration + slope * (b - base))).astype(np.int64)
        fixed = int(lin([g0.fixed_bytes], [g1.fixed_bytes])[0])
        source = dict(g0.source or {})
        source.update(
            batch=b,
            factory_kwargs={**(source.get("factory_kwargs") or {}), "batch": b},
            computed=f"sizes and durations interpolated from extractions at batch {base} and {base + step}",
        )
        return Graph.build(
            g0.name,
            list(g0.node_ids),
            duration.tolist(),
            memory.tolist(),
            [(g0.node_ids[u], g0.node_ids[v]) for u, v in g0.edges.tolist()],
            stored_order=list(g0.node_ids),
            origin=g0.origin,
            labels=g0.labels,
            fixed_bytes=fixed,
            source=source,
        )

    real = extract(check)
    guess = at(check)
    if not np.array_equal(real.memory, guess.memory) or real.fixed_bytes != guess.fixed_bytes:
        raise NotAffine(f"the sizes extracted at batch {check} are not those interpolated")
    if np.any(np.abs(real.duration - guess.duration) > duration_tolerance(real.duration, check, base, step)):
        raise NotAffine(f"the durations extracted at batch {check} are not those interpolated")
    return lambda b: {base: g0, base + step: g1, check: real}.get(b) or at(b)


def largest_true(pred: Callable[[int], bool], lo: int, hi: int, precision: float = 0.0) -> int:
    """The largest b in [lo, hi) with pred(b), given pred(lo) (or lo = 0) and not pred(hi): bisection, until
    hi − lo ≤ 1, or ≤ precision × lo when a relative precision is given (then lo fits and hi does not)."""
    while hi - lo > max(1, precision * lo):
        mid = (lo + hi) // 2
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return lo


def largest_by_doubling(pred: Callable[[int], bool], cap: int = MAX_BATCH) -> int:
    """The largest b ≥ 1 with pred(b) (0 when pred(1) is false): double until false, then bisect."""
    if not pred(1):
        return 0
    b = 1
    while b < cap and pred(min(2 * b, cap)):
        b = min(2 * b, cap)
    if b >= cap:
        return cap
    return largest_true(pred, b, min(2 * b, cap))


def bounds(probe: Prober, device_bytes: int, cap: int = MAX_BATCH) -> tuple[int, int]:
    """(largest batch that fits without recomputation, largest batch at which any schedule can fit)."""
    possible = largest_by_doubling(lambda b: probe(b).min_feasible + probe(b).fixed_bytes <= device_bytes, cap)
    plain = largest_true(lambda b: probe(b).plain_peak + probe(b).fixed_bytes <= device_bytes, 0, possible + 1)
    return plain, possible


def method_largest(
    probe: Prober,
    device_bytes: int,
    method: str,
    solve: Callable[[Probe, int], Attempt],
    plain: int,
    possible: int,
    precision: float = 0.0,
) -> MethodBatch:
    """The method's largest fitting batch in [0, possible], bisected from the batches where no solve is
    needed (above `possible` nothing fits); each tried batch is solved at D − F_b."""
    attempts: dict[int, Attempt] = {}

    def fits(b: int) -> bool:
        if b not in attempts:
            attempts[b] = solve(probe(b), device_bytes - probe(b).fixed_bytes)
        return attempts[b].status in ("optimal", "feasible")

    if possible == 0:
        best = 0
    elif fits(possible):
        best = possible
    else:
        lo = plain if plain and fits(plain) else 0
        best = largest_true(fits, lo, possible, precision)
    at = attempts.get(best)  # every batch found to fit was solved
    tried = tuple(sorted(attempts.values(), key=lambda a: a.batch))
    if not best:
        return MethodBatch(method, 0, None, None, tried)
    return MethodBatch(
        method,
        best,
        at.tdi_percent,
        None if at.peak_memory is None else at.peak_memory + probe(best).fixed_bytes,
        tried,
        at.schedule,
    )


def factory_of(target: str, data_dir: str | None = None) -> tuple[str, dict, tuple | None]:
    """(MODULE:FACTORY, its other keyword arguments, input shape) for a factory spec or a catalogue graph
    extracted from PyTorch (its source block records the factory)."""
    from graphs.pytorch.trace import is_factory_spec

    if is_factory_spec(target):
        return target, {}, None
    from moccasin_bench.graph import PYTORCH_SOURCE_KIND
    from moccasin_bench.sources import load_graph

    graph = load_graph(target, data_dir)
    source = graph.source or {}
    spec = source.get("factory")
    if source.get("kind") != PYTORCH_SOURCE_KIND or not spec:
        raise UserError(f"graph {graph.name!r} does not record the PyTorch factory it was extracted from")
    kwargs = {k: v for k, v in (source.get("factory_kwargs") or {}).items() if k not in ("batch", "input_shape")}
    shape = source.get("input_shape")
    return spec, kwargs, None if shape is None else tuple(shape)


def max_batches(
    probe: Prober,
    devices: Sequence[int],
    methods: Sequence[str],
    solve: Callable[[str, Probe, int], Attempt],
    cap: int = MAX_BATCH,
    progress: Callable[[str], None] | None = None,
    precision: float = 0.0,
) -> list[dict]:
    """For each device: the plain baseline, the bound, and each method's largest batch."""
    out = []
    for device in devices:
        plain, possible = bounds(probe, device, cap)
        if progress:
            progress(f"{device / 2**30:g} GiB: plain fits up to batch {plain}, no schedule beyond {possible}")
        rows = []
        for m in methods:
            r = method_largest(probe, device, m, lambda p, budget, m=m: solve(m, p, budget), plain, possible, precision)
            if progress:
                progress(f"  {m}: batch {r.largest_batch} (TDI {r.tdi_percent})")
            rows.append(r)
        out.append({"device_bytes": device, "plain": plain, "possible": possible, "methods": rows})
    return out
