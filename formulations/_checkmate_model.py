"""The Checkmate MILP (Jain et al., MLSys 2020) as sparse numpy arrays, shared by the
checkmate-milp (HiGHS, PuLP) and checkmate-lp formulations (checkmate-cp uses its layout).

Stages follow a topological order: positions 0..n-1, stage t computes the node at
position t (frontier-advancing) after recomputing some earlier positions; the schedule is,
stage by stage, the positions i <= t with R[t,i] = 1 in increasing position.

Variables (all indexed by positions):
- R[t,i]  (i <= t, binary): stage t computes position i; R[t,t] is fixed to 1.
- S[t,i]  (i < t, binary): position i's output is held in memory when stage t starts.
- FREE[t,(i,k)] (edge i -> k, k < t, binary): i's output is released right after step k
  of stage t (a release after the stage's last step would change no U, so k = t is left out).
- U[t,k]  (k <= t, continuous in [0, budget]): memory while position k of stage t runs.

Constraints:
- carry-over   S[t+1,i] <= S[t,i] + R[t,i];
- dependencies R[t,k] <= R[t,i] + S[t,i] for every edge i -> k;
- hazards      FREE[t,(i,k)] = R[t,k] * (1 - S[t+1,i]) * prod_{j reads i, k < j <= t} (1 - R[t,j]),
  linearised as Checkmate does: with h = (1 - R[t,k]) + S[t+1,i] + sum_j R[t,j] and kappa
  the number of terms of h, kappa * (1 - FREE) >= h (FREE = 0 under any hazard) and,
  with `hazard="both"` (Checkmate's choice), 1 - FREE <= h (FREE = 1 without one);
  `hazard="clique"` states the same rule as set-packing rows (same integer points, a
  tighter LP): FREE <= R[t,k], sum_k FREE[t,(i,k)] + S[t+1,i] <= 1, and for each reader j
  of i, sum_{k<j} FREE[t,(i,k)] + R[t,j] <= 1;
- memory       U[t,0] = sum_{i<t} m_i S[t,i] + m_0 R[t,0],
               U[t,k] = U[t,k-1] + m_k R[t,k] - sum_{edges i -> k-1} m_i FREE[t,(i,k-1)];
- objective    minimise sum_{t,i} duration_i R[t,i].

Correspondence with the simulator (docs/semantics.md), for any integer-feasible point:
1. Every value the simulator holds at step (t,k) is counted in U[t,k]. A copy computed
   before stage t and still read at or after (t,k) is read either in stage t (then the
   dependency rows force S[t,i] = 1, since a stage-t recomputation of i would serve the
   read instead) or in a later stage with no recomputation in between (then the carry-over
   rows force S = 1 from the copy's stage onwards, so FREE is 0 in stage t). A copy
   computed in stage t at a position <= k and read at or after k is released only after
   its last reader in stage t, and only if not carried into stage t+1. So the simulated
   memory of the schedule is <= U at every step: its peak is <= the budget.
2. U over-counts only values no step reads: a checkpoint kept without any later reader, a
   checkpoint of i in a stage that recomputes i, a recomputed value that nobody reads
   (released only at the end of the stage: FREE has no (k, k) term, as in Checkmate).
   Conversely, take any schedule with this stage structure and drop its recomputations
   whose value nobody reads (this costs nothing more and changes no read). For the result,
   R together with the canonical S (S[t,i] = 1 iff the copy of i current at the start of
   stage t is read in stage t or later) and every FREE the rows allow is a point of the
   model whose U equals the simulated memory at every computed step. Hence the MILP
   optimum equals the best schedule with this stage structure under the simulator's
   semantics (the oracle's `order=fixed` optimum), and the simulated cost of a solution
   is sum duration * R exactly. tests/test_checkmate.py checks both directions on random
   R, and tests/test_crosscheck.py the optima against the oracle.

Numerics: memory is divided by the GCD of all sizes and the budget, costs by the GCD of
the durations; `normalize=True` (HiGHS) further divides memory by the budget and costs
by the largest duration, so that coefficients lie in [0, 1]. `u_upper_units` lets the
caller tighten the budget (in GCD units) to absorb solver tolerances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from formulations._scaling import gcd, memory_unit
from moccasin_bench.graph import Graph

HAZARDS = ("both", "upper", "clique")


@dataclass(frozen=True, eq=False)
class Layout:
    """Column index arithmetic: R, then S, then U, then FREE, each stage-major."""

    n: int
    order: np.ndarray  # position -> dense node index
    pair_src: np.ndarray  # FREE pairs (edge src -> dst) as positions, sorted by (dst, src)
    pair_dst: np.ndarray
    pairs_upto: np.ndarray  # (n,) number of pairs with dst < t: stage t's FREE pairs are the first ones
    free_start: np.ndarray  # (n+1,) offset of stage t's FREE block

    @property
    def num_r(self) -> int:
        return self.n * (self.n + 1) // 2

    @property
    def num_s(self) -> int:
        return self.n * (self.n - 1) // 2

    @property
    def num_free(self) -> int:
        return int(self.free_start[-1])

    @property
    def s0(self) -> int:
        return self.num_r

    @property
    def u0(self) -> int:
        return self.num_r + self.num_s

    @property
    def f0(self) -> int:
        return self.u0 + self.num_r

    @property
    def num_col(self) -> int:
        return self.f0 + self.num_free

    def r(self, t, i):
        return t * (t + 1) // 2 + i

    def s(self, t, i):
        return self.s0 + t * (t - 1) // 2 + i

    def u(self, t, k):
        return self.u0 + t * (t + 1) // 2 + k

    def f(self, t, q):
        return self.f0 + self.free_start[t] + q

    def triangle(self) -> tuple[np.ndarray, np.ndarray]:
        """(t, i) of every R (and U) column, in column order."""
        n = self.n
        t = np.repeat(np.arange(n, dtype=np.int64), np.arange(1, n + 1))
        i = np.arange(self.num_r, dtype=np.int64) - t * (t + 1) // 2
        return t, i

    def strict_triangle(self) -> tuple[np.ndarray, np.ndarray]:
        """(t, i) of every S column (i < t), in column order."""
        n = self.n
        t = np.repeat(np.arange(n, dtype=np.int64), np.arange(n))
        i = np.arange(self.num_s, dtype=np.int64) - t * (t - 1) // 2
        return t, i

    def r_matrix(self, x: np.ndarray) -> np.ndarray:
        """R as a dense (n, n) float matrix from a full column vector."""
        out = np.zeros((self.n, self.n))
        t, i = self.triangle()
        out[t, i] = x[: self.num_r]
        return out

    def s_matrix(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n, self.n))
        t, i = self.strict_triangle()
        out[t, i] = x[self.s0 : self.s0 + self.num_s]
        return out

    def schedule_from_r(self, r_values: np.ndarray) -> np.ndarray:
        """Dense node indices: stage by stage, the positions with R > 0.5 in increasing order."""
        _, i = self.triangle()
        chosen = np.asarray(r_values[: self.num_r]) > 0.5
        return self.order[i[chosen]].astype(np.int64)


def make_layout(graph: Graph, order: np.ndarray) -> Layout:
    n = graph.n
    order = np.asarray(order, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    src, dst = pos[graph.edges[:, 0]], pos[graph.edges[:, 1]]
    if len(src) and np.any(src >= dst):
        raise ValueError("the order is not topological")
    sort = np.lexsort((src, dst))
    src, dst = src[sort], dst[sort]
    upto = np.searchsorted(dst, np.arange(n), side="left").astype(np.int64)
    free_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(upto, out=free_start[1:])
    return Layout(n=n, order=order, pair_src=src, pair_dst=dst, pairs_upto=upto, free_start=free_start)


@dataclass(frozen=True, eq=False)
class SparseModel:
    """A MILP in HiGHS's terms: minimise cost.x, row_lower <= A x <= row_upper, bounds, integrality."""

    layout: Layout
    col_cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # bool per column
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_start: np.ndarray  # int32 (num_row + 1), CSR
    col_index: np.ndarray  # int32 (num_nz)
    value: np.ndarray  # float64 (num_nz)
    memory_scale: float  # graph memory units per model memory unit
    cost_scale: float  # graph duration units per objective unit
    budget_units: int  # the budget in GCD memory units
    u_upper_units: float  # the bound actually put on U, in GCD memory units
    blocks: dict = field(default_factory=dict)  # row kind -> number of rows

    @property
    def num_col(self) -> int:
        return len(self.col_cost)

    @property
    def num_row(self) -> int:
        return len(self.row_lower)

    @property
    def num_nz(self) -> int:
        return len(self.value)

    def size(self) -> dict[str, int]:
        lay = self.layout
        return {
            "variables": self.num_col,
            "constraints": self.num_row,
            "nonzeros": self.num_nz,
            "binaries": int(self.integer.sum()),
            "R": lay.num_r,
            "S": lay.num_s,
            "FREE": lay.num_free,
            "U": lay.num_r,
        }


class _Rows:
    """Accumulates row blocks given as entries in row-major order."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.count = 0
        self.blocks: dict[str, int] = {}  # rows per kind

    def add(
        self,
        name: str,
        row_of_entry: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
    ) -> None:
        """`row_of_entry` numbers the block's rows from 0; entries are grouped by row."""
        k = len(lower)
        if k == 0:
            return
        self.rows.append((row_of_entry + self.count).astype(np.int64))
        self.cols.append(cols.astype(np.int32))
        self.vals.append(vals.astype(np.float64))
        self.lower.append(np.asarray(lower, dtype=np.float64))
        self.upper.append(np.asarray(upper, dtype=np.float64))
        self.blocks[name] = self.blocks.get(name, 0) + k
        self.count += k

    def finish(self) -> tuple[np.ndarray, ...]:
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)
        self.rows.clear()
        cols = np.concatenate(self.cols) if self.cols else np.zeros(0, np.int32)
        self.cols.clear()
        vals = np.concatenate(self.vals) if self.vals else np.zeros(0)
        self.vals.clear()
        keep = vals != 0
        if not keep.all():
            rows, cols, vals = rows[keep], cols[keep], vals[keep]
        start = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.count), out=start[1:])
        if start[-1] > np.iinfo(np.int32).max:
            raise MemoryError(f"the model has {start[-1]:,} nonzeros, more than a 32-bit index can address")
        lower = np.concatenate(self.lower) if self.lower else np.zeros(0)
        upper = np.concatenate(self.upper) if self.upper else np.zeros(0)
        return start.astype(np.int32), cols, vals, lower, upper


def build_model(
    graph: Graph,
    order: np.ndarray,
    budget_bytes: int,
    *,
    normalize: bool = True,
    hazard: str = "both",
    u_upper_units: float | None = None,
) -> SparseModel:
    """The Checkmate MILP for `graph` with stages along `order` (dense indices, topological)."""
    if hazard not in HAZARDS:
        raise ValueError(f"hazard must be one of {HAZARDS}, not {hazard!r}")
    lay = make_layout(graph, order)
    n = lay.n
    mem_gcd = memory_unit(graph.memory, budget_bytes)
    mem = (graph.memory[lay.order] // mem_gcd).astype(np.float64)  # by position
    budget_units = int(budget_bytes) // mem_gcd
    dur_gcd = gcd(graph.duration)
    dur = (graph.duration[lay.order] // dur_gcd).astype(np.float64)
    mem_div = float(max(budget_units, 1)) if normalize else 1.0
    cost_div = float(max(dur.max(), 1.0)) if normalize else 1.0
    mem = mem / mem_div
    u_upper = float(budget_units if u_upper_units is None else u_upper_units)

    # ---- columns -----------------------------------------------------------------------
    ncol = lay.num_col
    col_cost = np.zeros(ncol)
    col_lower = np.zeros(ncol)
    col_upper = np.ones(ncol)
    integer = np.ones(ncol, dtype=bool)
    rt, ri = lay.triangle()
    col_cost[: lay.num_r] = dur[ri] / cost_div
    col_lower[lay.r(np.arange(n), np.arange(n))] = 1.0  # frontier: stage t computes position t
    col_upper[lay.u0 : lay.f0] = u_upper / mem_div
    integer[lay.u0 : lay.f0] = False

    rows = _Rows()
    ones3 = np.array([1.0, -1.0, -1.0])

    # ---- carry-over: S[t+1,i] - S[t,i] - R[t,i] <= 0 (i < t; i = t is implied by R[t,t] = 1)
    st, si = lay.strict_triangle()
    sel = st <= n - 2
    t, i = st[sel], si[sel]
    k = len(t)
    cols = np.stack([lay.s(t + 1, i), lay.s(t, i), lay.r(t, i)], axis=1).ravel()
    rows.add("carry", np.repeat(np.arange(k), 3), cols, np.tile(ones3, k), np.full(k, -np.inf), np.zeros(k))
    del st, si, sel, t, i, cols

    # ---- dependencies: R[t,v] - R[t,u] - S[t,u] <= 0 for edge u -> v, t >= v
    u_pos, v_pos = lay.pair_src, lay.pair_dst
    reps = n - v_pos
    eu, ev = np.repeat(u_pos, reps), np.repeat(v_pos, reps)
    et = ev + (np.arange(int(reps.sum()), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps))
    k = len(et)
    cols = np.stack([lay.r(et, ev), lay.r(et, eu), lay.s(et, eu)], axis=1).ravel()
    rows.add("dependencies", np.repeat(np.arange(k), 3), cols, np.tile(ones3, k), np.full(k, -np.inf), np.zeros(k))
    del eu, ev, et, cols

    # ---- hazards ---------------------------------------------------------------------------
    if hazard == "clique":
        _hazard_clique(rows, graph, lay)
    else:
        _hazard_checkmate(rows, graph, lay, hazard)

    # ---- memory recurrence ---------------------------------------------------------------
    pair_first = np.searchsorted(lay.pair_dst, np.arange(n + 1), side="left")
    for t in range(n):
        # row U[t,0]: U - sum_i m_i S[t,i] - m_0 R[t,0] = 0
        i = np.arange(t)
        cols0 = np.concatenate([[lay.u(t, 0)], lay.s(t, i), [lay.r(t, 0)]])
        vals0 = np.concatenate([[1.0], -mem[:t], [-mem[0]]])
        # rows U[t,k], k = 1..t: U[t,k] - U[t,k-1] - m_k R[t,k] + sum m_i FREE[t,(i,k-1)] = 0
        k = np.arange(1, t + 1)
        nfree = pair_first[k] - pair_first[k - 1]  # pairs with dst = k-1
        length = 3 + nfree
        start = np.cumsum(length) - length
        total = int(length.sum())
        cols = np.empty(total, dtype=np.int64)
        vals = np.empty(total)
        cols[start], vals[start] = lay.u(t, k), 1.0
        cols[start + 1], vals[start + 1] = lay.u(t, k - 1), -1.0
        cols[start + 2], vals[start + 2] = lay.r(t, k), -mem[k]
        qs = np.arange(int(pair_first[t]))  # pairs with dst <= t-1, grouped by dst
        rank = qs - pair_first[lay.pair_dst[qs]]
        where = start[lay.pair_dst[qs]] + 3 + rank
        cols[where] = lay.f(t, qs)
        vals[where] = mem[lay.pair_src[qs]]
        row_of = np.concatenate([np.zeros(len(cols0), dtype=np.int64), 1 + np.repeat(np.arange(t), length)])
        rows.add(
            "memory",
            row_of,
            np.concatenate([cols0, cols]),
            np.concatenate([vals0, vals]),
            np.zeros(t + 1),
            np.zeros(t + 1),
        )

    start, cols, vals, lower, upper = rows.finish()
    return SparseModel(
        layout=lay,
        col_cost=col_cost,
        col_lower=col_lower,
        col_upper=col_upper,
        integer=integer,
        row_lower=lower,
        row_upper=upper,
        row_start=start,
        col_index=cols,
        value=vals,
        memory_scale=mem_gcd * mem_div,
        cost_scale=dur_gcd * cost_div,
        budget_units=budget_units,
        u_upper_units=u_upper,
        blocks=dict(rows.blocks),
    )


def _hazard_checkmate(rows: _Rows, graph: Graph, lay: Layout, hazard: str) -> None:
    """Checkmate's aggregated hazard rows, per stage (see the module docstring)."""
    n = lay.n
    # later readers of each pair's source: (pair, position j) with j > dst, grouped by pair
    succ_pos_ptr, succ_pos = successor_positions(graph, lay)
    cnt = succ_pos_ptr[lay.pair_src + 1] - succ_pos_ptr[lay.pair_src]
    lu_pair = np.repeat(np.arange(len(lay.pair_src)), cnt)
    lu_pos = succ_pos[
        np.repeat(succ_pos_ptr[lay.pair_src], cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    ]
    later = lu_pos > lay.pair_dst[lu_pair]
    lu_pair, lu_pos = lu_pair[later], lu_pos[later]
    lu_pair_end = np.searchsorted(lu_pair, np.arange(len(lay.pair_src) + 1), side="left")
    for t in range(n):
        p = int(lay.pairs_upto[t])
        if p == 0:
            continue
        q = np.arange(p)
        src, dst = lay.pair_src[:p], lay.pair_dst[:p]
        sel = np.nonzero(lu_pos[: lu_pair_end[p]] <= t)[0]
        jq, jpos = lu_pair[sel], lu_pos[sel]
        nlater = np.bincount(jq, minlength=p)
        has_next = t < n - 1
        fixed = 3 if has_next else 2
        length = fixed + nlater
        start = np.cumsum(length) - length
        total = int(length.sum())
        cols = np.empty(total, dtype=np.int64)
        base = np.empty(total)  # coefficients of the hazard count h (F column gets 0 here)
        cols[start] = lay.f(t, q)
        base[start] = 0.0
        cols[start + 1] = lay.r(t, dst)
        base[start + 1] = -1.0
        if has_next:
            cols[start + 2] = lay.s(t + 1, src)
            base[start + 2] = 1.0
        rank = np.arange(len(jq)) - (np.cumsum(nlater) - nlater)[jq]
        where = start[jq] + fixed + rank
        cols[where] = lay.r(t, jpos)
        base[where] = 1.0
        row_of = np.repeat(q, length)
        kappa = (1 + int(has_next) + nlater).astype(np.float64)
        # kappa * FREE + h' <= kappa - 1, with h = 1 + h' (h' = -R[t,k] + S[t+1,i] + sum R[t,j])
        vals = base.copy()
        vals[start] = kappa
        rows.add("hazard_upper", row_of, cols, vals, np.full(p, -np.inf), kappa - 1.0)
        if hazard == "both":
            # 1 - FREE <= h  <=>  -FREE - h' <= 0
            vals = -base
            vals[start] = -1.0
            rows.add("hazard_lower", row_of, cols, vals, np.full(p, -np.inf), np.zeros(p))


def _hazard_clique(rows: _Rows, graph: Graph, lay: Layout) -> None:
    """The hazard rule as set-packing rows (same integer points, tighter LP), per stage t:
    FREE[t,(i,k)] <= R[t,k];  sum_k FREE[t,(i,k)] + S[t+1,i] <= 1;  and for each reader j of i,
    sum_{k < j} FREE[t,(i,k)] + R[t,j] <= 1 (no release before a reader that runs)."""
    n = lay.n
    npairs = len(lay.pair_src)
    by_src = np.lexsort((lay.pair_dst, lay.pair_src))  # pair ids grouped by source, readers ascending
    # static "reader" rows: for pair ids in by_src order, row (i, m) holds the first m pairs of i
    # and R[t, k_m]; a row belongs to stage t when k_m <= t (then all its pairs have dst < t).
    src_sorted = lay.pair_src[by_src]
    first_of_src = np.searchsorted(src_sorted, src_sorted, side="left")
    m = np.arange(npairs) - first_of_src  # rank of the reader among i's readers
    row_pair = by_src[m > 0]  # each row named by its reader's pair (i, k_m)
    row_len = m[m > 0]
    row_reader = lay.pair_dst[row_pair]
    order_rows = np.argsort(row_reader, kind="stable")
    row_pair, row_len, row_reader = row_pair[order_rows], row_len[order_rows], row_reader[order_rows]
    row_first = first_of_src[_inverse(by_src)[row_pair]]  # where source i's pairs start in by_src
    starts = np.cumsum(row_len) - row_len
    ent_row = np.repeat(np.arange(len(row_len)), row_len)
    ent_pair = by_src[np.repeat(row_first, row_len) + (np.arange(int(row_len.sum())) - np.repeat(starts, row_len))]
    rows_upto = np.searchsorted(row_reader, np.arange(n), side="right")  # rows with reader <= t
    ents_upto = np.concatenate([[0], np.cumsum(row_len)])[rows_upto]
    for t in range(n):
        p = int(lay.pairs_upto[t])
        if p == 0:
            continue
        q = np.arange(p)
        src, dst = lay.pair_src[:p], lay.pair_dst[:p]
        # FREE - R[t,k] <= 0
        cols = np.stack([lay.f(t, q), lay.r(t, dst)], axis=1).ravel()
        rows.add("hazard_reader", np.repeat(q, 2), cols, np.tile([1.0, -1.0], p), np.full(p, -np.inf), np.zeros(p))
        # sum_k FREE[t,(i,k)] + S[t+1,i] <= 1, one row per source with pairs in this stage
        g = np.lexsort((dst, src))
        srcs, first = np.unique(src[g], return_index=True)
        nsrc = len(srcs)
        length = np.diff(np.append(first, p)) + (1 if t < n - 1 else 0)
        start = np.cumsum(length) - length
        cols = np.empty(int(length.sum()), dtype=np.int64)
        rank = np.arange(p) - first[np.searchsorted(srcs, src[g])]
        cols[start[np.searchsorted(srcs, src[g])] + rank] = lay.f(t, g)
        if t < n - 1:
            cols[start + length - 1] = lay.s(t + 1, srcs)
        rows.add(
            "hazard_kept",
            np.repeat(np.arange(nsrc), length),
            cols,
            np.ones(len(cols)),
            np.full(nsrc, -np.inf),
            np.ones(nsrc),
        )
        # sum_{k < j} FREE[t,(i,k)] + R[t,j] <= 1 for readers j <= t
        nr, ne = int(rows_upto[t]), int(ents_upto[t])
        if nr == 0:
            continue
        length = row_len[:nr] + 1
        start = np.cumsum(length) - length
        cols = np.empty(int(length.sum()), dtype=np.int64)
        er = ent_row[:ne]
        cols[start[er] + (np.arange(ne) - np.repeat(np.cumsum(row_len[:nr]) - row_len[:nr], row_len[:nr]))] = lay.f(
            t, ent_pair[:ne]
        )
        cols[start + length - 1] = lay.r(t, row_reader[:nr])
        rows.add(
            "hazard_later",
            np.repeat(np.arange(nr), length),
            cols,
            np.ones(len(cols)),
            np.full(nr, -np.inf),
            np.ones(nr),
        )


def _inverse(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


def successor_positions(graph: Graph, lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """CSR by position: the positions of each position's readers, sorted."""
    n = lay.n
    pos = np.empty(n, dtype=np.int64)
    pos[lay.order] = np.arange(n)
    src, dst = pos[graph.edges[:, 0]], pos[graph.edges[:, 1]]
    sort = np.lexsort((dst, src))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    return ptr, dst[sort]


def stage_memory(graph: Graph, order: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Checkmate's U for integral R, S (dense (n, n) 0/1 by position) with every allowed FREE
    taken: U[t,k] in graph memory units (0 above the diagonal). For tests and diagnostics."""
    lay = make_layout(graph, order)
    n = lay.n
    mem = graph.memory[lay.order].astype(np.int64)
    succ_ptr, succ = successor_positions(graph, lay)
    r = np.asarray(r) > 0.5
    s = np.asarray(s) > 0.5
    out = np.zeros((n, n), dtype=np.int64)
    for t in range(n):
        u = int(mem[:t][s[t, :t]].sum()) + int(mem[0]) * int(r[t, 0])
        out[t, 0] = u
        for k in range(1, t + 1):
            freed = 0
            for q in range(
                int(np.searchsorted(lay.pair_dst, k - 1)), int(np.searchsorted(lay.pair_dst, k - 1, side="right"))
            ):
                i = int(lay.pair_src[q])
                readers = succ[succ_ptr[i] : succ_ptr[i + 1]]
                later = readers[(readers > k - 1) & (readers <= t)]
                kept = t + 1 < n and s[t + 1, i]
                if r[t, k - 1] and not kept and not r[t, later].any():
                    freed += int(mem[i])
            u = u - freed + int(mem[k]) * int(r[t, k])
            out[t, k] = u
    return out


def canonical_s(graph: Graph, order: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The least S that the schedule of R needs: S[t,i] = 1 iff the copy of position i that is
    current when stage t starts is read in stage t or later (before i is recomputed)."""
    lay = make_layout(graph, order)
    n = lay.n
    r = np.asarray(r) > 0.5
    succ_ptr, succ = successor_positions(graph, lay)
    s = np.zeros((n, n), dtype=bool)
    for i in range(n):
        readers = succ[succ_ptr[i] : succ_ptr[i + 1]]
        for t in range(i + 1, n):
            for t2 in range(t, n):
                if r[t2, i]:
                    break  # from here on a newer copy serves the reads
                if r[t2, readers[readers <= t2]].any():
                    s[t, i] = True
                    break
    return s


def r_from_schedule(schedule: np.ndarray, order: np.ndarray) -> np.ndarray | None:
    """R (dense bool by position) of a schedule in Checkmate's stage form along `order`
    (stage t recomputes earlier positions in increasing order, then computes position t
    for the first time); None when the schedule has another form."""
    n = len(order)
    pos = np.empty(n, dtype=np.int64)
    pos[np.asarray(order, dtype=np.int64)] = np.arange(n)
    r = np.zeros((n, n), dtype=bool)
    stage, last = 0, -1
    for k in pos[np.asarray(schedule, dtype=np.int64)].tolist():
        if stage >= n or k <= last or k > stage:
            return None
        r[stage, k] = True
        if k == stage:
            stage, last = stage + 1, -1
        else:
            last = k
    return r if stage == n else None


def prune_unread(graph: Graph, schedule: np.ndarray) -> np.ndarray:
    """The schedule without recomputations whose output nobody reads (repeatedly): no more
    expensive, no read changes, and memory can only drop."""
    from moccasin_bench.simulate import simulate

    s = np.asarray(schedule, dtype=np.int64)
    while True:
        sim = simulate(graph, s)
        first = np.zeros(len(s), dtype=bool)
        first[np.unique(s, return_index=True)[1]] = True
        unread = (sim.live_until == np.arange(len(s))) & ~first
        if not unread.any():
            return s
        s = s[~unread]


def least_checkpoints(graph: Graph, order: np.ndarray, r: np.ndarray) -> np.ndarray:
    """S (dense bool (n + 1, n) by position; row n stays empty) for R: S[t,i] = 1 iff the copy
    of i current when stage t starts is read in stage t or later (fast `canonical_s`)."""
    from moccasin_bench.simulate import simulate

    n = len(order)
    stage_of, i_of = np.nonzero(np.tril(np.asarray(r, dtype=bool)))  # row-major: the steps in order
    sim = simulate(graph, np.asarray(order)[i_of])
    last_stage = stage_of[sim.live_until]
    s = np.zeros((n + 1, n), dtype=bool)
    for t0, t1, i in zip(stage_of.tolist(), last_stage.tolist(), i_of.tolist()):
        if t1 > t0:
            s[t0 + 1 : t1 + 1, i] = True
    return s


def canonical_point(graph: Graph, model: SparseModel, r: np.ndarray) -> np.ndarray:
    """The model's column vector for R (dense bool by position, unit diagonal): the least
    checkpoints its schedule needs (S[t,i] = 1 iff the copy of i current when stage t starts
    is read in stage t or later), every release the rows allow, and the resulting U. When R
    has no recomputation nobody reads, U equals the simulated memory at each computed step."""
    lay = model.layout
    n = lay.n
    r = np.tril(np.asarray(r, dtype=bool))
    s = least_checkpoints(graph, lay.order, r)
    # last reader of i computed in stage t (by position), -1 if none
    last_reader = np.full((n, n), -1, dtype=np.int64)
    for i, k in zip(lay.pair_src.tolist(), lay.pair_dst.tolist()):
        np.maximum(last_reader[:, i], np.where(r[:, k], k, -1), out=last_reader[:, i])
    x = np.zeros(model.num_col)
    rt, ri = lay.triangle()
    x[: lay.num_r] = r[rt, ri]
    st, si = lay.strict_triangle()
    x[lay.s0 : lay.s0 + lay.num_s] = s[st, si]
    ft = np.repeat(np.arange(n), np.diff(lay.free_start))
    fq = np.arange(lay.num_free) - lay.free_start[ft]
    src, dst = lay.pair_src[fq], lay.pair_dst[fq]
    free = (last_reader[ft, src] == dst) & ~s[ft + 1, src]
    x[lay.f0 :] = free
    mem = graph.memory[lay.order].astype(np.float64) / model.memory_scale
    freed = np.zeros((n, n + 1))  # freed[t, k]: released right after step k of stage t
    np.add.at(freed, (ft[free], dst[free]), mem[src[free]])
    u = (
        (s[:n, :] * mem).sum(axis=1)[:, None]
        + np.cumsum(r * mem, axis=1)
        - np.concatenate([np.zeros((n, 1)), np.cumsum(freed[:, : n - 1], axis=1)], axis=1)
    )
    x[lay.u0 : lay.f0] = u[rt, ri]
    return x


def row_violation(model: SparseModel, x: np.ndarray) -> float:
    """The largest amount by which `x` breaks a row or a column bound."""
    row_of = np.repeat(np.arange(model.num_row), np.diff(model.row_start))
    ax = np.bincount(row_of, weights=model.value * x[model.col_index], minlength=model.num_row)
    rows = np.maximum(ax - model.row_upper, model.row_lower - ax)
    cols = np.maximum(x - model.col_upper, model.col_lower - x)
    return float(max(rows.max(initial=0.0), cols.max(initial=0.0)))


def ceil_units(x: float, unit: float, tol: float = 1e-6) -> float:
    """x rounded up to a multiple of `unit`, forgiving `tol` units of floating noise."""
    return math.ceil(x / unit - tol) * unit
