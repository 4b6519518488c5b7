"""Heuristic schedules without a solver, shared by the `heuristic` formulation and the warm
starts of the solver formulations (moccasin, checkmate-milp, checkmate-cp).

Schedules staged along a reference order (no recomputation, staged repair, staged greedy,
Chen checkpointing; see _checkpointing), a reordering local search, and the pools the models
start from: `warm_start` (fitting schedules, cheapest first, and the closest miss) and
`checkmate_start` (the same as Checkmate's R matrix).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from moccasin_bench.formulation import Problem
from moccasin_bench.graph import Graph
from moccasin_bench.orders import REFERENCE_ORDERS
from moccasin_bench.simulate import schedule_cost, simulate

REPAIR_MARGINS = (0.0, 0.002, 0.02, 0.05)


def candidate_orders(graph: Graph, which: str = "best") -> dict[str, np.ndarray]:
    """The named reference orders to try (the stored one only when the file has one)."""
    from moccasin_bench.orders import reference_order

    names = (
        [which] if which != "best" else [o for o in REFERENCE_ORDERS if o != "stored" or graph.stored_order is not None]
    )
    out: dict[str, np.ndarray] = {}
    for name in names:
        order = reference_order(graph, name)
        if not any(np.array_equal(order, o) for o in out.values()):
            out[name] = order
    return out


def cap_array(graph: Graph, max_computations) -> np.ndarray | None:
    """Per-node computation caps (None = unlimited) from an int (0 = unlimited) or an array."""
    if max_computations is None:
        return None
    if np.isscalar(max_computations):
        return None if int(max_computations) <= 0 else np.full(graph.n, int(max_computations), dtype=np.int64)
    c = np.asarray(max_computations, dtype=np.int64)
    return np.where(c <= 0, np.iinfo(np.int64).max // 2, c)


def fits(graph: Graph, schedule, budget_bytes: int, cap) -> bool:
    if schedule is None:
        return False
    s = np.asarray(schedule, dtype=np.int64)
    caps = cap_array(graph, cap)
    if caps is not None and np.any(np.bincount(s, minlength=graph.n) > caps):
        return False
    return simulate(graph, s).fits(budget_bytes)


def _chen_schedules(graph: Graph, order: np.ndarray, strategy: str) -> Iterable[tuple[str, list[int]]]:
    from formulations import _checkpointing as ck

    if strategy == "chen-sqrt":
        cps, seg = ck.sqrt_checkpoints(graph, order)
        yield "chen-sqrt", ck.checkpoint_schedule(graph, order, cps, seg)
        return
    total = max(graph.sum_memory, 1)
    for k in (2, 3, 4, 6, 8, 12, 16, 24, 32):
        threshold = total / k
        cps, seg = ck.greedy_checkpoints(graph, order, threshold)
        yield f"chen-greedy/{k}", ck.checkpoint_schedule(graph, order, cps, seg)


def schedules_along(
    graph: Graph,
    order: np.ndarray,
    budget_bytes: int,
    strategies: Iterable[str],
    max_computations=0,
    deadline: float | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Schedules staged along `order` by each strategy (fitting or not; None-free)."""
    from formulations import _checkpointing as ck

    cap = cap_array(graph, max_computations)
    out: list[tuple[str, np.ndarray]] = []
    for strategy in strategies:
        if deadline is not None and time.perf_counter() > deadline:
            break
        if strategy == "no-recompute":
            out.append(("no-recompute", np.asarray(order, dtype=np.int64)))
        elif strategy == "staged-repair":
            for margin in REPAIR_MARGINS:  # a slightly lower target budget often gets a stuck repair to fit
                if margin > 0 and (deadline is not None and time.perf_counter() > deadline):
                    break
                r = ck.staged_repair(graph, order, int(budget_bytes * (1.0 - margin)), cap, deadline=deadline)
                out.append(("staged-repair" + (f"-{margin:g}" if margin else ""), r.schedule))
                if simulate(graph, r.schedule).fits(budget_bytes):
                    break
        elif strategy == "staged-greedy":
            for rule in ck.EVICTION_RULES:
                s = ck.staged_greedy(graph, order, budget_bytes, cap, rule, deadline)
                if s is not None:
                    out.append((f"staged-greedy/{rule}", np.asarray(s, dtype=np.int64)))
        elif strategy in ("chen-sqrt", "chen-greedy"):
            for name, s in _chen_schedules(graph, order, strategy):
                out.append((name, np.asarray(s, dtype=np.int64)))
    return out


def fitting_schedules(
    graph: Graph,
    budget_bytes: int,
    order: np.ndarray | None = None,
    max_computations=0,
    strategies: Iterable[str] = ("no-recompute", "staged-repair", "staged-greedy"),
    deadline: float | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Every schedule the strategies find that fits the budget (and the computation cap), cheapest first.

    With `order`, every schedule is staged along it (fit for a fixed-order model's grid);
    without, the reference orders and a reordering local search are tried too.
    Names say strategy and order, e.g. "staged-repair@stored".
    """
    strategies = tuple(strategies)
    orders = {"given": np.asarray(order, dtype=np.int64)} if order is not None else candidate_orders(graph)
    found: list[tuple[str, np.ndarray]] = []
    for oname, o in orders.items():
        for name, s in schedules_along(
            graph, o, budget_bytes, [x for x in strategies if x != "local-search"], max_computations, deadline
        ):
            found.append((f"{name}@{oname}", s))
    if order is None and "local-search" in strategies and not (deadline is not None and time.perf_counter() > deadline):
        o = reordered(graph, budget_bytes, list(orders.values()), deadline=deadline)
        found.append(("no-recompute@local-search", o))
        if not simulate(graph, o).fits(budget_bytes):
            for name, s in schedules_along(graph, o, budget_bytes, ["staged-repair"], max_computations, deadline):
                found.append((f"{name}@local-search", s))
    fitting = [(n, s) for n, s in found if fits(graph, s, budget_bytes, max_computations)]
    fitting.sort(key=lambda x: (schedule_cost(graph, x[1]), len(x[1])))
    return fitting


@dataclass(frozen=True)
class WarmStart:
    """Schedules to start a model from: those that fit (cheapest first) and the closest miss."""

    fitting: list[tuple[str, np.ndarray]]
    closest: tuple[str, np.ndarray, int] | None  # (name, schedule, memory summed over steps above the budget)
    seconds: float


def warm_start(
    graph: Graph,
    budget_bytes: int,
    order: np.ndarray | None = None,
    max_computations=0,
    deadline: float | None = None,
    margins: tuple[float, ...] = REPAIR_MARGINS,
    reorder: bool = True,
) -> WarmStart:
    """Staged repair along `order` (or along every reference order and a reordered one when
    None) at the budget and, time permitting, at slightly lower budgets (a small margin often
    lets the repair finish where the exact budget leaves it stuck a few bytes over); plus no
    recomputation. Every schedule is judged at the real budget and the cap."""
    from formulations import _checkpointing as ck

    t0 = time.perf_counter()
    caps = cap_array(graph, max_computations)
    orders = {"given": np.asarray(order, dtype=np.int64)} if order is not None else candidate_orders(graph)
    if order is None and reorder:
        orders["local-search"] = reordered(graph, budget_bytes, list(orders.values()), deadline=deadline)
    found: list[tuple[str, np.ndarray]] = []
    closest = None
    for oname, o in orders.items():
        found.append((f"no-recompute@{oname}", o))
        over = int(np.maximum(simulate(graph, o).memory_per_step - budget_bytes, 0).sum())
        if over > 0 and (closest is None or over < closest[2]):
            closest = (f"no-recompute@{oname}", o, over)
        for margin in margins:
            if deadline is not None and time.perf_counter() > deadline:
                break
            if margin > 0 and any(fits(graph, s, budget_bytes, caps) for _, s in found):
                break  # one fitting repair is enough: the model improves it
            r = ck.staged_repair(graph, o, int(budget_bytes * (1.0 - margin)), caps, deadline=deadline)
            name = f"staged-repair{'' if margin == 0 else f'-{margin:g}'}@{oname}"
            found.append((name, r.schedule))
            sim = simulate(graph, r.schedule)
            over = int(np.maximum(sim.memory_per_step - budget_bytes, 0).sum())
            if over > 0 and (closest is None or over < closest[2]):
                closest = (name, r.schedule, over)
    fitting = [(n, s) for n, s in found if fits(graph, s, budget_bytes, caps)]
    fitting.sort(key=lambda x: (schedule_cost(graph, x[1]), len(x[1])))
    return WarmStart(fitting=fitting, closest=closest, seconds=time.perf_counter() - t0)


# ---- reordering local search -------------------------------------------------------------------


def reordered(
    graph: Graph,
    budget_bytes: int,
    starts: list[np.ndarray],
    deadline: float | None = None,
    max_evaluations: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """A topological order whose no-recomputation run fits the budget, if annealing finds one.

    Objective: memory above the budget summed over steps, then the peak. A move takes a node
    near an over-budget step (or anywhere, now and then) to a random place in its window
    (after its last input, before its first reader); a worse order is accepted while the
    loss is below a threshold that falls linearly to zero. Stops once an order fits."""
    rng = np.random.default_rng(seed)
    n = graph.n
    max_evaluations = max_evaluations if max_evaluations is not None else 500 + 40 * n

    def key(o: np.ndarray) -> tuple[int, int, np.ndarray]:
        sim = simulate(graph, o)
        m = sim.memory_per_step
        return int(np.maximum(m - budget_bytes, 0).sum()), sim.peak_memory, m

    current = min(starts, key=lambda o: key(o)[:2]).copy()
    cur_over, cur_peak, cur_mem = key(current)
    best, best_key = current.copy(), (cur_over, cur_peak)
    preds = [graph.predecessors(v) for v in range(n)]
    succs = [graph.successors(v) for v in range(n)]
    position = np.empty(n, dtype=np.int64)
    threshold0 = max(1.0, 0.02 * cur_over)
    for e in range(max_evaluations):
        if best_key[0] == 0 or (deadline is not None and time.perf_counter() > deadline):
            break
        over_steps = np.nonzero(cur_mem > budget_bytes)[0]
        if len(over_steps) and rng.random() < 0.8:
            j = int(over_steps[rng.integers(len(over_steps))])
            k = int(np.clip(j + rng.integers(-10, 11), 0, n - 1))
        else:
            k = int(rng.integers(n))
        position[current] = np.arange(n)
        v = int(current[k])
        lo = int(position[preds[v]].max()) + 1 if len(preds[v]) else 0
        hi = int(position[succs[v]].min()) - 1 if len(succs[v]) else n - 1
        if hi <= lo:
            continue
        target = int(rng.integers(lo, hi + 1))
        if target == k:
            continue
        trial = np.insert(np.delete(current, k), target, v)
        t_over, t_peak, t_mem = key(trial)
        threshold = threshold0 * (1.0 - e / max_evaluations)
        if (t_over, t_peak) <= (cur_over, cur_peak) or t_over <= cur_over + threshold * rng.random():
            current, cur_over, cur_peak, cur_mem = trial, t_over, t_peak, t_mem
            if (cur_over, cur_peak) < best_key:
                best, best_key = current.copy(), (cur_over, cur_peak)
    return best


# ---- Checkmate's form ---------------------------------------------------------------------------


@dataclass
class CheckmateStart:
    """A fitting schedule in Checkmate's stage form, as R by position."""

    r: np.ndarray
    name: str
    cost: int
    seconds: float


def initial_start(problem: Problem, order: np.ndarray) -> tuple[CheckmateStart | None, dict]:
    """The problem's initial schedule in Checkmate's stage form, when it is valid, fits the budget and is
    staged along `order` (after dropping recomputations nobody reads); else None. The dict says which."""
    from formulations._checkmate_model import prune_unread, r_from_schedule

    g, budget = problem.graph, problem.budget.bytes
    s = np.asarray(problem.initial_schedule, dtype=np.int64)
    sim = simulate(g, s)
    info: dict = {
        "steps": int(len(s)),
        "cost": int(sim.total_duration),
        "peak": int(sim.peak_memory),
        "valid": sim.valid,
        "fits": sim.fits(budget),
        "used": False,
    }
    if not sim.valid:
        info["why"] = f"not executable: {sim.violation.describe()}"
    elif not info["fits"]:
        info["why"] = f"over the budget (peak {sim.peak_memory:,} > {budget:,})"
    else:
        pruned = prune_unread(g, s)
        r = r_from_schedule(pruned, order)
        if r is None:
            info["why"] = f"not staged along the {problem.reference_order_name} order (Checkmate's stages)"
        else:
            info["used"] = True
            return CheckmateStart(r=r, name="initial", cost=int(g.duration[pruned].sum()), seconds=0.0), info
    return None, info


def checkmate_start(
    problem: Problem, order: np.ndarray, max_seconds: float = 30.0, heuristics: bool = True, annealing: bool = False
) -> tuple[CheckmateStart | None, dict | None]:
    """The cheapest fitting start staged along `order`, without recomputations nobody reads, as Checkmate's
    R: the problem's initial schedule (when it has one the model can take) or, with `heuristics`, the
    cheapest schedule `warm_start` finds, or with `annealing` the annealer's on the stage grid; None when
    there is none. Also what became of the initial schedule (and of the annealer, under "annealing")."""
    from formulations._checkmate_model import prune_unread, r_from_schedule

    t0 = time.perf_counter()
    g, budget = problem.graph, problem.budget.bytes
    given, info = initial_start(problem, order) if problem.initial_schedule is not None else (None, None)
    found_pool: list[tuple[str, np.ndarray]] = []
    if annealing:
        annealed, anneal_info = annealed_start(problem, True, 0, 0.2)  # 0: the annealer's own cap
        info = {**(info or {}), "annealing": anneal_info}
        if annealed is not None:
            found_pool.append(("annealing", annealed))
    if heuristics:
        deadline = t0 + min(max_seconds, 0.2 * max(0.0, problem.time_limit_seconds - problem.elapsed()))
        found_pool += warm_start(g, budget, order=order, deadline=deadline).fitting
    found_pool.sort(key=lambda x: int(g.duration[x[1]].sum()))
    for name, schedule in found_pool:
        schedule = prune_unread(g, schedule)
        r = r_from_schedule(schedule, order)
        if r is not None:
            cost = int(g.duration[schedule].sum())
            if given is not None and given.cost <= cost:
                break
            return CheckmateStart(r=r, name=name, cost=cost, seconds=time.perf_counter() - t0), info
    if given is not None:
        given.seconds = time.perf_counter() - t0
    return given, info


def annealed_start(
    problem: Problem, fixed: bool, max_computations: int, share: float
) -> tuple[np.ndarray | None, dict]:
    """A fitting schedule from the `annealing` formulation, run through the engine (moccasin_bench.judge, so the
    simulator checks it) for `share` of the time left: staged along the reference order when `fixed`, with at
    most `max_computations` computations per node, so that a model with that many copies can express it.
    (None, what happened) when it finds none."""
    from moccasin_bench.formulation import VALID_STATUSES, registry
    from moccasin_bench.judge import solve_in_process

    if "annealing" not in registry():
        return None, {"status": "error", "message": "the annealing formulation is not installed"}
    seconds = max(0.5, share * (problem.time_limit_seconds - problem.elapsed()))
    params = {"order": "fixed" if fixed else "free", "max_computations": int(max_computations)}
    result = solve_in_process(
        problem.graph,
        problem.budget,
        "annealing",
        params,
        time_limit_seconds=seconds,
        threads=1,
        seed=problem.seed,
        reference_order_name=problem.reference_order_name,
    )
    info = {
        "status": result.status,
        "cost": result.total_duration,
        "seconds": round(result.wall_seconds, 3),
        "time_limit_seconds": round(seconds, 3),
        **params,
    }
    if result.status not in VALID_STATUSES:
        info["message"] = result.message
        return None, info
    return np.asarray(result.schedule, dtype=np.int64), info
