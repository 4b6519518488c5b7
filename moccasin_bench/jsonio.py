"""JSON in and out: the one encoder for numpy values, atomic writes, and schedule files.

Every JSON the harness writes (schedule documents, `graphs info`, the child's result file)
goes through `dumps`, so numpy integers, floats and arrays are encoded one way everywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from moccasin_bench.errors import ScheduleError, UserError


def to_jsonable(obj: Any) -> Any:
    """`json.dumps(default=...)` for numpy scalars and arrays; anything else is a TypeError."""
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(data: Any, indent: int | None = None) -> str:
    """JSON text of `data`, numpy values included."""
    separators = None if indent is not None else (",", ":")
    return json.dumps(data, indent=indent, separators=separators, default=to_jsonable)


def read_text(path: str | Path, error: type[UserError] = UserError, what: str = "file") -> str:
    """A file's text (UTF-8; gzip-compressed when the name ends in .gz); unreadable or undecodable is
    one `error` naming the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", str(path)) from None
    if str(path).endswith(".gz"):
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise error(f"not a readable gzip-compressed file: {exc}", str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})", str(path)) from None


def parse_json(text: str, path: str | Path, error: type[UserError] = UserError) -> Any:
    """Parse JSON text; malformed, too deeply nested or absurd numbers are one `error` naming the file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", str(path)) from None
    except RecursionError:
        raise error("JSON nested too deeply to read", str(path)) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise error(f"JSON holds a value that cannot be read: {exc}".split("; use")[0], str(path)) from None


def write_text_atomically(text: str, path: str | Path) -> None:
    """Write `text` to `path` through a temporary file and a rename (never a half-written file)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror or exc}", str(path)) from None


def write_json(data: Any, path: str | Path | None) -> None:
    """Write JSON (indented) to a file atomically, or to stdout when path is None or '-'."""
    text = dumps(data, indent=1) + "\n"
    if path in (None, "-"):
        sys.stdout.write(text)
        return
    write_text_atomically(text, path)


def read_schedule(path: str | Path) -> tuple[list, dict]:
    """A schedule file: the node-id list and the rest of the document (empty for a plain list).

    Accepts the JSON written by `solve -o` (its "schedule" list) or a plain JSON list of node ids.
    """
    data = parse_json(read_text(path, ScheduleError), path, ScheduleError)
    if isinstance(data, list):
        return data, {}
    if isinstance(data, dict) and isinstance(data.get("schedule"), list):
        return data["schedule"], data
    if isinstance(data, dict) and "schedule" in data and data["schedule"] is None:
        raise ScheduleError(f"the file holds no schedule (status {data.get('status')!r})", str(path))
    raise ScheduleError("expected a JSON list of node ids or an object with a 'schedule' list", str(path))


def check_schedule_document(doc: dict, graph_name: str, graph_hash: str, path: str | Path) -> int | None:
    """A schedule document's own budget (None when it has none), after checking that it was solved
    on this graph (its `graph_hash`) and that its budget is a non-negative integer."""
    solved_on = doc.get("graph_hash")
    if solved_on is not None and solved_on != graph_hash:
        raise ScheduleError(
            f"the schedule was solved on graph {doc.get('graph')!r} (hash {solved_on}), not on {graph_name!r} "
            f"(hash {graph_hash}): give the graph it was solved on",
            str(path),
        )
    budget = doc.get("budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
        raise ScheduleError(f"'budget' must be a non-negative integer, got {budget!r}", str(path))
    return budget
