"""Formulations: one module each, behind the interface in moccasin_bench.formulation.

Adding one is one module plus one line here: name -> module path (imported lazily).
"""

REGISTRY = {
    "oracle": "formulations.oracle",
    "heuristic": "formulations.heuristics",
    "moccasin": "formulations.moccasin",
    "checkmate-milp": "formulations.checkmate_milp",
    "checkmate-cp": "formulations.checkmate_cp",
    "checkmate-lp": "formulations.checkmate_lp",
    "annealing": "formulations.annealing",
}
