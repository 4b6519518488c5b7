"""SQLite's own integrity check of a results store, run before any command trusts the store.

`check_store(path, conn)` runs `PRAGMA integrity_check` (the full check: pages, records and
that every index matches its table; `quick_check` skips the last: with 16 junk bytes on each
page of a 133-page store in turn, it found 25 damaged pages where the full check found 36,
for half the time, 0.35 s of CPU instead of 0.7 s on a 337 MB store). A damaged store is one UserError naming the store and the damaged tables and
indexes, found by checking each table and reading each of its indexes on its own. A store
found intact is remembered for this process until the file changes (size, mtime), so a
command that opens it several times pays once.

What no check of SQLite's can see: junk that lands inside a value and leaves a well-formed
record (a changed digit, text that is no longer UTF-8). The readers report text that does
not decode as one line (store._reading); a changed digit goes unnoticed (SQLite keeps no
checksums of pages).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from moccasin_bench.errors import UserError

_INTACT: set[tuple] = set()  # (resolved path, device, inode, size, mtime_ns) of stores found intact
SQLITE_HEADER = b"SQLite format 3\x00"
MAX_PROBLEMS = 20  # integrity_check stops after this many problems (the first is shown)


def _identity(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _integrity(conn: sqlite3.Connection, table: str | None = None) -> list[str]:
    """The problems SQLite's integrity check reports ([] = intact); a check that cannot even
    walk the file (SQLite raises "malformed") is one problem, its message."""
    pragma = f"PRAGMA integrity_check({_quote(table)})" if table else f"PRAGMA integrity_check({MAX_PROBLEMS})"
    try:
        rows = [str(r[0]) for r in conn.execute(pragma)]
    except sqlite3.DatabaseError as exc:
        return [str(exc) or type(exc).__name__]
    return [] if rows == ["ok"] else rows


def _reads(conn: sqlite3.Connection, sql: str) -> bool:
    try:
        for _ in conn.execute(sql):
            pass
    except sqlite3.DatabaseError:
        return False
    return True


def _index_reads(conn: sqlite3.Connection, table: str, index: str) -> bool:
    """Whether every entry of an index can be read (a scan of the index alone, not the table)."""
    try:
        columns = [r[2] for r in conn.execute(f"PRAGMA index_info({_quote(index)})") if r[2] is not None]
    except sqlite3.DatabaseError:
        return False
    total = " + ".join(f"length({_quote(c)})" for c in columns) or "1"
    return _reads(conn, f"SELECT sum({total}) FROM {_quote(table)} INDEXED BY {_quote(index)}")


def damaged_parts(conn: sqlite3.Connection) -> list[str]:
    """The tables and indexes of a damaged store that fail on their own ("table claims",
    "index sqlite_autoindex_schedules_1 of table schedules"); ["its schema"] when the list of
    tables itself cannot be read."""
    try:
        master = conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
        ).fetchall()
    except sqlite3.DatabaseError:
        return ["its schema (the list of tables, page 1)"]
    parts: list[str] = []
    for kind, name, _ in master:
        if kind != "table" or not _integrity(conn, name):
            continue
        found = []
        if not _reads(conn, f"SELECT * FROM {_quote(name)} NOT INDEXED"):
            found.append(f"table {name}")
        for index in (n for k, n, t in master if k == "index" and t == name):
            if not _index_reads(conn, name, index):
                found.append(f"index {index} of table {name}")
        parts += found or [f"table {name} (its rows or indexes disagree)"]
    return parts


def roll_back_unfinished_write(path: Path) -> None:
    """A driver killed while writing leaves a hot journal (`STORE-journal`); a read-only
    connection cannot roll it back and fails ("attempt to write a readonly database"). Opening
    the store read-write once lets SQLite roll it back (only when no live writer holds it);
    if that fails, the check below says what happened."""
    journal = Path(str(path) + "-journal")
    try:
        if not journal.is_file() or journal.stat().st_size == 0:
            return
        conn = sqlite3.connect(path, timeout=60)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        pass


def check_store(path: str | Path, conn: sqlite3.Connection) -> None:
    """Raise UserError naming the store and what is damaged unless SQLite's integrity check
    passes; `conn` is an open connection to it (read-only is enough)."""
    p = Path(path)
    identity = _identity(p)
    if identity is not None and identity in _INTACT:
        return
    problems = _integrity(conn)
    if problems and "readonly" in problems[0] and Path(str(p) + "-journal").exists():
        raise UserError(
            f"cannot read the results store: a driver stopped while writing left {p.name}-journal, and this "
            "process cannot roll it back (no write access?); a sweep on the store, or any sqlite3 session "
            "with write access, rolls it back",
            str(p),
        )
    if not problems:
        if identity is not None:
            _INTACT.add(identity)
        return
    try:
        with open(p, "rb") as f:
            header = f.read(100)
        size = p.stat().st_size
    except OSError:
        header, size = SQLITE_HEADER, 0
    if header[:16] != SQLITE_HEADER:
        raise UserError(
            "cannot read the results store: the file does not start with SQLite's header (not a results store, "
            "or one damaged at its start)",
            str(p),
        )
    if len(header) == 100:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        expected = page_size * int.from_bytes(header[28:32], "big")
        if 0 < size < expected:
            raise UserError(
                f"cannot read the results store: it is cut short ({size:,} of the {expected:,} bytes its header "
                "names: truncated by a copy or a full disk); restore it from a copy, or save what is readable "
                "with the sqlite3 shell's .recover",
                str(p),
            )
    parts = damaged_parts(conn) or ["pages outside any table (the free list)"]
    first = " ".join(problems[0].replace("*** in database main ***", "").split())
    more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
    raise UserError(
        f"cannot read the results store: damaged in {', '.join(parts)} (SQLite's integrity check: "
        f"{first[:160]}{more}); restore it from a copy, or save what is readable with the sqlite3 shell's .recover",
        str(p),
    )
