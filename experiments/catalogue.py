"""Real training steps: the PyTorch catalogue (ResNet-18/50, MobileNetV2, U-Net, a GPT-2-style
decoder, ViT-B/16; docs/pytorch.md) at 90 / 80 / 70 % of the plain step's schedulable peak,
with Moccasin in both orders, Checkmate's MILP, the heuristics and the annealer, and what a
PyTorch user would pick instead: PyTorch's min-cut partitioner (its memory-budget knob
searched) and torch.utils.checkpoint around blocks (every k-th block, k searched).

Budgets and peaks count schedulable bytes; each graph's fixed bytes (parameters, batch,
gradients, optimizer state) are resident on top (the report's graph table says how many).
"""

from __future__ import annotations

from moccasin_bench.catalog import PYTORCH_GRAPHS
from moccasin_bench.experiment import Experiment, Mode
from moccasin_bench.method import Method

# every model of the catalogue (moccasin_bench/catalog.py) but those too large for it (pt-llama: --graphs pt-llama)
GRAPHS = tuple(name for name, g in PYTORCH_GRAPHS.items() if g.default_grid)
METHODS = (
    Method("moccasin[order=fixed]", {}, "the paper's model along the traced step's order"),
    Method("moccasin[order=free]", {}, "Moccasin without the fixed order"),
    Method("checkmate-milp[backend=highs]", {}, "Checkmate's MILP on HiGHS"),
    Method("heuristic[strategy=best]", {}, "every heuristic, the cheapest schedule that fits"),
    Method("annealing[order=free]", {}, "the reordering annealer"),
    Method(
        "torch-partitioner[solver=all]",
        {},
        "PyTorch's min-cut partitioner, its activation-memory-budget knob searched per knapsack solver",
    ),
    Method("torch-checkpoint[pattern=best]", {}, "torch.utils.checkpoint around blocks, k searched"),
)
# The partitioner re-traces the step (a few seconds with torch's import) and runs the partitioner
# once per knob setting (0.3 to 2 s on these graphs): it needs 30 to 45 s whatever the mode.
TORCH_FLOORS = {"torch-partitioner": 60}

# Full mode: 60 s per run (the catalogue issue's protocol): 6 graphs x 3 budgets x 7 methods =
# 126 runs (the checkpoint baseline takes a second), about an hour with two runs at a time on 2 cores.
FULL = Mode(name="full", time_limits={}, other_limit=60, jobs=2, threads=1, floors=TORCH_FLOORS)

# Quick mode: 15 s per run (heuristics 10 s, the PyTorch partitioner 60 s): about 20 minutes on 2 cores.
QUICK = Mode(
    name="quick",
    time_limits={},
    other_limit=15,
    jobs=2,
    threads=1,
    caps={"heuristic": 10},
    floors=TORCH_FLOORS,
    grace_seconds=20,
    summary="Quick mode gives every run 15 s (the PyTorch partitioner 60 s: its search needs it); the full mode 60 s.",
)

EXPERIMENT = Experiment(
    name="catalogue",
    title="Real training steps: the PyTorch catalogue",
    description="the PyTorch catalogue (ResNet-18/50, MobileNetV2, U-Net, GPT, ViT-B/16) x 90 / 80 / 70 % x the formulations",
    graphs=GRAPHS,
    budgets=(0.9, 0.8, 0.7),
    methods=METHODS,
    quick=QUICK,
    full=FULL,
    baselines=True,  # and every registered comparison baseline (moccasin_bench/experiment.py)
)
