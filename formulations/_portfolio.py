"""The start portfolio of the solver formulations: the best schedule the harness's fast methods find
in a share of the limit, for a model to start from.

Members, in turn, each with a slice of the share and each judged by the simulator: the user's initial
schedule, the staged heuristics along the model's order (which also give the closest miss for a
first phase), the quick heuristics along every reference order (`quick`: no recomputation, staged
greedy, Chen's checkpointing; under a second on the catalogue), the fast published baselines that apply
(`dtr`, `rotor`, `torch-sac`), every heuristic (`heuristic`, strategy best), PyTorch's own
rematerialisation where the graph comes from PyTorch (`torch-partitioner`, `torch-checkpoint`), and the
annealer started from the cheapest schedule found so far. Members other than the staged heuristics run
with their own defaults (no cap on computations per node), so the portfolio's best is never costlier
than what a member finds alone in its time; the model raises its copies to take the best start.

Time: the members share `share` of the limit, except at a tight budget (nothing fits along the order, or
the best quick start adds more than GOOD_START_TDI_PERCENT), where the annealer, the member that finds
the cheapest schedules there, runs from its own start (as it does alone: from a good start it found
nothing cheaper in every run measured, e.g. 16 s from staged repair's 1.63 % on pt-resnet18 50 %) for
most of the limit (all but a reserve for the model's build and its neighbourhood search) and the slow
members (`heuristic`'s local search, PyTorch's checkpointing) are skipped; PyTorch's partitioner runs after
staged repair on a PyTorch graph whose quick start is good (PARTITIONER_TIGHT_MAX_START_TDI_PERCENT). The
quick members start only within QUICK_SHARE of the limit.
Members run through the engine (moccasin_bench.judge) like any run, so a member that fails or is not
installed costs its slice and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from moccasin_bench.formulation import Problem
from moccasin_bench.simulate import simulate

# Share of the portfolio's time each member may use (of what is left when it starts); the annealer,
# started from the best schedule found before it, takes the rest. The quick members finish well within
# theirs (pt-resnet50 30 %, 1 thread: quick 0.6 s, dtr 3.7 s with its five scores, rotor 0.1 s, torch-sac 0.03 s).
SLICES = {
    "staged": 0.1,
    "quick": 0.15,
    "dtr": 0.2,
    "rotor": 0.2,
    "torch-sac": 0.2,
    "repair": 0.4,
    "heuristic": 0.3,
    "torch-checkpoint": 0.3,
    "torch-partitioner": 0.5,
}
MEMBERS = (
    "staged",
    "quick",
    "dtr",
    "rotor",
    "torch-sac",
    "repair",
    "heuristic",
    "torch-checkpoint",
    "torch-partitioner",
    "annealing",
)
# The quick heuristics' strategies (formulations/heuristics.py): each well under a second on the catalogue;
# staged repair runs as its own member (`repair`, along the reference order, 0.4 of what is left, at a tight
# budget 0.7 of the annealer's window and only when a quick start adding at most 100 % fits: 1.1 s on
# pt-resnet18 50 %, 3.5 s on pt-mobilenetv2 30 %, 38 s on pt-gpt 50 % at load 15; the cheapest schedule of any
# method in the first two and below dtr's and the annealer's in the third), the reordering local search to
# `heuristic`
QUICK_STRATEGIES = ("no-recompute", "staged-greedy", "chen-sqrt", "chen-greedy")
# A start adding more than this (TDI, %) after the quick members marks a tight budget: the annealer then runs
# for most of the limit (pt-resnet50 30 %: the annealer alone 7.74 % in 30 s, the quick start 6.42 %; the
# targets cells at 50 % and below all start above it, 90 % budgets around 0.3 %)
GOOD_START_TDI_PERCENT = 1.0
# At a tight budget with a quick start, staged repair's share of the annealer's window: on the catalogue it
# beats the annealer's share there (pt-resnet50 20 %: staged repair 10.59 % in 60 s, the annealer's 30 s
# 11.90 %, the quick start 12.06 %; pt-gpt 50 %: 3.22 % against 5.3 %), and it ends early where it is quick
REPAIR_TIGHT_SHARE = 0.7
# ... and only when the best quick start adds at most this (TDI, %): where the quick members fit only by recomputing
# nearly everything, repair along the reference order finds nothing in its share (random layered n = 10,000 at
# 90 %: quick start 804 %, repair 252 s for nothing, the annealer then 105 s: 1.57 % instead of 1.51 % with
# 291 s); the catalogue's and pt-llama's tight cells start at 3.6-31 %, where repair wins
REPAIR_TIGHT_MAX_START_TDI_PERCENT = 100.0
# The quick members (after the staged heuristics) start only within this share of the limit: on random
# layered graphs they find nothing at tight budgets and take seconds each (RL3 70 %: quick 8.5 s, dtr 6.4 s
# at load 15; RL4 70 %: 15 s for nothing, the annealer then 8.65 % in 25 s), time the annealer needs there
QUICK_SHARE = 0.15
# At a tight budget the model keeps this share of the limit (plus MODEL_SECONDS_PER_NODE per node) for its
# build and neighbourhood search; the annealer has the rest after the quick members
TIGHT_MODEL_SHARE = 0.15
# At a tight budget on a graph from PyTorch, PyTorch's partitioner joins after staged repair (its greedy knapsack
# only, PARTITIONER_TIGHT_SHARE of the annealer's window) when the quick start adds at most this (TDI, %): in the
# targets grid (60 s) it found a schedule in each cell whose quick start added at most 3.75 % (5 of 5: pt-gpt 50 %,
# pt-mobilenetv2 50 / 40 / 30 %, pt-resnet50 50 %) and in none above 4.1 % (7 cells); at pt-gpt 50 % its schedule
# is the cheapest of any method (3.04 % against staged repair's 3.22 %), and its greedy knapsack found the cheapest
# fitting schedule of the two that run here in all 5 cells (dp tied in 3), in half the time
PARTITIONER_TIGHT_MAX_START_TDI_PERCENT = 4.0
PARTITIONER_TIGHT_SHARE = 0.7
# ... and only with this many seconds left in the annealer's window (one trace takes 4-30 s)
PARTITIONER_TIGHT_MIN_SECONDS = 20.0
# PyTorch's baselines join only when the portfolio has this many seconds: one trace of a catalogue model
# takes 10-30 s and cannot be cut short (pt-resnet50: 31 s for the partitioner's first knob setting).
TORCH_MEMBERS_SECONDS = 60.0
TORCH_MEMBERS = ("torch-checkpoint", "torch-partitioner")
# No member runs longer than this many seconds per node (plus half a second): on a small graph the model
# proves in moments what the annealer would search its whole slice for (n = 6: 3.5 s; n = 30: 15.5 s).
MEMBER_SECONDS_PER_NODE = 0.5
# Seconds per node left for building the model after a tight budget's long annealer run (random layered
# n = 10,000, fixed order: 183 s to build on a loaded machine, 361,275 variables)
MODEL_SECONDS_PER_NODE = 0.01
# The annealer's own default cap on computations per node (formulations/annealing.py): a start computing a
# node more often cannot be loaded
ANNEALER_CAP = 64


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
    tight: dict | None = None  # a tight budget: the start's TDI and until when the annealer ran

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
    members: tuple[str, ...] = MEMBERS,
    capped: bool = False,
    model_to_build: bool = True,
) -> Portfolio:
    """The portfolio within `share` of the time left (more at a tight budget, see the module's docstring).
    The staged heuristics stay on `order`'s stage grid (fixed order) with at most `copies` computations per
    node; the other members are free to reorder and recompute as they do alone (`capped`: at most `copies`
    computations per node for every member, and only schedules within it are kept; `model_to_build` False: the
    caller builds no full model, and a tight budget's reserve holds no build time)."""
    from formulations._warm_start import candidate_orders, schedules_along, warm_start
    from moccasin_bench.formulation import VALID_STATUSES, formulation_module, registry, requirement_problem

    t0 = time.perf_counter()
    g = problem.graph
    out = Portfolio()
    total = max(0.0, share * (problem.time_limit_seconds - problem.elapsed()))
    end = time.perf_counter() + total
    if initial is not None:
        kept = out.add(problem, "initial", initial, None)  # a floor even where the model cannot take it
        out.members["initial"] = {"fits": kept is not None}
    queue = list(members)
    tight = None  # decided once the quick members have run: the annealer then takes most of the limit
    quick = {"staged", "quick", "dtr", "rotor", "torch-sac"}
    cap_int = int(copies.max()) if capped else 0
    quick_until = problem.elapsed() + QUICK_SHARE * max(0.0, problem.time_limit_seconds - problem.elapsed())
    keep_cap = copies if capped else None
    while queue:
        member = queue.pop(0)
        if tight is None and member not in quick:
            best = out.best
            tdi = None if best is None or not g.sum_duration else 100.0 * (best.cost / g.sum_duration - 1.0)
            tight = "annealing" in queue + [member] and (tdi is None or tdi > GOOD_START_TDI_PERCENT)
            if tight:
                rest = problem.time_limit_seconds - problem.elapsed()
                reserve = TIGHT_MODEL_SHARE * problem.time_limit_seconds + MODEL_SECONDS_PER_NODE * g.n * model_to_build
                end = max(end, time.perf_counter() + max(0.0, rest - reserve))
                out.tight = {
                    "start_tdi_percent": None if tdi is None else round(tdi, 4),
                    "annealer_until_seconds": round(problem.elapsed() + max(0.0, rest - reserve), 3),
                }
        if tight is None and member in quick and member != "staged" and problem.elapsed() > quick_until:
            out.members[member] = {
                "status": "skipped",
                "why": f"the quick members' {QUICK_SHARE:g} of the limit was used up",
            }
            continue
        if tight and member == "repair" and out.best is None:
            out.members[member] = {
                "status": "skipped",
                "why": "tight budget and no quick start fits: the annealer's time",
            }
            continue
        start_tdi = (out.tight or {}).get("start_tdi_percent")
        if tight and member == "repair" and start_tdi is not None and start_tdi > REPAIR_TIGHT_MAX_START_TDI_PERCENT:
            out.members[member] = {
                "status": "skipped",
                "why": f"tight budget and the quick start adds {start_tdi:g} % "
                f"(> {REPAIR_TIGHT_MAX_START_TDI_PERCENT:g} %): the annealer's time",
            }
            continue
        left = end - time.perf_counter()
        partitioner_tight = (
            tight
            and member == "torch-partitioner"
            and start_tdi is not None
            and start_tdi <= PARTITIONER_TIGHT_MAX_START_TDI_PERCENT
        )
        if partitioner_tight and left < PARTITIONER_TIGHT_MIN_SECONDS:
            out.members[member] = {
                "status": "skipped",
                "why": f"tight budget and less than {PARTITIONER_TIGHT_MIN_SECONDS:g} s left in the annealer's window",
            }
            continue
        if tight and member not in quick and member not in ("annealing", "repair") and not partitioner_tight:
            why = "tight budget: the annealer takes the time"
            if member == "torch-partitioner" and start_tdi is not None:
                why += f" (the quick start adds {start_tdi:g} % > {PARTITIONER_TIGHT_MAX_START_TDI_PERCENT:g} %)"
            out.members[member] = {"status": "skipped", "why": why}
            continue
        if left <= 0.05:
            out.members[member] = {"status": "skipped", "why": "the portfolio's share was used up"}
            continue
        if member in TORCH_MEMBERS and total < TORCH_MEMBERS_SECONDS and not partitioner_tight:
            out.members[member] = {
                "status": "skipped",
                "why": f"the portfolio has less than {TORCH_MEMBERS_SECONDS:g} s",
            }
            continue
        share_of_left = 1.0 if member == "annealing" else SLICES[member]
        if tight and member == "repair":
            share_of_left = REPAIR_TIGHT_SHARE
        if partitioner_tight:
            share_of_left = PARTITIONER_TIGHT_SHARE
        seconds = share_of_left * left
        if member != "annealing" or not tight:
            seconds = min(seconds, 0.5 + MEMBER_SECONDS_PER_NODE * g.n)
        began = time.perf_counter()
        if member == "staged":
            ws = warm_start(g, problem.budget.bytes, order, max_computations=copies, deadline=began + seconds)
            for name, s in ws.fitting:
                out.add(problem, name, s, copies)
            if ws.closest is not None:
                out.closest = (ws.closest[0], ws.closest[1])
            out.members[member] = {"fitting": len(ws.fitting), "seconds": round(ws.seconds, 3)}
            continue
        if member == "quick":
            kept = 0
            for oname, o in candidate_orders(g).items():
                for name, s in schedules_along(g, o, problem.budget.bytes, QUICK_STRATEGIES, cap_int, began + seconds):
                    kept += out.add(problem, f"quick {name}@{oname}", s, keep_cap) is not None
            out.members[member] = {"fitting": kept, "seconds": round(time.perf_counter() - began, 3)}
            continue
        if member == "repair":
            kept = 0
            for oname, o in candidate_orders(g, problem.reference_order_name).items():
                for name, s in schedules_along(
                    g, o, problem.budget.bytes, ("staged-repair",), cap_int, began + seconds
                ):
                    kept += out.add(problem, f"{name}@{oname}", s, keep_cap) is not None
            out.members[member] = {
                "fitting": kept,
                "seconds": round(time.perf_counter() - began, 3),
                "time_limit_seconds": round(seconds, 3),
            }
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
        if member == "annealing":
            params = {"order": "free", **({"max_computations": cap_int} if capped else {})}
        elif member == "heuristic" and capped:
            params = {"strategy": "best", "max_computations": cap_int}
        elif partitioner_tight:
            params = {"solver": "greedy"}
        from_start = None
        if member == "annealing" and not tight:
            most = cap_int or ANNEALER_CAP
            from_start = next((x for x in out.starts if np.bincount(x.schedule).max() <= most), None)
        result = _member(problem, member, params, seconds, initial=None if from_start is None else from_start.schedule)
        info = {
            "status": result.status,
            "cost": result.total_duration,
            "seconds": round(result.wall_seconds, 3),
            "time_limit_seconds": round(seconds, 3),
        }
        if from_start is not None:
            info["from"] = from_start.name
        if partitioner_tight:
            info["knapsack"] = params["solver"]
        if result.status in VALID_STATUSES and result.schedule is not None:
            info["kept"] = out.add(problem, member, result.schedule, keep_cap) is not None
            if not info["kept"] and capped:
                info["why"] = f"computes a node more than {cap_int} times, or does not fit"
        elif result.message:
            info["message"] = result.message[:200]
        out.members[member] = info
    out.seconds = time.perf_counter() - t0
    return out
