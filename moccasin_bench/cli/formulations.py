"""`moccasin-bench formulations [NAME]`: the registered formulations and their parameters."""

from __future__ import annotations

import argparse

HELP = "list the formulations (built-in and plug-ins) and the parameters each takes"
EPILOG = """examples:
  moccasin-bench formulations                  # every formulation, one line each
  moccasin-bench formulations moccasin         # its parameters, defaults and choices
  moccasin-bench formulations --params         # every formulation with its parameters"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show this formulation's parameters")
    parser.add_argument("--params", action="store_true", help="show every formulation's parameters")


def run(args: argparse.Namespace) -> int:
    from moccasin_bench.formulation import formulation_module, registry
    from moccasin_bench.params import describe_params

    names = [args.name] if args.name else sorted(registry())
    for name in names:
        module = formulation_module(name)  # an unknown name is a UserError listing the known ones
        needs = getattr(module, "REQUIRES", None)
        print(f"{name:<16} {module.DESCRIPTION}" + (f" [needs a {needs} graph]" if needs else ""))
        if args.name or args.params:
            print(describe_params(module.PARAMS))
            print()
    if not args.name:
        print(
            "\nParameters go to `solve` and sweeps as --param KEY=VALUE; `moccasin-bench formulations NAME` lists them."
        )
    return 0
