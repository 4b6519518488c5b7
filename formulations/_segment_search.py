"""Segment search: improve a schedule by re-solving short windows of it as small CP-SAT models.

A window is the steps [a, b) of the incumbent. Everything outside is fixed and summarised:
- entering: the copies computed before `a` that a read at or after `a` uses (live across `a`);
  each is an interval [0, e) of the window, its end free (it may now die sooner);
- leaving: the nodes the suffix reads before computing them itself; some copy of each must be
  held to the window's end, and the suffix's memory is then exactly as before;
- constant: an entering copy that nothing in the window can replace and the suffix needs is
  resident across the whole window, taken off the capacity.
Inside: every node computed in the window gets its window computations plus `extra` optional
ones, the inputs the window reads from before `a` one optional recomputation; present copies
are ordered retention intervals as in Moccasin's model (formulations/_moccasin_model.py), each
read covered by the latest earlier copy of the input, a cumulative within the budget; the
objective is the window's duration, strictly below the incumbent's. Copies entering the window
only die sooner, so memory before `a` never grows; memory after `b` is unchanged; the model's
intervals cover the simulator's liveness, so a solution fits. The simulator judges every
splice anyway (`segment_search` accepts only schedules it says fit and cost less).

A copy that died before `a` may instead be held into the window (instead of recomputed there) when
the steps from its last read to `a` have the headroom, checked for the held copies together.

A drop (`drop_and_repair`) removes one recomputation (its readers read the node's previous copy, held
longer) and repairs the steps that pushes over the budget with windows allowed to cost more, as long as
the repairs cost less than the drop saves: on a long schedule the improvements no single window holds.

Each model has tens of nodes whatever the graph's size: CP-SAT closes most windows in milliseconds;
building the model in Python costs more (tenths of a second for 24 steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from moccasin_bench.graph import Graph
from moccasin_bench.simulate import read_producers, schedule_cost, simulate


@dataclass
class SegmentStats:
    """What a segment search did (recorded in the run's variant)."""

    iterations: int = 0
    improvements: int = 0
    closed: int = 0  # windows proven unimprovable (infeasible below the incumbent) or solved to optimality
    rejected: int = 0  # splices the simulator refused (a model bug: never expected)
    drop_windows: int = 0  # repair windows solved for dropped recomputations
    drops_without_model: int = 0  # drops that fit with no repair (no CP-SAT model involved)
    solve_seconds: float = 0.0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [tries, improvements]
    points: list[tuple[float, float]] = field(default_factory=list)  # (seconds, cost)

    def to_json(self) -> dict:
        return {
            "iterations": self.iterations,
            "improvements": self.improvements,
            "closed": self.closed,
            "rejected": self.rejected,
            "drop_windows": self.drop_windows,
            "drops_without_model": self.drops_without_model,
            "solve_seconds": round(self.solve_seconds, 3),
            "by_kind": self.by_kind,
        }


@dataclass(frozen=True)
class Profile:
    """The incumbent's simulation and read structure, computed once per incumbent."""

    schedule: np.ndarray
    live_until: np.ndarray
    memory_per_step: np.ndarray
    reader: np.ndarray
    producer: np.ndarray
    recomputed_steps: np.ndarray  # steps that compute a node computed before
    cost: int


def profile(graph: Graph, schedule: np.ndarray) -> Profile:
    s = np.asarray(schedule, dtype=np.int64)
    sim = simulate(graph, s)
    reader, producer = read_producers(graph, s)
    _, first = np.unique(s, return_index=True)
    again = np.ones(len(s), dtype=bool)
    again[first] = False
    return Profile(
        s, sim.live_until, sim.memory_per_step, reader, producer, np.nonzero(again)[0], int(sim.total_duration)
    )


def solve_window(
    graph: Graph,
    prof: Profile,
    a: int,
    b: int,
    budget_bytes: int,
    time_limit_seconds: float = 1.0,
    extra: int = 1,
    max_copies: np.ndarray | None = None,
    seed: int = 0,
    keep: bool = True,
    slack: int = 0,
    **parameters,
) -> tuple[np.ndarray | None, str]:
    """The window [a, b) of the incumbent re-solved: (the new window's nodes, status) where status is
    "improved", "closed" (no cheaper window exists within the model) or "open" (time out)."""
    from formulations._cpsat import cp_model

    s = prof.schedule
    window = s[a:b]
    n = graph.n
    # entering: producers before a of reads at or after a; leaving: producers before b of reads at or after b
    enter_mask = (prof.reader >= a) & (prof.producer < a) & (prof.producer >= 0)
    entering = np.unique(s[prof.producer[enter_mask]])
    leave_mask = (prof.reader >= b) & (prof.producer < b) & (prof.producer >= 0)
    leaving = set(np.unique(s[prof.producer[leave_mask]]).tolist())
    elsewhere = np.bincount(s[:a], minlength=n) + np.bincount(s[b:], minlength=n)
    in_window = np.bincount(window, minlength=n)
    cap = np.full(n, 1 << 30, dtype=np.int64) if max_copies is None else np.asarray(max_copies, dtype=np.int64)
    entering_set = set(entering.tolist())
    # kept: a node the window computes or reads whose last copy before `a` died there; holding that copy
    # on to the window instead of recomputing it costs memory from its last read to `a`, checked against
    # the prefix's headroom (for the kept copies together: see below)
    kept: dict[int, int] = {}  # node -> step of its last copy before a
    if keep and a > 0:
        last_before = np.full(n, -1, dtype=np.int64)
        last_before[s[:a]] = np.arange(a)  # later steps overwrite earlier ones
        near = set(np.unique(window).tolist())
        for v in list(near):
            near.update(graph.predecessors(v).tolist())
        for u in near:
            j = int(last_before[u])
            if j < 0 or u in entering_set:
                continue
            if graph.memory[u] <= budget_bytes - prof.memory_per_step[prof.live_until[j] + 1 : a].max(initial=0):
                kept[u] = j

    copies: dict[int, int] = {}
    for v in np.nonzero(in_window)[0].tolist():
        copies[v] = int(max(1, min(in_window[v] + extra, cap[v] - elsewhere[v])))
        copies[v] = max(copies[v], int(in_window[v]))
    read_here = set()
    for v in copies:
        read_here.update(graph.predecessors(v).tolist())
    for u in entering.tolist():  # an input held since before a may be recomputed in the window instead
        if u in read_here and u not in copies and extra > 0 and cap[u] - elsewhere[u] >= 1:
            copies[u] = 1
    H = sum(copies.values())
    old_cost = int(graph.duration[window].sum())

    m = cp_model.CpModel()
    capacity = int(budget_bytes)
    pre_end: dict[int, object] = {}  # entering or kept node -> end of its copy in window time (int or var)
    pre_present: dict[int, object] = {}  # kept node -> literal: its copy is held into the window
    intervals, demands = [], []
    if kept:  # prefix headroom: the kept copies live from just after their last read to `a`
        live_from = {u: int(prof.live_until[j]) + 1 for u, j in kept.items()}
        by_start = sorted(kept, key=live_from.__getitem__)
        for u in by_start:
            k = m.new_bool_var("")
            pre_present[u] = k
            e = m.new_int_var(0, H, "")
            pre_end[u] = e
            m.add(e == 0).only_enforce_if(~k)
            if graph.memory[u]:
                size = m.new_int_var(0, H, "")
                intervals.append(m.new_optional_interval_var(0, size, e, k, ""))
                demands.append(int(graph.memory[u]))
        for i, u in enumerate(by_start):  # at each step the copies kept from before it, within the headroom
            lo = live_from[u]
            headroom = int(budget_bytes) - int(prof.memory_per_step[lo:a].max(initial=0))
            m.add(sum(int(graph.memory[w]) * pre_present[w] for w in by_start[: i + 1]) <= headroom)
    for u in entering.tolist():
        if u in leaving and u not in copies:
            capacity -= int(graph.memory[u])  # resident through the window
            pre_end[u] = H
            continue
        e = m.new_int_var(0, H, "")
        pre_end[u] = e
        if graph.memory[u]:
            intervals.append(m.new_interval_var(0, e, e, ""))
            demands.append(int(graph.memory[u]))
    if capacity < 0:
        return None, "closed"
    pres: dict[int, list] = {}
    start: dict[int, list] = {}
    end: dict[int, list] = {}
    units = []
    for v, c in copies.items():
        pres[v], start[v], end[v] = [], [], []
        for i in range(c):
            p = m.new_bool_var("")
            st = m.new_int_var(0, H - 1, "")
            en = m.new_int_var(1, H, "")
            m.add(en >= st + 1)
            m.add(st == 0).only_enforce_if(~p)
            m.add(en == 1).only_enforce_if(~p)
            units.append(m.new_optional_fixed_size_interval_var(st, 1, p, ""))
            if graph.memory[v]:
                size = m.new_int_var(1, H, "")
                intervals.append(m.new_optional_interval_var(st, size, en, p, ""))
                demands.append(int(graph.memory[v]))
            if i:
                m.add_implication(p, pres[v][-1])
                m.add(st >= end[v][-1]).only_enforce_if(p)
            elif v in pre_end and not isinstance(pre_end[v], int):
                m.add(st >= pre_end[v]).only_enforce_if(p)
            pres[v].append(p)
            start[v].append(st)
            end[v].append(en)
        if in_window[v] and not elsewhere[v]:
            m.add(pres[v][0] == 1)  # computed nowhere else
    m.add_no_overlap(units)
    if intervals:
        m.add_cumulative(intervals, demands, capacity)

    # leaving: the last present copy is held to the window's end
    for u in leaving:
        if u not in copies:
            continue
        ps, es = pres[u], end[u]
        for i in range(len(ps)):
            later = [~ps[i + 1]] if i + 1 < len(ps) else []
            m.add(es[i] == H).only_enforce_if([ps[i], *later])
        if u in pre_end:
            m.add(pre_end[u] == H).only_enforce_if(~ps[0])
            if u in pre_present:
                m.add_implication(~ps[0], pre_present[u])
        else:
            m.add(ps[0] == 1)

    # reads: each present copy of v reads, for each input u, the latest earlier copy of u, held through it
    for v in copies:
        inputs = graph.predecessors(v).tolist()
        for j in range(copies[v]):
            p, sv = pres[v][j], start[v][j]
            for u in inputs:
                has_pre = u in entering_set or u in pre_present
                ws = copies.get(u, 0)
                if not has_pre and not ws:
                    m.add(p == 0)
                    continue
                bs = []
                for i in range(ws):
                    bi = m.new_bool_var("")
                    m.add_implication(bi, pres[u][i])
                    m.add(start[u][i] <= sv - 1).only_enforce_if(bi)
                    m.add(start[u][i] >= sv).only_enforce_if([pres[u][i], ~bi])
                    bs.append(bi)
                if not has_pre:
                    m.add_bool_or(bs).only_enforce_if(p)
                elif u in pre_present:
                    m.add_bool_or([*bs, pre_present[u]]).only_enforce_if(p)
                for i in range(ws):
                    cond = [p, bs[i]] + ([~bs[i + 1]] if i + 1 < ws else [])
                    m.add(end[u][i] >= sv + 1).only_enforce_if(cond)
                if has_pre and not isinstance(pre_end[u], int):
                    m.add(pre_end[u] >= sv + 1).only_enforce_if([p, ~bs[0]] if ws else [p])

    cost = sum(int(graph.duration[v]) * p for v in copies for p in pres[v])
    m.add(cost <= old_cost - 1 + int(slack))
    m.minimize(cost)

    # hint: the incumbent's window
    seen: dict[int, int] = {}
    for t, v in enumerate(window.tolist()):
        i = seen.get(v, 0)
        seen[v] = i + 1
        lu = int(prof.live_until[a + t])
        m.add_hint(pres[v][i], 1)
        m.add_hint(start[v][i], t)
        m.add_hint(end[v][i], H if lu >= b else lu - a + 1)
    for v in copies:
        for i in range(seen.get(v, 0), copies[v]):
            m.add_hint(pres[v][i], 0)
            m.add_hint(start[v][i], 0)
            m.add_hint(end[v][i], 1)
    last_pre = {}
    for j in np.unique(prof.producer[enter_mask]).tolist():
        last_pre[int(s[j])] = j
    for u, k in pre_present.items():
        m.add_hint(k, 0)
        m.add_hint(pre_end[u], 0)
    for u, e in pre_end.items():
        if not isinstance(e, int) and u not in pre_present:
            lu = int(prof.live_until[last_pre[u]])
            m.add_hint(e, H if lu >= b else max(0, lu - a + 1))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_time_in_seconds = max(0.01, float(time_limit_seconds))
    # probing and symmetry detection cost more than they find on these small models (n = 300, 24-step
    # windows around recomputations: 10 solves in 3.9 s instead of 4.9 s, and more saved)
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.symmetry_level = 0
    for key, value in parameters.items():  # extra CP-SAT parameters (experiments)
        setattr(solver.parameters, key, value)
    status = solver.solve(m)
    if status == cp_model.INFEASIBLE:
        return None, "closed"
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, "open"
    chosen = [(solver.value(start[v][i]), v) for v in copies for i in range(copies[v]) if solver.value(pres[v][i])]
    chosen.sort()
    return np.array([v for _, v in chosen], dtype=np.int64), "improved"


def splice(schedule: np.ndarray, a: int, b: int, window: np.ndarray) -> np.ndarray:
    return np.concatenate([schedule[:a], window, schedule[b:]]).astype(np.int64)


KINDS = ("steps", "peak", "recompute", "drop")
DROP_PAD = 8  # steps of a repair window on either side of an over-budget step
DROP_MAX_WIDTH = 48  # the widest repair window; a wider run of over-budget steps is cut into several
DROP_MAX_WINDOWS = 12  # a drop needing more repair windows is not tried


def drop_candidates(graph: Graph, prof: Profile, budget_bytes: int) -> list[tuple[int, int, int]]:
    """Recomputations worth dropping, easiest first: (estimated over-budget steps, -saving, step). Dropping the
    recomputation at step r holds the node's previous copy from its last read up to r instead, over steps
    whose memory grows by the node's size (the estimate ignores the inputs r no longer holds)."""
    s = prof.schedule
    last = np.full(graph.n, -1, dtype=np.int64)
    previous = np.full(len(s), -1, dtype=np.int64)
    for t, v in enumerate(s.tolist()):
        previous[t] = last[v]
        last[v] = t
    out = []
    for r in prof.recomputed_steps.tolist():
        v, q = int(s[r]), int(previous[r])
        if graph.duration[v] <= 0:  # dropping it saves nothing
            continue
        gap = prof.memory_per_step[prof.live_until[q] + 1 : r]
        over = int(np.count_nonzero(gap + int(graph.memory[v]) > budget_bytes))
        out.append((over, -int(graph.duration[v]), r))
    out.sort()
    return out


def repair_windows(over: np.ndarray) -> list[list[int]]:
    """Windows [a, b) covering the over-budget steps `over` (a boolean per step), each with DROP_PAD steps
    either side, merged while at most DROP_MAX_WIDTH wide."""
    T, out = len(over), []
    for i in np.nonzero(over)[0].tolist():
        a, b = max(0, i - DROP_PAD), min(T, i + DROP_PAD + 1)
        if out and a <= out[-1][1] and b - out[-1][0] <= DROP_MAX_WIDTH:
            out[-1][1] = b
        else:
            out.append([max(a, out[-1][1]) if out else a, b])
    return out


def drop_and_repair(
    graph: Graph,
    prof: Profile,
    r: int,
    budget_bytes: int,
    deadline: Callable[[], float],
    sub_limit_seconds: float,
    max_copies: np.ndarray | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray | None, str, int]:
    """Drop the recomputation at step `r` (its readers then read the node's previous copy, held longer) and
    repair the steps now over the budget, first to last, by re-solving a window around them, each window
    allowed to cost more as long as the drop still saves: (schedule, status, windows solved). The schedule
    fits and costs less than the incumbent (the simulator says so), or is None and status says why."""
    saving = int(graph.duration[prof.schedule[r]])
    candidate = np.delete(prof.schedule, r)
    current = profile(graph, candidate)
    over = repair_windows(current.memory_per_step > budget_bytes)
    if len(over) > DROP_MAX_WINDOWS:
        return None, "too many windows", 0
    spent = solved = 0
    while over:
        left = deadline()
        if left <= 0.01 or solved >= 2 * DROP_MAX_WINDOWS:
            return None, "open", solved
        a, b = over[0]
        window, status = solve_window(
            graph,
            current,
            a,
            b,
            budget_bytes,
            min(sub_limit_seconds, left),
            max_copies=max_copies,
            seed=int(rng.integers(0, 1 << 30)),
            slack=saving - 1 - spent,
        )
        solved += 1
        if window is None:
            return None, status, solved
        spent += int(graph.duration[window].sum()) - int(graph.duration[candidate[a:b]].sum())
        candidate = splice(candidate, a, b, window)
        current = profile(graph, candidate)
        over = repair_windows(current.memory_per_step > budget_bytes)
    sim = simulate(graph, candidate)
    if not sim.fits(budget_bytes) or sim.total_duration >= prof.cost:  # never expected: the judge's check
        return None, "refused", solved
    if sim.total_duration >= prof.cost:
        return None, "refused", solved
    return candidate, "improved", solved


def segment_search(
    graph: Graph,
    budget_bytes: int,
    schedule: np.ndarray,
    elapsed: Callable[[], float],
    until_seconds: float,
    seed: int = 0,
    width: int = 24,
    max_width: int = 64,
    sub_limit_seconds: float = 1.0,
    max_copies: np.ndarray | None = None,
    on_improvement: Callable[[np.ndarray, int], None] | None = None,
    max_iterations: int | None = None,
) -> tuple[np.ndarray, SegmentStats]:
    """Improve a fitting `schedule` window by window until `elapsed()` reaches `until_seconds`: windows
    of consecutive steps drawn along the schedule, around a highest-memory step or around a recomputation
    (each kind weighted by its improvements per try), their width adapting. Returns the best schedule
    (never costlier than `schedule`; the simulator confirms every step) and the statistics."""
    rng = np.random.default_rng(seed)
    best = np.asarray(schedule, dtype=np.int64)
    prof = profile(graph, best)
    stats = SegmentStats(by_kind={k: [0, 0] for k in KINDS})
    w = float(width)
    last_seconds = 0.0  # the last iteration's wall time: one more must end before `until_seconds`
    drops: list[tuple[int, int, int]] | None = None  # the incumbent's untried drops (computed when needed)
    while elapsed() + last_seconds < until_seconds - 0.01 and (
        max_iterations is None or stats.iterations < max_iterations
    ):
        T = len(best)
        span = int(min(T, max(4, round(w))))
        weights = np.array([(1.0 + 3.0 * stats.by_kind[k][1]) / (1.0 + stats.by_kind[k][0]) for k in KINDS])
        if drops is None:
            drops = drop_candidates(graph, prof, budget_bytes)
        if not drops:
            weights[KINDS.index("drop")] = 0.0
        kind = KINDS[int(rng.choice(len(KINDS), p=weights / weights.sum()))]
        began = elapsed()
        solved = 0
        if kind == "drop":
            candidate, status, solved = drop_and_repair(
                graph,
                prof,
                drops.pop(0)[2],
                budget_bytes,
                lambda: until_seconds - elapsed(),
                sub_limit_seconds,
                max_copies,
                rng,
            )
            stats.drop_windows += solved
        else:
            if kind == "peak":
                top = np.argsort(prof.memory_per_step)[-max(1, min(10, T // 20)) :]
                centre = int(rng.choice(top))
            elif kind == "recompute" and len(prof.recomputed_steps):
                centre = int(rng.choice(prof.recomputed_steps))
            else:
                centre = int(rng.integers(0, T))
            a = int(np.clip(centre - span // 2 + int(rng.integers(-span // 4, span // 4 + 1)), 0, max(0, T - span)))
            b = min(T, a + span)
            window, status = solve_window(
                graph,
                prof,
                a,
                b,
                budget_bytes,
                min(sub_limit_seconds, max(0.01, until_seconds - began)),
                max_copies=max_copies,
                seed=int(rng.integers(0, 1 << 30)),
            )
            if status == "open":
                w = max(4.0, w * 0.8)
            else:
                stats.closed += status == "closed"
                w = min(float(T), float(max_width), w * 1.25 + 1)
            candidate = None if window is None else splice(best, a, b, window)
        last_seconds = elapsed() - began
        stats.solve_seconds += last_seconds
        stats.iterations += 1
        stats.by_kind[kind][0] += 1
        if candidate is None:
            continue
        sim = simulate(graph, candidate)
        counts_ok = max_copies is None or bool(np.all(np.bincount(candidate, minlength=graph.n) <= max_copies))
        if not (sim.fits(budget_bytes) and counts_ok and sim.total_duration < prof.cost):
            stats.rejected += 1
            continue
        stats.drops_without_model += kind == "drop" and solved == 0
        best, drops = candidate, None
        prof = profile(graph, best)
        stats.improvements += 1
        stats.by_kind[kind][1] += 1
        stats.points.append((elapsed(), float(schedule_cost(graph, best))))
        if on_improvement is not None:
            on_improvement(best, prof.cost)
    return best, stats
