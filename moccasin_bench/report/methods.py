"""Readable method names: a formulation plus the parameters that make it a different method.

"Moccasin (fixed)" and "Moccasin (free)" are two methods; so are two heuristic strategies.
Parameters outside a formulation's key parameters join the name only when they vary
within a store (e.g. "Moccasin (fixed), copies=3"), as does the thread count.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

BASE_NAMES = {
    "moccasin": "Moccasin",
    "checkmate-milp": "Checkmate MILP",
    "checkmate-cp": "Checkmate CP (CP-SAT)",
    "checkmate-lp": "Checkmate LP+rounding",
    "heuristic": "Heuristic",
    "oracle": "Exact oracle",
}
# Parameters that are part of the method's name whatever their value.
KEY_PARAMS = {
    "moccasin": ("order",),
    "checkmate-milp": ("backend", "pulp_solver"),
    "heuristic": ("strategy",),
    "oracle": ("order",),
}
ORDER = ("moccasin", "checkmate-milp", "checkmate-cp", "checkmate-lp", "heuristic", "oracle")
SOLVER_NAMES = {"highs": "HiGHS", "cbc": "CBC"}


def base_label(formulation: str, params: Mapping[str, Any]) -> str:
    """The method's name from the formulation and its key parameters."""
    name = BASE_NAMES.get(formulation, formulation)
    if formulation == "moccasin":
        return f"{name} ({params.get('order', 'fixed')})"
    if formulation == "checkmate-milp":
        backend = params.get("backend", "highs")
        if backend == "pulp":
            solver = params.get("pulp_solver", "highs")
            return f"{name} (PuLP/{SOLVER_NAMES.get(solver, solver)})"
        return f"{name} ({SOLVER_NAMES.get(backend, backend)})"
    if formulation == "heuristic":
        strategy = params.get("strategy", "best")
        return f"{name} ({'best of all' if strategy == 'best' else strategy})"
    if formulation == "oracle":
        return f"{name} ({params.get('order', 'free')})"
    return name


def paper_method_key(formulation: str, params: Mapping[str, Any]) -> str | None:
    """Which of the paper's columns a method corresponds to (None: the paper had no such method)."""
    if formulation == "moccasin" and params.get("order", "fixed") == "fixed":
        return "moccasin-fixed"
    if formulation in ("checkmate-milp", "checkmate-lp"):
        return formulation
    return None


def _rank(formulation: str, params: Mapping[str, Any]) -> tuple:
    major = ORDER.index(formulation) if formulation in ORDER else len(ORDER)
    minor = 0 if formulation != "moccasin" else (0 if params.get("order") == "fixed" else 1)
    return (major, minor, formulation)


def _params(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return json.loads(value)
    return {}


def assign_methods(runs):
    """Add `method` (a readable name), `method_rank` (display order) and `paper_key` ("" = none) columns
    to a runs DataFrame (store.load_runs); returns a new frame."""
    df = runs.copy()
    params = [_params(p) for p in df["params"]] if len(df) else []
    bases = [base_label(f, p) for f, p in zip(df["formulation"], params)]
    # Non-key parameters that vary among runs sharing a base name, and thread counts that vary.
    varying: dict[str, list[str]] = {}
    by_base: dict[str, list[int]] = {}
    for i, b in enumerate(bases):
        by_base.setdefault(b, []).append(i)
    for b, rows in by_base.items():
        formulation = df["formulation"].iloc[rows[0]]
        keys = sorted({k for i in rows for k in params[i]} - set(KEY_PARAMS.get(formulation, ())))
        varying[b] = [k for k in keys if len({json.dumps(params[i].get(k), sort_keys=True) for i in rows}) > 1]
        if len({int(df["threads"].iloc[i]) for i in rows}) > 1:
            varying[b].append("threads")
    labels = []
    for i, b in enumerate(bases):
        extra = []
        for k in varying[b]:
            value = int(df["threads"].iloc[i]) if k == "threads" else params[i].get(k)
            extra.append(f"{value} threads" if k == "threads" else f"{k}={value}")
        labels.append(b + (", " + ", ".join(extra) if extra else ""))
    df["method"] = labels
    ranks = {}
    for label, f, p in sorted(zip(labels, df["formulation"], params), key=lambda t: (_rank(t[1], t[2]), t[0])):
        ranks.setdefault(label, len(ranks))
    df["method_rank"] = [ranks[label] for label in labels]
    df["paper_key"] = [paper_method_key(f, p) or "" for f, p in zip(df["formulation"], params)]
    return df
