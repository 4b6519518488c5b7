"""The annealing run's cycles: the kernel called in chunks, the temperature of each chunk, restarts
from the best schedule, the staged-repair rescue when nothing fits, and when the run stops (a move
budget, the clock, or a schedule that no schedule undercuts)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from formulations._anneal_search import Search
from moccasin_bench.formulation import Problem

CHUNK = 1 << 15  # moves per kernel call; the clock is read between calls
FIRST_SHARE = 0.4  # share of the moves (or time) of the first cycle, which also brings memory under the budget
RESCUE_SHARE = 0.15  # at most this share of the time limit for the staged-repair rescue


@dataclass(frozen=True)
class Cooling:
    """How the run cools and when it stops."""

    cycles: int  # restarts + 1
    t_start: float  # temperatures in mean node durations
    t_end: float
    heat: float  # temperatures are multiplied by this while nothing fits
    memory_weight: float  # omega; doubles with every cycle while nothing fits
    smooth: bool  # the smooth peak while nothing fits
    rescue: bool  # staged repair before the last cycle if nothing fits by then
    max_moves: int  # 0: the time limit ends the run and the temperature follows the clock
    clock_free: bool  # the rescue takes no share of the clock (only the time limit cuts it)


@dataclass(frozen=True)
class Outcome:
    """What the cycles did: moves proposed, cycles begun, what stopped them, search seconds, the rescue."""

    moves: int
    cycles: int
    stopped_by: str  # moves, time, optimal
    seconds: float
    rescue: dict | None


def cycle_edges(cycles: int) -> np.ndarray:
    """Where each cycle starts, as a share of the run (FIRST_SHARE for the first of several)."""
    if cycles == 1:
        return np.array([0.0, 1.0])
    return np.concatenate(([0.0], FIRST_SHARE + (1.0 - FIRST_SHARE) * np.arange(cycles) / (cycles - 1)))


def run_cycles(
    search: Search, problem: Problem, cool: Cooling, mv: tuple, order: np.ndarray, trajectory: list
) -> Outcome:
    """Anneal until the move budget, the time limit or an unbeatable schedule; every improvement of
    the best fitting schedule goes to `trajectory` (seconds, cost) and to `problem.notify`.

    Chunks of at most CHUNK moves; the clock is read between chunks. Progress x runs from 0 to 1
    over the moves (max_moves) or over the time left; the first cycle, which has to bring memory
    under the budget, gets FIRST_SHARE of it, the others equal shares. With max_moves, chunks are
    cut at fixed move counts, so the schedule does not depend on wall time (unless the time limit
    stops the run first); without it, the temperature follows the clock."""
    g = search.graph
    budget = int(problem.budget.bytes)
    limit = float(problem.time_limit_seconds)
    max_moves = cool.max_moves
    cycles = cool.cycles
    edges = cycle_edges(cycles)
    ratio = cool.t_end / cool.t_start
    done = 0  # moves proposed so far
    cycle = 0
    bounds = [int(round(e * max_moves)) for e in edges] if max_moves else None  # cycle edges in moves
    stopped_by = "moves"
    rate = None  # moves per second, measured
    anchor = None  # best schedule over budget (restart point while nothing fits): (log objective, schedule)
    rescue_info = None
    t_solve = time.perf_counter()
    anneal_begin = problem.elapsed()
    span_seconds = max(1e-9, limit - anneal_begin)
    last_best = search.best_cost

    def where(x: float) -> tuple[int, float]:
        """Cycle index and progress within it at overall progress x."""
        k = min(cycles - 1, int(np.searchsorted(edges, x, side="right")) - 1)
        return k, min(1.0, (x - edges[k]) / (edges[k + 1] - edges[k]))

    while max_moves == 0 or done < max_moves:
        if search.found and search.best_cost == g.sum_duration:
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
            if not search.found and cool.rescue and rescue_info is None and cycle == cycles - 1:
                # nothing fits before the last cycle: staged repair, and go on from its schedule
                rescue_info = _rescue(search, problem, cool, order, anchor, trajectory)
                last_best = search.best_cost
            _restart(search, anchor)
            if not search.found:
                anchor = None  # judged again with the new memory weight
        # over budget with nothing fitting yet, memory weighs double in every new cycle
        mv = mv._replace(omega=cool.memory_weight * (1.0 if search.found else 2.0**cycle))
        search.smooth(cool.smooth and not search.found)  # rebuilt every chunk while in use (no drift)
        c0 = time.perf_counter()
        heat = 1.0 if search.found else cool.heat  # hotter while nothing fits
        search.run(step, heat * cool.t_start * ratio**frac_a, heat * cool.t_start * ratio**frac_b, mv)
        seconds = time.perf_counter() - c0
        done += step
        if seconds > 0:
            rate = step / seconds if rate is None else 0.7 * rate + 0.3 * step / seconds
        if search.found and (last_best is None or search.best_cost < last_best):
            last_best = search.best_cost
            trajectory.append((problem.elapsed(), float(last_best)))
            problem.notify(float(last_best))
        if not search.found:
            f = mv.omega * math.log(max(budget, search.peak, 1)) + math.log(search.cost + 1.0)
            if anchor is None or f < anchor[0]:
                anchor = (f, search.schedule())
        search.respread()
    return Outcome(done, cycle + 1, stopped_by, time.perf_counter() - t_solve, rescue_info)


def _rescue(search: Search, problem: Problem, cool: Cooling, order: np.ndarray, anchor, trajectory: list) -> dict:
    """Staged repair (`_anneal_start.rescue`) along the reference order and, in free order, the
    best schedule over budget found; the cheapest fitting schedule becomes the best one found
    (the search goes on from it). It gets a share of the time left, or with `clock_free` all of it
    (then only the time limit cuts it, and the variant says whether it did)."""
    from formulations._anneal_start import rescue

    limit = float(problem.time_limit_seconds)
    left = limit - problem.elapsed()
    deadline = time.perf_counter() + (left if cool.clock_free else min(RESCUE_SHARE * limit, 0.3 * left))
    over_budget = anchor[1] if (not search.fixed and anchor is not None) else None
    info, schedule = rescue(search.graph, int(problem.budget.bytes), order, over_budget, search.K, deadline)
    if cool.clock_free:
        info["cut_by_the_time_limit"] = time.perf_counter() > deadline
    if schedule is not None:
        search.load(schedule)  # the caller restarts from the best schedule: this one
        search.keep_as_best(search.cost, search.peak)
        info["cost"] = search.best_cost
        trajectory.append((problem.elapsed(), float(search.best_cost)))
        problem.notify(float(search.best_cost))
    return info


def _restart(search: Search, anchor) -> None:
    """Resume from the best fitting schedule (or, while none fits, the best one over budget)."""
    if search.found:
        search.load(search.schedule(best=True))
    elif anchor is not None:
        search.load(anchor[1])
