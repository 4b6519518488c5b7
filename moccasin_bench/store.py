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
- `claims` (run_key, owner, host, pid, claimed_at, expires): runs a live driver is running
  now (version 3). A driver claims a run right before launching it and skips runs another
  live driver holds; a claim whose lease expired (its driver stopped renewing it) or whose
  driver's pid is dead on this host is stale and taken over. Writing a run's row deletes
  its claim in the same transaction.

Every finished run is written in one transaction, so a `kill -9` of the driver loses at
most the runs still in flight, and a run is never stored twice (the key is the primary
key). The store is created atomically (one exclusive transaction), so drivers started at
once on a fresh path agree on it. The default rollback journal is kept (no WAL): it works
on network file systems. SQLite failures become one-line errors: a full disk is
`errors.Incomplete` (nothing stored is lost; free space and re-run to resume).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moccasin_bench.errors import Incomplete, UserError
from moccasin_bench.store_check import check_store, roll_back_unfinished_write

if TYPE_CHECKING:
    import pandas as pd

    from moccasin_bench.graph import Graph
    from moccasin_bench.runner import RunSpec

SCHEMA_VERSION = 3
CLAIMS_TABLE = (
    "CREATE TABLE IF NOT EXISTS claims (run_key TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, "
    "pid INTEGER NOT NULL, claimed_at TEXT NOT NULL, expires REAL NOT NULL)"
)
# Statements that bring a store of version v to v + 1 (applied by the driver when it opens a store).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE runs RENAME COLUMN n TO nodes", "ALTER TABLE runs RENAME COLUMN m TO edges"),
    2: (CLAIMS_TABLE,),
}
LEASE_SECONDS = 120.0  # a claim not renewed for this long is stale (its driver is gone)
RENEW_SECONDS = 30.0  # how often a driver renews its claims
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
{CLAIMS_TABLE};
PRAGMA user_version = {SCHEMA_VERSION};
"""


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def make_row(
    spec: RunSpec, outcome: Mapping[str, Any], sweep: str | None = None, graph: Graph | None = None
) -> dict[str, Any]:
    """Flatten a run (a runner.RunSpec) and its outcome (runner.run_isolated) into a `runs` row.
    `graph` (the run's Graph) fills the graph's facts when the run left no result (error rows)."""
    result = outcome.get("result") or {}
    if not result and graph is not None:
        result = {
            "graph_origin": graph.origin,
            "nodes": graph.n,
            "edges": graph.m,
            "sum_duration": graph.sum_duration,
            "min_feasible_budget": graph.min_feasible_budget,
        }
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
    for name in (
        "peak_memory",
        "total_duration",
        "tdi_percent",
        "reported_objective",
        "best_bound",
        "build_seconds",
        "solve_seconds",
        "wall_seconds",
        "max_rss_bytes",
    ):
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
    events = sorted(
        [(float(t), 0, float(c)) for t, c in result.get("trajectory") or ()]
        + [(float(t), 1, float(b)) for t, b in result.get("bound_trajectory") or ()]
    )
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


def _disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "disk is full" in text or "no space" in text or "disk i/o error" in text


@contextlib.contextmanager
def _guard(path: Path, doing: str) -> Iterator[None]:
    """SQLite and file-system failures as one-line errors naming the store and what was being done."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except (sqlite3.OperationalError, OSError) as exc:
        if _disk_full(exc) or getattr(exc, "errno", None) == 28:
            raise Incomplete(
                f"the disk under the store is full ({exc}) while {doing}: every run finished before is "
                "stored and the store is intact; free space, then re-run the same command to resume",
                str(path),
            ) from None
        if "locked" in str(exc).lower():
            raise UserError(
                f"the store stayed locked by another process ({exc}) while {doing}; try again", str(path)
            ) from None
        raise UserError(f"cannot use the results store ({exc}) while {doing}", str(path)) from None
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"the results store is damaged or not a results store ({exc}) while {doing}", str(path)
        ) from None


def _pid_alive(pid: int) -> bool:
    """Whether a process of this host is running (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Store:
    """The SQLite results file, opened for writing by the driver."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.owner, self.host, self.pid = uuid.uuid4().hex, socket.gethostname(), os.getpid()
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=60)
            self.conn.execute("PRAGMA foreign_keys = ON")
            with _guard(self.path, "opening it"):
                check_store(self.path, self.conn)  # a sweep starts no run it could not store
                _check_or_create(self.conn, self.path)
        except UserError:
            with contextlib.suppress(Exception):
                self.conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            raise UserError(f"cannot open the results store: {exc}", str(self.path)) from None
        except OSError as exc:
            raise UserError(f"cannot create the results store: {exc.strerror or exc}", str(self.path)) from None

    def statuses(self) -> dict[str, str]:
        """key -> status of every stored run."""
        with _guard(self.path, "reading the stored runs"):
            return dict(self.conn.execute("SELECT key, status FROM runs"))

    def snapshot(self) -> dict[str, tuple[str, str | None]]:
        """key -> (status, finished_at) of every stored run: what `claim` compares against."""
        with _guard(self.path, "reading the stored runs"):
            return {k: (st, fin) for k, st, fin in self.conn.execute("SELECT key, status, finished_at FROM runs")}

    def record_sweep(self, name: str | None, config_path: str | None, config_text: str | None, command: str) -> None:
        with _guard(self.path, "recording the sweep"), self.conn:
            self.conn.execute(
                "INSERT INTO sweeps (name, config_path, config_text, command, started_at) VALUES (?, ?, ?, ?, ?)",
                (name, config_path, config_text, command, datetime.now(UTC).isoformat()),
            )

    # ---- claims: concurrent drivers on one store -----------------------------------------------
    def claim(self, key: str, expected: tuple[str, str | None] | None = None) -> str | None:
        """Claim a run for this driver before launching it. Returns None when claimed, else why not:
        the run's row changed since this driver planned (`expected`: its (status, finished_at) then,
        None = not stored), or another live driver holds it."""
        with _guard(self.path, "claiming a run"):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute("SELECT status, finished_at FROM runs WHERE key = ?", (key,)).fetchone()
                if (tuple(row) if row else None) != (tuple(expected) if expected else None):
                    self.conn.rollback()
                    return "stored meanwhile by another driver"
                held = self.conn.execute(
                    "SELECT owner, host, pid, expires FROM claims WHERE run_key = ?", (key,)
                ).fetchone()
                if held is not None and held[0] != self.owner and self._live(held[1], held[2], held[3]):
                    self.conn.rollback()
                    return f"running in another driver (pid {held[2]} on {held[1]})"
                self.conn.execute(
                    "INSERT OR REPLACE INTO claims (run_key, owner, host, pid, claimed_at, expires) VALUES (?, ?, ?, ?, ?, ?)",
                    (key, self.owner, self.host, self.pid, datetime.now(UTC).isoformat(), time.time() + LEASE_SECONDS),
                )
                self.conn.commit()
                return None
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.rollback()
                raise

    def _live(self, host: str, pid: int, expires: float) -> bool:
        if expires < time.time():
            return False
        return host != self.host or _pid_alive(int(pid))

    def start_renewing(self, every_seconds: float = RENEW_SECONDS) -> None:
        """Renew this driver's claims every `every_seconds` from a thread of its own (its own connection)."""
        if self._renewer is not None:
            return

        def renew() -> None:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                while not self._stop_renewing.wait(every_seconds):
                    with contextlib.suppress(sqlite3.Error), conn:
                        conn.execute(
                            "UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + LEASE_SECONDS, self.owner)
                        )
            finally:
                conn.close()

        self._renewer = threading.Thread(target=renew, name="claim-renewer", daemon=True)
        self._renewer.start()

    def release_claims(self) -> None:
        """Drop this driver's remaining claims (runs it launched but did not finish)."""
        with contextlib.suppress(sqlite3.Error), self.conn:
            self.conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))

    def write(self, row: Mapping[str, Any], result: Mapping[str, Any] | None = None, replace: bool = False) -> None:
        """Store one finished run (its row, schedule and trajectory) in one transaction, and drop its claim.
        `replace` overwrites a stored run with the same key (re-running error rows)."""
        cols = [c for c in RUN_COLUMN_NAMES if c in row]
        with _guard(self.path, f"storing run {row['key']}"), self.conn:
            if replace:
                self.conn.execute("DELETE FROM runs WHERE key = ?", (row["key"],))
            self.conn.execute(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [row[c] for c in cols]
            )
            if result and result.get("schedule") is not None:
                self.conn.execute(
                    "INSERT INTO schedules (run_key, schedule) VALUES (?, ?)",
                    (row["key"], json.dumps(result["schedule"])),
                )
            traj = trajectory_rows(result)
            if traj:
                self.conn.executemany(
                    "INSERT INTO trajectories (run_key, seconds, cost, bound) VALUES (?, ?, ?, ?)",
                    [(row["key"], *t) for t in traj],
                )
            self.conn.execute("DELETE FROM claims WHERE run_key = ? AND owner = ?", (row["key"], self.owner))

    def close(self) -> None:
        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        self.release_claims()
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


REQUIRED_COLUMNS = ("key", "status", "graph", "formulation")  # what a reader needs of a `runs` table


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _check_or_create(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema in a fresh file, or check (and migrate) an existing store, in one exclusive
    transaction: drivers started at once on one path see either nothing or the whole schema."""
    conn.execute("BEGIN EXCLUSIVE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and not tables:
            for statement in filter(None, (x.strip() for x in SCHEMA.split(";"))):
                conn.execute(statement)
            conn.commit()
            return
        if (
            version == 0
            or "runs" not in tables
            or not set(REQUIRED_COLUMNS) <= _columns(conn, "runs") | set(RENAMED_COLUMNS)
        ):
            raise UserError("not a moccasin-bench results store (an SQLite file with other tables)", str(path))
        if version > SCHEMA_VERSION:
            raise UserError(
                f"results store has schema version {version}; this moccasin-bench reads version {SCHEMA_VERSION}: upgrade it",
                str(path),
            )
        while version < SCHEMA_VERSION:
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
        missing = [c for c in RUN_COLUMN_NAMES if c not in _columns(conn, "runs")]
        if missing:
            raise UserError(
                f"not a moccasin-bench results store of version {version}: table runs lacks column(s) "
                f"{', '.join(missing[:5])}",
                str(path),
            )
        conn.commit()
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


def _reading(func: Callable[..., Any]) -> Callable[..., Any]:
    """A reader whose SQLite failures (a damaged file, a foreign table) are one UserError naming the store."""

    @functools.wraps(func)
    def wrapper(path: str | Path, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(path, *args, **kwargs)
        except UserError:
            raise
        except json.JSONDecodeError as exc:
            raise UserError(
                f"the results store holds a damaged value (not JSON: {exc.msg}); re-run the affected runs "
                "(sweep --retry) or restore the file",
                str(path),
            ) from None
        except Exception as exc:
            if isinstance(exc, sqlite3.Error) or type(exc).__name__ == "DatabaseError":
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if first.startswith("Could not decode to UTF-8"):  # junk inside a value; not echoed
                    first = first.split(" with text", 1)[0] + " (text that is not UTF-8: junk inside a value)"
                raise UserError(
                    f"cannot read the results store (damaged, or not a results store): {first}", str(path)
                ) from None
            raise

    return wrapper


def _read_connection(path: str | Path, allow_empty: bool = False) -> sqlite3.Connection | None:
    """Open an existing store read-only; a missing or foreign file is a UserError. With
    `allow_empty`, an empty file (a store another driver is creating right now) gives None."""
    p = Path(path)
    if p.is_dir():
        raise UserError("is a directory, not a results store (an SQLite file)", str(p))
    if not p.is_file():
        raise UserError("no such results store", str(p))
    try:
        roll_back_unfinished_write(p)
        conn = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True, timeout=60)
        try:
            check_store(p, conn)
        except UserError:
            conn.close()
            raise
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise UserError(f"cannot read the results store: {exc}", str(p)) from None
    if allow_empty and version == 0 and not tables:
        conn.close()
        return None
    if (
        version == 0
        or "runs" not in tables
        or not set(REQUIRED_COLUMNS) <= _columns(conn, "runs") | set(RENAMED_COLUMNS)
    ):
        conn.close()
        raise UserError("not a moccasin-bench results store", str(p))
    if version > SCHEMA_VERSION:
        conn.close()
        raise UserError(
            f"results store has schema version {version}; this moccasin-bench reads version {SCHEMA_VERSION}: upgrade it",
            str(p),
        )
    return conn


# ---- pandas ---------------------------------------------------------------------------------


@_reading
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


@_reading
def load_trajectories(path: str | Path) -> pd.DataFrame:
    """Objective-over-time in long format: run_key, seconds, cost, bound, tdi_percent
    (of cost), with graph, formulation and budget of the run for grouping."""
    import pandas as pd

    with _read_connection(path) as conn:
        df = pd.read_sql_query(
            "SELECT t.run_key, t.seconds, t.cost, t.bound, r.graph, r.formulation, r.budget, r.budget_fraction, r.sum_duration "
            "FROM trajectories t JOIN runs r ON r.key = t.run_key ORDER BY t.run_key, t.seconds",
            conn,
        )
    conn.close()
    total = df["sum_duration"].astype("float64")
    df["tdi_percent"] = 100.0 * (df["cost"] - total) / total.where(total > 0)
    return df


@_reading
def load_schedule(path: str | Path, key: str) -> list | None:
    """The stored schedule (node ids) of one run, or None when the run has none."""
    with _read_connection(path) as conn:
        row = conn.execute("SELECT schedule FROM schedules WHERE run_key = ?", (key,)).fetchone()
    conn.close()
    return None if row is None else json.loads(row[0])


@_reading
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
    written = []
    try:
        target.mkdir(parents=True, exist_ok=True)
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
    except OSError as exc:
        raise UserError(f"cannot write the export: {exc.strerror or exc}", str(exc.filename or target)) from None
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


@_reading
def stored_statuses(path: str | Path) -> dict[str, str]:
    """key -> status of every run in a store, read-only; {} when the file does not exist yet."""
    if not Path(path).exists():
        return {}
    conn = _read_connection(path, allow_empty=True)
    if conn is None:
        return {}
    with conn:
        out = dict(conn.execute("SELECT key, status FROM runs"))
    conn.close()
    return out


@_reading
def rows(path: str | Path, where: str = "", args: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Runs as plain dicts (no pandas), e.g. rows(p, "status = ?", ["error"])."""
    with _read_connection(path) as conn:
        conn.row_factory = sqlite3.Row
        out = [
            dict(r)
            for r in conn.execute(f"SELECT * FROM runs {'WHERE ' + where if where else ''} ORDER BY key", tuple(args))
        ]
    conn.close()
    return [{RENAMED_COLUMNS.get(k, k): v for k, v in r.items()} for r in out]


def schedule_max_computations(path: str | Path, keys: Iterable[str]) -> dict[str, int]:
    """run key -> the most computations of one node in its stored schedule (runs without a schedule left out)."""
    from collections import Counter

    keys = list(keys)
    out: dict[str, int] = {}
    with _read_connection(path) as conn:
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            query = f"SELECT run_key, schedule FROM schedules WHERE run_key IN ({', '.join('?' * len(chunk))})"
            for key, text in conn.execute(query, chunk):
                try:
                    ids = json.loads(text)
                except ValueError:
                    continue
                out[key] = max(Counter(json.dumps(x) for x in ids).values()) if ids else 0
    conn.close()
    return out
