"""Readable method names: a formulation plus the parameters that make it a different method.

"Moccasin (fixed)" and "Moccasin (free)" are two methods (identities `moccasin[order=fixed]` and
`moccasin[order=free]`, moccasin_bench/method.py); so are two heuristic strategies. The column's
name derives from the identity (the formulation's LABEL with its key parameters' values, or its
own label(params)). Parameters outside a formulation's key parameters (and its work limits,
`Param.limit`) join the name only when they vary within a store (e.g. "Moccasin (fixed), copies=3"), as does the
thread count.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from moccasin_bench.method import formulation_or_none, key_params, label, method_id

if TYPE_CHECKING:
    import pandas as pd


def base_label(formulation: str, params: Mapping[str, Any]) -> str:
    """The method's name, derived from its identity (moccasin_bench.method.label), e.g. "Moccasin (fixed)"."""
    return label(formulation, params)


def _rank(formulation: str, params: Mapping[str, Any]) -> tuple:
    """Display order: the registry's order, then the order of the key parameters' declared choices."""
    from moccasin_bench.formulation import registry

    names = list(registry())
    major = names.index(formulation) if formulation in names else len(names)
    module = formulation_or_none(formulation)
    minor: list[int] = []
    if module is not None:
        specs = {p.name: p for p in module.PARAMS}
        for k in getattr(module, "KEY_PARAMS", ()):
            choices = specs[k].choices if k in specs else None
            value = params.get(k, specs[k].default if k in specs else None)
            minor.append(choices.index(value) if choices and value in choices else len(choices or ()))
    return (major, tuple(minor), formulation)


def _limits(formulation: str) -> set[str]:
    """The formulation's parameters that limit a run's work (Param.limit): like the time limit, not a method."""
    module = formulation_or_none(formulation)
    return {p.name for p in getattr(module, "PARAMS", ()) if getattr(p, "limit", False)}


def _params(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return json.loads(value)
    return {}


def assign_methods(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `method` (a readable name) and `method_rank` (display order) columns to a runs DataFrame
    (store.load_runs); returns a new frame."""
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
        keys = sorted({k for i in rows for k in params[i]} - set(key_params(formulation)) - _limits(formulation))
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
    df["method_id"] = [str(method_id(f, p)) for f, p in zip(df["formulation"], params)]
    ranks = {}
    for name, _, _ in sorted(zip(labels, df["formulation"], params), key=lambda t: (_rank(t[1], t[2]), t[0])):
        ranks.setdefault(name, len(ranks))
    df["method_rank"] = [ranks[name] for name in labels]
    return df
