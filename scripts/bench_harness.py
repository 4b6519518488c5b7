"""Harness overhead: a sweep of many tiny runs, total wall time against the sum of solve times.

    python scripts/bench_harness.py                       # 100 runs, --jobs 1 and --jobs 2
    python scripts/bench_harness.py --param strategy=no-recompute --runs 100 --jobs 1 2 4

Each run is the `heuristic` formulation on a small generated graph, with a distinct seed
(so 100 distinct keys). The sweep goes through the real CLI (`moccasin-bench sweep`) into a
fresh store, so the figures include everything a user pays: the driver's start, planning,
one child interpreter per run, the store's transactions. Timings depend on the machine and
its load: re-run on a quiet machine before quoting them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(runs: int, jobs: int, graph: str, formulation: str, params: dict[str, str], work: Path) -> dict:
    from moccasin_bench.store import load_runs

    config = work / f"harness-j{jobs}.toml"
    param_text = ", ".join(f'{k} = "{v}"' for k, v in params.items())
    config.write_text(
        f'name = "harness-j{jobs}"\ngraphs = ["{graph}"]\nbudgets = 1.0\ntime_limits = 60\n'
        f'formulations = [{{ name = "{formulation}", params = {{ {param_text} }} }}]\n'
        f"seeds = {list(range(runs))}\n"
    )
    store = work / f"harness-j{jobs}.sqlite"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "moccasin_bench.cli",
            "sweep",
            str(config),
            "--store",
            str(store),
            "--jobs",
            str(jobs),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"sweep failed:\n{proc.stderr}")
    df = load_runs(store)
    assert len(df) == runs, f"expected {runs} rows, got {len(df)}"
    statuses = df["status"].value_counts().to_dict()
    solve = float(df["solve_seconds"].sum())
    return {
        "jobs": jobs,
        "runs": runs,
        "wall": wall,
        "solve": solve,
        "execute": float(df["wall_seconds"].sum()),
        "process": float(df["process_seconds"].sum()),
        "statuses": statuses,
        "overhead_per_run": (wall * jobs - solve) / runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--graph", default="random-layered:n=20,seed=0", help="a small graph (name, file or generator spec)"
    )
    parser.add_argument("--formulation", default="heuristic")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (a shared machine makes these figures noisy)"
    )
    print(f"{args.runs} runs of {args.formulation} {params or ''} on {args.graph}, budget 100 %, distinct seeds\n")
    print(
        "| jobs | total wall s | sum solve s | sum in-child execute s | sum child process s | wall / (solve / jobs) | harness s per run per job slot |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="moccasin-harness-") as tmp:
        for jobs in args.jobs:
            r = measure(args.runs, jobs, args.graph, args.formulation, params, Path(tmp))
            ratio = r["wall"] / (r["solve"] / jobs) if r["solve"] > 0 else float("inf")
            print(
                f"| {jobs} | {r['wall']:.1f} | {r['solve']:.2f} | {r['execute']:.2f} | {r['process']:.1f} | {ratio:.1f} | "
                f"{r['overhead_per_run']:.3f} |",
                flush=True,
            )
            if set(r["statuses"]) - {"feasible", "optimal"}:
                print(f"  statuses: {r['statuses']}")
    print(
        "\nharness s per run per job slot = (total wall x jobs - sum solve) / runs: what one run costs beyond its solve"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
