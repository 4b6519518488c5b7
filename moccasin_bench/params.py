"""Typed key=value parameters, declared by plug-ins (formulations, graph generators)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moccasin_bench.errors import UserError


@dataclass(frozen=True)
class Param:
    """One parameter a plug-in accepts: name, type, default, choices, help line."""

    name: str
    type: type  # int, float, str or bool
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    # False for a parameter added after runs were stored: at its default it stays out of run keys,
    # so those runs keep their keys (runner/spec.py)
    keyed_at_default: bool = True
    low: float | None = None  # numbers: the smallest value allowed (None = no bound)
    high: float | None = None  # numbers: the largest value allowed
    open_low: bool = False  # exclude `low` itself: (low, ...
    open_high: bool = False  # exclude `high` itself: ..., high)
    # A limit on the run's work, like its time limit (e.g. CP-SAT's deterministic time): part of the run's key,
    # but never what makes another method, so reports do not name it beside the method
    limit: bool = False

    def range_text(self) -> str:
        """The allowed range as an interval, e.g. "[0, 1]", "(0, 1)", "[1, inf)"; "" when unbounded."""
        if self.low is None and self.high is None:
            return ""

        def show(v: float) -> str:
            return str(int(v)) if self.type is int else f"{v:g}"

        lo = "-inf" if self.low is None else show(self.low)
        hi = "inf" if self.high is None else show(self.high)
        return f"{'(' if self.open_low or self.low is None else '['}{lo}, {hi}{')' if self.open_high or self.high is None else ']'}"

    def in_range(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.open_high and value == self.high)):
            return False
        return True

    def coerce(self, value: Any, owner: str) -> Any:
        """Convert a value (a string from the command line, or a TOML value) to this type."""
        try:
            if self.type is bool:
                if isinstance(value, bool):
                    out = value
                elif str(value).lower() in ("1", "true", "yes", "on"):
                    out = True
                elif str(value).lower() in ("0", "false", "no", "off"):
                    out = False
                else:
                    raise ValueError
            elif self.type is int:
                if isinstance(value, bool):
                    raise ValueError
                out = int(value) if not isinstance(value, float) or value.is_integer() else _fail()
            elif self.type is float:
                if isinstance(value, bool):
                    raise ValueError
                out = float(value)
                if not math.isfinite(out):
                    raise ValueError
            else:
                out = str(value)
        except (ValueError, TypeError):
            kind = "a finite float" if self.type is float else self.type.__name__
            raise UserError(f"parameter {self.name!r} of {owner} must be {kind}, got {value!r}") from None
        if self.type in (int, float) and not self.in_range(out):
            raise UserError(f"parameter {self.name!r} of {owner} must be in {self.range_text()}, got {out!r}")
        if self.choices is not None and out not in self.choices:
            raise UserError(
                f"parameter {self.name!r} of {owner} must be one of {', '.join(map(str, self.choices))}; got {out!r}"
            )
        return out


def _fail():
    raise ValueError


def split_assignments(items: Sequence[str]) -> dict[str, str]:
    """Parse ["k=v", ...] as given on the command line."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def resolve_params(specs: Sequence[Param], given: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Every declared parameter with its value (given or default); unknown keys are an error."""
    known = {p.name: p for p in specs}
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise UserError(f"unknown parameter {unknown[0]!r} for {owner}; it accepts: {names}")
    return {p.name: (p.coerce(given[p.name], owner) if p.name in given else p.default) for p in specs}


def describe_params(specs: Sequence[Param]) -> str:
    """Lines for --help and `list` output."""
    lines = []
    for p in specs:
        choices = (
            f" (one of: {', '.join(map(str, p.choices))})"
            if p.choices
            else f" in {p.range_text()}"
            if p.range_text()
            else ""
        )
        lines.append(f"  {p.name}={p.default!r} [{p.type.__name__}]{choices}  {p.help}")
    return "\n".join(lines)
