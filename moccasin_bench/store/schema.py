"""The store's schema: tables and columns, the version in `PRAGMA user_version`, and the migrations that
bring an older store to it (applied by the writer when a driver opens a store)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

SCHEMA_VERSION = 4
CLAIMS_TABLE = (
    "CREATE TABLE IF NOT EXISTS claims (run_key TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, "
    "pid INTEGER NOT NULL, claimed_at TEXT NOT NULL, expires REAL NOT NULL)"
)
# Statements that bring a store of version v to v + 1 (applied by the driver when it opens a store).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE runs RENAME COLUMN n TO nodes", "ALTER TABLE runs RENAME COLUMN m TO edges"),
    2: (CLAIMS_TABLE,),
    3: (lambda conn: _add_scopes(conn),),
}
# Column names of older versions, for reading an old store without migrating it: old -> current.
RENAMED_COLUMNS = {"n": "nodes", "m": "edges"}

PROVENANCE_COLUMNS = (
    "moccasin_bench_version",
    "git_revision",
    "python_version",
    "ortools_version",
    "highspy_version",
    "pulp_version",
    "networkx_version",
    "numpy_version",
    "cpu_model",
    "cpu_count",
    "hostname",
    "platform",
)

# (name, SQL type). Order = column order of the table and of exports.
RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "TEXT PRIMARY KEY"),
    ("sweep", "TEXT"),
    ("graph", "TEXT NOT NULL"),
    ("graph_hash", "TEXT NOT NULL"),
    ("graph_source", "TEXT"),
    ("graph_origin", "TEXT"),
    ("nodes", "INTEGER"),
    ("edges", "INTEGER"),
    ("sum_duration", "INTEGER"),
    ("min_feasible_budget", "INTEGER"),
    ("formulation", "TEXT NOT NULL"),
    ("params", "TEXT NOT NULL"),
    ("variant", "TEXT"),
    ("restrictions", "TEXT"),
    ("budget", "INTEGER NOT NULL"),
    ("budget_fraction", "REAL"),
    ("reference_order", "TEXT"),
    ("reference_peak", "INTEGER"),
    ("time_limit_seconds", "REAL NOT NULL"),
    ("threads", "INTEGER NOT NULL"),
    ("seed", "INTEGER NOT NULL"),
    ("relative_gap", "REAL NOT NULL"),
    ("status", "TEXT NOT NULL"),
    ("peak_memory", "INTEGER"),
    ("total_duration", "INTEGER"),
    ("tdi_percent", "REAL"),
    ("reported_objective", "REAL"),
    ("best_bound", "REAL"),
    ("build_seconds", "REAL"),
    ("solve_seconds", "REAL"),
    ("wall_seconds", "REAL"),
    ("process_seconds", "REAL"),
    ("model_size", "TEXT"),
    ("violation", "TEXT"),
    ("message", "TEXT"),
    ("stderr_tail", "TEXT"),
    ("memory_limit_bytes", "INTEGER"),
    ("grace_seconds", "REAL"),
    ("max_rss_bytes", "INTEGER"),
    ("worker", "TEXT"),
    ("started_at", "TEXT"),
    ("finished_at", "TEXT"),
    *((name, "INTEGER" if name == "cpu_count" else "TEXT") for name in PROVENANCE_COLUMNS),
    ("bound_scope", "TEXT"),  # JSON {order, max_computations}: the schedules best_bound holds for (version 4)
    ("staged_order", "TEXT"),  # the reference order the schedule is staged along by construction (version 4)
)
RUN_COLUMN_NAMES = tuple(name for name, _ in RUN_COLUMNS)
JSON_COLUMNS = ("params", "variant", "model_size", "violation", "bound_scope")

SCHEMA = f"""
CREATE TABLE runs ({", ".join(f"{name} {sql}" for name, sql in RUN_COLUMNS)});
CREATE INDEX runs_graph_formulation ON runs (graph, formulation);
CREATE TABLE schedules (run_key TEXT PRIMARY KEY REFERENCES runs(key) ON DELETE CASCADE, schedule TEXT NOT NULL);
CREATE TABLE trajectories (run_key TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
                           seconds REAL NOT NULL, cost REAL, bound REAL);
CREATE INDEX trajectories_run ON trajectories (run_key, seconds);
CREATE TABLE sweeps (id INTEGER PRIMARY KEY, name TEXT, config_path TEXT, config_text TEXT, command TEXT,
                     started_at TEXT NOT NULL);
{CLAIMS_TABLE};
PRAGMA user_version = {SCHEMA_VERSION};
"""


def to_json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


REQUIRED_COLUMNS = ("key", "status", "graph", "formulation")  # what a reader needs of a `runs` table


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def legacy_scope(
    formulation: str, params: Mapping[str, Any], reference_order: str | None
) -> tuple[dict | None, str | None]:
    """(bound_scope, staged_order) of a run stored before version 4, when formulations did not report them:
    the rules of the formulations of that time, frozen here so that old stores keep their gaps."""
    fixed_order = formulation in ("checkmate-milp", "checkmate-cp", "checkmate-lp") or (
        formulation in ("moccasin", "annealing")
        and params.get("order", "fixed" if formulation == "moccasin" else "") == "fixed"
    )
    staged = reference_order if fixed_order else None
    scope: dict | None = None
    if formulation == "moccasin":
        if not (
            params.get("copies_per_node") or params.get("lengths") == "paper" or int(params.get("horizon") or 0) > 0
        ):
            scope = {"order": staged, "max_computations": int(params.get("copies", 2))}
    elif formulation in ("checkmate-milp", "checkmate-cp", "checkmate-lp"):
        scope = {"order": reference_order, "max_computations": None}
    elif formulation == "oracle":
        cap = int(params.get("max_computations") or 0)
        scope = {
            "order": reference_order if params.get("order", "free") == "fixed" else None,
            "max_computations": cap or None,
        }
    return scope, staged


def _add_scopes(conn: sqlite3.Connection) -> None:
    """Migration 3 -> 4: the columns of bound scopes, filled for the runs stored before formulations reported them."""
    have = _columns(conn, "runs")
    for name in ("bound_scope", "staged_order"):
        if name not in have:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {name} TEXT")
    found = conn.execute("SELECT key, formulation, params, reference_order FROM runs").fetchall()
    for key, formulation, params, order in found:
        scope, staged = legacy_scope(formulation, json.loads(params) if params else {}, order)
        if scope is not None or staged is not None:
            conn.execute(
                "UPDATE runs SET bound_scope = ?, staged_order = ? WHERE key = ?", (to_json_text(scope), staged, key)
            )
