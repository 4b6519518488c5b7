"""`moccasin-bench reproduce [--grid NAME] [--quick] [--data-dir DIR] -o DIR`: an experiment's grid, then its report."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from moccasin_bench.sources import DATA_DIR_HELP

HELP = "run an experiment's grid (default: the Moccasin paper's table), quick or full, and write its report"
EPILOG = """--grid paper (the default): RL1-RL4, CM1, CM2 x budgets 90 % / 80 % x Moccasin (fixed
order, as the paper), Moccasin (free order), Checkmate MILP (HiGHS), Checkmate LP+rounding
and the heuristics. `--grid list` lists every experiment and its method keys. The paper's
graphs are read from --data-dir, else $MOCCASIN_BENCH_DATA, else the user data directory
(`moccasin-bench graphs download` fills it), else shared/paper-graphs beside a source
checkout; a graph whose file is missing is replaced by its generated stand-in (rl1-gen ...
cm2-gen), and the command's output and the report's top say so and where they looked.

Writes DIR/grid.toml (the grid as a sweep config), DIR/runs.sqlite (every run: re-running
the same command skips finished runs, so an interrupted reproduction resumes),
DIR/index.html + index.md, DIR/table.{md,tex,csv}, DIR/figures/ and DIR/reproduce.json.

Full mode uses the paper's limits (600 s on RL1/CM1, 1,800 s on RL2/CM2/RL3, 3,600 s on
RL4; heuristics 60 s): up to a day of solver time with --jobs 1; use --jobs J --threads K
with J x K <= your cores. --quick uses 15-45 s limits (heuristics 10 s), two runs at a
time with one thread each, leaves Checkmate's O(n^2) models out on RL3/RL4, and finishes
in about 10 minutes on 2 cores.

Exit status: 0 every run stored (whatever the solvers found); 2 bad input, or the output
directory's store holds another grid (use a fresh directory, or --force); 3 a run is
invalid (a bug); 75 stopped for a reason outside the input (disk full): re-run to resume.

examples:
  moccasin-bench reproduce --quick -o results/quick
  moccasin-bench reproduce --data-dir ~/moccasin/data -o results/paper --jobs 2 --threads 8
  moccasin-bench reproduce --quick --stand-ins -o results/quick-generated
  moccasin-bench reproduce --quick --graphs rl1,cm1 --methods moccasin-fixed,checkmate-milp -o results/small
  moccasin-bench reproduce -o results/paper --dry-run
  moccasin-bench reproduce --grid scaling --write-grid -o results/scaling   # its grid.toml, for `sweep`
  moccasin-bench reproduce --grid scaling --mode middle -o results/scaling-middle
  moccasin-bench reproduce --grid list"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output-dir", metavar="DIR", help="where the grid, the store and the report go (required)"
    )
    parser.add_argument(
        "--grid",
        default="paper",
        metavar="NAME",
        help="the experiment to run (default: paper; `--grid list` lists them)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short limits: the whole grid and report in about 10 minutes on 2 cores"
    )
    parser.add_argument(
        "--mode",
        metavar="NAME",
        help="a mode by name: quick, full, or one of the grid's own (`--grid list` shows them; e.g. scaling's middle)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=DATA_DIR_HELP,
    )
    parser.add_argument(
        "--stand-ins", action="store_true", help="use the generated stand-ins even where the paper's files are found"
    )
    parser.add_argument(
        "--graphs", metavar="LIST", help="comma-separated graphs (default: the experiment's); any GRAPH works"
    )
    parser.add_argument(
        "--methods",
        metavar="LIST",
        help="comma-separated method identities such as 'moccasin[order=free]' (or the dashed moccasin-free; "
        "default: all of the experiment's; `--grid list` shows them)",
    )
    parser.add_argument("--jobs", "-j", type=int, metavar="N", help="concurrent runs (default: 2 with --quick, else 1)")
    parser.add_argument(
        "--threads", type=int, metavar="K", help="solver threads per run (default: 1 with --quick, else all cores)"
    )
    parser.add_argument(
        "--time-limit", type=float, metavar="S", help="one time limit for every run, instead of the mode's"
    )
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="address-space cap per run, e.g. 8G (default: 80%% of RAM / concurrent runs)",
    )
    parser.add_argument(
        "--dry-run", "-n", action="store_true", help="print the grid and what is done; run and write nothing"
    )
    parser.add_argument(
        "--write-grid",
        action="store_true",
        help="write DIR/grid.toml (the grid as a sweep config, for `sweep`) and print the runs; run nothing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="run into an output directory whose store holds another grid's runs (refused without it)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")


def _list(text: str | None) -> list[str] | None:
    """Comma-separated items; a comma inside brackets belongs to a method identity (name[p=v,q=w])."""
    if text is None:
        return None
    return [x.strip() for x in re.split(r",(?![^\[]*\])", text) if x.strip()]


def _list_grids() -> int:
    from moccasin_bench.experiment import experiment, experiments

    for name in experiments():
        exp = experiment(name)
        print(f"{name:<12} {exp.description}")
        print(f"{'':<12} graphs: {', '.join(exp.graphs)}; budgets: {', '.join(f'{100 * b:g} %' for b in exp.budgets)}")
        print(f"{'':<12} methods: {', '.join(exp.method_keys)}")
        print(f"{'':<12} modes: {', '.join(m.name for m in exp.modes)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from moccasin_bench.errors import UserError
    from moccasin_bench.reproduce import Options
    from moccasin_bench.reproduce import run as reproduce
    from moccasin_bench.runner import parse_memory_limit

    if args.grid == "list":
        return _list_grids()
    if not args.output_dir:
        raise UserError("give the output directory: -o DIR")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    if args.jobs is not None and not 1 <= args.jobs <= 1024:
        raise UserError(f"--jobs must be from 1 to 1024, got {args.jobs}")
    if args.time_limit is not None and not (args.time_limit > 0 and math.isfinite(args.time_limit)):
        raise UserError(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    for option in ("graphs", "methods"):
        if getattr(args, option) is not None and not _list(getattr(args, option)):
            raise UserError(f"--{option} names nothing: give a comma-separated list, or leave the option out")
    if args.dry_run and args.write_grid:
        raise UserError("--dry-run writes nothing and --write-grid writes grid.toml: give one of them")
    opts = Options(
        out_dir=Path(args.output_dir),
        grid=args.grid,
        quick=args.quick,
        mode=args.mode,
        data_dir=args.data_dir,
        graphs=_list(args.graphs) or (),
        methods=_list(args.methods) or (),
        stand_ins=args.stand_ins,
        jobs=args.jobs,
        threads=args.threads,
        time_limit=args.time_limit,
        dry_run=args.dry_run,
        force=args.force,
        write_grid=args.write_grid,
        progress=not args.quiet,
        memory_limit_bytes=None
        if args.memory_limit is None
        else parse_memory_limit(args.memory_limit, "--memory-limit"),
    )
    return reproduce(opts)
