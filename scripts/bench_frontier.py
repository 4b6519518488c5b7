#!/usr/bin/env python
"""Moccasin at tight budgets against every single method: the frontier cells of issue 21.

For each graph and budget, runs default `moccasin` (the start portfolio and the hybrid search),
`moccasin` as the paper ran it (`warm_start=heuristics`, `search=auto`: the default before the
portfolio), the annealer, the heuristics and, on PyTorch graphs, PyTorch's partitioner and
checkpointing, each in its own `moccasin-bench solve` process with the same limit and threads.
Results are appended to a JSON-lines file (a rerun skips cells already there), then tabulated:
TDI per method, the best single method, whether default moccasin is at most that, and whether
CP-SAT (or its neighbourhood search) improved the portfolio's start.

examples:
  python scripts/bench_frontier.py --jobs 2 --out results/frontier.jsonl
  python scripts/bench_frontier.py --graphs rl3,rl4 --fractions 0.7 --methods moccasin --seeds 0,1,2,3,4
  python scripts/bench_frontier.py --out results/frontier.jsonl --table-only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

METHODS = {
    "moccasin": ("moccasin", []),
    "moccasin-paper": ("moccasin", ["warm_start=heuristics", "search=auto"]),
    "annealing": ("annealing", []),
    "heuristic": ("heuristic", []),
    "torch-partitioner": ("torch-partitioner", []),
    "torch-checkpoint": ("torch-checkpoint", []),
}
MOCCASIN_VARIANTS = ("moccasin", "moccasin-paper")
TORCH = ("torch-partitioner", "torch-checkpoint")


def run_one(graph: str, fraction: float, method: str, seed: int, limit: float, threads: int) -> dict:
    formulation, params = METHODS[method]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.json"
        cmd = [sys.executable, "-m", "moccasin_bench.cli", "solve", graph, "-f", formulation, "--budget", str(fraction)]
        cmd += ["--time-limit", str(limit), "--threads", str(threads), "--seed", str(seed), "-q", "-o", str(out)]
        for p in params:
            cmd += ["--param", p]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        doc = json.loads(out.read_text()) if out.exists() else {}
    v = doc.get("variant") or {}
    return {
        "graph": graph,
        "fraction": fraction,
        "method": method,
        "seed": seed,
        "limit": limit,
        "threads": threads,
        "status": doc.get("status", f"exit {proc.returncode}"),
        "tdi": doc.get("tdi_percent"),
        "wall": round(wall, 2),
        "start": v.get("start"),
        "cpsat_improved": v.get("cpsat_improved"),
        "order_followed": v.get("order_followed"),
        "message": (doc.get("message") or proc.stderr[-300:])[:300],
        "load": os.getloadavg()[0],
    }


def table(rows: list[dict]) -> str:
    cells: dict[tuple, dict[str, list[dict]]] = {}
    for r in rows:
        cells.setdefault((r["graph"], r["fraction"]), {}).setdefault(r["method"], []).append(r)
    lines = [
        "| graph | budget | moccasin (paper's start) | moccasin (default) | start (TDI, s) | annealing | heuristic | torch | best single | default ≤ best | CP-SAT improved |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    met = counted = improved = 0

    def worst(rs):  # worst over seeds; None when any seed found nothing
        tdis = [r["tdi"] for r in rs]
        return None if not tdis or any(t is None for t in tdis) else max(tdis)

    def show(x):
        return "–" if x is None else f"{x:.2f}"

    for (g, f), by in sorted(cells.items()):
        single = {m: worst(rs) for m, rs in by.items() if m not in MOCCASIN_VARIANTS}
        found = [x for x in single.values() if x is not None]
        best = min(found) if found else None
        ours = worst(by.get("moccasin", []))
        torch = [single[m] for m in TORCH if m in single and single[m] is not None]
        ok = None
        if "moccasin" in by and (best is not None or ours is not None):
            ok = ours is not None and (best is None or ours <= best + 1e-9)
            counted += 1
            met += bool(ok)
        starts = [r.get("start") or {} for r in by.get("moccasin", [])]
        gains = [r.get("cpsat_improved") for r in by.get("moccasin", [])]
        improved += any(gains)
        start_text = ", ".join(
            f"{s.get('name')} {s.get('tdi_percent', 0):.2f} @{s.get('found_at_seconds', 0):.0f}s" for s in starts if s
        )
        gain_text = ", ".join("–" if not x else f"−{x['tdi_points']:.2f} pt @{x['first_at_seconds']}s" for x in gains)
        lines.append(
            f"| {g} | {f:.0%} | {show(worst(by.get('moccasin-paper', [])))} | {show(ours)} | {start_text or '–'} | "
            f"{show(single.get('annealing'))} | {show(single.get('heuristic'))} | {show(min(torch)) if torch else '–'} | "
            f"{show(best)} | {'–' if ok is None else 'yes' if ok else 'no'} | {gain_text or '–'} |"
        )
    lines.append("")
    lines.append(
        f"default moccasin at most the best single method in {met} of {counted} cells; CP-SAT improved its start in {improved}"
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graphs", default="pt-resnet50,pt-gpt,pt-mobilenetv2,rl3,rl4")
    ap.add_argument("--fractions", default="0.5,0.4,0.3,0.2")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--torch-fractions", default="0.5,0.4", help="PyTorch baselines only at these budgets")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--time-limit", type=float, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (each with --threads threads)")
    ap.add_argument("--out", default="frontier.jsonl")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    rows = [json.loads(x) for x in out.read_text().splitlines() if x.strip()] if out.exists() else []
    if not args.table_only:
        done = {(r["graph"], r["fraction"], r["method"], r["seed"], r["limit"], r["threads"]) for r in rows}
        torch_fractions = {float(x) for x in args.torch_fractions.split(",")}
        todo = []
        for g in args.graphs.split(","):
            for f in (float(x) for x in args.fractions.split(",")):
                for m in args.methods.split(","):
                    if m in TORCH and (not g.startswith("pt-") or f not in torch_fractions):
                        continue
                    for s in (int(x) for x in args.seeds.split(",")):
                        if (g, f, m, s, args.time_limit, args.threads) not in done:
                            todo.append((g, f, m, s))
        lock = threading.Lock()

        def go(item):
            r = run_one(*item, args.time_limit, args.threads)
            with lock:
                with out.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")
                rows.append(r)
                print(
                    f"{r['graph']} {r['fraction']:.0%} {r['method']} seed {r['seed']}: {r['status']} {r['tdi']} ({r['wall']} s, load {r['load']:.1f})",
                    flush=True,
                )

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            list(pool.map(go, todo))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
