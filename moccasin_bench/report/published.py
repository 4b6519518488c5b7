"""Published figures to print beside ours: a table per publication, keyed by paper graph,
budget fraction and the publication's method.

`PAPER` is the Moccasin paper's Table 2 (ICML 2023; docs/paper.md), measured on a 16-core
workstation: its peaks are given either as a percentage of the reference peak (RL1) or in
the graph's units (RL2); some cells give only TDI and time, or only "time limit". A
publication is one `PublishedTable` in `TABLES`: its results, its method names, and which
of our methods (formulation + parameters) stands in its column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


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


PAPER_SOURCE = "Bartan et al., Moccasin, ICML 2023, Table 2 (16-core workstation)"

PAPER_RESULTS: dict[tuple[str, float, str], PaperResult] = {
    ("rl1", 0.9, "checkmate-milp"): PaperResult(0.8, "89.2 %", 18.5),
    ("rl1", 0.9, "moccasin-fixed"): PaperResult(0.8, "88.1 %", 9.3),
    ("rl1", 0.8, "checkmate-milp"): PaperResult(2.3, "79.5 %", 22.7),
    ("rl1", 0.8, "moccasin-fixed"): PaperResult(2.3, "79.5 %", 9.5),
    ("rl2", 0.9, "checkmate-milp"): PaperResult(0.9, "132,130", 685.1),
    ("rl2", 0.9, "checkmate-lp"): PaperResult(93.0, "178,200", 401.7),
    ("rl2", 0.9, "moccasin-fixed"): PaperResult(0.9, "131,831", 55.0),
    ("rl2", 0.8, "checkmate-milp"): PaperResult(note="time limit"),
    ("rl2", 0.8, "checkmate-lp"): PaperResult(328.6, "181,200", 696.9),
    ("rl2", 0.8, "moccasin-fixed"): PaperResult(4.9, "117,400", 639.5),
    ("rl3", 0.9, "checkmate-milp"): PaperResult(note="time limit"),
    ("rl3", 0.8, "checkmate-milp"): PaperResult(note="time limit"),
    ("rl3", 0.9, "moccasin-fixed"): PaperResult(0.7, None, 1803.0),
    ("rl3", 0.8, "moccasin-fixed"): PaperResult(3.4, None, 1805.0),
    ("rl4", 0.9, "moccasin-fixed"): PaperResult(0.7, None, 3613.0),
    ("rl4", 0.8, "moccasin-fixed"): PaperResult(3.4, None, 3612.0),
    ("cm1", 0.9, "checkmate-milp"): PaperResult(0.0, None, 6.3),
    ("cm1", 0.8, "checkmate-milp"): PaperResult(0.1, None, 5.6),
    ("cm1", 0.9, "checkmate-lp"): PaperResult(0.0),
    ("cm1", 0.8, "checkmate-lp"): PaperResult(0.1),
    ("cm1", 0.9, "moccasin-fixed"): PaperResult(0.0, None, 3.1),
    ("cm1", 0.8, "moccasin-fixed"): PaperResult(0.1, None, 3.1),
    ("cm2", 0.9, "checkmate-milp"): PaperResult(0.1, None, 434.0),
    ("cm2", 0.8, "checkmate-milp"): PaperResult(0.3, None, 485.0),
    ("cm2", 0.9, "checkmate-lp"): PaperResult(0.1),
    ("cm2", 0.8, "checkmate-lp"): PaperResult(0.5),
    ("cm2", 0.9, "moccasin-fixed"): PaperResult(0.2, None, 65.0),
    ("cm2", 0.8, "moccasin-fixed"): PaperResult(0.3, None, 69.0),
}


def paper_method_key(formulation: str, params: Mapping[str, Any]) -> str | None:
    """Which of the paper's columns a method corresponds to (None: the paper had no such method)."""
    if formulation == "moccasin" and params.get("order", "fixed") == "fixed":
        return "moccasin-fixed"
    if formulation in ("checkmate-milp", "checkmate-lp"):
        return formulation
    return None


@dataclass(frozen=True)
class PublishedTable:
    """One publication's figures on the paper graphs (rl1..rl4, cm1, cm2)."""

    key: str  # "paper": also the prefix of its columns in table.csv
    heading: str  # "Beside the paper"
    source: str  # the citation, with the hardware it ran on
    method_names: Mapping[str, str]  # the publication's method key -> its name in our tables
    results: Mapping[tuple[str, float, str], PaperResult]  # (paper graph, budget fraction, method key) -> cell
    match: Callable[[str, Mapping[str, Any]], str | None]  # our formulation + params -> its method key
    note: str = ""  # said under the heading

    def result(self, graph: str | None, fraction: float | None, method_key: str | None) -> PaperResult | None:
        if graph is None or fraction is None or method_key is None:
            return None
        return self.results.get((graph, round(float(fraction), 6), method_key))


PAPER = PublishedTable(
    key="paper",
    heading="Beside the paper",
    source=PAPER_SOURCE,
    method_names={
        "moccasin-fixed": "Moccasin (fixed)",
        "checkmate-milp": "Checkmate MILP",
        "checkmate-lp": "Checkmate LP+rounding",
    },
    results=PAPER_RESULTS,
    match=paper_method_key,
    note="A peak there is either a percentage of the reference peak or an absolute figure, as the paper prints it.",
)

FASTSA_SOURCE = (
    "Imanishi et al., FastSA (simulated annealing with reordering), NeurIPS 2023: TDI % on the Moccasin "
    "paper's graphs at 90 / 80 / 70 % budgets; its code is not public"
)
FASTSA_RESULTS: dict[tuple[str, float, str], PaperResult] = {
    (graph, fraction, "fastsa"): PaperResult(tdi, seconds=seconds if fraction >= 0.8 else None)
    for graph, values, seconds in (
        ("rl1", (0.0, 0.3, 2.2), None),
        ("rl2", (0.0, 0.0, 2.6), 15.0),
        ("rl3", (0.03, 2.3, 4.8), None),
        ("rl4", (0.4, 2.5, 7.4), 36.0),
        ("cm1", (0.1, 0.1, 3.0), None),
        ("cm2", (0.2, 0.4, 0.8), None),
    )
    for fraction, tdi in zip((0.9, 0.8, 0.7), values)
}


def fastsa_method_key(formulation: str, params: Mapping[str, Any]) -> str | None:
    """Our method of FastSA's class: the annealer that reorders (free order)."""
    return "fastsa" if formulation == "annealing" and params.get("order", "free") == "free" else None


FASTSA = PublishedTable(
    key="fastsa",
    heading="Beside FastSA",
    source=FASTSA_SOURCE,
    method_names={"fastsa": "Annealing (free)"},
    results=FASTSA_RESULTS,
    match=fastsa_method_key,
    note="FastSA's seconds where its paper gives them (RL2 15 s, RL4 36 s at 90 and 80 %); ours: the median and the "
    "worst of the seeds run (one cell per seed set), each run 60 s at most in the fastsa grid.",
)

TABLES: dict[str, PublishedTable] = {t.key: t for t in (PAPER, FASTSA)}


def published_table(key: str) -> PublishedTable:
    if key not in TABLES:
        from moccasin_bench.errors import UserError

        raise UserError(f"unknown published table {key!r}; known: {', '.join(TABLES)}")
    return TABLES[key]
