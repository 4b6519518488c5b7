"""Compiled kernels of the `annealing` formulation (imported inside its `solve` only).

Why numba: one annealing move touches a handful of array cells (a node's few copies,
its neighbours' copies, O(log T) segment-tree cells) and tens of millions of moves are
made in a minute. In the interpreter a move costs tens of microseconds of per-element
overhead and numpy cannot help (the work per move is tiny and strictly sequential);
compiled, it costs about a microsecond. numba compiles these plain loops with no C
extension to build or ship, works on the project's numpy, and `cache=True` stores the
machine code (next to this file, or under $NUMBA_CACHE_DIR / the user cache when this
directory is read-only) so that later processes load it in a fraction of a second instead
of compiling again. When no cache location is writable the kernels are compiled in
every process (slower start, same results) instead of failing. Everything the kernels call
lives in this one file: numba's cache notices a change of this file, not of another one.

The state travels as a few named tuples of numpy arrays (numba passes a tuple as its
fields, and caches such functions, unlike classes). Each function reads the fields it
needs into locals once: numba counts references to an array read from a tuple, and a
read inside a hot loop would pay for that every time.

- `Dag`, read only: the graph in CSR form (`pred_ptr`/`pred_idx`, `succ_ptr`/`succ_idx`),
  `mem` and `dur` per node.
- `Picks`, read only, what proposals draw from: `add_nodes` (the nodes with readers, the
  ones an addition can help) and `pos` (fixed order: each node's position in the reference
  order).
- `State`, the schedule:
  - `slot[t]`: node computed in time slot t, or -1 (empty slot). Free order: T slots, the
    schedule spread out with gaps so that inserting is cheap; fixed order: one slot per
    event (stage s, order position p) of the stage grid, t = s(s+1)/2 + p.
  - `copies[v, :cnt[v]]`: the slots of v's computations, increasing; `ends[v, k]`: the
    last slot that reads copy k (its own slot when nobody reads it).
  - `multi`, `mpos`: the nodes with at least two copies (for picking removals), and where
    each sits in `multi` (-1 when absent).
  - `sc`: the scalars, indexed by the `S_*` constants below.
- `Peak`, the memory over the slots: `tr`, `lz` a segment tree (range add, max at the root,
  lazy adds kept in the inner nodes and never pushed down): leaf t holds the memory live at
  slot t, so `tr[1]` is the peak. An empty slot never holds more than the next occupied one
  (every copy live across it is live at the next computation too), so the max over all
  slots is the peak of the schedule. `sx`, `mx`: the smooth-peak tree (sums of
  exp((memory - budget) / tau), lazy factors), maintained while `sf[F_ON]` is set.
- `Best`: the best schedule within the budget (`copies`, `cnt`) and `bsc` (`B_*`).
- `Moves`: the move parameters (scalars, see `anneal`).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np


def _jit(fn):
    """njit with an on-disk cache, or without one when no cache directory is writable."""
    import numba

    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available": read-only everywhere
        return numba.njit(cache=False, nogil=True)(fn)


Dag = namedtuple("Dag", ["pred_ptr", "pred_idx", "succ_ptr", "succ_idx", "mem", "dur"])
Picks = namedtuple("Picks", ["add_nodes", "pos"])
State = namedtuple("State", ["slot", "copies", "ends", "cnt", "multi", "mpos", "sc"])
Peak = namedtuple("Peak", ["tr", "lz", "sx", "mx", "sf"])
Best = namedtuple("Best", ["copies", "cnt", "bsc"])
Moves = namedtuple(
    "Moves",
    ["p_add", "p_remove", "mean", "local", "omega", "count_weight", "p_focus", "span", "debug", "tries"],
)
MOVES_TYPES = (float, float, float, float, float, float, float, int, bool, int)  # one compiled signature

ADD, REMOVE, MOVE = 0, 1, 2
BIG = 1 << 62

# State.sc: the schedule's scalars
S_COST = 0  # sum of the durations of the computations
S_MULTI = 1  # how many nodes sit in `multi`
S_SLOTS = 2  # T, the slots in use
S_SIZE = 3  # leaves of the segment trees (a power of 2 > T)
S_BUDGET = 4
S_K = 5  # at most this many computations per node
S_FIXED = 6  # 0 free order, 1 fixed order
S_N = 7  # nodes
N_SCALARS = 8

# Peak.sf: the smooth peak
F_ON = 0  # 1.0 while the smooth-peak tree is maintained
F_INV_TAU = 1
F_BUDGET = 2
N_SMOOTH = 3

# Best.bsc
B_FOUND = 0  # 1 once a schedule within the budget was seen
B_COST = 1
B_PEAK = 2
B_LEAST_PEAK = 3  # the least peak seen, fitting or not
N_BEST = 4

# counters (the `cn` array)
C_PROPOSED, C_DECIDED, C_APPLIED, C_ACCEPTED = 0, 1, 2, 3
C_DECIDED_KIND = 4  # 4, 5, 6: decided adds, removals, moves
C_ACCEPTED_KIND = 7  # 7, 8, 9: accepted adds, removals, moves
C_DEBUG_FAILURES = 10
C_IMPROVED = 11  # improvements of the best fitting schedule
N_COUNTERS = 12


@_jit
def seg_add(tr, lz, size, lo, hi, value):
    """Add `value` to the leaves lo..hi (inclusive); keeps tr[1] = max over all leaves."""
    if lo > hi or value == 0:
        return
    a = lo + size
    b = hi + size + 1
    p = a >> 1
    q = (b - 1) >> 1
    while a < b:
        if a & 1:
            tr[a] += value
            if a < size:
                lz[a] += value
            a += 1
        if b & 1:
            b -= 1
            tr[b] += value
            if b < size:
                lz[b] += value
        a >>= 1
        b >>= 1
    while p != q:  # both paths at the same depth: climb together until they meet
        x = tr[2 * p]
        y = tr[2 * p + 1]
        tr[p] = (x if x > y else y) + lz[p]
        x = tr[2 * q]
        y = tr[2 * q + 1]
        tr[q] = (x if x > y else y) + lz[q]
        p >>= 1
        q >>= 1
    while p >= 1:
        x = tr[2 * p]
        y = tr[2 * p + 1]
        tr[p] = (x if x > y else y) + lz[p]
        p >>= 1


@_jit
def soft_mul(sx, mx, size, lo, hi, f):
    """The smooth-peak tree: multiply the leaves lo..hi by f (sx[1] = sum of the leaves;
    lazy factors in mx, never pushed down)."""
    a = lo + size
    b = hi + size + 1
    p = a >> 1
    q = (b - 1) >> 1
    while a < b:
        if a & 1:
            sx[a] *= f
            if a < size:
                mx[a] *= f
            a += 1
        if b & 1:
            b -= 1
            sx[b] *= f
            if b < size:
                mx[b] *= f
        a >>= 1
        b >>= 1
    while p != q:
        sx[p] = (sx[2 * p] + sx[2 * p + 1]) * mx[p]
        sx[q] = (sx[2 * q] + sx[2 * q + 1]) * mx[q]
        p >>= 1
        q >>= 1
    while p >= 1:
        sx[p] = (sx[2 * p] + sx[2 * p + 1]) * mx[p]
        p >>= 1


@_jit
def soft_set(sx, mx, size, t, value):
    """Set leaf t of the smooth-peak tree to `value` (its actual value: lazy factors included)."""
    p = (t + size) >> 1
    prod = 1.0
    while p >= 1:
        prod *= mx[p]
        p >>= 1
    sx[t + size] = value / prod if prod > 0.0 else 0.0
    p = (t + size) >> 1
    while p >= 1:
        sx[p] = (sx[2 * p] + sx[2 * p + 1]) * mx[p]
        p >>= 1


@_jit
def _soft_leaf(m, sf):
    """exp((m - budget) / tau), the exponent clamped so that sums over a million slots stay finite."""
    x = (m - sf[F_BUDGET]) * sf[F_INV_TAU]
    if x > 600.0:
        x = 600.0
    elif x < -700.0:
        x = -700.0
    return math.exp(x)


@_jit
def soft_build(pk, size, slot):
    """Rebuild the smooth-peak tree from the max tree: leaf t = exp((memory at t - budget) /
    tau) for occupied slots, 0 for empty ones."""
    tr, lz, sx, mx = pk.tr, pk.lz, pk.sx, pk.mx
    # memory at every leaf: push the lazy adds down into a scratch copy
    acc = np.zeros(2 * size, dtype=np.float64)
    for p in range(2, 2 * size):
        acc[p] = acc[p >> 1] + lz[p >> 1]
    for t in range(size):
        sx[t + size] = _soft_leaf(tr[t + size] + acc[t + size], pk.sf) if slot[t] >= 0 else 0.0
    for p in range(size - 1, 0, -1):
        mx[p] = 1.0
        sx[p] = sx[2 * p] + sx[2 * p + 1]


@_jit
def _radd(pk, size, lo, hi, value):
    """Range add on the max tree, and on the smooth-peak tree when it is in use."""
    seg_add(pk.tr, pk.lz, size, lo, hi, value)
    if pk.sf[F_ON] != 0.0 and lo <= hi and value != 0:
        soft_mul(pk.sx, pk.mx, size, lo, hi, math.exp(value * pk.sf[F_INV_TAU]))


@_jit
def seg_argmax(tr, lz, size, slot):
    """The first occupied slot at the maximum (an empty slot never holds more than the next
    occupied one, so the next occupied slot after a maximal empty one is maximal too)."""
    p = 1
    while p < size:
        target = tr[p] - lz[p]
        p = 2 * p if tr[2 * p] == target else 2 * p + 1
    t = p - size
    while slot[t] < 0:
        t += 1
    return t


@_jit
def seg_count_max(tr, lz, size, slot, stack):
    """How many occupied slots hold the maximum: a descent into the subtrees that attain it
    (O(count x log T)); `stack` is scratch space of at least 2 log2(size) + 2 entries."""
    top = 0
    stack[0] = 1
    stack[1] = tr[1]
    top = 2
    count = 0
    while top > 0:
        target = stack[top - 1]
        p = stack[top - 2]
        top -= 2
        if tr[p] != target:
            continue
        if p >= size:
            if slot[p - size] >= 0:
                count += 1
            continue
        stack[top] = 2 * p
        stack[top + 1] = target - lz[p]
        stack[top + 2] = 2 * p + 1
        stack[top + 3] = target - lz[p]
        top += 4
    return count


@_jit
def seg_leaf(tr, lz, size, t):
    """Value of leaf t (the memory live at slot t): the leaf plus the lazy adds above it."""
    p = t + size
    value = tr[p]
    p >>= 1
    while p >= 1:
        value += lz[p]
        p >>= 1
    return value


@_jit
def _max_reader(v, a, b, succ_ptr, succ_idx, copies, cnt):
    """The last slot in (a, b) that computes a reader of v, or -1."""
    best = -1
    for k in range(succ_ptr[v], succ_ptr[v + 1]):
        w = succ_idx[k]
        j = cnt[w] - 1
        while j >= 0:
            x = copies[w, j]
            if x < b:
                if x > a and x > best:
                    best = x
                break
            j -= 1
    return best


@_jit
def _min_reader(v, a, b, succ_ptr, succ_idx, copies, cnt):
    """The first slot in (a, b) that computes a reader of v, or BIG."""
    best = BIG
    for k in range(succ_ptr[v], succ_ptr[v + 1]):
        w = succ_idx[k]
        for j in range(cnt[w]):
            x = copies[w, j]
            if x > a:
                if x < b and x < best:
                    best = x
                break
    return best


@_jit
def _prev_index(copies, cnt, u, t):
    """Index of u's last copy before slot t (-1 if none)."""
    j = cnt[u] - 1
    while j >= 0 and copies[u, j] > t:
        j -= 1
    return j


@_jit
def _index_of(copies, cnt, v, t):
    for j in range(cnt[v]):
        if copies[v, j] == t:
            return j
    return -1


@_jit
def _multi_add(v, multi, mpos, sc):
    mpos[v] = sc[S_MULTI]
    multi[sc[S_MULTI]] = v
    sc[S_MULTI] += 1


@_jit
def _multi_remove(v, multi, mpos, sc):
    k = mpos[v]
    last = multi[sc[S_MULTI] - 1]
    multi[k] = last
    mpos[last] = k
    mpos[v] = -1
    sc[S_MULTI] -= 1


@_jit
def insert(v, t, dag, st, pk):
    """Compute v in the empty slot t (every input of v must have a copy before t)."""
    pred_ptr, pred_idx, succ_ptr, succ_idx, mem = dag.pred_ptr, dag.pred_idx, dag.succ_ptr, dag.succ_idx, dag.mem
    slot, copies, ends, cnt, sc = st.slot, st.copies, st.ends, st.cnt, st.sc
    size = sc[S_SIZE]
    c = cnt[v]
    i = c
    while i > 0 and copies[v, i - 1] > t:
        i -= 1
    m = mem[v]
    if i > 0:
        p = copies[v, i - 1]
        pe = ends[v, i - 1]
        if pe > t:  # the readers after t now read the new copy: the previous copy ends earlier
            ne = _max_reader(v, p, t, succ_ptr, succ_idx, copies, cnt)
            if ne < 0:
                ne = p
            _radd(pk, size, ne + 1, pe, -m)
            ends[v, i - 1] = ne
            e = pe
        else:
            e = t
    else:
        nxt = copies[v, 0] if c > 0 else BIG
        e = _max_reader(v, t, nxt, succ_ptr, succ_idx, copies, cnt)
        if e < 0:
            e = t
    for j in range(c, i, -1):
        copies[v, j] = copies[v, j - 1]
        ends[v, j] = ends[v, j - 1]
    copies[v, i] = t
    ends[v, i] = e
    cnt[v] = c + 1
    _radd(pk, size, t, e, m)
    slot[t] = v
    for k in range(pred_ptr[v], pred_ptr[v + 1]):  # the inputs' copies read at t may live longer
        u = pred_idx[k]
        j = _prev_index(copies, cnt, u, t)
        if ends[u, j] < t:
            _radd(pk, size, ends[u, j] + 1, t, mem[u])
            ends[u, j] = t
    if pk.sf[F_ON] != 0.0:  # the slot is now occupied: its leaf counts in the smooth peak
        soft_set(pk.sx, pk.mx, size, t, _soft_leaf(seg_leaf(pk.tr, pk.lz, size, t), pk.sf))
    sc[S_COST] += dag.dur[v]
    if c + 1 == 2:
        _multi_add(v, st.multi, st.mpos, sc)
    return i


@_jit
def delete(v, i, dag, st, pk):
    """Remove v's copy i; its readers go to copy i-1 (the caller checks there is one when
    the copy has readers)."""
    pred_ptr, pred_idx, succ_ptr, succ_idx, mem = dag.pred_ptr, dag.pred_idx, dag.succ_ptr, dag.succ_idx, dag.mem
    slot, copies, ends, cnt, sc = st.slot, st.copies, st.ends, st.cnt, st.sc
    size = sc[S_SIZE]
    c = cnt[v]
    t = copies[v, i]
    e = ends[v, i]
    m = mem[v]
    _radd(pk, size, t, e, -m)
    if i > 0 and e > t:
        pe = ends[v, i - 1]
        _radd(pk, size, pe + 1, e, m)
        ends[v, i - 1] = e
    for j in range(i, c - 1):
        copies[v, j] = copies[v, j + 1]
        ends[v, j] = ends[v, j + 1]
    cnt[v] = c - 1
    slot[t] = -1
    if pk.sf[F_ON] != 0.0:
        soft_set(pk.sx, pk.mx, size, t, 0.0)
    sc[S_COST] -= dag.dur[v]
    for k in range(pred_ptr[v], pred_ptr[v + 1]):  # the inputs' copies read at t may end earlier
        u = pred_idx[k]
        j = _prev_index(copies, cnt, u, t)
        if ends[u, j] == t:
            nxt = copies[u, j + 1] if j + 1 < cnt[u] else BIG
            ne = _max_reader(u, copies[u, j], nxt, succ_ptr, succ_idx, copies, cnt)
            if ne < 0:
                ne = copies[u, j]
            _radd(pk, size, ne + 1, t, -mem[u])
            ends[u, j] = ne
    if c - 1 == 1:
        _multi_remove(v, st.multi, st.mpos, sc)


@_jit
def build(seq_nodes, seq_slots, dag, st, pk):
    """Load a schedule (nodes in order, at increasing slots < T) into the state.
    Returns 0, or -1 (a read before any computation), -2 (more than K copies of a node),
    -3 (a node never computed)."""
    pred_ptr, pred_idx, mem, dur = dag.pred_ptr, dag.pred_idx, dag.mem, dag.dur
    slot, copies, ends, cnt, mpos, sc = st.slot, st.copies, st.ends, st.cnt, st.mpos, st.sc
    tr, lz = pk.tr, pk.lz
    n = sc[S_N]
    size = sc[S_SIZE]
    K = sc[S_K]
    for t in range(size):
        slot[t] = -1
    for v in range(n):
        cnt[v] = 0
        mpos[v] = -1
    cost = 0
    for k in range(len(seq_nodes)):
        v = seq_nodes[k]
        t = seq_slots[k]
        for q in range(pred_ptr[v], pred_ptr[v + 1]):
            u = pred_idx[q]
            if cnt[u] == 0:
                return -1
            ends[u, cnt[u] - 1] = t
        if cnt[v] >= K:
            return -2
        copies[v, cnt[v]] = t
        ends[v, cnt[v]] = t
        cnt[v] += 1
        slot[t] = v
        cost += dur[v]
    diff = np.zeros(size + 1, dtype=np.int64)
    for v in range(n):
        if cnt[v] == 0:
            return -3
        for j in range(cnt[v]):
            diff[copies[v, j]] += mem[v]
            diff[ends[v, j] + 1] -= mem[v]
    run = 0
    for t in range(size):
        run += diff[t]
        tr[size + t] = run
    for p in range(size - 1, 0, -1):
        lz[p] = 0
        x = tr[2 * p]
        y = tr[2 * p + 1]
        tr[p] = x if x > y else y
    sc[S_COST] = cost
    sc[S_MULTI] = 0
    for v in range(n):
        if cnt[v] >= 2:
            _multi_add(v, st.multi, mpos, sc)
    return 0


@_jit
def check(dag, st, pk):
    """Recompute ends, cost, the memory of every slot, the peak, the steps at the peak and
    (when in use) the smooth peak's sum from scratch and compare them with the incremental
    state. Returns 0 when all agree, else a code > 0."""
    pred_ptr, pred_idx, succ_ptr, succ_idx, mem, dur = dag
    slot, copies, ends, cnt, sc = st.slot, st.copies, st.ends, st.cnt, st.sc
    tr, lz, sf = pk.tr, pk.lz, pk.sf
    n = sc[S_N]
    T = sc[S_SLOTS]
    size = sc[S_SIZE]
    cost = 0
    for v in range(n):
        if cnt[v] < 1:
            return 1
        for j in range(cnt[v]):
            t = copies[v, j]
            if slot[t] != v or (j > 0 and copies[v, j - 1] >= t):
                return 2
            cost += dur[v]
            nxt = copies[v, j + 1] if j + 1 < cnt[v] else BIG
            e = _max_reader(v, t, nxt, succ_ptr, succ_idx, copies, cnt)
            if e < 0:
                e = t
            if e != ends[v, j]:
                return 3
        for q in range(pred_ptr[v], pred_ptr[v + 1]):  # every computation of v has its inputs
            if copies[pred_idx[q], 0] >= copies[v, 0]:
                return 4
    if cost != sc[S_COST]:
        return 5
    occupied = 0
    for t in range(T):
        if slot[t] >= 0:
            occupied += 1
    total = 0
    for v in range(n):
        total += cnt[v]
    if occupied != total:
        return 6
    diff = np.zeros(size + 1, dtype=np.int64)
    for v in range(n):
        for j in range(cnt[v]):
            diff[copies[v, j]] += mem[v]
            diff[ends[v, j] + 1] -= mem[v]
    run = 0
    peak = -1
    at_peak = 0
    soft = 0.0
    for t in range(size):
        run += diff[t]
        if seg_leaf(tr, lz, size, t) != run:
            return 7
        if slot[t] >= 0:
            soft += _soft_leaf(run, sf)
            if run > peak:
                peak = run
                at_peak = 1
            elif run == peak:
                at_peak += 1
    if peak != tr[1]:
        return 8
    if at_peak != seg_count_max(tr, lz, size, slot, np.empty(2 * 64 + 4, dtype=np.int64)):
        return 9
    if sf[F_ON] != 0.0 and abs(pk.sx[1] - soft) > 1e-9 * soft:
        return 11
    if slot[seg_argmax(tr, lz, size, slot)] < 0 or seg_leaf(tr, lz, size, seg_argmax(tr, lz, size, slot)) != peak:
        return 10
    return 0


@_jit
def snapshot(st, best):
    """Copy the current schedule into `best` (its copy slots and counts)."""
    copies, cnt, bcopies, bcnt = st.copies, st.cnt, best.copies, best.cnt
    for v in range(st.sc[S_N]):
        c = cnt[v]
        bcnt[v] = c
        for j in range(c):
            bcopies[v, j] = copies[v, j]


@_jit
def _stage(e, p):
    """Stage s of grid event e = s(s+1)/2 + p."""
    x = e - p
    s = np.int64((math.sqrt(8.0 * x + 1.0) - 1.0) / 2.0)
    while s * (s + 1) // 2 > x:
        s -= 1
    while (s + 1) * (s + 2) // 2 <= x:
        s += 1
    return s


@_jit
def _propose_free(kind, dag, picks, st, mv):
    """A valid free-order move as (v, copy index or -1, new slot), or v = -1."""
    slot, copies, ends, cnt, sc = st.slot, st.copies, st.ends, st.cnt, st.sc
    pred_ptr, pred_idx, succ_ptr, succ_idx = dag.pred_ptr, dag.pred_idx, dag.succ_ptr, dag.succ_idx
    add_nodes = picks.add_nodes
    span = mv.span
    T = sc[S_SLOTS]
    if kind == ADD:
        if len(add_nodes) == 0:
            return -1, -1, -1
        v = add_nodes[np.random.randint(len(add_nodes))]
        if cnt[v] >= sc[S_K]:
            return -1, -1, -1
        k = succ_ptr[v] + np.random.randint(succ_ptr[v + 1] - succ_ptr[v])
        w = succ_idx[k]
        r = copies[w, np.random.randint(cnt[w])]
        lo = copies[v, _prev_index(copies, cnt, v, r)]  # the copy r reads now
        for q in range(pred_ptr[v], pred_ptr[v + 1]):
            f = copies[pred_idx[q], 0]
            if f > lo:
                lo = f
        room = r - lo - 1  # free choice of slots lo+1 .. r-1
        if room < 1:
            return -1, -1, -1
        if np.random.random() < mv.local:
            t = r - 1 - np.random.randint(min(room, span))
        else:
            t = lo + 1 + np.random.randint(room)
        steps = 0
        while slot[t] >= 0:  # the nearest empty slot below, not before the inputs
            t -= 1
            steps += 1
            if t <= lo or steps > 8:
                return -1, -1, -1
        return v, -1, t
    if kind == REMOVE:
        if sc[S_MULTI] == 0:
            return -1, -1, -1
        v = st.multi[np.random.randint(sc[S_MULTI])]
        i = np.random.randint(cnt[v])
        if i == 0 and ends[v, 0] > copies[v, 0]:
            return -1, -1, -1  # the first copy has readers: nobody earlier can serve them
        return v, i, -1
    # MOVE
    v = np.random.randint(sc[S_N])
    c = cnt[v]
    i = np.random.randint(c)
    t0 = copies[v, i]
    lo = -1
    for q in range(pred_ptr[v], pred_ptr[v + 1]):
        f = copies[pred_idx[q], 0]
        if f > lo:
            lo = f
    hi = T
    if i == 0:
        rmin = T
        for q in range(succ_ptr[v], succ_ptr[v + 1]):
            f = copies[succ_idx[q], 0]
            if f < rmin:
                rmin = f
        c1 = copies[v, 1] if c > 1 else T
        if c1 > rmin:
            hi = rmin  # v's first copy must stay before its first reader
    if hi - lo < 2:
        return -1, -1, -1
    if np.random.random() < mv.local:
        t = t0 + np.random.randint(2 * span + 1) - span
    else:
        t = lo + 1 + np.random.randint(hi - lo - 1)
    if t <= lo or t >= hi or slot[t] >= 0:
        return -1, -1, -1
    return v, i, t


@_jit
def _propose_fixed(kind, dag, picks, st, mv):
    """A valid fixed-order move (recomputations only) as (v, copy index or -1, new event), or v = -1."""
    slot, copies, cnt, sc = st.slot, st.copies, st.cnt, st.sc
    add_nodes, pos = picks.add_nodes, picks.pos
    span = mv.span
    n = sc[S_N]
    if kind == ADD:
        if len(add_nodes) == 0:
            return -1, -1, -1
        v = add_nodes[np.random.randint(len(add_nodes))]
        if cnt[v] >= sc[S_K]:
            return -1, -1, -1
        p = pos[v]
        succ_ptr = dag.succ_ptr
        k = succ_ptr[v] + np.random.randint(succ_ptr[v + 1] - succ_ptr[v])
        w = dag.succ_idx[k]
        r = copies[w, np.random.randint(cnt[w])]
        s_r = _stage(r, pos[w])
        s_v = _stage(copies[v, _prev_index(copies, cnt, v, r)], p)  # stage of the copy r reads now
        room = s_r - s_v  # stages s_v+1 .. s_r: v has no copy there (event (s_r, p) comes before r)
        if room < 1:
            return -1, -1, -1
        if np.random.random() < mv.local:
            s = s_r - np.random.randint(min(room, span))
        else:
            s = s_v + 1 + np.random.randint(room)
        return v, -1, s * (s + 1) // 2 + p
    if sc[S_MULTI] == 0:
        return -1, -1, -1
    v = st.multi[np.random.randint(sc[S_MULTI])]
    i = 1 + np.random.randint(cnt[v] - 1)  # never the first computation (stage = position)
    if kind == REMOVE:
        return v, i, -1
    p = pos[v]
    s0 = _stage(copies[v, i], p)
    if np.random.random() < mv.local:
        s = s0 + np.random.randint(2 * span + 1) - span
    else:
        s = p + 1 + np.random.randint(n - 1 - p)
    if s <= p or s >= n or s == s0:
        return -1, -1, -1
    e = s * (s + 1) // 2 + p
    if slot[e] >= 0:
        return -1, -1, -1
    return v, i, e


@_jit
def _propose_focus(dag, picks, st, pk, mv):
    """Over budget: a move aimed at the (first) peak step ts. Among `mv.tries` random nodes v live
    across ts that ts does not read, the one whose departure frees the most at ts (its size
    less its inputs that are not live across ts: a computation after ts keeps those alive)
    gets a new computation after ts, before the first reader of that copy after ts (ADD), or
    that copy itself is moved there when the readers before ts keep a copy (MOVE).
    Returns (kind, v, copy index or -1, new slot), v = -1 when no such move was found."""
    slot, copies, ends, cnt, sc = st.slot, st.copies, st.ends, st.cnt, st.sc
    pred_ptr, pred_idx, succ_ptr, succ_idx, mem = dag.pred_ptr, dag.pred_idx, dag.succ_ptr, dag.succ_idx, dag.mem
    add_nodes, pos = picks.add_nodes, picks.pos
    fixed = sc[S_FIXED] == 1
    span = mv.span
    if len(add_nodes) == 0:
        return ADD, -1, -1, -1
    ts = seg_argmax(pk.tr, pk.lz, sc[S_SIZE], slot)
    x = slot[ts]
    best_v = -1
    best_j = -1
    best_gain = 0
    tries, local = mv.tries, mv.local
    for _ in range(tries):
        v = add_nodes[np.random.randint(len(add_nodes))]
        if v == x:
            continue
        j = _prev_index(copies, cnt, v, ts)
        if j < 0 or ends[v, j] <= ts:
            continue  # not live across ts
        gain = mem[v]  # what leaves ts, less the inputs a computation after ts keeps alive across it
        for q in range(pred_ptr[v], pred_ptr[v + 1]):
            u = pred_idx[q]
            if u == x:
                continue  # live at ts anyway (its own step)
            k = _prev_index(copies, cnt, u, ts)
            if ends[u, k] <= ts:
                gain -= mem[u]
        if gain <= best_gain:
            continue
        read_here = False
        for q in range(pred_ptr[x], pred_ptr[x + 1]):
            if pred_idx[q] == v:
                read_here = True
                break
        if read_here:
            continue
        best_v = v
        best_j = j
        best_gain = gain
    if best_v >= 0:
        v = best_v
        j = best_j
        nxt = copies[v, j + 1] if j + 1 < cnt[v] else BIG
        rf = _min_reader(v, ts, nxt, succ_ptr, succ_idx, copies, cnt)
        movable = j > 0 or (not fixed and _max_reader(v, copies[v, 0], ts, succ_ptr, succ_idx, copies, cnt) < 0)
        kind = MOVE if movable and np.random.random() < 0.5 else ADD
        if kind == ADD and cnt[v] >= sc[S_K]:
            if not movable:
                return ADD, -1, -1, -1
            kind = MOVE
        i = j if kind == MOVE else -1
        if fixed:
            p = pos[v]
            s_lo = _stage(ts, pos[x])
            if p < pos[x]:
                s_lo += 1  # event (s_lo, p) must come after ts
            w = slot[rf]
            s_hi = _stage(rf, pos[w])
            if p > pos[w]:
                s_hi -= 1  # event (s_hi, p) must come before rf
            if s_lo > s_hi:
                return kind, -1, -1, -1
            if np.random.random() < local:
                st_ = s_hi - np.random.randint(min(s_hi - s_lo + 1, span))
            else:
                st_ = s_lo + np.random.randint(s_hi - s_lo + 1)
            return kind, v, i, st_ * (st_ + 1) // 2 + p
        room = rf - ts - 1
        if room < 1:
            return kind, -1, -1, -1
        if np.random.random() < local:
            t = rf - 1 - np.random.randint(min(room, span))
        else:
            t = ts + 1 + np.random.randint(room)
        steps = 0
        while slot[t] >= 0:
            t -= 1
            steps += 1
            if t <= ts or steps > 8:
                return kind, -1, -1, -1
        return kind, v, i, t
    return ADD, -1, -1, -1


@_jit
def _objective_memory(peak, soft_sum, budget, soft, tau):
    """The memory term M of the objective: the peak, or while the smooth-peak tree is in use
    the smooth peak budget + tau ln(soft_sum); at least the budget and at least 1."""
    if soft:
        M = budget + tau * math.log(soft_sum) if soft_sum > 0.0 else 0.0
    else:
        M = float(peak)
    if M < budget:
        M = float(budget)
    if M < 1.0:
        M = 1.0
    return M


@_jit
def anneal(nmoves, temp_first, temp_last, mv, dag, picks, st, pk, best, cn):
    """`nmoves` annealing moves at a temperature falling geometrically from `temp_first` to
    `temp_last`, in mean node durations.

    Objective: max(budget, P)^omega x (cost + 1), where P is the peak, or, while the
    smooth-peak tree is in use (sf[F_ON] = 1), the smooth peak budget + tau ln(sum over steps
    of exp((memory - budget) / tau)), which sees every step near the top, not only the highest
    one. A move's change d is measured in mean node durations: d = (omega (M1 - M0) (cost1 +
    1) / M0 + cost1 - cost0) / mean duration (the first-order change of the objective divided
    by M0 x mean duration); it is accepted when d <= -temp ln(u), u uniform in (0, 1). A
    rejected move is undone by the inverse operations (the ends are a function of the copy
    slots, so the state returns exactly). The best schedule within the budget is copied to
    `best`.

    mv (`Moves`): shares of additions and removals (the rest are moves), the mean duration,
    the share of local moves and their span (slots in free order, stages in fixed order),
    omega, `count_weight` (the cost of one more step at an unchanged peak over the budget,
    in mean durations; 0 = off), `p_focus` (the share of moves aimed at the peak step while
    over the budget) and the nodes `tries`d per such move, `debug` (check the state after
    every applied move; failures counted in cn[C_DEBUG_FAILURES])."""
    sc, bsc, slot, copies, cnt = st.sc, best.bsc, st.slot, st.copies, st.cnt
    tr, lz, sx = pk.tr, pk.lz, pk.sx
    dur = dag.dur
    B = sc[S_BUDGET]
    fixed = sc[S_FIXED] == 1
    p_add = mv.p_add
    p_addrem = mv.p_add + mv.p_remove
    mean = mv.mean
    omega = mv.omega
    lam = mv.count_weight
    p_focus = mv.p_focus
    debug = mv.debug
    size = sc[S_SIZE]
    soft = pk.sf[F_ON] != 0.0
    tau = 1.0 / pk.sf[F_INV_TAU]
    stack = np.empty(2 * 64 + 4, dtype=np.int64)
    log_ratio = math.log(temp_last / temp_first)
    temp = temp_first
    for it in range(nmoves):
        if (it & 255) == 0:
            temp = temp_first * math.exp(log_ratio * it / nmoves)
        cn[C_PROPOSED] += 1
        peak0 = tr[1]
        if peak0 > B and np.random.random() < p_focus:
            kind, v, i, t = _propose_focus(dag, picks, st, pk, mv)
        else:
            r = np.random.random()
            kind = ADD if r < p_add else (REMOVE if r < p_addrem else MOVE)
            if fixed:
                v, i, t = _propose_fixed(kind, dag, picks, st, mv)
            else:
                v, i, t = _propose_free(kind, dag, picks, st, mv)
        if v < 0:
            continue
        cn[C_DECIDED] += 1
        cn[C_DECIDED_KIND + kind] += 1
        u = np.random.random()
        theta = -temp * math.log(u) if u > 0.0 else 1e300  # accept iff d <= theta
        c0 = sc[S_COST]
        if not soft and kind == ADD and peak0 <= B and dur[v] > theta * mean:
            continue  # within the budget an addition cannot lower the objective: rejected unseen
        M0 = _objective_memory(peak0, sx[1], B, soft, tau)
        counting = lam > 0.0 and not soft and peak0 > B
        at0 = seg_count_max(tr, lz, size, slot, stack) if counting else 0
        cn[C_APPLIED] += 1
        old_t = -1
        if kind == ADD:
            insert(v, t, dag, st, pk)
        elif kind == REMOVE:
            old_t = copies[v, i]
            delete(v, i, dag, st, pk)
        else:  # a move: insert, then delete, so the state stays valid throughout
            old_t = copies[v, i]
            insert(v, t, dag, st, pk)
            delete(v, _index_of(copies, cnt, v, old_t), dag, st, pk)
        if debug and check(dag, st, pk) != 0:
            cn[C_DEBUG_FAILURES] += 1
        peak1 = tr[1]
        c1 = sc[S_COST]
        M1 = _objective_memory(peak1, sx[1], B, soft, tau)
        d = (omega * (M1 - M0) * (c1 + 1.0) / M0 + (c1 - c0)) / mean
        if not math.isfinite(d):
            d = 1e300  # cannot happen with the clamped smooth peak; rejected if it did
        if counting and peak1 == peak0:  # same peak over budget: fewer steps at the peak is progress
            d += lam * (seg_count_max(tr, lz, size, slot, stack) - at0)
        if d <= theta:
            cn[C_ACCEPTED] += 1
            cn[C_ACCEPTED_KIND + kind] += 1
            if peak1 <= B and (bsc[B_FOUND] == 0 or c1 < bsc[B_COST]):
                snapshot(st, best)
                bsc[B_FOUND] = 1
                bsc[B_COST] = c1
                bsc[B_PEAK] = peak1
                cn[C_IMPROVED] += 1
            if peak1 < bsc[B_LEAST_PEAK]:
                bsc[B_LEAST_PEAK] = peak1
            continue
        if kind == ADD:  # rejected: undo
            delete(v, _index_of(copies, cnt, v, t), dag, st, pk)
        elif kind == REMOVE:
            insert(v, old_t, dag, st, pk)
        else:
            insert(v, old_t, dag, st, pk)
            delete(v, _index_of(copies, cnt, v, t), dag, st, pk)
        if debug and check(dag, st, pk) != 0:
            cn[C_DEBUG_FAILURES] += 1


@_jit
def seed(s):
    """Seed the generator the kernels draw from (numba's own, per thread)."""
    np.random.seed(s)
