"""`moccasin-bench report --store PATH -o DIR`: the paper-style table, figures and an index page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write the paper-style table, scaling/anytime/budget/profile figures and an index page from a results store"
EPILOG = """Writes into DIR: index.html and index.md (the table and every figure), table.md /
table.tex / table.csv (TDI % / peak / seconds to best per graph x budget x method; the
CSV has every figure, the paper's numbers beside ours), and figures/*.png + *.svg:
scaling-time, scaling-tdi, anytime-GRAPH, tdi-vs-budget, performance-profiles and
schedule-* (memory over time against the budget, and retention intervals, for one
schedule: --schedule-run KEY, or a schedule file with --schedule FILE --graph GRAPH;
default: the best Moccasin run on the largest graph at the tightest budget).
Only runs with status optimal or feasible give numbers; other statuses are shown as words.

examples:
  moccasin-bench report --store results/paper_table.sqlite -o results/paper_table
  moccasin-bench report --store results/quick.sqlite -o report --schedule-run 3fa9c1
  moccasin-bench report --store results/quick.sqlite -o report --schedule rl1_90.json --graph rl1
  moccasin-bench report --store results/quick.sqlite -o report --no-figures"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", required=True, metavar="PATH", help="SQLite results file written by `sweep` or `reproduce`"
    )
    parser.add_argument(
        "-o", "--output-dir", required=True, metavar="DIR", help="where to write the report (created if missing)"
    )
    parser.add_argument("--title", default="moccasin-bench report", help="the index page's title")
    parser.add_argument(
        "--schedule-run", metavar="KEY", help="draw this run's schedule (its key, or a unique prefix; see table.csv)"
    )
    parser.add_argument(
        "--schedule", metavar="FILE", help="draw this schedule file (from `solve -o`) instead; needs --graph"
    )
    parser.add_argument(
        "--graph", metavar="GRAPH", help="the graph of --schedule (a file, a registered name or a generator spec)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="where the paper's graph files are (to redraw a stored schedule on them)"
    )
    parser.add_argument("--no-figures", action="store_true", help="tables and index only")


def run(args: argparse.Namespace) -> int:
    from moccasin_bench.errors import UserError
    from moccasin_bench.report import ReportRequest, build_report

    if args.schedule and args.schedule_run:
        raise UserError("give --schedule FILE or --schedule-run KEY, not both")
    if args.graph and not args.schedule:
        raise UserError("--graph goes with --schedule FILE")
    result = build_report(
        ReportRequest(
            store=Path(args.store),
            out_dir=Path(args.output_dir),
            title=args.title,
            schedule_run=args.schedule_run,
            schedule_file=args.schedule,
            schedule_graph=args.graph,
            data_dir=args.data_dir,
            figures=not args.no_figures,
        )
    )
    for note in result.notes:
        print(f"report: {note}", file=sys.stderr)
    print(f"report: {len(result.figures)} figure(s); open {result.index_html} (or {result.index_md})", file=sys.stderr)
    return 0
