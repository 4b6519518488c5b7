"""The state of one annealing run: the kernel's arrays (`_anneal_kernel` says what each holds),
how a schedule is loaded into them and read back, and the calls into the compiled kernels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moccasin_bench.graph import Graph


def pow2_above(x: int) -> int:
    """The least power of two > x (leaves of a segment tree over x slots)."""
    size = 1
    while size < x + 1:
        size *= 2
    return size


def moves(**values) -> tuple:
    """The kernel's move parameters (`_anneal_kernel.Moves`), each coerced to its one type so
    that every call runs the same compiled code."""
    from formulations import _anneal_kernel as ak

    return ak.Moves(*(kind(values[name]) for name, kind in zip(ak.Moves._fields, ak.MOVES_TYPES, strict=True)))


@dataclass
class Search:
    """Arrays of one annealing run, grouped as the kernel takes them."""

    graph: Graph
    fixed: bool
    K: int
    slack: int
    order: np.ndarray | None  # fixed order: the reference order
    dag: tuple  # _anneal_kernel.Dag
    picks: tuple  # _anneal_kernel.Picks
    state: tuple  # _anneal_kernel.State
    trees: tuple  # _anneal_kernel.Peak
    best: tuple  # _anneal_kernel.Best
    cn: np.ndarray  # counters (_anneal_kernel.C_*)

    @classmethod
    def create(cls, graph: Graph, budget: int, fixed: bool, K: int, slack: int, order: np.ndarray | None) -> Search:
        from formulations import _anneal_kernel as ak

        n = graph.n
        pos = np.zeros(n, dtype=np.int64)
        if fixed:
            pos[order] = np.arange(n, dtype=np.int64)
        dag = ak.Dag(
            graph.pred_ptr,
            graph.pred_idx,
            graph.succ_ptr,
            graph.succ_idx,
            graph.memory,
            graph.duration,
        )
        picks = ak.Picks(np.nonzero(graph.out_degree > 0)[0].astype(np.int64), pos)
        sc = np.zeros(ak.N_SCALARS, dtype=np.int64)
        sc[ak.S_BUDGET], sc[ak.S_K], sc[ak.S_FIXED], sc[ak.S_N] = int(budget), K, int(fixed), n
        # one column more than K: a move inserts the new copy before it deletes the old one
        state = ak.State(
            slot=np.full(1, -1, dtype=np.int64),  # sized by _allocate
            copies=np.zeros((n, K + 1), dtype=np.int64),
            ends=np.zeros((n, K + 1), dtype=np.int64),
            cnt=np.zeros(n, dtype=np.int64),
            multi=np.zeros(n, dtype=np.int64),
            mpos=np.full(n, -1, dtype=np.int64),
            sc=sc,
        )
        sf = np.zeros(ak.N_SMOOTH, dtype=np.float64)
        sf[ak.F_INV_TAU], sf[ak.F_BUDGET] = 1.0, float(budget)
        empty = np.zeros(0, dtype=np.int64)
        trees = ak.Peak(empty, empty, np.zeros(0), np.zeros(0), sf)
        bsc = np.zeros(ak.N_BEST, dtype=np.int64)
        bsc[ak.B_LEAST_PEAK] = np.iinfo(np.int64).max
        best = ak.Best(np.zeros((n, K + 1), dtype=np.int64), np.zeros(n, dtype=np.int64), bsc)
        s = cls(graph, fixed, K, slack, order, dag, picks, state, trees, best, np.zeros(ak.N_COUNTERS, dtype=np.int64))
        if fixed:
            s._allocate(n * (n + 1) // 2)
        return s

    def _allocate(self, T: int) -> None:
        """Slots and trees for T slots (kept when large enough: free order grows T as the schedule grows)."""
        from formulations import _anneal_kernel as ak

        size = pow2_above(T)
        if len(self.trees.tr) < 2 * size:
            self.trees = self.trees._replace(
                tr=np.zeros(2 * size, dtype=np.int64),
                lz=np.zeros(2 * size, dtype=np.int64),
                sx=np.zeros(2 * size, dtype=np.float64),
                mx=np.ones(2 * size, dtype=np.float64),
            )
            self.state = self.state._replace(slot=np.full(size, -1, dtype=np.int64))
            self.sc[ak.S_SIZE] = size
        self.sc[ak.S_SLOTS] = T

    @property
    def sc(self) -> np.ndarray:
        return self.state.sc

    @property
    def bsc(self) -> np.ndarray:
        return self.best.bsc

    def load(self, schedule: np.ndarray) -> None:
        """Load a valid schedule (dense indices): spread out over the slots (free order) or on
        the stage grid (fixed order)."""
        from formulations import _anneal_kernel as ak
        from formulations._stage_grid import grid_positions, stage_event

        s = np.asarray(schedule, dtype=np.int64)
        L = len(s)
        if self.fixed:
            found = grid_positions(s, self.order)
            if found is None:
                raise ValueError("schedule is not on the stage grid of the reference order")
            slots = stage_event(*found).astype(np.int64)
        else:
            T = max(self.slack * L, 2)
            self._allocate(T)
            slots = ((np.arange(L, dtype=np.int64) * 2 + 1) * T) // (2 * L)
        code = ak.build(s, slots, self.dag, self.state, self.trees)
        if code != 0:
            raise ValueError(f"cannot load the schedule (code {code})")
        if self.trees.sf[ak.F_ON]:
            self.smooth(True)

    def smooth(self, on: bool, tau: float | None = None) -> None:
        """Use (and rebuild) the smooth-peak tree, or stop maintaining it."""
        from formulations import _anneal_kernel as ak

        sf = self.trees.sf
        if tau is not None:
            sf[ak.F_INV_TAU] = 1.0 / tau
        sf[ak.F_ON] = float(on)
        if on:
            ak.soft_build(self.trees, self.sc[ak.S_SIZE], self.state.slot)

    def schedule(self, best: bool = False) -> np.ndarray:
        """The current (or the best fitting) schedule as dense node indices."""
        copies, cnt = (self.best.copies, self.best.cnt) if best else (self.state.copies, self.state.cnt)
        nodes = np.repeat(np.arange(self.graph.n, dtype=np.int64), cnt)
        mask = np.arange(self.K + 1)[None, :] < cnt[:, None]
        slots = copies[mask]  # row-major: node by node, copies in order, like `nodes`
        return nodes[np.argsort(slots, kind="stable")]

    @property
    def peak(self) -> int:
        return int(self.trees.tr[1])

    @property
    def cost(self) -> int:
        from formulations import _anneal_kernel as ak

        return int(self.sc[ak.S_COST])

    @property
    def found(self) -> bool:
        """Whether a schedule within the budget was seen."""
        from formulations import _anneal_kernel as ak

        return bool(self.bsc[ak.B_FOUND])

    @property
    def best_cost(self) -> int | None:
        from formulations import _anneal_kernel as ak

        return int(self.bsc[ak.B_COST]) if self.found else None

    @property
    def least_peak(self) -> int:
        from formulations import _anneal_kernel as ak

        return int(self.bsc[ak.B_LEAST_PEAK])

    def keep_as_best(self, cost: int, peak: int) -> None:
        """Record the current schedule (cost, peak within the budget) as the best one found."""
        from formulations import _anneal_kernel as ak

        ak.snapshot(self.state, self.best)
        self.bsc[ak.B_FOUND], self.bsc[ak.B_COST], self.bsc[ak.B_PEAK] = 1, cost, peak
        self.note_peak(peak)

    def note_peak(self, peak: int) -> None:
        from formulations import _anneal_kernel as ak

        self.bsc[ak.B_LEAST_PEAK] = min(int(self.bsc[ak.B_LEAST_PEAK]), peak)

    def respread(self) -> None:
        """Free order: lay the schedule out again with even gaps (objective unchanged)."""
        if not self.fixed:
            self.load(self.schedule())

    def check(self) -> int:
        """0 when the incremental state equals a from-scratch computation, else the kernel's code."""
        from formulations import _anneal_kernel as ak

        return int(ak.check(self.dag, self.state, self.trees))

    def run(self, moves: int, temp_first: float, temp_last: float, mv: tuple) -> None:
        """`moves` annealing moves (`_anneal_kernel.anneal`), mv from `moves(...)`."""
        from formulations import _anneal_kernel as ak

        ak.anneal(moves, temp_first, temp_last, mv, self.dag, self.picks, self.state, self.trees, self.best, self.cn)
