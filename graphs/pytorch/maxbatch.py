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

import math
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
    guess: int | None = None,
) -> MethodBatch:
    """The method's largest fitting batch in [0, possible], bisected from the batches where no solve is
    needed (above `possible` nothing fits); each tried batch is solved at D − F_b. With a `guess` (the
    batch predicted from the method's result on another device) the bracket is found by galloping from
    it instead: two solves when the guess is within the precision."""
    attempts: dict[int, Attempt] = {}

    def fits(b: int) -> bool:
        if b not in attempts:
            attempts[b] = solve(probe(b), device_bytes - probe(b).fixed_bytes)
        return attempts[b].status in ("optimal", "feasible")

    if possible == 0:
        best = 0
    elif guess is not None and 0 < guess < possible:
        lo, hi = bracket(fits, guess, max(plain, 0), possible, precision)
        best = largest_true(fits, lo, hi, precision) if hi is not None else lo
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


def bracket(
    fits: Callable[[int], bool], guess: int, plain: int, possible: int, precision: float
) -> tuple[int, int | None]:
    """(lo, hi): lo fits (or is 0), hi does not (None: lo is `possible` and fits), found by galloping from
    `guess` in steps of precision × guess, doubled each time, up to `possible` or down to `plain` (which
    fits without recomputation, so is solved before it is trusted)."""
    step = max(1, math.ceil(precision * guess))
    if fits(guess):
        lo = guess
        while True:
            c = min(lo + step, possible)
            if c == lo:
                return lo, None
            if not fits(c):
                return lo, c
            lo, step = c, 2 * step
    hi = guess
    while True:
        c = max(hi - step, plain)
        if c <= plain or c <= 0:
            return (plain if plain and fits(plain) else 0), hi
        if fits(c):
            return c, hi
        hi, step = c, 2 * step


def predicted(probe: Prober, batch: int, device_bytes: int, other_bytes: int) -> int:
    """The batch at which a method that fits `batch` on a device of `device_bytes` is expected to fit on one of
    `other_bytes`: every size is affine in the batch, so the batch scales with the memory left beyond the
    batch-independent fixed bytes (parameters, gradients, optimizer state), F(0) = 2 F(1) − F(2)."""
    f0 = 2 * probe(1).fixed_bytes - probe(2).fixed_bytes
    if device_bytes <= f0 or other_bytes <= f0:
        return batch
    return max(1, int(batch * (other_bytes - f0) / (device_bytes - f0)))


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
    share: bool = False,
    first_guess: int | None = None,
) -> list[dict]:
    """For each device: the plain baseline, the bound, and each method's largest batch (with `share`, each
        method's search on a device after the first starts from the batch predicted by its previous result; on the first
    device, from `first_guess` when given, e.g. another method's largest batch there)."""
    out = []
    found: dict[str, tuple[int, int]] = {}  # method -> (device, its largest batch there): the next device's guess
    for device in devices:
        plain, possible = bounds(probe, device, cap)
        if progress:
            progress(f"{device / 2**30:g} GiB: plain fits up to batch {plain}, no schedule beyond {possible}")
        rows = []
        for m in methods:
            guess = predicted(probe, found[m][1], found[m][0], device) if share and m in found else None
            if device == devices[0] and first_guess:
                guess = first_guess
            r = method_largest(
                probe, device, m, lambda p, budget, m=m: solve(m, p, budget), plain, possible, precision, guess
            )
            if progress:
                progress(f"  {m}: batch {r.largest_batch} (TDI {r.tdi_percent}; {len(r.attempts)} solves)")
            rows.append(r)
            if r.largest_batch:
                found[m] = (device, r.largest_batch)
        out.append({"device_bytes": device, "plain": plain, "possible": possible, "methods": rows})
    return out
