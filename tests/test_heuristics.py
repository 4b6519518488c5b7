"""Heuristic schedules: valid under the simulator, within budget and cap, on the stage grid, never 'optimal'."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formulations import _checkpointing as ck
from formulations import _stage_grid as sg
from formulations._warm_start import fitting_schedules, schedules_along
from formulations.heuristics import STRATEGIES
from moccasin_bench.budget import Budget, resolve_budget
from moccasin_bench.judge import solve_in_process
from moccasin_bench.orders import reference_order
from moccasin_bench.simulate import simulate
from tests.conftest import paper_graph
from tests.strategies import dags
from tests.test_moccasin import instances


def on_stage_grid(graph, order, schedule) -> bool:
    return sg.grid_positions(schedule, order) is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=7), st.sampled_from([0, 1, 2, 3]))
def test_staged_schedules_are_valid_staged_and_capped(instance, cap):
    g, budget = instance
    order = reference_order(g)
    for name, s in schedules_along(g, order, budget, STRATEGIES[1:-1], max_computations=cap):
        sim = simulate(g, s)
        assert sim.valid, name
        assert on_stage_grid(g, order, s), name
        if cap and name.startswith(("staged", "no-recompute")):
            assert np.bincount(s, minlength=g.n).max() <= max(cap, 1), name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=7), st.sampled_from([0, 2]), st.booleans())
def test_fitting_schedules_fit(instance, cap, fixed):
    g, budget = instance
    order = reference_order(g) if fixed else None
    pool = fitting_schedules(
        g,
        budget,
        order,
        max_computations=cap,
        strategies=("no-recompute", "staged-repair", "staged-greedy", "local-search"),
    )
    costs = [int(g.duration[s].sum()) for _, s in pool]
    assert costs == sorted(costs)
    for name, s in pool:
        assert simulate(g, s).fits(budget), name
        if cap:
            assert np.bincount(s, minlength=g.n).max() <= cap
        if fixed:
            assert on_stage_grid(g, order, s), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=8))
def test_repair_never_worsens_and_keeps_only_needed_recomputations(instance):
    g, budget = instance
    order = reference_order(g)
    plain = simulate(g, order)
    r = ck.staged_repair(g, order, budget)
    sim = simulate(g, r.schedule)
    assert sim.valid and r.cost == sim.total_duration and r.peak_bytes == sim.peak_memory
    over = int(np.maximum(sim.memory_per_step - budget, 0).sum())
    assert r.overflow_bytes == over
    assert over <= int(np.maximum(plain.memory_per_step - budget, 0).sum())
    assert r.fits == sim.fits(budget)
    if r.fits:  # cleanup: dropping any single recomputation breaks the fit
        seen = set()
        for j, v in enumerate(r.schedule.tolist()):
            if v in seen:
                assert not simulate(g, np.delete(r.schedule, j)).fits(budget)
            seen.add(v)


def test_heuristic_formulation_never_claims_optimal():
    g = paper_graph("rl1")
    for fraction, expected in ((1.0, "feasible"), (0.9, "feasible")):
        result = solve_in_process(
            g, resolve_budget(g, fraction), "heuristic", {"strategy": "best"}, time_limit_seconds=30
        )
        assert result.status == expected
        assert result.peak_memory <= result.budget.bytes
    tiny = solve_in_process(
        g, Budget(g.min_feasible_budget), "heuristic", {"strategy": "no-recompute"}, time_limit_seconds=30
    )
    assert tiny.status == "no_solution" and tiny.schedule is None


def test_repair_finds_the_rl1_optimum_quickly():
    """The staged repair alone reaches the paper's optimum on RL1 at 90 % (48,146) and 80 % (48,866)."""
    g = paper_graph("rl1")
    order = reference_order(g)
    for fraction, cost in ((0.9, 48_146), (0.8, 48_866)):
        budget = resolve_budget(g, fraction).bytes
        r = ck.staged_repair(g, order, budget, 2)
        assert r.fits and r.cost == cost
        assert simulate(g, r.schedule).peak_memory <= budget


def test_chen_checkpointing_on_a_training_graph():
    g = paper_graph("cm1")
    order = reference_order(g)
    pool = schedules_along(g, order, 10**18, ["chen-sqrt", "chen-greedy"])
    assert pool
    plain = simulate(g, order).peak_memory
    for name, s in pool:
        sim = simulate(g, s)
        assert sim.valid, name
    assert min(simulate(g, s).peak_memory for _, s in pool) < plain  # checkpointing saves memory somewhere


@settings(max_examples=40, deadline=None)
@given(dags(min_nodes=1, max_nodes=8))
def test_event_numbering_round_trips(g):
    events = np.arange(0, 200)
    stage, pos = sg.event_stage_position(events)
    assert np.all(sg.stage_event(stage, pos) == events)
    assert np.all((pos >= 0) & (pos <= stage))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(max_nodes=8), st.data())
def test_repair_scores_tries_as_the_simulator_would(g, data):
    """Staged repair's compiled score (formulations/_repair_kernel.py) gives the simulator's overflow above
    the budget and cost, and says whether every read has an earlier copy, on any schedule, executable or
    not (random node sequences, repeats and gaps included)."""
    from formulations._repair_kernel import overflow_cost

    schedule = np.array(data.draw(st.lists(st.integers(0, g.n - 1), min_size=1, max_size=3 * g.n)), dtype=np.int64)
    budget = data.draw(st.integers(0, int(g.memory.sum()) + 1))
    sim = simulate(g, schedule)
    over, cost, reads_ok = overflow_cost(g, schedule, budget)
    assert over == int(np.maximum(sim.memory_per_step - budget, 0).sum())
    assert cost == sim.total_duration
    assert reads_ok == (sim.violation is None or sim.violation.kind != "missing_input")
