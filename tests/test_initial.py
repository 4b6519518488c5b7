"""Initial schedules (solve --initial): the exact models start from them where they can express them,
and say so where they cannot; the run key tells runs with and without one apart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moccasin_bench.budget import resolve_budget
from moccasin_bench.judge import solve_in_process
from moccasin_bench.orders import reference_order
from moccasin_bench.runner import make_spec
from moccasin_bench.sources import load_graph
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def demo():
    g = load_graph("demo")
    budget = resolve_budget(g, fraction=0.8)
    start = solve_in_process(
        g, budget, "heuristic", {"strategy": "staged-repair", "order": "stored"}, time_limit_seconds=20
    )
    assert start.status == "feasible"
    return g, budget, start


@pytest.mark.parametrize(
    "formulation,params",
    [("moccasin", {}), ("moccasin", {"order": "free"}), ("checkmate-milp", {}), ("checkmate-cp", {})],
)
def test_an_expressible_initial_schedule_is_the_first_incumbent(demo, formulation, params):
    g, budget, start = demo
    r = solve_in_process(
        g,
        budget,
        formulation,
        {**params, "warm_start": "none"},
        time_limit_seconds=10,
        initial=g.to_ids(start.schedule),
    )
    info = r.output.variant["initial"]
    assert info["used"] and info["fits"] and info["cost"] == start.total_duration
    assert r.status in ("optimal", "feasible") and r.total_duration <= start.total_duration
    assert r.output.trajectory[0][1] == start.total_duration  # the start is where the trajectory begins


def test_a_schedule_off_the_fixed_order_grid_is_not_used_and_the_result_says_so(demo):
    g, budget, _ = demo
    order = reference_order(g).tolist()
    # two consecutive nodes with no edge between them, swapped: a valid schedule, but not staged along the order
    edges = {tuple(e) for e in g.edges.tolist()}
    k = next(k for k in range(len(order) - 1) if (order[k], order[k + 1]) not in edges)
    swapped = order[:k] + [order[k + 1], order[k]] + order[k + 2 :]
    r = solve_in_process(
        g, resolve_budget(g, fraction=1.0), "moccasin", {}, time_limit_seconds=10, initial=g.to_ids(swapped)
    )
    assert r.output.variant["initial"]["used"] is False
    assert "initial schedule was not used: it is not staged along the stored order" in r.message
    assert r.status == "optimal"  # the model still solves on its own
    free = solve_in_process(
        g,
        resolve_budget(g, fraction=1.0),
        "moccasin",
        {"order": "free", "warm_start": "none"},
        time_limit_seconds=10,
        initial=g.to_ids(swapped),
    )
    assert free.output.variant["initial"]["used"] is True  # free order takes any valid schedule


def test_copies_are_raised_to_hold_the_initial_schedule(demo):
    g, budget, start = demo
    s = start.schedule.tolist()
    v = s[0]  # the first node computed three times in a row: valid, and more copies than the model's 2
    counts = np.bincount(s, minlength=g.n)
    triple = s[:1] + [v, v] + s[1:]
    assert np.bincount(triple, minlength=g.n)[v] == counts[v] + 2
    r = solve_in_process(
        g,
        budget,
        "moccasin",
        {"order": "free", "warm_start": "none", "copies": 2},
        time_limit_seconds=10,
        initial=g.to_ids(triple),
    )
    info = r.output.variant["initial"]
    assert info["copies_raised"] >= 1 and r.status in ("optimal", "feasible")


def test_the_key_covers_the_initial_schedule(demo):
    g, budget, start = demo
    ids = g.to_ids(start.schedule)
    plain = make_spec(g, budget, "moccasin", {})
    a = make_spec(g, budget, "moccasin", {}, initial=ids)
    b = make_spec(g, budget, "moccasin", {}, initial=list(ids))
    other = make_spec(g, budget, "moccasin", {}, initial=ids[:-1] + ids[-1:] * 2)
    assert a.key == b.key != plain.key and other.key != a.key
    assert type(a).from_json(json.loads(json.dumps(a.to_json()))).key == a.key


def test_solve_initial_from_the_command_line(tmp_path, demo):
    g, budget, start = demo
    first = tmp_path / "start.json"
    first.write_text(json.dumps({"graph_hash": g.content_hash, "schedule": g.to_ids(start.schedule)}))
    out = tmp_path / "out.json"
    done = run_cli(
        "solve",
        "demo",
        "--formulation",
        "checkmate-milp",
        "--budget",
        "0.8",
        "--time-limit",
        "10",
        "-q",
        "--initial",
        first,
        "-o",
        out,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert doc["variant"]["initial"]["used"] and doc["total_duration"] <= start.total_duration
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"graph_hash": "0" * 16, "schedule": g.to_ids(start.schedule)}))
    bad = run_cli("solve", "demo", "--formulation", "moccasin", "--budget", "0.8", "--initial", other, "-o", out)
    assert bad.returncode == 2 and "made for another graph" in bad.stderr and bad.stderr.count("\n") == 1
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([0, 1, "no-such-node"]))
    bad = run_cli("solve", "demo", "--formulation", "moccasin", "--budget", "0.8", "--initial", unknown, "-o", out)
    assert bad.returncode == 2 and "no-such-node" in bad.stderr and bad.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "formulation,params",
    [("moccasin", {}), ("moccasin", {"order": "free"}), ("checkmate-milp", {}), ("checkmate-cp", {})],
)
def test_the_annealer_warm_starts_the_exact_models(demo, formulation, params):
    g, budget, _ = demo
    r = solve_in_process(g, budget, formulation, {**params, "warm_start": "annealing"}, time_limit_seconds=8)
    info = r.output.variant["annealing"]
    assert info["status"] in ("optimal", "feasible") and info["order"] == params.get("order", "fixed")
    assert r.output.variant["warm_start"]["name"] == "annealing"  # the heuristics do not run with warm_start=annealing
    assert r.status in ("optimal", "feasible") and r.total_duration <= info["cost"]


@pytest.mark.parametrize("order", ["fixed", "free"])
def test_a_start_without_recomputation_ends_the_solve_as_optimal(order):
    """A warm start that recomputes nothing cannot be beaten: Moccasin returns it as optimal without searching,
    even on a model large enough for the window search (which proves no bound)."""
    g = load_graph("rl3-gen")
    budget = resolve_budget(g, fraction=1.0)  # the reference order fits as it is
    r = solve_in_process(g, budget, "moccasin", {"order": order, "search": "lns"}, time_limit_seconds=60)
    assert r.status == "optimal" and r.total_duration == g.sum_duration == r.output.best_bound
    assert r.output.variant["search_stages"] == [] and "recomputes nothing" in r.message
    assert r.wall_seconds < 30  # not the time limit


def _model_size(g, budget, initial, **params):
    r = solve_in_process(
        g, budget, "moccasin", {"warm_start": "none", "phases": "1", **params}, time_limit_seconds=4, initial=initial
    )
    return r, r.output.model_size["intervals"]


@pytest.mark.parametrize("why", ["off the grid", "invalid", "over the cap"])
def test_an_initial_schedule_the_model_does_not_take_leaves_the_model_as_it_was(demo, why):
    """Issue 25 item 3: not staged along the order, not executable, or computing a node more often than
    the copies cap allows: the model is built exactly as without it (no copies raised) and says why."""
    g, budget, _ = demo
    order = reference_order(g).tolist()
    edges = {tuple(e) for e in g.edges.tolist()}
    k = next(k for k in range(len(order) - 1) if (order[k], order[k + 1]) not in edges)
    if why == "off the grid":  # recomputes the first node often, and swaps two unrelated nodes
        s = [order[0]] * 5 + order[:k] + [order[k + 1], order[k]] + order[k + 2 :]
    elif why == "invalid":  # reads a node before computing it, after computing the first one often
        s = [order[0]] * 5 + order[::-1]
    else:
        s = [order[0]] * 1000 + order  # node order[0] computed 1,001 times
    _, plain = _model_size(g, budget, None)
    r, with_initial = _model_size(g, budget, g.to_ids(s))
    assert with_initial == plain
    info = r.output.variant["initial"]
    assert info["used"] is False and info["copies_raised"] == 0
    assert "initial schedule was not used" in r.message
    if why == "over the cap":
        assert "1,001 times, more than the copies cap 1,000" in r.message


@pytest.mark.parametrize("formulation", ["heuristic", "checkmate-lp", "oracle"])
def test_a_formulation_that_takes_no_initial_schedule_says_so(demo, formulation):
    g, budget, start = demo
    r = solve_in_process(g, budget, formulation, {}, time_limit_seconds=10, initial=g.to_ids(start.schedule))
    assert r.output.variant["initial"]["used"] is False
    assert f"formulation {formulation!r} does not start from a given schedule" in r.message


def test_the_annealer_starts_from_an_initial_schedule(demo):
    """The annealer takes the initial schedule as a start candidate (it keeps the cheapest fitting one);
    with a zero-move budget its result is that schedule."""
    g, budget, start = demo
    r = solve_in_process(
        g, budget, "annealing", {"max_moves": 1}, time_limit_seconds=10, initial=g.to_ids(start.schedule)
    )
    assert r.output.variant["initial"]["used"] is True
    assert r.output.variant["start_schedule"]["name"] == "initial" or (
        r.output.variant["start_schedule"]["cost"] <= start.total_duration
    )
    assert r.total_duration <= start.total_duration
    off = list(reversed(g.to_ids(start.schedule)))  # not executable: refused, and said
    bad = solve_in_process(g, budget, "annealing", {"max_moves": 1}, time_limit_seconds=10, initial=off)
    assert bad.output.variant["initial"]["used"] is False
    assert "initial schedule was not used: not executable" in bad.message
