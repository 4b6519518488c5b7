"""The child-process runner: run keys, isolation, hard kill, memory cap, crash reports, provenance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moccasin_bench.budget import resolve_budget
from moccasin_bench.errors import UserError
from moccasin_bench.formulation import formulation_module, registry
from moccasin_bench.judge import solve_in_process
from moccasin_bench.runner import graph_document, make_spec, parse_size, run_isolated, run_key
from tests.conftest import REPO, run_cli
from tests.faulty_formulations import MARKER, tiny_graph, use_plugin, write_graph


@pytest.fixture
def faulty(monkeypatch):
    use_plugin(monkeypatch)


def spec_for(graph=None, formulation="heuristic", params=None, absolute=None, **kw):
    graph = graph or tiny_graph()
    budget = resolve_budget(graph, absolute=absolute) if absolute is not None else resolve_budget(graph, fraction=1.0)
    return make_spec(graph, budget, formulation, params or {}, **kw)


# ---- run keys ---------------------------------------------------------------------------------


def test_key_depends_on_graph_content_not_its_name_or_path(tmp_path):
    from moccasin_bench.sources import load_graph

    a = load_graph(write_graph(tmp_path / "a.json"))
    b = load_graph(write_graph(tmp_path / "sub-b.json", tiny_graph(name="other name")))
    assert spec_for(a).key == spec_for(b).key
    assert spec_for(tiny_graph(scale=2)).key != spec_for(a).key


def test_key_uses_resolved_parameters():
    defaults = formulation_module("heuristic").PARAMS
    explicit = {p.name: p.default for p in defaults}
    assert spec_for(params={}).key == spec_for(params=explicit).key
    assert spec_for(params={"order": "topological"}).key != spec_for().key
    # order of parameters and int/float spelling of numbers do not matter
    base = spec_for(formulation="oracle", params={"max_nodes": 9, "order": "free"})
    same = spec_for(formulation="oracle", params={"order": "free", "max_nodes": "9"}, time_limit_seconds=60)
    assert base.key == same.key


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["budget", "fraction", "order", "formulation", "limit", "threads", "seed", "gap"]))
def test_every_component_changes_the_key(component):
    g = tiny_graph()
    base = dict(
        fraction=1.0,
        reference_order="topological",
        formulation="heuristic",
        time_limit_seconds=10,
        threads=1,
        seed=0,
        relative_gap=0.0,
    )
    changed = dict(base)
    if component == "budget":
        a = make_spec(g, resolve_budget(g, absolute=200), "heuristic", time_limit_seconds=10)
        b = make_spec(g, resolve_budget(g, absolute=201), "heuristic", time_limit_seconds=10)
        assert a.key != b.key
        return
    if component == "fraction":  # same bytes, different derivation: a fraction vs an absolute budget
        a = make_spec(g, resolve_budget(g, fraction=1.0), "heuristic")
        b = make_spec(g, resolve_budget(g, absolute=a.budget_bytes), "heuristic")
        assert a.budget_bytes == b.budget_bytes and a.key != b.key
        return
    changed.update(
        {
            "order": {"reference_order": "memory-aware"},
            "formulation": {"formulation": "oracle"},
            "limit": {"time_limit_seconds": 11},
            "threads": {"threads": 2},
            "seed": {"seed": 1},
            "gap": {"relative_gap": 0.01},
        }[component]
    )

    def spec(d):
        budget = resolve_budget(g, fraction=d["fraction"], order_name=d["reference_order"])
        return make_spec(
            g,
            budget,
            d["formulation"],
            {},
            time_limit_seconds=d["time_limit_seconds"],
            threads=d["threads"],
            seed=d["seed"],
            relative_gap=d["relative_gap"],
            reference_order=d["reference_order"],
        )

    assert spec(base).key != spec(changed).key


def test_default_reference_order_is_resolved_in_the_key():
    g = tiny_graph()  # no stored order: default = topological
    assert spec_for(g).reference_order == "topological"
    a = make_spec(g, resolve_budget(g, absolute=200), "heuristic", reference_order="default")
    b = make_spec(g, resolve_budget(g, absolute=200), "heuristic", reference_order="topological")
    assert a.key == b.key == run_key(a)


def test_bad_run_settings_are_user_errors():
    for kw, match in (
        ({"time_limit_seconds": 0}, "time limit"),
        ({"threads": 0}, "threads"),
        ({"relative_gap": 1.5}, "gap"),
    ):
        with pytest.raises(UserError, match=match):
            spec_for(**kw)
    with pytest.raises(UserError, match="unknown parameter 'colour'"):
        spec_for(params={"colour": "red"})


def test_parse_size():
    assert parse_size("8G") == 8 << 30 and parse_size("512MiB") == 512 << 20 and parse_size(1000) == 1000
    assert parse_size("none") == 0 and parse_size("1.5k") == 1536
    with pytest.raises(UserError, match="memory limit"):
        parse_size("lots")


# ---- isolated runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("formulation,absolute", [("heuristic", 110), ("oracle", 110), ("oracle", 109)])
def test_child_run_agrees_with_an_in_process_run(formulation, absolute):
    g = tiny_graph()
    spec = spec_for(g, formulation, absolute=absolute)
    outcome = run_isolated(spec.to_json(), graph_document(g))
    direct = solve_in_process(
        g, resolve_budget(g, absolute=absolute), formulation, time_limit_seconds=60, reference_order_name="topological"
    ).to_json()
    got = outcome["result"]
    for k in ("status", "schedule", "peak_memory", "total_duration", "tdi_percent", "budget", "graph_hash", "params"):
        assert got[k] == direct[k], k
    assert outcome["status"] == direct["status"] == ("infeasible" if absolute < 110 else got["status"])
    assert outcome["worker"] == "local" and outcome["process_seconds"] > 0
    prov = outcome["provenance"]
    for k in (
        "python_version",
        "ortools_version",
        "highspy_version",
        "pulp_version",
        "networkx_version",
        "numpy_version",
        "cpu_model",
        "hostname",
    ):
        assert prov[k], k
    assert outcome["started_at"] < outcome["finished_at"]
    assert got["max_rss_bytes"] > 1 << 20


def test_a_native_crash_is_an_error_with_the_stderr_tail(faulty):
    g = tiny_graph()
    out = run_isolated(spec_for(g, "faulty", {"fault": "crash"}).to_json(), graph_document(g))
    assert out["status"] == "error" and out["result"] is None
    assert "SIGSEGV" in out["message"]
    assert "Segmentation fault" in out["stderr_tail"]  # faulthandler's report, with the Python stack


def test_an_exception_is_an_error_row_with_its_message(faulty):
    g = tiny_graph()
    out = run_isolated(spec_for(g, "faulty", {"fault": "raise"}).to_json(), graph_document(g))
    assert out["status"] == "error" and "deliberate failure" in out["message"]
    assert MARKER in out["stderr_tail"]


def test_a_hung_run_is_killed_at_limit_plus_grace_with_its_subprocesses(faulty, tmp_path):
    g = tiny_graph()
    pid_file = tmp_path / "grandchild.pid"
    spec = spec_for(g, "faulty", {"fault": "hang", "pid_file": str(pid_file)}, time_limit_seconds=0.5)
    t0 = time.monotonic()
    out = run_isolated(spec.to_json(), graph_document(g), grace_seconds=1.0)
    elapsed = time.monotonic() - t0
    assert out["status"] == "error" and out["message"].startswith("killed: no result after 1.5 s")
    assert 1.5 <= elapsed < 10
    assert MARKER in out["stderr_tail"]
    pid = int(pid_file.read_text())
    _wait_gone(pid)


def test_a_memory_blowup_is_an_error_under_the_cap(faulty):
    g = tiny_graph()
    out = run_isolated(spec_for(g, "faulty", {"fault": "hog"}).to_json(), graph_document(g), memory_limit_bytes=1 << 30)
    assert out["status"] == "error"
    assert "out of memory" in out["message"] and "1.0 GiB" in out["message"]
    assert out["memory_limit_bytes"] == 1 << 30


def test_a_graph_that_does_not_match_its_hash_is_refused():
    g = tiny_graph()
    other = tiny_graph(scale=3)
    out = run_isolated(spec_for(g).to_json(), graph_document(other))
    assert out["status"] == "error" and "content hash" in out["stderr_tail"]


def test_the_child_dies_with_its_parent(faulty, tmp_path):
    """kill -9 of whatever launched a run: the run (and what it launched) must not survive."""
    g = tiny_graph()
    pid_file = tmp_path / "grandchild.pid"
    spec = spec_for(g, "faulty", {"fault": "hang", "pid_file": str(pid_file)}, time_limit_seconds=600)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"spec": spec.to_json(), "graph": graph_document(g)}))
    code = (
        "import json,sys; from moccasin_bench.runner import run_isolated; d=json.load(open(sys.argv[1])); "
        "run_isolated(d['spec'], d['graph'])"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(job)], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, "the hung run never started"
            time.sleep(0.05)
        grandchild = int(pid_file.read_text())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    _wait_gone(grandchild)


def _wait_gone(pid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # a zombie (exited, not yet reaped by init) counts as gone
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return
        except OSError:
            return
        assert time.monotonic() < deadline, f"process {pid} is still alive"
        time.sleep(0.05)


# ---- plug-ins and the solve verb -----------------------------------------------------------------


def test_plugin_registry(monkeypatch, faulty):
    assert registry()["faulty"] == "tests.faulty_formulations"
    monkeypatch.setenv("MOCCASIN_BENCH_PLUGINS", "oops")
    with pytest.raises(UserError, match="expected name=module.path"):
        registry()
    monkeypatch.setenv("MOCCASIN_BENCH_PLUGINS", "oracle=tests.faulty_formulations")
    with pytest.raises(UserError, match="built-in"):
        registry()
    monkeypatch.setenv("MOCCASIN_BENCH_PLUGINS", "mine=no_such_package.model")
    with pytest.raises(UserError, match="cannot import its module .no_such_package.model."):
        formulation_module("mine")


def test_solve_reports_a_killed_run_as_error(faulty, tmp_path):
    path = write_graph(tmp_path / "g.json")
    out = tmp_path / "s.json"
    proc = run_cli(
        "solve",
        path,
        "-f",
        "faulty",
        "--param",
        "fault=hang",
        "--budget",
        "1",
        "--time-limit",
        "0.5",
        "--grace",
        "0.5",
        "-o",
        out,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["status"] == "error" and "killed" in doc["message"]
    assert doc["graph_hash"] == tiny_graph().content_hash and doc["schedule"] is None
    assert MARKER in proc.stderr  # the child's output streams to the terminal


def test_solve_through_the_child_keeps_its_contract(tmp_path):
    path = write_graph(tmp_path / "g.json")
    out = tmp_path / "s.json"
    proc = run_cli("solve", path, "-f", "oracle", "--budget-bytes", "120", "-o", out, "--memory-limit", "2G")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    inproc = run_cli("solve", path, "-f", "oracle", "--budget-bytes", "120", "--in-process", "-q")
    assert inproc.returncode == 0, inproc.stderr
    ref = json.loads(inproc.stdout)
    for k in ("status", "schedule", "peak_memory", "total_duration", "budget", "reference_order", "params"):
        assert doc[k] == ref[k], k
    assert doc["status"] == "optimal"


# Keys of runs computed by the release before the structure change (3358527): a store written
# then must still recognise its runs. A new formulation parameter changes the keys of every run
# of that formulation unless it is left out of the key at its default (see runner/spec.py).
# Moccasin's default start and search changed later (warm_start=portfolio, search=hybrid): runs stored
# before were stored with the old values among their parameters, and asked for with them they keep
# their keys; a run asked for at the new defaults is a new run (its key below).
OLD_MOCCASIN = (("search", "auto"), ("warm_start", "heuristics"))
PINNED_KEYS = {
    ("demo", 0.8, "moccasin", OLD_MOCCASIN): "2e67d051a85555c4db8b42a6",
    ("demo", 0.9, "moccasin", (("copies", 3), ("order", "free"), *OLD_MOCCASIN)): "51bae4b2a9e4a395f2b50dd0",
    ("demo", 0.8, "moccasin", ()): "e11602a41970a3e30b6c6f66",
    ("rl1-gen", 0.7, "checkmate-milp", (("backend", "pulp"),)): "0c514537a2a2c428369d7e51",
    ("cm1-gen", 0.8, "heuristic", (("strategy", "chen-sqrt"),)): "bb5d80ad2ba99cc58ec3862b",
}


@pytest.mark.parametrize("run", sorted(PINNED_KEYS))
def test_run_keys_are_stable_across_releases(run):
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.sources import load_graph

    graph_spec, fraction, formulation, params = run
    g = load_graph(graph_spec)
    spec = make_spec(
        g, resolve_budget(g, fraction=fraction), formulation, dict(params), time_limit_seconds=30, threads=2, seed=3
    )
    assert spec.key == PINNED_KEYS[run]
