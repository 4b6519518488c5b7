"""`reproduce`: the paper's grid (graphs or their stand-ins, limits, what is left out), its
sweep config, and a tiny grid end to end (run, report, resume)."""

from __future__ import annotations

import json
import tomllib

import pandas as pd
import pytest

from experiments.paper import FULL, QUICK
from moccasin_bench.errors import UserError
from moccasin_bench.reproduce import Options, _available, build_grid, choose_graphs, to_toml
from moccasin_bench.sources import find_paper_file
from moccasin_bench.sweep import parse_config
from tests.conftest import run_cli


def _tables(grid, entry):
    return [t for t in grid.config["grid"] if t["graphs"] == [entry]]


def test_quick_grid_with_stand_ins(tmp_path):
    grid = build_grid(Options(out_dir=tmp_path, quick=True, stand_ins=True))
    assert [c.entry for c in grid.choices] == ["rl1-gen", "rl2-gen", "rl3-gen", "rl4-gen", "cm1-gen", "cm2-gen"]
    assert all(c.is_stand_in for c in grid.choices)
    assert grid.config["budgets"] == [0.9, 0.8] and grid.config["threads"] == QUICK.threads
    for c in grid.choices:
        tables = _tables(grid, c.entry)
        solvers = [t for t in tables if all(f["name"] != "heuristic" for f in t["formulations"])]
        heur = [t for t in tables if any(f["name"] == "heuristic" for f in t["formulations"])]
        assert solvers[0]["time_limits"] == QUICK.time_limits[c.paper]
        assert heur[0]["time_limits"] == min(QUICK.caps["heuristic"], QUICK.time_limits[c.paper])
        names = [(f["name"], f["params"].get("order")) for t in solvers for f in t["formulations"]]
        assert ("moccasin", "fixed") in names and ("moccasin", "free") in names
        big = c.paper in ("rl3", "rl4")
        if "checkmate-milp[backend=highs]" not in grid.unavailable:
            assert (("checkmate-milp", None) in names) == (not big)
    assert {(e, k) for e, k, _ in grid.skipped} >= {
        ("rl3-gen", "checkmate-milp[backend=highs]"),
        ("rl4-gen", "checkmate-milp[backend=highs]"),
    }
    # the config is a valid sweep config, and TOML round-trips it
    text = to_toml(grid.config, ["a header"])
    assert tomllib.loads(text) == json.loads(json.dumps(grid.config))
    config = parse_config(tomllib.loads(text), tmp_path / "grid.toml", text)
    assert config.grace_seconds == QUICK.grace_seconds
    # a comparison baseline that refuses every graph of the grid has no column: the report's top says why
    from moccasin_bench.reproduce import preamble

    said = [line for line in preamble(Options(out_dir=tmp_path), grid, 2, None) if "not run on any graph" in line]
    assert len(said) == 1 and said[0].startswith("PyTorch SAC") and "extracted from PyTorch" in said[0]


def test_quick_mode_stops_cpsat_at_a_deterministic_time(tmp_path):
    """Quick mode gives Moccasin a load-independent limit (CP-SAT's deterministic time, in proportion to the run's
    limit) on the graphs where one CP-SAT solve decides, with the wall-clock limit doubled as a safety net; the full
    mode and the other graphs keep the wall clock alone."""
    grid = build_grid(Options(out_dir=tmp_path, quick=True, stand_ins=True))
    for c in grid.choices:
        for t in _tables(grid, c.entry):
            for f in t["formulations"]:
                if f["name"] != "moccasin":
                    assert "deterministic_time" not in f["params"]
                    continue
                work = QUICK.work_limits[f"moccasin[order={f['params']['order']}]"]
                limit = QUICK.time_limits[c.paper]
                if c.paper in ("rl3", "rl4"):
                    assert "deterministic_time" not in f["params"] and t["time_limits"] == limit
                else:
                    assert f["params"]["deterministic_time"] == pytest.approx(work.per_second * limit)
                    assert t["time_limits"] == work.safety * limit > limit
    full = build_grid(Options(out_dir=tmp_path, stand_ins=True, graphs=("rl1",)))
    assert not any("deterministic_time" in f["params"] for t in full.config["grid"] for f in t["formulations"])


def test_a_deterministic_time_gives_the_same_schedule_whatever_the_wall_clock(tmp_path):
    """Stopped by CP-SAT's deterministic time (not proven, far inside generous wall-clock limits that differ), two
    runs of Moccasin find the same schedule: what quick mode relies on to be comparable across machines."""
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    g = load_graph("rl1-gen")
    params = {"order": "free", "warm_start": "heuristics", "search": "cpsat", "deterministic_time": 0.3}
    runs = [
        solve_in_process(g, resolve_budget(g, fraction=0.8), "moccasin", params, time_limit_seconds=limit)
        for limit in (120, 300)
    ]
    # CP-SAT ran and was stopped unproven: by its deterministic time, the wall clock being far off
    assert [r.output.variant.get("cost_phase_status") for r in runs] == ["feasible", "feasible"]
    assert runs[0].status == runs[1].status and list(runs[0].output.schedule) == list(runs[1].output.schedule)


def test_full_grid_uses_the_paper_limits(tmp_path):
    grid = build_grid(Options(out_dir=tmp_path, stand_ins=True, graphs=("rl4", "cm2")))
    rl4 = _tables(grid, "rl4-gen")
    assert rl4[0]["time_limits"] == 3600 and not any(f["name"] == "checkmate-milp" for f in rl4[0]["formulations"])
    assert _tables(grid, "cm2-gen")[0]["time_limits"] == 1800
    assert grid.config["threads"] == FULL.threads and "grace_seconds" not in grid.config


def test_graph_choice_prefers_the_paper_files():
    found = find_paper_file("rl1")
    [c] = choose_graphs(["rl1"], None, stand_ins=False)
    if found is None:
        assert c.entry == "rl1-gen" and c.is_stand_in
    else:
        assert c.entry == "rl1" and not c.is_stand_in and c.path == str(found)
    [c] = choose_graphs(["RL1"], None, stand_ins=True)
    assert c.entry == "rl1-gen" and c.is_stand_in and c.paper == "rl1"
    [c] = choose_graphs(["demo"], None, stand_ins=False)
    assert c.entry == "demo" and c.paper is None and not c.is_stand_in


def test_options_are_checked(tmp_path):
    with pytest.raises(UserError, match="unknown method 'magic' for grid 'paper'"):
        build_grid(Options(out_dir=tmp_path, methods=["magic"]))
    with pytest.raises(UserError, match="unknown grid 'nope'"):
        build_grid(Options(out_dir=tmp_path, grid="nope"))
    with pytest.raises(UserError, match="no such data directory"):
        build_grid(Options(out_dir=tmp_path, data_dir=str(tmp_path / "nowhere")))
    assert "unknown formulation" in (_available("no-such-formulation") or "")
    grid = build_grid(Options(out_dir=tmp_path, quick=True, graphs=["demo"], methods=["heuristic"], time_limit=2))
    assert grid.config["grid"] == [
        {
            "graphs": ["demo"],
            "time_limits": 2.0,
            "formulations": [{"name": "heuristic", "params": {"strategy": "best"}}],
        }
    ]


def test_tiny_reproduction_end_to_end(tmp_path):
    out = tmp_path / "rep"
    args = (
        "reproduce",
        "--quick",
        "--graphs",
        "demo",
        "--methods",
        "heuristic,moccasin-fixed",
        "--time-limit",
        "3",
        "-o",
        out,
    )
    done = run_cli(*args, "--quiet")
    assert done.returncode == 0, done.stderr
    for name in (
        "grid.toml",
        "runs.sqlite",
        "index.html",
        "index.md",
        "table.md",
        "table.tex",
        "table.csv",
        "reproduce.json",
    ):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 4 and set(table["method"]) == {"Moccasin (fixed)", "Heuristic (best of all)"}
    assert set(table["budget_fraction"]) == {0.9, 0.8} and set(table["time_limit_seconds"]) == {3.0}
    assert table["status"].isin(["optimal", "feasible"]).all()
    meta = json.loads((out / "reproduce.json").read_text())
    assert meta["mode"] == "quick" and meta["runs"] == 4 and sum(meta["statuses"].values()) == 4
    index = (out / "index.md").read_text()
    assert (
        "reproduce --quick" in index
        and "figures/performance-profiles.png" in index
        and "figures/schedule-demo-" in index
    )
    # resume: the same command finds every run done
    again = run_cli(*args, "--dry-run")
    assert again.returncode == 0 and "4 done, 0 to run" in again.stdout
    # another grid into the same directory: the dry run changes nothing, the real run is refused
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    other = [a if a != "3" else "2" for a in args]
    dry = run_cli(*other, "--dry-run")
    assert dry.returncode == 0 and "holds 4 run(s) of another grid" in dry.stderr and "0 done, 4 to run" in dry.stdout
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    refused = run_cli(*other, "--quiet")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "another grid" in refused.stderr and "--force" in refused.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # a dry run into a directory that does not exist creates nothing
    fresh = tmp_path / "fresh" / "out"
    assert run_cli(*args[:-1], fresh, "--dry-run").returncode == 0
    assert not (tmp_path / "fresh").exists()


def test_time_of_an_interrupted_grid_is_added_up(tmp_path):
    from moccasin_bench.reproduce import _add_earlier_time

    meta = tmp_path / "reproduce.json"
    assert _add_earlier_time(meta, "g1", 5.0) == 5.0  # no file yet
    meta.write_text(json.dumps({"grid_id": "g1", "grid_seconds": 100.0, "interrupted": True}))
    assert _add_earlier_time(meta, "g1", 5.0) == 105.0
    assert _add_earlier_time(meta, "g1", None) == 100.0  # nothing left to run: the earlier time stands
    assert _add_earlier_time(meta, "other grid", 5.0) == 5.0


def test_catalogue_floors_give_the_partitioner_its_search_time(tmp_path):
    """Mode.floors: the quick catalogue gives every run 15 s but the PyTorch partitioner 60 s;
    --time-limit is the user's word for every run."""
    from experiments.catalogue import QUICK as CAT_QUICK

    def limits(grid):
        out = {}
        for t in grid.config["grid"]:
            for f in t["formulations"]:
                out.setdefault(f["name"], set()).add(t["time_limits"])
        return out

    quick = limits(build_grid(Options(out_dir=tmp_path, grid="catalogue", quick=True)))
    assert quick["torch-partitioner"] == {float(CAT_QUICK.floors["torch-partitioner"])}
    assert quick["moccasin"] == {float(CAT_QUICK.other_limit)} and "torch-checkpoint" in quick
    forced = limits(build_grid(Options(out_dir=tmp_path, grid="catalogue", quick=True, time_limit=20)))
    assert forced["torch-partitioner"] == {20.0}


def test_stand_ins_say_where_the_files_were_looked_for(tmp_path, monkeypatch):
    """No paper file anywhere: the stand-in is used, and the report's first paragraph and the
    command's output name every place looked at, none relative to the working directory."""
    import moccasin_bench.sources as sources
    from moccasin_bench.reproduce import preamble, stand_in_reason

    monkeypatch.delenv("MOCCASIN_BENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sources, "project_data_dir", lambda: None)
    empty = tmp_path / "empty"
    empty.mkdir()
    opts = Options(out_dir=tmp_path / "out", quick=True, graphs=("rl1",), data_dir=str(empty))
    grid = build_grid(opts)
    assert [c.entry for c in grid.choices] == ["rl1-gen"]
    why = stand_in_reason(opts, grid)
    assert why.startswith("Using the generated stand-ins rl1-gen for RL1: the paper's files for them were not found.")
    assert f"--data-dir {empty} (a directory)" in why and "$MOCCASIN_BENCH_DATA (not set)" in why
    assert f"the user data directory {tmp_path / 'xdg' / 'moccasin-bench' / 'paper-graphs'} (no such directory)" in why
    assert "graphs download" in why and ".." not in why
    assert grid.stand_in_note == why
    (tmp_path / "xdg" / "moccasin-bench" / "paper-graphs").mkdir(parents=True)  # made while the grid runs:
    assert preamble(opts, grid, 2, None)[0] == why  # the report says what the lookup found when it was made
    asked = Options(out_dir=tmp_path / "out", quick=True, graphs=("rl1",), stand_ins=True)
    assert (
        stand_in_reason(asked, build_grid(asked))
        == "Using the generated stand-ins rl1-gen for RL1, as asked (--stand-ins)."
    )


def test_write_grid_writes_the_sweep_config_and_nothing_else(tmp_path):
    from moccasin_bench.sweep import load_config

    out = tmp_path / "grid"
    done = run_cli("reproduce", "--quick", "--graphs", "demo", "--methods", "heuristic", "--write-grid", "-o", out)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["grid.toml"]
    config = load_config(out / "grid.toml")
    assert [g.graphs for g in config.grids] == [("demo",)] and "2 runs" in done.stdout
