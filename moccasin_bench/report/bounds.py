"""Lower bounds and optimality gaps: which proven bound covers which schedule.

A formulation's `best_bound` bounds the cost of every schedule within its own restrictions
only: Moccasin's free-order model bounds the schedules that compute no node more than C times
(in any order); its fixed-order model, those staged along its reference order with at most C
computations per node; Checkmate's models (and their LP relaxation), those staged along the
reference order. A cell's gap is therefore taken against the largest bound of the instance
whose scope contains the cell's schedule (its computations per node counted from the stored
schedule; being staged along the order is known for the fixed-order formulations only):

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Scope:
    """The schedules a bound is valid for."""

    max_computations: int | None  # computations per node at most (None: any number)
    order: str | None  # staged along this reference order (None: any order)

    def describe(self) -> str:
        where = f"staged along the {self.order} order" if self.order else "any order"
        many = (
            f"at most {self.max_computations} computations per node" if self.max_computations else "any recomputation"
        )
        return f"{where}, {many}"


NO_RECOMPUTATION = "each node computed once"  # the bound every schedule meets


def _same_int(a: Any, b: Any) -> bool:
    """a == b as integers; False when either is missing (None or NaN)."""
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return False
    return int(a) == int(b)


def _params(value: Any) -> dict:
    return value if isinstance(value, dict) else json.loads(value) if isinstance(value, str) and value else {}


def run_scope(formulation: str, params: Mapping[str, Any], reference_order: str | None) -> Scope | None:
    """The scope of the bound a run of this formulation reports (None: it reports none, or its scope is
    narrower than this module can check, e.g. per-node copy overrides or the authors' interval lengths)."""
    if formulation == "moccasin":
        if params.get("copies_per_node") or params.get("lengths") == "paper" or int(params.get("horizon") or 0) > 0:
            return None
        copies = int(params.get("copies", 2))
        return Scope(copies, reference_order if params.get("order", "fixed") == "fixed" else None)
    if formulation in ("checkmate-milp", "checkmate-cp", "checkmate-lp"):
        return Scope(None, reference_order)
    if formulation == "oracle":
        cap = int(params.get("max_computations") or 0)
        return Scope(cap or None, reference_order if params.get("order", "free") == "fixed" else None)
    return None


def staged_order(formulation: str, params: Mapping[str, Any], reference_order: str | None) -> str | None:
    """The order a formulation's schedules are staged along by construction (None: not known)."""
    # moccasin's start portfolio may return a start, or follow a start's order: not staged by construction
    # (stored runs carry every parameter; one without warm_start predates the portfolio)
    portfolio = formulation == "moccasin" and params.get("warm_start") == "portfolio"
    fixed = (
        formulation in ("checkmate-milp", "checkmate-cp", "checkmate-lp")
        or (formulation in ("moccasin", "annealing") and params.get("order") == "fixed" and not portfolio)
        or (formulation == "moccasin" and "order" not in params and not portfolio)
    )
    return reference_order if fixed else None


def covers(scope: Scope, max_computations: int | None, order: str | None) -> bool:
    if scope.max_computations is not None and (max_computations is None or max_computations > scope.max_computations):
        return False
    return scope.order is None or scope.order == order


def with_gaps(runs: pd.DataFrame, cells: pd.DataFrame, max_computations: Mapping[str, int]) -> pd.DataFrame:
    """`cells` with `bound` (the best bound covering the cell's schedule), `bound_method`, `bound_scope` and
    `gap_percent`; `max_computations` maps a run key to its schedule's most computations of one node."""
    bounds: dict[tuple, list[tuple[float, str, Scope]]] = {}
    for r in runs.itertuples():
        b = getattr(r, "best_bound", None)
        if b is None or (isinstance(b, float) and math.isnan(b)):
            continue
        scope = run_scope(r.formulation, _params(r.params), r.reference_order)
        if scope is not None:
            bounds.setdefault((r.graph_hash, int(r.budget)), []).append((float(b), r.method, scope))
    out = {"bound": [], "bound_method": [], "bound_scope": [], "gap_percent": []}
    for c in cells.itertuples():
        best = None
        if c.valid:
            order = staged_order(c.formulation, _params(c.params), c.reference_order)
            for b, method, scope in bounds.get((c.graph_hash, int(c.budget)), ()):
                if covers(scope, max_computations.get(c.key), order) and (best is None or b > best[0]):
                    best = (b, method, scope)
        cost = float(c.total_duration) if c.valid else math.nan
        if best is None and c.valid and _same_int(c.total_duration, getattr(c, "sum_duration", None)):
            best = (float(c.sum_duration), NO_RECOMPUTATION, Scope(None, None))
        out["bound"].append(best[0] if best else math.nan)
        out["bound_method"].append(best[1] if best else "")
        out["bound_scope"].append(best[2].describe() if best else "")
        out["gap_percent"].append(
            100.0 * max(0.0, cost - best[0]) / cost if best and cost > 0 else (0.0 if best else math.nan)
        )
    return cells.assign(**out)
