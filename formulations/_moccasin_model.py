"""Moccasin's CP-SAT model (Bartan et al., ICML 2023): build it, hint it, read schedules back.

Per node v, `copies[v]` retention intervals [s, e) on a discrete time axis (the copy is
computed at step s and held through step e - 1), each with a presence literal: the first
copy is mandatory, presence is non-increasing and present copies are ordered (a copy ends
no later than the next one starts). A cumulative constraint keeps the held memory within
the budget; precedence makes a present copy of each input cover every present copy of v at
its start (s_u < s_v < e_u); the objective is the duration of the optional copies.

Time axis:
- `fixed` order: the paper's stage grid along a topological order: stage t recomputes nodes
  at positions < t in position order, then computes position t for the first time. Copy i
  of the node at position k may start only in stages >= k + i; copy 0 is pinned to stage k.
  Events are numbered t*n + k (`strided`, default) or t(t+1)/2 + k (`triangular`, the
  paper's); both numberings increase with (t, k), so the models are the same. Strided starts
  are n*stage + k of a stage variable with an interval domain, which CP-SAT presolves in a
  fraction of the time a domain listing every event takes (RL2: 2 s against 60 s).
  Different nodes never share an event, so no all-different constraint is needed.
- `free` order: every start is a step in [0, horizon); present starts are all different
  (no-overlap of unit intervals). The horizon defaults to the total number of copies, which
  restricts nothing: a schedule with at most `copies[v]` computations of each v has at most
  that many steps, and packing its steps to 0, 1, 2 ... keeps it valid and no larger in memory.

Precedence encodings (edge u -> v, copy j of v):
- `latest`: a literal b_i <=> (copy i of u is present and starts before v^j) for i >= 1; the
  covering copy is the latest such copy (b non-increasing in i), so p_v^j and b_i and not
  b_{i+1} imply e_u^i > s_v^j. Copy 0 of u always starts before every copy of v.
- `literals`: x_i for every copy of u, x_i -> (u^i present, s_u^i < s_v^j < e_u^i), and
  p_v^j -> OR x_i (the encoding the authors wrote for their non-reservoir variant).
- `reservoir`: the authors' default: one reservoir per (edge, copy of v), +1 at s_u^i + 1,
  -1 at e_u^i, -1 at s_v^j, +1 at s_v^j + 1, level >= 0.

Soundness with respect to the simulator: copies of a node are disjoint and ordered, so the
copy covering a reader is always the most recent earlier copy, which is the one the
simulator reads; a copy is live in the simulator from its step to its last reader, which lies
inside the model's interval. So at every step the simulated memory is at most the model's
cumulative, and a model solution never breaks the budget in the simulator.

Every model quantity is an integer: durations and sizes are divided by their GCDs, and the
budget by the size GCD (rounded down, which is exact because every demand is a multiple).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from formulations._scaling import gcd
from formulations._stage_grid import grid_positions, stage_event
from moccasin_bench.graph import Graph
from moccasin_bench.simulate import read_producers

INT64_MAX = (1 << 63) - 1
PRECEDENCES = ("latest", "literals", "reservoir")


@dataclass(frozen=True)
class ModelOptions:
    """Variant switches; every one of them is recorded in the run's `variant`."""

    order_mode: str = "fixed"  # fixed | free
    precedence: str = "latest"  # latest | literals | reservoir
    end_domain: str = "bounds"  # bounds | readers (ends only just after a possible reader)
    lengths: str = "free"  # free | paper (the authors' log-spaced interval lengths)
    symmetry: bool = True  # absent copies take fixed canonical start/end values
    horizon: int = 0  # free order only; 0 = total number of copies
    capacity_variable: bool = False  # phase 1: the cumulative capacity is a variable to minimise
    time_axis: str = "strided"  # fixed order: strided (t*n + k) or triangular (t(t+1)/2 + k, the paper's numbering)


@dataclass(frozen=True)
class Scaling:
    """How the graph's integers were reduced for the model (model value x factor = graph value).

    Sizes are divided by their GCD: exact. Durations are divided by their GCD and, only when the
    largest possible objective would still exceed OBJECTIVE_LIMIT (2^50: CP-SAT reports
    objectives as doubles), by a further factor with rounding: then `exact_durations` is False,
    the model optimises rounded durations, and its optimum is not claimed as optimal.
    """

    duration_factor: int
    memory_factor: int
    capacity: int  # budget in model units: floor(budget / memory_factor)
    exact_durations: bool = True

    def to_json(self) -> dict:
        return {
            "duration_factor": self.duration_factor,
            "memory_factor": self.memory_factor,
            "capacity": self.capacity,
            "exact_durations": self.exact_durations,
        }


OBJECTIVE_LIMIT = 1 << 50


def scaling(graph: Graph, budget_bytes: int, use_gcd: bool = True, max_copies: int = 2) -> Scaling:
    dg = gcd(graph.duration) if use_gcd else 1
    mg = gcd(graph.memory) if use_gcd else 1
    worst = (graph.sum_duration // dg) * max(1, int(max_copies))
    exact = worst < OBJECTIVE_LIMIT
    if not exact:
        dg *= -(-worst // OBJECTIVE_LIMIT)
    return Scaling(dg, mg, int(budget_bytes) // mg, exact)


def effective_copies(graph: Graph, copies: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Copies per node actually modelled: a node nobody reads gains nothing from a second copy,
    and on the fixed-order grid the node at position k has only stages k..n-1 to be computed in."""
    c = np.maximum(np.asarray(copies, dtype=np.int64), 1)
    c = np.where(graph.out_degree == 0, 1, c)
    if order is not None:
        position = np.empty(graph.n, dtype=np.int64)
        position[np.asarray(order, dtype=np.int64)] = np.arange(graph.n)
        c = np.minimum(c, graph.n - position)
    return c


def expressible(
    graph: Graph, schedule: np.ndarray, copies: np.ndarray, options: ModelOptions, order: np.ndarray | None = None
) -> bool:
    """Whether the model built with these arguments can represent `schedule` (for hints)."""
    s = np.asarray(schedule, dtype=np.int64)
    fixed = options.order_mode == "fixed"
    c = effective_copies(graph, copies, order if fixed else None)
    counts = np.bincount(s, minlength=graph.n)
    if np.any(counts > c) or np.any(counts == 0):
        return False
    if fixed:
        found = grid_positions(s, order)
        if found is None:
            return False
        if options.lengths == "paper":  # every retention interval's length must be one of the authors' values
            times = stage_event(*found)
            reader, producer = read_producers(graph, s)
            end = times + 1
            np.maximum.at(end, producer, times[reader] + 1)
            allowed = np.array(paper_length_values(graph.n), dtype=np.int64)
            read = graph.out_degree[s] > 0
            return bool(np.all(np.isin((end - times)[read], allowed)))
        return True
    horizon = int(options.horizon) if options.horizon > 0 else int(c.sum())
    return len(s) <= horizon


def _ancestor_descendant_counts(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Number of ancestors and of descendants of each node (bitsets as Python ints)."""
    topo = graph.topological_indices.tolist()
    anc = [0] * graph.n
    for v in topo:
        for u in graph.predecessors(v).tolist():
            anc[v] |= anc[u] | (1 << u)
    desc = [0] * graph.n
    for v in reversed(topo):
        for w in graph.successors(v).tolist():
            desc[v] |= desc[w] | (1 << w)
    return (
        np.array([a.bit_count() for a in anc], dtype=np.int64),
        np.array([d.bit_count() for d in desc], dtype=np.int64),
    )


def paper_length_values(n: int) -> list[int]:
    """The authors' interval-length domain: 5n log-spaced integers from 1 to 1.1 n(n+1)/2, the
    horizon of their stage grid (event numbers t(t+1)/2 + k). Only meaningful on that grid."""
    horizon = int(n * (n + 1) / 2 * 1.1)
    return sorted(set(np.logspace(0.0, math.log10(max(horizon, 1)), num=5 * n, dtype=int).tolist()))


@dataclass(frozen=True)
class TimeAxis:
    """Integer time of grid event (stage t, position k) in the fixed-order model.

    `triangular` numbers events t(t+1)/2 + k as the paper does; `strided` numbers them
    t*n + k. Both are increasing in (t, k), so the model is the same; with `strided` a
    start is the affine expression n*stage + k of a stage variable with an interval
    domain, which CP-SAT presolves far faster than a domain listing every event.
    """

    n: int
    kind: str = "strided"

    def time(self, stage, position):
        if self.kind == "strided":
            return stage * self.n + position
        return stage_event(stage, position)

    @property
    def horizon(self) -> int:  # one past the last event
        return self.n * self.n if self.kind == "strided" else int(stage_event(self.n, 0))


@dataclass
class MoccasinModel:
    """A built model plus the handles needed to hint it and to read a schedule from a solution."""

    graph: Graph
    options: ModelOptions
    copies: np.ndarray
    order: np.ndarray | None  # fixed order only
    axis: TimeAxis | None  # fixed order only
    scale: Scaling
    model: object  # cp_model.CpModel
    present: list[list[object]]  # literal, or True for mandatory copies
    start: list[list[object]]  # start time: int or linear expression a*var + b
    start_var: list[list[tuple]]  # (var or None, a, b) with start = a*var + b
    end: list[list[object]]
    size: list[list[object]]
    capacity: object  # int or IntVar (phase 1)
    capacity_max: int  # upper end of the capacity variable's domain (model units)
    duration_units: np.ndarray  # each node's duration in model units (the objective's coefficients)
    cost: object  # linear expression: optional duration in model units
    base_cost: int  # duration of the mandatory copies, in model units
    horizon: int
    start_max: list[list[int]]  # canonical start of an absent copy
    derived: list[tuple] = field(default_factory=list)  # (literal, kind, (u, i, v, j)) for hint values

    # ---- hints -------------------------------------------------------------------------
    def times_of(self, schedule: np.ndarray) -> np.ndarray | None:
        """Model start time of each step of `schedule`, or None when the schedule is off the model's time axis."""
        s = np.asarray(schedule, dtype=np.int64)
        if self.options.order_mode == "free":
            return np.arange(len(s), dtype=np.int64) if len(s) <= self.horizon else None
        found = grid_positions(s, self.order)
        return None if found is None else self.axis.time(*found)

    def hint_values(self, schedule: np.ndarray) -> dict | None:
        """Values of every model variable for `schedule`, or None if the model cannot express it."""
        g = self.graph
        s = np.asarray(schedule, dtype=np.int64)
        times = self.times_of(s)
        if times is None:
            return None
        counts = np.bincount(s, minlength=g.n)
        if np.any(counts > self.copies) or np.any(counts == 0):
            return None
        # start and end (= 1 + last read time; reads go to the latest copy) of every computation
        reader, producer = read_producers(g, s)
        end = times + 1
        np.maximum.at(end, producer, times[reader] + 1)
        on: dict[tuple[int, int], tuple[int, int]] = {}
        seen = np.zeros(g.n, dtype=np.int64)
        for j, v in enumerate(s.tolist()):
            on[(v, int(seen[v]))] = (int(times[j]), int(end[j]))
            seen[v] += 1
        values: dict = {}
        present: dict[tuple[int, int], bool] = {}
        start: dict[tuple[int, int], int] = {}
        for v in range(g.n):
            for i in range(int(self.copies[v])):
                here = (v, i) in on
                a, b = on[(v, i)] if here else (self.start_max[v][i], self.start_max[v][i] + 1)
                present[(v, i)], start[(v, i)] = here, a
                _put(values, self.present[v][i], int(here))
                var, mult, offset = self.start_var[v][i]
                if var is not None:
                    values[var] = (a - offset) // mult
                _put(values, self.end[v][i], b)
                _put(values, self.size[v][i], b - a)
        for lit, kind, (u, i, v, j) in self.derived:
            values[lit] = int(_derived(kind, u, i, v, j, present, start, self.copies))
        if not isinstance(self.capacity, int):
            from moccasin_bench.simulate import simulate

            peak_units = -(-simulate(g, s).peak_memory // self.scale.memory_factor)
            values[self.capacity] = max(self.scale.capacity, peak_units)
        return values

    def add_hints(self, values: dict) -> None:
        self.model.clear_hints()
        for var, value in values.items():
            self.model.add_hint(var, int(value))

    # ---- solutions ---------------------------------------------------------------------
    def objective_of(self, schedule: np.ndarray) -> int:
        """The cost objective (model units, optional copies only) of a schedule the model expresses."""
        return int(self.duration_units[np.asarray(schedule, dtype=np.int64)].sum()) - self.base_cost

    def schedule_from(self, value) -> np.ndarray:
        """Present copies sorted by start time -> node sequence. `value(x)` reads a solution."""
        rows = []
        for v in range(self.graph.n):
            for i in range(int(self.copies[v])):
                p = self.present[v][i]
                if p is True or value(p):
                    var, mult, offset = self.start_var[v][i]
                    rows.append((offset if var is None else mult * value(var) + offset, v))
        rows.sort()
        return np.array([v for _, v in rows], dtype=np.int64)


def _put(values: dict, var, value: int) -> None:
    from formulations._cpsat import cp_model

    if isinstance(var, cp_model.IntVar):
        values[var] = value


def _derived(kind: str, u: int, i: int, v: int, j: int, present: dict, start: dict, copies: np.ndarray) -> bool:
    def before(i_: int) -> bool:  # copy i_ of u is present and starts before copy j of v
        return present[(u, i_)] and start[(u, i_)] < start[(v, j)]

    if kind == "before":
        return before(i)
    if kind == "covers":  # copy j of v is present and copy i of u is the latest copy of u started before it
        return present[(v, j)] and before(i) and (i + 1 >= copies[u] or not before(i + 1))
    raise ValueError(kind)


def build(
    graph: Graph,
    budget_bytes: int,
    copies: np.ndarray,
    options: ModelOptions,
    order: np.ndarray | None = None,
    use_gcd: bool = True,
):
    """Build the CP-SAT model. `copies` is the number of retention intervals per node."""
    from formulations._cpsat import cp_model

    if options.precedence not in PRECEDENCES:
        raise ValueError(f"unknown precedence encoding {options.precedence!r}")
    g = graph
    n = g.n
    C = effective_copies(g, copies, order if options.order_mode == "fixed" else None)
    sc = scaling(g, budget_bytes, use_gcd, int(C.max()))
    dur = (
        g.duration // sc.duration_factor
        if sc.exact_durations
        else np.rint(g.duration / sc.duration_factor).astype(np.int64)
    ).tolist()
    mem = (g.memory // sc.memory_factor).tolist()
    fixed = options.order_mode == "fixed"
    m = cp_model.CpModel()

    # ---- time axis and domains ------------------------------------------------------------
    axis = None
    if fixed:
        if order is None:
            raise ValueError("the fixed-order model needs an order")
        order = np.asarray(order, dtype=np.int64)
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        axis = TimeAxis(n, options.time_axis)
        horizon = axis.horizon
        succ_pos_max = [max((int(position[w]) for w in g.successors(v).tolist()), default=-1) for v in range(n)]
    else:
        horizon = int(options.horizon) if options.horizon > 0 else int(C.sum())
        anc, desc = _ancestor_descendant_counts(g)

    def end_bound(v: int) -> int:
        """One past the last time a reader of v can start."""
        if fixed:
            return int(axis.time(n - 1, succ_pos_max[v])) + 1 if succ_pos_max[v] >= 0 else horizon
        return horizon

    reader_times: list[list[int]] = []
    if fixed and options.end_domain == "readers":
        cache: dict[int, list[int]] = {}
        for v in range(n):
            times: set[int] = set()
            for w in g.successors(v).tolist():
                if w not in cache:
                    k = int(position[w])
                    cache[w] = [int(axis.time(t, k)) for t in range(k, n)]
                times.update(cache[w])
            reader_times.append(sorted(times))

    length_domain = None
    if options.lengths == "paper":
        if not fixed or options.time_axis != "triangular":
            raise ValueError(
                "the paper's interval lengths are defined on the fixed-order grid with triangular event numbers"
            )
        length_domain = cp_model.Domain.from_values(paper_length_values(n))

    present: list[list[object]] = []
    start: list[list[object]] = []
    start_var: list[list[tuple]] = []
    end: list[list[object]] = []
    size: list[list[object]] = []
    start_max: list[list[int]] = []
    intervals, demands = [], []
    unit_intervals = []
    for v in range(n):
        pv, sv, svar, ev_, zv, smax = [], [], [], [], [], []
        for i in range(int(C[v])):
            # start: a constant, a*var + b, with its smallest value and canonical (absent) value
            if fixed:
                k = int(position[v])
                own_times = [int(axis.time(t, k)) for t in range(k + i, n)]
                if i == 0:
                    s, sref = own_times[0], (None, 1, own_times[0])
                elif axis.kind == "strided":
                    stage = m.new_int_var(k + i, n - 1, f"t{v}_{i}")
                    s, sref = n * stage + k, (stage, n, k)
                else:
                    var = m.new_int_var_from_domain(cp_model.Domain.from_values(own_times), f"s{v}_{i}")
                    s, sref = var, (var, 1, 0)
                lo_s, hi_s = own_times[0], own_times[-1]
            else:
                lo_s = int(anc[v]) + i
                hi_s = max(lo_s, horizon - 1 - int(desc[v]) if i == 0 else horizon - 2)
                var = m.new_int_var(lo_s, hi_s, f"s{v}_{i}")
                s, sref = var, (var, 1, 0)
                own_times = None
            smax.append(hi_s)
            # end: one past the last step the copy is held
            e_hi = max(end_bound(v), lo_s + 1)
            if length_domain is not None:  # a length rounded up to the authors' values may outlast every reader
                e_hi = max(horizon, lo_s + 1)
            if g.out_degree[v] == 0:
                e = s + 1  # nobody reads it: held at its own step only
            elif fixed and options.end_domain == "readers" and length_domain is None:
                vals = sorted({x + 1 for x in own_times} | {x + 1 for x in reader_times[v] if lo_s < x + 1 <= e_hi})
                e = m.new_int_var_from_domain(cp_model.Domain.from_values(vals), f"e{v}_{i}")
            else:
                e = m.new_int_var(lo_s + 1, e_hi, f"e{v}_{i}")
            if g.out_degree[v] == 0:
                z = 1
            elif length_domain is not None:
                z = m.new_int_var_from_domain(length_domain, f"z{v}_{i}")
            else:
                z = m.new_int_var(1, e_hi - lo_s, f"z{v}_{i}")
            if i == 0:
                p = True
                iv = m.new_interval_var(s, z, e, f"I{v}_{i}")
                if not fixed:
                    unit_intervals.append(m.new_fixed_size_interval_var(s, 1, f"U{v}_{i}"))
            else:
                p = m.new_bool_var(f"p{v}_{i}")
                iv = m.new_optional_interval_var(s, z, e, p, f"I{v}_{i}")
                if not fixed:
                    unit_intervals.append(m.new_optional_fixed_size_interval_var(s, 1, p, f"U{v}_{i}"))
            if mem[v] > 0:
                intervals.append(iv)
                demands.append(mem[v])
            pv.append(p)
            sv.append(s)
            svar.append(sref)
            ev_.append(e)
            zv.append(z)
        present.append(pv)
        start.append(sv)
        start_var.append(svar)
        end.append(ev_)
        size.append(zv)
        start_max.append(smax)

    # ---- copies: presence non-increasing, ordered in time, canonical when absent --------------
    for v in range(n):
        for i in range(1, int(C[v])):
            p = present[v][i]
            if i > 1:
                m.add_implication(p, present[v][i - 1])
            m.add(end[v][i - 1] <= start[v][i]).only_enforce_if(p)
            if options.symmetry:
                m.add(start[v][i] == start_max[v][i]).only_enforce_if(~p)
                if g.out_degree[v] > 0:
                    m.add(end[v][i] == start_max[v][i] + 1).only_enforce_if(~p)

    # ---- memory -------------------------------------------------------------------------------
    cap_bound = max(sc.capacity, int(sum(mem[v] * int(C[v]) for v in range(n))))
    if cap_bound >= INT64_MAX // 4 or max(mem, default=0) * horizon >= INT64_MAX // 4:
        raise OverflowError(
            f"memory sizes (after dividing by their GCD {sc.memory_factor}) are too large for CP-SAT's "
            f"64-bit cumulative reasoning: sum {cap_bound}, horizon {horizon}"
        )
    if options.capacity_variable:
        capacity = m.new_int_var(sc.capacity, max(cap_bound, sc.capacity), "capacity")
    else:
        capacity = sc.capacity
    m.add_cumulative(intervals, demands, capacity)
    if not fixed:
        m.add_no_overlap(unit_intervals)

    # ---- precedence ---------------------------------------------------------------------------
    derived: list[tuple] = []

    def lit_true(x) -> bool:
        return x is True

    def enforce(ct, lits):
        lits = [x for x in lits if not lit_true(x)]
        if lits:
            ct.only_enforce_if(lits)
        return ct

    def at_most(a, b, lits):
        """a <= b when every literal in lits holds (a and b may both be constants)."""
        if isinstance(a, int) and isinstance(b, int):
            if a > b:
                lits = [x for x in lits if not lit_true(x)]
                m.add_bool_or([~x for x in lits]) if lits else m.add_bool_or([])
            return
        enforce(m.add(a <= b), lits)

    for u, v in g.edges.tolist():
        if not fixed:
            m.add(start[u][0] + 1 <= start[v][0])
        cu = int(C[u])
        for j in range(int(C[v])):
            pvj, svj = present[v][j], start[v][j]
            if options.precedence == "reservoir":
                times, changes, actives = [], [], []
                for i in range(cu):
                    times += [start[u][i] + 1, end[u][i]]
                    changes += [1, -1]
                    actives += [present[u][i], present[u][i]]
                times += [svj, svj + 1]
                changes += [-1, 1]
                actives += [pvj, pvj]
                m.add_reservoir_constraint_with_active(
                    times, changes, [True if a is True else a for a in actives], 0, cu + 1
                )
                continue
            if options.precedence == "literals":
                xs = []
                for i in range(cu):
                    x = m.new_bool_var(f"x{u}_{v}_{i}_{j}")
                    xs.append(x)
                    if i > 0:
                        m.add_implication(x, present[u][i])
                    if not lit_true(pvj):
                        m.add_implication(x, pvj)
                    at_most(start[u][i] + 1, svj, [x])
                    at_most(svj + 1, end[u][i], [x])
                    derived.append((x, "covers", (u, i, v, j)))
                enforce(m.add_bool_or(xs), [pvj])
                continue
            # latest: b_i <=> (copy i of u is present and starts before v^j); the covering copy is the latest one
            bs = []
            for i in range(1, cu):
                b = m.new_bool_var(f"b{u}_{v}_{i}_{j}")
                m.add_implication(b, present[u][i])
                at_most(start[u][i] + 1, svj, [b])
                at_most(svj, start[u][i], [present[u][i], ~b])
                if bs:
                    m.add_implication(b, bs[-1])
                derived.append((b, "before", (u, i, v, j)))
                bs.append(b)
            for i in range(cu):
                lits = [pvj]
                if i > 0:
                    lits.append(bs[i - 1])
                if i + 1 < cu:
                    lits.append(~bs[i])
                at_most(svj + 1, end[u][i], lits)

    # ---- objective ------------------------------------------------------------------------------
    base = int(sum(dur))
    terms = [(present[v][i], dur[v]) for v in range(n) for i in range(1, int(C[v])) if dur[v] > 0]
    cost = sum(d * p for p, d in terms) if terms else 0
    limit = base + sum(d for _, d in terms)
    if limit >= INT64_MAX // 4:
        raise OverflowError(f"the objective bound {limit} (model units) does not fit in 64-bit arithmetic")
    return MoccasinModel(
        graph=g,
        options=options,
        copies=C,
        order=order if fixed else None,
        axis=axis,
        scale=sc,
        model=m,
        present=present,
        start=start,
        start_var=start_var,
        end=end,
        size=size,
        capacity=capacity,
        capacity_max=max(cap_bound, sc.capacity),
        duration_units=np.array(dur, dtype=np.int64),
        cost=cost,
        base_cost=base,
        horizon=horizon,
        start_max=start_max,
        derived=derived,
    )
