"""Beyond the paper: the reordering annealer against FastSA's published table (Imanishi et al.,
NeurIPS 2023), on the paper's graphs at 90 / 80 / 70 % budgets of the default reference order.

The annealer runs 60 s with five seeds (FastSA's table is one figure per cell; ours is the
median and the worst of the seeds); Moccasin in both orders and the heuristics run once beside
it for context.
"""

from __future__ import annotations

from moccasin_bench.experiment import Experiment, Method, Mode

SEEDS = (0, 1, 2, 3, 4)
METHODS = (
    Method("annealing", "annealing", {"order": "free"}, "our reordering annealer (FastSA's class)"),
    Method("annealing-fixed", "annealing", {"order": "fixed"}, "the annealer on the fixed order's stage grid"),
    Method("moccasin-fixed", "moccasin", {"order": "fixed"}, "the paper's model: fixed order, C = 2"),
    Method("moccasin-free", "moccasin", {"order": "free"}, "Moccasin without the fixed order"),
    Method("heuristic", "heuristic", {"strategy": "best"}, "every heuristic, the cheapest schedule that fits"),
)
GRAPHS = ("rl1", "rl2", "rl3", "rl4", "cm1", "cm2")

# Full mode: the protocol, 60 s per run, five annealer seeds: 6 graphs x 3 budgets x
# (2 x 5 + 3) runs = 234 runs, about 4 hours with one run at a time on 2 threads (less where
# Moccasin proves optimality early).
FULL = Mode(
    name="full",
    time_limits={},
    other_limit=60,
    jobs=1,
    threads=2,
    caps={"heuristic": 30},
    method_seeds={"annealing": SEEDS, "annealing-fixed": SEEDS},
)

# Quick mode: 15 s per run, the annealer with one seed, two runs at a time with one thread:
# 6 x 3 x 5 = 90 runs, about 12 minutes on 2 cores.
QUICK = Mode(
    name="quick",
    time_limits={},
    other_limit=15,
    jobs=2,
    threads=1,
    caps={"heuristic": 10},
    grace_seconds=15,
    summary="Quick mode runs each method once for 15 s (the full mode: 60 s and five annealer seeds, FastSA's "
    "protocol): the annealer's figures here are one seed's.",
)

EXPERIMENT = Experiment(
    name="fastsa",
    title="The reordering annealer beside FastSA",
    description="the annealer (five seeds) against FastSA's published TDI on RL1-RL4, CM1, CM2 x 90 / 80 / 70 %",
    graphs=GRAPHS,
    budgets=(0.9, 0.8, 0.7),
    methods=METHODS,
    quick=QUICK,
    full=FULL,
    published=("fastsa",),
)
