"""Readers: a store opened read-only, as pandas frames (runs, trajectories) or plain rows; older stores are read
as they are (renamed columns mapped, scopes of runs stored before version 4 derived)."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moccasin_bench.errors import UserError
from moccasin_bench.store.check import check_store, roll_back_unfinished_write
from moccasin_bench.store.schema import (
    RENAMED_COLUMNS,
    REQUIRED_COLUMNS,
    SCHEMA_VERSION,
    _columns,
    legacy_scope,
)
from moccasin_bench.store.schema import to_json_text as _json

if TYPE_CHECKING:
    import pandas as pd


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
    if "bound_scope" not in df.columns:  # a store of version 3 or older, read as it is
        pairs = [
            legacy_scope(f, json.loads(p) if isinstance(p, str) and p else {}, o)
            for f, p, o in zip(df["formulation"], df["params"], df.get("reference_order", [None] * len(df)))
        ]
        df["bound_scope"] = [_json(s) for s, _ in pairs]
        df["staged_order"] = [o for _, o in pairs]
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
