"""A method's one identity, `name[p=v,...]`: a registered formulation plus the values of its key
parameters (its `KEY_PARAMS`), e.g. `moccasin[order=free]`. An experiment's grid names its methods by
identity, `reproduce --methods` selects by it, published tables match it, and the report's column name
(the label, e.g. "Moccasin (free)") derives from it.

A formulation declares only `LABEL` (its name in reports) and `KEY_PARAMS` (the parameters whose values
make another method); `label(params)` may still say more. A formulation's `NAME`, when declared, must be
its registry name (the identity's `name`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from moccasin_bench.errors import UserError

_IDENTITY = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\[(.*)\])?\s*$")


@dataclass(frozen=True)
class MethodId:
    """A formulation and the values of the parameters that make it a method of its own."""

    name: str
    params: tuple[tuple[str, str], ...] = ()  # (key parameter, value as text), in the formulation's order

    def __str__(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}[{inner}]" if inner else self.name

    @property
    def slug(self) -> str:
        """A dashed form without brackets, e.g. `moccasin-fixed` (what grids named methods before identities)."""
        return "-".join((self.name, *(v for _, v in self.params)))

    @classmethod
    def parse(cls, text: str) -> MethodId:
        """`moccasin[order=free]` -> MethodId("moccasin", (("order", "free"),)); UserError when malformed."""
        m = _IDENTITY.match(str(text))
        if not m:
            raise UserError(
                f"not a method identity: {text!r} (expected name[param=value,...], e.g. moccasin[order=free])"
            )
        pairs = []
        for item in filter(None, (x.strip() for x in (m.group(2) or "").split(","))):
            key, sep, value = (x.strip() for x in item.partition("="))
            if not sep or not key:
                raise UserError(f"not a method identity: {text!r} ({item!r} is not param=value)")
            pairs.append((key, value))
        return cls(m.group(1), tuple(pairs))

    def matches(self, pattern: MethodId | str) -> bool:
        """Whether this identity is of the pattern's formulation with (at least) the pattern's parameter values."""
        pattern = MethodId.parse(pattern) if isinstance(pattern, str) else pattern
        return self.name == pattern.name and set(pattern.params) <= set(self.params)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def formulation_or_none(formulation: str) -> ModuleType | None:
    """The formulation's module, or None when this installation does not have it (a store written with a
    plug-in that is not installed here still gets a report)."""
    from moccasin_bench.formulation import formulation_module

    try:
        return formulation_module(formulation)
    except (UserError, ImportError):
        return None


def key_params(formulation: str) -> tuple[str, ...]:
    """The parameters whose values are part of the formulation's method identity."""
    module = formulation_or_none(formulation)
    return tuple(getattr(module, "KEY_PARAMS", ())) if module is not None else ()


def method_id(formulation: str, params: Mapping[str, Any]) -> MethodId:
    """The identity of a run's method: its key parameters' values (their defaults where not given)."""
    module = formulation_or_none(formulation)
    if module is None:
        return MethodId(formulation)
    defaults = {p.name: p.default for p in getattr(module, "PARAMS", ())}
    keys = getattr(module, "KEY_PARAMS", ())
    return MethodId(formulation, tuple((k, _text(params.get(k, defaults.get(k)))) for k in keys))


def label(formulation: str, params: Mapping[str, Any]) -> str:
    """The method's name in reports: the formulation's `label(params)` if it has one, else its LABEL with the
    values of its identity, e.g. "Moccasin (fixed)"."""
    module = formulation_or_none(formulation)
    if module is None:
        return formulation
    if callable(getattr(module, "label", None)):
        return str(module.label(params))
    name = getattr(module, "LABEL", formulation)
    values = [v for _, v in method_id(formulation, params).params]
    return f"{name} ({', '.join(values)})" if values else name


@dataclass(frozen=True, init=False)
class Method:
    """One method of a grid, named by its identity; `params` adds values that are not part of it, e.g.
    `Method("moccasin[order=fixed]", {"copies": 2}, "the paper's model")`.

    The earlier form `Method(key, formulation, params, note)` still works: the identity is then the
    formulation with the key parameters `params` gives, and `key` stays an alias (`alias`)."""

    identity: str  # name[p=v,...]: the formulation and its key parameters' values
    params: Mapping[str, Any]
    note: str
    alias: str  # an earlier name of the method, also accepted by `reproduce --methods`, `skip`, `method_seeds`

    def __init__(self, identity: str, params: Any = None, note: Any = "", *legacy: Any) -> None:
        alias = ""
        if isinstance(params, str):  # Method(key, formulation, params, note)
            alias, formulation, params, note = identity, params, note or {}, legacy[0] if legacy else ""
            given = dict(params)
            keys = key_params(formulation)
            identity = str(MethodId(formulation, tuple((k, _text(given[k])) for k in keys if k in given)))
        parsed = MethodId.parse(identity)
        params = dict(params or {})
        clash = [k for k, v in parsed.params if k in params and _text(params[k]) != v]
        if clash:
            raise UserError(f"method {identity}: params give {clash[0]!r} another value than the identity")
        object.__setattr__(self, "identity", str(parsed))
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "note", str(note))
        object.__setattr__(self, "alias", alias)

    @property
    def id(self) -> MethodId:
        return MethodId.parse(self.identity)

    @property
    def key(self) -> str:
        """What a grid's `skip`, `method_seeds` and `reproduce --methods` name: the identity."""
        return self.identity

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this method answers to: its identity, its alias if any, and its dashed slug."""
        return tuple(dict.fromkeys(n for n in (self.identity, self.alias, self.id.slug) if n))

    @property
    def formulation(self) -> str:
        return self.id.name

    @property
    def run_params(self) -> dict[str, Any]:
        """The parameters a run of this method gets: the identity's values, then `params`."""
        return {**dict(self.id.params), **dict(self.params)}

    def label(self) -> str:
        """The method's name in reports, e.g. "Moccasin (fixed)"."""
        return label(self.formulation, self.run_params)

    def answers_to(self, name: str) -> bool:
        """Whether `reproduce --methods NAME` selects this method."""
        return name.strip() in self.names

    def lookup(self, table: Mapping[Any, Any], graph: str | None = None) -> Any:
        """The entry of a grid's table (`skip` by (graph, method), `method_seeds` by method) under any of the
        method's names, or None."""
        for name in self.names:
            found = table.get((graph, name) if graph is not None else name)
            if found is not None:
                return found
        return None
