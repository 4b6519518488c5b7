"""Formulations: one module each, behind the interface in moccasin_bench.formulation.

Adding one is one module plus one line here: name -> module path (imported lazily).
"""

REGISTRY = {
    "oracle": "formulations.oracle",
    "heuristic": "formulations.heuristics",
}
