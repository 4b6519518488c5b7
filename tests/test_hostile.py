"""Hostile input: every case ends with one line naming the input and the problem and a non-zero
exit status (or with correct behaviour), never with a traceback (issue 13).

The table runs the CLI in this process (`moccasin_bench.cli.main`), so it stays fast: every case
here fails before a child process or a solver would start.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings

from moccasin_bench.cli import main
from moccasin_bench.errors import GraphError, UserError
from moccasin_bench.graph import Graph
from tests.faulty_formulations import tiny_graph, write_graph
from tests.strategies import dags

BIG = 2**61 - 1  # each value fits the per-value cap; their sums do not


def native(nodes, edges=(), **extra) -> dict:
    return {"format": "moccasin-bench-graph", "version": 1, "nodes": nodes, "edges": list(edges), **extra}


def unit_nodes(ids, duration=1, memory=1) -> list[dict]:
    return [{"id": i, "duration": duration, "memory": memory} for i in ids]


FILES: dict[str, object] = {
    "overflow.json": native(unit_nodes(range(8), BIG, BIG), [[i, i + 1] for i in range(7)]),
    "overflow-mem.json": native(unit_nodes(range(8), 1, BIG), [[i, i + 1] for i in range(7)]),
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "bigint.json": '{"format":"moccasin-bench-graph","version":1,"nodes":[{"id":0,"duration":1'
    + "0" * 5000
    + ',"memory":1}],"edges":[]}',
    "unhashable.json": native(unit_nodes([0, 1]), [[[0], 1]]),
    "dict-endpoint.json": native(unit_nodes([0, 1]), [[{"a": 1}, 1]]),
    "order-string.json": native(unit_nodes([0, 1]), [[0, 1]], order="01"),
    "order-dict.json": native(unit_nodes([0, 1]), [[0, 1]], order={"0": 1}),
    "order-bool.json": native(unit_nodes([0, 1]), [[0, 1]], order=[True, 0]),
    "bool-endpoint.json": native(unit_nodes([0, 1]), [[True, 0]]),
    "float-endpoint.json": native(unit_nodes([0, 1]), [[0, 1.0]]),
    "string-edge.json": native(unit_nodes(["a", "b"]), ["ab"]),
    "three-edge.json": native(unit_nodes([0, 1, 2]), [[0, 1, 2]]),
    "nodelink-bool.json": {
        "nodes": [{"id": 0, "duration": 1, "memory": 1}, {"id": 1, "duration": 1, "memory": 1}],
        "links": [{"source": False, "target": 1}],
    },
    "nodelink-order.json": {
        "nodes": [{"duration": 1, "out_cost": 1}, {"duration": 1, "out_cost": 1}],
        "links": [{"0": 0, "1": 1}],
        "graph": {"order": [0.0, 1.0]},
    },
    "two.json": native(unit_nodes([0, 1]), [[0, 1]]),
    "sched-budget-str.json": {"schedule": [0, 1], "budget": "x"},
    "sched-budget-float.json": {"schedule": [0, 1], "budget": 1.5},
    "sched-bools.json": [True, 1],
    "sched-floats.json": [0.0, 1.0],
    "sched-nested.json": [[0], 1],
    "sched-object.json": {"schedule": "01"},
    "sched-other-graph.json": {"schedule": [0, 1], "graph": "elsewhere", "graph_hash": "0123456789abcdef", "budget": 2},
    "name-dict.json": native(unit_nodes([0]), name={"a": 1}),
}
BINARY = {
    "latin1.json": b'{"format":"moccasin-bench-graph","version":1,"name":"\xe9","nodes":[],"edges":[]}',
    "latin1.toml": b'name = "\xe9"\n',
    "sched-latin1.json": b'["\xe9"]',
}

TOML = {
    "inf-memory.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\nmemory_limit = inf\n',
    "nan-memory.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\nmemory_limit = nan\n',
    "tiny-memory.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\nmemory_limit = 100\n',
    "nan-grace.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\ngrace_seconds = nan\n',
    "inf-grace.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\ngrace_seconds = inf\n',
    "empty-grid.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\ngrid = []\n',
    "negative-seed.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\nseeds = -1\n',
    "huge-seed.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\nseeds = 4294967296\n',
    "nan-limit.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\ntime_limits = nan\n',
    "inf-limit.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\ntime_limits = inf\n',
    "huge-budget.toml": 'graphs = "demo"\nbudget_bytes = 9223372036854775807\nformulations = "heuristic"\n',
    "nan-budget.toml": 'graphs = "demo"\nbudgets = nan\nformulations = "heuristic"\n',
    "nan-param.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "checkmate-milp", params = { feasibility_tolerance = nan } }]\n',
    "loose-tolerance.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "checkmate-milp", params = { feasibility_tolerance = 1e-3 } }]\n',
    "thresholds.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "checkmate-lp", params = { thresholds = "0.5,2" } }]\n',
    "samples.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "checkmate-lp", params = { samples = -1 } }]\n',
    "share.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "moccasin", params = { heuristic_share = 1.5 } }]\n',
    "horizon.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "moccasin", params = { horizon = -3 } }]\n',
    "copies-node.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "moccasin", params = { copies_per_node = "nope=2" } }]\n',
    "paper-free.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "moccasin", params = { lengths = "paper", order = "free" } }]\n',
    "cpsat-key.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "moccasin", params = { cpsat = "no_such_thing=1" } }]\n',
    "cpsat-value.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "moccasin", params = { cpsat = "num_workers=many" } }]\n',
    "retries.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "checkmate-milp", params = { max_retries = -1 } }]\n',
    "max-comp.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = [{ name = "heuristic", params = { max_computations = -2 } }]\n',
    "deep.toml": "x = " + "[" * 5000 + "]" * 5000 + "\n",
    "bigint.toml": "seeds = 1" + "0" * 5000 + "\n",
    "good.toml": 'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\ntime_limits = 5\n',
}


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """The hostile files in a fresh directory, which becomes the working directory."""
    for name, data in FILES.items():
        (tmp_path / name).write_text(data if isinstance(data, str) else json.dumps(data))
    for name, data in BINARY.items():
        (tmp_path / name).write_bytes(data)
    for name, text in TOML.items():
        (tmp_path / name).write_text(text)
    foreign = sqlite3.connect(tmp_path / "foreign.sqlite")
    foreign.execute("CREATE TABLE runs (x)")
    foreign.execute("PRAGMA user_version = 2")
    foreign.commit()
    foreign.close()
    (tmp_path / "junk.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    from moccasin_bench.store import Store

    Store(tmp_path / "empty.sqlite").close()
    monkeypatch.chdir(tmp_path)
    return tmp_path


CASES = [
    # ---- graph files ------------------------------------------------------------------------------------
    (["graphs", "info", "overflow.json"], "overflow.json: the sum of the durations", 2),
    (["graphs", "info", "overflow-mem.json"], "the sum of the memory sizes", 2),
    (["simulate", "overflow-mem.json", "sched-bools.json"], "too large", 2),
    (["graphs", "info", "latin1.json"], "latin1.json: not UTF-8", 2),
    (["graphs", "info", "deep.json"], "deep.json: JSON nested too deeply", 2),
    (["graphs", "info", "bigint.json"], "bigint.json: JSON holds a value that cannot be read", 2),
    (["graphs", "info", "unhashable.json"], "the source of edge 0 is not a node id", 2),
    (["graphs", "info", "dict-endpoint.json"], "is not a node id", 2),
    (["graphs", "info", "order-string.json"], "stored order must be a list of node ids", 2),
    (["graphs", "info", "order-dict.json"], "stored order must be a list of node ids", 2),
    (["graphs", "info", "order-bool.json"], "entry 0 of the stored order is not a node id", 2),
    (["graphs", "info", "bool-endpoint.json"], "the source of edge 0 is not a node id", 2),
    (["graphs", "info", "float-endpoint.json"], "the target of edge 0 is not a node id", 2),
    (["graphs", "info", "string-edge.json"], "edge 0 is not a pair of node ids", 2),
    (["graphs", "info", "three-edge.json"], "edge 0 is not a pair of node ids", 2),
    (["graphs", "info", "nodelink-bool.json"], "is not a node id", 2),
    (["graphs", "info", "nodelink-order.json"], "entry 0 of the stored order is not a node id", 2),
    (["graphs", "export", "latin1.json", "-o", "x.json"], "not UTF-8", 2),
    (["graphs", "info", "name-dict.json"], "'name' must be a string", 2),
    (["graphs", "info", "transformer:seq=1000000000,dim=1000000000"], "too large", 2),
    (["graphs", "info", "random-layered:n=3000000"], "parameter 'n' of graph family 'random-layered' must be in", 2),
    (["graphs", "generate", "linear", "layers=100000000", "-o", "x.json"], "parameter 'layers'", 2),
    (["graphs", "info", "random-layered:w=inf"], "must be a finite float", 2),
    # ---- schedule documents -------------------------------------------------------------------------------
    (
        ["simulate", "two.json", "sched-budget-str.json"],
        "sched-budget-str.json: 'budget' must be a non-negative integer",
        2,
    ),
    (["simulate", "two.json", "sched-budget-float.json"], "'budget' must be a non-negative integer", 2),
    (["simulate", "two.json", "sched-bools.json"], "unknown node id True", 2),
    (["simulate", "two.json", "sched-floats.json"], "unknown node id 0.0", 2),
    (["simulate", "two.json", "sched-nested.json"], "unknown node id [0]", 2),
    (["simulate", "two.json", "sched-object.json"], "expected a JSON list of node ids", 2),
    (["simulate", "two.json", "sched-latin1.json"], "sched-latin1.json: not UTF-8", 2),
    (["simulate", "two.json", "deep.json"], "nested too deeply", 2),
    (["simulate", "two.json", "sched-bools.json", "--budget-bytes", "-1"], "non-negative integer", 2),
    (["simulate", "two.json", "sched-other-graph.json"], "the schedule was solved on graph 'elsewhere'", 2),
    (
        [
            "report",
            "--store",
            "foreign.sqlite",
            "-o",
            "rep",
            "--schedule",
            "sched-other-graph.json",
            "--graph",
            "two.json",
        ],
        "not a moccasin-bench results store",
        2,
    ),
    # ---- solve options --------------------------------------------------------------------------------------
    (["solve", "two.json", "-f", "heuristic", "--budget", "nan"], "budget fraction must be in (0, 10]", 2),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget-bytes", str(2**63)],
        "is too large: budgets must be at most 2^62",
        2,
    ),
    (["solve", "two.json", "-f", "heuristic", "--budget", "1", "--seed", "-1"], "seed must be an integer from 0", 2),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--seed", str(2**40)],
        "seed must be an integer from 0",
        2,
    ),
    (["solve", "two.json", "-f", "heuristic", "--budget", "1", "--time-limit", "inf"], "time limit must be", 2),
    (["solve", "two.json", "-f", "heuristic", "--budget", "1", "--time-limit", "1e300"], "time limit must be", 2),
    (["solve", "two.json", "-f", "heuristic", "--budget", "1", "--threads", "0"], "threads must be", 2),
    (["solve", "two.json", "-f", "heuristic", "--budget", "1", "--gap", "nan"], "gap must be in [0, 1)", 2),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--grace", "nan"],
        "--grace must be a number of seconds",
        2,
    ),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--grace", "inf"],
        "--grace must be a number of seconds",
        2,
    ),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--grace", "-1"],
        "--grace must be a number of seconds",
        2,
    ),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--memory-limit", "inf"],
        "--memory-limit must be a size",
        2,
    ),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--memory-limit", "100"],
        "--memory-limit of 100 B is too small",
        2,
    ),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--memory-limit", "1e30"],
        "--memory-limit must be a size",
        2,
    ),
    (
        ["solve", "two.json", "-f", "checkmate-milp", "--budget", "1", "--param", "feasibility_tolerance=nan"],
        "must be a finite float",
        2,
    ),
    (
        ["solve", "two.json", "-f", "checkmate-milp", "--budget", "1", "--param", "feasibility_tolerance=1e-3"],
        "must be in [1e-10, 0.0001]",
        2,
    ),
    (
        ["solve", "two.json", "-f", "checkmate-milp", "--budget", "1", "--param", "max_retries=-1"],
        "must be in [0, 100]",
        2,
    ),
    (
        ["solve", "two.json", "-f", "checkmate-lp", "--budget", "1", "--param", "samples=-5"],
        "must be in [0, 100000]",
        2,
    ),
    (
        ["solve", "two.json", "-f", "checkmate-lp", "--budget", "1", "--param", "thresholds=0,0.5"],
        "every threshold must be in (0, 1)",
        2,
    ),
    (
        ["solve", "two.json", "-f", "checkmate-lp", "--budget", "1", "--param", "lp_budget_scale=0"],
        "must be in (0, 1]",
        2,
    ),
    (
        ["solve", "two.json", "-f", "moccasin", "--budget", "1", "--param", "heuristic_share=-0.1"],
        "must be in [0, 1]",
        2,
    ),
    (
        ["solve", "two.json", "-f", "moccasin", "--budget", "1", "--param", "horizon=-1"],
        "must be in [0, 1000000000]",
        2,
    ),
    (["solve", "two.json", "-f", "moccasin", "--budget", "1", "--param", "copies=100000"], "must be in [1, 1000]", 2),
    (["solve", "two.json", "-f", "moccasin", "--budget", "1", "--param", "copies=" + "9" * 5000], "must be int", 2),
    (
        ["solve", "two.json", "-f", "moccasin", "--budget", "1", "--param", "copies_per_node=zz=2"],
        "unknown node id 'zz'",
        2,
    ),
    (
        ["solve", "two.json", "-f", "moccasin", "--budget", "1", "--param", "cpsat=num_workers=lots"],
        "cpsat: parameter 'num_workers'",
        2,
    ),
    (
        ["solve", "two.json", "-f", "heuristic", "--budget", "1", "--param", "max_computations=-1"],
        "must be in [0, 1000000]",
        2,
    ),
    (["solve", "two.json", "-f", "oracle", "--budget", "1", "--param", "max_nodes=-1"], "must be in [0, 64]", 2),
    # ---- sweep configs and options ------------------------------------------------------------------------
    (["sweep", "inf-memory.toml", "--dry-run"], "key 'memory_limit'", 2),
    (["sweep", "nan-memory.toml", "--dry-run"], "key 'memory_limit'", 2),
    (["sweep", "tiny-memory.toml", "--dry-run"], "is too small: a run needs at least", 2),
    (["sweep", "nan-grace.toml", "--dry-run"], "key 'grace_seconds'", 2),
    (["sweep", "inf-grace.toml", "--dry-run"], "key 'grace_seconds'", 2),
    (["sweep", "empty-grid.toml", "--dry-run"], "key 'grid': is empty", 2),
    (["sweep", "negative-seed.toml", "--dry-run"], "key 'seeds'", 2),
    (["sweep", "huge-seed.toml", "--dry-run"], "key 'seeds'", 2),
    (["sweep", "nan-limit.toml", "--dry-run"], "key 'time_limits'", 2),
    (["sweep", "inf-limit.toml", "--dry-run"], "key 'time_limits'", 2),
    (["sweep", "huge-budget.toml", "--dry-run"], "key 'budget_bytes'", 2),
    (["sweep", "nan-budget.toml", "--dry-run"], "key 'budgets'", 2),
    (["sweep", "nan-param.toml", "--dry-run"], "must be a finite float", 2),
    (["sweep", "loose-tolerance.toml", "--dry-run"], "feasibility_tolerance", 2),
    (["sweep", "thresholds.toml", "--dry-run"], "every threshold must be in (0, 1)", 2),
    (["sweep", "samples.toml", "--dry-run"], "'samples'", 2),
    (["sweep", "share.toml", "--dry-run"], "'heuristic_share'", 2),
    (["sweep", "horizon.toml", "--dry-run"], "'horizon'", 2),
    (["sweep", "copies-node.toml", "--dry-run"], "copies_per_node: unknown node id 'nope'", 2),
    (["sweep", "paper-free.toml", "--dry-run"], "lengths=paper needs order=fixed", 2),
    (["sweep", "cpsat-key.toml", "--dry-run"], "unknown CP-SAT parameter", 2),
    (["sweep", "cpsat-value.toml", "--dry-run"], "cpsat: parameter 'num_workers'", 2),
    (["sweep", "retries.toml", "--dry-run"], "'max_retries'", 2),
    (["sweep", "max-comp.toml", "--dry-run"], "'max_computations'", 2),
    (["sweep", "latin1.toml", "--dry-run"], "latin1.toml: not UTF-8", 2),
    (["sweep", "deep.toml", "--dry-run"], "deep.toml: not valid TOML", 2),
    (["sweep", "bigint.toml", "--dry-run"], "bigint.toml: not valid TOML", 2),
    (["sweep", "good.toml", "--store", "junk.sqlite", "--dry-run"], "junk.sqlite: cannot read the results store", 2),
    (
        ["sweep", "good.toml", "--store", "foreign.sqlite", "--dry-run"],
        "foreign.sqlite: not a moccasin-bench results store",
        2,
    ),
    (["sweep", "good.toml", "--store", "junk.sqlite"], "junk.sqlite: cannot read the results store", 2),
    (["sweep", "good.toml", "--store", "foreign.sqlite"], "foreign.sqlite: not a moccasin-bench results store", 2),
    (["export", "--store", "junk.sqlite", "--format", "csv"], "junk.sqlite: cannot read the results store", 2),
    (["report", "--store", "foreign.sqlite", "-o", "rep"], "not a moccasin-bench results store", 2),
    (
        ["export", "--store", "empty.sqlite", "--format", "csv", "-o", "two.json"],
        "two.json: cannot write the export",
        2,
    ),
    (["export", "--store", "empty.sqlite", "--format", "csv", "-o", "/proc/no/such"], "cannot write the export", 2),
    (["report", "--store", "empty.sqlite", "-o", "two.json"], "the results store holds no runs", 2),
    (["sweep", "good.toml", "--scheduler", ""], "--scheduler must be a Dask scheduler address", 2),
    (["sweep", "good.toml", "--scheduler", "   "], "--scheduler must be a Dask scheduler address", 2),
    (["sweep", "good.toml", "--scheduler", "tcp://host:99999"], "--scheduler must be a Dask scheduler address", 2),
    (["sweep", "good.toml", "--scheduler", "tcp://a b:1"], "--scheduler must be a Dask scheduler address", 2),
    (
        ["sweep", "good.toml", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "nan"],
        "--connect-timeout must be",
        2,
    ),
    (
        ["sweep", "good.toml", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "-1"],
        "--connect-timeout must be",
        2,
    ),
    (
        ["sweep", "good.toml", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "inf"],
        "--connect-timeout must be",
        2,
    ),
    (["sweep", "good.toml", "--worker-timeout", "nan"], "--worker-timeout must be", 2),
    (["sweep", "good.toml", "--grace", "nan", "--dry-run"], "--grace must be", 2),
    (["sweep", "good.toml", "--grace", "-5", "--dry-run"], "--grace must be", 2),
    (["sweep", "good.toml", "--memory-limit", "10", "--dry-run"], "too small", 2),
    (["sweep", "good.toml", "--jobs", "0", "--dry-run"], "--jobs must be", 2),
    (["sweep", "good.toml", "--store", ".", "--dry-run"], "is a directory, not a results store", 2),
    # ---- reproduce options ----------------------------------------------------------------------------------
    (["reproduce", "-o", "r", "--jobs", "0", "--dry-run"], "--jobs must be from 1", 2),
    (["reproduce", "-o", "r", "--graphs", ",", "--dry-run"], "--graphs names nothing", 2),
    (["reproduce", "-o", "r", "--time-limit", "inf", "--dry-run"], "--time-limit must be", 2),
    (["reproduce", "-o", "r", "--memory-limit", "5", "--dry-run"], "too small", 2),
]


@pytest.mark.parametrize("argv, fragment, code", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_hostile_input_is_one_line_and_a_nonzero_exit(hostile, capsys, argv, fragment, code):
    got = main(argv)
    err = capsys.readouterr().err
    assert got == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("moccasin-bench: error: "), err
    assert fragment in lines[-1], err
    assert "Traceback" not in err


def test_a_huge_grid_is_sized_first_and_refused_without_yes(hostile, capsys):
    seeds = ", ".join(map(str, range(200)))
    (hostile / "huge.toml").write_text(
        f'graphs = "demo"\nbudgets = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]\nseeds = [{seeds}]\n'
        f'formulations = [{{ name = "heuristic", params = {{ max_computations = [{seeds}] }} }}]\n'
    )
    assert main(["sweep", "huge.toml", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "the grid has 240,000 runs" in err and "--yes" in err and "Traceback" not in err
    (hostile / "medium.toml").write_text(
        f'graphs = "demo"\nbudgets = 0.9\nformulations = "heuristic"\nseeds = [{", ".join(map(str, range(10_001)))}]\n'
    )
    assert main(["sweep", "medium.toml", "--dry-run", "--yes"]) == 0
    out, err = capsys.readouterr()
    assert "the grid has 10,001 runs; planning them" in err and "sweep 'medium' " in out


# ---- the engine below the CLI ------------------------------------------------------------------------------


def test_sums_that_overflow_int64_are_refused_at_load_time():
    with pytest.raises(GraphError, match="sum of the memory sizes"):
        Graph.build("m", range(8), [1] * 8, [BIG] * 8, [])
    with pytest.raises(GraphError, match="sum of the durations"):
        Graph.build("d", range(8), [BIG] * 8, [1] * 8, [])
    # just below the cap: every figure is exact
    share = (2**62 // 16 - 1) // 4
    g = Graph.build("ok", range(4), [share] * 4, [share] * 4, [(0, 1), (1, 2), (2, 3)])
    from moccasin_bench.simulate import simulate

    sim = simulate(g, [0, 1, 2, 3, 0, 1, 2, 3] * 1000)
    assert sim.total_duration == 8000 * share and sim.peak_memory == 2 * share
    assert (np.asarray(sim.memory_per_step) >= 0).all()


def test_node_ids_are_exact_booleans_and_floats_are_not_ids():
    g = Graph.build("g", [0, 1, "a"], [1, 1, 1], [1, 1, 1], [(0, 1)])
    assert g.has_node(1) and not g.has_node(True) and not g.has_node(1.0) and not g.has_node([1])
    with pytest.raises(GraphError, match="unknown node id True"):
        g.to_indices([0, True])
    with pytest.raises(GraphError, match="unknown node id 1.0"):
        g.index_of(1.0)
    assert g.to_indices([np.int64(0), 1, "a"]).tolist() == [0, 1, 2]
    with pytest.raises(GraphError, match="not a node id"):
        Graph.build("g", [0, 1], [1, 1], [1, 1], [(0, 1.0)])
    with pytest.raises(GraphError, match="not a pair"):
        Graph.build("g", ["a", "b"], [1, 1], [1, 1], ["ab"])


def _quadratic_memory_aware(graph):
    """The former O(n^2) greedy: the reference for the heap version."""
    mem = graph.memory
    remaining = graph.out_degree.astype(np.int64).copy()
    missing = graph.in_degree.astype(np.int64).copy()
    ready = set(np.nonzero(missing == 0)[0].tolist())
    order = []
    while ready:
        best = None
        for v in ready:
            preds = graph.predecessors(v)
            freed = int(mem[preds[remaining[preds] == 1]].sum())
            key = (int(mem[v]) - freed, int(mem[v]), v)
            best = key if best is None or key < best else best
        v = best[2]
        ready.remove(v)
        order.append(v)
        remaining[graph.predecessors(v)] -= 1
        for w in graph.successors(v):
            missing[w] -= 1
            if missing[w] == 0:
                ready.add(int(w))
    return order


@pytest.mark.parametrize(
    "spec",
    [
        "random-layered:n=150,seed=3",
        "random-layered:n=120,seed=5,ed=0.7,scd=0.5",
        "unet:depth=3",
        "transformer:blocks=2",
        "linear:layers=12,residual=3",
        "demo",
    ],
)
def test_the_memory_aware_order_is_the_same_greedy_in_n_log_n(spec):
    from moccasin_bench.orders import memory_aware_order
    from moccasin_bench.sources import load_graph

    g = load_graph(spec)
    assert memory_aware_order(g).tolist() == _quadratic_memory_aware(g)


@settings(max_examples=150, deadline=None)
@given(dags(max_nodes=12, max_memory=4))
def test_the_memory_aware_order_equals_the_quadratic_greedy_on_random_dags(g):
    from moccasin_bench.orders import memory_aware_order

    assert memory_aware_order(g).tolist() == _quadratic_memory_aware(g)


def test_graph_info_and_the_heuristic_on_many_ready_nodes_stay_fast(tmp_path):
    import time

    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.cli.graphs import graph_info
    from moccasin_bench.judge import solve_in_process

    big = Graph.build("isolated", range(20_000), [1] * 20_000, list(range(20_000)), [])
    t0 = time.perf_counter()
    info = graph_info(big)
    assert time.perf_counter() - t0 < 10 and info["peaks"]["memory-aware"] == 19_999
    small = Graph.build("isolated", range(4000), [1] * 4000, list(range(4000)), [])
    t0 = time.perf_counter()
    result = solve_in_process(small, resolve_budget(small, fraction=1.0), "heuristic", {}, time_limit_seconds=2)
    assert result.status == "feasible" and time.perf_counter() - t0 < 6


def test_the_solve_time_checks_are_also_made_when_a_run_is_planned():
    from moccasin_bench.budget import Budget
    from moccasin_bench.runner import make_spec

    g = tiny_graph()
    for params, fragment in (
        ({"copies_per_node": "9=2"}, "unknown node id"),
        ({"thresholds": "1.5"}, "threshold"),
        ({"cpsat": "bogus=1"}, "unknown CP-SAT parameter"),
    ):
        name = "checkmate-lp" if "thresholds" in params else "moccasin"
        with pytest.raises(UserError, match=fragment):
            make_spec(g, Budget(200), name, params)
    with pytest.raises(UserError, match="budget"):
        make_spec(g, Budget(2**63), "heuristic")


def test_checkmate_milp_never_calls_a_tightened_budget_infeasible():
    """At the loosest tolerance allowed the budget is tightened below the only fitting peak: the
    solver finds the model infeasible, which proves nothing for the budget itself."""
    from moccasin_bench.budget import Budget
    from moccasin_bench.judge import solve_in_process

    g = Graph.build("pair", [0, 1], [1, 1], [1000, 1001], [(0, 1)])
    budget = Budget(g.min_feasible_budget)  # feasible: compute 0 then 1
    loose = solve_in_process(
        g, budget, "checkmate-milp", {"feasibility_tolerance": 1e-4, "warm_start": "none"}, time_limit_seconds=20
    )
    assert loose.status == "no_solution" and "proves nothing" in loose.message
    exact = solve_in_process(g, budget, "checkmate-milp", {"warm_start": "none"}, time_limit_seconds=20)
    assert exact.status == "optimal"  # 1e-7: exact at this scale
    # at a million units even the default tolerance tightens the budget (documented): still never "infeasible"
    h = Graph.build("pair", [0, 1], [1, 1], [1_000_000, 1_000_001], [(0, 1)])
    default = solve_in_process(
        h, Budget(h.min_feasible_budget), "checkmate-milp", {"warm_start": "none"}, time_limit_seconds=20
    )
    assert default.status == "no_solution"


def test_a_full_disk_under_the_store_keeps_what_is_stored_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    """SQLite's own 'database or disk is full' (a page cap on the store file), mid-sweep."""
    import importlib

    store_module = importlib.import_module(
        "moccasin_bench.store"
    )  # the module the driver imports (tests may re-import it)
    from moccasin_bench.store import rows

    write_graph(tmp_path / "tiny.json")
    seeds = ", ".join(map(str, range(6)))
    (tmp_path / "c.toml").write_text(
        f'graphs = "tiny.json"\nbudget_bytes = 200\nformulations = "heuristic"\nseeds = [{seeds}]\ntime_limits = 5\n'
    )
    path = tmp_path / "s.sqlite"
    original = store_module.Store.write

    def capped(self, row, *args, **kwargs):  # after the first run is stored, the file may not grow by a page
        row = {**row, "stderr_tail": "x" * 20_000}  # every row needs pages of its own (overflow pages)
        original(self, row, *args, **kwargs)
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(store_module.Store, "write", capped)
    code = main(["sweep", str(tmp_path / "c.toml"), "--store", str(path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 75, err
    last = err.strip().splitlines()[-1]
    assert "s.sqlite: the disk under the store is full" in last and "re-run the same command to resume" in last
    stored = len(rows(path))
    assert 0 < stored < 6
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    monkeypatch.setattr(store_module.Store, "write", original)
    assert main(["sweep", str(tmp_path / "c.toml"), "--store", str(path), "--dry-run"]) == 0  # the resume
    assert f"{stored} done, {6 - stored} to run" in capsys.readouterr().out


@pytest.mark.parametrize(
    "plugins, fragment",
    [
        ("x=os", "module 'os' is not a formulation"),
        ("x=.os", "cannot import its module"),
        ("x", "expected name=module.path"),
        ("heuristic=os", "name of a built-in"),
    ],
)
def test_a_bad_plugin_variable_is_one_line(hostile, capsys, monkeypatch, plugins, fragment):
    monkeypatch.setenv("MOCCASIN_BENCH_PLUGINS", plugins)
    assert main(["formulations"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_a_memory_cap_that_kills_the_child_at_import_says_so():
    """Below the 1 GiB floor (through the API), a solver cannot even be imported: the message names the limit."""
    from moccasin_bench.budget import Budget
    from moccasin_bench.runner import graph_document, make_spec, run_isolated

    g = tiny_graph()
    out = run_isolated(
        make_spec(g, Budget(200), "moccasin", time_limit_seconds=5).to_json(),
        graph_document(g),
        memory_limit_bytes=200 << 20,
    )
    assert out["status"] == "error" and "memory limit" in out["message"] and "200.0 MiB" in out["message"], out[
        "message"
    ]


@pytest.mark.parametrize("formulation", ["moccasin", "checkmate-cp", "heuristic"])
def test_the_largest_budget_reaches_no_model_and_is_kept_in_the_verdict(formulation):
    """A budget of 2^62 (allowed) overflowed CP-SAT's cumulative reasoning: formulations get Σ memory
    instead (the same problem: no schedule peaks above it); the result keeps the budget asked for."""
    from moccasin_bench.budget import MAX_BUDGET, Budget
    from moccasin_bench.judge import solve_in_process

    g = tiny_graph()
    result = solve_in_process(g, Budget(MAX_BUDGET), formulation, {}, time_limit_seconds=10)
    assert result.status in ("optimal", "feasible"), result.message
    assert result.to_json()["budget"] == MAX_BUDGET and result.total_duration == g.sum_duration


@pytest.mark.parametrize(
    "params",
    [
        {"warm_start": "none"},
        {"hazard": "upper", "warm_start": "none"},
        {"backend": "pulp", "hazard": "upper"},
        {"backend": "pulp"},
    ],
)
def test_highs_presolve_cannot_call_a_feasible_checkmate_model_infeasible(params):
    """Found by tests/test_crosscheck.py while hunting: HiGHS 1.16's MIP presolve declared this feasible
    instance (the oracle schedules it: 0 1 2 3 0 4) infeasible; `infeasible` now needs a second proof
    without presolve."""
    from moccasin_bench.budget import Budget
    from moccasin_bench.judge import solve_in_process

    g = Graph.build(
        "training", range(5), [1, 0, 0, 0, 0], [3, 2, 1, 3, 1], [(0, 1), (1, 2), (2, 3), (3, 4), (1, 3), (0, 4)]
    )
    oracle = solve_in_process(g, Budget(7), "oracle", {"order": "fixed"}, time_limit_seconds=20)
    result = solve_in_process(g, Budget(7), "checkmate-milp", params, time_limit_seconds=20)
    assert oracle.status == result.status == "optimal" and result.total_duration == oracle.total_duration


@pytest.mark.parametrize("grace", [float("nan"), float("inf"), -1.0])
def test_a_grace_that_would_disable_or_hasten_the_kill_is_refused_by_the_runner_too(grace):
    from moccasin_bench.budget import Budget
    from moccasin_bench.runner import graph_document, make_spec, run_isolated

    g = tiny_graph()
    with pytest.raises(UserError, match="grace_seconds must be a number of seconds"):
        run_isolated(make_spec(g, Budget(200), "heuristic").to_json(), graph_document(g), grace_seconds=grace)


def test_a_store_with_damaged_values_is_one_line(tmp_path, capsys):
    from moccasin_bench.store import Store

    path = tmp_path / "damaged.sqlite"
    with Store(path) as store:
        store.write(
            {
                "key": "k",
                "graph": "g",
                "graph_hash": "h",
                "formulation": "heuristic",
                "params": "{bad",
                "budget": 1,
                "time_limit_seconds": 1.0,
                "threads": 1,
                "seed": 0,
                "relative_gap": 0.0,
                "status": "feasible",
                "finished_at": "2026-01-01T00:00:00+00:00",
                "started_at": "2026-01-01T00:00:00+00:00",
            }
        )
    for argv in (
        ["export", "--store", str(path), "--format", "csv", "-o", str(tmp_path / "x")],
        ["report", "--store", str(path), "-o", str(tmp_path / "r"), "--no-figures"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "damaged.sqlite: the results store holds a damaged value" in err and "Traceback" not in err
