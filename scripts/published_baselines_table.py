"""The published baselines (dtr, rotor, torch-sac) beside the solvers and PyTorch's own methods on the
PyTorch catalogue: TDI per model and budget, and each method's lowest budget reached (issue 22).

Each run is `moccasin-bench solve` in its own process (the harness's child, time limit and kill),
1 thread; every schedule is simulated by the harness. Runs are cached as JSON under
OUT/runs/, so a killed table resumes. The fast deterministic methods (dtr, rotor, torch-sac,
torch-checkpoint) are also bisected in process for the smallest budget fraction they reach.

    python scripts/published_baselines_table.py -o results/reference/published-baselines --time-limit 30 --jobs 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's code, not an installed copy

GRAPHS = ("pt-resnet18", "pt-resnet50", "pt-mobilenetv2", "pt-unet", "pt-gpt", "pt-vit-b16")
BUDGETS = (0.9, 0.7, 0.5, 0.3)
METHODS = ("moccasin", "annealing", "dtr", "rotor", "torch-sac", "torch-partitioner", "torch-checkpoint")
FAST = ("dtr", "rotor", "torch-sac", "torch-checkpoint")  # deterministic and quick: bisected for their lowest budget
PARTITIONER_LIMIT = 60  # default: its re-trace and knob search need 30-45 s on an idle machine (the catalogue's floor)


def run_one(out: Path, graph: str, method: str, fraction: float, limit: float, partitioner_limit: float) -> dict:
    path = out / "runs" / f"{graph}_{method}_{int(round(fraction * 100))}.json"
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    t = partitioner_limit if method == "torch-partitioner" else limit
    cmd = [sys.executable, "-m", "moccasin_bench.cli", "solve", graph, "-f", method, "--budget", str(fraction)]
    cmd += ["--time-limit", str(t), "--threads", "1", "--quiet", "-o", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if not path.exists():
        doc = {"status": "error", "message": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        path.write_text(json.dumps(doc))
    return json.loads(path.read_text())


def lowest_fraction(graph_name: str, method: str, resolution: float = 0.01) -> float | None:
    """The smallest budget fraction (to `resolution`) at which the method returns a fitting schedule,
    by bisection between the minimum feasible budget and 1 (assumes fitting is monotone in the budget)."""
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    g = load_graph(graph_name)

    def fits(f: float) -> bool:
        b = resolve_budget(g, fraction=f)
        if b.bytes < g.min_feasible_budget:
            return False
        return solve_in_process(g, b, method, {}, time_limit_seconds=60, threads=1).status in ("optimal", "feasible")

    if not fits(1.0):
        return None
    lo, hi = 0.0, 1.0  # lo does not fit (or is unknown), hi fits
    while hi - lo > resolution:
        mid = round((lo + hi) / 2, 6)
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def cell(doc: dict | None) -> str:
    if doc is None:
        return ""
    status = doc.get("status")
    if status in ("optimal", "feasible"):
        return f"{doc['tdi_percent']:.2f}"
    return {"no_solution": "–", "infeasible": "inf.", "error": "err", "invalid": "INVALID"}.get(status, status or "?")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="results/reference/published-baselines")
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--partitioner-limit",
        type=float,
        default=PARTITIONER_LIMIT,
        help="the partitioner's limit (its re-trace alone takes 5-50 s depending on load); "
        "runs cached with an older limit are kept",
    )
    ap.add_argument("--graphs", default=",".join(GRAPHS))
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    out = Path(args.out)
    graphs, methods = args.graphs.split(","), args.methods.split(",")
    tasks = [(g, m, f) for g in graphs for f in BUDGETS for m in methods]
    with ThreadPoolExecutor(args.jobs) as pool:
        docs = list(pool.map(lambda t: run_one(out, t[0], t[1], t[2], args.time_limit, args.partitioner_limit), tasks))
    result = {(g, m, f): d for (g, m, f), d in zip(tasks, docs)}
    lowest_path = out / "lowest.json"
    lowest = json.loads(lowest_path.read_text()) if lowest_path.exists() else {}
    for g in graphs:
        for m in methods:
            if m in FAST and f"{g}/{m}" not in lowest:
                lowest[f"{g}/{m}"] = lowest_fraction(g, m)
                lowest_path.write_text(json.dumps(lowest, indent=1))
    lines = [
        "TDI % per catalogue model and budget (fraction of the plain step's schedulable peak); "
        "– = no schedule found (no_solution), inf. = below the graph's minimum feasible budget.",
        f"Solver methods {args.time_limit:g} s, 1 thread, {args.jobs} runs at a time; the partitioner's limit: "
        "see its runs' `wall_seconds` (re-run with --partitioner-limit where load starved it). "
        "dtr = the best of its five scores.",
        "",
        "| graph | budget | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for g in graphs:
        for f in BUDGETS:
            lines.append(f"| `{g}` | {f:.0%} | " + " | ".join(cell(result[(g, m, f)]) for m in methods) + " |")
    lines += [
        "",
        "Lowest budget reached: the smallest of the four budgets with a schedule; for the fast deterministic "
        "methods also the smallest fraction found by bisection (1 % resolution).",
        "",
        "| graph | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for g in graphs:
        cells = []
        for m in methods:
            ok = [f for f in BUDGETS if result[(g, m, f)].get("status") in ("optimal", "feasible")]
            text = f"{min(ok):.0%}" if ok else "none"
            if m in FAST and lowest.get(f"{g}/{m}") is not None:
                text += f" ({lowest[f'{g}/{m}']:.0%})"
            cells.append(text)
        lines.append(f"| `{g}` | " + " | ".join(cells) + " |")
    details = [
        {
            "graph": g,
            "method": m,
            "fraction": f,
            **{k: result[(g, m, f)].get(k) for k in ("status", "tdi_percent", "peak_memory", "budget", "message")},
            "variant": {
                k: v
                for k, v in (result[(g, m, f)].get("variant") or {}).items()
                if k in ("chosen_score", "chosen_policy", "k", "stages", "knob", "chosen_pattern", "recomputations")
            },
        }
        for (g, m, f) in tasks
    ]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "runs.json").write_text(json.dumps(details, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
