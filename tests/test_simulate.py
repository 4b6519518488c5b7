"""The simulator against a step-by-step reference and the properties docs/semantics.md implies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moccasin_bench.graph import Graph
from moccasin_bench.simulate import simulate
from tests.conftest import paper_graph
from tests.strategies import dags


def reference_simulation(graph: Graph, schedule: list[int]):
    """A literal reading of the semantics, one step at a time: (memory per step, first
    violation, last step each step's output is live)."""
    T = len(schedule)
    live_end = list(range(T))
    violation = None
    for j, v in enumerate(schedule):
        for u in graph.predecessors(v):
            earlier = [p for p in range(j) if schedule[p] == u]
            if not earlier:
                violation = violation or ("missing_input", j, int(u))
                continue
            live_end[earlier[-1]] = max(live_end[earlier[-1]], j)
    memory = [sum(int(graph.memory[schedule[p]]) for p in range(t + 1) if live_end[p] >= t) for t in range(T)]
    if violation is None:
        never = [v for v in range(graph.n) if v not in schedule]
        if never:
            violation = ("never_computed", None, never[0])
    return memory, violation, live_end


@st.composite
def topological_orders(draw, graph: Graph) -> list[int]:
    """A uniformly drawn ready node at each step."""
    indeg = graph.in_degree.copy()
    ready = [v for v in range(graph.n) if indeg[v] == 0]
    order = []
    while ready:
        v = ready.pop(draw(st.integers(0, len(ready) - 1)))
        order.append(v)
        for w in graph.successors(v):
            indeg[w] -= 1
            if indeg[w] == 0:
                ready.append(int(w))
    return order


@st.composite
def graph_and_schedule(draw, valid: bool):
    g = draw(dags(max_nodes=7))
    order = draw(topological_orders(g))
    sched = list(order)
    for _ in range(draw(st.integers(0, 6))):
        if valid:  # a recomputation after the first computation of the node stays valid
            k = draw(st.integers(1, len(sched)))
            sched.insert(k, sched[draw(st.integers(0, k - 1))])
        else:  # anything goes
            sched.insert(draw(st.integers(0, len(sched))), draw(st.integers(0, g.n - 1)))
    if not valid and sched and draw(st.booleans()):
        del sched[draw(st.integers(0, len(sched) - 1))]
    return g, sched


def test_hand_example():
    # a -> b -> c, a -> c ; sizes 1, 10, 100
    g = Graph.build("t", ["a", "b", "c"], [1, 2, 3], [1, 10, 100], [("a", "b"), ("b", "c"), ("a", "c")])
    sim = simulate(g, g.to_indices(["a", "b", "c"]))
    assert sim.valid
    assert sim.memory_per_step.tolist() == [1, 11, 111]
    assert (sim.peak_memory, sim.peak_step, sim.total_duration, sim.tdi_percent) == (111, 2, 6, 0.0)
    # recompute a after b: the first copy of a dies at step 1 (its last reader before the recomputation)
    sim = simulate(g, g.to_indices(["a", "b", "a", "c"]))
    assert sim.memory_per_step.tolist() == [1, 11, 11, 111]
    assert sim.live_until.tolist() == [1, 3, 3, 3]
    assert sim.total_duration == 7 and sim.tdi_percent == pytest.approx(100 / 6)


def test_unread_output_lives_one_step():
    g = Graph.build("t", [0, 1, 2], [1, 1, 1], [5, 7, 11], [])
    sim = simulate(g, [0, 1, 2, 1])
    assert sim.memory_per_step.tolist() == [5, 7, 11, 7]


def test_violations_name_step_node_and_input():
    g = Graph.build("t", ["a", "b", "c"], [1, 1, 1], [1, 1, 1], [("a", "b"), ("b", "c")])
    sim = simulate(g, g.to_indices(["a", "c", "b"]))
    assert not sim.valid
    assert sim.violation.to_json()["kind"] == "missing_input"
    assert (sim.violation.step, sim.violation.node, sim.violation.missing_input) == (1, "c", "b")
    assert "step 1" in sim.violation.describe()
    sim = simulate(g, g.to_indices(["a", "b"]))
    assert sim.violation.kind == "never_computed" and sim.violation.node == "c"
    sim = simulate(g, [])
    assert not sim.valid and sim.peak_memory == 0


def test_rejects_indices_out_of_range():
    g = Graph.build("t", [0, 1], [1, 1], [1, 1], [(0, 1)])
    with pytest.raises(ValueError):
        simulate(g, [0, 2])


@settings(max_examples=300, deadline=None)
@given(graph_and_schedule(valid=False))
def test_matches_reference_on_any_schedule(case):
    g, sched = case
    sim = simulate(g, sched)
    memory, violation, live_end = reference_simulation(g, sched)
    assert sim.memory_per_step.tolist() == memory
    assert sim.live_until.tolist() == live_end
    peak = max(memory, default=0)
    assert sim.peak_memory == peak
    assert sim.peak_step == (memory.index(peak) if memory else 0)  # the first step at the peak
    assert sim.total_duration == sum(int(g.duration[v]) for v in sched)
    assert sim.tdi_percent == pytest.approx(
        100.0 * (sim.total_duration - g.sum_duration) / g.sum_duration if g.sum_duration else 0.0
    )
    if violation is None:
        assert sim.valid
    else:
        assert (sim.violation.kind, sim.violation.step) == violation[:2]
        expected_node = violation[2]
        if violation[0] == "missing_input":
            assert sim.violation.missing_input == g.node_ids[expected_node]
        else:
            assert sim.violation.node == g.node_ids[expected_node]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_topological_order_is_valid_and_peaks_above_the_lower_bound(data):
    g = data.draw(dags(max_nodes=8))
    order = data.draw(topological_orders(g))
    sim = simulate(g, order)
    assert sim.valid
    assert sim.peak_memory >= g.min_feasible_budget
    assert sim.total_duration == g.sum_duration and sim.tdi_percent == 0.0


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_dropping_a_needed_computation_makes_it_invalid(data):
    g = data.draw(dags(min_nodes=2, max_nodes=8))
    order = data.draw(topological_orders(g))
    k = data.draw(st.integers(0, g.n - 1))
    assert not simulate(g, order[:k] + order[k + 1 :]).valid


@settings(max_examples=200, deadline=None)
@given(graph_and_schedule(valid=True), st.data())
def test_adding_a_recomputation_never_lowers_cost(case, data):
    g, sched = case
    before = simulate(g, sched)
    assert before.valid
    k = data.draw(st.integers(1, len(sched)))
    longer = sched[:k] + [sched[data.draw(st.integers(0, k - 1))]] + sched[k:]
    after = simulate(g, longer)
    assert after.valid
    assert after.total_duration >= before.total_duration


def test_ten_thousand_steps_on_the_largest_paper_graph():
    g = paper_graph("rl4")
    rng = np.random.default_rng(0)
    sched = list(g.stored_order)
    for _ in range(9000):
        k = int(rng.integers(1, len(sched) + 1))
        sched.insert(k, sched[int(rng.integers(0, k))])
    sim = simulate(g, sched)
    assert sim.valid and sim.steps == 10_000
    assert sim.total_duration > g.sum_duration
    # spot-check 50 steps against the literal semantics (the full reference is too slow here)
    last_before, live_end = {}, list(range(len(sched)))
    for j, v in enumerate(sched):
        for u in g.predecessors(v):
            p = last_before[int(u)]
            live_end[p] = max(live_end[p], j)
        last_before[v] = j
    starts, ends, mem = np.arange(len(sched)), np.array(live_end), g.memory[np.array(sched)]
    for t in np.random.default_rng(1).choice(len(sched), 50, replace=False):
        assert sim.memory_per_step[t] == int(mem[(starts <= t) & (ends >= t)].sum())


def test_the_documented_example():
    """docs/semantics.md's example: recomputing the skip input lowers the peak from 12 to 9 at a 25 % TDI."""
    g = Graph.build("ex", list("abcd"), [1, 1, 1, 1], [4, 4, 4, 1], [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    plain, recomputed = simulate(g, g.to_indices("abcd")), simulate(g, g.to_indices("abcad"))
    assert plain.memory_per_step.tolist() == [4, 8, 12, 9] and plain.peak_memory == 12 and plain.total_duration == 4
    assert recomputed.memory_per_step.tolist() == [4, 8, 8, 8, 9] and recomputed.peak_memory == 9
    assert recomputed.total_duration == 5 and recomputed.tdi_percent == 25.0
