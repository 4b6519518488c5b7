"""The results store: one SQLite file, written only by the sweep driver, read with pandas.

Tables (schema version in `PRAGMA user_version`):
- `runs`: one row per run key — the run's definition, the simulator's verdict, solver
  facts, limits, where it ran (provenance) and when. JSON text for params, variant,
  model_size and violation.
- `schedules` (run_key, schedule): the schedule as a JSON list of node ids, kept apart
  so loading the runs table stays light.
- `trajectories` (run_key, seconds, cost, bound), long format: one row per time a
  solution or a bound was reported, holding the last cost and the last bound reported
  up to that time (NULL before the first).
- `sweeps`: each time a sweep was started on this store (name, config text, command).

Every finished run is written in one transaction, so a `kill -9` of the driver loses at
most the runs still in flight, and a run is never stored twice (the key is the primary
key). The default rollback journal is kept (no WAL): it works on network file systems.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from moccasin_bench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    
    from moccasin_bench.graph import Graph
    from moccasin_bench.runner import RunSpec

SCHEMA_VERSION = 2
# Statements that bring a store of version v to v + 1 (applied by the driver when it opens a store).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE runs RENAME COLUMN n TO nodes", "ALTER TABLE runs RENAME COLUMN m TO edges"),
}
# Column names of older versions, for reading an old store without migrating it: old -> current.
RENAMED_COLUMNS = {"n": "nodes", "m": "edges"}

PROVENANCE_COLUMNS = (
    "moccasin_bench_version", "git_revision", "python_version", "ortools_version", "highspy_version", "pulp_version",
    "networkx_version", "numpy_version", "cpu_model", "cpu_count", "hostname", "platform",
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
)
RUN_COLUMN_NAMES = tuple(name for name, _ in RUN_COLUMNS)
JSON_COLUMNS = ("params", "variant", "model_size", "violation")

SCHEMA = f"""
CREATE TABLE runs ({", ".join(f"{name} {sql}" for name, sql in RUN_COLUMNS)});
CREATE INDEX runs_graph_formulation ON runs (graph, formulation);
CREATE TABLE schedules (run_key TEXT PRIMARY KEY REFERENCES runs(key) ON DELETE CASCADE, schedule TEXT NOT NULL);
CREATE TABLE trajectories (run_key TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
                           seconds REAL NOT NULL, cost REAL, bound REAL);
CREATE INDEX trajectories_run ON trajectories (run_key, seconds);
CREATE TABLE sweeps (id INTEGER PRIMARY KEY, name TEXT, config_path TEXT, config_text TEXT, command TEXT,
                     started_at TEXT NOT NULL);
PRAGMA user_version = {SCHEMA_VERSION};
"""


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def make_row(spec: RunSpec, outcome: Mapping[str, Any], sweep: str | None = None, graph: Graph | None = None) -> dict[str, Any]:
    """Flatten a run (a runner.RunSpec) and its outcome (runner.run_isolated) into a `runs` row.
    `graph` (the run's Graph) fills the graph's facts when the run left no result (error rows)."""
    result = outcome.get("result") or {}
    if not result and graph is not None:
        result = {"graph_origin": graph.origin, "nodes": graph.n, "edges": graph.m, "sum_duration": graph.sum_duration,
                  "min_feasible_budget": graph.min_feasible_budget}
    row: dict[str, Any] = {
        "key": spec.key,
        "sweep": sweep,
        "graph": spec.graph_name,
        "graph_hash": spec.graph_hash,
        "graph_source": spec.graph_source,
        "graph_origin": result.get("graph_origin"),
        "nodes": result.get("nodes"),
        "edges": result.get("edges"),
        "sum_duration": result.get("sum_duration"),
        "min_feasible_budget": result.get("min_feasible_budget"),
        "formulation": spec.formulation,
        "params": _json(dict(spec.params)),
        "variant": _json(result.get("variant")),
        "restrictions": result.get("restrictions"),
        "budget": spec.budget_bytes,
        "budget_fraction": spec.budget_fraction,
        "reference_order": spec.reference_order,
        "reference_peak": spec.reference_peak,
        "time_limit_seconds": spec.time_limit_seconds,
        "threads": spec.threads,
        "seed": spec.seed,
        "relative_gap": spec.relative_gap,
        "status": outcome["status"],
        "message": outcome.get("message") or "",
        "stderr_tail": outcome.get("stderr_tail") or None,
    }
    for name in ("peak_memory", "total_duration", "tdi_percent", "reported_objective", "best_bound", "build_seconds",
                 "solve_seconds", "wall_seconds", "max_rss_bytes"):
        row[name] = result.get(name)
    row["model_size"] = _json(result.get("model_size"))
    row["violation"] = _json(result.get("violation"))
    for name in ("process_seconds", "memory_limit_bytes", "grace_seconds", "worker", "started_at", "finished_at"):
        row[name] = outcome.get(name)
    prov = outcome.get("provenance") or {}
    for name in PROVENANCE_COLUMNS:
        row[name] = prov.get(name)
    return row


def trajectory_rows(result: Mapping[str, Any] | None) -> list[tuple[float, float | None, float | None]]:
    """Merge the cost and bound trajectories into (seconds, last cost, last bound) events."""
    if not result:
        return []
    events = sorted([(float(t), 0, float(c)) for t, c in result.get("trajectory") or ()]
                    + [(float(t), 1, float(b)) for t, b in result.get("bound_trajectory") or ()])
    rows: list[tuple[float, float | None, float | None]] = []
    cost = bound = None
    for seconds, kind, value in events:
        if kind == 0:
            cost = value
        else:
            bound = value
        if rows and rows[-1][0] == seconds:
            rows[-1] = (seconds, cost, bound)
        else:
            rows.append((seconds, cost, bound))
    return rows


class Store:
    """The SQLite results file, opened for writing by the driver."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=60)
            self.conn.execute("PRAGMA foreign_keys = ON")
            _check_or_create(self.conn, self.path)
        except sqlite3.DatabaseError as exc:
            raise UserError(f"cannot open the results store: {exc}", str(self.path)) from None
        except OSError as exc:
            raise UserError(f"cannot create the results store: {exc.strerror or exc}", str(self.path)) from None

    def statuses(self) -> dict[str, str]:
        """key -> status of every stored run."""
        return dict(self.conn.execute("SELECT key, status FROM runs"))

    def record_sweep(self, name: str | None, config_path: str | None, config_text: str | None, command: str) -> None:
        with self.conn:
            self.conn.execute("INSERT INTO sweeps (name, config_path, config_text, command, started_at) VALUES (?, ?, ?, ?, ?)",
                              (name, config_path, config_text, command, datetime.now(timezone.utc).isoformat()))

    def write(self, row: Mapping[str, Any], result: Mapping[str, Any] | None = None, replace: bool = False) -> None:
        """Store one finished run (its row, schedule and trajectory) in one transaction.
        `replace` overwrites a stored run with the same key (re-running error rows)."""
        cols = [c for c in RUN_COLUMN_NAMES if c in row]
        with self.conn:
            if replace:
                self.conn.execute("DELETE FROM runs WHERE key = ?", (row["key"],))
            self.conn.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                              [row[c] for c in cols])
            if result and result.get("schedule") is not None:
                self.conn.execute("INSERT INTO schedules (run_key, schedule) VALUES (?, ?)",
                                  (row["key"], json.dumps(result["schedule"])))
            traj = trajectory_rows(result)
            if traj:
                self.conn.executemany("INSERT INTO trajectories (run_key, seconds, cost, bound) VALUES (?, ?, ?, ?)",
                                      [(row["key"], *t) for t in traj])

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_or_create(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0 and not tables:
        conn.executescript(SCHEMA)
        return
    if version == 0 or "runs" not in tables:
        raise UserError("not a moccasin-bench results store (an SQLite file with other tables)", str(path))
    if version > SCHEMA_VERSION:
        raise UserError(f"results store has schema version {version}; this moccasin-bench reads version {SCHEMA_VERSION}: upgrade it", str(path))
    while version < SCHEMA_VERSION:
        with conn:
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")


def _read_connection(path: str | Path) -> sqlite3.Connection:
    """Open an existing store read-only; a missing or foreign file is a UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError("no such results store", str(p))
    try:
        conn = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True, timeout=60)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise UserError(f"cannot read the results store: {exc}", str(p)) from None
    if version == 0 or "runs" not in tables:
        conn.close()
        raise UserError("not a moccasin-bench results store", str(p))
    if version > SCHEMA_VERSION:
        conn.close()
        raise UserError(f"results store has schema version {version}; this moccasin-bench reads version {SCHEMA_VERSION}: upgrade it", str(p))
    return conn


# ---- pandas ---------------------------------------------------------------------------------

def load_runs(path: str | Path, expand: bool = True) -> pd.DataFrame:
    """All runs as a tidy DataFrame, one row per run.

    With `expand`, each formulation parameter becomes a column `param_<name>` and each
    model-size entry a column `model_<name>` (missing where a run has no such entry);
    `started_at`/`finished_at` are timestamps. The JSON columns stay as text."""
    import pandas as pd

    with _read_connection(path) as conn:
        df = pd.read_sql_query("SELECT * FROM runs ORDER BY finished_at, key", conn)
    conn.close()
    df = df.rename(columns=RENAMED_COLUMNS)
    for col in ("started_at", "finished_at"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    if expand and len(df):
        for col, prefix in (("params", "param_"), ("model_size", "model_")):
            parsed = [json.loads(x) if isinstance(x, str) else {} for x in df[col]]
            names = sorted({k for d in parsed for k in d})
            for name in names:
                df[prefix + name] = [d.get(name) for d in parsed]
    return df


def load_trajectories(path: str | Path) -> pd.DataFrame:
    """Objective-over-time in long format: run_key, seconds, cost, bound, tdi_percent
    (of cost), with graph, formulation and budget of the run for grouping."""
    import pandas as pd

    with _read_connection(path) as conn:
        df = pd.read_sql_query(
            "SELECT t.run_key, t.seconds, t.cost, t.bound, r.graph, r.formulation, r.budget, r.budget_fraction, r.sum_duration "
            "FROM trajectories t JOIN runs r ON r.key = t.run_key ORDER BY t.run_key, t.seconds", conn)
    conn.close()
    total = df["sum_duration"].astype("float64")
    df["tdi_percent"] = 100.0 * (df["cost"] - total) / total.where(total > 0)
    return df


def load_schedule(path: str | Path, key: str) -> list | None:
    """The stored schedule (node ids) of one run, or None when the run has none."""
    with _read_connection(path) as conn:
        row = conn.execute("SELECT schedule FROM schedules WHERE run_key = ?", (key,)).fetchone()
    conn.close()
    return None if row is None else json.loads(row[0])


def export(path: str | Path, fmt: str, out_dir: str | Path | None = None, schedules: bool = False) -> list[Path]:
    """Write the runs and trajectories tables as CSV or Parquet; return the files written."""
    import pandas as pd

    if fmt not in ("csv", "parquet"):
        raise UserError(f"unknown export format {fmt!r}; choose csv or parquet")
    store = Path(path)
    runs, traj = load_runs(store), load_trajectories(store)
    if schedules:
        with _read_connection(store) as conn:
            sched = pd.read_sql_query("SELECT run_key AS key, schedule FROM schedules", conn)
        conn.close()
        runs = runs.merge(sched, on="key", how="left")
    target = Path(out_dir) if out_dir else store.parent
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in (("runs", runs), ("trajectories", traj)):
        file = target / f"{store.stem}-{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(file, index=False)
        else:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise UserError("Parquet export needs pyarrow: pip install 'moccasin-bench[parquet]'") from None
            _uniform_types(df).to_parquet(file, index=False)
        written.append(file)
    return written


def _uniform_types(df: pd.DataFrame) -> pd.DataFrame:
    """Parquet columns need one type: a parameter that is a string for one formulation and a
    number for another is written as text."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col] if v is not None and v == v}
            if len(kinds) > 1:
                out[col] = [None if v is None or v != v else str(v) for v in out[col]]
    return out


def stored_statuses(path: str | Path) -> dict[str, str]:
    """key -> status of every run in a store, read-only; {} when the file does not exist yet."""
    if not Path(path).exists():
        return {}
    with _read_connection(path) as conn:
        out = dict(conn.execute("SELECT key, status FROM runs"))
    conn.close()
    return out


def rows(path: str | Path, where: str = "", args: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Runs as plain dicts (no pandas), e.g. rows(p, "status = ?", ["error"])."""
    with _read_connection(path) as conn:
        conn.row_factory = sqlite3.Row
        out = [dict(r) for r in conn.execute(f"SELECT * FROM runs {'WHERE ' + where if where else ''} ORDER BY key", tuple(args))]
    conn.close()
    return [{RENAMED_COLUMNS.get(k, k): v for k, v in r.items()} for r in out]
