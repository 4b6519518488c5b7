"""The paper-style table: TDI % / peak / seconds to best per graph × budget × method.

Three forms: the wide table (one row per graph and budget, one column per method, as in
the paper) in markdown and LaTeX; the long table (one row per cell, every figure, the
paper's numbers beside ours) as CSV and markdown; and the comparison with the paper.
Only valid runs (optimal, feasible) give numbers; any other status is written as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moccasin_bench.report.analysis import Analysis
from moccasin_bench.report.bounds import NO_RECOMPUTATION
from moccasin_bench.report.published import PublishedTable

if TYPE_CHECKING:
    import pandas as pd

OPTIMAL_MARK = "*"
END_OF_RUN_MARK = "†"
CELL_LEGEND = (
    f"Each cell: TDI % / peak memory (in % of the reference order's peak) / seconds to best. "
    f"{OPTIMAL_MARK} = proven optimal (within the method's own restrictions, e.g. fixed order); "
    f"{END_OF_RUN_MARK} = the run recorded no trajectory point at its final cost, so the time shown is the end of the run. "
    "gap = 100 x (cost - bound) / cost against the largest proven lower bound of that graph and budget whose "
    "scope contains the schedule (a model's bound holds within its restrictions only: order, computations per "
    "node); shown where such a bound exists. "
    "Seconds count from the start of the run, model building included. "
    "Statuses other than optimal/feasible are written as words, never as numbers."
)


@dataclass(frozen=True)
class Skipped:
    """A cell the grid left out on purpose, and why (shown instead of a result)."""

    graph_hash: str
    budget_fraction: float
    method: str
    reason: str


def _isnan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_seconds(s: float | None) -> str:
    if _isnan(s):
        return "–"
    if s < 10:
        return f"{s:.2f}"
    if s < 100:
        return f"{s:.1f}"
    return f"{s:,.0f}"


def fmt_memory(x: float | None) -> str:
    """12,345 below ten million; 12.07 G (engineering, four digits) above, as byte-sized graphs need."""
    if _isnan(x):
        return "–"
    x = float(x)
    if abs(x) < 1e7:
        return f"{x:,.0f}"
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(x) >= scale:
            return f"{x / scale:.4g} {unit}"
    return f"{x:,.0f}"  # pragma: no cover


def fmt_tdi(x: float | None) -> str:
    return "–" if _isnan(x) else f"{x:.2f}"


def status_text(row: Any) -> str:
    """Words for a run that gave no valid schedule."""
    s = row.status
    if s == "no_solution":
        wall = getattr(row, "wall_seconds", float("nan"))
        timed_out = "time limit" in str(getattr(row, "message", "")).lower()
        if not timed_out and not _isnan(wall) and wall < 0.9 * row.time_limit_seconds:  # e.g. no LP rounding fits
            return f"no solution (gave up at {fmt_seconds(wall)} s)"
        return f"no solution in {row.time_limit_seconds:g} s"
    if s == "invalid":
        return "INVALID schedule"
    if s == "error":
        return "killed (time/memory)" if "killed" in str(row.message) or "died" in str(row.message) else "error"
    return s


def cell_text(row: Any) -> str:
    """'0.79* / 41,289 (89.1 %) / 9.32' for a valid run, the status in words otherwise."""
    if not row.valid:
        return status_text(row)
    tdi = fmt_tdi(row.tdi_percent) + (OPTIMAL_MARK if row.status == "optimal" else "")
    peak = fmt_memory(row.peak_memory)
    if not _isnan(row.peak_percent) and not _isnan(row.budget_fraction):
        peak += f" ({row.peak_percent:.1f} %)"
    secs = fmt_seconds(row.seconds_to_best) + (END_OF_RUN_MARK if row.seconds_to_best_from == "end of run" else "")
    gap = getattr(row, "gap_percent", float("nan"))
    trivial = getattr(row, "bound_method", "") == NO_RECOMPUTATION  # TDI 0.00 says it already
    shown = "" if _isnan(gap) or row.status == "optimal" or trivial else f" / gap {gap:.2f} %"
    return f"{tdi} / {peak} / {secs}{shown}"


def bound_text(row: Any) -> str:
    """'0.12 % (Moccasin (free): any order, at most 2 computations per node)' for a cell with a covering bound."""
    bound = getattr(row, "bound", float("nan"))
    if _isnan(bound) or not row.sum_duration:
        return "–"
    return f"{100.0 * (bound - row.sum_duration) / row.sum_duration:.2f} % ({row.bound_method}: {row.bound_scope})"


def seeds_text(row: Any) -> str:
    """For a cell of several runs (seeds): '; median 0.12, worst 0.30 of 5 (4 fit)'; '' for one run."""
    if row.runs_in_cell <= 1:
        return ""
    fit = f" ({int(row.valid_in_cell)} fit)" if row.valid_in_cell < row.runs_in_cell else ""
    if not row.valid_in_cell:
        return f"; none of {row.runs_in_cell} runs fits"
    return f"; median {fmt_tdi(row.tdi_median)}, worst {fmt_tdi(row.tdi_worst)} of {row.runs_in_cell}{fit}"


def graph_cell(graphs_row: Any) -> str:
    return f"{graphs_row.graph_label} (n={int(graphs_row.nodes):,})"


def wide_rows(a: Analysis, skipped: Sequence[Skipped] = ()) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paper-style table."""
    header = ["Graph", "Budget", *a.methods]
    cells = {(r.graph_hash, int(r.budget), r.method): r for r in a.cells.itertuples()}
    skip = {(s.graph_hash, round(s.budget_fraction, 6), s.method): s.reason for s in skipped}
    rows = []
    for g in a.graphs.itertuples():
        budgets = a.runs[a.runs["graph_hash"] == g.graph_hash][
            ["budget", "budget_fraction", "budget_label"]
        ].drop_duplicates("budget")
        budgets = budgets.assign(_f=budgets["budget_fraction"].fillna(-1.0)).sort_values(
            ["_f", "budget"], ascending=[False, False]
        )
        for b in budgets.itertuples():
            line = [graph_cell(g), b.budget_label]
            for m in a.methods:
                c = cells.get((g.graph_hash, int(b.budget), m))
                if c is not None:
                    line.append(cell_text(c) + (f" (best{seeds_text(c)})" if c.runs_in_cell > 1 else ""))
                elif not _isnan(b.budget_fraction) and (g.graph_hash, round(b.budget_fraction, 6), m) in skip:
                    line.append("not run: " + skip[(g.graph_hash, round(b.budget_fraction, 6), m)])
                else:
                    line.append("–")
            rows.append(line)
    return header, rows


def long_frame(a: Analysis, published: Sequence[PublishedTable] = ()) -> pd.DataFrame:
    """One row per cell with every figure (and each publication's, where it has one): the CSV table."""
    import pandas as pd

    order = {m: i for i, m in enumerate(a.methods)}
    gorder = {h: i for i, h in enumerate(a.graphs["graph_hash"])}
    rows = []
    for c in a.cells.itertuples():
        theirs = {}
        for t in published:
            cell = t.result(
                c.paper_graph or None,
                None if _isnan(c.budget_fraction) else c.budget_fraction,
                t.method_key(c.formulation, _params(c.params)),
            )
            theirs.update(
                {
                    f"{t.key}_tdi_percent": cell.tdi_percent if cell else None,
                    f"{t.key}_peak": cell.peak if cell else None,
                    f"{t.key}_seconds": cell.seconds if cell else None,
                    f"{t.key}_note": cell.note if cell else None,
                }
            )
        rows.append(
            {
                "graph": c.graph_label,
                "nodes": c.nodes,
                "edges": c.edges,
                "budget_fraction": c.budget_fraction,
                "budget": int(c.budget),
                "reference_peak": c.reference_peak,
                "method": c.method,
                "formulation": c.formulation,
                "params": c.params,
                "status": c.status,
                "runs": int(c.runs_in_cell),
                "valid_runs": int(c.valid_in_cell),
                "tdi_median": c.tdi_median,
                "tdi_worst": c.tdi_worst,
                "tdi_percent": c.tdi_percent if c.valid else None,
                "peak_memory": c.peak_memory if c.valid else None,
                "peak_percent_of_reference": c.peak_percent if c.valid else None,
                "total_duration": c.total_duration if c.valid else None,
                "best_known_cost": c.best_known_cost,
                "best_bound": c.best_bound,
                "bound": getattr(c, "bound", None),
                "bound_method": getattr(c, "bound_method", ""),
                "bound_scope": getattr(c, "bound_scope", ""),
                "gap_percent": getattr(c, "gap_percent", None),
                "seconds_to_best": c.seconds_to_best,
                "seconds_to_best_from": c.seconds_to_best_from,
                "seconds_to_within_1pct": c.seconds_to_1pct,
                "wall_seconds": c.wall_seconds,
                "time_limit_seconds": c.time_limit_seconds,
                "threads": c.threads,
                "message": c.message,
                **theirs,
                "_g": gorder.get(c.graph_hash, 0),
                "_m": order.get(c.method, 0),
                "_f": -(c.budget_fraction if not _isnan(c.budget_fraction) else -1.0),
            }
        )
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values(["_g", "_f", "budget", "_m"]).drop(columns=["_g", "_m", "_f"]).reset_index(drop=True)
    return df


def _params(value: Any) -> dict:
    import json

    return value if isinstance(value, dict) else json.loads(value) if isinstance(value, str) and value else {}


def published_rows(
    a: Analysis, table: PublishedTable, skipped: Sequence[Skipped] = ()
) -> tuple[list[str], list[list[str]]]:
    """Ours beside a publication's figures, on the paper graphs and the publication's methods (empty without them)."""
    skip = {(s.graph_hash, round(s.budget_fraction, 6), s.method): s.reason for s in skipped}
    header = [
        "Graph",
        "Budget",
        "Method",
        "ours: TDI % / peak / s",
        f"{table.key}: TDI % / peak / s",
        "best proven bound (TDI %, from)",
    ]
    rows = []
    cells = a.cells
    matched = [table.method_key(f, _params(p)) or "" for f, p in zip(cells["formulation"], cells["params"])]
    cells = cells.assign(_published=matched)
    for g in a.graphs.itertuples():
        if not g.paper_graph:
            continue
        here = cells[cells["graph_hash"] == g.graph_hash]
        fractions = sorted({float(f) for f in here["budget_fraction"].dropna()}, reverse=True)
        for f in fractions:
            for key, name in table.method_names.items():
                theirs = table.result(g.paper_graph, f, key)
                mine = here[(here["budget_fraction"].round(6) == round(f, 6)) & (here["_published"] == key)]
                if theirs is None and not len(mine):
                    continue
                blabel = f"{100 * f:g} %"
                if not len(mine):
                    why = next(
                        (
                            r
                            for (h, f2, m), r in skip.items()
                            if h == g.graph_hash and f2 == round(f, 6) and m.startswith(name)
                        ),
                        None,
                    )
                    rows.append(
                        [g.graph_label, blabel, name, f"not run: {why}" if why else "not run", theirs.describe(), "–"]
                    )
                for c in mine.itertuples():
                    rows.append(
                        [
                            g.graph_label,
                            blabel,
                            c.method,
                            cell_text(c) + seeds_text(c),
                            theirs.describe() if theirs else "–",
                            bound_text(c),
                        ]
                    )
    return header, rows


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\,\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
    "†": r"$^\dagger$",
    "*": r"$^*$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials; '89.1 %' becomes '89.1\\,\\%' (a thin space, as typeset)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text).replace(" %", "%"))


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str, label: str = "tab:remat") -> str:
    """A booktabs table (needs \\usepackage{booktabs}); graph and budget left, methods centred."""
    spec = "ll" + "c" * (len(header) - 2)
    lines = [
        r"\begin{table*}[t]",
        r"\centering",
        r"\small",
        r"\resizebox{\textwidth}{!}{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    previous = None
    for row in rows:
        graph = row[0] if row[0] != previous else ""
        if previous is not None and row[0] != previous:
            lines.append(r"\addlinespace")
        previous = row[0]
        lines.append(" & ".join(latex_escape(c) for c in [graph, *row[1:]]) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}}",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        r"\end{table*}",
    ]
    return "\n".join(lines) + "\n"


def write_tables(
    a: Analysis,
    out_dir: Path,
    preamble: Sequence[str] = (),
    skipped: Sequence[Skipped] = (),
    published: Sequence[PublishedTable] = (),
) -> Mapping[str, Path]:
    """Write table.md (self-contained: notes, wide table, published comparisons, details), table.tex and table.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    header, rows = wide_rows(a, skipped)
    long = long_frame(a, published)
    paths = {"md": out_dir / "table.md", "tex": out_dir / "table.tex", "csv": out_dir / "table.csv"}
    long.to_csv(paths["csv"], index=False)
    paths["tex"].write_text(latex_table(header, rows, CELL_LEGEND))
    paths["md"].write_text(table_markdown(a, skipped, preamble, (header, rows), long, published))
    return paths


def table_markdown(
    a: Analysis,
    skipped: Sequence[Skipped],
    preamble: Sequence[str],
    wide: tuple[list[str], list[list[str]]] | None = None,
    long: pd.DataFrame | None = None,
    published: Sequence[PublishedTable] = (),
) -> str:
    header, rows = wide or wide_rows(a, skipped)
    long = long_frame(a, published) if long is None else long
    parts = ["# Results table\n"]
    parts += [p + "\n" for p in preamble]
    parts += [CELL_LEGEND + "\n", markdown_table(header, rows)]
    for table in published:
        ph, pr = published_rows(a, table, skipped)
        if pr:
            parts += [
                f"## {table.heading}\n\nFigures: {table.source}. {table.note}".rstrip() + "\n",
                markdown_table(ph, pr),
            ]
    parts.append(details_markdown(long))
    return "\n".join(parts)


def details_markdown(long: pd.DataFrame) -> str:
    """The long table's main columns in markdown (the CSV has them all)."""
    head = [
        "Graph",
        "Budget",
        "Method",
        "Status",
        "TDI %",
        "Gap %",
        "Peak",
        "Peak %",
        "s to best",
        "s to 1 %",
        "Limit s",
        "Runs",
    ]
    rows = []
    for r in long.itertuples():
        budget = f"{100 * r.budget_fraction:g} %" if not _isnan(r.budget_fraction) else f"{r.budget:,}"
        gap = getattr(r, "gap_percent", None)
        rows.append(
            [
                r.graph,
                budget,
                r.method,
                r.status,
                fmt_tdi(r.tdi_percent),
                fmt_tdi(gap),
                fmt_memory(r.peak_memory),
                "–" if _isnan(r.peak_percent_of_reference) else f"{r.peak_percent_of_reference:.1f}",
                fmt_seconds(r.seconds_to_best),
                fmt_seconds(r.seconds_to_within_1pct),
                f"{r.time_limit_seconds:g}",
                str(r.runs),
            ]
        )
    return (
        "## Every cell\n\nOne row per graph × budget × method (the representative run: the best valid one). "
        "`s to 1 %` = seconds until the run's cost was within 1 % of the best known cost of that graph and budget "
        "(– = never). table.csv holds these and more columns (bounds, messages, published figures).\n\n"
        + markdown_table(head, rows)
    )
