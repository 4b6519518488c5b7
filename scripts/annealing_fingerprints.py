#!/usr/bin/env python
"""Fingerprints of annealing runs under a move budget, to show that a change of the annealer's
code leaves its results alone: run before and after the change and compare the two outputs.

    git stash; python scripts/annealing_fingerprints.py > before.jsonl; git stash pop
    python scripts/annealing_fingerprints.py > after.jsonl
    diff before.jsonl after.jsonl && echo identical

One JSON line per run: status, cost, the trajectory's costs, a hash of the schedule and the
move counters (proposed, decided, applied, accepted by kind, improvements), the cycles, the
least peak and the rescue's outcome; no timings. The runs cover the stand-ins of RL1, CM1
and RL2 at 90 % and 70 % in both orders with two seeds, and RL1 at 72 % with the optional
proposal kinds (peak-aimed moves, the step count), the plain peak, the debug check, the
heuristic start and one cycle. With `max_moves` set a run depends only on its seed, unless
the staged-repair rescue or the heuristic start is cut by the clock (on a very slow machine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KEEP = (
    "moves_proposed",
    "moves_decided",
    "moves_applied",
    "moves_accepted",
    "accepted_add_remove_move",
    "best_improvements",
    "cycles",
    "stopped_by",
    "least_peak",
    "start_schedule",
    "span",
    "smooth_tau",
    "debug_failures",
)
EXTRAS = (
    {"p_focus": 0.4, "count_weight": 0.5},
    {"smooth": 0.0, "p_focus": 0.3},
    {"debug": True},
    {"start": "heuristics"},
    {"restarts": 0, "local": 0.2, "span": 5},
)


def cases():
    for graph in ("rl1-gen", "cm1-gen", "rl2-gen"):
        for fraction in (0.9, 0.7):
            for order in ("free", "fixed"):
                for seed in (0, 5):
                    yield graph, fraction, order, seed, {}
    for extra in EXTRAS:
        for order in ("free", "fixed"):
            yield "rl1-gen", 0.72, order, 3, extra


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=200_000, help="max_moves of every run")
    args = ap.parse_args(argv)

    import numpy as np

    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.sources import load_graph

    graphs = {}
    for name, fraction, order, seed, extra in cases():
        g = graphs.setdefault(name, load_graph(name))
        params = {"max_moves": args.moves, "order": order, **extra}
        r = solve_in_process(g, resolve_budget(g, fraction), "annealing", params, time_limit_seconds=1e6, seed=seed)
        v = r.output.variant
        line = {
            "case": [name, fraction, order, seed, extra],
            "status": r.status,
            "objective": r.output.objective,
            "trajectory_costs": [c for _, c in r.output.trajectory],
            "schedule": None
            if r.output.schedule is None
            else hashlib.sha256(np.asarray(r.output.schedule, dtype=np.int64).tobytes()).hexdigest()[:16],
            **{k: v[k] for k in KEEP if k in v},
        }
        if "rescue" in v:
            line["rescue"] = {k: x for k, x in v["rescue"].items() if k != "seconds"}
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
