"""Experiment grids and published tables: plug-ins, like formulations (see moccasin_bench/experiment.py).

A grid is one module with an `EXPERIMENT` plus one line in REGISTRY (what `reproduce --grid NAME` runs;
the first is the default). A published table (a publication's figures printed beside ours) is a
`PUBLISHED` table in a module plus one line in TABLES. tests/test_experiments.py checks every entry.
"""

REGISTRY = {
    "paper": "experiments.paper",
    "scaling": "experiments.scaling",
    "fastsa": "experiments.fastsa",
    "catalogue": "experiments.catalogue",
    "bounds": "experiments.bounds",
    "anytime": "experiments.anytime",
    "budgets": "experiments.budgets",
    "frontier": "experiments.frontier",
}

TABLES = {
    "paper": "experiments.paper",
    "fastsa": "experiments.fastsa",
}
