"""Published figures to print beside ours: the contract of a published table (keyed by paper graph,
budget fraction and the publication's method) and lookup in the plug-in registry `experiments.TABLES`.

A publication is one `PublishedTable` (a module's `PUBLISHED`, e.g. experiments/paper.py: the Moccasin
paper's Table 2): its results, its method names, and which of our methods stands in each of its
columns, by method identity (`match`: {"moccasin[order=fixed]": "moccasin-fixed"}; an identity pattern
matches every run of that formulation with those key-parameter values).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moccasin_bench.errors import UserError
from moccasin_bench.method import MethodId, method_id


@dataclass(frozen=True)
class PaperResult:
    """One cell of a published table; None where the publication gives no figure."""

    tdi_percent: float | None = None
    peak: str | None = None  # as printed: "89.2 %" or "132,130"
    seconds: float | None = None  # seconds to the best solution
    note: str = ""  # e.g. "time limit" when the paper's run found nothing

    def describe(self) -> str:
        if self.note and self.tdi_percent is None:
            return self.note
        parts = [
            f"{self.tdi_percent:.1f}" if self.tdi_percent is not None else "–",
            self.peak or "–",
            f"{self.seconds:g}" if self.seconds is not None else "–",
        ]
        return " / ".join(parts) + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class PublishedTable:
    """One publication's figures on the paper graphs (rl1..rl4, cm1, cm2)."""

    key: str  # "paper": also the prefix of its columns in table.csv
    heading: str  # "Beside the paper"
    source: str  # the citation, with the hardware it ran on
    method_names: Mapping[str, str]  # the publication's method key -> its name in our tables
    results: Mapping[tuple[str, float, str], PaperResult]  # (paper graph, budget fraction, method key) -> cell
    match: Mapping[str, str]  # our method identity (a pattern: name[p=v,...]) -> its method key
    note: str = ""  # said under the heading

    def method_key(self, formulation: str, params: Mapping[str, Any]) -> str | None:
        """Which of the publication's columns a run of ours stands in (None: the publication had no such method)."""
        mine = method_id(formulation, params)
        return next((key for pattern, key in self.match.items() if mine.matches(MethodId.parse(pattern))), None)

    def result(self, graph: str | None, fraction: float | None, method_key: str | None) -> PaperResult | None:
        if graph is None or fraction is None or method_key is None:
            return None
        return self.results.get((graph, round(float(fraction), 6), method_key))


def tables() -> dict[str, str]:
    """key -> module path of every registered published table."""
    from experiments import TABLES

    return dict(TABLES)


def published_table(key: str) -> PublishedTable:
    reg = tables()
    if key not in reg:
        raise UserError(f"unknown published table {key!r}; known: {', '.join(reg)}")
    table = importlib.import_module(reg[key]).PUBLISHED
    if table.key != key:
        raise UserError(f"published table {key!r}: module {reg[key]!r} declares the key {table.key!r}")
    return table
