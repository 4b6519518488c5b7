"""The Moccasin paper's reported numbers (ICML 2023, Table 2; docs/paper.md), to print beside ours.

The paper ran on a 16-core workstation. Its peaks are given either as a percentage of the
reference peak (RL1) or in the graph's units (RL2); some cells give only TDI and time, or
only "time limit". Keys: paper graph name (catalog), budget fraction, method key
(`moccasin-fixed`, `checkmate-milp`, `checkmate-lp`; see `paper_method_key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class PaperResult:
    """One cell of the paper's table; None where the paper gives no figure."""

    tdi_percent: float | None = None
    peak: str | None = None  # as printed: "89.2 %" or "132,130"
    seconds: float | None = None  # seconds to the best solution
    note: str = ""  # e.g. "time limit" when the paper's run found nothing

    def describe(self) -> str:
        if self.note and self.tdi_percent is None:
            return self.note
        parts = [f"{self.tdi_percent:.1f}" if self.tdi_percent is not None else "–", self.peak or "–",
                 f"{self.seconds:g}" if self.seconds is not None else "–"]
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


def paper_result(graph: str | None, fraction: float | None, method_key: str | None) -> PaperResult | None:
    """The paper's cell for a paper graph (catalog name), a budget fraction and a method, if any."""
    if graph is None or fraction is None or method_key is None:
        return None
    return PAPER_RESULTS.get((graph, round(float(fraction), 6), method_key))


def paper_method_key(formulation: str, params: Mapping[str, Any]) -> str | None:
    """Which of the paper's columns a method corresponds to (None: the paper had no such method)."""
    if formulation == "moccasin" and params.get("order", "fixed") == "fixed":
        return "moccasin-fixed"
    if formulation in ("checkmate-milp", "checkmate-lp"):
        return formulation
    return None
