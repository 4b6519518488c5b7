"""The `moccasin-bench` command: one entry point, one module per verb.

A verb module has `HELP` (one line), `EPILOG` (examples), `add_arguments(parser)` and
`run(args) -> int`. Adding a verb is one module plus one line in VERBS.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from moccasin_bench.errors import UserError

VERBS = {
    "graphs": "moccasin_bench.cli.graphs",
    "formulations": "moccasin_bench.cli.formulations",
    "solve": "moccasin_bench.cli.solve",
    "simulate": "moccasin_bench.cli.simulate",
    "execute": "moccasin_bench.cli.execute",
    "maxbatch": "moccasin_bench.cli.maxbatch",
    "sweep": "moccasin_bench.cli.sweep",
    "export": "moccasin_bench.cli.export",
    "report": "moccasin_bench.cli.report",
    "reproduce": "moccasin_bench.cli.reproduce",
}

EPILOG = """examples:
  moccasin-bench graphs list
  moccasin-bench graphs info rl1 --json
  moccasin-bench formulations moccasin
  moccasin-bench solve demo --formulation moccasin --budget 0.9 --time-limit 30 -o schedule.json
  moccasin-bench simulate demo schedule.json
  moccasin-bench reproduce --quick -o results/quick
  moccasin-bench graphs download

Exit status: 0 done (for solve, any result: optimal, feasible, infeasible, no_solution);
1 a solve ended in error; 2 bad input or options (one line names the file and the
problem); 3 a schedule the simulator rejects (invalid: a bug in a formulation); 75 stopped
for a reason outside the input (disk full, Dask cluster lost, source unreachable):
re-run the same command to resume; 130 interrupted.

Run `moccasin-bench VERB --help` for a verb's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moccasin-bench",
        description="Tensor rematerialization benchmark: schedule a compute graph under a memory budget, with recomputation, at the least added compute time.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from moccasin_bench import __version__

    parser.add_argument("--version", action="version", version=f"moccasin-bench {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name, module_name in VERBS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=getattr(module, "EPILOG", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"moccasin-bench: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 2)
    except KeyboardInterrupt:
        print("moccasin-bench: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("moccasin-bench: error: out of memory (the input is too large for this machine)", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
