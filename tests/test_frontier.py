"""`reproduce --grid frontier`: the grid on a tiny graph (budgets down to the minimum feasible budget, every
applicable registered method, the rest listed as not applicable), run through the sweep runner and store,
and each method's curve: never above its budget, its lowest budget reached the smallest fitting one stored."""

from __future__ import annotations

import json
import sqlite3

import pytest

from moccasin_bench.budget import fraction_of_peak, reference_peak, resolve_budget
from moccasin_bench.errors import UserError
from moccasin_bench.experiment import experiment
from moccasin_bench.reproduce import Options, build_grid
from moccasin_bench.sources import load_graph
from tests.conftest import run_cli

TINY = "random-layered:n=9,seed=24"  # minimum feasible budget 10,460 = 64.2 % of its peak 16,300


def test_methods_come_from_the_registry_and_budgets_stop_at_the_minimum(tmp_path, monkeypatch):
    import formulations

    monkeypatch.setitem(formulations.REGISTRY, "heuristic-too", "formulations.heuristics")  # a "new" formulation
    exp = experiment("frontier")
    assert "heuristic-too" in exp.method_keys
    assert {"moccasin[order=fixed]", "moccasin[order=free]"} <= set(exp.method_keys)
    grid = build_grid(Options(out_dir=tmp_path, grid="frontier", quick=True, graphs=(TINY, "pt-resnet18")))
    g = load_graph(TINY)
    tables = [t for t in grid.config["grid"] if t["graphs"] == [TINY]]
    assert {t["time_limits"] for t in tables} == {5}
    [seeded] = [t for t in tables if "seeds" in t]
    assert [f["name"] for f in seeded["formulations"]] == ["annealing"] and seeded["seeds"] == [0, 1]
    table = tables[0]
    peak = reference_peak(g)
    assert all(fraction_of_peak(f, peak) > g.min_feasible_budget for f in table["budgets"])
    # 50 % lies under the minimum (64.2 %): 100 % and the minimum itself
    assert table["budgets"] == [1.0] and table["budget_minimum"] == [1.0]
    ran = {f["name"] for t in grid.config["grid"] if t["graphs"] == [TINY] for f in t["formulations"]}
    assert "heuristic-too" in ran and "oracle" in ran  # 9 nodes: the oracle applies
    skipped = {(e, k.split("[")[0]): why for e, k, why in grid.skipped}
    assert "not applicable" in skipped[(TINY, "torch-checkpoint")]  # listed with its reason, never dropped
    assert ("pt-resnet18", "oracle") in skipped and ("pt-resnet18", "torch-checkpoint") not in skipped


def test_minimum_budget_kind_keeps_other_keys():
    g = load_graph(TINY)
    b = resolve_budget(g, minimum=1.0)
    assert b.bytes == g.min_feasible_budget and b.fraction is None and b.reference_peak == reference_peak(g)
    assert resolve_budget(g, minimum=1.25).bytes == fraction_of_peak(1.25, g.min_feasible_budget)
    with pytest.raises(UserError):
        resolve_budget(g, minimum=0.5)
    with pytest.raises(UserError):
        resolve_budget(g, fraction=0.9, minimum=1.0)


def test_frontier_on_a_tiny_graph(tmp_path):
    from graphs.native import write
    from moccasin_bench.report.analysis import analyse
    from moccasin_bench.report.frontier import reach
    from moccasin_bench.store import load_runs, load_trajectories

    out = tmp_path / "frontier"
    path = tmp_path / "tiny.json"
    write(load_graph(TINY), path)
    args = ["reproduce", "--grid", "frontier", "--quick", "--graphs", str(path), "--time-limit", "5", "-o", str(out)]
    args += ["--methods", "heuristic,oracle,moccasin-free"]
    done = run_cli(*args, "--quiet")
    assert done.returncode == 0, done.stderr
    store = out / "runs.sqlite"
    runs = load_runs(store)
    assert set(runs["status"]) <= {"optimal", "feasible", "no_solution"}
    valid = runs[runs["status"].isin(["optimal", "feasible"])]
    assert (valid["peak_memory"] <= valid["budget"]).all()  # never above the budget
    g = load_graph(TINY)
    assert g.min_feasible_budget in set(runs["budget"])  # the minimum feasible budget is a point
    a = analyse(runs, load_trajectories(store))
    by_method = {}
    for c in a.cells.itertuples():
        by_method.setdefault(c.method, []).append(c)
    for r in reach(a):
        cells = by_method[r.method]
        fitting = [int(c.budget) for c in cells if c.valid]
        assert r.lowest_budget == min(fitting, default=None)  # the smallest fitting budget in the store
        if r.method.startswith("Exact oracle"):  # exact: fits at every budget above its lowest, TDI falls
            ordered = sorted(cells, key=lambda c: c.budget)
            assert all(c.valid for c in ordered) and r.at_minimum and r.optimal
            tdis = [c.tdi_percent for c in ordered]
            assert tdis == sorted(tdis, reverse=True)
    _executed_panel_is_drawn(a, tmp_path)
    index = (out / "index.md").read_text()
    assert "lowest budget each method reached" in index and "figures/frontier-" in index
    assert "frontier-profile.png" in index
    meta = json.loads((out / "reproduce.json").read_text())
    assert meta["grid"] == "frontier" and meta["runs"] == len(runs)
    again = run_cli(*args, "--dry-run")  # resumable: the same grid finds every run done
    assert again.returncode == 0 and f"{len(runs)} done, 0 to run" in again.stdout
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT key) FROM runs").fetchone()[0] == len(runs)


def _executed_panel_is_drawn(a, tmp_path):
    """An executed point of a graph adds the panel below its frontier (memory and time against prediction)."""
    from moccasin_bench.report.frontier import frontier_figures

    label, method = a.graphs.iloc[0].graph_label, a.methods[0]
    report = {
        "simulated": {"scheduled_peak_with_fixed": 1000},
        "measured": {"scheduled": {"peak_bytes": 1100}, "time_increase_percent": 3.0},
        "check": {"bitwise_equal": False},
    }
    point = {"graph": label, "method": method, "which": "tightest", "budget_percent": 70.0, "report": report}
    plain = frontier_figures(a, tmp_path / "plain", {})
    drawn = frontier_figures(a, tmp_path / "drawn", {}, [point, {**point, "method": "another"}])
    assert "Lower panel" not in plain[0].caption and "Lower panel" in drawn[0].caption
    assert drawn[0].png.stat().st_size > plain[0].png.stat().st_size  # the panel adds to the picture
