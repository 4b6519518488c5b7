"""Sweeps: TOML grids, dry runs, skipping finished keys, faults, and kill -9 of the driver."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moccasin_bench.cli import main
from moccasin_bench.progress import SweepProgress
from moccasin_bench.store import rows
from moccasin_bench.sweep import load_config, plan
from tests.conftest import REPO, run_cli
from tests.faulty_formulations import tiny_graph, use_plugin, write_graph


@pytest.fixture
def faulty(monkeypatch):
    use_plugin(monkeypatch)


@pytest.fixture
def graph_dir(tmp_path):
    write_graph(tmp_path / "tiny.json")
    write_graph(tmp_path / "big.json", tiny_graph("big", scale=2))
    return tmp_path


def config(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- grids -------------------------------------------------------------------------------------


def test_grid_expansion(graph_dir):
    cfg = load_config(
        config(
            graph_dir,
            """
name = "g"
graphs = ["tiny.json", "big.json"]
budgets = [1.0, 2.0]
budget_bytes = 500
formulations = ["heuristic", { name = "oracle", params = { order = ["free", "fixed"], max_nodes = 9 } }]
seeds = [0, 1]
time_limits = 5
""",
        )
    )
    p = plan(cfg)
    assert len(p.runs) == 2 * 3 * 3 * 2 and p.duplicates == 0
    assert {s.graph_name for s in p.runs} == {"tiny", "big"}
    assert {(s.budget_fraction, s.budget_bytes) for s in p.runs if s.graph_name == "tiny"} == {
        (1.0, 110),
        (2.0, 220),
        (None, 500),
    }
    assert {s.params["order"] for s in p.runs if s.formulation == "oracle"} == {"free", "fixed"}
    assert {s.time_limit_seconds for s in p.runs} == {5.0} and {s.threads for s in p.runs} == {1}


def test_grids_inherit_the_top_level_and_merge_duplicates(graph_dir):
    cfg = load_config(
        config(
            graph_dir,
            """
graphs = "tiny.json"
budgets = [1.0]
formulations = "heuristic"
seeds = [0, 1]

[[grid]]
seeds = 1                      # overlaps the top level's seed 1 ... but a grid replaces the top-level grid

[[grid]]
budget_bytes = [110, 300]      # replaces budgets too: 110 is not the same run as budgets = 1.0 (another derivation)
formulations = [{ name = "oracle", params = { order = "free" } }]
""",
        )
    )
    p = plan(cfg)
    heuristic = [s for s in p.runs if s.formulation == "heuristic"]
    oracle = [s for s in p.runs if s.formulation == "oracle"]
    assert sorted(s.seed for s in heuristic) == [1]  # only [[grid]] tables run when there are any
    assert sorted((s.budget_bytes, s.seed) for s in oracle) == [(110, 0), (110, 1), (300, 0), (300, 1)]
    assert all(s.budget_fraction is None for s in oracle)

    dup = load_config(
        config(
            graph_dir,
            """
graphs = ["tiny.json", "tiny-copy.json"]
budgets = 1.0
formulations = "heuristic"
""",
            "dup.toml",
        )
    )
    write_graph(graph_dir / "tiny-copy.json", tiny_graph("copy"))
    p = plan(dup)
    assert len(p.runs) == 1 and p.duplicates == 1  # same content, same key


BAD_CONFIGS = [
    ("budgets = [0.9\n", "not valid TOML"),
    (
        'graphs = ["tiny.json"]\nbudget = [0.9]\nformulations = ["heuristic"]\n',
        "unknown key 'budget' in the top level; did you mean 'budgets'?",
    ),
    (
        'graphs = ["tiny.json"]\nbudgets = "0.9"\nformulations = ["heuristic"]\n',
        "key 'budgets': expected budget fractions",
    ),
    (
        'graphs = ["tiny.json"]\nbudgets = [1.5, 0]\nformulations = ["heuristic"]\n',
        "key 'budgets': a budget fraction must be in (0, 10]",
    ),
    ('graphs = ["tiny.json"]\nformulations = ["heuristic"]\n', "key 'budgets': missing"),
    ('graphs = ["missing.json"]\nbudgets = 1\nformulations = ["heuristic"]\n', "key 'graphs': graph 'missing.json'"),
    (
        'graphs = ["tiny.json"]\nbudgets = 1\nformulations = ["nope"]\n',
        "key 'formulations[0].name': unknown formulation 'nope'",
    ),
    (
        'graphs = ["tiny.json"]\nbudgets = 1\nformulations = [{name = "oracle", params = {colour = "red"}}]\n',
        "key 'formulations[0].params': unknown parameter 'colour'",
    ),
    (
        'graphs = ["tiny.json"]\nbudgets = 1\nformulations = [{name = "oracle", params = {order = ["free", "sideways"]}}]\n',
        "key 'formulations[0].params': parameter 'order'",
    ),
    ('graphs = ["tiny.json"]\nbudgets = 1\nformulations = ["heuristic"]\nthreads = [true]\n', "key 'threads'"),
    (
        'graphs = ["tiny.json"]\nbudgets = 1\nformulations = ["heuristic"]\nreference_orders = "stored"\n',
        "key 'reference_orders': graph 'tiny.json': graph 'tiny' has no stored order",
    ),
    (
        'graphs = ["tiny.json"]\nbudgets = 1\nformulations = ["heuristic"]\nmemory_limit = "lots"\n',
        "key 'memory_limit'",
    ),
    (
        'graphs = ["tiny.json"]\nbudgets = 1\nformulations = ["heuristic"]\n[[grid]]\nseed = 3\n',
        "unknown key 'seed' in [[grid]] number 1; did you mean 'seeds'?",
    ),
    ('graphs = ["tiny.json"]\nbudgets = 1\nformulations = ["heuristic"]\n[[grid]]\ngaps = [2]\n', "key 'grid[1].gaps'"),
]


@pytest.mark.parametrize("text,message", BAD_CONFIGS)
def test_a_malformed_config_is_one_clear_message(graph_dir, capsys, text, message):
    path = config(graph_dir, text, "bad.toml")
    code = main(["sweep", str(path), "--store", str(graph_dir / "s.sqlite")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"moccasin-bench: error: {path}: ") and message in err, err
    assert err.count("\n") == 1
    assert not (graph_dir / "s.sqlite").exists()  # nothing created for a config that does not load


# ---- running ------------------------------------------------------------------------------------

FAULT_SWEEP = """
name = "faults"
graphs = ["tiny.json"]
budget_bytes = [120]
time_limits = 1
grace_seconds = 3               # room for the memory hog to reach its cap on a busy machine
memory_limit = "1G"
formulations = [
  "heuristic",
  { name = "faulty", params = { fault = ["none", "raise", "crash", "hang", "hog"] } },
]
"""


def test_a_sweep_survives_crashes_hangs_and_memory_blowups(graph_dir, faulty):
    path = config(graph_dir, FAULT_SWEEP)
    store = graph_dir / "s.sqlite"
    t0 = time.monotonic()
    proc = run_cli("sweep", path, "--store", store, "--jobs", "2", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 < 60
    by_fault = {}
    for r in rows(store):
        by_fault[r["formulation"] if r["formulation"] != "faulty" else json.loads(r["params"])["fault"]] = r
    assert set(by_fault) == {"heuristic", "none", "raise", "crash", "hang", "hog"}
    assert by_fault["heuristic"]["status"] == by_fault["none"]["status"] == "feasible"
    for fault, needle in (
        ("raise", "deliberate failure"),
        ("crash", "SIGSEGV"),
        ("hang", "killed"),
        ("hog", "out of memory"),
    ):
        r = by_fault[fault]
        assert r["status"] == "error" and needle in r["message"], (fault, r["message"])
        assert r["stderr_tail"] and "faulty formulation about to" in r["stderr_tail"]
        assert r["nodes"] == 5 and r["python_version"]
    assert "ERROR:" in proc.stderr and "6 runs" in proc.stderr

    # a re-run skips everything; --retry error re-runs only the four failures
    again = run_cli("sweep", path, "--store", store, "--retry", "error", "--grace", "0.5", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "4 to run" in again.stderr and "done: 4 run now, 2 skipped" in again.stderr
    assert len(rows(store)) == 6
    dry = run_cli("sweep", path, "--store", store, "--dry-run")
    assert dry.returncode == 0 and "6 done, 0 to run" in dry.stdout


def test_dry_run_lists_done_and_left_without_creating_the_store(graph_dir):
    path = config(graph_dir, 'graphs = ["tiny.json"]\nbudget_bytes = [120, 130]\nformulations = ["heuristic"]\n')
    store = graph_dir / "s.sqlite"
    assert main(["sweep", str(path), "--store", str(store), "--dry-run"]) == 0
    assert not store.exists()
    assert main(["sweep", str(path), "--store", str(store), "--quiet"]) == 0
    proc = run_cli("sweep", path, "--store", store, "--dry-run")
    assert "2 runs" in proc.stdout and "2 done, 0 to run" in proc.stdout
    assert proc.stdout.count("  done   feasible") == 2
    path.write_text('graphs = ["tiny.json"]\nbudget_bytes = [120, 130, 140]\nformulations = ["heuristic"]\n')
    proc = run_cli("sweep", path, "--store", store, "--dry-run")
    assert "2 done, 1 to run" in proc.stdout and proc.stdout.count("  to run") == 1


def test_progress_line():
    stream = io.StringIO()
    p = SweepProgress(4, stream=stream, interval_seconds=0)
    p.done = 1
    assert p.line().startswith("[######------------------] 1/4 done, 3 left; elapsed 0:00:00, ETA ")
    p.done, p.failed = 3, 1
    assert "3/4 done, 1 left, 1 failed" in p.line()


def test_kill_9_of_the_driver_then_rerun_loses_nothing_and_duplicates_nothing(graph_dir, faulty):
    """SIGKILL the driver mid-sweep; the re-run stores every grid cell exactly once and keeps
    every row finished before the kill unchanged."""
    path = config(
        graph_dir,
        """
name = "kill"
graphs = ["tiny.json"]
budget_bytes = 120
formulations = [{ name = "faulty", params = { fault = "slow", seconds = 0.3 } }]
seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
""",
    )
    store = graph_dir / "s.sqlite"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moccasin_bench.cli",
            "sweep",
            str(path),
            "--store",
            str(store),
            "--jobs",
            "2",
            "--quiet",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while _count(store) < 4:
            assert driver.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    before = {r["key"]: r for r in rows(store)}
    assert 4 <= len(before) < 20
    proc = run_cli("sweep", path, "--store", store, "--jobs", "2", timeout=120)
    assert proc.returncode == 0, proc.stderr
    after = rows(store)
    assert len(after) == 20 and len({r["key"] for r in after}) == 20
    assert sorted(r["seed"] for r in after) == list(range(20))
    by_key = {r["key"]: r for r in after}
    for key, row in before.items():
        assert by_key[key] == row  # same finished_at, same everything
    assert all(r["status"] == "feasible" for r in after)
    conn = sqlite3.connect(store)
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_key) FROM schedules").fetchone() == (20, 20)
    conn.close()


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return 0


PAPER_TABLE = """
budgets = [0.9, 0.8]
threads = 2
formulations = [{ name = "moccasin", params = { order = "fixed" } }, "checkmate-milp", "checkmate-lp", "heuristic"]
[[grid]]
graphs = ["rl1", "cm1"]
time_limits = 600
[[grid]]
graphs = ["rl2", "cm2"]
time_limits = 1800
[[grid]]
graphs = ["rl3"]
time_limits = 1800
formulations = [{ name = "moccasin", params = { order = "fixed" } }, "checkmate-milp", "heuristic"]
[[grid]]
graphs = ["rl4"]
time_limits = 3600
formulations = [{ name = "moccasin", params = { order = "fixed" } }, "heuristic"]
"""


def test_overrides_narrow_the_paper_table(tmp_path):
    """`sweep --graphs/--formulations/--time-limit`: a stand-in takes its paper graph's grid, an unnamed
    graph joins every grid, formulations filter, one time limit for all; grids left empty drop out."""
    from moccasin_bench.errors import UserError
    from moccasin_bench.sweep import override

    path = tmp_path / "paper_table.toml"
    path.write_text(PAPER_TABLE)
    config = load_config(path)
    narrowed = override(config, ["rl1-gen", "cm2"], ["heuristic", "moccasin"], 12)
    assert [(g.graphs, g.time_limits) for g in narrowed.grids] == [(("rl1-gen",), (12.0,)), (("cm2",), (12.0,))]
    assert all({f.name for f in g.formulations} == {"heuristic", "moccasin"} for g in narrowed.grids)
    everywhere = override(config, ["demo"])
    assert len(everywhere.grids) == len(config.grids) and all(g.graphs == ("demo",) for g in everywhere.grids)
    assert [g.time_limits for g in everywhere.grids] == [g.time_limits for g in config.grids]
    only_lp = override(config, formulations=["checkmate-lp"])
    assert [g.graphs for g in only_lp.grids] == [("rl1", "cm1"), ("rl2", "cm2")]  # rl3/rl4's grids have no LP
    with pytest.raises(UserError, match="'checkmate-cp' is in none of the grids"):
        override(config, formulations=["checkmate-cp"])


def test_dry_run_header_adds_up_and_lines_stay_short(tmp_path):
    cfg = tmp_path / "two.toml"
    cfg.write_text(
        'budgets = [0.9, 0.8]\nformulations = ["heuristic", { name = "moccasin", params = { order = ["fixed", "free"] } }]\n'
        '[[grid]]\ngraphs = ["demo"]\ntime_limits = [5, 10]\n'
        '[[grid]]\ngraphs = ["demo", "tiny"]\nformulations = "heuristic"\nseeds = [0, 1]\n'.replace(
            '"tiny"', '"linear:layers=6"'
        )
    )
    out = run_cli("sweep", cfg, "--store", tmp_path / "s.sqlite", "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # grid 1: 1 graph x 2 budgets x 3 settings x 2 limits = 12; grid 2: 2 x 2 x 1 x 2 seeds = 8;
    # the heuristic on demo at seed 0 and 60 s is in grid 2 only, so nothing merges: 20 runs
    assert lines[0].endswith("20 runs from 2 grids:"), lines[0]
    assert lines[1].endswith("1 graph x 2 budgets x 3 formulation settings x 2 time limits = 12")
    assert lines[2].endswith("2 graphs x 2 budgets x 1 formulation setting x 2 seeds = 8")
    runs = [line for line in lines if line.startswith("  to run")]
    assert len(runs) == 20 and max(map(len, runs)) < 160
    assert any("moccasin[order=free]" in line for line in runs)
