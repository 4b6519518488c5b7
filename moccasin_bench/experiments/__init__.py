"""Experiments that `moccasin-bench reproduce --grid NAME` runs (see moccasin_bench/experiment.py).

Adding one is one module with an `EXPERIMENT` plus one line here. The first is the default.
"""

REGISTRY = {
    "paper": "moccasin_bench.experiments.paper",
    "scaling": "moccasin_bench.experiments.scaling",
    "fastsa": "moccasin_bench.experiments.fastsa",
    "catalogue": "moccasin_bench.experiments.catalogue",
    "bounds": "moccasin_bench.experiments.bounds",
    "frontier": "moccasin_bench.experiments.frontier",
}
