"""Model size against graph size: each formulation's model built, not solved, on a series of graphs.

Every build runs in an isolated child (runner.run_isolated with task "model_size"), capped in
memory and killed at a time cap, and records the model's variables, constraints and nonzeros,
the build seconds and the child's peak memory. A formulation whose build fails or exceeds a cap
is not built on the larger graphs of the series: the table says where it stopped and why.
Rows are appended to a CSV as they finish, so an interrupted measurement resumes.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moccasin_bench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from moccasin_bench.method import Method

COLUMNS = (
    "graph",
    "nodes",
    "edges",
    "method",
    "formulation",
    "params",
    "budget_fraction",
    "budget",
    "status",
    "variables",
    "constraints",
    "nonzeros",
    "build_seconds",
    "peak_rss_bytes",
    "rss_before_build_bytes",
    "memory_cap_bytes",
    "seconds_cap",
    "message",
)


@dataclass(frozen=True)
class SizeSeries:
    """What to measure: methods × graphs (ascending size), at one budget, under caps."""

    graphs: tuple[str, ...]
    methods: tuple[Method, ...]
    budget_fraction: float = 0.9
    memory_cap_bytes: int = 16 << 30
    seconds_cap: float = 600.0
    grace_seconds: float = 5.0  # after the time cap, before the build's process is killed


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the model-size table: {exc}", str(path)) from None


def _append(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    try:
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k) for k in COLUMNS})
    except OSError as exc:
        raise UserError(f"cannot write the model-size table: {exc.strerror or exc}", str(path)) from None


def measure(
    series: SizeSeries, out_csv: Path, data_dir: str | None = None, progress: bool = True
) -> list[dict[str, str]]:
    """Build every method's model on every graph of the series (skipping rows already in `out_csv`)."""
    import json

    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.runner import graph_document, make_spec, run_isolated
    from moccasin_bench.sources import load_graph

    done = {(r["graph"], r["method"]): r for r in _read(out_csv)}
    graphs = {}
    total = len(series.graphs) * len(series.methods)
    count = 0
    for method in series.methods:
        stopped: str | None = None
        for entry in series.graphs:
            count += 1
            # a table written before method identities names the method by its earlier key (alias or slug)
            previous = next((done[(entry, k)] for k in method.names if (entry, k) in done), None)
            if previous is not None:
                if previous["status"] != "built":
                    stopped = stopped or f"not built: {previous['status']} on {entry}"
                continue
            if entry not in graphs:
                graphs[entry] = load_graph(entry, data_dir)
            g = graphs[entry]
            budget = resolve_budget(g, fraction=series.budget_fraction)
            row: dict[str, Any] = {
                "graph": entry,
                "nodes": g.n,
                "edges": g.m,
                "method": method.key,
                "formulation": method.formulation,
                "params": json.dumps(method.run_params, sort_keys=True),
                "budget_fraction": series.budget_fraction,
                "budget": budget.bytes,
                "memory_cap_bytes": series.memory_cap_bytes,
                "seconds_cap": series.seconds_cap,
            }
            if stopped:
                _append(out_csv, {**row, "status": "skipped", "message": f"not built above the cap ({stopped})"})
                continue
            if progress:
                print(f"  [{count}/{total}] building {method.key} on {entry} (n={g.n:,})", file=sys.stderr, flush=True)
            spec = make_spec(g, budget, method.formulation, method.run_params, time_limit_seconds=series.seconds_cap)
            outcome = run_isolated(
                spec.to_json(),
                graph_document(g),
                memory_limit_bytes=series.memory_cap_bytes,
                grace_seconds=series.grace_seconds,
                task="model_size",
            )
            result = outcome.get("result") or {}
            size = result.get("model_size") or {}
            status = outcome["status"] if outcome["status"] in ("built", "not_supported") else "failed"
            message = outcome.get("message") or result.get("message") or ""
            if status == "failed" and ("killed" in message or "no result after" in message):
                status = "over_time_cap"
            elif status == "failed" and ("memory" in message.lower() or "MemoryError" in message):
                status = "over_memory_cap"
            row.update(
                {
                    "status": status,
                    "variables": size.get("variables"),
                    "constraints": size.get("constraints"),
                    "nonzeros": size.get("nonzeros"),
                    "build_seconds": result.get("build_seconds"),
                    "peak_rss_bytes": result.get("max_rss_bytes"),
                    "rss_before_build_bytes": result.get("rss_before_build_bytes"),
                    "message": message,
                }
            )
            _append(out_csv, row)
            if status != "built":
                stopped = f"{status} on {entry}, n={g.n:,}"
                if progress:
                    print(f"  {method.key}: {stopped}; larger graphs are not built", file=sys.stderr, flush=True)
    return _read(out_csv)


def growth_exponent(n: Sequence[float], y: Sequence[float], min_n: float = 0.0) -> float | None:
    """The slope of log y against log n (least squares) over the points with n >= min_n and y > 0;
    None with fewer than three such points."""
    import numpy as np

    pts = [
        (float(a), float(b))
        for a, b in zip(n, y)
        if a and b and not (isinstance(b, float) and math.isnan(b)) and float(a) >= min_n and float(b) > 0
    ]
    if len(pts) < 3:
        return None
    x = np.log([p[0] for p in pts])
    z = np.log([p[1] for p in pts])
    return float(np.polyfit(x, z, 1)[0])


def load_sizes(path: str | Path) -> pd.DataFrame:
    """The model-size CSV as a DataFrame with numeric columns."""
    import pandas as pd

    df = pd.DataFrame(_read(Path(path)), columns=list(COLUMNS))
    for col in (
        "nodes",
        "edges",
        "budget_fraction",
        "budget",
        "variables",
        "constraints",
        "nonzeros",
        "build_seconds",
        "peak_rss_bytes",
        "rss_before_build_bytes",
        "memory_cap_bytes",
        "seconds_cap",
    ):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df
