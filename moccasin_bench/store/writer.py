"""The writer: the driver's handle on a store (created or migrated atomically), one transaction per finished run,
and claims (which live driver runs which run now; see docs/architecture.md, "Concurrent drivers")."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moccasin_bench.errors import Incomplete, UserError
from moccasin_bench.store.check import check_store
from moccasin_bench.store.mapping import trajectory_rows
from moccasin_bench.store.schema import (
    MIGRATIONS,
    RENAMED_COLUMNS,
    REQUIRED_COLUMNS,
    RUN_COLUMN_NAMES,
    SCHEMA,
    SCHEMA_VERSION,
    _columns,
)

LEASE_SECONDS = 120.0  # a claim not renewed for this long is stale (its driver is gone)
RENEW_SECONDS = 30.0  # how often a driver renews its claims


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
                statement(conn) if callable(statement) else conn.execute(statement)
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
