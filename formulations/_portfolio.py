"""The start portfolio of the solver formulations: the best schedule the harness's fast methods find
in a share of the limit, for a model to start from.

Members, in turn, each with a slice of the share and each judged by the simulator: the user's initial
schedule, the staged heuristics along the model's order (which also give the closest miss for a
first phase), every heuristic (`heuristic`, strategy best), PyTorch's own rematerialisation where the
graph comes from PyTorch (`torch-partitioner`, `torch-checkpoint`), and the annealer started from the
cheapest schedule found so far. Members run through the engine (moccasin_bench.judge) like any run, so
a member that fails or is not installed costs its slice and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from moccasin_bench.formulation import Problem
from moccasin_bench.simulate import simulate

# Share of the portfolio's time each member may use (of what is left when it starts); the annealer,
# started from the best schedule found before it, takes the rest.
SLICES = {"staged": 0.1, "heuristic": 0.3, "torch-checkpoint": 0.3, "torch-partitioner": 0.5}
# PyTorch's baselines join only when the portfolio has this many seconds: one trace of a catalogue model
# takes 10-30 s and cannot be cut short (pt-resnet50: 31 s for the partitioner's first knob setting).
TORCH_MEMBERS_SECONDS = 60.0
TORCH_MEMBERS = ("torch-checkpoint", "torch-partitioner")
# No member runs longer than this many seconds per node (plus half a second): on a small graph the model
# proves in moments what the annealer would search its whole slice for (n = 6: 3.5 s; n = 30: 15.5 s).
MEMBER_SECONDS_PER_NODE = 0.5
# The annealer's share of what is left when it runs before other members (tight budgets, see below)
ANNEALER_FIRST = 0.7
# Seconds per node left for building the model after a tight budget's long annealer run (random layered
# n = 10,000, fixed order: 183 s to build on a loaded machine, 361,275 variables)
MODEL_SECONDS_PER_NODE = 0.01


@dataclass(frozen=True)
class Start:
    """One fitting schedule: who found it, its cost (Σ durations) and when (seconds since the run began)."""

    name: str
    schedule: np.ndarray
    cost: int
    found_at_seconds: float


@dataclass
class Portfolio:
    """Fitting starts (cheapest first), the closest miss (name, schedule) and what each member did."""

    starts: list[Start] = field(default_factory=list)
    closest: tuple[str, np.ndarray] | None = None
    members: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, problem: Problem, name: str, schedule, cap: np.ndarray | None) -> Start | None:
        """Keep `schedule` when it is valid, fits the budget and computes no node more than `cap` allows."""
        s = np.asarray(schedule, dtype=np.int64)
        if cap is not None and np.any(np.bincount(s, minlength=problem.graph.n) > cap):
            return None
        sim = simulate(problem.graph, s)
        if not sim.fits(problem.budget.bytes):
            return None
        start = Start(name, s, int(sim.total_duration), round(problem.elapsed(), 3))
        self.starts.append(start)
        self.starts.sort(key=lambda x: (x.cost, len(x.schedule)))
        return start

    @property
    def best(self) -> Start | None:
        return self.starts[0] if self.starts else None


def _member(problem: Problem, formulation: str, params: dict, seconds: float, initial=None):
    """Run another formulation through the engine for `seconds` (1 thread, the run's seed)."""
    from moccasin_bench.judge import solve_in_process

    return solve_in_process(
        problem.graph,
        problem.budget,
        formulation,
        params,
        time_limit_seconds=max(0.5, seconds),
        threads=1,
        seed=problem.seed,
        reference_order_name=problem.reference_order_name,
        initial=None if initial is None else problem.graph.to_ids(initial),
    )


def run_portfolio(
    problem: Problem,
    order: np.ndarray | None,
    copies: np.ndarray,
    share: float,
    initial: np.ndarray | None = None,
    members: tuple[str, ...] = ("staged", "heuristic", "torch-checkpoint", "torch-partitioner", "annealing"),
    tight_share: float = 0.5,
) -> Portfolio:
    """The portfolio within `share` of the time left. Schedules computing a node more often than
    `copies` allows are not kept (a model with that many copies could not take them); `order` (fixed
    order) makes the staged heuristics stay on its stage grid (the other members are free to reorder)."""
    from formulations._warm_start import warm_start
    from moccasin_bench.formulation import VALID_STATUSES, formulation_module, registry, requirement_problem

    t0 = time.perf_counter()
    g = problem.graph
    out = Portfolio()
    total = max(0.0, share * (problem.time_limit_seconds - problem.elapsed()))
    end = time.perf_counter() + total
    cap_int = int(copies.max())
    if initial is not None:
        kept = out.add(problem, "initial", initial, None)  # a floor even where the model cannot take it
        out.members["initial"] = {"fits": kept is not None}
    queue = list(members)
    tight = False  # nothing fits along the order: the annealer first, with all of `tight_share`
    while queue:
        member = queue.pop(0)
        left = end - time.perf_counter()
        if left <= 0.05:
            out.members[member] = {"status": "skipped", "why": "the portfolio's share was used up"}
            continue
        if member in TORCH_MEMBERS and total < TORCH_MEMBERS_SECONDS:
            out.members[member] = {
                "status": "skipped",
                "why": f"the portfolio has less than {TORCH_MEMBERS_SECONDS:g} s",
            }
            continue
        share_of_left = (1.0 if not queue or tight else ANNEALER_FIRST) if member == "annealing" else SLICES[member]
        seconds = min(share_of_left * left, 0.5 + MEMBER_SECONDS_PER_NODE * g.n)
        began = time.perf_counter()
        if member == "staged":
            ws = warm_start(g, problem.budget.bytes, order, max_computations=copies, deadline=began + seconds)
            for name, s in ws.fitting:
                out.add(problem, name, s, copies)
            if ws.closest is not None:
                out.closest = (ws.closest[0], ws.closest[1])
            out.members[member] = {"fitting": len(ws.fitting), "seconds": round(ws.seconds, 3)}
            if not out.starts and "annealing" in queue:
                # nothing fits along the order: a tight budget, where the annealer finds schedules and the
                # other heuristics rarely do within a slice, and the annealer needs one long run
                # (pt-gpt 40 %: none in 18 s, nor in 21 s more, nor in 30 s; 12.87 % in one 60 s run): it
                # goes first, with `tight_share` of the time left
                queue.remove("annealing")
                queue.insert(0, "annealing")
                tight = True
                rest = problem.time_limit_seconds - problem.elapsed()
                reserve = 0.1 * problem.time_limit_seconds + MODEL_SECONDS_PER_NODE * g.n  # the model's build
                end = max(end, time.perf_counter() + max(0.0, min(tight_share * rest, rest - reserve)))
            continue
        if member not in registry():
            out.members[member] = {"status": "not installed"}
            continue
        try:
            unmet = requirement_problem(member, formulation_module(member), g)
        except Exception as exc:  # a member that cannot be imported here (e.g. no torch) is skipped
            unmet = f"{type(exc).__name__}: {exc}"
        if unmet is not None:
            out.members[member] = {"status": "not applicable", "why": unmet}
            continue
        params: dict = {}
        if member == "heuristic":
            params = {"strategy": "best", "max_computations": cap_int}
        elif member == "annealing":
            # free order even for a fixed-order model: the model follows a start's own order when it
            # must (moccasin's _follow_best_start), and the free annealer reaches tight budgets the
            # fixed one does not
            params = {"order": "free", "max_computations": cap_int}
        best = out.best
        result = _member(
            problem, member, params, seconds, initial=best.schedule if member == "annealing" and best else None
        )
        info = {
            "status": result.status,
            "cost": result.total_duration,
            "seconds": round(result.wall_seconds, 3),
            "time_limit_seconds": round(seconds, 3),
        }
        if result.status in VALID_STATUSES and result.schedule is not None:
            kept = out.add(problem, member, result.schedule, copies)
            info["kept"] = kept is not None
            if kept is None:
                info["why"] = f"computes a node more than {cap_int} times"
        elif result.message:
            info["message"] = result.message[:200]
        out.members[member] = info
    out.seconds = time.perf_counter() - t0
    return out
