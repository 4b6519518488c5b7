"""Proven lower bounds for the fastsa grid's cells: how far from optimal the annealer and the exact models are.

Each cell gets Moccasin in both orders for 10 minutes, warm-started from the annealer (a tenth of the time, at
most C = 2 computations per node, so that the model can express its schedule): the run's schedule is at least
as good as that start, and CP-SAT spends the rest improving it and raising its bound. A bound holds within
the model's restrictions only (free order: at most 2 computations per node; fixed order: the reference order's
stage grid as well); the report says so beside each bound. `live-bound` adds a bound over all schedules (any
order, any recomputation: values forced live at a node's first computation, formulations/_live_bound.py) and the
heuristics' schedule beside it.
"""

from __future__ import annotations

from experiments.fastsa import GRAPHS
from moccasin_bench.experiment import Experiment, Mode
from moccasin_bench.method import Method

SHARE = 0.1  # of the time limit, for the annealer's warm start
METHODS = (
    Method(
        "moccasin[order=free]",
        {"warm_start": "annealing", "heuristic_share": SHARE},
        "Moccasin without the fixed order, started from the annealer: bounds every order, C = 2",
    ),
    Method(
        "moccasin[order=fixed]",
        {"warm_start": "annealing", "heuristic_share": SHARE, "search": "cpsat"},
        "the paper's model (fixed order, C = 2), started from the fixed-order annealer; one CP-SAT solve for the "
        "rest of the time (the window search that `auto` runs on large models proves no bound)",
    ),
    Method(
        "live-bound",
        {},
        "a bound over all schedules (values forced live unless recomputed; CP-SAT), half the limit, and the "
        "heuristics' cheapest schedule",
    ),
)

# Full mode: the protocol, 10 minutes per cell and method, two runs at a time with one thread each:
# 6 graphs x 3 budgets x 2 methods = 36 runs, at most 3 hours (less where a model proves optimality).
FULL = Mode(name="full", time_limits={}, other_limit=600, jobs=2, threads=1)

# Quick mode: one minute per run, about 20 minutes on 2 cores.
QUICK = Mode(
    name="quick",
    time_limits={},
    other_limit=60,
    jobs=2,
    threads=1,
    summary="Quick mode gives each model one minute (the full mode: ten), so its bounds are weaker.",
)

EXPERIMENT = Experiment(
    name="bounds",
    title="Proven lower bounds on the fastsa grid",
    description="Moccasin (free and fixed order, warm-started by the annealer) for 10 minutes a cell: "
    "schedules and proven bounds on RL1-RL4, CM1, CM2 x 90 / 80 / 70 %",
    graphs=GRAPHS,
    budgets=(0.9, 0.8, 0.7),
    methods=METHODS,
    quick=QUICK,
    full=FULL,
)
