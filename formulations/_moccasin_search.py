"""Search drivers for the Moccasin model: a plain CP-SAT solve, and a window neighbourhood search.

CP-SAT's own neighbourhood workers spend most of their wall time outside the search on
this model (seconds per call on RL2 for a tenth of a second of deterministic time), so
large instances improve slowly. `window_search` runs its own large-neighbourhood search on
the same model: copy the model, fix every variable of the nodes outside a window to the
incumbent's values, solve what is left with one CP-SAT worker, keep improvements. Windows
are consecutive order positions (the fixed-order grid) or consecutive start times; their
width adapts (wider after a neighbourhood is solved to optimality, narrower after a time
out). Workers run in threads (CP-SAT releases the GIL while it solves). A window that
covers every node and is solved to optimality proves the incumbent optimal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from moccasin_bench.formulation import Problem


@dataclass
class Incumbent:
    """Best schedule so far (shared between threads) and what the solves learnt."""

    schedule: np.ndarray | None
    objective: int | None  # model objective value (model units)
    proven: bool = False
    bound: int | None = None
    points: list[tuple[float, float]] = field(default_factory=list)  # (seconds, cost)
    iterations: int = 0
    improvements: int = 0
    closed: int = 0  # neighbourhoods solved to optimality
    rejected: int = 0  # solutions `accept` refused
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # neighbourhood kind -> [tries, improvements]
    lock: threading.Lock = field(default_factory=threading.Lock)


def _fixable_vars(model) -> list[list[int]]:
    """Proto indices of the primary variables of each node (presence, start, end, size)."""
    from formulations._cpsat import cp_model

    out: list[list[int]] = []
    for v in range(model.graph.n):
        idx: list[int] = []
        for i in range(int(model.copies[v])):
            for x in (model.present[v][i], model.start_var[v][i][0], model.end[v][i], model.size[v][i]):
                if isinstance(x, cp_model.IntVar):
                    idx.append(x.index)
        out.append(idx)
    return out


def _set_hint(proto, values: dict) -> None:
    proto.solution_hint.vars.extend([x.index for x in values])
    proto.solution_hint.values.extend([int(v) for v in values.values()])


def window_search(
    model,
    problem: Problem,
    incumbent: Incumbent,
    to_cost: Callable[[float], float],
    until_seconds: float,
    threads: int,
    seed: int = 0,
    stop_when: Callable[[int], bool] | None = None,
    initial_width: int = 60,
    sub_limit_seconds: float = 2.0,
    report: bool = True,
    accept: Callable[[np.ndarray], bool] | None = None,
    kinds: tuple[str, ...] | None = None,
) -> None:
    """Improve `incumbent` (a schedule `model` can express, with its objective value in model
    units) until problem.elapsed() reaches `until_seconds`, or `stop_when(objective)` holds.
    The model's objective must be set; a neighbourhood's objective equals the full model's.

    `kinds` (None: order windows and step windows, as first shipped) names the neighbourhoods to draw
    from, each chosen with a weight that grows with its improvements per try: "order" (consecutive
    positions of the fixed order), "steps" (the nodes computed in consecutive steps of the incumbent),
    "peak" (the steps around one of the incumbent's highest-memory steps: where a tight budget binds),
    "recompute" (the steps around one recomputation, with the inputs of the nodes computed there)."""
    from formulations._cpsat import cp_model
    from moccasin_bench.simulate import simulate

    base = model.model
    n = model.graph.n
    node_vars = _fixable_vars(model)
    fixed_mode = model.options.order_mode == "fixed"
    position = np.empty(n, dtype=np.int64)
    if fixed_mode:
        position[model.order] = np.arange(n)
    if kinds is not None:  # tight budgets: small neighbourhoods first (a timed-out one teaches little)
        initial_width = min(initial_width, 24)
    width = [float(min(n, max(4, initial_width)))]
    shrink = 0.85 if kinds is None else 0.7

    usable = [k for k in (kinds or ()) if k != "order" or fixed_mode]
    for k in usable:
        incumbent.by_kind.setdefault(k, [0, 0])
    memo: dict = {}  # the incumbent's memory per step and recomputed steps, per schedule seen

    def profile(schedule: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = id(schedule)
        if memo.get("key") != key:
            seen = np.zeros(n, dtype=bool)
            again = []
            for i, v in enumerate(schedule.tolist()):
                if seen[v]:
                    again.append(i)
                seen[v] = True
            memo.update(key=key, memory=simulate(model.graph, schedule).memory_per_step, again=np.array(again))
        return memo["memory"], memo["again"]

    def around(rng: np.random.Generator, schedule: np.ndarray, centre: int, span: int) -> np.ndarray:
        lo = int(
            np.clip(centre - span // 2 + int(rng.integers(-span // 4, span // 4 + 1)), 0, max(0, len(schedule) - span))
        )
        return np.unique(schedule[lo : lo + span])

    def pick_kind(rng: np.random.Generator) -> str:
        with incumbent.lock:
            w = np.array([(1.0 + 3.0 * incumbent.by_kind[k][1]) / (1.0 + incumbent.by_kind[k][0]) for k in usable])
        return usable[int(rng.choice(len(usable), p=w / w.sum()))]

    def free_nodes(rng: np.random.Generator, schedule: np.ndarray) -> tuple[np.ndarray, str]:
        w = int(round(width[0]))
        steps = len(schedule)
        span = max(1, int(round(w * steps / n)))
        if usable:
            kind = pick_kind(rng)
            if kind in ("peak", "recompute"):
                memory, again = profile(schedule)
                if kind == "peak":
                    top = np.argsort(memory)[-max(1, min(10, steps // 20)) :]
                    return around(rng, schedule, int(rng.choice(top)), span), kind
                if len(again):
                    nodes = around(rng, schedule, int(rng.choice(again)), span)
                    inputs = [model.graph.predecessors(int(v)) for v in nodes]
                    return np.unique(np.concatenate([nodes, *inputs])), kind
                kind = "steps"
        else:
            kind = "order" if fixed_mode and rng.random() < 0.7 else "steps"
        if kind == "order":  # consecutive order positions
            lo = int(rng.integers(0, max(1, n - w + 1)))
            return np.nonzero((position >= lo) & (position < lo + w))[0], kind
        # consecutive steps of the incumbent: every node computed in them
        lo = int(rng.integers(0, max(1, steps - span + 1)))
        return np.unique(schedule[lo : lo + span]), kind

    def worker(k: int) -> None:
        rng = np.random.default_rng(seed * 7919 + k)
        while True:
            left = until_seconds - problem.elapsed()
            with incumbent.lock:
                schedule, current, proven = incumbent.schedule, incumbent.objective, incumbent.proven
            if proven or left < 0.05 or (stop_when is not None and stop_when(current)):
                return
            values = model.hint_values(schedule)
            by_index = {x.index: int(val) for x, val in values.items() if val is not None}
            free, kind = free_nodes(rng, schedule)
            whole = len(free) == n
            keep = np.ones(n, dtype=bool)
            keep[free] = False
            sub = base.clone()
            sub.clear_hints()  # the base model may carry the hints of an earlier solve
            proto = sub.proto
            for v in np.nonzero(keep)[0].tolist():
                for index in node_vars[v]:
                    d = proto.variables[index].domain
                    d.clear()
                    d.extend([by_index[index], by_index[index]])
            _set_hint(proto, {x: val for x, val in values.items() if val is not None})
            solver = cp_model.CpSolver()
            solver.parameters.num_workers = 1
            solver.parameters.random_seed = int(rng.integers(0, 1 << 30))
            solver.parameters.max_time_in_seconds = max(0.01, min(sub_limit_seconds, left))
            if kinds is not None:  # most variables are fixed: presolve's probing and symmetry cost, not help
                solver.parameters.cp_model_probing_level = 0
                solver.parameters.symmetry_level = 0
            status = solver.solve(sub)
            with incumbent.lock:
                incumbent.iterations += 1
                tally = incumbent.by_kind.setdefault(kind, [0, 0])
                tally[0] += 1
                if status == cp_model.MODEL_INVALID:
                    raise RuntimeError(f"window search built an invalid model: {solver.solution_info()}")
                if status == cp_model.OPTIMAL:
                    incumbent.closed += 1
                    width[0] = min(float(n), width[0] * 1.15 + 1)
                elif status in (cp_model.FEASIBLE, cp_model.UNKNOWN):
                    width[0] = max(4.0, width[0] * shrink)
                if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                    value = int(round(solver.objective_value))
                    found = model.schedule_from(solver.value) if value < incumbent.objective else None
                    if found is not None and accept is not None and not accept(found):
                        incumbent.rejected += 1
                        found = None
                    if found is not None:
                        incumbent.schedule, incumbent.objective = found, value
                        incumbent.improvements += 1
                        tally[1] += 1
                        cost = to_cost(value)
                        if report:
                            incumbent.points.append((problem.elapsed(), cost))
                            problem.notify(cost)
                    if whole and status == cp_model.OPTIMAL:  # nothing was fixed: a proof for the full model
                        incumbent.proven = True
                        incumbent.bound = incumbent.objective

    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            worker(k)
        except BaseException as exc:  # surfaced in the calling thread below
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(max(1, threads))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]
