"""Argument helpers shared by the verbs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from moccasin_bench.errors import UserError


def add_graph_argument(parser, help_text: str = "a graph file, a registered name (see `graphs list`) or FAMILY:key=value,...") -> None:
    parser.add_argument("graph", metavar="GRAPH", help=help_text)
    parser.add_argument("--data-dir", metavar="DIR", help="where the paper's graph files are (default: $MOCCASIN_BENCH_DATA, then ../shared/paper-graphs)")


def write_json(data: Any, path: str | None) -> None:
    """Write JSON to a file (atomically) or to stdout when path is None or '-'."""
    text = json.dumps(data, indent=1, default=_default) + "\n"
    if path in (None, "-"):
        sys.stdout.write(text)
        return
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror or exc}", str(path)) from None


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def human_bytes(n: int | float) -> str:
    """1536 -> '1.5 KiB': binary units, one decimal."""
    n = float(n)
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def memory_figure(schedulable: int, fixed: int) -> str:
    """A peak with what it includes: '1.2 GiB schedulable + 45.0 MiB fixed = 1.3 GiB' (no fixed bytes: bytes only)."""
    if not fixed:
        return f"{schedulable:,}"
    return f"{schedulable:,} schedulable ({human_bytes(schedulable)}) + {human_bytes(fixed)} fixed = {human_bytes(schedulable + fixed)}"
