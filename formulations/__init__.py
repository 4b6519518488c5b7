"""Formulations: one module each, behind the interface in moccasin_bench.formulation.

Adding one is one module plus one line here: name -> module path (imported lazily). The
order of this registry is the order in which reports list methods. Modules whose name
starts with an underscore are helpers shared by the formulations (solver plumbing, model
builders, heuristic schedules); a registered formulation imports helpers and the engine,
never another registered formulation (tests/test_formulation_contract.py checks it).
"""

REGISTRY = {
    "moccasin": "formulations.moccasin",
    "checkmate-milp": "formulations.checkmate_milp",
    "checkmate-cp": "formulations.checkmate_cp",
    "checkmate-lp": "formulations.checkmate_lp",
    "heuristic": "formulations.heuristics",
    "annealing": "formulations.annealing",
    "oracle": "formulations.oracle",
    "live-bound": "formulations.live_bound",
    "torch-partitioner": "formulations.torch_partitioner",
    "torch-checkpoint": "formulations.torch_checkpoint",
    "torch-sac": "formulations.torch_sac",
    "dtr": "formulations.dtr",
    "rotor": "formulations.rotor",
}
