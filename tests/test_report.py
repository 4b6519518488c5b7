"""Reports: derived measures on hand-made trajectories, performance-profile ratios, method
names, and a whole report from a hand-made store covering every status (asserted numbers)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from moccasin_bench.budget import resolve_budget
from moccasin_bench.orders import reference_order
from moccasin_bench.report import ReportRequest, build_report
from moccasin_bench.report.metrics import performance_ratios, profile_curve, seconds_to_best, seconds_to_target
from moccasin_bench.simulate import simulate
from moccasin_bench.sources import load_graph
from moccasin_bench.store import RUN_COLUMN_NAMES, Store
from tests.conftest import run_cli

nan = math.nan


# ---- pure measures ------------------------------------------------------------------------------


def test_seconds_to_best_is_the_first_time_the_final_cost_was_reached():
    secs = [0.5, 1.0, 2.0, 3.0, 4.0]
    costs = [nan, 120.0, 110.0, 110.0, 110.0]  # NaN: a bound arrived before the first solution
    assert seconds_to_best(secs, costs, 110.0) == 2.0
    assert seconds_to_best(secs, costs, 120.0) == 1.0
    assert math.isnan(seconds_to_best(secs, costs, 100.0))  # never reached
    assert math.isnan(seconds_to_best([], [], 100.0))
    assert seconds_to_best([1.5], [110.00000000001], 110.0) == 1.5  # float noise of a solver's report


def test_seconds_to_target_is_within_one_percent_of_the_best_known_cost():
    secs, costs = [1.0, 2.0, 5.0], [130.0, 101.5, 100.5]
    assert seconds_to_target(secs, costs, 100.0) == 5.0  # 101.5 > 101, 100.5 <= 101
    assert seconds_to_target(secs, costs, 101.5) == 2.0
    assert seconds_to_target(secs, costs, 100.5) == 2.0  # 1.01 * 100.5 = 101.505 >= 101.5
    assert math.isnan(seconds_to_target(secs, costs, 90.0))
    assert seconds_to_target(secs, costs, 100.0, relative=0.3) == 1.0


def test_performance_ratios_on_a_hand_example():
    values = {
        "A": {"p1": 10.0, "p2": 4.0, "p3": nan, "p4": 0.0},
        "B": {"p1": 20.0, "p2": nan, "p3": nan, "p4": 3.0},
        "C": {"p1": 15.0, "p2": 8.0},
    }
    r = performance_ratios(values)
    assert r["A"] == {"p1": 1.0, "p2": 1.0, "p4": 1.0}  # p3: nobody solved it, left out
    assert r["B"] == {"p1": 2.0, "p2": math.inf, "p4": math.inf}  # best 0: any other value is a failure
    assert r["C"] == {"p1": 1.5, "p2": 2.0, "p4": math.inf}  # missing = failure
    taus, share = profile_curve(r["C"], 3)
    assert taus.tolist() == [1.5, 2.0] and share.tolist() == pytest.approx([1 / 3, 2 / 3])
    taus, share = profile_curve(r["A"], 3)
    assert taus.tolist() == [1.0, 1.0, 1.0] and share[-1] == 1.0


def test_method_names_say_what_differs():
    from moccasin_bench.report.methods import assign_methods

    runs = pd.DataFrame(
        {
            "formulation": [
                "moccasin",
                "moccasin",
                "moccasin",
                "checkmate-milp",
                "checkmate-milp",
                "heuristic",
                "checkmate-lp",
            ],
            "params": [
                json.dumps(p)
                for p in (
                    {"order": "fixed", "copies": 2},
                    {"order": "fixed", "copies": 3},
                    {"order": "free", "copies": 2},
                    {"backend": "highs"},
                    {"backend": "pulp", "pulp_solver": "cbc"},
                    {"strategy": "chen-greedy"},
                    {},
                )
            ],
            "threads": [1, 1, 1, 1, 1, 1, 1],
        }
    )
    out = assign_methods(runs)
    assert out["method"].tolist() == [
        "Moccasin (fixed), copies=2",
        "Moccasin (fixed), copies=3",
        "Moccasin (free)",
        "Checkmate MILP (HiGHS)",
        "Checkmate MILP (PuLP/CBC)",
        "Heuristic (chen-greedy)",
        "Checkmate LP+rounding",
    ]
    ranks = dict(zip(out["method"], out["method_rank"]))
    assert (
        ranks["Moccasin (fixed), copies=2"]
        < ranks["Moccasin (free)"]
        < ranks["Checkmate MILP (HiGHS)"]
        < ranks["Checkmate LP+rounding"]
        < ranks["Heuristic (chen-greedy)"]
    )
    from moccasin_bench.report.published import published_table

    paper = published_table("paper")
    keys = [paper.method_key(f, json.loads(p)) or "" for f, p in zip(runs["formulation"], runs["params"])]
    assert keys == ["moccasin-fixed", "moccasin-fixed", "", "checkmate-milp", "checkmate-milp", "", "checkmate-lp"]


# ---- a hand-made store --------------------------------------------------------------------------

RL1_FILE = "/nowhere/random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json"  # named like the paper's RL1 file
RL1_SUM = 47769


def _row(key, **kw):
    row = {c: None for c in RUN_COLUMN_NAMES}
    row.update(
        key=key,
        sweep="test",
        threads=1,
        seed=0,
        relative_gap=0.0,
        message="",
        time_limit_seconds=10.0,
        finished_at="2026-01-01T00:00:00+00:00",
        started_at="2026-01-01T00:00:00+00:00",
    )
    row.update(kw)
    row["params"] = json.dumps(row["params"])
    return row


def _rl1(key, fraction, formulation, params, status, total=None, peak=None, wall=5.0, traj=(), message="", limit=10.0):
    budget = {0.9: 41688, 0.8: 37056}[fraction]
    tdi = None if total is None else 100.0 * (total - RL1_SUM) / RL1_SUM
    row = _row(
        key,
        graph="random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14",
        graph_hash="f" * 16,
        graph_source="rl1",
        graph_origin=RL1_FILE,
        nodes=100,
        edges=236,
        sum_duration=RL1_SUM,
        min_feasible_budget=10000,
        formulation=formulation,
        params=params,
        budget=budget,
        budget_fraction=fraction,
        reference_order="stored",
        reference_peak=46319,
        status=status,
        total_duration=total,
        peak_memory=peak,
        tdi_percent=tdi,
        wall_seconds=wall,
        process_seconds=wall + 0.5,
        message=message,
        time_limit_seconds=limit,
    )
    return row, {"trajectory": [list(t) for t in traj], "bound_trajectory": []}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """RL1-like rows covering every status, plus real runs on the `demo` graph with real schedules."""
    path = tmp_path_factory.mktemp("store") / "hand.sqlite"
    fixed, free = {"order": "fixed"}, {"order": "free"}
    rows = [
        _rl1("r90fixed", 0.9, "moccasin", fixed, "optimal", 48146, 41289, 3.0, [(1.0, 48500), (2.5, 48146)]),
        _rl1("r90free", 0.9, "moccasin", free, "feasible", 47769, 41119, 10.0, [(0.5, 49000), (4.0, 47769)]),
        _rl1("r90milp", 0.9, "checkmate-milp", {"backend": "highs"}, "no_solution", wall=10.0),
        _rl1("r90heur", 0.9, "heuristic", {"strategy": "best"}, "feasible", 48500, 41600, 0.3, [(0.2, 48500)]),
        _rl1("r80fixed", 0.8, "moccasin", fixed, "infeasible", wall=0.1, message="proven infeasible"),
        _rl1("r80milp", 0.8, "checkmate-milp", {"backend": "highs"}, "error", message="killed: no result after 42 s"),
        _rl1(
            "r80lp",
            0.8,
            "checkmate-lp",
            {},
            "invalid",
            52000,
            39000,
            2.0,
            [(2.0, 52000)],
            message="INVALID schedule from checkmate-lp: peak memory 39,000 at step 7 exceeds the budget 37,056",
        ),
        _rl1("r80heur", 0.8, "heuristic", {"strategy": "best"}, "feasible", 50000, 37000, 1.5, []),  # no trajectory
    ]
    demo = load_graph("demo")
    budget = resolve_budget(demo, fraction=1.0)
    order = reference_order(demo, "stored")
    sim = simulate(demo, order)
    common = dict(
        graph="demo",
        graph_hash=demo.content_hash,
        graph_source="demo",
        graph_origin=demo.origin,
        nodes=demo.n,
        edges=demo.m,
        sum_duration=demo.sum_duration,
        min_feasible_budget=demo.min_feasible_budget,
        budget=budget.bytes,
        budget_fraction=1.0,
        reference_order="stored",
        reference_peak=budget.reference_peak,
        total_duration=sim.total_duration,
        peak_memory=sim.peak_memory,
        tdi_percent=0.0,
    )
    for key, formulation, params, status, t in (
        ("demo-fixed", "moccasin", fixed, "optimal", 0.8),
        ("demo-heur", "heuristic", {"strategy": "best"}, "feasible", 0.1),
    ):
        rows.append(
            (
                _row(key, formulation=formulation, params=params, status=status, wall_seconds=t + 0.1, **common),
                {"trajectory": [[t, sim.total_duration]], "bound_trajectory": [], "schedule": demo.to_ids(order)},
            )
        )
    with Store(path) as s:
        for row, result in rows:
            s.write(row, result)
    return path, demo


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    path, _ = store
    out = tmp_path_factory.mktemp("report")
    result = build_report(ReportRequest(store=path, out_dir=out, schedule_run="demo-fix"))
    return out, result


def _csv(out):
    df = pd.read_csv(out / "table.csv")
    return {(r.graph, r.budget_fraction, r.method): r for r in df.itertuples()}


def test_every_file_is_written_and_figures_are_real(report):
    out, result = report
    for name in ("index.md", "index.html", "table.md", "table.tex", "table.csv"):
        assert (out / name).stat().st_size > 200, name
    stems = {f.stem for f in result.figures}
    assert {
        "scaling-time",
        "scaling-tdi",
        "anytime-rl1",
        "anytime-demo",
        "tdi-vs-budget",
        "performance-profiles",
    } <= stems
    assert any(s.startswith("schedule-demo-demo-fix") for s in stems)
    for f in result.figures:
        assert f.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.png.stat().st_size > 10_000, f.png
        assert "<svg" in f.svg.read_text()[:2000], f.svg
        html, md = (out / "index.html").read_text(), (out / "index.md").read_text()
        assert f"figures/{f.png.name}" in html and f"figures/{f.svg.name}" in html and f"figures/{f.png.name}" in md


def test_table_numbers(report):
    out, _ = report
    cells = _csv(out)
    fixed = cells[("RL1", 0.9, "Moccasin (fixed)")]
    assert fixed.status == "optimal" and fixed.tdi_percent == pytest.approx(100 * (48146 - RL1_SUM) / RL1_SUM)
    assert fixed.seconds_to_best == 2.5
    assert fixed.best_known_cost == 47769  # Moccasin (free) found the sum of durations
    assert fixed.seconds_to_within_1pct == 2.5  # 48146 <= 1.01 * 47769
    assert fixed.peak_percent_of_reference == pytest.approx(100 * 41289 / 46319)
    assert fixed.paper_tdi_percent == 0.8 and fixed.paper_seconds == 9.3
    free = cells[("RL1", 0.9, "Moccasin (free)")]
    assert free.seconds_to_best == 4.0 and free.seconds_to_within_1pct == 4.0 and free.tdi_percent == 0.0
    heur = cells[("RL1", 0.9, "Heuristic (best of all)")]
    assert heur.seconds_to_best == 0.2 and math.isnan(heur.seconds_to_within_1pct)  # 48500 > 1.01 * 47769
    heur80 = cells[("RL1", 0.8, "Heuristic (best of all)")]
    assert heur80.seconds_to_best == 1.5 and heur80.seconds_to_best_from == "end of run"
    for method, status in (
        ("Moccasin (fixed)", "infeasible"),
        ("Checkmate MILP (HiGHS)", "error"),
        ("Checkmate LP+rounding", "invalid"),
    ):
        c = cells[("RL1", 0.8, method)]
        assert c.status == status and math.isnan(c.tdi_percent) and math.isnan(c.peak_memory), method
    assert cells[("RL1", 0.8, "Checkmate LP+rounding")].best_known_cost == 50000  # the invalid 52,000 never counts


def test_paper_style_table_text(report):
    out, _ = report
    md = (out / "table.md").read_text()
    row90 = next(line for line in md.splitlines() if line.startswith("| RL1 (n=100) | 90 % (41,688)"))
    cells90 = [c.strip() for c in row90.strip("|").split("|")]
    assert cells90[2:] == [
        "0.79* / 41,289 (89.1 %) / 2.50",
        "0.00 / 41,119 (88.8 %) / 4.00",
        "no solution in 10 s",
        "–",
        "1.53 / 41,600 (89.8 %) / 0.20",
    ]
    row80 = next(line for line in md.splitlines() if line.startswith("| RL1 (n=100) | 80 % (37,056)"))
    cells80 = [c.strip() for c in row80.strip("|").split("|")]
    assert cells80[2:] == [
        "infeasible",
        "–",
        "killed (time/memory)",
        "INVALID schedule",
        "4.67 / 37,000 (79.9 %) / 1.50†",
    ]
    assert "| RL1 | 90 % | Moccasin (fixed) | 0.79* / 41,289 (89.1 %) / 2.50 | 0.8 / 88.1 % / 9.3 |" in md
    assert "| RL1 | 80 % | Checkmate MILP (HiGHS) | killed (time/memory) | 2.3 / 79.5 % / 22.7 |" in md
    assert "| RL1 | 80 % | Checkmate LP+rounding | INVALID schedule | – |" in md  # the paper has no LP figure on RL1
    tex = (out / "table.tex").read_text()
    assert r"\toprule" in tex and r"0.79$^*$ / 41,289 (89.1\,\%) / 2.50" in tex and r"RL1 (n=100)" in tex
    html = (out / "index.html").read_text()
    assert "GENERATED STAND-INS" not in html and "The paper&#x27;s own graph files were used for RL1" in html
    assert "Failed runs" in html and "killed: no result after 42 s" in html and "r80lp" in html


def test_stand_in_graphs_are_announced(tmp_path):
    from moccasin_bench.report.analysis import analyse
    from moccasin_bench.report.build import stand_in_note
    from moccasin_bench.store import load_runs, load_trajectories

    g = load_graph("cm1-gen")
    path = tmp_path / "s.sqlite"
    row = _row(
        "k1",
        graph="cm1-gen",
        graph_hash=g.content_hash,
        graph_source="cm1-gen",
        graph_origin=g.origin,
        nodes=g.n,
        edges=g.m,
        sum_duration=g.sum_duration,
        formulation="heuristic",
        params={"strategy": "best"},
        budget=10,
        budget_fraction=0.9,
        reference_peak=12,
        status="no_solution",
    )
    with Store(path) as s:
        s.write(row, {})
    a = analyse(load_runs(path), load_trajectories(path))
    assert a.stand_ins == {"cm1-gen": "cm1"}
    assert "GENERATED STAND-INS, NOT THE PAPER'S GRAPHS: cm1-gen for CM1" in stand_in_note(a)[0]


def test_default_schedule_pick(store):
    from moccasin_bench.report.analysis import analyse
    from moccasin_bench.report.schedule import pick_default_run
    from moccasin_bench.store import load_runs, load_trajectories

    path, _ = store
    a = analyse(load_runs(path), load_trajectories(path))
    # largest graph (RL1, n=100), tightest budget with a valid Moccasin run (90 %), least cost there (free order)
    assert pick_default_run(a) == "r90free"


def test_schedule_file_is_drawn(store, tmp_path):
    from moccasin_bench.report.schedule import draw, from_file

    _, demo = store
    sched = tmp_path / "s.json"
    sched.write_text(
        json.dumps({"formulation": "heuristic", "budget": 10**9, "schedule": demo.to_ids(np.arange(demo.n))})
    )
    fig = draw(from_file(str(sched), "demo"), tmp_path / "figs")
    assert fig.png.stat().st_size > 10_000 and fig.stem == "schedule-s"


def test_cli_report_and_bad_input(store, tmp_path):
    path, _ = store
    done = run_cli("report", "--store", path, "-o", tmp_path / "r", "--no-figures")
    assert done.returncode == 0, done.stderr
    assert "INVALID schedule" in (tmp_path / "r" / "table.md").read_text() and (tmp_path / "r" / "index.html").is_file()
    bad = run_cli("report", "--store", tmp_path / "missing.sqlite", "-o", tmp_path / "x")
    assert bad.returncode == 2 and "no such results store" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("report", "--store", path, "-o", tmp_path / "x", "--schedule-run", "nope")
    assert bad.returncode == 2 and "matches 0 runs" in bad.stderr and "Traceback" not in bad.stderr


def test_a_run_that_gives_up_early_is_not_called_a_time_out():
    from types import SimpleNamespace

    from moccasin_bench.report.table import status_text

    early = SimpleNamespace(
        status="no_solution", time_limit_seconds=15.0, wall_seconds=0.68, message="no rounding fits"
    )
    late = SimpleNamespace(status="no_solution", time_limit_seconds=15.0, wall_seconds=15.2, message="")
    assert status_text(early) == "no solution (gave up at 0.68 s)"
    assert status_text(late) == "no solution in 15 s"
    lp = SimpleNamespace(
        status="no_solution",
        time_limit_seconds=25.0,
        wall_seconds=20.2,
        message="the LP relaxation ended with Time limit reached",
    )
    assert status_text(lp) == "no solution in 25 s"


def test_gaps_use_only_bounds_whose_scope_contains_the_schedule():
    from moccasin_bench.formulation import BoundScope
    from moccasin_bench.report.bounds import run_scope, with_gaps
    from moccasin_bench.store import legacy_scope

    # the scopes of runs stored before formulations reported them (store version 3)
    assert legacy_scope("moccasin", {"order": "free", "copies": 2}, "stored") == (
        {"order": None, "max_computations": 2},
        None,
    )
    assert legacy_scope("moccasin", {"order": "fixed", "copies": 3}, "stored") == (
        {"order": "stored", "max_computations": 3},
        "stored",
    )
    assert legacy_scope("checkmate-milp", {}, "topological") == (
        {"order": "topological", "max_computations": None},
        "topological",
    )
    assert legacy_scope("moccasin", {"copies_per_node": "a=4"}, "stored")[0] is None  # per-node scopes: unchecked
    assert legacy_scope("heuristic", {}, "stored") == (None, None)
    assert legacy_scope("annealing", {"order": "fixed"}, "stored") == (None, "stored")
    assert run_scope('{"order": null, "max_computations": 2}') == BoundScope(None, 2) and run_scope(None) is None
    assert (
        BoundScope(None, 2).contains(2, None)
        and not BoundScope(None, 2).contains(3, None)
        and not BoundScope(None, 2).contains(None, None)
    )
    assert BoundScope("stored", None).contains(5, "stored") and not BoundScope("stored", None).contains(1, None)

    common = dict(graph_hash="g", budget=100, reference_order="stored", sum_duration=1000)
    runs = pd.DataFrame(
        [
            dict(
                key="free",
                formulation="moccasin",
                params=json.dumps({"order": "free", "copies": 2}),
                bound_scope=json.dumps({"order": None, "max_computations": 2}),
                staged_order=None,
                best_bound=1010.0,
                method="Moccasin (free)",
                **common,
            ),
            dict(
                key="fixed",
                formulation="moccasin",
                params=json.dumps({"order": "fixed", "copies": 2}),
                bound_scope=json.dumps({"order": "stored", "max_computations": 2}),
                staged_order="stored",
                best_bound=1030.0,
                method="Moccasin (fixed)",
                **common,
            ),
            dict(
                key="heur", formulation="heuristic", params="{}", best_bound=float("nan"), method="Heuristic", **common
            ),
            dict(
                key="heur3", formulation="annealing", params="{}", best_bound=float("nan"), method="Annealing", **common
            ),
        ]
    )
    cells = runs.assign(valid=True, total_duration=[1040, 1040, 1050, 1020])
    out = with_gaps(runs, cells, {"free": 2, "fixed": 2, "heur": 2, "heur3": 3}).set_index("key")
    assert out.loc["fixed", "bound"] == 1030.0  # a fixed-order schedule: both bounds cover it, the larger wins
    assert out.loc["free", "bound"] == 1010.0  # the fixed-order bound does not cover a free-order schedule
    assert out.loc["heur", "bound"] == 1010.0 and out.loc["heur", "gap_percent"] == pytest.approx(100 * 40 / 1050)
    assert math.isnan(out.loc["heur3", "bound"]) and math.isnan(
        out.loc["heur3", "gap_percent"]
    )  # 3 copies: no bound covers it


def test_a_schedule_without_recomputation_is_proven_optimal_with_no_bound_run():
    """TDI 0 needs no solver's bound (every schedule computes each node once); TDI > 0 without a covering bound
    stays without a gap, whatever the schedule's computations per node."""
    from moccasin_bench.report.bounds import NO_RECOMPUTATION, with_gaps

    common = dict(graph_hash="g", budget=100, reference_order="stored", sum_duration=1000, best_bound=float("nan"))
    runs = pd.DataFrame(
        [
            dict(key="zero", formulation="annealing", params="{}", method="Annealing", **common),
            dict(key="more", formulation="annealing", params="{}", method="Annealing", **common),
            dict(key="broken", formulation="heuristic", params="{}", method="Heuristic", **common),
            dict(
                key="old", formulation="heuristic", params="{}", method="Heuristic", **{**common, "sum_duration": None}
            ),
        ]
    )
    cells = runs.assign(valid=[True, True, False, True], total_duration=[1000, 1003, 990, 1000])
    out = with_gaps(runs, cells, {"zero": 1, "more": 5, "broken": 1, "old": 1}).set_index("key")
    assert out.loc["zero", "bound"] == 1000.0 and out.loc["zero", "gap_percent"] == 0.0
    assert out.loc["zero", "bound_method"] == NO_RECOMPUTATION and out.loc["zero", "bound_scope"] == (
        "any order, any recomputation"
    )
    assert math.isnan(out.loc["more", "bound"]) and math.isnan(out.loc["more", "gap_percent"])
    assert math.isnan(out.loc["broken", "bound"])  # an invalid schedule proves nothing
    assert math.isnan(out.loc["old", "bound"])  # a run stored without the graph's total duration: nothing to compare


def test_scaling_legend_names_single_graph_families(store, tmp_path):
    """A family with one graph (here cm1-gen, the only unet) is named with its graph as a point, with no
    line-style entry; a family of several graphs gets its line style and its graphs' names; a panel
    where no method has two points says that it draws no lines."""
    import shutil

    from moccasin_bench.report.analysis import analyse
    from moccasin_bench.report.figures import scaling
    from moccasin_bench.store import load_runs, load_trajectories

    path = tmp_path / "two-families.sqlite"
    shutil.copy(store[0], path)
    row = _row(
        "unet-heur",
        graph="cm1-gen",
        graph_hash="e" * 16,
        graph_source="cm1-gen",
        graph_origin="unet:depth=4,convs=2,profile=conv,seed=0",
        nodes=65,
        edges=120,
        sum_duration=1000,
        min_feasible_budget=10,
        formulation="heuristic",
        params={"strategy": "best"},
        budget=900,
        budget_fraction=0.9,
        reference_order="stored",
        reference_peak=1000,
        status="feasible",
        total_duration=1100,
        peak_memory=890,
        tdi_percent=10.0,
        wall_seconds=0.2,
    )
    with Store(path) as s:
        s.write(row, {"trajectory": [[0.2, 1100]], "bound_trajectory": []})
    a = analyse(load_runs(path), load_trajectories(path))
    figures = {f.stem: f for f in scaling(a, tmp_path)}
    svg = figures["scaling-time"].svg.read_text()
    assert "one graph, a point per method:" in svg and "cm1-gen (unet)" in svg
    assert "random-layered (demo, RL1)" in svg or "random-layered (RL1, demo)" in svg
    assert "graphs: " not in svg and "points, no lines" in svg
