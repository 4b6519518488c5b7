"""Derived measures, as plain functions of arrays: seconds to best, time to a target cost,
Dolan–Moré performance-profile ratios."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

TARGET_RELATIVE = 0.01  # "within 1 % of the best known cost"


def _first_at_or_below(seconds: Sequence[float], costs: Sequence[float], threshold: float) -> float:
    s = np.asarray(seconds, dtype=float)
    c = np.asarray(costs, dtype=float)
    hit = np.nonzero(~np.isnan(c) & (c <= threshold))[0]
    return float(s[hit[0]]) if len(hit) else math.nan


def seconds_to_best(seconds: Sequence[float], costs: Sequence[float], final_cost: float) -> float:
    """First trajectory time at which the run's final cost was reached (NaN if it never was).

    `costs` may hold NaN before the first solution; a tiny relative tolerance absorbs float
    round-off of solver-reported costs."""
    if final_cost is None or math.isnan(final_cost):
        return math.nan
    return _first_at_or_below(seconds, costs, final_cost * (1 + 1e-9) + 1e-9)


def seconds_to_target(
    seconds: Sequence[float], costs: Sequence[float], best_known_cost: float, relative: float = TARGET_RELATIVE
) -> float:
    """First trajectory time with cost ≤ (1 + relative) × best known cost (NaN if never)."""
    if best_known_cost is None or math.isnan(best_known_cost):
        return math.nan
    return _first_at_or_below(seconds, costs, (1 + relative) * best_known_cost * (1 + 1e-12))


def performance_ratios(values: Mapping[str, Mapping[object, float]]) -> dict[str, dict[object, float]]:
    """Dolan–Moré ratios r[s][p] = t[s][p] / min_s' t[s'][p].

    `values[method][problem]` is the measure (lower is better); NaN or missing = failure,
    whose ratio is +inf. Problems no method solved are left out. A best value of 0 makes
    every method with value 0 ratio 1 and every other method +inf."""
    problems = sorted({p for v in values.values() for p in v}, key=repr)
    out: dict[str, dict[object, float]] = {m: {} for m in values}
    for p in problems:
        finite = [v[p] for v in values.values() if p in v and v[p] is not None and not math.isnan(v[p])]
        if not finite:
            continue
        best = min(finite)
        for m, v in values.items():
            x = v.get(p)
            if x is None or math.isnan(x):
                out[m][p] = math.inf
            elif best == 0:
                out[m][p] = 1.0 if x == 0 else math.inf
            else:
                out[m][p] = x / best
    return out


def profile_curve(ratios: Mapping[object, float], n_problems: int) -> tuple[np.ndarray, np.ndarray]:
    """Step points (tau, share of problems with ratio ≤ tau) for one method: taus are the
    method's finite ratios sorted; shares in [0, 1]."""
    r = np.sort(np.array([x for x in ratios.values() if math.isfinite(x)], dtype=float))
    if n_problems == 0:
        return r, np.zeros_like(r)
    share = np.arange(1, len(r) + 1) / n_problems
    return r, share
