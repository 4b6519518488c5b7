"""The SQLite results store: schema, one row per key, trajectories in long format, pandas and export."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from moccasin_bench.budget import resolve_budget
from moccasin_bench.errors import UserError
from moccasin_bench.runner import graph_document, make_spec, run_isolated
from moccasin_bench.store import (
    RUN_COLUMN_NAMES,
    SCHEMA_VERSION,
    Store,
    load_runs,
    load_schedule,
    load_trajectories,
    make_row,
    rows,
    trajectory_rows,
)
from tests.conftest import run_cli
from tests.faulty_formulations import tiny_graph


@pytest.fixture(scope="module")
def finished():
    """Two real runs (a feasible one, an infeasible one) and their outcomes."""
    g = tiny_graph()
    out = []
    for formulation, absolute, params in (("oracle", 120, {"order": "free"}), ("heuristic", 100, {})):
        spec = make_spec(g, resolve_budget(g, absolute=absolute), formulation, params)
        out.append((spec, run_isolated(spec.to_json(), graph_document(g))))
    return g, out


def fill(path, finished):
    g, runs = finished
    with Store(path) as store:
        for spec, outcome in runs:
            store.write(make_row(spec, outcome, sweep="t", graph=g), outcome["result"])
    return runs


def test_schema_and_version(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "schedules", "trajectories", "sweeps"} <= tables
    cols = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
    assert tuple(cols) == RUN_COLUMN_NAMES
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="schema version"):
        Store(path)
    with pytest.raises(UserError, match="schema version"):
        load_runs(path)


def test_foreign_files_are_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="not a moccasin-bench results store"):
        Store(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_text("hello, not a database" * 100)
    with pytest.raises(UserError, match="junk.sqlite"):
        Store(junk)
    with pytest.raises(UserError, match="no such results store"):
        load_runs(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


def test_rows_round_trip_and_pandas_loader(tmp_path, finished):
    path = tmp_path / "s.sqlite"
    runs = fill(path, finished)
    df = load_runs(path)
    assert len(df) == 2 and df["key"].is_unique
    by_key = df.set_index("key")
    for spec, outcome in runs:
        r = by_key.loc[spec.key]
        res = outcome["result"]
        assert (
            r["status"] == res["status"] and r["budget"] == spec.budget_bytes and r["formulation"] == spec.formulation
        )
        assert r["nodes"] == 5 and r["edges"] == 6 and r["threads"] == 1 and r["python_version"]
        assert r["finished_at"] >= r["started_at"]
    oracle = by_key.loc[runs[0][0].key]
    assert oracle["param_order"] == "free" and oracle["status"] == "optimal"
    assert oracle["peak_memory"] <= 120 and oracle["tdi_percent"] == runs[0][1]["result"]["tdi_percent"]
    heuristic = by_key.loc[runs[1][0].key]
    assert heuristic["status"] == "infeasible" and pd.isna(heuristic["peak_memory"])
    assert load_schedule(path, runs[0][0].key) == runs[0][1]["result"]["schedule"]
    assert load_schedule(path, runs[1][0].key) is None
    traj = load_trajectories(path)
    assert set(traj.columns) >= {"run_key", "seconds", "cost", "bound", "tdi_percent", "graph", "formulation"}
    assert (traj["run_key"] == runs[0][0].key).all() and len(traj) >= 1


def test_one_row_per_key_and_replace(tmp_path, finished):
    path = tmp_path / "s.sqlite"
    g, runs = finished
    fill(path, finished)
    spec, outcome = runs[0]
    with Store(path) as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.write(make_row(spec, outcome, graph=g), outcome["result"])
        failed = {**outcome, "result": None, "status": "error", "message": "boom"}
        store.write(make_row(spec, failed, graph=g), None, replace=True)
        assert store.statuses()[spec.key] == "error"
    [row] = rows(path, "key = ?", [spec.key])
    assert row["message"] == "boom" and row["nodes"] == 5 and row["sum_duration"] == 15  # graph facts without a result
    assert load_schedule(path, spec.key) is None  # the replaced run's schedule and trajectory went with it
    assert spec.key not in set(load_trajectories(path)["run_key"])
    assert len(rows(path)) == 2


def test_trajectory_rows_merge_cost_and_bound_events():
    result = {"trajectory": [[0.5, 100], [2.0, 90]], "bound_trajectory": [[0.1, 50], [2.0, 60], [3.0, 70]]}
    assert trajectory_rows(result) == [(0.1, None, 50.0), (0.5, 100.0, 50.0), (2.0, 90.0, 60.0), (3.0, 90.0, 70.0)]
    assert trajectory_rows(None) == [] and trajectory_rows({"trajectory": []}) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(tmp_path, finished, fmt):
    path = tmp_path / "s.sqlite"
    fill(path, finished)
    proc = run_cli("export", "--store", path, "--format", fmt, "-o", tmp_path / "out", "--schedules")
    assert proc.returncode == 0, proc.stderr
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    runs = read(tmp_path / "out" / f"s-runs.{fmt}")
    traj = read(tmp_path / "out" / f"s-trajectories.{fmt}")
    assert len(runs) == 2 and {"key", "status", "param_order", "schedule", "git_revision"} <= set(runs.columns)
    assert len(traj) == len(load_trajectories(path))


def test_export_errors_are_one_line(tmp_path):
    proc = run_cli("export", "--store", tmp_path / "nope.sqlite", "--format", "csv")
    assert proc.returncode == 2 and "no such results store" in proc.stderr and "Traceback" not in proc.stderr


def _as_version_1(path):
    """Turn a current store into what release 1 wrote: graph size columns n and m, user_version 1."""
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE runs RENAME COLUMN nodes TO n")
    conn.execute("ALTER TABLE runs RENAME COLUMN edges TO m")
    conn.execute("ALTER TABLE runs DROP COLUMN bound_scope")  # version 4
    conn.execute("ALTER TABLE runs DROP COLUMN staged_order")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_an_old_store_is_read_as_it_is_and_migrated_by_the_driver(tmp_path, finished):
    path = tmp_path / "v1.sqlite"
    runs = fill(path, finished)
    _as_version_1(path)
    df = load_runs(path)  # read-only: no migration, current names
    assert {"nodes", "edges"} <= set(df.columns) and "n" not in df.columns and set(df["nodes"]) == {5}
    oracle = {"order": None, "max_computations": None}  # the free-order oracle's bound covers every schedule
    assert [json.loads(x) if isinstance(x, str) else None for x in df.sort_values("formulation")["bound_scope"]] == [
        None,
        oracle,
    ]
    assert all(r["nodes"] == 5 and r["edges"] == 6 for r in rows(path))
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    with Store(path) as store:  # the driver migrates, keeping every run
        assert set(store.statuses()) == {spec.key for spec, _ in runs}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert tuple(r[1] for r in conn.execute("PRAGMA table_info(runs)")) == RUN_COLUMN_NAMES
    assert conn.execute("SELECT DISTINCT nodes, edges FROM runs").fetchall() == [(5, 6)]
    scopes = conn.execute("SELECT formulation, bound_scope FROM runs ORDER BY formulation").fetchall()
    assert [(f, json.loads(x) if x else None) for f, x in scopes] == [("heuristic", None), ("oracle", oracle)]
