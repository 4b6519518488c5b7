"""Anytime curves: objective (and bound) over wall time on RL2 and CM2 at 80 %, three seeds per run; the
store's trajectories table holds every improving solution and bound, the report draws them."""

from __future__ import annotations

from moccasin_bench.experiment import Experiment, Mode
from moccasin_bench.method import Method

METHODS = (
    Method("moccasin[order=fixed]", {}, "the paper's model: fixed order, C = 2"),
    Method("moccasin[order=free]", {}, "Moccasin without the fixed order"),
    Method("checkmate-milp[backend=highs]", {}, "Checkmate's MILP on HiGHS"),
    Method("checkmate-cp", {}, "Checkmate's Boolean model in CP-SAT"),
)
SEEDS = (0, 1, 2)

# Full mode: 30 minutes per run, one run at a time on 2 threads: 2 graphs x 4 methods x 3 seeds = 24 runs, 12 h.
FULL = Mode(name="full", time_limits={}, other_limit=1800, jobs=1, threads=2, seeds=SEEDS)

# Quick mode: 30 s per run, two at a time with one thread: 24 runs, about 6 minutes on 2 cores.
QUICK = Mode(
    name="quick",
    time_limits={},
    other_limit=30,
    jobs=2,
    threads=1,
    seeds=SEEDS,
    grace_seconds=15,
    summary="Quick mode gives each run 30 s (the full mode: 30 minutes): the start of each curve only.",
)

EXPERIMENT = Experiment(
    name="anytime",
    title="Anytime curves: cost over time",
    description="objective over time on RL2 and CM2 at 80 %, three seeds, Moccasin (both orders) and Checkmate",
    graphs=("rl2", "cm2"),
    budgets=(0.8,),
    methods=METHODS,
    quick=QUICK,
    full=FULL,
)
