"""Integer scaling shared by the solver formulations: divide sizes and durations by their GCDs.

Checkmate's graphs carry durations near 1e13 and sizes near 1e10; dividing by the GCD is
exact and keeps solver coefficients (and CP-SAT's int64 bounds) small.
"""

from __future__ import annotations

import numpy as np


def gcd(values: np.ndarray) -> int:
    """The GCD of the positive entries of `values` (1 when there are none): an exact unit."""
    v = np.asarray(values, dtype=np.int64)
    v = v[v > 0]
    return max(int(np.gcd.reduce(v)), 1) if len(v) else 1


def memory_unit(memory: np.ndarray, budget_bytes: int) -> int:
    """The GCD of every size and the budget: memory and budget in these units stay integers."""
    return gcd(np.append(np.asarray(memory, dtype=np.int64), int(budget_bytes)))
