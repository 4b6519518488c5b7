"""What one run is, and its key: the content hash that makes a run found twice the same run.

A run is a `RunSpec`: graph (by content hash), budget (bytes and how they were derived),
formulation, resolved parameters, time limit, threads, seed and gap. Its `key` hashes
exactly those, so the same run found twice (another sweep, another file path holding the
same graph) is the same key, and a store that already holds it skips it. `make_spec`
checks every value before a run is planned.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from moccasin_bench.errors import UserError

if TYPE_CHECKING:
    from moccasin_bench.budget import Budget
    from moccasin_bench.graph import Graph

KEY_VERSION = 1
MAX_SEED = 2**31 - 1  # solvers take 32-bit signed seeds (CP-SAT, HiGHS)
MAX_TIME_LIMIT = 1e7  # seconds (about 115 days): beyond, timers overflow
MAX_THREADS = 1024


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run; `key` is its content hash."""

    graph_name: str
    graph_hash: str
    formulation: str
    params: Mapping[str, Any]  # resolved: every declared parameter, validated
    budget_bytes: int
    budget_fraction: float | None  # None for an absolute budget
    reference_order: str  # resolved name (never "default"): the budget's order and the one fixed-order models follow
    reference_peak: int | None
    time_limit_seconds: float
    threads: int = 1
    seed: int = 0
    relative_gap: float = 0.0
    graph_source: str = ""  # what the user wrote (path, name or generator spec): display only, not in the key
    initial: tuple | None = None  # an initial schedule (node ids) to start from; hashed into the key when given

    @property
    def key(self) -> str:
        return run_key(self)

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "params": dict(self.params),
            "initial": None if self.initial is None else list(self.initial),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        data = dict(data)
        if data.get("initial") is not None:
            data["initial"] = tuple(data["initial"])
        return cls(**data)

    def describe(self) -> str:
        budget = f"{self.budget_fraction:g}" if self.budget_fraction is not None else f"{self.budget_bytes:,}B"
        params = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return (
            f"{self.graph_name} budget={budget} ({self.budget_bytes:,}, {self.reference_order}) {self.formulation}"
            f"{'[' + params + ']' if params else ''} limit={self.time_limit_seconds:g}s threads={self.threads} seed={self.seed}"
            + (f" gap={self.relative_gap:g}" if self.relative_gap else "")
            + (f" initial={len(self.initial)} steps" if self.initial is not None else "")
        )


def _canonical(value: Any) -> Any:
    """JSON-stable form of a parameter value: 1 and 1.0 hash alike, bools stay bools."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        f = float(value)
        return int(f) if math.isfinite(f) and f.is_integer() else f
    return str(value)


def _keyed_params(spec: RunSpec) -> dict[str, Any]:
    """The parameters that enter the key: all of them, except a parameter declared with
    keyed_at_default=False while it has its default value (parameters added after runs were
    stored: those runs keep their keys)."""
    try:
        from moccasin_bench.formulation import formulation_module

        unkeyed = {p.name: p.default for p in formulation_module(spec.formulation).PARAMS if not p.keyed_at_default}
    except UserError:  # a formulation not installed here: its parameters as stored
        unkeyed = {}
    return {
        k: _canonical(v)
        for k, v in sorted(spec.params.items())
        if not (k in unkeyed and _canonical(v) == _canonical(unkeyed[k]))
    }


def run_key(spec: RunSpec) -> str:
    """Content hash of a run: graph content (not its path), budget and its derivation,
    formulation, resolved parameters, time limit, threads, seed, gap and the initial schedule."""
    ident = {
        "key_version": KEY_VERSION,
        "graph": spec.graph_hash,
        "budget_bytes": int(spec.budget_bytes),
        "budget_fraction": _canonical(spec.budget_fraction),
        "reference_order": spec.reference_order,
        "formulation": spec.formulation,
        "params": _keyed_params(spec),
        "time_limit_seconds": _canonical(spec.time_limit_seconds),
        "threads": int(spec.threads),
        "seed": int(spec.seed),
        "relative_gap": _canonical(spec.relative_gap),
    }
    if spec.initial is not None:
        ident["initial"] = hashlib.sha256(json.dumps(list(spec.initial)).encode()).hexdigest()[:24]
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def make_spec(
    graph: Graph,
    budget: Budget,
    formulation: str,
    params: Mapping[str, Any] | None = None,
    *,
    time_limit_seconds: float = 60.0,
    threads: int = 1,
    seed: int = 0,
    relative_gap: float = 0.0,
    reference_order: str = "default",
    graph_source: str = "",
    initial: Sequence[Any] | None = None,
) -> RunSpec:
    """Resolve a run: validate the parameters against the formulation, name the reference order."""
    from moccasin_bench.budget import check_budget_bytes
    from moccasin_bench.formulation import check_params, formulation_module
    from moccasin_bench.orders import resolve_order_name
    from moccasin_bench.params import resolve_params

    module = formulation_module(formulation)
    values = resolve_params(module.PARAMS, dict(params or {}), f"formulation {formulation!r}")
    order = resolve_order_name(graph, budget.reference_order if budget.fraction is not None else reference_order)
    if not _number(time_limit_seconds) or not 0 < time_limit_seconds <= MAX_TIME_LIMIT:
        raise UserError(
            f"time limit must be a positive number of seconds up to {MAX_TIME_LIMIT:g}, got {time_limit_seconds!r}"
        )
    if not _number(threads) or int(threads) != threads or not 1 <= threads <= MAX_THREADS:
        raise UserError(f"threads must be an integer from 1 to {MAX_THREADS}, got {threads!r}")
    if not _number(seed) or int(seed) != seed or not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed must be an integer from 0 to {MAX_SEED:,} (2^31 - 1), got {seed!r}")
    if not _number(relative_gap) or not 0 <= relative_gap < 1:
        raise UserError(f"gap must be in [0, 1), got {relative_gap!r}")
    check_budget_bytes(budget.bytes)
    check_params(module, values, graph)
    if initial is not None:
        graph.to_indices(initial)  # every id a node of this graph (a GraphError names the first that is not)
        initial = tuple(initial)
    return RunSpec(
        graph_name=graph.name,
        graph_hash=graph.content_hash,
        formulation=formulation,
        params=values,
        budget_bytes=int(budget.bytes),
        budget_fraction=budget.fraction,
        reference_order=order,
        reference_peak=budget.reference_peak,
        time_limit_seconds=float(time_limit_seconds),
        threads=int(threads),
        seed=int(seed),
        relative_gap=float(relative_gap),
        graph_source=graph_source,
        initial=initial,
    )
