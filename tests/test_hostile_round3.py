"""Hostile input, round 3 (issue 25, items 4-6): steps that are not training steps, parameters
without a bound, graphs a baseline cannot read, and damaged stores. Every case ends with one
line naming the input and the problem and a non-zero exit status, never with a traceback."""

from __future__ import annotations

import pytest

from moccasin_bench.cli import main

# ---- item 4: `graphs extract` refuses what is not a training step -----------------------------------

NOT_TRAINING = [
    ("inplace_param", "changes parameter 'lin.weight' in place"),
    ("inplace_param_no_grad", "changes parameter 'lin.weight' in place"),
    ("inplace_param_data", "changes parameter 'lin.weight' in place"),
    ("inplace_param_view", "changes parameter 'lin.weight' in place"),
    ("inplace_input", "changes its batch input 0 in place"),
    ("buffer_with_grad", "updates buffer 'stat' from values that require grad"),
    ("vector_loss", "has shape (3,), not one value"),
    ("tuple_loss", "is 2 values"),
    ("string_loss", "is not a tensor but 'low'"),
    ("integer_output", "has dtype int64: integer and boolean values have no gradients"),
    ("complex_loss", "is complex (complex64)"),
    ("no_grad", "depends on no parameter that requires grad"),
    ("detached_loss", "depends on no parameter that requires grad"),
    ("loss_of_inputs_only", "depends on no parameter that requires grad"),
    ("no_parameters", "has no parameters"),
    ("frozen", "no parameter of the model of tests.round3_factories:frozen requires grad"),
]


@pytest.mark.parametrize("factory, fragment", NOT_TRAINING, ids=[c[0] for c in NOT_TRAINING])
def test_extract_refuses_a_step_that_is_not_a_training_step(tmp_path, capsys, factory, fragment):
    pytest.importorskip("torch")
    out = tmp_path / "g.json"
    assert main(["graphs", "extract", f"tests.round3_factories:{factory}", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and f"tests.round3_factories:{factory}" in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "factory",
    ["inplace_buffer", "nan_shape_loss", "int_parameter", "loss_is_parameter", "optimizer_inside", "grad_inside"],
)
def test_extract_keeps_accepting_real_training_steps_at_the_edges(tmp_path, factory):
    """A buffer updated in place (as batch norm's statistics), a one-element loss (eager backward
    takes it), a frozen integer parameter beside trained ones, a loss that is a parameter, an
    optimizer step before any gradient exists (changes nothing), a gradient penalty."""
    pytest.importorskip("torch")
    from graphs.pytorch.build import extract

    g = extract(f"tests.round3_factories:{factory}")
    assert g.n >= 1 and g.source["fixed"]["parameters"] > 0


# ---- item 5: a PyTorch graph the baselines cannot read, parameters past their range -------------------


def _pytorch_graph_variants(tmp_path):
    """pt-resnet18 as extracted, without its stored order, and with labels edited."""
    import json

    from graphs.native import to_data
    from moccasin_bench.sources import load_graph

    data = to_data(load_graph("pt-resnet18"))
    files = {}
    plain = dict(data)
    plain.pop("order")
    files["no-order"] = plain
    contradicting = json.loads(json.dumps(data))
    contradicting["nodes"][0]["label"] += " (backward)"  # the first forward op, read by forward ops
    files["contradicting"] = contradicting
    forward_only = json.loads(json.dumps(data))
    for node in forward_only["nodes"]:
        node["label"] = node["label"].removesuffix(" (backward)")
    files["forward-only"] = forward_only
    unlabelled = json.loads(json.dumps(data))
    for node in unlabelled["nodes"]:
        node.pop("label")
    files["unlabelled"] = unlabelled
    paths = {}
    for name, doc in files.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    return paths


def test_the_pytorch_baselines_schedule_a_graph_without_its_stored_order(tmp_path):
    """The topological order stands in for the stored one (was: TypeError in step_parts)."""
    from formulations._torch_remat import step_parts
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    g = load_graph(str(_pytorch_graph_variants(tmp_path)["no-order"]))
    assert g.stored_order is None
    parts = step_parts(g)
    assert sorted(parts.order) == list(range(g.n))
    result = solve_in_process(g, resolve_budget(g, fraction=0.9), "torch-checkpoint", {}, time_limit_seconds=30)
    assert result.status == "feasible", result.message


@pytest.mark.parametrize(
    "variant, fragment",
    [
        ("contradicting", "is labelled forward but reads backward node 0"),
        ("forward-only", "no node is labelled as a backward op"),
        ("unlabelled", "has no node labels"),
    ],
)
@pytest.mark.parametrize("formulation", ["torch-checkpoint", "torch-partitioner"])
def test_the_pytorch_baselines_refuse_labels_that_do_not_split_the_step(
    tmp_path, capsys, variant, fragment, formulation
):
    """Refused when the run is planned (solve and sweep --dry-run), in one line."""
    path = _pytorch_graph_variants(tmp_path)[variant]
    argv = ["solve", str(path), "-f", formulation, "--budget", "0.9", "--time-limit", "5"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err
    config = tmp_path / "grid.toml"
    config.write_text(f'graphs = "{path}"\nbudgets = 0.9\nformulations = "{formulation}"\ntime_limits = 5\n')
    assert main(["sweep", str(config), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err


PAST_THE_RANGE = [
    ("annealing", "restarts=1000000"),
    ("annealing", "max_moves=1000000000000000000000"),
    ("annealing", "smooth=1e308"),
    ("annealing", "slack=1000000000000"),
    ("annealing", "max_computations=1000000000"),
    ("annealing", "t_start=1e-300"),
    ("annealing", "heat=1e300"),
    ("annealing", "memory_weight=1e300"),
    ("annealing", "span=1000000000000000000"),
    ("heuristic", "max_computations=100000000000000000000"),
    ("oracle", "max_computations=100000000000000000000"),
    ("oracle", "max_nodes=100000000000000000000"),
    ("moccasin", "horizon=100000000000000000000"),
]


@pytest.mark.parametrize("formulation, param", PAST_THE_RANGE, ids=[f"{f}-{p}" for f, p in PAST_THE_RANGE])
def test_a_parameter_past_its_range_is_refused_when_planned(tmp_path, capsys, formulation, param):
    name = param.partition("=")[0]
    assert main(["solve", "demo", "-f", formulation, "--budget", "0.9", "--param", param, "--time-limit", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"parameter {name!r} of formulation {formulation!r} must be in [" in err and len(err.splitlines()) == 1
    config = tmp_path / "grid.toml"
    key, _, value = param.partition("=")
    config.write_text(
        f'graphs = "demo"\nbudgets = 0.9\ntime_limits = 5\n'
        f'formulations = [{{name = "{formulation}", params = {{{key} = {value}}}}}]\n'
    )
    assert main(["sweep", str(config), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{name!r}" in err and "must be in [" in err and len(err.splitlines()) == 1, err


def test_the_annealer_at_the_ends_of_its_ranges_finishes_within_the_limit():
    """The largest restarts with few moves (was: OverflowError, or 70 s past a 5 s limit), the
    coldest and the hottest temperatures, the largest smoothing (was: ZeroDivisionError)."""
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    g = load_graph("random-layered:n=60,seed=3")
    budget = resolve_budget(g, fraction=0.7)
    for params in (
        {"restarts": 1000, "max_moves": 1000},
        {"t_start": 1e-6, "t_end": 1e-6, "heat": 1e-3, "smooth": 1000.0, "memory_weight": 100.0},
        {"t_start": 1e6, "t_end": 1e6, "heat": 1000.0, "memory_weight": 1e-3, "count_weight": 1e6, "p_focus": 1.0},
        {"max_computations": 1000, "slack": 256, "span": 10**6, "max_moves": 20000},
    ):
        result = solve_in_process(g, budget, "annealing", params, time_limit_seconds=2)
        assert result.status in ("feasible", "no_solution"), (params, result.status, result.message)


def test_a_batch_that_does_not_fit_the_model_is_one_line_without_torch_logs(tmp_path, capfd):
    """Was: 20 lines of fake-tensor traceback logged by torch before the one-line error. capfd,
    not capsys: torch's log handler writes to the stderr it found at import."""
    pytest.importorskip("torch")
    argv = ["graphs", "extract", "tests.round3_factories:bare_linear", "--input-shape", "7", "-o", str(tmp_path / "g")]
    assert main(argv) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert (
        "does not trace (tests.round3_factories:bare_linear) on the batch torch.randn(1, 7) made from --input-shape"
        in err
    )


# ---- item 6: a damaged store is named before anything trusts it -------------------------------------

GRID = 'graphs = "demo"\nbudgets = [0.8, 0.9]\nformulations = "heuristic"\ntime_limits = 5\n'
MORE = 'graphs = "demo"\nbudgets = [0.8, 0.9, 1.0]\nformulations = "heuristic"\ntime_limits = 5\n'


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    """A store written by a real sweep (two heuristic runs), with a finished claim-free state."""
    root = tmp_path_factory.mktemp("store")
    (root / "grid.toml").write_text(GRID)
    assert main(["sweep", str(root / "grid.toml"), "--store", str(root / "real.sqlite"), "--jobs", "2"]) == 0
    return root / "real.sqlite"


def _pages(store, name):
    import sqlite3

    with sqlite3.connect(store) as conn:
        return [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (name,))]


def _damage(store, target, tmp_path):
    """A copy of the store with one page overwritten by junk; the page: the first of a table or
    index, or the page a third of the way into the file."""
    import random
    import sqlite3

    with sqlite3.connect(store) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        count = conn.execute("PRAGMA page_count").fetchone()[0]
    page = count // 3 + 1 if target == "a third in" else _pages(store, target)[0]
    copy = tmp_path / "damaged.sqlite"
    data = bytearray(store.read_bytes())
    data[(page - 1) * page_size : page * page_size] = random.Random(page).randbytes(page_size)
    copy.write_bytes(bytes(data))
    return copy


DAMAGE = [
    ("claims", "damaged in table claims"),
    ("sqlite_autoindex_schedules_1", "damaged in index sqlite_autoindex_schedules_1 of table schedules"),
    ("a third in", "damaged in "),
    ("runs", "damaged in table runs"),
    ("trajectories", "damaged in table trajectories"),
    ("sweeps", "damaged in table sweeps"),
]


@pytest.mark.parametrize("target, fragment", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_every_command_that_reads_a_store_names_its_damage(real_store, tmp_path, capsys, target, fragment):
    damaged = _damage(real_store, target, tmp_path)
    before = damaged.read_bytes()
    (tmp_path / "more.toml").write_text(MORE)
    commands = [
        ["export", "--store", str(damaged), "--format", "csv", "-o", str(tmp_path / "exp")],
        ["report", "--store", str(damaged), "-o", str(tmp_path / "rep"), "--no-figures"],
        ["sweep", str(tmp_path / "more.toml"), "--store", str(damaged), "--dry-run"],
        ["sweep", str(tmp_path / "more.toml"), "--store", str(damaged)],  # one run to do: never started
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{damaged}: cannot read the results store: " in err, (argv, err)
        assert fragment in err and "integrity check" in err, (argv, err)
    assert damaged.read_bytes() == before  # nothing written, no run started
    assert not (tmp_path / "exp").exists()


def test_the_damaged_part_is_told_from_the_rest_page_by_page(real_store, tmp_path):
    """Junk over each page in turn: the check names the table or index the page belongs to (or
    the schema, for page 1), or the store still reads whole (a page nothing uses)."""
    import sqlite3

    from moccasin_bench.errors import UserError
    from moccasin_bench.store import load_runs, load_trajectories, stored_statuses

    with sqlite3.connect(real_store) as conn:
        owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
        page_size, count = (
            conn.execute("PRAGMA page_size").fetchone()[0],
            conn.execute("PRAGMA page_count").fetchone()[0],
        )
    named = 0
    for page in range(1, count + 1):
        data = bytearray(real_store.read_bytes())
        data[(page - 1) * page_size : page * page_size] = bytes(range(256)) * (page_size // 256)
        copy = tmp_path / f"p{page}.sqlite"
        copy.write_bytes(bytes(data))
        try:
            stored_statuses(copy)
        except UserError as exc:
            text = str(exc)
            assert "\n" not in text and str(copy) in text
            name = owner.get(page)
            expected = "SQLite's header" if page == 1 else f" {name}" if name else "damaged in"
            assert expected in text, (page, name, text)
            named += 1
            continue
        load_runs(copy), load_trajectories(copy)  # not reported damaged: it must read whole
    assert named >= count - 1


def test_a_store_cut_short_says_so(real_store, tmp_path, capsys):
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(real_store.read_bytes()[: real_store.stat().st_size // 3])
    for argv in (
        ["export", "--store", str(cut), "--format", "csv", "-o", str(tmp_path / "exp")],
        ["sweep", str(tmp_path / "g.toml"), "--store", str(cut), "--dry-run"],
    ):
        (tmp_path / "g.toml").write_text(GRID)
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert f"{cut}: cannot read the results store: it is cut short (" in err and len(err.splitlines()) == 1, err


def test_a_store_left_mid_write_by_a_killed_driver_is_rolled_back_by_a_reader(real_store, tmp_path):
    """Was: every reader failed ("attempt to write a readonly database") until a driver opened
    the store. The killed transaction is rolled back; nothing it did is seen."""
    import os
    import signal
    import sqlite3

    from moccasin_bench.store import load_runs, load_trajectories

    store = tmp_path / "hot.sqlite"
    store.write_bytes(real_store.read_bytes())
    runs, traj = len(load_runs(real_store)), len(load_trajectories(real_store))
    pid = os.fork()
    if pid == 0:  # a writer killed in the middle of its transaction, its journal left behind
        conn = sqlite3.connect(store)
        conn.execute("PRAGMA cache_size = 1")
        conn.execute("BEGIN")
        conn.execute("UPDATE runs SET status = 'error'")
        conn.execute("DELETE FROM trajectories")
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    assert (tmp_path / "hot.sqlite-journal").stat().st_size > 0
    df = load_runs(store)
    assert len(df) == runs and "error" not in set(df["status"]) and len(load_trajectories(store)) == traj
