"""Memory budgets: a fraction of a reference order's peak, an absolute figure, or a multiple of the graph's
minimum feasible budget (the least any schedule can peak at)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from moccasin_bench.errors import UserError
from moccasin_bench.graph import TOTAL_LIMIT, Graph
from moccasin_bench.orders import reference_order, resolve_order_name
from moccasin_bench.simulate import simulate


@dataclass(frozen=True)
class Budget:
    """A resolved budget, with where it came from."""

    bytes: int
    fraction: float | None = None  # None for an absolute budget
    reference_order: str | None = None  # which order's peak the fraction applies to
    reference_peak: int | None = None
    # a multiple of the graph's minimum feasible budget (1 = the minimum itself), else None. Such a budget is
    # an absolute one for the run's key (the same bytes are the same problem); the reference peak is kept so
    # that reports can show it as a share of the peak.
    minimum_factor: float | None = None

    def describe(self) -> str:
        if self.minimum_factor is not None:
            times = "" if self.minimum_factor == 1 else f"{self.minimum_factor:g} x "
            return f"{self.bytes:,} = {times}the minimum feasible budget"
        if self.fraction is None:
            return f"{self.bytes:,} (absolute)"
        return f"{self.bytes:,} = ceil({self.fraction:g} x {self.reference_peak:,}, peak of the {self.reference_order} order)"

    def to_json(self) -> dict:
        return {
            "bytes": self.bytes,
            "fraction": self.fraction,
            "reference_order": self.reference_order,
            "reference_peak": self.reference_peak,
            **({"minimum_factor": self.minimum_factor} if self.minimum_factor is not None else {}),
        }


def reference_peak(graph: Graph, order_name: str = "default") -> int:
    """Peak memory of a reference order run once, without recomputation."""
    return simulate(graph, reference_order(graph, order_name)).peak_memory


def fraction_of_peak(fraction: float, peak: int) -> int:
    """ceil(fraction × peak), computed exactly (0.9 × 46,319 must give 41,688, not float noise)."""
    return math.ceil(Fraction(str(fraction)) * peak)


MAX_BUDGET = TOTAL_LIMIT  # 2^62: budgets stay exact in every int64 model and comparison


def check_budget_bytes(value: object) -> int:
    """An absolute budget: an integer in [0, 2^62]; anything else is a UserError."""
    if isinstance(value, bool) or not hasattr(value, "__index__") or value < 0:
        raise UserError(f"absolute budget must be a non-negative integer, got {value!r}")
    value = value.__index__()
    if value > MAX_BUDGET:
        raise UserError(
            f"budget {value:,} is too large: budgets must be at most 2^62 ({MAX_BUDGET:,}) for exact 64-bit arithmetic"
        )
    return value


MAX_MINIMUM_FACTOR = 100.0


def check_minimum_factor(value: object) -> float:
    """A multiple of the minimum feasible budget: a number in [1, 100]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (1 <= value <= MAX_MINIMUM_FACTOR):
        raise UserError(
            f"a multiple of the minimum feasible budget must be a number from 1 to {MAX_MINIMUM_FACTOR:g}, got {value!r}"
        )
    return float(value)


def resolve_budget(
    graph: Graph,
    fraction: float | None = None,
    absolute: int | None = None,
    order_name: str = "default",
    minimum: float | None = None,
) -> Budget:
    """Turn a fraction (of a reference order's peak), an absolute figure or a multiple of the graph's minimum
    feasible budget into a Budget."""
    if sum(x is not None for x in (fraction, absolute, minimum)) != 1:
        raise UserError("give exactly one of a budget fraction (--budget) or an absolute budget (--budget-bytes)")
    if minimum is not None:
        factor = check_minimum_factor(minimum)
        name = resolve_order_name(graph, order_name)
        return Budget(
            bytes=check_budget_bytes(fraction_of_peak(factor, graph.min_feasible_budget)),
            reference_order=name,
            reference_peak=reference_peak(graph, name),
            minimum_factor=factor,
        )
    if absolute is not None:
        if isinstance(absolute, float) and absolute.is_integer():
            absolute = int(absolute)
        return Budget(bytes=check_budget_bytes(absolute))
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (0 < fraction <= 10):
        raise UserError(
            f"budget fraction must be in (0, 10], got {fraction!r}; for an absolute figure use --budget-bytes"
        )
    name = resolve_order_name(graph, order_name)
    peak = reference_peak(graph, name)
    return Budget(
        bytes=fraction_of_peak(fraction, peak), fraction=float(fraction), reference_order=name, reference_peak=peak
    )
