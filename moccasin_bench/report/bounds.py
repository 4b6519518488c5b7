"""Lower bounds and optimality gaps: which proven bound covers which schedule.

A formulation's `best_bound` bounds the cost of every schedule within its own restrictions
only, and the formulation says which in its output (`SolverOutput.bound_scope`, stored with
the run): e.g. Moccasin's free-order model bounds the schedules that compute no node more than
C times in any order; its fixed-order model, those staged along its reference order with at
most C computations per node. A cell's gap is therefore taken against the largest bound of the
instance whose scope contains the cell's schedule (its computations per node counted from the
stored schedule; being staged along an order is what its formulation reported, `staged_order`):

    gap % = 100 × (cost − bound) / cost

Heuristics and the annealer prove nothing; their schedules still get a gap when a bound's
scope contains them. One bound needs no solver: every schedule computes each node at least once,
so a schedule that recomputes nothing (TDI 0) is optimal among all schedules; such a cell with no
other bound gets gap 0 against it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from moccasin_bench.formulation import BoundScope

if TYPE_CHECKING:
    import pandas as pd


NO_RECOMPUTATION = "each node computed once"  # the bound every schedule meets


def _same_int(a: Any, b: Any) -> bool:
    """a == b as integers; False when either is missing (None or NaN)."""
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return False
    return int(a) == int(b)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def run_scope(value: Any) -> BoundScope | None:
    """The stored scope of a run's bound (the `bound_scope` column: JSON), or None when it has none."""
    if isinstance(value, BoundScope):
        return value
    doc = value if isinstance(value, dict) else json.loads(value) if _text(value) else None
    return BoundScope.from_json(doc) if doc else None


def with_gaps(runs: pd.DataFrame, cells: pd.DataFrame, max_computations: Mapping[str, int]) -> pd.DataFrame:
    """`cells` with `bound` (the best bound covering the cell's schedule), `bound_method`, `bound_scope` and
    `gap_percent`; `max_computations` maps a run key to its schedule's most computations of one node."""
    bounds: dict[tuple, list[tuple[float, str, BoundScope]]] = {}
    for r in runs.itertuples():
        b = getattr(r, "best_bound", None)
        if b is None or (isinstance(b, float) and math.isnan(b)):
            continue
        scope = run_scope(getattr(r, "bound_scope", None))
        if scope is not None:
            bounds.setdefault((r.graph_hash, int(r.budget)), []).append((float(b), r.method, scope))
    out = {"bound": [], "bound_method": [], "bound_scope": [], "gap_percent": []}
    for c in cells.itertuples():
        best = None
        if c.valid:
            order = _text(getattr(c, "staged_order", None))
            for b, method, scope in bounds.get((c.graph_hash, int(c.budget)), ()):
                if scope.contains(max_computations.get(c.key), order) and (best is None or b > best[0]):
                    best = (b, method, scope)
        cost = float(c.total_duration) if c.valid else math.nan
        if best is None and c.valid and _same_int(c.total_duration, getattr(c, "sum_duration", None)):
            best = (float(c.sum_duration), NO_RECOMPUTATION, BoundScope(None, None))
        out["bound"].append(best[0] if best else math.nan)
        out["bound_method"].append(best[1] if best else "")
        out["bound_scope"].append(best[2].describe() if best else "")
        out["gap_percent"].append(
            100.0 * max(0.0, cost - best[0]) / cost if best and cost > 0 else (0.0 if best else math.nan)
        )
    return cells.assign(**out)
