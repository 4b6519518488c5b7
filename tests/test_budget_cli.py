"""Budgets, reference peaks of the paper's graphs, and the CLI verbs of the foundation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moccasin_bench.budget import fraction_of_peak, resolve_budget
from moccasin_bench.cli import VERBS
from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph
from moccasin_bench.judge import solve_in_process
from moccasin_bench.orders import memory_aware_order, reference_order
from moccasin_bench.simulate import simulate
from tests.conftest import paper_path, run_cli
from tests.strategies import dags

# docs/paper.md: peaks without recomputation.
REFERENCE_PEAKS = [
    ("rl1", "stored", 46_319),
    ("rl2", "stored", 146_840),
    ("rl2", "topological", 135_910),
    ("cm1", "topological", 13_484_795_520),
    ("cm2", "topological", 38_059_356_160),
]


@pytest.mark.parametrize("name,order,peak", REFERENCE_PEAKS)
def test_graphs_info_json_reproduces_reference_peaks(name, order, peak):
    proc = run_cli("graphs", "info", paper_path(name), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)  # exactly one JSON object
    assert info["peaks"][order] == peak
    for key in ("nodes", "edges", "sum_duration", "sum_memory", "min_feasible_budget"):
        assert isinstance(info[key], int)


def test_paper_budgets():
    assert fraction_of_peak(0.9, 46_319) == 41_688  # RL1 90 %, docs/paper.md
    assert fraction_of_peak(0.9, 146_840) == 132_156  # RL2 90 %
    assert fraction_of_peak(0.8, 146_840) == 117_472  # RL2 80 %: exact, no float noise upwards
    assert fraction_of_peak(1, 10) == 10


def test_budget_kinds_and_errors():
    g = Graph.build("t", [0, 1, 2], [1, 1, 1], [4, 5, 6], [(0, 1), (1, 2)])
    b = resolve_budget(g, fraction=0.5)
    assert (b.bytes, b.reference_order, b.reference_peak) == (6, "topological", 11)
    assert resolve_budget(g, absolute=100).fraction is None
    with pytest.raises(UserError, match="no stored order"):
        resolve_budget(g, fraction=0.9, order_name="stored")
    with pytest.raises(UserError, match="exactly one"):
        resolve_budget(g)
    with pytest.raises(UserError, match="fraction"):
        resolve_budget(g, fraction=-1)


@settings(max_examples=100, deadline=None)
@given(dags(max_nodes=8))
def test_memory_aware_order_is_a_valid_order(g):
    order = memory_aware_order(g)
    assert sorted(order.tolist()) == list(range(g.n))
    assert simulate(g, order).valid


@settings(max_examples=60, deadline=None)
@given(dags(min_nodes=2, max_nodes=6), st.integers(0, 5))
def test_budget_below_the_lower_bound_is_infeasible_without_a_solver(g, slack):
    budget = resolve_budget(g, absolute=max(0, g.min_feasible_budget - 1 - slack))
    if g.min_feasible_budget == 0:
        return
    result = solve_in_process(g, budget, "oracle", {"max_nodes": 0})  # the oracle would refuse: it must not run
    assert result.status == "infeasible" and "minimum feasible budget" in result.message
    assert result.schedule is None


def test_every_verb_has_help_with_examples():
    for verb in VERBS:
        proc = run_cli(verb, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "example" in proc.stdout.lower(), verb


def test_generate_then_info_then_simulate(tmp_path):
    g = Graph.build("chain", [0, 1, 2, 3], [2, 2, 2, 2], [5, 5, 5, 5], [(0, 1), (1, 2), (2, 3), (0, 3)])
    from moccasin_bench.native import write

    path = tmp_path / "chain.json"
    write(g, path)
    sched = tmp_path / "s.json"
    sched.write_text(json.dumps([0, 1, 2, 3]))
    proc = run_cli("simulate", path, sched, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["valid"], out["peak_memory"], out["total_duration"], out["tdi_percent"]) == (True, 15, 8, 0.0)
    assert out["violation"] is None
    sched.write_text(json.dumps([0, 2, 1, 3]))
    proc = run_cli("simulate", path, sched, "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["valid"] is False
    assert out["violation"]["kind"] == "missing_input" and out["violation"]["step"] == 1
    sched.write_text(json.dumps([0, 1, 2, 3]))
    assert run_cli("simulate", path, sched, "--budget-bytes", "14").returncode == 1


def test_solve_writes_the_schedule_contract_and_simulate_agrees(tmp_path):
    g = Graph.build("chain", [0, 1, 2], [2, 3, 4], [5, 6, 7], [(0, 1), (1, 2)])
    from moccasin_bench.native import write

    path = tmp_path / "chain.json"
    write(g, path)
    out = tmp_path / "sched.json"
    proc = run_cli("solve", path, "-f", "oracle", "--budget", "1.0", "-o", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    for key in (
        "graph",
        "formulation",
        "params",
        "budget",
        "reference_order",
        "status",
        "schedule",
        "peak_memory",
        "total_duration",
        "tdi_percent",
        "build_seconds",
        "solve_seconds",
        "best_bound",
        "trajectory",
    ):
        assert key in doc, key
    assert doc["status"] == "optimal" and doc["schedule"] == [0, 1, 2] and doc["peak_memory"] == 13
    assert run_cli("simulate", path, out).returncode == 0
    proc = run_cli("solve", path, "-f", "oracle", "--budget-bytes", "3")
    assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == "infeasible"


@pytest.mark.parametrize(
    "args,words",
    [
        (["solve", "demo", "-f", "nope", "--budget", "0.9"], "unknown formulation 'nope'"),
        (
            ["solve", "demo", "-f", "heuristic", "--budget", "0.9", "--param", "colour=red"],
            "unknown parameter 'colour'",
        ),
        (["solve", "demo", "-f", "heuristic", "--budget", "0.9", "--param", "novalue"], "expected key=value"),
        (["graphs", "info", "no-such-graph"], "neither a file nor a registered graph"),
        (["graphs", "generate", "no-such-family", "-o", "x.json"], "unknown graph family"),
    ],
)
def test_cli_bad_arguments_are_one_line(args, words):
    proc = run_cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_reference_order_names():
    g = Graph.build("t", [0, 1], [1, 1], [1, 1], [(0, 1)], stored_order=[0, 1])
    assert reference_order(g, "default").tolist() == [0, 1]
    with pytest.raises(UserError, match="unknown reference order"):
        reference_order(g, "sideways")


def test_formulations_verb_lists_every_registered_formulation_and_its_params():
    from formulations import REGISTRY

    listed = run_cli("formulations")
    assert listed.returncode == 0, listed.stderr
    for name in REGISTRY:
        assert name in listed.stdout
    one = run_cli("formulations", "moccasin")
    assert one.returncode == 0 and "order='fixed'" in one.stdout and "copies=2" in one.stdout
    bad = run_cli("formulations", "no-such-method")
    assert (
        bad.returncode == 2 and "unknown formulation 'no-such-method'" in bad.stderr and "Traceback" not in bad.stderr
    )


def test_solve_names_both_peaks_of_a_graph_with_fixed_bytes(tmp_path):
    """With fixed bytes, the printed line says which peak is schedulable and which includes the fixed bytes."""
    import json

    from tests.conftest import run_cli

    g = tmp_path / "fixed.json"
    g.write_text(
        json.dumps(
            {
                "format": "moccasin-bench-graph",
                "version": 1,
                "name": "fixed",
                "nodes": [{"id": i, "duration": 1, "memory": 1 << 20} for i in range(3)],
                "edges": [[0, 1], [1, 2]],
                "fixed_bytes": 3 << 20,
            }
        )
    )
    r = run_cli("solve", g, "--formulation", "heuristic", "--budget", "1", "--in-process", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert "schedulable peak 2,097,152 B (2.0 MiB) / budget 2,097,152 B (2.0 MiB); " in r.stderr
    assert "with the 3.0 MiB of fixed bytes: peak 5.0 MiB / budget 5.0 MiB" in r.stderr
