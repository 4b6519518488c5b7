"""`moccasin-bench sweep CONFIG.toml`: run a grid of solves, each isolated, into one SQLite store."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

from moccasin_bench.formulation import STATUSES
from moccasin_bench.sources import DATA_DIR_HELP

LARGE_GRID = 10_000  # a grid larger than this is refused without --yes (its size is said first)

HELP = "run a TOML grid of solves (locally or on a Dask cluster) into a results store"
EPILOG = """Each run executes in its own child process, killed at its time limit plus a grace and
capped in memory; a crash, kill or memory blow-up is stored as an `error` row with the
tail of its stderr, and the sweep goes on. Runs already in the store (same key: graph
content, budget, formulation, parameters, time limit, threads, seed, gap) are skipped,
so an interrupted sweep resumes where it stopped. Only this process writes the store.
Exit status: 0 when every run of the grid is stored; 3 if any stored run is `invalid`
(a formulation returned a schedule the simulator rejects: a bug); 2 bad input.

examples:
  moccasin-bench reproduce --grid paper --write-grid -o results/paper   # writes a grid's config: grid.toml
  moccasin-bench sweep results/paper/grid.toml --dry-run
  moccasin-bench sweep results/paper/grid.toml --graphs rl1-gen,cm1-gen --time-limit 10 --store results/try.sqlite --jobs 2
  moccasin-bench sweep results/paper/grid.toml --store results/paper.sqlite --jobs 2
  moccasin-bench sweep results/paper/grid.toml --store results/paper.sqlite --retry error
  moccasin-bench sweep results/scaling/grid.toml --store results/scaling.sqlite --scheduler tcp://10.0.0.5:8786"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="sweep grid (TOML); see docs/sweeps.md")
    parser.add_argument(
        "--store", metavar="PATH", help="SQLite results file (default: results/<config file name without .toml>.sqlite)"
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        metavar="N",
        help="concurrent local runs (default 1); mind each run's --threads",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="send the runs to a Dask scheduler, e.g. tcp://HOST:8786 (needs moccasin-bench[dask])",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to wait for the Dask scheduler (default 30)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="with --scheduler: how long to wait while the cluster has no worker before stopping (default 600)",
    )
    parser.add_argument(
        "--graphs",
        metavar="LIST",
        help="comma-separated graphs: only these (a stand-in such as rl1-gen takes its paper graph's place; "
        "a graph the config does not name joins every grid)",
    )
    parser.add_argument(
        "--formulations",
        "--methods",
        metavar="LIST",
        help="comma-separated formulation names: only these of the config's",
    )
    parser.add_argument(
        "--time-limit", type=float, metavar="S", help="one time limit for every run, instead of the config's"
    )
    parser.add_argument(
        "--dry-run", "-n", action="store_true", help="print the grid and what is already done; run nothing"
    )
    parser.add_argument(
        "--yes", "-y", action="store_true", help=f"plan (and run) a grid of more than {LARGE_GRID:,} runs"
    )
    parser.add_argument(
        "--retry",
        action="append",
        default=[],
        choices=STATUSES,
        metavar="STATUS",
        help="also re-run stored runs with this status, e.g. error (repeatable)",
    )
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="address-space cap per run, e.g. 8G; 0 = none (default: config, else 80%% of RAM / concurrent runs)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        metavar="S",
        help="seconds past the time limit before the hard kill (default: config, else 30 s + 25%% of the limit)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="overrides the config's data_dir; " + DATA_DIR_HELP,
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line (failures are still printed)")


def _list(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from moccasin_bench.cluster import DaskExecutor, LocalExecutor, check_scheduler_address
    from moccasin_bench.errors import UserError
    from moccasin_bench.runner import check_grace, parse_memory_limit
    from moccasin_bench.store import stored_statuses
    from moccasin_bench.sweep import describe_plan, drive, grid_size, load_config, override, plan

    if not 1 <= args.jobs <= 1024:
        raise UserError(f"--jobs must be from 1 to 1024, got {args.jobs}")
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    if not (math.isfinite(args.connect_timeout) and 0 < args.connect_timeout <= 3600):
        raise UserError(f"--connect-timeout must be a number of seconds in (0, 3600], got {args.connect_timeout!r}")
    if not (math.isfinite(args.worker_timeout) and 0 <= args.worker_timeout <= 7 * 86400):
        raise UserError(
            f"--worker-timeout must be a number of seconds from 0 to 604800 (a week), got {args.worker_timeout!r}"
        )
    config = load_config(args.config)
    for option in ("graphs", "formulations"):
        if getattr(args, option) is not None and not _list(getattr(args, option)):
            raise UserError(f"--{option} names nothing: give a comma-separated list, or leave the option out")
    if args.time_limit is not None and not math.isfinite(args.time_limit):
        raise UserError(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    config = override(config, _list(args.graphs) or (), _list(args.formulations) or (), args.time_limit)
    if args.data_dir:
        config = dataclasses.replace(config, data_dir=args.data_dir)
    if args.memory_limit is not None:
        config = dataclasses.replace(config, memory_limit_bytes=parse_memory_limit(args.memory_limit, "--memory-limit"))
    if args.grace is not None:
        config = dataclasses.replace(config, grace_seconds=check_grace(args.grace, "--grace"))
    store_path = Path(args.store) if args.store else Path("results") / f"{Path(args.config).stem}.sqlite"
    size = grid_size(config)
    if size > LARGE_GRID:
        if not args.yes:
            raise UserError(
                f"the grid has {size:,} runs (more than {LARGE_GRID:,}): planning them takes long and much memory; "
                "check the config, or pass --yes to go on",
                args.config,
            )
        print(
            f"sweep {config.name!r}: the grid has {size:,} runs; planning them (--yes) ...", file=sys.stderr, flush=True
        )
    the_plan = plan(config)
    if args.dry_run:  # never creates the store
        print(describe_plan(the_plan, stored_statuses(store_path), args.retry, str(store_path), args.jobs))
        return 0

    def executor():
        if args.scheduler:
            return DaskExecutor(
                args.scheduler,
                config.memory_limit_bytes,
                config.grace_seconds,
                args.connect_timeout,
                args.worker_timeout,
            )
        return LocalExecutor(args.jobs, config.memory_limit_bytes, config.grace_seconds)

    outcome = drive(
        the_plan,
        store_path,
        executor,
        title=f"sweep {config.name!r}",
        config_path=str(Path(args.config).resolve()),
        config_text=config.text,
        command=shlex.join(sys.argv),
        retry=args.retry,
        progress=not args.quiet,
    )
    elsewhere = (
        f", {outcome.summary.elsewhere} left to another driver on the store" if outcome.summary.elsewhere else ""
    )
    print(
        f"done: {outcome.summary.ran} run now, {outcome.summary.skipped} skipped{elsewhere}; the grid's {len(the_plan.runs)} runs in "
        f"{store_path}: {outcome.describe()}",
        file=sys.stderr,
    )
    return outcome.exit_code
