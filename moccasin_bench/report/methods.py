"""Readable method names: a formulation plus the parameters that make it a different method.

"Moccasin (fixed)" and "Moccasin (free)" are two methods; so are two heuristic strategies.
Each formulation names itself (LABEL, KEY_PARAMS, optionally label(params); see
moccasin_bench/formulation.py). Parameters outside a formulation's key parameters join the
name only when they vary within a store (e.g. "Moccasin (fixed), copies=3"), as does the
thread count.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _module(formulation: str) -> ModuleType | None:
    """The formulation's module, or None when this installation does not have it (a store
    written with a plug-in that is not installed here still gets a report)."""
    from moccasin_bench.errors import UserError
    from moccasin_bench.formulation import formulation_module

    try:
        return formulation_module(formulation)
    except (UserError, ImportError):
        return None


def base_label(formulation: str, params: Mapping[str, Any]) -> str:
    """The method's name, as the formulation describes itself: its `label(params)` if it has
    one, else its LABEL with the values of its KEY_PARAMS, e.g. "Moccasin (fixed)"."""
    module = _module(formulation)
    if module is None:
        return formulation
    if callable(getattr(module, "label", None)):
        return str(module.label(params))
    name = getattr(module, "LABEL", formulation)
    keys = getattr(module, "KEY_PARAMS", ())
    defaults = {p.name: p.default for p in getattr(module, "PARAMS", ())}
    values = [str(params.get(k, defaults.get(k))) for k in keys]
    return f"{name} ({', '.join(values)})" if values else name


def key_params(formulation: str) -> tuple[str, ...]:
    """Parameters that are part of the method's name whatever their value."""
    module = _module(formulation)
    return tuple(getattr(module, "KEY_PARAMS", ())) if module is not None else ()


def _rank(formulation: str, params: Mapping[str, Any]) -> tuple:
    """Display order: the registry's order, then the order of the key parameters' declared choices."""
    from moccasin_bench.formulation import registry

    names = list(registry())
    major = names.index(formulation) if formulation in names else len(names)
    module = _module(formulation)
    minor: list[int] = []
    if module is not None:
        specs = {p.name: p for p in module.PARAMS}
        for k in getattr(module, "KEY_PARAMS", ()):
            choices = specs[k].choices if k in specs else None
            value = params.get(k, specs[k].default if k in specs else None)
            minor.append(choices.index(value) if choices and value in choices else len(choices or ()))
    return (major, tuple(minor), formulation)


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
        keys = sorted({k for i in rows for k in params[i]} - set(key_params(formulation)))
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
    for label, _, _ in sorted(zip(labels, df["formulation"], params), key=lambda t: (_rank(t[1], t[2]), t[0])):
        ranks.setdefault(label, len(ranks))
    df["method_rank"] = [ranks[label] for label in labels]
    return df
