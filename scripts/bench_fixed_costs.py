#!/usr/bin/env python
"""Where the time of a small solve goes: process start, imports, graph and budget, warm start,
model building, CP-SAT, and the child process of `moccasin-bench solve`.

Phases are measured in fresh interpreters (so every import is cold), each repeated and the
median printed:

- `import`: `import moccasin_bench.cli` and building the parser (what every verb pays);
- `cp-sat import`: importing CP-SAT the way the formulations do (formulations._cpsat);
- `in-process`: `solve_in_process` with CP-SAT already imported: warm start, model build, CP-SAT
  (the time to a proven optimum when the status is optimal), with its phases from the result;
- `whole solve`: the `moccasin-bench solve` command as a user runs it (parent, child, JSON out);
- `whole --in-process`: the same without the child process.

examples:
  python scripts/bench_fixed_costs.py                    # CM1 and RL1 at 90 %, 5 repetitions
  python scripts/bench_fixed_costs.py --instances cm1:0.9 --repeat 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

IN_PROCESS = r"""
import json, sys, time
import formulations._cpsat
from moccasin_bench.budget import resolve_budget
from moccasin_bench.judge import solve_in_process
from moccasin_bench.sources import load_graph
graph, fraction, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
g = load_graph(graph); b = resolve_budget(g, fraction=fraction)
t = time.perf_counter()
r = solve_in_process(g, b, "moccasin", {}, time_limit_seconds=60, threads=threads)
wall = time.perf_counter() - t
v = r.output.variant
print(json.dumps({"wall": wall, "status": r.status, "tdi": r.tdi_percent, "heuristics": v.get("heuristic_seconds"),
                  "build": r.output.build_seconds - (v.get("heuristic_seconds") or 0), "cpsat": r.output.solve_seconds}))
"""


def _seconds(cmd: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - t


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", default="cm1:0.9,rl1:0.9", help="GRAPH:FRACTION,... (default cm1:0.9,rl1:0.9)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each measurement (default 5)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    py = sys.executable
    print(f"fixed costs of a small solve: {args.repeat} runs each, medians; threads={args.threads}")
    base = [_seconds([py, "-c", "pass"]) for _ in range(args.repeat)]
    imp = [
        _seconds([py, "-c", "from moccasin_bench.cli import build_parser; build_parser()"]) for _ in range(args.repeat)
    ]
    cps = [_seconds([py, "-c", "import formulations._cpsat"]) for _ in range(args.repeat)]
    print(
        f"| python start | {_median(base)} s |\n| import moccasin_bench.cli + parser | {_median(imp)} s |\n"
        f"| import CP-SAT (formulations._cpsat) | {_median(cps)} s |"
    )
    for item in args.instances.split(","):
        graph, fraction = item.split(":")
        docs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [py, "-c", IN_PROCESS, graph, fraction, str(args.threads)], cwd=REPO, capture_output=True, text=True
            )
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            docs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                py,
                "-m",
                "moccasin_bench.cli",
                "solve",
                graph,
                "-f",
                "moccasin",
                "--budget",
                fraction,
                "--threads",
                str(args.threads),
                "-q",
                "-o",
                str(Path(tmp) / "s.json"),
            ]
            whole = [_seconds(cmd) for _ in range(args.repeat)]
            inproc = [_seconds(cmd + ["--in-process"]) for _ in range(args.repeat)]
        status = {d["status"] for d in docs}
        print(f"\n{graph} at {float(fraction):.0%}: status {', '.join(sorted(status))}, TDI {docs[0]['tdi']:.3f} %")
        print(f"| in-process solve (CP-SAT imported) | {_median([d['wall'] for d in docs])} s |")
        for key, label in (
            ("heuristics", "  warm-start heuristics"),
            ("build", "  model building"),
            ("cpsat", "  CP-SAT"),
        ):
            print(f"| {label} | {_median([d[key] or 0.0 for d in docs])} s |")
        print(
            f"| whole `moccasin-bench solve` | {_median(whole)} s |\n| whole `solve --in-process` | {_median(inproc)} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
