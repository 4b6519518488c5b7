"""Issue 21's targets: default `moccasin` against the best single method, per cell of a frontier store.

Reads a store written by `moccasin-bench reproduce --grid frontier --mode targets` (its runs.sqlite) and
prints, per cell (graph, budget): default moccasin's TDI, the best other method and its TDI, whether
moccasin is at most it, whether CP-SAT (or its neighbourhood search) strictly improved moccasin's start and
by how much (variant.cpsat_improved), then the totals: cells where moccasin is at most the best single
method (the target: at least 90 %), cells where another method finds a schedule and moccasin does not (the
target: none), cells where CP-SAT improved its start.

A method is one formulation with one parameter set; "default moccasin" is a moccasin run whose stored
parameters all equal the formulation's defaults. Runs of one seed are compared (--seed, default 0); runs
with another time limit or thread count than moccasin's in the same cell are left out of the comparison.
Usage: python scripts/moccasin_targets.py STORE.sqlite [--seed N] [--tolerance POINTS]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

SOLVED = ("optimal", "feasible")


def _default_params() -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from formulations import moccasin

    return {p.name: p.default for p in moccasin.PARAMS}


def _is_default(params: dict, defaults: dict) -> bool:
    return all(params.get(k, v) == v for k, v in defaults.items()) and set(params) <= set(defaults)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="runs.sqlite of a frontier targets run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=0.0, help="TDI points within which moccasin counts as at most")
    a = ap.parse_args()
    path = Path(a.store)
    if not path.is_file():
        print(f"moccasin_targets: {path}: no such file", file=sys.stderr)
        return 2
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = conn.execute(
            "SELECT graph, budget, budget_fraction, min_feasible_budget, formulation, params, variant, status, "
            "tdi_percent, time_limit_seconds, threads FROM runs WHERE seed = ?",
            (a.seed,),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        print(f"moccasin_targets: {path}: not a runs store ({exc})", file=sys.stderr)
        return 2
    defaults = _default_params()
    cells: dict[tuple[str, int], dict] = {}
    for graph, budget, fraction, minimum, formulation, params, variant, status, tdi, limit, threads in rows:
        params = json.loads(params) if params else {}
        cell = cells.setdefault((graph, budget), {"fraction": fraction, "minimum": minimum, "others": []})
        tdi = tdi if status in SOLVED else None
        if formulation == "moccasin":
            if _is_default(params, defaults):
                v = json.loads(variant) if variant else {}
                cell["moccasin"] = (tdi, (limit, threads), v.get("cpsat_improved"), (v.get("start") or {}))
            continue
        cell["others"].append((formulation, params, tdi, (limit, threads)))

    header = "| graph | budget | moccasin | best other | its TDI | moccasin <= best | CP-SAT improved start (points) |"
    print(header)
    print("|---|---|---:|---|---:|---|---:|")
    counted = at_most = missed = improved = excluded = 0
    gains: list[float] = []
    for (graph, budget), cell in sorted(cells.items(), key=lambda x: (x[0][0], -x[0][1])):
        if "moccasin" not in cell:
            continue
        tdi, setting, gain, start = cell["moccasin"]
        others = [o for o in cell["others"] if o[3] == setting]
        excluded += len(cell["others"]) - len(others)
        solved = [o for o in others if o[2] is not None]
        best = min(solved, key=lambda o: o[2], default=None)
        where = f"{cell['fraction']:.0%}" if cell["fraction"] else f"{budget / cell['minimum']:.2f}x min"
        if best is None and tdi is None:
            verdict = "— (none finds one)"
        else:
            counted += 1
            ok = tdi is not None and (best is None or tdi <= best[2] + a.tolerance)
            at_most += ok
            missed += tdi is None
            verdict = "yes" if ok else "NO"
        if gain:
            improved += 1
            gains.append(float(gain["tdi_points"]))
        label = "—" if best is None else best[0]
        gained = "—" if not gain else "{:.2f} (start {})".format(gain["tdi_points"], start.get("name", "?"))
        print(
            f"| {graph} | {where} | {'—' if tdi is None else f'{tdi:.2f}'} | {label} | "
            f"{'—' if best is None else f'{best[2]:.2f}'} | {verdict} | {gained} |"
        )
    print()
    share = 100.0 * at_most / counted if counted else 0.0
    print(f"cells with a schedule by some method: {counted}")
    if excluded:
        print(f"runs left out (another time limit or thread count than moccasin's in their cell): {excluded}")
    print(f"moccasin <= best single method: {at_most} of {counted} ({share:.0f} %; target >= 90 %)")
    print(f"another method finds a schedule, moccasin none: {missed} (target 0)")
    if gains:
        print(
            f"CP-SAT strictly improved its start in {improved} cells: "
            f"median {sorted(gains)[len(gains) // 2]:.2f}, max {max(gains):.2f} TDI points"
        )
    else:
        print("CP-SAT strictly improved its start in 0 cells")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
