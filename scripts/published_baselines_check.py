"""Check dtr, rotor and torch-sac on every catalogue model and the paper's graphs (RL1-RL4, CM1, CM2)
at 90 / 70 / 50 / 30 %: each cell must be a schedule the simulator accepts within the budget, an
honest `no_solution` (one line saying why), `infeasible` (below the minimum feasible budget) or,
for torch-sac on a graph not from PyTorch, refused by its requirement. Exit status 1 otherwise.

    python scripts/published_baselines_check.py [--time-limit 30] [-o results/reference/published-baselines/check.md]

The paper's graphs are read from $MOCCASIN_BENCH_DATA (or ../shared/paper-graphs); absent ones are skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GRAPHS = ("pt-resnet18", "pt-resnet50", "pt-mobilenetv2", "pt-unet", "pt-gpt", "pt-vit-b16")
PAPER = ("rl1", "rl2", "rl3", "rl4", "cm1", "cm2")
METHODS = ("dtr", "rotor", "torch-sac")
BUDGETS = (0.9, 0.7, 0.5, 0.3)


def main() -> int:
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.errors import UserError
    from moccasin_bench.formulation import formulation_module, requirement_problem
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.simulate import simulate
    from moccasin_bench.sources import load_graph

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("-o", "--out", default=None)
    args = ap.parse_args()
    lines = [
        "| graph | method | " + " | ".join(f"{b:.0%}" for b in BUDGETS) + " |",
        "|---|---|" + "---|" * len(BUDGETS),
    ]
    bad = 0
    for name in GRAPHS + PAPER:
        try:
            g = load_graph(name)
        except UserError as exc:
            print(f"skipped {name}: {exc}", file=sys.stderr)
            continue
        for method in METHODS:
            if requirement_problem(method, formulation_module(method), g):
                lines.append(f"| `{name}` | {method} | " + " | ".join("n/a" for _ in BUDGETS) + " |")
                continue
            cells = []
            for fraction in BUDGETS:
                budget = resolve_budget(g, fraction=fraction)
                t = time.perf_counter()
                r = solve_in_process(g, budget, method, {}, time_limit_seconds=args.time_limit, threads=1)
                seconds = time.perf_counter() - t
                ok = r.status in ("no_solution", "infeasible") and "\n" not in r.message
                if r.status in ("optimal", "feasible"):
                    ok = simulate(g, r.schedule).fits(budget.bytes) and r.peak_memory <= budget.bytes
                    cells.append(f"{r.tdi_percent:.2f}")
                else:
                    cells.append({"no_solution": "–", "infeasible": "inf."}.get(r.status, r.status.upper()))
                if not ok:
                    bad += 1
                    print(f"FAILED {name} {method} {fraction:.0%}: {r.status} {r.message}", file=sys.stderr)
                print(f"{name} {method} {fraction:.0%}: {r.status} {seconds:.1f} s {r.message[:120]}", flush=True)
            lines.append(f"| `{name}` | {method} | " + " | ".join(cells) + " |")
    text = (
        f"TDI % (– = no_solution, inf. = below the minimum feasible budget, n/a = not a PyTorch graph); "
        f"{args.time_limit:g} s, 1 thread.\n\n" + "\n".join(lines) + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
