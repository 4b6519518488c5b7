"""Write a whole report from a results store: tables, figures, one index page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from moccasin_bench.errors import UserError
from moccasin_bench.report.table import CELL_LEGEND, Skipped

if TYPE_CHECKING:
    import pandas as pd

    from moccasin_bench.report.analysis import Analysis


@dataclass(frozen=True)
class ReportRequest:
    """What to report on and what to say first."""

    store: Path
    out_dir: Path
    keys: frozenset[str] | None = None  # only these runs (None = the whole store)
    title: str = "moccasin-bench report"
    preamble: Sequence[str] = ()  # paragraphs shown first (e.g. what `reproduce` ran and how)
    skipped: Sequence[Skipped] = ()
    schedule_run: str | None = None  # run key (or unique prefix) to draw; None = the default pick
    schedule_file: str | None = None  # a schedule JSON to draw instead, with schedule_graph
    schedule_graph: str | None = None
    data_dir: str | None = None
    figures: bool = True
    published: Sequence[str] = ("paper",)  # keys of published tables to print beside ours (experiments.TABLES)
    model_sizes: Path | None = (
        None  # a model-size table (moccasin_bench.model_sizes): its section; with it, the solve-effort figure
    )
    # an experiment's own section: (analysis, figure dir) -> (index blocks, figures), shown after the results table
    section: Callable[[Analysis, Path], tuple[list, list]] | None = None
    effort_ratios: Sequence[tuple[str, str]] = ()  # (numerator, denominator) method labels: the effort section


@dataclass
class ReportResult:
    index_md: Path
    index_html: Path
    tables: dict
    figures: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # what could not be drawn, and why


def stand_in_note(a: Analysis) -> list[str]:
    """A loud note when generated stand-ins replace the paper's graphs."""
    notes = []
    if a.stand_ins:
        listed = ", ".join(f"{label} for {paper.upper()}" for label, paper in a.stand_ins.items())
        notes.append(
            f"GENERATED STAND-INS, NOT THE PAPER'S GRAPHS: {listed}. They are built with the paper's "
            "generator parameters (random layered) or as training graphs of similar size, but they are other "
            "graphs: their numbers cannot be compared with the paper's. `moccasin-bench graphs download` "
            "fetches the paper's files (or pass --data-dir DIR) to reproduce the paper itself."
        )
    return notes


def paper_graph_note(a: Analysis) -> list[str]:
    notes = []
    if a.paper_graphs:
        notes.append(f"The paper's own graph files were used for {', '.join(a.paper_graphs)}.")
    return notes


def _environment(runs: pd.DataFrame) -> list[str]:
    lines = []
    for col, name in (
        ("cpu_model", "CPU"),
        ("cpu_count", "CPUs"),
        ("hostname", "host"),
        ("moccasin_bench_version", "moccasin-bench"),
        ("git_revision", "git"),
        ("ortools_version", "OR-Tools"),
        ("highspy_version", "highspy"),
        ("python_version", "Python"),
    ):
        if col in runs:
            values = sorted({str(v) for v in runs[col].dropna()})
            if values:
                lines.append(f"{name}: {', '.join(values)}")
    return lines


def _summary(a: Analysis) -> str:
    from moccasin_bench.formulation import STATUSES

    r = a.runs
    counts = r["status"].value_counts()
    statuses = ", ".join(f"{int(counts[s])} {s}" for s in STATUSES if s in counts)
    limits = sorted({float(x) for x in r["time_limit_seconds"].dropna()})
    threads = sorted({int(x) for x in r["threads"].dropna()})
    return (
        f"{len(r)} runs on {len(a.graphs)} graph(s), {len(a.methods)} method(s): {statuses}. "
        f"Time limits: {', '.join(f'{x:g}' for x in limits)} s; solver threads per run: "
        f"{', '.join(map(str, threads))}. Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}."
    )


def _failures(a: Analysis) -> list[list[str]]:
    bad = a.runs[a.runs["status"].isin(["invalid", "error"])].sort_values(["sort_key", "method_rank"])
    rows = []
    for r in bad.itertuples():
        msg = str(r.message or "").splitlines()[0][:300] if isinstance(r.message, str) else ""
        rows.append([r.graph_label, r.budget_label, r.method, r.status.upper(), msg, r.key])
    return rows


def build_report(req: ReportRequest) -> ReportResult:
    """Read the store, write table.{md,tex,csv}, figures/*.{png,svg}, index.{md,html} into out_dir."""
    from moccasin_bench.report import figures as figs
    from moccasin_bench.report import index as page
    from moccasin_bench.report import schedule as sched
    from moccasin_bench.report.analysis import analyse
    from moccasin_bench.report.published import published_table
    from moccasin_bench.report.table import published_rows, wide_rows, write_tables
    from moccasin_bench.store import load_runs, load_trajectories

    runs, traj = load_runs(req.store), load_trajectories(req.store)
    a = analyse(runs, traj, req.keys)
    a = _with_gaps(a, req.store)
    if not len(a.runs):
        raise UserError(
            "the results store holds no runs to report on" + (" (of this grid)" if req.keys is not None else ""),
            str(req.store),
        )
    out = req.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output directory: {exc.strerror or exc}", str(out)) from None
    preamble = [*stand_in_note(a), *req.preamble, *paper_graph_note(a)]
    published = [published_table(k) for k in req.published]
    tables = write_tables(a, out, [*preamble, _summary(a)], req.skipped, published)
    result = ReportResult(index_md=out / "index.md", index_html=out / "index.html", tables=dict(tables))

    fig_dir = out / "figures"
    if req.figures:
        item = _schedule_item(req, a, result)  # first: a bad --schedule-run fails before the drawing
        for make, what in (
            (figs.scaling, "scaling curves"),
            (figs.anytime, "anytime curves"),
            (figs.tdi_vs_budget, "TDI against budget"),
            (figs.performance_profiles, "performance profiles"),
        ):
            drawn = make(a, fig_dir)
            if not drawn:
                result.notes.append(
                    f"{what} not drawn: they need runs at budgets given as fractions of a reference peak "
                    "(scaling curves, TDI against budget) and valid schedules"
                )
            result.figures += drawn
        if item is not None:
            result.figures.append(sched.draw(item, fig_dir))
    size_table, size_note = None, ""
    if req.model_sizes is not None:
        from moccasin_bench.report import scaling as sc

        size_figures, size_table, size_note = (
            sc.size_section(req.model_sizes, fig_dir) if req.figures else ([], None, "")
        )
        if req.figures:
            result.figures = [*size_figures, *result.figures]

    blocks: list = [page.Paragraph(p, strong=p.startswith("GENERATED")) for p in preamble]
    blocks.append(page.Paragraph(_summary(a)))
    env = _environment(a.runs)
    if env:
        blocks.append(page.Paragraph("Environment: " + "; ".join(env) + "."))
    header, rows = wide_rows(a, req.skipped)
    blocks += [
        page.Heading("Results"),
        page.Paragraph(CELL_LEGEND),
        page.Table(header, rows),
        page.Links([("table (markdown, with every cell)", "table.md"), ("LaTeX", "table.tex"), ("CSV", "table.csv")]),
    ]
    if req.section is not None:
        extra_blocks, extra_figures = req.section(a, fig_dir)
        blocks += extra_blocks
        result.figures = [*extra_figures, *result.figures]
    for table in published:
        ph, pr = published_rows(a, table, req.skipped)
        if pr:
            blocks += [
                page.Heading(table.heading),
                page.Paragraph(f"Figures: {table.source}. {table.note}".rstrip()),
                page.Table(ph, pr),
            ]
    if size_table is not None:
        blocks += [
            page.Heading("Model size against n"),
            page.Paragraph(
                "Fitted growth exponents (log-log slopes) of each formulation's model, built without "
                "solving on graphs of growing n, and the largest n each builder finished within its caps "
                f"(model-sizes.csv has every figure).{size_note}"
            ),
            page.Table(*size_table),
        ]
    if req.effort_ratios or req.model_sizes is not None:  # solve effort against n
        blocks += _effort_section(a, req, out, result)
    fails = _failures(a)
    if fails:
        blocks += [
            page.Heading("Failed runs"),
            page.Paragraph(
                "Runs that ended in `error` (crash, kill at the time limit + grace, memory cap) or "
                "`invalid` (the simulator rejected the schedule: a formulation bug)."
            ),
            page.Table(["Graph", "Budget", "Method", "Status", "Message", "Run key"], fails),
        ]
    if result.figures:
        blocks.append(page.Heading("Figures"))
        blocks += [page.FigureBlock(f) for f in result.figures]
    for note in result.notes:
        blocks.append(page.Paragraph(note))
    page.write_index(blocks, out, req.title)
    return result


def _effort_section(a: Analysis, req: ReportRequest, out: Path, result: ReportResult) -> list:
    """Solve effort against n and the named methods' effort ratios (report.effort): tables, the claim as
    measured, effort-ratios.csv, and the two figures (placed first among the figures)."""
    import pandas as pd

    from moccasin_bench.report import effort
    from moccasin_bench.report import index as page

    present = set(a.methods)
    pairs = [(num, den) for num, den in req.effort_ratios if num in present and den in present]
    blocks: list = [page.Heading("Solve effort")]
    frames = []
    for num, den in pairs:
        ratios = effort.pair_ratios(a, num, den)
        if not len(ratios):
            continue
        frames.append(ratios.assign(numerator=num, denominator=den))
        summary = effort.ratio_summary(ratios)
        blocks.append(page.Paragraph(effort.claim_sentence(num, den, summary)))
        if ratios["graph_hash"].nunique() > ratios["nodes"].nunique():  # several graphs per size: per n
            blocks.append(page.Table(*effort.ratio_rows(num, den, summary)))
        else:
            blocks.append(page.Table(*effort.instance_rows(num, den, ratios)))
    if frames:
        pd.concat(frames).to_csv(out / "effort-ratios.csv", index=False)
        blocks.append(
            page.Paragraph(
                "Times to within 1 % of the better of the pair's two costs; a ratio is a lower bound (≥) where the "
                "first method did not get there by its time limit, an upper bound (≤) where the second did not, and "
                "unknown where neither did. Every instance: effort-ratios.csv."
            )
        )
        blocks.append(page.Links([("every instance (CSV)", "effort-ratios.csv")]))
    if req.figures:
        drawn = [*effort.times_figure(a, out / "figures"), *effort.ratio_figure(a, pairs, out / "figures")]
        result.figures = [*drawn, *result.figures]
    return blocks if len(blocks) > 1 else []


def _with_gaps(a: Analysis, store: Path) -> Analysis:
    """The analysis with each cell's best covering bound and gap (report.bounds)."""
    import dataclasses

    from moccasin_bench.report.bounds import with_gaps
    from moccasin_bench.store import schedule_max_computations

    valid = a.cells[a.cells["valid"]]
    counts = schedule_max_computations(store, valid["key"].tolist()) if len(valid) else {}
    return dataclasses.replace(a, cells=with_gaps(a.runs, a.cells, counts))


def _schedule_item(req: ReportRequest, a: Analysis, result: ReportResult):
    """The schedule to draw: a file, the requested run, or the default pick (None, with a note, if none)."""
    from moccasin_bench.report import schedule as sched

    if req.schedule_file:
        if not req.schedule_graph:
            raise UserError("--schedule needs --graph: the graph the schedule is for")
        return sched.from_file(req.schedule_file, req.schedule_graph, req.data_dir)
    key = req.schedule_run or sched.pick_default_run(a)
    if key is None:
        result.notes.append("schedule figure not drawn: no run has a valid schedule")
        return None
    try:
        return sched.from_store(a, req.store, key, req.data_dir)
    except UserError as exc:
        if req.schedule_run:
            raise
        result.notes.append(f"schedule figure not drawn: {exc}")
        return None


__all__ = ["ReportRequest", "ReportResult", "build_report", "stand_in_note"]
