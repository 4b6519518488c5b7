#!/usr/bin/env python
"""Benchmark the Moccasin formulation on the paper's instances; print a markdown table.

Each instance runs in its own `moccasin-bench solve` process, one after the other (never in
parallel: timings are wall-clock). Instances whose paper graph file is absent are skipped.
Columns: status, TDI, peak / budget, time to best (first time the final cost was reached,
from the trajectory; seconds since the formulation got the problem), time to the paper's
target, build seconds, wall seconds. Targets are the paper's figures at the paper's
precision (RL1 as exact costs).

examples:
  python scripts/bench_moccasin.py                       # the whole table (about 45 min)
  python scripts/bench_moccasin.py --only rl1_90,rl1_80,cm1_90 --time-limit 30
  python scripts/bench_moccasin.py --only rl2_80 --param search=cpsat --json results/bench.json
  python scripts/bench_moccasin.py --authors /path/to/authors-logs   # add the authors' times (see --help)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Instance:
    key: str
    graph: str
    fraction: float
    order: str  # fixed | free
    time_limit: float
    target_cost: int | None = None  # exact cost target (RL1)
    target_tdi: float | None = None  # TDI target in percent...
    target_decimals: int = 1  # ...met when round(TDI, decimals) <= target_tdi
    authors_seconds: float | None = (
        None  # the authors' code, 2 workers, time to the same objective (the issue's figures)
    )


INSTANCES = [
    Instance("rl1_90", "rl1", 0.9, "fixed", 60, target_cost=48_146, authors_seconds=40),
    Instance("rl1_80", "rl1", 0.8, "fixed", 60, target_cost=48_866, authors_seconds=44),
    Instance("cm1_90", "cm1", 0.9, "fixed", 60, target_tdi=0.03, target_decimals=2, authors_seconds=12),
    Instance("cm1_80", "cm1", 0.8, "fixed", 60, target_tdi=0.1),
    Instance("cm2_90", "cm2", 0.9, "fixed", 60, target_tdi=0.11, target_decimals=2),
    Instance("cm2_80", "cm2", 0.8, "fixed", 60, target_tdi=0.3),
    Instance("rl2_90", "rl2", 0.9, "fixed", 200, target_tdi=0.9),
    Instance("rl2_80", "rl2", 0.8, "fixed", 300, target_tdi=4.9),
    Instance("rl3_90", "rl3", 0.9, "fixed", 300, target_tdi=0.7),
    Instance("rl3_80", "rl3", 0.8, "fixed", 300, target_tdi=3.4),
    Instance("rl4_90", "rl4", 0.9, "fixed", 300, target_tdi=0.7),
    Instance("rl4_80", "rl4", 0.8, "fixed", 300, target_tdi=3.4),
    Instance("rl1_90_free", "rl1", 0.9, "free", 120),
    Instance("rl1_80_free", "rl1", 0.8, "free", 120),
    Instance("rl2_90_free", "rl2", 0.9, "free", 120, target_tdi=0.0),
    Instance("rl2_80_free", "rl2", 0.8, "free", 120, target_tdi=0.0),
]


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def reached(inst: Instance, cost: float, sum_duration: int) -> bool:
    if inst.target_cost is not None:
        return cost <= inst.target_cost
    if inst.target_tdi is None:
        return False
    return round(100.0 * (cost - sum_duration) / sum_duration, inst.target_decimals) <= inst.target_tdi


def authors_time(directory: Path | None, inst: Instance, sum_duration: int) -> float | None:
    """Time to target from a log of the authors' code: lines 'TRAJ <seconds> <objective> <bound>' in
    DIR/<key>.err (seconds since their process started)."""
    if directory is None:
        return None
    path = directory / f"{inst.key}.err"
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "TRAJ" and reached(inst, float(parts[2]), sum_duration):
            return float(parts[1])
    return None


def run(inst: Instance, time_limit: float, threads: int, params: list[str], keep: Path | None) -> dict:
    out = (keep / f"{inst.key}.json") if keep else Path(tempfile.mkstemp(suffix=".json")[1])
    cmd = [
        sys.executable,
        "-m",
        "moccasin_bench.cli",
        "solve",
        inst.graph,
        "-f",
        "moccasin",
        "--budget",
        str(inst.fraction),
        "--time-limit",
        str(time_limit),
        "--threads",
        str(threads),
        "--quiet",
        "-o",
        str(out),
        "--param",
        f"order={inst.order}",
    ] + [x for p in params for x in ("--param", p)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 3) or not out.is_file() or out.stat().st_size == 0:
        return {"status": "error", "message": proc.stderr.strip()[-400:], "wall": wall}
    doc = json.loads(out.read_text())
    doc["wall"] = wall
    if keep is None:
        out.unlink()
    return doc


def row(inst: Instance, doc: dict, authors: float | None) -> str:
    if doc.get("status") in (None, "error") or doc.get("total_duration") is None:
        return f"| {inst.key} | – | {doc.get('status')} | – | – | – | – | – | {doc.get('wall', 0):.1f} | {doc.get('message', '')[:80]} |"
    sd = doc["sum_duration"]
    cost = doc["total_duration"]
    traj = doc["trajectory"]
    t_best = next((t for t, c in traj if c <= cost), None)
    t_target = next((t for t, c in traj if reached(inst, c, sd)), None)
    target = (
        f"{inst.target_cost:,}"
        if inst.target_cost is not None
        else (f"{inst.target_tdi:g} %" if inst.target_tdi is not None else "–")
    )
    ref = inst.authors_seconds if authors is None else authors
    speed = (
        f"{ref:g} s / {t_target:.1f} s = {ref / t_target:.0f}x" if ref and t_target else (f"{ref:g} s" if ref else "–")
    )

    def fmt(x: float | None) -> str:
        return "–" if x is None else f"{x:.1f}"

    return (
        f"| {inst.key} | {doc['budget']:,} | {doc['status']} | {doc['tdi_percent']:.3f} | "
        f"{doc['peak_memory'] / doc['budget']:.3f} | {fmt(t_best)} | {target}: {fmt(t_target)} | {speed} | "
        f"{doc['build_seconds']:.2f} / {doc['wall']:.1f} | {doc.get('variant', {}).get('warm_start') and doc['variant']['warm_start']['name'] or '–'} |"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--only", help="comma-separated instance keys (default: all): " + ", ".join(i.key for i in INSTANCES)
    )
    ap.add_argument("--time-limit", type=float, help="override every instance's time limit (seconds)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="moccasin parameter for every run"
    )
    ap.add_argument("--keep", type=Path, help="keep each run's schedule JSON in this directory")
    ap.add_argument("--json", type=Path, help="write all run documents (without schedules) to this file")
    ap.add_argument(
        "--authors", type=Path, help="directory with the authors' logs <key>.err (TRAJ lines) for time to target"
    )
    args = ap.parse_args(argv)

    from moccasin_bench.sources import find_paper_file

    chosen = INSTANCES if not args.only else [i for i in INSTANCES if i.key in set(args.only.split(","))]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    print(
        f"moccasin benchmark: threads={args.threads}, params={args.param or 'defaults'}, cpus={os.cpu_count()}, "
        f"load at start {load()}",
        flush=True,
    )
    print(
        "\n| instance | budget | status | TDI % | peak/budget | time to best s | target: time s | authors / ours | build / wall s | warm start |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    docs = {}
    for inst in chosen:
        if find_paper_file(inst.graph) is None:
            print(f"| {inst.key} | – | skipped: paper graph file not found | | | | | | | |", flush=True)
            continue
        doc = run(inst, args.time_limit or inst.time_limit, args.threads, args.param, args.keep)
        sd = doc.get("sum_duration")
        print(row(inst, doc, authors_time(args.authors, inst, sd) if sd else None), flush=True)
        if doc.get("status") != "invalid":  # an invalid schedule is kept whole, for the bug report
            doc.pop("schedule", None)
        docs[inst.key] = doc
        if args.json:  # after every instance: an interrupted benchmark keeps what it measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(docs, indent=1))
    print(f"\nload at end {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
