"""`moccasin-bench export --store PATH --format csv|parquet`: the store's tables as files for pandas & co."""

from __future__ import annotations

import argparse
import sys

HELP = "export a results store's runs and trajectories to CSV or Parquet"
EPILOG = """Writes STORE-runs.FORMAT (one row per run, formulation parameters as param_* columns)
and STORE-trajectories.FORMAT (long format: run_key, seconds, cost, bound, tdi_percent).
In Python, moccasin_bench.store.load_runs(PATH) and load_trajectories(PATH) give the
same tables as pandas DataFrames without exporting.

examples:
  moccasin-bench export --store results/paper.sqlite --format csv
  moccasin-bench export --store results/paper.sqlite --format parquet -o results/export --schedules"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, metavar="PATH", help="SQLite results file written by `sweep`")
    parser.add_argument(
        "--format", required=True, choices=("csv", "parquet"), help="output format (parquet needs pyarrow)"
    )
    parser.add_argument(
        "-o", "--output-dir", metavar="DIR", help="where to write the files (default: beside the store)"
    )
    parser.add_argument(
        "--schedules", action="store_true", help="add each run's schedule (JSON list of node ids) to the runs table"
    )


def run(args: argparse.Namespace) -> int:
    from moccasin_bench.store import export

    for path in export(args.store, args.format, args.output_dir, schedules=args.schedules):
        print(path, file=sys.stderr)
    return 0
