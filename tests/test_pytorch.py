"""PyTorch training graphs: fixed bytes and provenance in the engine, the catalogue (without
torch), extraction checked by hand, scheduled execution, and bad inputs.

Tests that need torch skip cleanly without it (pytest.importorskip). The catalogue
solves use a 5 s limit each (the whole file takes about a minute on 2 cores).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moccasin_bench.budget import resolve_budget
from moccasin_bench.catalog import CATALOGUE_DIR, PYTORCH_GRAPHS
from moccasin_bench.cli import main
from moccasin_bench.errors import GraphError, UserError
from moccasin_bench.graph import Graph
from moccasin_bench.judge import solve_in_process as solve
from moccasin_bench.native import parse, to_data, write
from moccasin_bench.simulate import simulate
from moccasin_bench.sources import load_graph, read_graph_file

REPO = Path(__file__).resolve().parent.parent
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; "  # `import torch` now raises ImportError


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=timeout)


def run_cli(*args: str, block_torch: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    code = (
        BLOCK_TORCH if block_torch else "import sys; "
    ) + f"from moccasin_bench.cli import main; sys.exit(main({list(map(str, args))!r}))"
    return run_python(code, timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("moccasin-bench: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


# ---- engine: fixed bytes and provenance -----------------------------------------------------


def tiny(fixed=0, source=None) -> Graph:
    return Graph.build(
        "t",
        [0, 1, 2],
        [1, 2, 3],
        [10, 20, 30],
        [(0, 1), (1, 2)],
        stored_order=[0, 1, 2],
        fixed_bytes=fixed,
        source=source,
    )


def test_hash_unchanged_without_fixed_bytes():
    # The demo graph's hash from before fixed bytes existed: stored runs keep their keys.
    assert load_graph("demo").content_hash == "59525045546e64c6"
    assert tiny().content_hash == tiny(source={"kind": "x"}).content_hash  # provenance is not hashed
    assert tiny(fixed=5).content_hash != tiny().content_hash != tiny(fixed=6).content_hash


def test_fixed_bytes_validated_and_round_trip(tmp_path):
    with pytest.raises(GraphError, match="fixed_bytes is negative"):
        tiny(fixed=-1)
    with pytest.raises(GraphError, match="fixed_bytes is not an integer"):
        tiny(fixed=1.5)
    data = to_data(tiny())
    assert "fixed_bytes" not in data and "source" not in data  # unchanged files for ordinary graphs
    g = tiny(fixed=123, source={"kind": "demo", "nested": [1, 2]})
    data = to_data(g)
    assert data["fixed_bytes"] == 123 and data["source"] == {"kind": "demo", "nested": [1, 2]}
    back = parse(json.loads(json.dumps(data)), "t")
    assert back.fixed_bytes == 123 and back.source == g.source and back.content_hash == g.content_hash
    write(g, tmp_path / "g.json.gz")
    read = read_graph_file(tmp_path / "g.json.gz")
    assert read.name == "t" and read.fixed_bytes == 123 and read.content_hash == g.content_hash
    with pytest.raises(GraphError, match="'source' must be an object"):
        parse({**data, "source": [1]}, "t")
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(GraphError, match="bad.json.gz"):
        read_graph_file(tmp_path / "bad.json.gz")


# ---- the catalogue, without torch -----------------------------------------------------------


def test_catalogue_loads_without_torch():
    code = (
        BLOCK_TORCH
        + """
import json
from moccasin_bench.catalog import PYTORCH_GRAPHS
from moccasin_bench.sources import load_graph
from moccasin_bench.simulate import simulate
out = {}
for name in PYTORCH_GRAPHS:
    g = load_graph(name)
    sim = simulate(g, g.stored_order)
    out[name] = {"n": g.n, "m": g.m, "fixed": g.fixed_bytes, "valid": sim.valid, "kind": g.source["kind"],
                 "breakdown": g.source["fixed"], "nodes_mapped": len(g.source["fx_nodes"]), "labels": g.labels is not None,
                 "flops": len(g.source["flops"]), "torch_loaded": "torch" in sys.modules and sys.modules["torch"] is not None}
print(json.dumps(out))
"""
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == set(PYTORCH_GRAPHS) and len(out) >= 6
    for name, info in out.items():
        assert (CATALOGUE_DIR / PYTORCH_GRAPHS[name].filename).is_file()
        assert info["valid"] and info["labels"] and info["kind"] == "pytorch-training-step" and not info["torch_loaded"]
        assert info["n"] == info["nodes_mapped"] == info["flops"] and info["n"] >= 100
        parts = info["breakdown"]
        assert (
            info["fixed"]
            == parts["total"]
            == sum(parts[k] for k in ("parameters", "buffers", "batch", "outputs", "optimizer_state"))
        )
        assert parts["optimizer_state"] > parts["parameters"] > 0  # adam: two states per trained parameter


@pytest.mark.parametrize("name", list(PYTORCH_GRAPHS))
def test_catalogue_solves_with_moccasin_at_90(name):
    g = load_graph(name)
    budget = resolve_budget(g, fraction=0.9)
    result = solve(g, budget, "moccasin", time_limit_seconds=5, threads=1)
    assert result.status in ("optimal", "feasible"), result.message
    sim = simulate(g, result.schedule)
    assert sim.valid and sim.peak_memory <= budget.bytes and sim.total_duration == result.total_duration


def test_graphs_list_and_info_show_catalogue_and_fixed_bytes(capsys):
    assert main(["graphs", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in PYTORCH_GRAPHS)
    assert main(["graphs", "info", "pt-resnet18"]) == 0
    text = capsys.readouterr().out
    assert "schedulable" in text and "fixed bytes" in text and "fractions of the schedulable peak" in text
    assert main(["graphs", "info", "pt-resnet18", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (
        info["fixed_bytes"] > 0
        and info["peaks_include_fixed_bytes"] is False
        and info["fixed_breakdown"]["optimizer"] == "adam"
    )


def test_execute_rejects_another_graphs_schedule_before_running(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(
        json.dumps({"graph": "pt-unet", "graph_hash": load_graph("pt-unet").content_hash, "schedule": [0, 1]})
    )
    proc = run_cli("execute", "pt-resnet18", other, block_torch=True)  # rejected before torch is needed
    assert_one_line_error(proc, "made for graph 'pt-unet'")


def test_extract_without_torch_says_how_to_install(tmp_path):
    proc = run_cli("graphs", "extract", "graphs.pytorch.models:tiny_mlp", "-o", tmp_path / "x.json", block_torch=True)
    assert_one_line_error(proc, "PyTorch is not installed", "pip install 'torch==2.13.0+cpu'")


# ---- extraction, checked by hand ------------------------------------------------------------


def test_tiny_mlp_extracted_exactly():
    pytest.importorskip("torch")
    from graphs.pytorch.build import extract
    from graphs.pytorch.costs import BANDWIDTH, PEAK_FLOPS

    B, D, H, C, F = 2, 8, 16, 4, 4  # batch, input, hidden, classes; 4 bytes per float32
    g = extract("graphs.pytorch.models:tiny_mlp", batch=B)

    def ns_compute(flops):
        return -(-flops * 10**9 // PEAK_FLOPS)

    def ns_memory(nbytes):
        return -(-nbytes * 10**9 // BANDWIDTH)

    loss = F  # the scalar loss, and the loss seed 1.0 fed to the backward pass
    # (label, output bytes, FLOPs, bytes moved = inputs + output, inputs after folding)
    expected = [
        ("aten.addmm fc1", B * H * F, 2 * B * D * H, H * F + B * D * F + D * H * F + B * H * F, []),
        ("aten.relu relu", B * H * F, 0, 2 * B * H * F, [0]),
        ("aten.addmm fc2", B * C * F, 2 * B * H * C, C * F + B * H * F + H * C * F + B * C * F, [1]),
        ("aten.mse_loss <loss>", loss, 0, 2 * B * C * F + loss, [2]),
        ("aten.mse_loss_backward <loss> (backward)", B * C * F, 0, loss + 2 * B * C * F + B * C * F, [2]),
        ("aten.mm fc2 (backward)", B * H * F, 2 * B * C * H, B * C * F + C * H * F + B * H * F, [4]),  # dL/d relu
        ("aten.mm fc2 (backward)", C * H * F, 2 * C * B * H, B * C * F + B * H * F + C * H * F, [1, 4]),  # dL/dW2
        ("aten.sum.dim_IntList fc2 (backward)", C * F, 0, B * C * F + C * F, [4]),  # dL/db2
        ("aten.threshold_backward relu (backward)", B * H * F, 0, 3 * B * H * F, [1, 5]),
        ("aten.mm fc1 (backward)", H * D * F, 2 * H * B * D, B * H * F + B * D * F + H * D * F, [8]),  # dL/dW1
        ("aten.sum.dim_IntList fc1 (backward)", H * F, 0, B * H * F + H * F, [8]),  # dL/db1
    ]
    assert g.n == len(expected) and g.m == sum(len(e[4]) for e in expected)
    assert g.node_ids == tuple(range(g.n)) and g.stored_order.tolist() == list(range(g.n))
    for i, (label, memory, flops, moved, preds) in enumerate(expected):
        assert g.labels[i] == label
        assert g.memory[i] == memory, label
        assert g.source["flops"][i] == flops, label
        assert g.source["bytes_moved"][i] == moved, label
        assert g.duration[i] == (ns_compute(flops) if flops else ns_memory(moved)), label
        assert sorted(g.predecessors(i).tolist()) == preds, label
    params = (D * H + H + H * C + C) * F
    fixed = g.source["fixed"]
    assert fixed["parameters"] == params and fixed["buffers"] == 0
    assert fixed["batch"] == B * D * F + B * C * F + loss  # inputs, targets, loss seed
    assert fixed["outputs"] == params + loss  # a slot per gradient and for the loss
    assert fixed["optimizer_state"] == 2 * params and g.fixed_bytes == 4 * params + fixed["batch"] + loss
    assert g.source["fx_nodes"][1] == ["relu", "detach", "detach_1"]  # detach folded into relu
    assert g.source["random_nodes"] == [] and g.source["costs"]["unit"] == "ns"


def test_bare_model_with_input_shape_and_profile_costs():
    pytest.importorskip("torch")
    from graphs.pytorch.build import extract

    g = extract("tests.pytorch_factories:bare", batch=3, input_shape=(5,), costs="profile", profile_runs=2)
    assert g.source["inputs"] == [{"shape": [3, 5], "dtype": "float32"}] and g.source["targets"] == []
    assert g.source["loss"].startswith("default") and g.source["input_shape"] == [5]
    assert g.source["costs"]["model"] == "profile" and g.source["costs"]["runs"] == 2 and g.source["costs"]["cpu"]
    assert g.duration.dtype == np.int64 and (g.duration > 0).all()
    assert any("sigmoid" in label for label in g.labels)


# ---- execution ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_gpt():
    pytest.importorskip("torch")
    from graphs.pytorch.build import extract

    return extract("graphs.pytorch.models:small_gpt")


def test_moccasin_schedule_executes_like_the_plain_step(small_gpt):
    from graphs.pytorch.execute import execute

    g = small_gpt
    budget = resolve_budget(g, fraction=0.7)
    result = solve(g, budget, "moccasin", time_limit_seconds=10, threads=1)
    assert result.status in ("optimal", "feasible") and len(result.schedule) > g.n  # it recomputes
    report = execute(g, g.to_ids(result.schedule), repeat=1)
    assert report["check"]["bitwise_equal"], report["check"]  # same ops on the same values: bitwise
    assert report["random_nodes"] > 0  # dropout, replayed per node
    sim, meas = report["simulated"], report["measured"]
    assert meas["scheduled"]["resident_bytes"] == g.fixed_bytes  # the allocator sees exactly the fixed bytes
    for key in ("scheduled", "plain"):
        expected = sim[f"{key}_peak"] + g.fixed_bytes
        # The interpreter holds exactly the simulator's tensors; ops add their own workspace
        # on top (docs/pytorch.md): at most 10 % here.
        assert expected <= meas[key]["peak_bytes"] <= 1.10 * expected, (key, meas[key], expected)
    assert meas["scheduled"]["peak_bytes"] < meas["plain"]["peak_bytes"]


def test_recomputed_dropout_draws_the_same_mask(small_gpt):
    from graphs.pytorch.execute import execute

    g = small_gpt
    order = list(range(g.n))
    for r in sorted(g.source["random_nodes"], reverse=True):  # recompute each dropout right before its last reader
        last = max(g.successors(r).tolist())
        order.insert(order.index(last), r)
    assert len(order) == g.n + len(g.source["random_nodes"]) and simulate(g, order).valid
    report = execute(g, order, repeat=1)
    assert report["recomputations"] == len(g.source["random_nodes"]) and report["check"]["bitwise_equal"]


def test_retrace_mismatch_is_one_clear_error(small_gpt):
    from graphs.pytorch.execute import execute

    groups = [list(x) for x in small_gpt.source["fx_nodes"]]
    groups[0], groups[1] = groups[1], groups[0]
    g = dataclasses.replace(small_gpt, source={**small_gpt.source, "fx_nodes": groups})
    with pytest.raises(UserError, match="does not give graph"):
        execute(g, list(range(g.n)), repeat=1)


# ---- bad inputs: one line, exit status 2 ----------------------------------------------------


@pytest.mark.parametrize(
    "factory, needle",
    [
        ("no colon here", "is not MODULE:FACTORY"),
        ("no_such_module_xyz:make", "cannot import module 'no_such_module_xyz'"),
        ("graphs.pytorch.models:no_such_factory", "has no attribute 'no_such_factory'"),
        ("tests.pytorch_factories:raises", "raised ValueError: no weights for you"),
        ("tests.pytorch_factories:not_a_model", "returned a int"),
        ("tests.pytorch_factories:untraceable", "does not trace"),
    ],
)
def test_bad_factories(factory, needle, capsys, tmp_path):
    pytest.importorskip("torch")
    code = main(
        ["graphs", "extract", factory, "-o", str(tmp_path / "x.json")]
    )  # in process: faster; a traceback would fail the test
    err = capsys.readouterr().err
    assert_one_line_error(subprocess.CompletedProcess([], code, "", err), needle)
    assert not (tmp_path / "x.json").exists()


def test_execute_rejects_a_schedule_that_does_not_fit(tmp_path):
    pytest.importorskip("torch")
    graph = tmp_path / "g.json"
    bad = tmp_path / "bad.json"
    bad.write_text("[0, 2, 1]")
    assert main(["graphs", "extract", "graphs.pytorch.models:tiny_mlp", "-o", str(graph)]) == 0
    proc = run_cli("execute", graph, bad)
    assert_one_line_error(proc, "does not fit", "has not been computed")
    bad.write_text("[0, 1, 99]")
    assert_one_line_error(run_cli("execute", graph, bad), "unknown node id 99")
