"""The live-value bound (formulations/_live_bound.py) on graphs x budgets, beside the best schedules known.

For each graph and budget: the bound over all schedules (any order, any recomputation) as a TDI %, how it
was proven (cover rows and variables, CP-SAT's status), its seconds, and, from reference tables (the
`table.csv` a report writes), the cheapest valid schedule of that graph and budget and its gap to the bound.
Usage:
  python scripts/live_bound_table.py GRAPH[,GRAPH] [--budgets 0.9,0.8,0.7] [--minimum-factors 1,1.25]
      [--against results/reference/bounds/table.csv ...] [--time-limit 60] [--data-dir DIR] [-o table.md]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's formulations and engine


def best_known(tables: list[Path]) -> dict[tuple[str, int], tuple[float, str, str]]:
    """(graph name lower-cased, budget bytes) -> (least TDI %, method, table) over the valid rows of `tables`."""
    out: dict[tuple[str, int], tuple[float, str, str]] = {}
    for path in tables:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if (
                    row.get("status") not in ("optimal", "feasible")
                    or not row.get("tdi_percent")
                    or not row.get("budget")
                ):
                    continue
                key = (row["graph"].lower(), int(float(row["budget"])))
                tdi = float(row["tdi_percent"])
                if key not in out or tdi < out[key][0]:
                    out[key] = (tdi, row["method"], str(path))
    return out


def show(models: dict, model: str, sum_duration: int) -> str:
    """One model's proven bound as a TDI % with CP-SAT's status, or why there is none."""
    if model not in models:
        return "–"
    status, added = models[model]
    return f"{100.0 * added / sum_duration:.4f} ({status})" if added is not None else status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graphs")
    ap.add_argument("--budgets", default="0.9,0.8,0.7,0.6,0.5,0.4")
    ap.add_argument("--minimum-factors", default="", help="also budgets at these multiples of the minimum")
    ap.add_argument("--against", nargs="*", default=[], help="table.csv files with schedules to compare")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--model", default="order", choices=("order", "ancestors"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("-o", "--output", default=None)
    a = ap.parse_args()

    from formulations._live_bound import live_bound
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.sources import load_graph

    known = best_known([Path(p) for p in a.against])
    lines = [
        "| Graph | Budget | Bytes | Bound TDI % | Status | Ancestors model | Order model | Rows / vars | Bound s "
        "| Best known TDI % | Gap (pts) | Best by |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in a.graphs.split(","):
        g = load_graph(name, data_dir=a.data_dir)
        budgets = [(f"{100 * float(x):g} %", resolve_budget(g, fraction=float(x))) for x in a.budgets.split(",") if x]
        for k in filter(None, a.minimum_factors.split(",")):
            budgets.append((f"{k} x min", resolve_budget(g, minimum=float(k))))
        for label, budget in budgets:
            t0 = time.perf_counter()
            found = live_bound(g, budget.bytes, a.time_limit, model=a.model)
            seconds = time.perf_counter() - t0
            if found.added_duration is None:
                text = found.status
                bound_tdi = math.nan
            else:
                bound_tdi = 100.0 * found.added_duration / g.sum_duration if g.sum_duration else 0.0
                text = f"{bound_tdi:.4f}"
            models = {m: (st, b) for m, st, b in found.by_model}
            best = known.get((name.lower(), budget.bytes))
            best_text = f"{best[0]:.4f}" if best else "–"
            gap = f"{best[0] - bound_tdi:.4f}" if best and not math.isnan(bound_tdi) else "–"
            lines.append(
                f"| {name} | {label} | {budget.bytes:,} | {text} | {found.status} | {show(models, 'ancestors', g.sum_duration)} | {show(models, 'order', g.sum_duration)} "
                f"| {found.rows} / {found.variables} "
                f"| {seconds:.2f} | {best_text} | {gap} | {best[1] if best else '–'} |"
            )
            print(lines[-1], flush=True)
    if a.output:
        Path(a.output).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
