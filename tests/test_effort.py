"""The solve-effort section: censoring is never drawn as finishing, ratios carry their bound kind, and a
reproduction whose experiment names effort ratios reports them."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from moccasin_bench.report import effort
from moccasin_bench.report.analysis import Analysis
from tests.conftest import run_cli


def _analysis(runs: list[dict], points: list[tuple[str, float, float]]) -> Analysis:
    base = {"budget_fraction": 0.9, "budget": 100, "graph_label": "g", "time_limit_seconds": 60.0}
    frame = pd.DataFrame([{**base, **r} for r in runs])
    frame["end_seconds"] = frame.get("end_seconds", 60.0)
    traj = pd.DataFrame(points, columns=["run_key", "seconds", "cost"])
    return Analysis(runs=frame, trajectories=traj, graphs=None, cells=None, methods=("C", "M"))


def _run(key: str, method: str, h: str, n: int, cost: float | None) -> dict:
    return {
        "key": key,
        "method": method,
        "graph_hash": h,
        "nodes": n,
        "valid": cost is not None,
        "total_duration": math.nan if cost is None else cost,
        "seconds_to_1pct": math.nan,
    }


def test_ratio_kinds_follow_censoring():
    a = _analysis(
        [
            _run("c1", "C", "g1", 10, 100.0),  # both reach: exact 8 / 2
            _run("m1", "M", "g1", 10, 100.0),
            _run("c2", "C", "g2", 20, 130.0),  # C never within 1 % of M's 100: lower bound 60 / 3
            _run("m2", "M", "g2", 20, 100.0),
            _run("c3", "C", "g3", 40, 100.0),  # M found nothing: upper bound 5 / 60
            _run("m3", "M", "g3", 40, None),
            _run("c4", "C", "g4", 40, None),  # neither: unknown
            _run("m4", "M", "g4", 40, None),
        ],
        [("c1", 1.0, 120.0), ("c1", 8.0, 100.5), ("m1", 2.0, 100.0), ("c2", 1.0, 130.0), ("m2", 3.0, 100.0)]
        + [("c3", 5.0, 100.0)],
    )
    r = effort.pair_ratios(a, "C", "M").set_index("graph_hash")
    assert r.loc["g1", "kind"] == "exact" and r.loc["g1", "ratio"] == pytest.approx(4.0)
    assert r.loc["g2", "kind"] == "lower" and r.loc["g2", "ratio"] == pytest.approx(20.0)
    assert r.loc["g3", "kind"] == "upper" and r.loc["g3", "ratio"] == pytest.approx(5 / 60)
    assert r.loc["g4", "kind"] == "unknown" and math.isnan(r.loc["g4", "ratio"])
    summary = {s["nodes"]: s for s in effort.ratio_summary(r.reset_index())}
    assert summary[20]["median_is_lower_bound"] and not summary[10]["median_is_lower_bound"]
    assert summary[40]["unknown"] == 1 and summary[40]["upper"] == 1


def test_claim_sentence_names_where_ten_times_is_passed_and_when_it_is_not():
    rows = [
        {"nodes": 50, "median": 2.0, "median_is_lower_bound": False},
        {"nodes": 100, "median": 12.0, "median_is_lower_bound": True},
        {"nodes": 200, "median": 30.0, "median_is_lower_bound": False},
    ]
    said = effort.claim_sentence("C", "M", rows)
    assert "from n = 100 on" in said and "lower bound" in said
    rows[2]["median"] = 3.0
    said = effort.claim_sentence("C", "M", rows)
    assert "does not stay" in said and "12x at n = 100" in said


def test_censored_times_are_counted_at_the_limit_and_flagged():
    a = _analysis(
        [_run("m1", "M", "g1", 10, 100.0), _run("m2", "M", "g2", 20, None)],
        [("m1", 0.5, 100.0)],
    )
    a.runs["seconds_to_1pct"] = [0.5, math.nan]
    t = effort.run_times(a).set_index("key")
    assert t.loc["m1", "first_seconds"] == 0.5 and not t.loc["m1", "first_censored"]
    assert t.loc["m2", "first_seconds"] == 60.0 and t.loc["m2", "first_censored"]
    assert t.loc["m2", "target_censored"]


def test_a_reproduction_with_effort_ratios_reports_them(tmp_path):
    out = tmp_path / "r"
    graphs = ",".join(f"random-layered:n={n}" for n in (12, 24))
    res = run_cli(
        "reproduce",
        "--grid",
        "scaling",
        "--mode",
        "middle",
        "--graphs",
        graphs,
        "--methods",
        "moccasin-fixed,checkmate-milp",
        "--time-limit",
        "3",
        "--quiet",
        "-o",
        out,
    )
    assert res.returncode == 0, res.stderr
    page = (out / "index.md").read_text()
    assert "## Solve effort" in page and "Checkmate MILP (HiGHS) / Moccasin (fixed)" in page
    ratios = pd.read_csv(out / "effort-ratios.csv")
    assert set(ratios["nodes"]) == {12, 24} and set(ratios["kind"]) <= {"exact", "lower", "upper", "unknown"}
    assert (out / "figures" / "effort-ratio.png").is_file() and (out / "figures" / "effort-times.png").is_file()
