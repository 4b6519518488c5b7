"""The annealing formulation: its incremental state against the simulator, its schedules
against the exact oracle on tiny graphs, determinism, the fixed-order grid, the time limit
and its parameters. Move budgets are small: the whole file runs in a few seconds once the
kernels are compiled (the first run on a machine compiles them, about 10-30 s, and caches
the machine code)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moccasin_bench.budget import Budget
from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph
from moccasin_bench.judge import solve_in_process as execute
from moccasin_bench.orders import reference_order
from moccasin_bench.params import resolve_params
from moccasin_bench.simulate import simulate
from tests.strategies import dags, training_graphs

pytest.importorskip("numba")

from formulations import _anneal_kernel as ak  # noqa: E402
from formulations import annealing  # noqa: E402
from formulations._anneal_search import Search, moves, pow2_above  # noqa: E402


def params(**kw) -> dict:
    return resolve_params(annealing.PARAMS, kw, "formulation 'annealing'")


@st.composite
def instances(draw, tight: bool = True):
    g = draw(st.one_of(dags(min_nodes=1, max_nodes=6, max_duration=6, max_memory=6), training_graphs()))
    lo = g.min_feasible_budget
    peak = simulate(g, reference_order(g)).peak_memory
    hi = max(lo, (lo + peak) // 2) if tight else peak
    return g, draw(st.integers(lo, hi))


# ---- the data structures -------------------------------------------------------------------------


def test_segment_tree_matches_a_plain_array():
    rng = np.random.default_rng(1)
    stack = np.empty(132, dtype=np.int64)
    for T in (1, 2, 5, 63, 64, 100):
        size = pow2_above(T)
        tr = np.zeros(2 * size, dtype=np.int64)
        lz = np.zeros(2 * size, dtype=np.int64)
        slot = np.full(size, -1, dtype=np.int64)
        slot[:T] = 0  # the slots in use; the padding leaves stay at 0, below every used one
        ak.seg_add(tr, lz, size, 0, T - 1, 10_000)
        plain = np.full(T, 10_000, dtype=np.int64)
        for _ in range(300):
            lo, hi = sorted(rng.integers(0, T, 2).tolist())
            value = int(rng.integers(-5, 6))
            ak.seg_add(tr, lz, size, lo, hi, value)
            plain[lo : hi + 1] += value
            assert tr[1] == plain.max()
            assert ak.seg_count_max(tr, lz, size, slot, stack) == int((plain == plain.max()).sum())
            assert ak.seg_argmax(tr, lz, size, slot) == int(np.argmax(plain))
            t = int(rng.integers(0, T))
            assert ak.seg_leaf(tr, lz, size, t) == plain[t]


def _search(g: Graph, budget: int, fixed: bool, schedule=None):
    order = reference_order(g)
    s = Search.create(g, budget, fixed, 8, 4, order if fixed else None)
    s.load(order if schedule is None else schedule)
    return s


def _moves(mean: float, span: int, debug: bool, tries: int):
    """Move parameters with every proposal kind in use (peak-aimed moves and the step count too)."""
    return moves(
        p_add=0.3,
        p_remove=0.3,
        mean=mean,
        local=0.7,
        omega=4.0,
        count_weight=1.0,
        p_focus=0.5,
        span=span,
        debug=debug,
        tries=tries,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(tight=False), st.booleans(), st.integers(0, 2**31 - 1))
def test_incremental_state_equals_the_simulator(case, fixed, seed):
    """After every applied move the kernel re-derives ends, cost, every slot's memory, the
    peak and the count at the peak from scratch (debug); and the schedule it holds, simulated,
    has the peak and cost of the incremental state."""
    g, b = case
    s = _search(g, b, fixed)
    mv = _moves(max(1.0, g.sum_duration / g.n), span=3, debug=True, tries=8)
    ak.seed(seed)
    for temp in (5.0, 0.5, 0.05):
        s.run(300, temp, temp, mv)
        assert s.cn[ak.C_DEBUG_FAILURES] == 0
        sim = simulate(g, s.schedule())
        assert sim.valid
        assert (sim.peak_memory, sim.total_duration) == (s.peak, s.cost)
        assert s.check() == 0
        s.respread()
        assert s.check() == 0 and s.peak == sim.peak_memory
    if s.found:
        best = simulate(g, s.schedule(best=True))
        assert best.valid and best.peak_memory <= b and best.total_duration == s.best_cost


def test_kernel_state_on_a_paper_sized_graph():
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    budget = int(0.75 * simulate(g, reference_order(g)).peak_memory)
    for fixed in (False, True):
        s = _search(g, budget, fixed)
        ak.seed(3)
        s.run(20_000, 1.0, 0.05, _moves(g.sum_duration / g.n, span=8, debug=False, tries=16))
        assert s.check() == 0
        sim = simulate(g, s.schedule())
        assert sim.valid and (sim.peak_memory, sim.total_duration) == (s.peak, s.cost)


# ---- against the oracle ---------------------------------------------------------------------------


def _check(res, budget: int) -> None:
    assert res.status in ("optimal", "feasible", "no_solution"), (res.status, res.message)
    if res.status == "optimal":  # claimed only for a schedule without recomputation
        assert res.total_duration == res.graph.sum_duration
    if res.status in ("optimal", "feasible"):
        sim = simulate(res.graph, res.schedule)
        assert sim.valid and sim.peak_memory <= budget
        assert res.output.objective == sim.total_duration == res.total_duration
        for _, cost in res.output.trajectory:
            assert cost >= sim.total_duration
    else:
        assert res.schedule is None and "smallest peak" in res.message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_never_below_the_oracle(case):
    g, b = case
    budget = Budget(bytes=b)
    free = execute(g, budget, "oracle", {"order": "free"}, time_limit_seconds=60)
    res = execute(g, budget, "annealing", {"max_moves": 20_000}, time_limit_seconds=60)
    _check(res, b)
    if free.status == "infeasible":
        assert res.status == "no_solution"
    elif res.status in ("optimal", "feasible"):
        assert res.total_duration >= free.total_duration
        assert (res.status == "optimal") == (res.total_duration == g.sum_duration)
    fixed = execute(g, budget, "oracle", {"order": "fixed"}, time_limit_seconds=60)
    res = execute(g, budget, "annealing", {"max_moves": 20_000, "order": "fixed"}, time_limit_seconds=60)
    _check(res, b)
    if res.status in ("optimal", "feasible"):
        from formulations._stage_grid import grid_positions

        assert grid_positions(res.schedule, reference_order(g)) is not None
        assert fixed.status == "optimal" and res.total_duration >= fixed.total_duration
    elif fixed.status == "infeasible":
        assert res.status == "no_solution"


def _tiny_instances(count: int, seed: int):
    """Forward/backward chains with extra edges and budgets in the tighter half (where
    recomputation pays), as in the cross-check tests, drawn with numpy."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        k = int(rng.integers(2, 4))
        n = 2 * k + 1
        edges = [(i, i + 1) for i in range(2 * k)] + [(k - 1 - i, k + 1 + i) for i in range(k)]
        extra = [(u, v) for v in range(n) for u in range(v - 1) if (u, v) not in edges]
        edges += [extra[j] for j in rng.choice(len(extra), size=int(rng.integers(0, 3)), replace=False)]
        g = Graph.build("tiny", list(range(n)), rng.integers(0, 7, n).tolist(), rng.integers(1, 7, n).tolist(), edges)
        lo, peak = g.min_feasible_budget, simulate(g, reference_order(g)).peak_memory
        out.append((g, int(rng.integers(lo, max(lo, (lo + peak) // 2) + 1))))
    return out


def test_finds_the_optimum_on_tiny_graphs_most_of_the_time():
    hits = optimal = 0
    for g, b in _tiny_instances(30, seed=11):
        oracle = execute(g, Budget(b), "oracle", {"order": "free"}, time_limit_seconds=60)
        res = execute(g, Budget(b), "annealing", {"max_moves": 100_000}, time_limit_seconds=60, seed=1)
        _check(res, b)
        if oracle.status == "optimal":
            optimal += 1
            hits += res.status in ("optimal", "feasible") and res.total_duration == oracle.total_duration
    assert optimal >= 20
    assert hits >= 0.9 * optimal, (hits, optimal)


def test_fixed_order_finds_the_grid_optimum_most_of_the_time():
    hits = optimal = 0
    for g, b in _tiny_instances(20, seed=12):
        oracle = execute(g, Budget(b), "oracle", {"order": "fixed"}, time_limit_seconds=60)
        res = execute(g, Budget(b), "annealing", {"max_moves": 100_000, "order": "fixed"}, time_limit_seconds=60)
        _check(res, b)
        if oracle.status == "optimal":
            optimal += 1
            hits += res.status in ("optimal", "feasible") and res.total_duration == oracle.total_duration
    assert optimal >= 10
    assert hits >= 0.9 * optimal, (hits, optimal)


def test_no_schedule_fits_names_the_smallest_peak():
    # d reads b and c, which both read a: at c's step (or b's) a, b and c are live: 12 > 8
    g = Graph.build(
        "diamond", ["a", "b", "c", "d"], [1, 1, 1, 1], [4, 4, 4, 0], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    )
    assert g.min_feasible_budget == 8
    res = execute(g, Budget(8), "annealing", {"max_moves": 5_000}, time_limit_seconds=30)
    assert res.status == "no_solution" and "smallest peak reached was 12" in res.message


# ---- determinism, the fixed grid, the time limit --------------------------------------------------


def test_deterministic_for_a_seed_and_a_move_budget():
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    budget = Budget(int(0.8 * simulate(g, reference_order(g)).peak_memory))
    runs = [
        execute(g, budget, "annealing", {"max_moves": 120_000, "order": o}, time_limit_seconds=60, seed=s)
        for o, s in (("free", 5), ("free", 5), ("free", 6), ("fixed", 5), ("fixed", 5))
    ]
    for r in runs:
        _check(r, budget.bytes)
    assert runs[0].status == "feasible"
    assert np.array_equal(runs[0].schedule, runs[1].schedule)
    assert runs[0].output.variant["moves_accepted"] == runs[1].output.variant["moves_accepted"]
    assert runs[2].output.variant["moves_accepted"] != runs[0].output.variant["moves_accepted"]
    assert (runs[3].schedule is None) == (runs[4].schedule is None)
    if runs[3].schedule is not None:
        assert np.array_equal(runs[3].schedule, runs[4].schedule)
    assert runs[0].output.variant["stopped_by"] == "moves" and runs[0].output.variant["moves_proposed"] == 120_000


def test_a_move_budget_is_max_moves_with_the_rescue_freed_from_the_clock():
    """RL1 (stand-in) at 70 %, free order: nothing fits before the last cycle, so the staged-repair
    rescue runs; with `move_budget` it may use the whole time limit (and says whether the limit
    cut it). The moves and the schedule are those of the same `max_moves`."""
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    budget = Budget(int(0.7 * simulate(g, reference_order(g)).peak_memory))
    by_moves, by_budget = (
        execute(g, budget, "annealing", {name: 150_000}, time_limit_seconds=120, seed=4)
        for name in ("max_moves", "move_budget")
    )
    for r in (by_moves, by_budget):
        _check(r, budget.bytes)
    v = by_budget.output.variant
    assert v["move_budget"] == 150_000 and v["stopped_by"] == "moves" and v["moves_proposed"] == 150_000
    assert v["rescue"]["fits"] and v["rescue"]["cut_by_the_time_limit"] is False
    assert "cut_by_the_time_limit" not in by_moves.output.variant["rescue"]
    assert np.array_equal(by_moves.schedule, by_budget.schedule)
    assert by_moves.output.variant["moves_accepted"] == v["moves_accepted"]


def test_a_move_budget_keeps_the_keys_of_runs_stored_before_it():
    """A run stored before `move_budget` existed has no such parameter; at its default the key is the same."""
    import dataclasses

    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.runner import make_spec
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    spec = make_spec(g, resolve_budget(g, fraction=0.8), "annealing", {}, time_limit_seconds=60, threads=1, seed=0)
    assert spec.params["move_budget"] == 0
    old = dataclasses.replace(spec, params={k: v for k, v in spec.params.items() if k != "move_budget"})
    assert old.key == spec.key
    assert dataclasses.replace(spec, params={**spec.params, "move_budget": 10**6}).key != spec.key


def test_a_schedule_without_recomputation_is_optimal_and_ends_the_run():
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    budget = Budget(simulate(g, reference_order(g)).peak_memory)  # the reference order itself fits
    for order in ("free", "fixed"):
        t0 = time.perf_counter()
        res = execute(g, budget, "annealing", {"order": order}, time_limit_seconds=30)
        assert time.perf_counter() - t0 < 15  # stops at once, not at the limit
        _check(res, budget.bytes)
        assert res.status == "optimal" and res.output.best_bound == g.sum_duration
        assert res.output.variant["moves_proposed"] == 0 and "no recomputation" in res.message


def test_fixed_mode_stays_on_the_stage_grid():
    from formulations._stage_grid import grid_positions
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    order = reference_order(g)
    budget = Budget(int(0.8 * simulate(g, order).peak_memory))
    res = execute(g, budget, "annealing", {"max_moves": 200_000, "order": "fixed"}, time_limit_seconds=60, seed=2)
    _check(res, budget.bytes)
    assert res.status == "feasible"
    assert grid_positions(res.schedule, order) is not None
    assert "fixed order" in res.output.restrictions and res.output.variant["order_followed"] == "stored"


class WorkClock:
    """A clock that moves only with work: each annealing move takes `move_seconds`, each
    reading of the clock `read_seconds`. Deterministic, whatever the machine's speed or load."""

    def __init__(self, move_seconds: float = 1e-5, read_seconds: float = 1e-6) -> None:
        self.now, self.move_seconds, self.read_seconds = 0.0, move_seconds, read_seconds

    def __call__(self) -> float:
        self.now += self.read_seconds
        return self.now


def test_time_limit_is_honoured(monkeypatch):
    """The annealer stops at its limit on its clock: a chunk is started only when it should end
    in time, and never after the limit. Time here is counted in work (WorkClock), so the test
    says the same on any machine."""
    from moccasin_bench.sources import load_graph

    g = load_graph("rl2-gen")
    budget = Budget(int(0.75 * simulate(g, reference_order(g)).peak_memory))
    execute(g, budget, "annealing", {"max_moves": 1_000}, time_limit_seconds=30)  # compile / load the kernels first
    from formulations import _anneal_cycles, _anneal_search

    real_run = _anneal_search.Search.run

    def run(self, moves, *args):
        clock.now += moves * clock.move_seconds
        return real_run(self, moves, *args)

    from moccasin_bench.formulation import Problem

    real_post_init = Problem.__post_init__

    def post_init(self):  # the problem's clock starts on the work clock too (its default_factory is the real one)
        real_post_init(self)
        object.__setattr__(self, "started_at", time.perf_counter())

    clock = WorkClock()
    monkeypatch.setattr(_anneal_search.Search, "run", run)
    monkeypatch.setattr(time, "perf_counter", clock)
    monkeypatch.setattr(Problem, "__post_init__", post_init)
    for limit in (0.5, 1.5):
        before = clock.now
        res = execute(g, budget, "annealing", {}, time_limit_seconds=limit, seed=3)
        spent = clock.now - before
        _check(res, budget.bytes)
        v = res.output.variant
        assert v["stopped_by"] == "time"
        # it used the time (moves worth 90 % of the limit at least) and overran by less than one
        # chunk of moves plus the clock readings of the run
        assert v["moves_proposed"] * clock.move_seconds >= 0.8 * limit, v
        assert spent <= limit + _anneal_cycles.CHUNK * clock.move_seconds + 0.05, spent
        assert all(0 <= t <= limit for t, _ in res.output.trajectory)
        costs = [c for _, c in res.output.trajectory]
        assert costs == sorted(costs, reverse=True) and len(set(costs)) == len(costs)


def test_improvements_are_notified():
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    budget = Budget(int(0.7 * simulate(g, reference_order(g)).peak_memory))
    seen = []
    res = execute(
        g, budget, "annealing", {"max_moves": 100_000}, time_limit_seconds=60, progress=lambda s, c, b: seen.append(c)
    )
    assert res.status == "feasible"
    assert seen == [c for _, c in res.output.trajectory] and seen[-1] == res.total_duration


# ---- parameters and registration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"t_start": 0}, "t_start"),
        ({"t_end": -1.0}, "t_end"),
        ({"t_start": 0.1, "t_end": 0.2}, "t_end"),
        ({"restarts": -1}, "restarts"),
        ({"max_moves": -5}, "max_moves"),
        ({"p_add": 1.5}, "p_add"),
        ({"p_add": 0.6, "p_remove": 0.6}, "p_add"),
        ({"local": -0.1}, "local"),
        ({"slack": 1}, "slack"),
        ({"max_computations": -1}, "max_computations"),
        ({"memory_weight": 0}, "memory_weight"),
        ({"count_weight": -1}, "count_weight"),
        ({"p_focus": 2}, "p_focus"),
        ({"span": -3}, "span"),
        ({"move_budget": -1}, "move_budget"),
        ({"max_moves": 10, "move_budget": 10}, "move_budget"),
    ],
)
def test_bad_parameters_are_user_errors(bad, match):
    with pytest.raises(UserError, match=match) as info:
        annealing.validate(params(**bad))
    assert "\n" not in str(info.value)
    g = Graph.build("chain", ["a", "b"], [1, 1], [1, 1], [("a", "b")])
    declared = {p.name: p for p in annealing.PARAMS}
    if any(not declared[k].in_range(v) for k, v in bad.items()):  # outside its declared range: refused when parsed
        with pytest.raises(UserError, match=match):
            execute(g, Budget(2), "annealing", bad, time_limit_seconds=5)
    else:  # a rule between parameters: checked by the formulation
        res = execute(g, Budget(2), "annealing", bad, time_limit_seconds=5)
        assert res.status == "error" and match in res.message
        assert "\n" not in res.message and "File " not in res.message  # one line, no traceback
    from moccasin_bench.formulation import check_params

    with pytest.raises(UserError, match=match):  # refused when a run is planned (solve, sweep --dry-run)
        check_params(annealing, params(**bad), g)
    with pytest.raises(UserError):
        execute(g, Budget(2), "annealing", {"restarts": "many"}, time_limit_seconds=5)


def test_registered_with_its_display_attributes():
    from moccasin_bench.formulation import formulation_module

    module = formulation_module("annealing")
    assert module is annealing
    assert annealing.LABEL == "Annealing" and annealing.KEY_PARAMS == ("order",)
    assert {p.name for p in annealing.PARAMS} >= {"order", "max_moves", "restarts", "t_start", "t_end"}


def test_the_engine_does_not_import_numba():
    import subprocess
    import sys

    code = (
        "import sys, moccasin_bench.judge, moccasin_bench.formulation as f; f.formulation_module('annealing'); "
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_jit_falls_back_when_no_cache_location_is_writable(monkeypatch):
    import numba

    calls = []
    real = numba.njit

    def njit(**kw):
        calls.append(kw.get("cache"))
        if kw.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x.py'")
        return real(**kw)

    monkeypatch.setattr(numba, "njit", njit)
    f = ak._jit(lambda x: x + 1)
    assert calls == [True, False] and f(1) == 2
