#!/usr/bin/env python
"""Annealing speed: moves per second on the paper's 1000-node graph (RL4), JIT compile or
cache-load seconds, and the whole process's wall time.

    python scripts/bench_annealing.py                       # RL4, 80 %, 20 M moves, warm cache
    python scripts/bench_annealing.py --cold                # compile into a fresh cache directory first
    python scripts/bench_annealing.py --graph rl2 --moves 5000000 --order fixed --repeats 3

Each measurement runs in a fresh interpreter (so interpreter start, imports, the JIT and the
search are all inside the wall time the parent measures) and runs the `annealing`
formulation through the same `execute` as `moccasin-bench solve`, with `max_moves` set (no
time limit in the way). Reported per run:

- proposed/s: proposals drawn per second of search (an invalid proposal, e.g. a slot already
  taken, costs little and is counted here only);
- moves/s (evaluated): proposals that were decided, i.e. valid moves whose objective change
  was computed and compared with the Metropolis threshold, per second of search. An
  addition within the budget whose cost increase alone exceeds the threshold is decided
  without touching the segment tree; `applied/s` counts the moves applied to the state
  (and undone when rejected);
- jit: the kernels' compile time (--cold, or after an edit of the kernel file) or their
  load time from numba's cache; interpreter + imports; the whole process's wall.

Without the paper's files the generated stand-in (rl4-gen) is used. Timings depend on the
machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_PROCESS = time.perf_counter()
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def child(args) -> dict:
    t_imports = time.perf_counter()
    import numpy as np

    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process as execute
    from moccasin_bench.sources import find_paper_file, load_graph

    name = (
        args.graph
        if find_paper_file(args.graph) is not None or not args.graph.startswith(("rl", "cm"))
        else f"{args.graph}-gen"
    )
    graph = load_graph(name)
    budget = resolve_budget(graph, args.budget)
    imports = time.perf_counter() - t_imports
    t_numba = time.perf_counter()
    import numba  # noqa: F401  (the formulation imports it inside solve; timed apart here)

    numba_import = time.perf_counter() - t_numba
    t_run = time.perf_counter()
    res = execute(
        graph,
        budget,
        "annealing",
        {"max_moves": args.moves, "order": args.order},
        time_limit_seconds=1e6,
        seed=args.seed,
    )
    run = time.perf_counter() - t_run
    v = res.output.variant
    search = res.output.solve_seconds
    return {
        "graph": graph.name,
        "n": graph.n,
        "budget": budget.bytes,
        "budget_fraction": args.budget,
        "order": args.order,
        "seed": args.seed,
        "status": res.status,
        "tdi_percent": res.tdi_percent,
        "message": res.message,
        "moves": v["moves_proposed"],
        "search_seconds": search,
        "proposed_per_second": v["moves_proposed"] / search,
        "decided_per_second": v["moves_decided"] / search,
        "applied_per_second": v["moves_applied"] / search,
        "accepted": v["moves_accepted"],
        "jit_seconds": v["jit_seconds"],
        "numba_import_seconds": numba_import,
        "imports_seconds": imports + (t_imports - T_PROCESS),
        "run_seconds": run,
        "in_process_seconds": time.perf_counter() - T_PROCESS,
        "numba": numba.__version__,
        "np": np.__version__,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default="rl4")
    ap.add_argument("--budget", type=float, default=0.8, help="fraction of the reference order's peak")
    ap.add_argument("--moves", type=int, default=20_000_000)
    ap.add_argument("--order", default="free", choices=("free", "fixed"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--cold", action="store_true", help="compile into a fresh NUMBA_CACHE_DIR (first run compiles, later ones load)"
    )
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    env = dict(os.environ)
    cache = None
    if args.cold:
        cache = tempfile.mkdtemp(prefix="numba-cache-")
        env["NUMBA_CACHE_DIR"] = cache
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    runs = []
    for k in range(args.repeats):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--graph",
            args.graph,
            "--budget",
            str(args.budget),
            "--moves",
            str(args.moves),
            "--order",
            args.order,
            "--seed",
            str(args.seed + k),
        ]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["process_wall_seconds"] = wall
        r["cache"] = (
            ("cold: compiled into " + cache if k == 0 else "loaded from " + cache) if cache else "default location"
        )
        runs.append(r)
    if args.json:
        print(json.dumps(runs, indent=1))
        return 0
    r0 = runs[0]
    print(
        f"{r0['graph']} (n = {r0['n']}), budget {r0['budget']:,} ({100 * r0['budget_fraction']:g} %), order={r0['order']}, "
        f"{r0['moves']:,} moves per run, numba {r0['numba']}, numpy {r0['np']}"
    )
    print(
        "| run | cache | status | TDI % | search s | proposed/s | moves/s (evaluated) | applied/s | jit s | "
        "interpreter+imports s | process wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for k, r in enumerate(runs):
        tdi = "–" if r["tdi_percent"] is None else f"{r['tdi_percent']:.3f}"
        print(
            f"| {k} (seed {r['seed']}) | {r['cache']} | {r['status']} | {tdi} | {r['search_seconds']:.2f} | "
            f"{r['proposed_per_second']:,.0f} | {r['decided_per_second']:,.0f} | {r['applied_per_second']:,.0f} | "
            f"{r['jit_seconds']:.2f} | {r['imports_seconds'] + r['numba_import_seconds']:.2f} | "
            f"{r['process_wall_seconds']:.2f} |"
        )
    if len(runs) > 1:
        print(
            f"median moves/s (evaluated): {statistics.median(r['decided_per_second'] for r in runs):,.0f}; "
            f"median jit s: {statistics.median(r['jit_seconds'] for r in runs):.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
