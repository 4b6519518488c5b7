"""The Moccasin paper's grid (ICML 2023, Table 2): RL1–RL4, CM1, CM2 × 90 % / 80 % × Moccasin
in fixed order (the paper's model), Checkmate MILP (HiGHS), Checkmate LP + rounding, plus
Moccasin in free order and the heuristics; and the paper's figures (`PUBLISHED`), printed beside ours."""

from __future__ import annotations

import os

from moccasin_bench.experiment import Experiment, Mode, WorkLimit
from moccasin_bench.method import Method
from moccasin_bench.report.published import PaperResult, PublishedTable

PAPER_START = {"warm_start": "heuristics", "search": "auto"}

METHODS = (
    # the paper's start (the staged heuristics) and search: the default start portfolio would mix other
    # methods' schedules into the paper's method (and change the keys of the runs stored under these)
    Method("moccasin[order=fixed]", {"copies": 2, **PAPER_START}, "the paper's model: fixed order, C = 2"),
    Method("moccasin[order=free]", {"copies": 2, **PAPER_START}, "Moccasin without the fixed order"),
    Method("checkmate-milp[backend=highs]", {}, "Checkmate's MILP on HiGHS"),
    Method("checkmate-lp", {}, "Checkmate's LP relaxation + rounding"),
    Method("heuristic[strategy=best]", {}, "every heuristic, the cheapest schedule that fits"),
)

# Full mode: the paper's time limits (it reports Moccasin's best at ~1,800 s on RL3 and
# ~3,600 s on RL4, Checkmate's MILP up to ~700 s on RL2 / CM2). Checkmate's O(n^2) models
# are left out where the paper left them out (LP on RL3, both on RL4).
FULL = Mode(
    name="full",
    time_limits={"rl1": 600, "cm1": 600, "rl2": 1800, "cm2": 1800, "rl3": 1800, "rl4": 3600},
    other_limit=600,
    caps={"heuristic": 60},
    skip={
        ("rl3", "checkmate-lp"): "as the paper",
        ("rl4", "checkmate-milp[backend=highs]"): "as the paper",
        ("rl4", "checkmate-lp"): "as the paper",
    },
    skip_note="Checkmate's LP+rounding on RL3 and both Checkmate models on RL4 are not run, as in the paper "
    "(its O(n²) models are too large there).",
    jobs=1,
    threads=max(1, os.cpu_count() or 1),
)

# Quick mode's load-independent limits (results/README.md says which cells still depend on the machine's load):
# Moccasin's CP-SAT solves stop at a deterministic time (its `deterministic_time`), 0.125 (fixed order) and 0.25
# (free order) deterministic seconds per second of the run's limit (measured here: one deterministic second took
# 0.6 to 4.4 s of CPU on one thread, the fixed-order model the slow end), so that on an idle machine they end
# within about half the old wall-clock limits; the wall-clock limit, four times as long, stays as a safety net, so
# the deterministic time decides as long as a run gets about an eighth of a core (with twice the deterministic
# time and twice the limit, runs on this machine at a load of 15, a fifth of a core each, all hit the wall clock).
# Only on RL1, RL2, CM1, CM2: on RL3 and RL4 the model is too large for one CP-SAT solve and search=auto runs the
# window search and the staged heuristics' start, which follow the clock. HiGHS (Checkmate's MILP and LP) has no
# deterministic-time or work limit (only node and iteration counts, which do not bound a solve's time); the
# heuristics' local search runs to its 10 s cap.
CPSAT_GRAPHS = ("rl1", "rl2", "cm1", "cm2")

# Quick mode: short limits so the grid and its report finish in about 10 minutes on 2
# cores (two runs at a time, one solver thread each: on a fixed wall budget that gave
# better schedules than one run with two threads at half the limit; see results/README.md).
# Checkmate's O(n^2) models on RL3 / RL4 take longer than these limits just to build.
QUICK = Mode(
    name="quick",
    time_limits={"rl1": 15, "cm1": 15, "rl2": 25, "cm2": 25, "rl3": 30, "rl4": 45},
    other_limit=15,
    caps={"heuristic": 10},
    skip={
        ("rl3", "checkmate-milp[backend=highs]"): "quick mode",
        ("rl3", "checkmate-lp"): "quick mode",
        ("rl4", "checkmate-milp[backend=highs]"): "quick mode",
        ("rl4", "checkmate-lp"): "quick mode",
    },
    skip_note="Quick mode does not run Checkmate's MILP and LP on RL3 and RL4: their O(n²) models take longer than "
    "the quick limits just to build (the paper's MILP ran out of time on RL3 after 30 minutes).",
    grace_seconds=20,
    jobs=2,
    threads=1,
    work_limits={
        "moccasin[order=fixed]": WorkLimit("deterministic_time", 0.125, safety=4, graphs=CPSAT_GRAPHS),
        "moccasin[order=free]": WorkLimit("deterministic_time", 0.25, safety=4, graphs=CPSAT_GRAPHS),
    },
    summary="Quick mode is a smoke test of the whole pipeline with limits far below the paper's (which ran up to "
    "3,600 s per run on 16 cores): expect `no solution` where the paper's solvers needed minutes, and "
    "larger TDI. Run without --quick for the paper's limits. Moccasin's CP-SAT solves on RL1, RL2, CM1 and CM2 stop "
    "at a deterministic time (0.125 s per second of the limit in fixed order, 0.25 in free order; the wall-clock "
    "limits shown are 4 x as long, a safety net), so those cells do not depend on the machine's load; the others "
    "follow the wall clock (results/README.md says which cells are expected to vary).",
)

EXPERIMENT = Experiment(
    name="paper",
    title="Moccasin paper reproduction",
    description="the Moccasin paper's Table 2: RL1-RL4, CM1, CM2 x 90 % / 80 % x Moccasin, Checkmate, heuristics",
    graphs=("rl1", "rl2", "rl3", "rl4", "cm1", "cm2"),
    budgets=(0.9, 0.8),
    methods=METHODS,
    quick=QUICK,
    full=FULL,
    baselines=True,  # and every registered comparison baseline (moccasin_bench/experiment.py)
    published=("paper",),
    effort_ratios=(("checkmate-milp[backend=highs]", "moccasin[order=fixed]"),),
)

# ---- the paper's Table 2, printed beside ours ------------------------------------------------

PAPER_SOURCE = "Bartan et al., Moccasin, ICML 2023, Table 2 (16-core workstation)"

PAPER_RESULTS: dict[tuple[str, float, str], PaperResult] = {
    ("rl1", 0.9, "checkmate-milp"): PaperResult(0.8, "89.2 %", 18.5),
    ("rl1", 0.9, "moccasin-fixed"): PaperResult(0.8, "88.1 %", 9.3),
    ("rl1", 0.8, "checkmate-milp"): PaperResult(2.3, "79.5 %", 22.7),
    ("rl1", 0.8, "moccasin-fixed"): PaperResult(2.3, "79.5 %", 9.5),
    ("rl2", 0.9, "checkmate-milp"): PaperResult(0.9, "132,130", 685.1),
    ("rl2", 0.9, "checkmate-lp"): PaperResult(93.0, "178,200", 401.7),
    ("rl2", 0.9, "moccasin-fixed"): PaperResult(0.9, "131,831", 55.0),
    ("rl2", 0.8, "checkmate-milp"): PaperResult(note="time limit"),
    ("rl2", 0.8, "checkmate-lp"): PaperResult(328.6, "181,200", 696.9),
    ("rl2", 0.8, "moccasin-fixed"): PaperResult(4.9, "117,400", 639.5),
    ("rl3", 0.9, "checkmate-milp"): PaperResult(note="time limit"),
    ("rl3", 0.8, "checkmate-milp"): PaperResult(note="time limit"),
    ("rl3", 0.9, "moccasin-fixed"): PaperResult(0.7, None, 1803.0),
    ("rl3", 0.8, "moccasin-fixed"): PaperResult(3.4, None, 1805.0),
    ("rl4", 0.9, "moccasin-fixed"): PaperResult(0.7, None, 3613.0),
    ("rl4", 0.8, "moccasin-fixed"): PaperResult(3.4, None, 3612.0),
    ("cm1", 0.9, "checkmate-milp"): PaperResult(0.0, None, 6.3),
    ("cm1", 0.8, "checkmate-milp"): PaperResult(0.1, None, 5.6),
    ("cm1", 0.9, "checkmate-lp"): PaperResult(0.0),
    ("cm1", 0.8, "checkmate-lp"): PaperResult(0.1),
    ("cm1", 0.9, "moccasin-fixed"): PaperResult(0.0, None, 3.1),
    ("cm1", 0.8, "moccasin-fixed"): PaperResult(0.1, None, 3.1),
    ("cm2", 0.9, "checkmate-milp"): PaperResult(0.1, None, 434.0),
    ("cm2", 0.8, "checkmate-milp"): PaperResult(0.3, None, 485.0),
    ("cm2", 0.9, "checkmate-lp"): PaperResult(0.1),
    ("cm2", 0.8, "checkmate-lp"): PaperResult(0.5),
    ("cm2", 0.9, "moccasin-fixed"): PaperResult(0.2, None, 65.0),
    ("cm2", 0.8, "moccasin-fixed"): PaperResult(0.3, None, 69.0),
}


PUBLISHED = PublishedTable(
    key="paper",
    heading="Beside the paper",
    source=PAPER_SOURCE,
    method_names={
        "moccasin-fixed": "Moccasin (fixed)",
        "checkmate-milp": "Checkmate MILP",
        "checkmate-lp": "Checkmate LP+rounding",
    },
    results=PAPER_RESULTS,
    match={
        "moccasin[order=fixed]": "moccasin-fixed",
        "checkmate-milp": "checkmate-milp",  # any backend
        "checkmate-lp": "checkmate-lp",
    },
    note="A peak there is either a percentage of the reference peak or an absolute figure, as the paper prints it.",
)
