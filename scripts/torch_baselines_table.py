"""Moccasin against the PyTorch baselines on the catalogue: one row per model and budget.

    python scripts/torch_baselines_table.py --store results/torchbase/runs.sqlite
    python scripts/torch_baselines_table.py --store STORE --same-peak --time-limit 30

Reads a results store with runs of `moccasin` (fixed and/or free order), `torch-partitioner`
and `torch-checkpoint` at fractional budgets (the catalogue grid, or
results/torchbase/grid.toml) and prints, per graph and budget, each method's TDI and
simulated peak (as % of the reference peak) and the baselines' settings (the partitioner's
knob and knapsack solver, the checkpoint pattern and k).

A baseline usually lands below the budget (its knob moves in steps), so the fair
comparison is at the SAME simulated peak: with --same-peak, Moccasin (order given by
--order) is also solved with the budget set to each baseline's simulated peak, in this
process, one run at a time (--time-limit, --threads), and its TDI printed beside the
baseline's. Those solves are cached in STORE's folder (torch-same-peak.json) by graph,
budget bytes, order and limit, so a second call prints at once.

Markdown table on stdout (--csv FILE writes every figure too).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASELINES = ("torch-partitioner", "torch-checkpoint")


def _load(store: Path):
    from moccasin_bench.store import load_runs

    runs = load_runs(store)
    runs = runs[runs["budget_fraction"].notna()]
    out: dict[tuple[str, float], dict[str, dict]] = {}
    for r in runs.itertuples():
        params = json.loads(r.params) if isinstance(r.params, str) else {}
        method = r.formulation if r.formulation != "moccasin" else f"moccasin-{params.get('order', 'fixed')}"
        variant = json.loads(r.variant) if isinstance(r.variant, str) and r.variant else {}
        cell = {
            "status": r.status,
            "tdi": None if r.tdi_percent != r.tdi_percent else r.tdi_percent,
            "peak": None if r.peak_memory != r.peak_memory else int(r.peak_memory),
            "reference_peak": int(r.reference_peak),
            "variant": variant,
            "message": r.message,
            "time_limit": r.time_limit_seconds,
        }
        out.setdefault((r.graph, round(float(r.budget_fraction), 4)), {})[method] = cell
    return out


def _setting(method: str, cell: dict) -> str:
    v = cell["variant"]
    if cell["status"] not in ("optimal", "feasible"):
        if "smallest_peak" in v and v["smallest_peak"] is not None:
            return f"smallest peak {100 * v['smallest_peak'] / cell['reference_peak']:.1f} %"
        return ""
    if method == "torch-partitioner":
        return f"knob {v.get('knob', '?'):g}, {v.get('chosen_solver', '?')}"
    if method == "torch-checkpoint":
        pattern = v.get("chosen_pattern", "?")
        return f"{pattern}, k={v.get('k', '?')}" if pattern != "none" else "none"
    return ""


def _fmt_tdi(cell: dict | None) -> str:
    if cell is None:
        return "—"
    if cell["status"] not in ("optimal", "feasible"):
        return cell["status"]
    star = "*" if cell["status"] == "optimal" else ""
    return f"{cell['tdi']:.2f}{star}"


def _fmt_peak(cell: dict | None) -> str:
    if cell is None or cell["peak"] is None:
        return ""
    return f"{100 * cell['peak'] / cell['reference_peak']:.1f} %"


def same_peak(graph_name: str, peak: int, order: str, limit: float, threads: int, cache: dict) -> dict:
    """Moccasin at an absolute budget = a baseline's simulated peak (cached)."""
    key = f"{graph_name}|{peak}|{order}|{limit:g}|{threads}"
    if key in cache:
        return cache[key]
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    g = load_graph(graph_name)
    r = solve_in_process(
        g, resolve_budget(g, absolute=peak), "moccasin", {"order": order}, time_limit_seconds=limit, threads=threads
    )
    cache[key] = {"status": r.status, "tdi": r.tdi_percent, "peak": r.peak_memory}
    return cache[key]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--same-peak", action="store_true", help="also solve Moccasin at each baseline's simulated peak")
    ap.add_argument("--order", default="fixed", choices=("fixed", "free"), help="Moccasin's order for --same-peak")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per --same-peak solve")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--csv", type=Path, help="write every figure to this CSV file too")
    ap.add_argument(
        "--figure", type=Path, help="draw TDI against simulated peak, one panel per model, into this PNG/SVG file"
    )
    args = ap.parse_args(argv)
    if not args.store.is_file():
        print(f"no such store: {args.store}", file=sys.stderr)
        return 2
    cells = _load(args.store)
    cache_path = args.store.parent / "torch-same-peak.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    header = [
        "graph",
        "budget",
        "Moccasin fixed: TDI % (peak)",
        "Moccasin free: TDI % (peak)",
        "partitioner: TDI % (peak)",
        "partitioner setting",
        "checkpoint: TDI % (peak)",
        "checkpoint setting",
    ]
    if args.same_peak:
        header += [f"Moccasin {args.order} at partitioner's peak", f"Moccasin {args.order} at checkpoint's peak"]
    rows, flat = [], []
    order = ["pt-resnet18", "pt-resnet50", "pt-mobilenetv2", "pt-unet", "pt-gpt", "pt-vit-b16"]
    keys = sorted(cells, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[0], -k[1]))
    for graph_name, fraction in keys:
        here = cells[(graph_name, fraction)]
        row = [f"`{graph_name}`", f"{100 * fraction:g} %"]
        for m in ("moccasin-fixed", "moccasin-free"):
            c = here.get(m)
            row.append(f"{_fmt_tdi(c)} ({_fmt_peak(c)})" if c and c["peak"] else _fmt_tdi(c))
        for m in BASELINES:
            c = here.get(m)
            row.append(f"{_fmt_tdi(c)} ({_fmt_peak(c)})" if c and c["peak"] else _fmt_tdi(c))
            row.append(_setting(m, c) if c else "")
        same = {}
        if args.same_peak:
            for m in BASELINES:
                c = here.get(m)
                if c and c["status"] in ("optimal", "feasible"):
                    s = same_peak(graph_name, c["peak"], args.order, args.time_limit, args.threads, cache)
                    cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True))
                    same[m] = s
                    row.append(f"{_fmt_tdi(s)} vs {c['tdi']:.2f}")
                else:
                    row.append("—")
        rows.append(row)
        for m, c in here.items():
            at_peak = {f"moccasin_{args.order}_at_same_peak_tdi": (same.get(m) or {}).get("tdi")} if same else {}
            flat.append(
                {
                    "graph": graph_name,
                    "budget_fraction": fraction,
                    "method": m,
                    "status": c["status"],
                    "tdi_percent": c["tdi"],
                    "peak": c["peak"],
                    "peak_percent": None if c["peak"] is None else 100 * c["peak"] / c["reference_peak"],
                    "setting": _setting(m, c),
                    "time_limit_seconds": c["time_limit"],
                    **at_peak,
                }
            )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.csv:
        import pandas as pd

        pd.DataFrame(flat).to_csv(args.csv, index=False)
    if args.figure:
        draw(flat, args.figure)
    return 0


LABELS = {
    "moccasin-fixed": ("Moccasin (fixed)", "o"),
    "moccasin-free": ("Moccasin (free)", "s"),
    "torch-partitioner": ("PyTorch partitioner", "^"),
    "torch-checkpoint": ("PyTorch checkpoint", "v"),
}


def draw(flat: list[dict], path: Path) -> None:
    """TDI against the simulated peak (% of the reference peak), one panel per model: where each
    method's schedules land (a baseline usually lands below the budget it was given), the
    budgets as dotted lines."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graphs = list(dict.fromkeys(r["graph"] for r in flat))
    cols = 3
    rows = math.ceil(len(graphs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(graphs) :]:
        ax.set_visible(False)
    for ax, graph in zip(axes.flat, graphs):
        here = [r for r in flat if r["graph"] == graph]
        for budget in sorted({r["budget_fraction"] for r in here}):
            ax.axvline(100 * budget, color="0.8", linestyle=":", linewidth=1)
        for method, (label, marker) in LABELS.items():
            pts = sorted(
                (r["peak_percent"], r["tdi_percent"])
                for r in here
                if r["method"] == method and r["status"] in ("optimal", "feasible")
            )
            if pts:
                ax.plot(*zip(*pts), marker=marker, linestyle="-", linewidth=0.8, label=label)
        ax.set_title(graph)
        ax.set_xlabel("simulated peak (% of the plain step's)")
        ax.set_ylabel("TDI (%)")
        ax.set_yscale("symlog", linthresh=0.1)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
