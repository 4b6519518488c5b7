"""The cost of tighter memory: TDI against the budget, from 100 % down to 50 % of the reference peak, on
RL1 and CM1 (the paper's budget figure)."""

from __future__ import annotations

from moccasin_bench.experiment import Experiment, Mode
from moccasin_bench.method import Method

METHODS = (
    Method("moccasin[order=fixed]", {"copies": 2}, "the paper's model: fixed order, C = 2"),
    Method("checkmate-milp[backend=highs]", {}, "Checkmate's MILP on HiGHS"),
    Method("heuristic[strategy=best]", {}, "every heuristic, the cheapest schedule that fits"),
)

# Full mode: 300 s per run, one at a time on 2 threads: 2 graphs x 11 budgets x 3 methods = 66 runs, at most 5.5 h.
FULL = Mode(name="full", time_limits={}, other_limit=300, jobs=1, threads=2)

# Quick mode: 20 s per run (heuristics 10 s), two at a time with one thread: about 12 minutes on 2 cores.
QUICK = Mode(
    name="quick",
    time_limits={},
    other_limit=20,
    caps={"heuristic": 10},
    jobs=2,
    threads=1,
    grace_seconds=15,
    summary="Quick mode gives each run 20 s (the full mode: 300 s).",
)

EXPERIMENT = Experiment(
    name="budgets",
    title="TDI against the memory budget",
    description="TDI vs budget from 100 % down to 50 % of the reference peak on RL1 and CM1",
    graphs=("rl1", "cm1"),
    budgets=(1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5),
    methods=METHODS,
    quick=QUICK,
    full=FULL,
)
