"""Simulated annealing over schedules with recomputation, in the spirit of FastSA
(Imanishi et al., NeurIPS 2023), written from the method's description (docs/annealing.md).

The schedule lives in a row of time slots, some empty, so that a computation can be added,
removed or moved without shifting the others. Moves: add a computation of a node into an
empty slot before one of its readers (after its inputs' first computations), remove a
computation whose readers an earlier copy still serves, move a computation to another slot.
Objective max(budget, peak) x cost: memory is driven under the budget first, then cost
down. The peak is kept by a segment tree over the slots (range add, max), so a move costs
O(degree x log T) instead of a simulation. Geometric cooling within each cycle; each
restart resumes from the best schedule found. The move loop is compiled by numba
(`formulations/_anneal_kernel.py`, which says why).

`order=free` reorders; `order=fixed` keeps the reference order and only adds, removes and
moves recomputations on the stage grid (the fixed-order Moccasin model's grid), so its
schedules can warm-start that model. Deterministic for a seed and `max_moves` (unless the
time limit stops the run first). It claims optimality only for a fitting schedule without
recomputation (no schedule costs less), and stops there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.formulation import BoundScope, Problem, SolverOutput
from moccasin_bench.graph import Graph
from moccasin_bench.params import Param

NAME = "annealing"
LABEL = "Annealing"
KEY_PARAMS = ("order",)
DESCRIPTION = "simulated annealing over slotted schedules (add/remove/move computations; numba): free order or the reference order's stage grid"
STARTS = ("auto", "reference", "heuristics")
PARAMS = (
    Param(
        "order",
        str,
        "free",
        "free: any order (the search reorders); fixed: the reference order's stage grid, recomputations only",
        ("free", "fixed"),
    ),
    Param(
        "max_moves",
        int,
        0,
        "stop after this many proposed moves (0 = run to the time limit); with it set the "
        "schedule does not depend on wall time unless the time limit stops the run first",
    ),
    Param(
        "restarts",
        int,
        3,
        "restarts from the best schedule (cycles = restarts + 1; the temperature falls from "
        "t_start to t_end in each; the first cycle gets 40 % of the moves or time, the others equal shares)",
    ),
    Param(
        "t_start",
        float,
        1.0,
        "temperature at the start of a cycle, in mean node durations (an addition of a "
        "mean-duration node within the budget is accepted with probability e^-1/t)",
    ),
    Param("t_end", float, 0.01, "temperature at the end of a cycle (0 < t_end <= t_start)"),
    Param(
        "heat",
        float,
        4.0,
        "temperatures are multiplied by this while nothing fits (memory moves need more "
        "heat to climb out of a peak than cost moves)",
    ),
    Param("p_add", float, 0.3, "share of proposals that add a computation"),
    Param("p_remove", float, 0.3, "share of proposals that remove one (the rest move one)"),
    Param(
        "memory_weight",
        float,
        1.0,
        "omega: the objective is max(budget, peak)^omega x cost (1 = FastSA's "
        "product); while nothing fits, omega doubles with every new cycle",
    ),
    Param(
        "smooth",
        float,
        1.0,
        "while nothing fits, judge memory by a smooth peak, budget + tau ln(sum of "
        "exp((memory - budget) / tau)) over the steps, tau = this many mean node sizes (0 = the plain peak)",
    ),
    Param(
        "count_weight",
        float,
        0.0,
        "over the budget, at an unchanged peak: cost of one more step at the peak, in "
        "mean node durations (breaks the plateaus of the max)",
    ),
    Param(
        "p_focus",
        float,
        0.0,
        "over the budget: share of proposals aimed at the peak step (recompute or move "
        "a value live across it to after it)",
    ),
    Param("local", float, 0.7, "share of additions and moves that stay near the reader / the current slot"),
    Param("span", int, 0, "reach of a local move: slots (free) or stages (fixed); 0 = automatic"),
    Param("max_computations", int, 0, "at most this many computations per node (0 = up to 64)"),
    Param("slack", int, 4, "free order: slots per computation when the schedule is spread out (>= 2)"),
    Param(
        "start",
        str,
        "auto",
        "reference: the reference order without recomputation; heuristics: the cheapest "
        "fitting schedule of the project's staged heuristics if one fits (slower start); auto: reference, and "
        "staged repair before the last cycle if nothing fits by then",
        STARTS,
    ),
    Param(
        "debug", bool, False, "check the incremental state against a from-scratch computation after every move (slow)"
    ),
)

DEFAULT_MAX_COMPUTATIONS = 64
CHUNK = 1 << 15  # moves per kernel call; the clock is read between calls
FOCUS_TRIES = 16  # random nodes looked at per move aimed at the peak
FIRST_SHARE = 0.4  # share of the moves (or time) of the first cycle, which also brings memory under the budget
RESCUE_SHARE = 0.15  # at most this share of the time limit for the staged-repair rescue


def validate(p) -> None:
    """Raise UserError (one line) for a parameter out of range."""

    def bad(name: str, rule: str) -> None:
        raise UserError(f"parameter {name!r} of formulation 'annealing' must be {rule}, got {p[name]!r}")

    if p["max_moves"] < 0:
        bad("max_moves", ">= 0")
    if p["restarts"] < 0:
        bad("restarts", ">= 0")
    for name in ("t_start", "t_end", "heat"):
        if not (math.isfinite(p[name]) and p[name] > 0):
            bad(name, "a number > 0")
    if p["t_end"] > p["t_start"]:
        raise UserError(
            f"parameter 't_end' of formulation 'annealing' must be <= t_start ({p['t_start']!r}), got {p['t_end']!r}"
        )
    if not (math.isfinite(p["memory_weight"]) and p["memory_weight"] > 0):
        bad("memory_weight", "a number > 0")
    if not (math.isfinite(p["smooth"]) and p["smooth"] >= 0):
        bad("smooth", "a number >= 0")
    if not (math.isfinite(p["count_weight"]) and p["count_weight"] >= 0):
        bad("count_weight", "a number >= 0")
    for name in ("p_add", "p_remove", "local", "p_focus"):
        if not (0.0 <= p[name] <= 1.0):
            bad(name, "in [0, 1]")
    if p["p_add"] + p["p_remove"] > 1.0 + 1e-12:
        raise UserError(
            f"parameters 'p_add' + 'p_remove' of formulation 'annealing' must be <= 1, got {p['p_add'] + p['p_remove']!r}"
        )
    if p["span"] < 0:
        bad("span", ">= 0")
    if p["max_computations"] < 0:
        bad("max_computations", f">= 0 (0 = up to {DEFAULT_MAX_COMPUTATIONS})")
    if p["slack"] < 2:
        bad("slack", ">= 2")


def check(params: Mapping[str, Any], graph: Graph) -> None:
    """Parameter ranges, checked when a run is planned (so `solve` and `sweep --dry-run` refuse them)."""
    validate(params)


# ---- the search state -------------------------------------------------------------------------------


def _pow2_above(x: int) -> int:
    size = 1
    while size < x + 1:
        size *= 2
    return size


@dataclass
class Search:
    """Arrays of one annealing run (see `_anneal_kernel` for what each holds)."""

    graph: Graph
    budget: int
    fixed: bool
    K: int
    slack: int
    order: np.ndarray | None  # fixed order: the reference order
    pos: np.ndarray  # fixed order: position of each node in `order` (zeros in free order)
    add_nodes: np.ndarray  # nodes with readers (the ones an addition can help)
    slot: np.ndarray = None
    copies: np.ndarray = None
    ends: np.ndarray = None
    cnt: np.ndarray = None
    tr: np.ndarray = None
    lz: np.ndarray = None
    sx: np.ndarray = None  # smooth-peak tree (sums of exp((memory - budget) / tau)) and its lazy factors
    mx: np.ndarray = None
    sf: np.ndarray = None  # 0 smooth peak in use, 1 1/tau, 2 budget
    multi: np.ndarray = None
    mpos: np.ndarray = None
    sc: np.ndarray = None
    bcopies: np.ndarray = None
    bcnt: np.ndarray = None
    bsc: np.ndarray = None
    cn: np.ndarray = None

    @classmethod
    def create(cls, graph: Graph, budget: int, fixed: bool, K: int, slack: int, order: np.ndarray | None) -> Search:
        from formulations import _anneal_kernel as ak

        n = graph.n
        pos = np.zeros(n, dtype=np.int64)
        if fixed:
            pos[order] = np.arange(n, dtype=np.int64)
        s = cls(
            graph=graph,
            budget=int(budget),
            fixed=fixed,
            K=K,
            slack=slack,
            order=order,
            pos=pos,
            add_nodes=np.nonzero(graph.out_degree > 0)[0].astype(np.int64),
        )
        # one column more than K: a move inserts the new copy before it deletes the old one
        s.copies = np.zeros((n, K + 1), dtype=np.int64)
        s.ends = np.zeros((n, K + 1), dtype=np.int64)
        s.cnt = np.zeros(n, dtype=np.int64)
        s.multi = np.zeros(n, dtype=np.int64)
        s.mpos = np.full(n, -1, dtype=np.int64)
        s.sc = np.zeros(8, dtype=np.int64)
        s.sc[4], s.sc[5], s.sc[6], s.sc[7] = int(budget), K, int(fixed), n
        s.bcopies = np.zeros((n, K + 1), dtype=np.int64)
        s.bcnt = np.zeros(n, dtype=np.int64)
        s.bsc = np.array([0, 0, 0, np.iinfo(np.int64).max], dtype=np.int64)
        s.cn = np.zeros(ak.N_COUNTERS, dtype=np.int64)
        s.sf = np.array([0.0, 1.0, float(budget)], dtype=np.float64)
        if fixed:
            s._allocate(n * (n + 1) // 2)
        return s

    def _allocate(self, T: int) -> None:
        size = _pow2_above(T)
        if self.tr is None or len(self.tr) < 2 * size:
            self.tr = np.zeros(2 * size, dtype=np.int64)
            self.lz = np.zeros(2 * size, dtype=np.int64)
            self.sx = np.zeros(2 * size, dtype=np.float64)
            self.mx = np.ones(2 * size, dtype=np.float64)
            self.slot = np.full(size, -1, dtype=np.int64)
            self.sc[3] = size
        self.sc[2] = T

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
        g = self.graph
        code = ak.build(
            s,
            slots,
            g.pred_ptr,
            g.pred_idx,
            g.succ_ptr,
            g.succ_idx,
            g.memory,
            g.duration,
            self.slot,
            self.copies,
            self.ends,
            self.cnt,
            self.tr,
            self.lz,
            self.multi,
            self.mpos,
            self.sc,
        )
        if code != 0:
            raise ValueError(f"cannot load the schedule (code {code})")
        if self.sf[0]:
            self.smooth(True)

    def smooth(self, on: bool, tau: float | None = None) -> None:
        """Use (and rebuild) the smooth-peak tree, or stop maintaining it."""
        from formulations import _anneal_kernel as ak

        if tau is not None:
            self.sf[1] = 1.0 / tau
        self.sf[0] = float(on)
        if on:
            ak.soft_build(self.tr, self.lz, self.sc[3], self.slot, self.sx, self.mx, self.sf)

    def schedule(self, best: bool = False) -> np.ndarray:
        """The current (or the best fitting) schedule as dense node indices."""
        copies, cnt = (self.bcopies, self.bcnt) if best else (self.copies, self.cnt)
        nodes = np.repeat(np.arange(self.graph.n, dtype=np.int64), cnt)
        mask = np.arange(self.K + 1)[None, :] < cnt[:, None]
        slots = copies[mask]  # row-major: node by node, copies in order, like `nodes`
        return nodes[np.argsort(slots, kind="stable")]

    @property
    def peak(self) -> int:
        return int(self.tr[1])

    @property
    def cost(self) -> int:
        return int(self.sc[0])

    def respread(self) -> None:
        """Free order: lay the schedule out again with even gaps (objective unchanged)."""
        if not self.fixed:
            self.load(self.schedule())

    def check(self) -> int:
        from formulations import _anneal_kernel as ak

        g = self.graph
        return int(
            ak.check(
                g.pred_ptr,
                g.pred_idx,
                g.succ_ptr,
                g.succ_idx,
                g.memory,
                g.duration,
                self.slot,
                self.copies,
                self.ends,
                self.cnt,
                self.tr,
                self.lz,
                self.sx,
                self.sf,
                self.sc,
            )
        )

    def run(self, moves: int, temp_first: float, temp_last: float, fp: np.ndarray, ip: np.ndarray) -> None:
        from formulations import _anneal_kernel as ak

        g = self.graph
        ak.anneal(
            moves,
            temp_first,
            temp_last,
            fp,
            ip,
            self.pos,
            self.add_nodes,
            g.pred_ptr,
            g.pred_idx,
            g.succ_ptr,
            g.succ_idx,
            g.memory,
            g.duration,
            self.slot,
            self.copies,
            self.ends,
            self.cnt,
            self.tr,
            self.lz,
            self.sx,
            self.mx,
            self.sf,
            self.multi,
            self.mpos,
            self.sc,
            self.bcopies,
            self.bcnt,
            self.bsc,
            self.cn,
        )


# ---- start schedules --------------------------------------------------------------------------------


def start_schedules(
    graph: Graph, budget: int, order: np.ndarray, which: str, max_computations: int, deadline: float, fixed: bool
) -> list[tuple[str, np.ndarray]]:
    """Candidate start schedules: the reference order without recomputation; with
    which=heuristics also the project's staged schedules that fit (along the reference order
    in fixed mode, along every reference order and a reordered one in free mode)."""
    from formulations import _warm_start as heuristics

    out = [("no-recompute@reference", np.asarray(order, dtype=np.int64))]
    if which == "heuristics":
        out += heuristics.fitting_schedules(
            graph,
            budget,
            order=order if fixed else None,
            max_computations=max_computations,
            strategies=("no-recompute", "staged-greedy", "staged-repair"),
            deadline=deadline,
        )
    return out


def _pick_start(graph: Graph, budget: int, candidates: list[tuple[str, np.ndarray]], cap: int):
    """The cheapest candidate that fits, else the one with the lowest peak."""
    from moccasin_bench.simulate import simulate

    best = None
    for name, s in candidates:
        if np.any(np.bincount(s, minlength=graph.n) > cap):
            continue
        sim = simulate(graph, s)
        if not sim.valid:
            continue
        key = (0, sim.total_duration) if sim.peak_memory <= budget else (1, sim.peak_memory)
        if best is None or key < best[0]:
            best = (key, name, s, sim)
    return best


# ---- the formulation --------------------------------------------------------------------------------


def solve(problem: Problem) -> SolverOutput:
    p = problem.params
    validate(p)
    g, budget = problem.graph, int(problem.budget.bytes)
    limit = float(problem.time_limit_seconds)
    fixed = p["order"] == "fixed"
    max_moves = int(p["max_moves"])
    K = int(p["max_computations"]) or DEFAULT_MAX_COMPUTATIONS
    variant: dict = {
        "order": p["order"],
        "max_computations": K,
        "restarts": int(p["restarts"]),
        "t_start": p["t_start"],
        "t_end": p["t_end"],
        "heat": p["heat"],
        "p_add": p["p_add"],
        "p_remove": p["p_remove"],
        "memory_weight": p["memory_weight"],
        "smooth": p["smooth"],
        "count_weight": p["count_weight"],
        "p_focus": p["p_focus"],
        "local": p["local"],
        "start": p["start"],
        "seed": problem.seed,
        "max_moves": max_moves,
    }
    from moccasin_bench.orders import default_order_name, reference_order

    order_name = problem.reference_order_name
    if order_name == "default":
        order_name = default_order_name(g)
    order = np.asarray(reference_order(g, order_name), dtype=np.int64)
    if fixed:
        variant["order_followed"] = order_name
        restrictions = f"fixed order along the {order_name} order (stage grid), at most {K} computations per node; heuristic search: optimal only without recomputation"
    else:
        restrictions = (
            f"free order, at most {K} computations per node; heuristic search: optimal only without recomputation"
        )
    # exact int64 costs: the largest schedule's cost must fit
    if g.sum_duration > 0 and int(g.duration.max()) * K * g.n >= (1 << 62):
        return SolverOutput(
            status="error",
            variant=variant,
            restrictions=restrictions,
            message="durations too large for exact 64-bit costs with this many computations per node",
        )

    # ---- start ------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    candidates = start_schedules(
        g, budget, order, p["start"], K, deadline=problem.started_at + 0.2 * limit, fixed=fixed
    )
    chosen = _pick_start(g, budget, candidates, K)
    if chosen is None:
        return SolverOutput(
            status="error", variant=variant, restrictions=restrictions, message="no valid start schedule"
        )
    (_, start_name, start, start_sim) = chosen
    variant["start_schedule"] = {"name": start_name, "cost": start_sim.total_duration, "peak": start_sim.peak_memory}

    t_import = time.perf_counter()
    from formulations import _anneal_kernel as ak

    search = Search.create(g, budget, fixed, K, int(p["slack"]), order if fixed else None)
    search.load(start)
    import_seconds = time.perf_counter() - t_import
    trajectory: list[tuple[float, float]] = []
    if start_sim.peak_memory <= budget:
        ak.snapshot(search.copies, search.cnt, search.bcopies, search.bcnt, g.n)
        search.bsc[:3] = (1, start_sim.total_duration, start_sim.peak_memory)
        trajectory.append((problem.elapsed(), float(start_sim.total_duration)))
        problem.notify(float(start_sim.total_duration))
    search.bsc[3] = start_sim.peak_memory

    mean = g.sum_duration / g.n if g.sum_duration > 0 else 1.0
    span = int(p["span"]) or (8 if fixed else 3 * int(p["slack"]))
    fp = np.array(
        [p["p_add"], p["p_remove"], mean, p["local"], p["memory_weight"], p["count_weight"], p["p_focus"]],
        dtype=np.float64,
    )
    ip = np.array([span, int(p["debug"]), FOCUS_TRIES], dtype=np.int64)
    variant["span"] = span
    sizes = g.memory[g.memory > 0]
    tau = max(
        float(p["smooth"]) * (float(sizes.mean()) if len(sizes) else 1.0), (start_sim.peak_memory - budget) / 500.0, 1.0
    )  # exp((memory - budget) / tau) stays in float range
    search.sf[1] = 1.0 / tau
    if p["smooth"] > 0:
        variant["smooth_tau"] = round(tau, 3)

    # compile (or load from the cache) with a zero-move call: its time is reported apart
    t_jit = time.perf_counter()
    ak.seed(int(problem.seed) & 0xFFFFFFFF)
    search.run(0, 1.0, 1.0, fp, ip)
    jit_seconds = time.perf_counter() - t_jit
    variant["jit_seconds"] = round(jit_seconds + import_seconds, 3)
    build_seconds = time.perf_counter() - t0

    # ---- anneal ------------------------------------------------------------------------------------------
    # Chunks of at most CHUNK moves; the clock is read between chunks. Progress x runs from 0 to 1
    # over the moves (max_moves) or over the time left; the first cycle, which has to bring memory
    # under the budget, gets FIRST_SHARE of it, the others equal shares. With max_moves, chunks are
    # cut at fixed move counts, so the schedule does not depend on wall time (unless the time limit
    # stops the run first); without it, the temperature follows the clock.
    cycles = int(p["restarts"]) + 1
    edges = cycle_edges(cycles)
    t_start, t_end = float(p["t_start"]), float(p["t_end"])
    ratio = t_end / t_start
    done = 0  # moves proposed so far
    cycle = 0
    bounds = [int(round(e * max_moves)) for e in edges] if max_moves else None  # cycle edges in moves
    stopped_by = "moves"
    rate = None  # moves per second, measured
    anchor = None  # best schedule over budget (restart point while nothing fits): (log objective, schedule)
    t_solve = time.perf_counter()
    anneal_begin = problem.elapsed()
    span_seconds = max(1e-9, limit - anneal_begin)
    last_best = int(search.bsc[1]) if search.bsc[0] else None
    rescued = False

    def where(x: float) -> tuple[int, float]:
        """Cycle index and progress within it at overall progress x."""
        k = min(cycles - 1, int(np.searchsorted(edges, x, side="right")) - 1)
        return k, min(1.0, (x - edges[k]) / (edges[k + 1] - edges[k]))

    while max_moves == 0 or done < max_moves:
        if search.bsc[0] and int(search.bsc[1]) == g.sum_duration:
            stopped_by = "optimal"  # fits without recomputation: no schedule costs less
            break
        now = problem.elapsed()
        if now >= limit or (max_moves and rate is not None and now + min(CHUNK, max_moves - done) / rate > limit):
            stopped_by = "time"
            break
        if max_moves:
            k = int(np.searchsorted(bounds, done, side="right")) - 1
            step = min(CHUNK, bounds[k + 1] - done)
            frac_a = (done - bounds[k]) / (bounds[k + 1] - bounds[k])
            frac_b = (done + step - bounds[k]) / (bounds[k + 1] - bounds[k])
        else:
            k, frac_a = where((now - anneal_begin) / span_seconds)
            step = CHUNK if rate is None else max(1, min(CHUNK, int((limit - now) * rate)))
            frac_b = frac_a if rate is None else where((now + step / rate - anneal_begin) / span_seconds)[1]
            if rate is not None and where((now + step / rate - anneal_begin) / span_seconds)[0] != k:
                frac_b = 1.0
        if k > cycle:  # next cycle: restart from the best schedule
            cycle = k
            if not search.bsc[0] and p["start"] == "auto" and not rescued and cycle == cycles - 1:
                rescued = True  # nothing fits before the last cycle: staged repair, and go on from its schedule
                left = limit - problem.elapsed()
                variant["rescue"] = _rescue(
                    search,
                    g,
                    budget,
                    order,
                    fixed,
                    anchor,
                    K,
                    deadline=time.perf_counter() + min(RESCUE_SHARE * limit, 0.3 * left),
                    problem=problem,
                    trajectory=trajectory,
                )
                last_best = int(search.bsc[1]) if search.bsc[0] else None
            _restart(search, anchor)
            if not search.bsc[0]:
                anchor = None  # judged again with the new memory weight
        # over budget with nothing fitting yet, memory weighs double in every new cycle
        fp[4] = p["memory_weight"] * (1.0 if search.bsc[0] else 2.0**cycle)
        search.smooth(p["smooth"] > 0 and not search.bsc[0])  # rebuilt every chunk while in use (no drift)
        c0 = time.perf_counter()
        heat = 1.0 if search.bsc[0] else float(p["heat"])  # hotter while nothing fits
        search.run(step, heat * t_start * ratio**frac_a, heat * t_start * ratio**frac_b, fp, ip)
        seconds = time.perf_counter() - c0
        done += step
        if seconds > 0:
            rate = step / seconds if rate is None else 0.7 * rate + 0.3 * step / seconds
        if search.bsc[0] and (last_best is None or search.bsc[1] < last_best):
            last_best = int(search.bsc[1])
            trajectory.append((problem.elapsed(), float(last_best)))
            problem.notify(float(last_best))
        if not search.bsc[0]:
            f = fp[4] * math.log(max(budget, search.peak, 1)) + math.log(search.cost + 1.0)
            if anchor is None or f < anchor[0]:
                anchor = (f, search.schedule())
        search.respread()
    solve_seconds = time.perf_counter() - t_solve

    cn = search.cn
    variant.update(
        {
            "moves_proposed": int(cn[ak.C_PROPOSED]),
            "moves_decided": int(cn[ak.C_DECIDED]),
            "moves_applied": int(cn[ak.C_APPLIED]),
            "moves_accepted": int(cn[ak.C_ACCEPTED]),
            "accepted_add_remove_move": [int(x) for x in cn[ak.C_ACCEPTED_KIND : ak.C_ACCEPTED_KIND + 3]],
            "best_improvements": int(cn[ak.C_IMPROVED]),
            "cycles": cycle + 1,
            "stopped_by": stopped_by,
            "moves_per_second": round(done / solve_seconds) if solve_seconds > 0 else None,
            "least_peak": int(search.bsc[3]),
        }
    )
    if p["debug"]:
        variant["debug_failures"] = int(cn[ak.C_DEBUG_FAILURES])
    common = dict(
        trajectory=tuple(trajectory),
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        variant=variant,
        restrictions=restrictions,
        model_size={"slots": int(search.sc[2]), "nodes": g.n},
        staged_order=order_name if fixed else None,  # the fixed order's stage grid: its bounds cover these
    )
    if not search.bsc[0]:
        return SolverOutput(
            status="no_solution",
            message=f"no schedule within the budget {budget:,}; the smallest peak "
            f"reached was {int(search.bsc[3]):,} ({100.0 * int(search.bsc[3]) / max(budget, 1):.2f} % of the budget)",
            **common,
        )
    schedule = search.schedule(best=True)
    cost = int(g.duration[schedule].sum())
    if cost == g.sum_duration:
        return SolverOutput(
            status="optimal",
            schedule=schedule,
            objective=float(cost),
            best_bound=float(cost),
            bound_scope=BoundScope(),  # every schedule computes each node at least once
            message="no recomputation: optimal among all schedules (each computes every node at least once)",
            **common,
        )
    return SolverOutput(status="feasible", schedule=schedule, objective=float(cost), **common)


def _rescue(
    search: Search,
    g: Graph,
    budget: int,
    order: np.ndarray,
    fixed: bool,
    anchor,
    K: int,
    deadline: float,
    problem: Problem,
    trajectory: list,
) -> dict:
    """Staged repair (formulations/_checkpointing.py) until `deadline` (perf_counter), along
    the reference order and, in free order, along the order of first computations of the
    best schedule over budget the search found; the cheapest fitting schedule becomes the
    best one found (the search goes on from it)."""
    from formulations import _anneal_kernel as ak
    from formulations._checkpointing import staged_repair
    from moccasin_bench.simulate import simulate

    t0 = time.perf_counter()
    orders = [("reference", order)]
    if not fixed and anchor is not None:
        s = anchor[1]
        first = np.zeros(g.n, dtype=bool)
        keep = np.zeros(len(s), dtype=bool)
        for j, v in enumerate(s.tolist()):  # first computation of each node, in schedule order
            if not first[v]:
                first[v] = keep[j] = True
        orders.insert(0, ("search", s[keep]))
    best = None
    tried = []
    for name, o in orders:
        if time.perf_counter() > deadline:
            break
        r = staged_repair(g, o, budget, K, deadline=deadline, cleanup=False)
        sim = simulate(g, r.schedule)
        fits = sim.fits(budget) and np.bincount(r.schedule, minlength=g.n).max() <= K
        tried.append(name)
        if fits and (best is None or sim.total_duration < best[2]):
            best = (name, r.schedule, sim.total_duration)
    out = {"seconds": round(time.perf_counter() - t0, 3), "orders": tried, "fits": best is not None}
    if best is not None:
        search.load(best[1])  # the caller restarts from the best schedule: this one
        ak.snapshot(search.copies, search.cnt, search.bcopies, search.bcnt, g.n)
        search.bsc[:3] = (1, search.cost, search.peak)
        search.bsc[3] = min(int(search.bsc[3]), search.peak)
        out.update({"order": best[0], "cost": int(search.bsc[1])})
        trajectory.append((problem.elapsed(), float(search.bsc[1])))
        problem.notify(float(search.bsc[1]))
    return out


def cycle_edges(cycles: int) -> np.ndarray:
    """Where each cycle starts, as a share of the run (FIRST_SHARE for the first of several)."""
    if cycles == 1:
        return np.array([0.0, 1.0])
    return np.concatenate(([0.0], FIRST_SHARE + (1.0 - FIRST_SHARE) * np.arange(cycles) / (cycles - 1)))


def _restart(search: Search, anchor) -> None:
    """Resume from the best fitting schedule (or, while none fits, the best one over budget)."""
    if search.bsc[0]:
        search.load(search.schedule(best=True))
    elif anchor is not None:
        search.load(anchor[1])
