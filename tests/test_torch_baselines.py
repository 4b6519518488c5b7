"""The PyTorch baselines (formulations torch-partitioner and torch-checkpoint) on small models.

torch-partitioner needs torch (skipped cleanly without it); torch-checkpoint runs on the
extracted graph alone, but the graph is extracted here, so the whole file needs torch."""

from __future__ import annotations

import numpy as np
import pytest

from moccasin_bench.budget import resolve_budget
from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph
from moccasin_bench.judge import solve_in_process
from moccasin_bench.simulate import simulate
from tests.conftest import assert_outputs_were_compared

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def gpt_graph() -> Graph:
    from graphs.pytorch.build import extract

    return extract("graphs.pytorch.models:small_gpt")


@pytest.fixture(scope="module")
def net_graph() -> Graph:
    from graphs.pytorch.build import extract

    return extract("graphs.pytorch.models:small_net")


def _plain() -> Graph:
    return Graph.build("plain", [0, 1, 2], [1, 1, 1], [2, 3, 1], [(0, 1), (1, 2)])


def test_the_partitioner_schedule_recomputes_what_the_backward_graph_computes(gpt_graph):
    """At a knob that recomputes, the forward nodes placed in the backward are exactly the
    forward ops of the partitioner's backward graph (mapped through the extraction's folding)."""
    from formulations._torch_remat import Partitioner, partitioner_schedule, step_parts

    g = gpt_graph
    parts = step_parts(g)
    part = Partitioner(g)
    fw, bw = part.partition(0.5, "dp")
    made = partitioner_schedule(g, parts, part.groups, fw, bw)
    sim = simulate(g, made.schedule)
    assert sim.valid
    # What the partitioner put in the backward graph: forward ops (an op that heads a node of ours).
    heads = {members[0]: v for v, members in enumerate(part.groups)}
    in_backward = {heads[name] for name in bw if name in heads and not parts.backward[heads[name]]}
    assert in_backward, "knob 0.5 should recompute something on this model"
    assert set(made.recomputed) | set(made.deferred) == in_backward
    assert not set(made.recomputed) & set(made.deferred)
    # The recomputed nodes are computed twice, every other node once.
    counts = np.bincount(sim.schedule, minlength=g.n)
    assert {int(v) for v in np.flatnonzero(counts == 2)} == set(made.recomputed)
    assert counts.max() <= 2 and counts.min() == 1
    # Every recomputation comes after the forward pass, before its first backward reader.
    steps = sim.schedule.tolist()
    last_forward = max(i for i, v in enumerate(steps) if not parts.backward[v] and counts[v] == 1)
    for v in made.recomputed:
        second = [i for i, x in enumerate(steps) if x == v][1]
        assert second > last_forward
        later = [i for i, x in enumerate(steps) if i > second and x in set(g.successors(v).tolist())]
        assert later, f"recomputed node {v} is read by nothing after its recomputation"
        first = steps[min(later)]
        assert parts.backward[first] or first in made.recomputed


def test_torch_partitioner_fits_and_records_its_knob(gpt_graph):
    budget = resolve_budget(gpt_graph, fraction=0.8)
    r = solve_in_process(gpt_graph, budget, "torch-partitioner", {"solver": "dp"}, time_limit_seconds=60)
    assert r.status == "feasible", r.message
    assert r.peak_memory <= budget.bytes and r.total_duration >= gpt_graph.sum_duration
    v = r.output.variant
    assert 0 <= v["knob"] < 1 and v["chosen_solver"] == "dp" and v["recomputed"] + v["deferred"] > 0
    assert all({"knob", "solver", "peak", "cost", "fits"} <= set(t) for t in v["tried"])


def test_torch_partitioner_unreachable_budget_is_no_solution_with_the_smallest_peak(gpt_graph):
    budget = resolve_budget(gpt_graph, absolute=gpt_graph.min_feasible_budget)
    r = solve_in_process(
        gpt_graph, budget, "torch-partitioner", {"solver": "dp", "scan_step": 0.25}, time_limit_seconds=60
    )
    assert r.status == "no_solution", r.message
    smallest = r.output.variant["smallest_peak"]
    assert smallest > budget.bytes
    assert f"{smallest:,}" in r.message and "\n" not in r.message
    assert smallest == min(t["peak"] for t in r.output.variant["tried"])


@pytest.mark.parametrize("name", ["torch-partitioner", "torch-checkpoint"])
def test_a_graph_not_from_pytorch_is_one_clear_line(name):
    from moccasin_bench.runner import make_spec

    g = _plain()
    budget = resolve_budget(g, fraction=1.0)
    r = solve_in_process(g, budget, name, {}, time_limit_seconds=10)
    assert r.status == "error" and r.schedule is None
    assert "runs only on graphs extracted from PyTorch" in r.message and "\n" not in r.message
    with pytest.raises(UserError, match="runs only on graphs extracted from PyTorch"):
        make_spec(g, budget, name, {})  # planning refuses it: sweep --dry-run, solve


@pytest.mark.parametrize("graph", ["gpt_graph", "net_graph"])
def test_torch_checkpoint_is_valid_and_fits(graph, request):
    g = request.getfixturevalue(graph)
    budget = resolve_budget(g, fraction=0.9)
    r = solve_in_process(g, budget, "torch-checkpoint", {}, time_limit_seconds=30)
    assert r.status == "feasible", r.message
    assert r.peak_memory <= budget.bytes
    v = r.output.variant
    assert v["chosen_pattern"] in ("every", "segments", "none") and v["k"] >= 0
    assert simulate(g, r.schedule).valid


def test_torch_checkpoint_blocks_and_recomputation(gpt_graph):
    """small_gpt's blocks are blocks.0 and blocks.1; checkpointing every block recomputes their
    forward ops (not the embeddings' or the loss's) right before the backward reads them."""
    from formulations._torch_remat import checkpoint_regions, checkpoint_schedule, checkpoint_units, step_parts

    g = gpt_graph
    parts = step_parts(g)
    forward, units = checkpoint_units(g, parts)
    assert [u.key for u in units] == ["blocks.0", "blocks.1"]
    s = checkpoint_schedule(g, parts, forward, checkpoint_regions(units, "every", 1))
    sim = simulate(g, s)
    assert sim.valid
    counts = np.bincount(s, minlength=g.n)
    twice = {parts.paths[v] for v in np.flatnonzero(counts == 2)}
    assert twice and all(p.startswith("blocks.") for p in twice)
    plain = simulate(g, np.arange(g.n))
    assert sim.peak_memory < plain.peak_memory and sim.total_duration > plain.total_duration


def test_torch_checkpoint_unreachable_budget(net_graph):
    budget = resolve_budget(net_graph, absolute=net_graph.min_feasible_budget)
    r = solve_in_process(net_graph, budget, "torch-checkpoint", {}, time_limit_seconds=30)
    assert r.status == "no_solution" and r.output.variant["smallest_peak"] > budget.bytes
    assert "smallest peak" in r.message


def test_the_partitioner_schedule_executes_with_equal_gradients(gpt_graph):
    from graphs.pytorch.execute import execute

    budget = resolve_budget(gpt_graph, fraction=0.8)
    r = solve_in_process(gpt_graph, budget, "torch-partitioner", {"solver": "dp"}, time_limit_seconds=60)
    assert r.status == "feasible"
    report = execute(gpt_graph, gpt_graph.to_ids(r.schedule), repeat=1)
    assert report["check"]["bitwise_equal"], report["check"]  # the same ops on the same values
    assert report["recomputations"] == len(r.schedule) - gpt_graph.n > 0
    assert_outputs_were_compared(report)


@pytest.mark.parametrize("most", [-1.0, 1e9])
def test_at_a_tight_budget_the_partitioner_joins_moccasins_portfolio_only_after_a_good_quick_start(
    gpt_graph, monkeypatch, most
):
    """At a tight budget on a graph from PyTorch the partitioner (greedy knapsack) runs in the start
    portfolio when the quick start adds at most PARTITIONER_TIGHT_MAX_START_TDI_PERCENT, and is
    skipped with its reason above it; its schedule competes as a start like any member's."""
    from tests.conftest import tight_portfolio

    budget = resolve_budget(gpt_graph, fraction=0.8)
    r, portfolio = tight_portfolio(
        monkeypatch,
        gpt_graph,
        budget,
        12,
        PARTITIONER_TIGHT_MAX_START_TDI_PERCENT=most,
        PARTITIONER_TIGHT_MIN_SECONDS=0.0,
    )
    assert r.status in ("feasible", "optimal"), r.message
    member = portfolio["torch-partitioner"]
    if most < 0:
        assert member["status"] == "skipped" and "quick start adds" in member["why"]
    else:
        assert member["knapsack"] == "greedy" and member["status"] in ("feasible", "no_solution")
        assert member["time_limit_seconds"] > 0
        if member["status"] == "feasible":
            assert r.total_duration <= member["cost"]
