"""Schedule-building algorithms without a solver (pure functions on a Graph and an order).

Every schedule here is *staged* along a topological order `order`: stage t first
recomputes, in order position, the earlier nodes that the stage needs and that are not
held, then computes `order[t]` for the first time. That is Checkmate's frontier-advancing
structure and exactly the grid of Moccasin's fixed-order model, so these schedules can
warm-start it. The algorithms differ in what they keep in memory between stages:

- `staged_greedy`: keep everything still needed; when a step would exceed the budget,
  evict held values (chosen by an eviction rule) and recompute them on demand later;
- `checkpoint_schedule`: Chen et al.'s checkpointing generalised to DAGs: long-lived values
  are kept only at checkpoints; the others are dropped when the walk leaves their segment
  and recomputed on demand, segment by segment, before their readers.

Memory accounting is conservative (a held value counts until it is dropped, which is never
before its last read), so the simulator's peak is never above the peak computed here;
callers still simulate every schedule they use.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from formulations._stage_grid import event_stage_position, stage_event
from moccasin_bench.graph import Graph
from moccasin_bench.simulate import read_producers

EVICTION_RULES = ("belady", "cost-per-byte", "dtr", "largest")


@dataclass(frozen=True)
class _Adjacency:
    """Plain-Python adjacency and sizes: the greedy loops are faster on lists than on numpy."""

    preds: list[list[int]]
    succs_by_position: list[list[int]]  # successors sorted by order position
    position: list[int]
    memory: list[int]
    duration: list[int]


def _adjacency(graph: Graph, order: np.ndarray) -> _Adjacency:
    n = graph.n
    position = [0] * n
    for k, v in enumerate(order.tolist()):
        position[v] = k
    preds = [graph.predecessors(v).tolist() for v in range(n)]
    succs = [sorted(graph.successors(v).tolist(), key=position.__getitem__) for v in range(n)]
    return _Adjacency(preds, succs, position, graph.memory.tolist(), graph.duration.tolist())


def _caps(graph: Graph, max_computations) -> list[float]:
    """Per-node computation limits as a list (inf = unlimited)."""
    if max_computations is None:
        return [math.inf] * graph.n
    if np.isscalar(max_computations):
        c = int(max_computations)
        return [math.inf if c <= 0 else c] * graph.n
    return [math.inf if int(c) <= 0 else int(c) for c in np.asarray(max_computations).tolist()]


def _recompute_plan(x: int, held: set[int], adj: _Adjacency) -> list[int]:
    """Nodes to compute in the stage of `x`: the missing inputs, recursively, in order position, then x."""
    missing: set[int] = set()
    stack = [u for u in adj.preds[x] if u not in held]
    while stack:
        u = stack.pop()
        if u in missing:
            continue
        missing.add(u)
        stack.extend(w for w in adj.preds[u] if w not in held and w not in missing)
    plan = sorted(missing, key=adj.position.__getitem__)
    plan.append(x)
    return plan


def staged_greedy(
    graph: Graph,
    order: np.ndarray,
    budget_bytes: int,
    max_computations=None,
    rule: str = "belady",
    deadline: float | None = None,
) -> list[int] | None:
    """Walk `order`, keep what fits, recompute on demand just before a reader.

    When a step would exceed the budget, held values that the current stage does not need
    are evicted in the order given by `rule` (belady: furthest next first use; cost-per-byte:
    cheapest recomputation per byte; dtr: recomputation cost / (bytes x distance to next
    use); largest: biggest first). A node already computed `max_computations` times is
    never evicted while still needed. Returns the schedule (dense indices) or None when the
    greedy gets stuck (a step cannot fit, or a needed recomputation exceeds the cap) or passes
    `deadline` (time.perf_counter(); RL4 at 70 %: about 25 s per rule).
    """
    if rule not in EVICTION_RULES:
        raise ValueError(f"unknown eviction rule {rule!r}")
    order = np.asarray(order, dtype=np.int64)
    adj = _adjacency(graph, order)
    cap = _caps(graph, max_computations)
    n = graph.n
    mem, dur, preds, succs, position = adj.memory, adj.duration, adj.preds, adj.succs_by_position, adj.position
    remaining = [len(s) for s in succs]  # successors not yet computed for the first time
    next_ptr = [0] * n  # index into succs_by_position of the next successor still to come
    count = [0] * n
    held: set[int] = set()
    current = 0
    schedule: list[int] = []

    def next_use(u: int, t: int) -> int:
        s, p = succs[u], next_ptr[u]
        while p < len(s) and position[s[p]] <= t:
            p += 1
        next_ptr[u] = p
        return position[s[p]] if p < len(s) else n

    def recompute_cost(u: int) -> float:
        """Duration of recomputing u now with everything it needs that is not held (its
        missing ancestors, recursively); inf when one of them is at its cap."""
        if count[u] >= cap[u]:
            return math.inf
        c, seen, stack = 0, {u}, [u]
        while stack:
            w = stack.pop()
            c += dur[w]
            for z in preds[w]:
                if z not in held and z not in seen:
                    if count[z] >= cap[z]:
                        return math.inf
                    seen.add(z)
                    stack.append(z)
        return c

    def score(u: int, t: int) -> tuple:
        if rule == "belady":
            return (-next_use(u, t), -mem[u])
        cost = recompute_cost(u)
        if rule == "largest":
            return (0 if cost < math.inf else 1, -mem[u], -next_use(u, t))
        if rule == "cost-per-byte":
            return (cost / max(mem[u], 1), -next_use(u, t))
        return (cost / (max(mem[u], 1) * max(next_use(u, t) - t, 1)), -mem[u])

    for t, x in enumerate(order.tolist()):
        if deadline is not None and t % 16 == 0 and time.perf_counter() > deadline:
            return None
        plan = _recompute_plan(x, held, adj)
        if any(count[y] >= cap[y] for y in plan):
            return None
        last_use: dict[int, int] = {}
        for idx, y in enumerate(plan):
            for u in preds[y]:
                last_use[u] = idx
        for idx, y in enumerate(plan):
            need = current + mem[y]
            if need > budget_bytes:
                candidates = [u for u in held if last_use.get(u, -1) < idx]
                candidates.sort(key=lambda u: score(u, t))
                for u in candidates:
                    if need <= budget_bytes:
                        break
                    if recompute_cost(u) == math.inf and rule != "belady":
                        break  # sorted: the rest cannot be recomputed either
                    if count[u] >= cap[u]:
                        continue
                    held.discard(u)
                    current -= mem[u]
                    need -= mem[u]
                if need > budget_bytes:
                    return None
            schedule.append(y)
            count[y] += 1
            held.add(y)
            current += mem[y]
            if y == x:
                for u in preds[x]:
                    remaining[u] -= 1
            for u in preds[y]:
                if last_use[u] == idx and remaining[u] == 0 and u in held:
                    held.discard(u)
                    current -= mem[u]
            if remaining[y] == 0 and last_use.get(y, -1) <= idx:
                held.discard(y)
                current -= mem[y]
    return schedule


def checkpoint_schedule(graph: Graph, order: np.ndarray, checkpoints: np.ndarray, segment_of: np.ndarray) -> list[int]:
    """Chen-style checkpointing along `order`, generalised to DAGs.

    `segment_of[k]` is the segment of order position k (non-decreasing). A value is held
    until its last first-time reader if it is a checkpoint, or if all those readers lie in
    its own segment or the next one (short-lived values: dropping them saves little and
    would cascade recomputations); any other value is dropped when the walk leaves its
    segment. A missing input is recomputed on demand, recursively, just before its reader,
    and the recomputed values are held to the end of the reader's segment.
    """
    order = np.asarray(order, dtype=np.int64)
    adj = _adjacency(graph, order)
    n = graph.n
    preds, succs, position = adj.preds, adj.succs_by_position, adj.position
    segment = np.asarray(segment_of).tolist()
    is_checkpoint = np.zeros(n, dtype=bool)
    is_checkpoint[np.asarray(checkpoints, dtype=np.int64)] = True
    remaining = [len(s) for s in succs]
    keep_long = [
        bool(is_checkpoint[v]) or not succs[v] or segment[position[succs[v][-1]]] <= segment[position[v]] + 1
        for v in range(n)
    ]
    held: set[int] = set()
    drop_at_segment_end: dict[int, set[int]] = {}  # segment -> values to drop when leaving it
    schedule: list[int] = []
    order_list = order.tolist()
    for t, x in enumerate(order_list):
        seg = segment[t]
        plan = _recompute_plan(x, held, adj)
        for y in plan:
            schedule.append(y)
            held.add(y)
            if y == x:
                for u in preds[x]:
                    remaining[u] -= 1
                if not keep_long[x]:
                    drop_at_segment_end.setdefault(seg, set()).add(x)
            else:
                drop_at_segment_end.setdefault(seg, set()).add(y)
        for u in preds[x]:
            if remaining[u] == 0:
                held.discard(u)
        if remaining[x] == 0:
            held.discard(x)
        if t + 1 == n or segment[t + 1] != seg:
            for u in drop_at_segment_end.pop(seg, ()):
                if not keep_long[u] or remaining[u] == 0:
                    held.discard(u)
    return schedule


def segments_every(n: int, length: int) -> np.ndarray:
    """Segment index of each order position for segments of `length` positions."""
    return np.arange(n, dtype=np.int64) // max(1, int(length))


def sqrt_checkpoints(graph: Graph, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chen's sqrt(n) rule along the order: segments of about sqrt(n) positions, the last node of each is a checkpoint."""
    n = graph.n
    segment = segments_every(n, round(math.sqrt(n)))
    last = np.nonzero(np.append(segment[1:] != segment[:-1], True))[0]
    return np.asarray(order)[last], segment


def greedy_checkpoints(graph: Graph, order: np.ndarray, threshold_bytes: float) -> tuple[np.ndarray, np.ndarray]:
    """Chen's greedy rule along the order: close a segment (its last node a checkpoint) once the
    memory of the values computed in it exceeds `threshold_bytes`."""
    mem = graph.memory[np.asarray(order)]
    segment = np.empty(graph.n, dtype=np.int64)
    checkpoints = []
    s, acc = 0, 0
    for k, m in enumerate(mem.tolist()):
        segment[k] = s
        acc += m
        if acc > threshold_bytes:
            checkpoints.append(int(order[k]))
            s, acc = s + 1, 0
    return np.array(checkpoints, dtype=np.int64), segment


# ---- staged repair: start from no recomputation and add recomputations until it fits ----------


@dataclass(frozen=True)
class RepairResult:
    """Outcome of `staged_repair`: the best schedule found (fitting or with the least overflow)."""

    schedule: np.ndarray
    fits: bool
    overflow_bytes: int  # sum over steps of memory above the budget (0 when it fits)
    peak_bytes: int
    cost: int


def _overflow(memory_per_step: np.ndarray, budget: int) -> int:
    return int(np.maximum(memory_per_step - budget, 0).sum())


def staged_repair(
    graph: Graph,
    order: np.ndarray,
    budget_bytes: int,
    max_computations=None,
    max_candidates: int = 64,
    max_focus: int = 8,
    max_values: int | None = None,
    batch: int | None = None,
    deadline: float | None = None,
    cleanup: bool = True,
) -> RepairResult:
    """Add recomputations to the no-recomputation schedule of `order` until it fits.

    Each round looks at the peak step j and at the values live across it that j does not
    read; for each it tries a recomputation in a later stage (just before its next reader,
    or in the stage after j), alone or together with the inputs whose lives would otherwise
    be stretched across j. Each try is simulated exactly; the one with the best overflow
    reduction per unit of added duration wins. Stops when it fits or no try helps. With
    `cleanup`, recomputations that are not needed to fit are removed afterwards, costliest
    first. Every schedule stays on the stage grid of `order`.
    """
    import time

    from formulations._repair_kernel import overflow_cost  # numba: imported where it is used
    from moccasin_bench.simulate import simulate

    order = np.asarray(order, dtype=np.int64)
    n = graph.n
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    cap = np.array([c if c < math.inf else 1 << 30 for c in _caps(graph, max_computations)], dtype=np.int64)
    events = np.sort(stage_event(position, position))  # first computations: stage k, position k
    dur = graph.duration

    def schedule_of(ev: np.ndarray) -> np.ndarray:
        return order[event_stage_position(ev)[1]]

    def measure(ev: np.ndarray):
        sim = simulate(graph, schedule_of(ev))
        return sim, _overflow(sim.memory_per_step, budget_bytes)

    def score(ev: np.ndarray) -> tuple[int, int, bool]:
        """A try's (overflow, cost, valid) without a full simulation (the winner is simulated)."""
        return overflow_cost(graph, schedule_of(ev), budget_bytes)

    if batch is None:
        batch = 1 + n // 200
    preds = [graph.predecessors(v).tolist() for v in range(n)]
    position_list = position.tolist()
    cap_list = cap.tolist()
    sim, over = measure(events)
    best_ev, best_over = events, over
    while over > 0:
        if deadline is not None and time.perf_counter() > deadline:
            break
        sched = sim.schedule
        mem = sim.memory_per_step
        stage, _ = event_stage_position(events)
        reader, producer = read_producers(graph, sched)
        steps_of = _steps_of(sched, n)
        ev_list = events.tolist()
        ctx = _RoundContext(
            preds,
            ev_list,
            stage,
            position_list,
            sim.live_until.tolist(),
            np.bincount(sched, minlength=n).tolist(),
            cap_list,
            step_events_of=[[ev_list[k] for k in ks] for ks in steps_of],
            steps_of=steps_of,
            overflow_prefix=np.concatenate(([0], np.cumsum(mem > budget_bytes))).tolist(),
        )
        over_steps = np.nonzero(mem > budget_bytes)[0]
        focus = over_steps[np.argsort(-mem[over_steps], kind="stable")]
        scored: list[tuple] = []  # (key, add, remove, events, sim, overflow) of the tries that reduce overflow
        for limit in (max_candidates, None):  # when the most promising tries all fail, try every one
            for j in (focus[:max_focus] if limit is not None else focus).tolist():
                if deadline is not None and time.perf_counter() > deadline:
                    break  # one round's tries take minutes on large graphs (n = 10,000: 118 s for a 30 s deadline)
                tries = _tries_at(
                    ctx, j, sched, reader, producer, graph.memory, dur, max_values=None if limit is None else max_values
                )
                if limit is not None and len(tries) > limit:
                    tries.sort(key=lambda a: _promise(a[0], order, graph.memory, dur))
                    tries = tries[:limit]
                elif limit is None and len(tries) <= max_candidates and j in focus[:max_focus]:
                    continue  # already tried in full
                cost_now = sim.total_duration
                for add, remove in tries:
                    ev = _merged(events if remove < 0 else events[events != remove], add)
                    o2, c2, _ = score(ev)
                    gain = over - o2
                    if gain <= 0:
                        continue
                    extra_cost = c2 - cost_now
                    scored.append(((gain / extra_cost if extra_cost > 0 else math.inf, gain), add, remove, ev, o2))
                if scored:
                    break
            if scored:
                break
        if not scored:
            break
        scored.sort(key=lambda x: x[0], reverse=True)
        _, _, _, events, over = scored[0]
        sim, _ = measure(events)
        cost_now, applied = sim.total_duration, False
        # large graphs: also apply the next best tries of this round when they still help (saves rounds)
        for key, add, remove, _, _ in scored[1:batch]:
            if over == 0 or (remove >= 0 and remove not in events):
                break
            ev = _merged(events if remove < 0 else events[events != remove], add)
            o2, c2, _ = score(ev)
            if o2 < over and (c2 - cost_now) * key[0] <= 2 * (over - o2) + 1e-9 * key[0]:
                events, over, cost_now, applied = ev, o2, c2, True
        if applied:
            sim, _ = measure(events)
        if over < best_over:
            best_ev, best_over = events, over
    if over == 0 and cleanup:
        events, sim = _remove_unneeded(graph, events, order, measure, score)
        best_ev, best_over = events, 0
    if best_ev is not events:
        sim, _ = measure(best_ev)
    return RepairResult(
        schedule=sim.schedule,
        fits=best_over == 0 and sim.valid,
        overflow_bytes=best_over,
        peak_bytes=sim.peak_memory,
        cost=sim.total_duration,
    )


def _promise(events: np.ndarray, order: np.ndarray, memory: np.ndarray, duration: np.ndarray) -> float:
    """Sort key of a try: most memory taken off the focus step per unit of added duration first
    (the recomputed value is the try's last event; the others are its inputs). Integer arithmetic on
    the few events of a try: numpy's per-call overhead would dominate."""
    total, last = 0, -1
    for e in events.tolist():
        stage = (math.isqrt(8 * e + 1) - 1) // 2
        last = int(order[e - stage * (stage + 1) // 2])
        total += int(duration[last])
    return -float(memory[last]) / (1.0 + float(total))


@dataclass(frozen=True)
class _RoundContext:
    """What one round of `staged_repair` knows about the current schedule (plain lists: hot loops)."""

    preds: list[list[int]]
    events: list[int]  # grid event of each step (increasing)
    stage: np.ndarray  # stage of each step
    position: list[int]  # order position of each node
    live_until: list[int]
    counts: list[int]  # computations per node
    cap: list[int]
    step_events_of: list[list[int]]  # events of each node's steps, increasing
    steps_of: list[list[int]]  # steps of each node, increasing
    overflow_prefix: list[int]  # number of over-budget steps before each step


def _steps_of(schedule: np.ndarray, n: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n)]
    for k, v in enumerate(schedule.tolist()):
        out[v].append(k)
    return out


def _tries_at(
    ctx: _RoundContext,
    j: int,
    sched: np.ndarray,
    reader: np.ndarray,
    producer: np.ndarray,
    memory: np.ndarray,
    duration: np.ndarray,
    max_values: int | None = None,
) -> list[tuple[np.ndarray, int]]:
    """Candidate changes that take a value off step j, as (events to add, event to remove or -1):
    a new recomputation (with or without its inputs), or, for a value that is itself a
    recomputation, moving it later. With `max_values`, only that many values live across j, the
    most bytes per unit of duration first."""
    read_at_j = set(producer[reader == j].tolist())
    live = [c for c in range(j) if ctx.live_until[c] > j and c not in read_at_j]
    if max_values is not None and len(live) > max_values:
        live.sort(key=lambda c: -float(memory[sched[c]]) / (1.0 + float(duration[sched[c]])))
        live = live[:max_values]
    tries: list[tuple[np.ndarray, int]] = []
    for c in live:
        mine = producer == c
        later = reader[mine & (reader > j)]
        if len(later) == 0:
            continue
        first_reader_stage = int(ctx.stage[int(later.min())])
        if first_reader_stage <= ctx.stage[j]:
            continue  # that reader is in j's stage: the value must be live at j
        u = int(sched[c])
        movable = ctx.stage[c] != ctx.position[u] and not np.any(mine & (reader < j))
        for s in sorted({first_reader_stage, int(ctx.stage[j]) + 1}):
            tries += [(a, -1) for a in _with_inputs(ctx, u, s, j)]
            if movable:
                tries += [(a, ctx.events[c]) for a in _with_inputs(ctx, u, s, j, moving=True)]
    return tries


def _with_inputs(
    ctx: _RoundContext, u: int, s: int, j: int, max_chain: int = 64, moving: bool = False
) -> list[np.ndarray]:
    """Events to add for recomputing u in stage s: u alone; u with the inputs (recursively)
    whose lives would otherwise stretch across step j; and u with those that would stretch
    across any over-budget step (chains longer than `max_chain` are not tried). With
    `moving`, one computation of u is removed elsewhere, so u's cap is not in the way."""
    import bisect

    if ctx.counts[u] - int(moving) >= ctx.cap[u]:
        return []
    position, events, prefix = ctx.position, ctx.events, ctx.overflow_prefix
    base = s * (s + 1) // 2
    out = [np.array([base + position[u]], dtype=np.int64)]
    for across_any in (False, True):
        chain, stack, seen = [u], [u], {u}
        while stack and chain is not None:
            x = stack.pop()
            ins = bisect.bisect_left(events, base + position[x])
            for p in ctx.preds[x]:
                if p in seen:
                    continue
                # the copy of p that x computed in stage s reads: p's latest step up to event (s, pos p)
                k = bisect.bisect_right(ctx.step_events_of[p], base + position[p]) - 1
                latest = ctx.steps_of[p][k] if k >= 0 else -1
                end = ctx.live_until[latest] if latest >= 0 else -1
                if across_any:
                    stretch = latest < 0 or prefix[ins] - prefix[min(end + 1, ins)] > 0
                else:
                    stretch = latest < 0 or (latest < j and end < j)
                if stretch:
                    if ctx.counts[p] >= ctx.cap[p] or len(chain) >= max_chain:
                        chain = None
                        break
                    seen.add(p)
                    chain.append(p)
                    stack.append(p)
        if chain is not None and len(chain) > 1:
            out.append(np.sort(np.array([base + position[x] for x in chain], dtype=np.int64)))
    return out


def _remove_unneeded(graph: Graph, events: np.ndarray, order: np.ndarray, measure, score):
    """Drop recomputations, costliest first, while the schedule still fits."""
    stage, pos = event_stage_position(events)
    extra = events[stage != pos]
    durations = graph.duration[order[event_stage_position(extra)[1]]]
    candidates = extra[np.argsort(-durations, kind="stable")].tolist()
    changed = True
    while changed:  # one removal can make another one possible
        changed = False
        for e in list(candidates):
            ev = events[events != e]
            o2, _, valid = score(ev)
            if o2 == 0 and valid:
                events, changed = ev, True
                candidates.remove(e)
    sim, _ = measure(events)
    return events, sim


def _merged(events: np.ndarray, add: np.ndarray) -> np.ndarray:
    """`np.union1d(events, add)` for sorted unique `events` and a few sorted `add`: an insertion."""
    at = np.searchsorted(events, add)
    new = (at == len(events)) | (events[np.minimum(at, len(events) - 1)] != add)
    return np.insert(events, at[new], add[new])
