"""Compiled kernel of the `dtr` formulation (imported inside its `solve` only).

Why numba: every eviction scans the resident tensors and scores each (the exact h_DTR walks
its evicted neighbourhood), thousands of times on a graph of a few thousand nodes; in the
interpreter that is tens of milliseconds per eviction. The run is resumable: all its state
lives in arrays, and `run` returns after about `pause_every` computations so that the caller
can check its clock (numba code does not read one).

State: `sc` scalars (below); per node `resident`, `computed`, `pins`, `last`, `remaining`,
`parent`/`ccost`/`inclass` (the equivalence classes of dtr-eq), `pos` (index in `res`, the
resident list); the recursion stack `stk_node`, `stk_i` (next input to make resident); the
schedule `out`; scratch `stamp`, `walk` for neighbourhood walks.
"""

from __future__ import annotations

import numpy as np

# sc: scalar state
S_OI, S_SP, S_T, S_MEM, S_PEAK, S_EVICT, S_STATUS, S_NRES, S_STOP_NODE, S_STAMP = range(10)
N_SCALARS = 10
RUNNING, DONE, STUCK, THRASH, PAUSED = 0, 1, 2, 3, 4
# score codes: the order of formulations.dtr.SCORES
DTR_EQ, MSPS, SIZE, LRU, DTR = 0, 1, 2, 3, 4


def _jit(fn):
    import numba

    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # no writable cache location
        return numba.njit(cache=False, nogil=True)(fn)


def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _ancestors_cost(t, pp, pi, dur, computed, resident, stamp, walk, sc):
    sc[S_STAMP] += 1
    mark = sc[S_STAMP]
    stamp[t] = mark
    top = 0
    walk[top] = t
    top += 1
    c = 0
    while top > 0:
        top -= 1
        w = walk[top]
        for k in range(pp[w], pp[w + 1]):
            p = pi[k]
            if stamp[p] != mark and computed[p] and not resident[p]:
                stamp[p] = mark
                c += dur[p]
                walk[top] = p
                top += 1
    return c


def _descendants_cost(t, sp_, si, dur, computed, resident, remaining, stamp, walk, sc):
    sc[S_STAMP] += 1
    mark = sc[S_STAMP]
    stamp[t] = mark
    top = 0
    walk[top] = t
    top += 1
    c = 0
    while top > 0:
        top -= 1
        w = walk[top]
        for k in range(sp_[w], sp_[w + 1]):
            s = si[k]
            if stamp[s] != mark and computed[s] and not resident[s] and remaining[s] > 0:
                stamp[s] = mark
                c += dur[s]
                walk[top] = s
                top += 1
    return c


def _class_cost(t, pp, pi, sp_, si, computed, resident, inclass, parent, ccost, stamp, sc):
    sc[S_STAMP] += 1
    mark = sc[S_STAMP]
    c = 0
    for side in range(2):
        ptr, idx = (pp, pi) if side == 0 else (sp_, si)
        for k in range(ptr[t], ptr[t + 1]):
            u = idx[k]
            if inclass[u] and computed[u] and not resident[u]:
                r = _find(parent, u)
                if stamp[r] != mark:
                    stamp[r] = mark
                    c += ccost[r]
    return c


def _drop(u, resident, res, pos, mem, sc):
    resident[u] = False
    i = pos[u]
    last = res[sc[S_NRES] - 1]
    res[i] = last
    pos[last] = i
    sc[S_NRES] -= 1
    pos[u] = -1
    sc[S_MEM] -= mem[u]


def run(
    pp,
    pi,
    sp_,
    si,
    mem,
    dur,
    order,
    budget,
    score,
    max_steps,
    pause_every,
    sc,
    resident,
    computed,
    pins,
    last,
    remaining,
    parent,
    ccost,
    inclass,
    res,
    pos,
    stk_node,
    stk_i,
    out,
    stamp,
    walk,
):
    """Advance the run until it ends, gets stuck, thrashes, or pauses; returns sc[S_STATUS]."""
    n = len(mem)
    done_here = 0
    while True:
        if sc[S_SP] == 0:
            if sc[S_OI] == n:
                sc[S_STATUS] = DONE
                return DONE
            stk_node[0] = order[sc[S_OI]]
            stk_i[0] = 0
            sc[S_SP] = 1
            sc[S_OI] += 1
        top = sc[S_SP] - 1
        y = stk_node[top]
        i = stk_i[top]
        if i < pp[y + 1] - pp[y]:
            u = pi[pp[y] + i]
            if resident[u]:
                pins[u] += 1
                last[u] = sc[S_T]
                stk_i[top] = i + 1
            else:
                stk_node[top + 1] = u
                stk_i[top + 1] = 0
                sc[S_SP] += 1
            continue
        # every input resident and pinned: make room for y's output
        while sc[S_MEM] + mem[y] > budget:
            now = sc[S_T]
            best = -1
            best_key = 0.0
            for j in range(sc[S_NRES]):
                t = res[j]
                if pins[t] > 0 or mem[t] == 0:
                    continue
                stale = float(now + 1 - last[t])
                if score == LRU:
                    key = 1.0 / stale
                elif score == SIZE:
                    key = 1.0 / mem[t]
                elif score == MSPS:
                    key = (dur[t] + _ancestors_cost(t, pp, pi, dur, computed, resident, stamp, walk, sc)) / mem[t]
                elif score == DTR:
                    cost = dur[t] + _ancestors_cost(t, pp, pi, dur, computed, resident, stamp, walk, sc)
                    cost += _descendants_cost(t, sp_, si, dur, computed, resident, remaining, stamp, walk, sc)
                    key = cost / (mem[t] * stale)
                else:
                    cost = dur[t] + _class_cost(
                        t, pp, pi, sp_, si, computed, resident, inclass, parent, ccost, stamp, sc
                    )
                    key = cost / (mem[t] * stale)
                if best < 0 or key < best_key:
                    best = t
                    best_key = key
            if best < 0:
                sc[S_STATUS] = STUCK
                sc[S_STOP_NODE] = y
                return STUCK
            _drop(best, resident, res, pos, mem, sc)
            sc[S_EVICT] += 1
            if score == DTR_EQ:
                inclass[best] = True
                parent[best] = best
                ccost[best] = dur[best]
                for side in range(2):
                    ptr, idx = (pp, pi) if side == 0 else (sp_, si)
                    for k in range(ptr[best], ptr[best + 1]):
                        u = idx[k]
                        if inclass[u] and computed[u] and not resident[u]:
                            a = _find(parent, u)
                            b = _find(parent, best)
                            if a != b:
                                parent[a] = b
                                ccost[b] += ccost[a]
        if sc[S_T] >= max_steps:
            sc[S_STATUS] = THRASH
            return THRASH
        out[sc[S_T]] = y
        sc[S_T] += 1
        computed[y] = True
        resident[y] = True
        pos[y] = sc[S_NRES]
        res[sc[S_NRES]] = y
        sc[S_NRES] += 1
        last[y] = sc[S_T] - 1
        sc[S_MEM] += mem[y]
        if sc[S_MEM] > sc[S_PEAK]:
            sc[S_PEAK] = sc[S_MEM]
        sc[S_SP] -= 1
        is_first = sc[S_SP] == 0
        for k in range(pp[y], pp[y + 1]):
            u = pi[k]
            pins[u] -= 1
            if is_first:
                remaining[u] -= 1
        if is_first:  # the program's last reference to an input: freed at once
            for k in range(pp[y], pp[y + 1]):
                u = pi[k]
                if resident[u] and pins[u] == 0 and remaining[u] == 0:
                    _drop(u, resident, res, pos, mem, sc)
            if remaining[y] == 0:
                _drop(y, resident, res, pos, mem, sc)
        done_here += 1
        if done_here >= pause_every:
            sc[S_STATUS] = PAUSED
            return PAUSED


_compiled = {}


def compiled():
    """The jitted kernel (compiled, or loaded from the cache, on first use)."""
    if not _compiled:
        global _find, _ancestors_cost, _descendants_cost, _class_cost, _drop
        _find = _jit(_find)
        _ancestors_cost = _jit(_ancestors_cost)
        _descendants_cost = _jit(_descendants_cost)
        _class_cost = _jit(_class_cost)
        _drop = _jit(_drop)
        _compiled["run"] = _jit(run)
    return _compiled["run"]


def new_state(graph, max_steps: int) -> dict:
    n = graph.n
    return {
        "sc": np.zeros(N_SCALARS, dtype=np.int64),
        "resident": np.zeros(n, dtype=np.bool_),
        "computed": np.zeros(n, dtype=np.bool_),
        "pins": np.zeros(n, dtype=np.int64),
        "last": np.zeros(n, dtype=np.int64),
        "remaining": graph.out_degree.astype(np.int64).copy(),
        "parent": np.arange(n, dtype=np.int64),
        "ccost": np.zeros(n, dtype=np.int64),
        "inclass": np.zeros(n, dtype=np.bool_),
        "res": np.zeros(n, dtype=np.int64),
        "pos": np.full(n, -1, dtype=np.int64),
        "stk_node": np.zeros(n + 1, dtype=np.int64),
        "stk_i": np.zeros(n + 1, dtype=np.int64),
        "out": np.zeros(max_steps + 1, dtype=np.int64),
        "stamp": np.zeros(n, dtype=np.int64),
        "walk": np.zeros(n + 1, dtype=np.int64),
    }
