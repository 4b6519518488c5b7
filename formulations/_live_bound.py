"""A lower bound on the cost of every schedule (any order, any recomputation): values forced live.

Take any schedule and a node w at its first computation. Besides w's output and its inputs, every
node z that the schedule computes only once, whose only computation came before w's first, and that
has a reader (successor) whose first computation comes after w's, is live at that step: that reader
reads z's only copy after w. With R the nodes computed twice or more and "a before b" the order of
first computations (a topological order), for every node w:

    memory[w] + Σ memory[inputs of w] + Σ_{z not in R, z before w, a reader of z after w} memory[z] <= budget.

A fitting schedule pays each node of R's duration again, so Σ duration + min Σ_{R} duration subject to
those rows bounds the cost of every schedule that fits. Two relaxations, both solved by CP-SAT:

- `ancestors`: only the z that every order forces: the ancestors of w (inputs excluded) with a
  reader among w's descendants, F(w). A covering problem, one knapsack row per node whose
  forced memory exceeds the budget; fast (well under a second on the paper's graphs).
- `order`: every z, with a position per node (all different, along the edges) deciding "before"
  and "after". At least as strong; heavier (literals per pair and clauses per reader), and CP-SAT
  proves its minimum only on small graphs.

Any lower bound on either minimum (CP-SAT's, when time runs out) keeps the result sound; the larger
of the two is taken.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from moccasin_bench.graph import Graph

MODELS = ("ancestors", "order")
MAX_ORDER_TERMS = 200_000  # above this many liveness clauses the order model is not built (memory, build time)


@dataclass(frozen=True, eq=False)
class CoverRow:
    """One node's forced memory: `need_bytes` more than the budget allows unless some of `members`
    (dense indices: F(node), nodes of size 0 left out) are recomputed."""

    node: int
    need_bytes: int
    members: np.ndarray  # int64 dense indices


@dataclass(frozen=True)
class LiveBound:
    """What the models proved. `added_duration` is a lower bound on the duration any fitting schedule adds
    to Σ duration (None: no schedule fits, or nothing was proven in time)."""

    status: str  # "optimal" (the best model solved), "bounded" (time ran out: CP-SAT's bound), "none" (no row
    # binds), "infeasible" (some node's inputs and output exceed the budget), "timeout" (nothing built in time)
    added_duration: int | None
    rows: int
    variables: int
    recomputed: tuple[int, ...] = ()  # dense indices of the cheapest cover found by the ancestors model
    seconds: float = 0.0
    by_model: tuple[tuple[str, str, int | None], ...] = ()  # (model, CP-SAT status or "none", its bound)


def _bits(mask: int, n: int) -> np.ndarray:
    """Dense indices of the set bits of `mask` (bit i = node i)."""
    raw = np.frombuffer(mask.to_bytes((n + 7) // 8, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little")[:n])


@dataclass(frozen=True)
class _Closure:
    """Per node, as bitsets (Python integers): inputs, ancestors, descendants, and the nodes with a
    successor among the node and its descendants (Q(w) = inputs(w) ∪ ⋃ Q(s) over w's successors)."""

    inputs: list[int]
    ancestors: list[int]
    descendants: list[int]
    feeders: list[int]


def _closure(graph: Graph, deadline: float | None) -> _Closure | None:
    n = graph.n
    order = graph.topological_indices.tolist()
    preds = [graph.predecessors(v).tolist() for v in range(n)]
    succs = [graph.successors(v).tolist() for v in range(n)]
    inputs = [0] * n
    for v in range(n):
        for u in preds[v]:
            inputs[v] |= 1 << u
    anc = [0] * n
    for v in order:
        a = inputs[v]
        for u in preds[v]:
            a |= anc[u]
        anc[v] = a
    desc, feeds = [0] * n, [0] * n
    for k, v in enumerate(reversed(order)):
        d, q = 0, inputs[v]
        for s in succs[v]:
            d |= desc[s] | (1 << s)
            q |= feeds[s]
        desc[v], feeds[v] = d, q
        if deadline is not None and k % 256 == 0 and time.perf_counter() > deadline:
            return None
    return _Closure(inputs, anc, desc, feeds)


def _base(graph: Graph, w: int) -> int:
    mem = graph.memory
    return int(mem[w]) + int(mem[graph.predecessors(w)].sum())


def cover_rows(
    graph: Graph, budget_bytes: int, deadline: float | None = None, closure: _Closure | None = None
) -> list[CoverRow] | None:
    """The rows of the ancestors model at `budget_bytes`: nodes whose forced memory exceeds it (None when
    the deadline passes first)."""
    c = closure or _closure(graph, deadline)
    if c is None:
        return None
    n, mem = graph.n, graph.memory.astype(np.int64)
    rows: list[CoverRow] = []
    for w in range(n):
        members = _bits(c.ancestors[w] & c.feeders[w] & ~c.inputs[w], n)
        need = _base(graph, w) + int(mem[members].sum()) - budget_bytes
        if need > 0:
            rows.append(CoverRow(w, need, members[mem[members] > 0]))
        if deadline is not None and w % 256 == 0 and time.perf_counter() > deadline:
            return None
    return rows


def _solver(seconds: float, threads: int, seed: int):
    from formulations._cpsat import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, seconds)
    solver.parameters.num_workers = max(1, int(threads))
    solver.parameters.random_seed = int(seed)
    return solver


def _proven(solver, code) -> int | None:
    """The minimum's lower bound CP-SAT proved: its optimum, or its bound (floored: durations are integers)."""
    from formulations._cpsat import cp_model

    if code == cp_model.OPTIMAL:
        return int(round(solver.objective_value))
    if code in (cp_model.FEASIBLE, cp_model.UNKNOWN):
        return max(0, math.floor(solver.best_objective_bound + 1e-9))
    return None


def _solve_cover(graph: Graph, rows: list[CoverRow], seconds: float, threads: int, seed: int):
    """(CP-SAT status name, proven minimum or None, chosen nodes, variables) of the ancestors model."""
    from formulations._cpsat import cp_model, status_name

    mem, dur = graph.memory.astype(np.int64), graph.duration.astype(np.int64)
    model = cp_model.CpModel()
    used = sorted({int(u) for r in rows for u in r.members})
    x = {u: model.new_bool_var(f"r{u}") for u in used}
    for r in rows:
        model.add(sum(int(mem[u]) * x[int(u)] for u in r.members) >= r.need_bytes)
    model.minimize(sum(int(dur[u]) * x[u] for u in used))
    solver = _solver(seconds, threads, seed)
    code = solver.solve(model)
    chosen = tuple(u for u in used if solver.value(x[u])) if code in (cp_model.OPTIMAL, cp_model.FEASIBLE) else ()
    return status_name(code), _proven(solver, code), chosen, len(used)


def _solve_order(
    graph: Graph, budget_bytes: int, c: _Closure, seconds: float, threads: int, seed: int, deadline: float
):
    """(CP-SAT status name or why not built, proven minimum or None, rows, variables) of the order model."""
    from formulations._cpsat import cp_model, status_name

    n, mem, dur = graph.n, graph.memory.astype(np.int64), graph.duration.astype(np.int64)
    succs = [graph.successors(v).tolist() for v in range(n)]
    model = cp_model.CpModel()
    pos = [model.new_int_var(0, n - 1, f"p{v}") for v in range(n)]
    model.add_all_different(pos)
    for v in range(n):
        for s in succs[v]:
            model.add(pos[v] < pos[s])
    x: dict[int, object] = {}
    pairs: dict[tuple[int, int], object] = {}

    def recomputed(u: int):
        if u not in x:
            x[u] = model.new_bool_var(f"r{u}")
        return x[u]

    def before(a: int, b: int):
        """True, False, or the literal "a's first computation comes before b's"."""
        if c.ancestors[b] >> a & 1:
            return True
        if c.ancestors[a] >> b & 1:
            return False
        key = (min(a, b), max(a, b))
        if key not in pairs:
            lit = model.new_bool_var(f"b{key[0]}_{key[1]}")
            model.add(pos[key[0]] < pos[key[1]]).only_enforce_if(lit)
            model.add(pos[key[0]] > pos[key[1]]).only_enforce_if(~lit)
            pairs[key] = lit
        return pairs[key] if a == key[0] else ~pairs[key]

    rows, terms_built = 0, 0
    has_readers = [bool(succs[z]) and mem[z] > 0 for z in range(n)]
    for w in range(n):
        skip = c.inputs[w] | c.descendants[w] | (1 << w)
        candidates = []  # (z, live whenever first, the readers of z that may come after w)
        potential = 0
        for z in range(n):
            if not has_readers[z] or skip >> z & 1:
                continue
            later, forced = [], False
            for s in succs[z]:
                if s == w or c.ancestors[w] >> s & 1:  # w itself (an input: in the base) or a reader before w
                    continue
                if c.ancestors[s] >> w & 1:  # a reader among w's descendants: after w in every order
                    forced = True
                    break
                later.append(s)
            if forced or later:
                candidates.append((z, forced, later))
                potential += int(mem[z])
        if _base(graph, w) + potential <= budget_bytes:  # the row cannot bind
            continue
        rows += 1
        terms = []
        for z, forced, later in candidates:
            live = model.new_bool_var(f"l{z}_{w}")
            # live when z comes first, is not recomputed, and a reader of z comes after w
            first = before(z, w)
            clause = [recomputed(z), live] + ([] if first is True else [first.Not()])
            for s in [None] if forced else later:
                model.add_bool_or(clause + ([] if s is None else [before(w, s).Not()]))
                terms_built += 1
            terms.append(int(mem[z]) * live)
        model.add(_base(graph, w) + sum(terms) <= budget_bytes)
        if terms_built > MAX_ORDER_TERMS:
            return f"not built: more than {MAX_ORDER_TERMS:,} liveness clauses", None, 0, 0
        if w % 64 == 0 and time.perf_counter() > deadline:
            return "not built in time", None, 0, 0
    if rows == 0:
        return "none", 0, 0, 0
    model.minimize(sum(int(dur[u]) * v for u, v in x.items()))
    solver = _solver(min(seconds, deadline - time.perf_counter()), threads, seed)
    code = solver.solve(model)
    return status_name(code), _proven(solver, code), rows, len(model.proto.variables)


def live_bound(
    graph: Graph,
    budget_bytes: int,
    time_limit_seconds: float,
    threads: int = 1,
    seed: int = 0,
    model: str = "order",
    cover_share: float = 0.25,
) -> LiveBound:
    """The least duration any schedule fitting `budget_bytes` must add to Σ duration (module docstring): the
    ancestors model within `cover_share` of the time, then, with model="order", the order model in the rest;
    the larger proven bound."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    t0 = time.perf_counter()
    deadline = t0 + time_limit_seconds
    c = _closure(graph, deadline)
    rows = None if c is None else cover_rows(graph, budget_bytes, deadline, c)
    if rows is None:
        return LiveBound("timeout", None, 0, 0, seconds=time.perf_counter() - t0)
    mem = graph.memory.astype(np.int64)
    if any(r.need_bytes > int(mem[r.members].sum()) for r in rows):
        return LiveBound("infeasible", None, len(rows), 0, seconds=time.perf_counter() - t0)
    if rows:
        limit = cover_share * time_limit_seconds if model == "order" else time_limit_seconds
        status, best, chosen, variables = _solve_cover(graph, rows, limit, threads, seed)
    else:
        status, best, chosen, variables = "none", 0, (), 0
    by_model = [("ancestors", status, best)]
    n_rows, solved = len(rows), status in ("optimal", "none")
    if model == "order" and time.perf_counter() < deadline:
        o_status, o_best, o_rows, o_vars = _solve_order(
            graph, budget_bytes, c, deadline - time.perf_counter(), threads, seed, deadline
        )
        by_model.append(("order", o_status, o_best))
        if o_best is not None and (best is None or o_best >= best):
            best, solved = o_best, o_status in ("optimal", "none")
            n_rows, variables = o_rows, o_vars
    if best is None:
        return LiveBound("timeout", None, n_rows, variables, seconds=time.perf_counter() - t0, by_model=tuple(by_model))
    kind = "none" if best == 0 and all(s == "none" for _, s, _ in by_model) else "optimal" if solved else "bounded"
    return LiveBound(kind, best, n_rows, variables, chosen, time.perf_counter() - t0, tuple(by_model))
