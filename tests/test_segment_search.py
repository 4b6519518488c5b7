"""Segment search (formulations/_segment_search.py) against the simulator and the exact oracle."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from formulations._segment_search import (
    drop_and_repair,
    drop_candidates,
    profile,
    segment_search,
    solve_window,
    splice,
)
from formulations._warm_start import warm_start
from formulations.oracle import optimal_schedule
from moccasin_bench.graph import Graph
from moccasin_bench.orders import reference_order
from moccasin_bench.simulate import simulate
from tests.test_moccasin import instances


def costliest_start(g: Graph, budget: int, wasted: list[int] = ()) -> np.ndarray:
    """The costliest fitting staged heuristic schedule, with a wasted computation repeated after each step
    listed in `wasted` where it still fits: a start with room to improve."""
    found = warm_start(g, budget, reference_order(g), max_computations=None, deadline=time.time() + 5).fitting
    assume(found)
    s = np.asarray(found[-1][1], dtype=np.int64)
    for j in wasted:
        j %= len(s)
        longer = np.insert(s, j + 1, s[j])
        if simulate(g, longer).fits(budget):
            s = longer
    return s


def oracle(g: Graph, budget: int, copies: int) -> int | None:
    preds = [g.predecessors(v).tolist() for v in range(g.n)]
    found = optimal_schedule(g.n, g.duration.tolist(), g.memory.tolist(), preds, budget, "free", None, copies)
    return None if found is None else found[0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=7, tight=True), st.lists(st.integers(0, 20), max_size=2), st.data())
def test_a_spliced_window_is_what_the_simulator_says(instance, wasted, data):
    """Every window the model returns, spliced into the incumbent, fits and costs exactly the window's
    saving less; a whole-schedule window the model closes leaves nothing cheaper with two copies per node
    (the oracle), and one it improves is never cheaper than the unrestricted optimum."""
    g, budget = instance
    s = costliest_start(g, budget, wasted)
    T = len(s)
    whole = data.draw(st.booleans())
    a = 0 if whole else data.draw(st.integers(0, T - 1))
    b = T if whole else data.draw(st.integers(a + 1, T))
    prof = profile(g, s)
    window, status = solve_window(g, prof, a, b, budget, time_limit_seconds=3.0)
    assert status in ("improved", "closed", "open")
    event(f"{'whole' if whole else 'part'}: {status}")
    if window is not None:
        new = splice(s, a, b, window)
        sim = simulate(g, new)
        assert sim.fits(budget), (s.tolist(), a, b, window.tolist())
        saving = int(g.duration[s[a:b]].sum()) - int(g.duration[window].sum())
        assert saving > 0 and sim.total_duration == prof.cost - saving
        if whole:
            assert sim.total_duration >= oracle(g, budget, 0)
    elif whole and status == "closed":
        best_two = oracle(g, budget, 2)
        assert best_two is None or prof.cost <= best_two


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=7, tight=True), st.lists(st.integers(0, 20), max_size=2), st.integers(0, 3))
def test_the_search_never_returns_an_invalid_or_costlier_schedule(instance, wasted, seed):
    g, budget = instance
    s = costliest_start(g, budget, wasted)
    best, stats = segment_search(
        g, budget, s, elapsed=lambda: 0.0, until_seconds=1e9, seed=seed, width=4, max_iterations=4
    )
    sim = simulate(g, best)
    assert sim.fits(budget)
    assert sim.total_duration <= simulate(g, s).total_duration
    assert stats.rejected == 0 and stats.iterations == 4
    event("improved" if stats.improvements else "not improved")
    assert stats.improvements == len(stats.points)
    if stats.improvements:
        assert sim.total_duration < simulate(g, s).total_duration


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=7, tight=True), st.lists(st.integers(0, 20), min_size=1, max_size=3))
def test_a_dropped_recomputation_is_repaired_or_refused(instance, wasted):
    """Each recomputation dropped and the steps it pushes over the budget repaired by windows: a schedule
    it returns fits, costs less than the incumbent and no less than the unrestricted optimum; one it
    refuses is None."""
    g, budget = instance
    s = costliest_start(g, budget, wasted)
    prof = profile(g, s)
    candidates = drop_candidates(g, prof, budget)
    assume(candidates)
    best = oracle(g, budget, 0)
    for _, minus_saving, r in candidates:
        assert -minus_saving == g.duration[s[r]] > 0 and r in prof.recomputed_steps
        found, status, solved = drop_and_repair(g, prof, r, budget, lambda: 5.0, 2.0, None, np.random.default_rng(0))
        event(f"{status}, {min(solved, 2)} windows")
        if found is None:
            assert status != "improved"
            continue
        sim = simulate(g, found)
        assert status == "improved" and sim.fits(budget), (s.tolist(), r, found.tolist())
        assert best <= sim.total_duration < prof.cost
        if solved == 0:  # nothing to repair: the drop alone
            assert found.tolist() == np.delete(s, r).tolist()


@pytest.mark.parametrize(
    "spec, fraction, wanted", [("random-layered:n=30,seed=7", 0.7, "paid"), ("random-layered:n=40,seed=32", 0.6, "two")]
)
def test_a_drop_over_the_budget_is_repaired_by_windows(spec, fraction, wanted):
    """The move windows alone miss: dropping a recomputation pushes steps over the budget, windows re-solved
    around them (allowed to cost up to what the drop saves) bring them back under it. On a staged start of
    the first graph some repair costs more than the drop alone (the window paid for the drop); on the
    second one needs two windows."""
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.sources import load_graph

    g = load_graph(spec)
    budget = resolve_budget(g, fraction).bytes
    s = np.asarray(warm_start(g, budget, reference_order(g), max_computations=None).fitting[-1][1], dtype=np.int64)
    prof = profile(g, s)
    for over, _, r in drop_candidates(g, prof, budget):
        alone = simulate(g, np.delete(s, r))
        if over == 0 or alone.fits(budget):
            continue
        found, status, solved = drop_and_repair(g, prof, r, budget, lambda: 5.0, 2.0, None, np.random.default_rng(0))
        if found is None:
            continue
        sim = simulate(g, found)
        assert sim.fits(budget) and sim.total_duration < prof.cost and solved >= 1, (r, found.tolist())
        if (wanted == "paid" and sim.total_duration > alone.total_duration) or (wanted == "two" and solved >= 2):
            return
    pytest.fail(f"no repaired drop of the kind wanted ({wanted})")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=7, tight=True), st.sampled_from(["fixed", "free"]))
def test_moccasin_search_segments_never_loses_to_its_start(instance, mode):
    """search=segments through the formulation: a fitting schedule never costlier than the start it reports,
    never cheaper than the unrestricted optimum; a result outside the model carries no bound."""
    from moccasin_bench.budget import Budget
    from moccasin_bench.judge import solve_in_process

    g, budget = instance
    result = solve_in_process(
        g, Budget(budget), "moccasin", {"order": mode, "search": "segments"}, time_limit_seconds=2, threads=1
    )
    variant = result.output.variant
    assert variant["search"] == "segments"
    start = variant.get("start")
    if start is not None:
        assert result.status in ("optimal", "feasible"), result.message
        assert result.peak_memory <= budget and result.total_duration <= start["cost"]
        assert result.total_duration >= oracle(g, budget, 0)
    if variant.get("segments", {}).get("in_model") is False:
        assert result.output.best_bound is None and result.status == "feasible"


def test_a_graph_too_large_for_the_model_gets_segments_from_its_start(monkeypatch):
    """Default moccasin on a graph above SEGMENTS_ONLY_EDGES (here lowered to 0): no model is built (the
    builder would fail the test), the best start is improved window by window, the result is feasible,
    never costlier than the start, within the budget, without a bound and staged along no order."""
    from formulations import _moccasin_model as mm
    from formulations import moccasin
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    def no_build(*args, **kwargs):
        raise AssertionError("the full model was built")

    monkeypatch.setattr(moccasin, "SEGMENTS_ONLY_EDGES", 0)
    monkeypatch.setattr(mm, "build", no_build)
    g = load_graph("random-layered:n=60,seed=3")
    budget = resolve_budget(g, 0.8)
    result = solve_in_process(g, budget, "moccasin", {}, time_limit_seconds=4, threads=1)
    variant = result.output.variant
    assert result.status == "feasible", result.message
    assert variant["full_model"].startswith("not built") and variant["segments"]["iterations"] > 0
    assert result.total_duration <= variant["start"]["cost"]
    assert simulate(g, g.to_indices(result.schedule)).fits(budget.bytes)
    assert result.output.best_bound is None and result.output.staged_order is None
    # an explicit search keeps the model: the builder is called (and here fails loudly)
    failed = solve_in_process(g, budget, "moccasin", {"search": "cpsat"}, time_limit_seconds=4, threads=1)
    assert failed.status == "error" and "full model was built" in failed.message


def test_a_large_graph_whose_start_recomputes_nothing_is_optimal_without_the_model(monkeypatch):
    """Above SEGMENTS_ONLY_EDGES at a budget the reference order fits: the start recomputes nothing, so the
    result is optimal over every schedule (its bound the sum of durations), staged along no order."""
    from formulations import _moccasin_model as mm
    from formulations import moccasin
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    monkeypatch.setattr(moccasin, "SEGMENTS_ONLY_EDGES", 0)
    monkeypatch.setattr(mm, "build", lambda *a, **k: (_ for _ in ()).throw(AssertionError("model built")))
    g = load_graph("random-layered:n=60,seed=3")
    result = solve_in_process(g, resolve_budget(g, 1.0), "moccasin", {}, time_limit_seconds=4, threads=1)
    assert result.status == "optimal" and result.total_duration == g.sum_duration
    assert result.output.best_bound == g.sum_duration and result.output.staged_order is None
