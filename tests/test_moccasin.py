"""The Moccasin CP-SAT formulation against the exhaustive oracle, the simulator and the paper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from formulations import _moccasin_model as mm
from formulations.oracle import optimal_schedule
from moccasin_bench.budget import Budget, resolve_budget
from moccasin_bench.graph import Graph
from moccasin_bench.judge import solve_in_process
from moccasin_bench.orders import reference_order
from moccasin_bench.simulate import simulate
from tests import strategies
from tests.conftest import paper_graph
from tests.strategies import dags

# The model and its searches against the oracle: started from the staged heuristics (the paper's start),
# whose schedules stay within the model's restrictions (the portfolio's may not: tested apart below)
HEURISTICS = {"warm_start": "heuristics"}
VARIANTS = [
    # (order mode, precedence, extra params)
    ("fixed", "latest", HEURISTICS),
    ("fixed", "literals", HEURISTICS),
    ("fixed", "reservoir", {**HEURISTICS, "search": "auto"}),
    ("fixed", "latest", {**HEURISTICS, "time_axis": "triangular", "end_domain": "readers", "symmetry": False}),
    ("fixed", "latest", {"warm_start": "none", "phases": "1"}),
    ("fixed", "latest", {**HEURISTICS, "search": "lns"}),
    ("free", "latest", {**HEURISTICS, "search": "lns", "phases": "2"}),
    ("free", "latest", HEURISTICS),
    ("free", "literals", {"warm_start": "none"}),
    ("free", "reservoir", {**HEURISTICS, "phases": "2"}),
]


def oracle_cost(g: Graph, budget: int, mode: str, copies: int) -> int | None:
    preds = [g.predecessors(v).tolist() for v in range(g.n)]
    order = reference_order(g).tolist() if mode == "fixed" else None
    found = optimal_schedule(g.n, g.duration.tolist(), g.memory.tolist(), preds, budget, mode, order, copies)
    return None if found is None else found[0]


def training_graphs(max_nodes: int = 7):
    """tests.strategies.training_graphs with a single layer allowed and durations up to 5."""
    return strategies.training_graphs(max_nodes, min_layers=1, max_duration=5)


@st.composite
def instances(draw, max_nodes: int = 6, tight: bool = False):
    """A small graph and a budget between the minimum feasible one and the reference order's
    peak; `tight`: in the lower half of that range, where recomputation pays (over the whole
    range most draws fit without recomputing, and the warm start is returned as optimal)."""
    training = [training_graphs(max_nodes + 1)] * (2 if tight else 1)  # tight: twice as likely, as in test_crosscheck
    g = draw(st.one_of(dags(min_nodes=1, max_nodes=max_nodes, max_duration=5, max_memory=6), *training))
    peak = simulate(g, reference_order(g)).peak_memory
    lo = g.min_feasible_budget
    if tight:  # below the reference order's peak, in the lower half: the order itself does not fit
        assume(peak > lo)
        return g, draw(st.integers(lo, (lo + peak) // 2))
    return g, draw(st.integers(lo, max(lo, peak)))


def scope(g: Graph, mode: str, copies: int) -> tuple[str, str]:
    """The exact restrictions label of a moccasin run on these small graphs (no stored order):
    where the schedule may go, and the computations per node the model allows (a node nobody
    reads gets one; on the fixed-order grid the node at position k has n - k stages left)."""
    c = np.where(g.out_degree == 0, 1, copies)
    if mode == "fixed":
        position = np.empty(g.n, dtype=np.int64)
        position[reference_order(g)] = np.arange(g.n)
        c = np.minimum(c, g.n - position)
    lo, hi = int(c.min()), int(c.max())
    cap = f"at most {hi} computations per node" if lo == hi else f"(C_v from {lo} to {hi})"
    where = "fixed order along the topological order (stage grid), " if mode == "fixed" else "free order over "
    return where, cap


def record_recomputation(g: Graph, result) -> None:
    """Hypothesis statistics (pytest --hypothesis-show-statistics): how often the proven optimum
    recomputes (CP-SAT had to work), is a schedule without recomputation, or is infeasible."""
    if result.schedule is None:
        event(f"no schedule ({result.status})")
    else:
        event("optimum recomputes" if len(result.schedule) > g.n else "optimum computes each node once")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(tight=True), st.sampled_from(VARIANTS), st.integers(1, 2))
def test_proven_optimum_equals_the_oracle(instance, variant, copies):
    g, budget = instance
    mode, precedence, extra = variant
    params = {"order": mode, "precedence": precedence, "copies": copies, **extra}
    result = solve_in_process(g, Budget(budget), "moccasin", params, time_limit_seconds=20, threads=1)
    expected = oracle_cost(g, budget, mode, copies)
    record_recomputation(g, result)
    where, cap = scope(g, mode, copies)
    restrictions = result.output.restrictions if result.output is not None else ""
    assert restrictions.startswith(where) and cap in restrictions, restrictions
    if expected is None:
        assert result.status == "infeasible", result.message
        return
    assert result.status == "optimal", result.message
    assert result.total_duration == expected
    assert result.output.objective == expected  # the model's cost is the simulator's
    assert result.peak_memory <= budget
    counts = np.bincount(result.schedule, minlength=g.n)
    assert counts.min() >= 1 and counts.max() <= copies
    assert result.output.variant["order"] == mode and result.output.variant["precedence"] == precedence


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["fixed", "free"]), st.sampled_from([1, 3]))
def test_default_portfolio_never_loses_to_its_start_nor_beats_the_optimum(instance, mode, copies):
    """The default start (the portfolio) with an explicit `copies` (which caps every member): the result
    is never costlier than the start it reports, never cheaper than the free-order optimum with as many
    copies, and found whenever a start fits; an `optimal` along the reference order is the fixed-order
    oracle's optimum."""
    g, budget = instance
    result = solve_in_process(
        g, Budget(budget), "moccasin", {"order": mode, "copies": copies}, time_limit_seconds=4, threads=1
    )
    free = oracle_cost(g, budget, "free", copies)
    start = result.output.variant.get("start")
    if start is not None:
        assert result.status in ("optimal", "feasible"), result.message
        assert result.total_duration <= start["cost"]
    if result.status in ("optimal", "feasible"):
        assert free is not None and result.total_duration >= free
        assert result.peak_memory <= budget
        assert np.bincount(result.schedule, minlength=g.n).max() <= copies
    follows_start = str(result.output.variant.get("order_followed")).startswith("the first")
    if result.status == "optimal" and not follows_start:
        assert result.total_duration == oracle_cost(g, budget, mode, copies)
    outside = start is not None and not start.get("in_model") and result.total_duration == start["cost"]
    if mode == "fixed" and (follows_start or outside):  # not staged along the reference order: no fixed bound
        assert result.output.staged_order is None
        assert result.output.best_bound is None or result.total_duration == g.sum_duration
    if result.status == "infeasible":
        assert oracle_cost(g, budget, mode, copies) is None


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["fixed", "free"]))
def test_default_moccasin_is_never_costlier_than_any_portfolio_member(instance, mode):
    """Default parameters (members recompute freely, the model raises its copies to take the best start):
    a schedule whenever a member found one, never costlier than any member's or the start, valid, and never
    cheaper than the free-order optimum with as many computations per node as it uses."""
    g, budget = instance
    result = solve_in_process(g, Budget(budget), "moccasin", {"order": mode}, time_limit_seconds=4, threads=1)
    variant = result.output.variant
    costs = [m["cost"] for m in variant.get("portfolio", {}).values() if isinstance(m, dict) and m.get("kept")]
    if variant.get("start") is not None:
        costs.append(variant["start"]["cost"])
    if costs:
        assert result.status in ("optimal", "feasible"), result.message
        assert result.total_duration <= min(costs)
    if result.status in ("optimal", "feasible"):
        assert simulate(g, result.schedule).fits(budget)
        most = int(np.bincount(result.schedule, minlength=g.n).max())
        free = oracle_cost(g, budget, "free", most)
        assert free is not None and result.total_duration >= free


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["fixed", "free"]), st.integers(1, 3))
def test_hint_of_every_fitting_schedule_is_a_model_solution(instance, mode, copies):
    """A schedule the model can express gets a complete hint that CP-SAT accepts as feasible
    (checked by fixing every variable to its hint), and the model's memory is never below the simulator's."""
    from ortools.sat.python import cp_model

    from formulations._warm_start import fitting_schedules

    g, budget = instance
    order = reference_order(g) if mode == "fixed" else None
    pool = fitting_schedules(g, budget, order, max_computations=copies)
    model = mm.build(g, budget, np.full(g.n, copies), mm.ModelOptions(order_mode=mode), order)
    for _, schedule in pool:
        values = model.hint_values(schedule)
        assert mm.expressible(g, schedule, np.full(g.n, copies), model.options, order) == (values is not None)
        if values is None:
            assert mode == "free" or np.bincount(schedule, minlength=g.n).max() > model.copies.min()
            continue
        trial = mm.build(g, budget, np.full(g.n, copies), mm.ModelOptions(order_mode=mode), order)
        for var, value in trial.hint_values(schedule).items():
            trial.model.add(var == int(value))
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        assert solver.solve(trial.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        assert np.array_equal(trial.schedule_from(solver.value), schedule)


def paper_lengths_optimum(g: Graph, budget: int) -> int | None:
    """Exhaustive optimum of the paper-lengths model, independent of it: every schedule staged
    along the reference order with at most two computations per node (stage t recomputes
    earlier nodes in order position, then computes order[t]); a computation at event
    t(t+1)/2 + k must be retained to one past its last reader's event, for a length from the
    authors' set, so it is retained for the smallest such length at least that long; the
    schedule fits when the memory of the retained copies stays within the budget at every time
    and no interval ends past the grid's last event."""
    import bisect
    import itertools

    order = reference_order(g).tolist()
    n = g.n
    allowed = sorted(mm.paper_length_values(n))
    horizon = n * (n + 1) // 2  # one past the grid's last event: no interval ends later
    preds = [g.predecessors(v).tolist() for v in range(n)]
    best = None
    for again in itertools.product(*[[None, *range(k + 1, n)] for k in range(n)]):  # stage of each recomputation
        steps = []  # (node, event)
        for t in range(n):
            steps += [(order[k], t * (t + 1) // 2 + k) for k in range(t) if again[k] == t]
            steps.append((order[t], t * (t + 1) // 2 + t))
        cost = sum(int(g.duration[v]) for v, _ in steps)
        if best is not None and cost >= best:
            continue
        latest: dict[int, int] = {}
        end = [e + 1 for _, e in steps]
        for j, (v, e) in enumerate(steps):
            for u in preds[v]:
                end[latest[u]] = max(end[latest[u]], e + 1)
            latest[v] = j
        profile: dict[int, int] = {}
        for j, (v, e) in enumerate(steps):
            length = end[j] - e
            if g.out_degree[v] > 0:
                i = bisect.bisect_left(allowed, length)
                if i == len(allowed) or e + allowed[i] > horizon:
                    break
                length = allowed[i]
            for time in range(e, e + length):
                profile[time] = profile.get(time, 0) + int(g.memory[v])
        else:
            if max(profile.values()) <= budget:
                best = cost
    return best


# found by CI: a length rounded up to the authors' values must be able to outlast the copy's last reader
# (node 0 read at event 12 needs 13, rounds up to 14; the model capped ends at the last reader, 13)
ROUNDED_LENGTH_OUTLASTS_READERS = (
    Graph.build("rounded", [1, 4, 2, 3, 0], [1, 0, 0, 0, 0], [0, 0, 0, 1, 2], [(1, 3), (3, 4), (0, 2)]),
    2,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
@example(ROUNDED_LENGTH_OUTLASTS_READERS)
def test_paper_lengths_restrict_the_model_and_stay_valid(instance):
    g, budget = instance
    result = solve_in_process(
        g,
        Budget(budget),
        "moccasin",
        {**HEURISTICS, "lengths": "paper", "search": "cpsat"},
        time_limit_seconds=20,
        threads=1,
    )
    expected = paper_lengths_optimum(g, budget)
    unrestricted = oracle_cost(g, budget, "fixed", 2)
    assert expected is None or (unrestricted is not None and expected >= unrestricted)
    if expected is None:
        assert result.status == "infeasible", result.message
        return
    assert result.status == "optimal", result.message
    assert result.total_duration == expected and result.peak_memory <= budget
    assert result.output.variant["time_axis"] == "triangular" and "log-spaced" in result.output.restrictions


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["fixed", "free"]), st.sampled_from(list(mm.PRECEDENCES)))
def test_simulated_memory_never_exceeds_the_models_cumulative(instance, mode, precedence):
    """Any model solution (here: the first one CP-SAT finds, intervals as long as it likes):
    at every step the simulator's memory is at most the sum of the model intervals covering it."""
    from ortools.sat.python import cp_model

    g, budget = instance
    order = reference_order(g) if mode == "fixed" else None
    model = mm.build(g, budget, np.full(g.n, 2), mm.ModelOptions(order_mode=mode, precedence=precedence), order)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.stop_after_first_solution = True
    status = solver.solve(model.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        assert oracle_cost(g, budget, mode, 2) is None
        return
    rows = []  # (start, end, node) of present copies
    for v in range(g.n):
        for i in range(int(model.copies[v])):
            p = model.present[v][i]
            if p is True or solver.value(p):
                var, a, b = model.start_var[v][i]
                start = b if var is None else a * solver.value(var) + b
                e = model.end[v][i]
                end = e if isinstance(e, int) else solver.value(e)
                rows.append((start, end, v))
    rows.sort()
    schedule = np.array([v for _, _, v in rows])
    sim = simulate(g, schedule)
    assert sim.valid
    for j, (start, _, _) in enumerate(rows):
        cumulative = sum(int(g.memory[v]) for s_, e_, v in rows if s_ <= start < e_)
        assert sim.memory_per_step[j] <= cumulative <= budget


def test_budget_below_the_minimum_is_infeasible_without_a_solve():
    g = Graph.build("pair", [0, 1, 2], [1, 1, 1], [5, 5, 5], [(0, 2), (1, 2)])
    result = solve_in_process(g, Budget(g.min_feasible_budget - 1), "moccasin", {}, time_limit_seconds=5)
    assert result.status == "infeasible"
    assert "no solver was run" in result.message
    assert result.output.model_size == {}  # the formulation was never called


def test_time_limit_too_short_gives_no_solution():
    g = paper_graph("rl1")
    budget = resolve_budget(g, 0.8)
    result = solve_in_process(
        g, budget, "moccasin", {"warm_start": "none", "phases": "1"}, time_limit_seconds=0.0, threads=1
    )
    assert result.status == "no_solution"
    assert result.schedule is None


def test_cm1_at_90_percent_reaches_the_paper_value():
    """Paper: CM1 (fcn_8_vgg) at 90 %: TDI <= 0.03 %. Durations are ~1e13: exercises the GCD scaling."""
    g = paper_graph("cm1")
    budget = resolve_budget(g, 0.9)
    result = solve_in_process(g, budget, "moccasin", HEURISTICS, time_limit_seconds=60, threads=2)
    assert result.status in ("optimal", "feasible")
    assert result.tdi_percent <= 0.03
    assert result.peak_memory <= budget.bytes
    assert result.output.variant["scaling"]["duration_factor"] > 1


def test_rl1_at_90_percent_reaches_the_paper_optimum():
    g = paper_graph("rl1")
    budget = resolve_budget(g, 0.9)
    assert budget.bytes == 41_688
    result = solve_in_process(g, budget, "moccasin", HEURISTICS, time_limit_seconds=60, threads=2)
    assert result.total_duration == 48_146
    assert result.status == "optimal"


def test_huge_durations_are_rounded_and_never_claimed_optimal():
    """Durations far beyond CP-SAT's exact objective range (their sum near the load-time cap of
    2^62 / 16): the model rounds them (documented), the cost stays exact."""
    big = 10**16
    g = Graph.build(
        "huge", [0, 1, 2, 3], [big + 1, big + 3, big + 7, 5], [4, 4, 4, 4], [(0, 1), (1, 2), (0, 3), (2, 3)]
    )
    budget = g.min_feasible_budget
    # without a start, CP-SAT's rounded objective decides: no optimality claim
    result = solve_in_process(g, Budget(budget), "moccasin", {"warm_start": "none"}, time_limit_seconds=10, threads=1)
    assert result.status == "feasible"
    assert result.output.variant["scaling"]["exact_durations"] is False
    assert "rounded" in result.message
    assert result.total_duration == int(g.duration[result.schedule].sum())
    assert result.peak_memory <= budget
    # a start that recomputes nothing is optimal on exact integers, whatever the model rounds
    start = solve_in_process(g, Budget(budget), "moccasin", {}, time_limit_seconds=10, threads=1)
    assert (
        start.status == "optimal" and start.total_duration == g.sum_duration and "recomputes nothing" in start.message
    )


def test_solutions_the_simulator_rejects_are_discarded_loudly(monkeypatch):
    """Safety net: break the model (no memory constraint) and check that no over-budget schedule
    comes out; the rejections are counted and the message says so."""
    from ortools.sat.python import cp_model

    g = paper_graph("rl1")
    budget = resolve_budget(g, 0.9)
    monkeypatch.setattr(cp_model.CpModel, "add_cumulative", lambda self, *a, **k: None)
    # the paper's start: the portfolio's annealer finds a schedule without recomputation here (optimal
    # without CP-SAT), and this test is about what CP-SAT's rejected solutions leave
    params = {"search": "cpsat", "warm_start": "heuristics"}
    result = solve_in_process(g, budget, "moccasin", params, time_limit_seconds=10, threads=1)
    assert result.status == "feasible"  # the warm start; never "optimal" on the strength of a rejected solve
    assert result.peak_memory <= budget.bytes
    assert result.output.variant["rejected_invalid_solutions"] > 0
    assert "LOUD" in result.message and result.output.variant["rejected_example"]


def test_a_relative_gap_never_passes_for_a_proof():
    g = paper_graph("rl1")
    result = solve_in_process(
        g, resolve_budget(g, 0.8), "moccasin", {}, time_limit_seconds=30, threads=1, relative_gap=0.5
    )
    out = result.output
    assert result.status in ("optimal", "feasible")
    assert out.best_bound is not None and out.best_bound <= out.objective
    assert (result.status == "optimal") == (out.best_bound == out.objective)


def test_per_node_copies_and_bad_values():
    from moccasin_bench.errors import UserError

    g = Graph.build("chain", ["a", "b", "c"], [1, 1, 1], [1, 1, 1], [("a", "b"), ("b", "c")])
    result = solve_in_process(
        g, Budget(3), "moccasin", {"copies": 1, "copies_per_node": "a=3"}, time_limit_seconds=5, threads=1
    )
    assert result.status == "optimal"
    bad = solve_in_process(g, Budget(3), "moccasin", {"copies_per_node": "zz=2"}, time_limit_seconds=5)
    assert bad.status == "error" and "unknown node id 'zz'" in bad.message
    with pytest.raises(UserError, match=r"must be in \[1, 1000\]"):  # out of range: refused before the formulation runs
        solve_in_process(g, Budget(3), "moccasin", {"copies": 0}, time_limit_seconds=5)
    with pytest.raises(UserError):  # a value of the wrong type is refused before the formulation runs
        solve_in_process(g, Budget(3), "moccasin", {"copies": "two"}, time_limit_seconds=5)


def test_out_of_memory_in_the_model_keeps_the_warm_start(monkeypatch):
    """Out of memory (a run's cap on a huge model) after a fitting warm start was found: the warm
    start is reported as feasible, not lost in an error."""
    from moccasin_bench.sources import load_graph

    g = load_graph("random-layered:n=30,seed=3")
    budget = resolve_budget(g, 1.0)  # the reference order fits: a warm start exists

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(mm, "build", no_memory)
    result = solve_in_process(g, budget, "moccasin", {}, time_limit_seconds=10, threads=1)
    assert result.status == "feasible", result.message
    assert "out of memory" in result.message and result.output.variant["out_of_memory"] is True
    assert simulate(g, g.to_indices(result.schedule)).peak_memory <= budget.bytes


def test_out_of_memory_without_a_warm_start_is_an_error(monkeypatch):
    g = Graph.build("chain", [0, 1, 2], [1, 1, 1], [1, 1, 1], [(0, 1), (1, 2)])

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(mm, "build", no_memory)
    result = solve_in_process(g, Budget(3), "moccasin", {"warm_start": "none"}, time_limit_seconds=5, threads=1)
    assert result.status == "error" and "out of memory" in result.message


@pytest.mark.parametrize("mode", ["fixed", "free"])
def test_neighbourhood_search_of_every_kind_keeps_valid_schedules_and_never_worsens(mode):
    """The hybrid search's neighbourhoods (order and step windows, the memory peak, recomputed blocks)
    from a fitting start: every accepted schedule passes the simulator, the objective never rises,
    each kind is tried, and the final schedule's cost is the model's objective."""
    from formulations._moccasin_search import Incumbent, window_search
    from formulations._warm_start import warm_start
    from formulations.moccasin import NEIGHBOURHOODS
    from moccasin_bench.formulation import Problem
    from moccasin_bench.sources import load_graph

    g = load_graph("demo")
    budget = resolve_budget(g, 0.8).bytes
    order = reference_order(g) if mode == "fixed" else None
    start = warm_start(g, budget, order, max_computations=2).fitting
    assert start, "the staged heuristics fit the demo at 80 %"
    model = mm.build(g, budget, np.full(g.n, 2), mm.ModelOptions(order_mode=mode), order)
    model.model.minimize(model.cost)
    schedule = start[0][1]
    state = Incumbent(schedule=schedule, objective=model.objective_of(schedule))
    problem = Problem(graph=g, budget=Budget(budget), params={}, time_limit_seconds=3.0)
    seen: list[int] = [state.objective]

    def accept(s):
        ok = simulate(g, s).fits(budget) and np.bincount(s, minlength=g.n).max() <= 2
        seen.append(model.objective_of(s))
        return ok

    window_search(model, problem, state, float, 3.0, threads=1, seed=1, accept=accept, kinds=NEIGHBOURHOODS)
    assert state.rejected == 0 and state.iterations > 0
    assert state.objective <= seen[0] and all(b <= a for a, b in zip(seen, seen[1:]))
    expected = set(NEIGHBOURHOODS) - ({"order"} if mode == "free" else set())
    assert set(state.by_kind) >= expected and sum(t for t, _ in state.by_kind.values()) == state.iterations
    assert simulate(g, state.schedule).fits(budget)
    assert model.base_cost + state.objective == simulate(g, state.schedule).total_duration


@pytest.mark.parametrize("most", [-1.0, 1e9])
def test_a_tight_budget_skips_repair_after_a_quick_start_that_recomputes_too_much(monkeypatch, most):
    """At a tight budget staged repair runs only when the quick start adds at most
    REPAIR_TIGHT_MAX_START_TDI_PERCENT; above it the member is skipped with its reason."""
    from moccasin_bench.sources import load_graph
    from tests.conftest import tight_portfolio

    g = load_graph("random-layered:n=30,seed=3")
    _, portfolio = tight_portfolio(monkeypatch, g, resolve_budget(g, 1.0), 6, REPAIR_TIGHT_MAX_START_TDI_PERCENT=most)
    repair = portfolio["repair"]
    if most < 0:
        assert repair["status"] == "skipped" and "quick start adds" in repair["why"]
    else:
        assert "fitting" in repair
