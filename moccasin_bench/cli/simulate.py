"""`moccasin-bench simulate GRAPH SCHEDULE`: peak memory, cost and validity of a schedule."""

from __future__ import annotations

import argparse

from moccasin_bench.cli.common import add_graph_argument
from moccasin_bench.errors import ScheduleError
from moccasin_bench.jsonio import check_schedule_document, read_schedule, write_json

HELP = "simulate a schedule: peak memory, total duration, TDI, and the first violation if any"
EPILOG = """The schedule file is the JSON written by `solve -o` (its "schedule" key is used, and its
"budget" checked) or a plain JSON list of node ids. Exit status: 0 valid (and within the
budget, if one is known), 1 invalid or over budget, 2 unreadable input.

examples:
  moccasin-bench simulate rl1 schedule.json
  moccasin-bench simulate graph.json order.json --budget-bytes 41688 --json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_argument(parser)
    parser.add_argument(
        "schedule", metavar="SCHEDULE", help="schedule JSON (from `solve -o`) or a JSON list of node ids"
    )
    parser.add_argument(
        "--budget-bytes",
        type=int,
        metavar="N",
        help="check the peak against this budget (default: the file's own budget, if any)",
    )
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument("--per-step", action="store_true", help="include memory at every step (with --json)")


def run(args: argparse.Namespace) -> int:
    from moccasin_bench.budget import check_budget_bytes
    from moccasin_bench.errors import GraphError
    from moccasin_bench.simulate import simulate
    from moccasin_bench.sources import load_graph

    graph = load_graph(args.graph, args.data_dir)
    ids, doc = read_schedule(args.schedule)
    budget = check_schedule_document(doc, graph.name, graph.content_hash, args.schedule)
    if args.budget_bytes is not None:
        budget = check_budget_bytes(args.budget_bytes)
    try:
        sched = graph.to_indices(ids)
    except GraphError as exc:
        raise ScheduleError(f"{exc.problem} (not a node of graph {graph.name!r})", args.schedule) from None
    sim = simulate(graph, sched)
    fits = None if budget is None else bool(sim.valid and sim.peak_memory <= budget)
    out = {
        "graph": graph.name,
        "steps": sim.steps,
        "valid": sim.valid,
        "peak_memory": sim.peak_memory,
        "peak_step": sim.peak_step,
        "total_duration": sim.total_duration,
        "sum_duration": graph.sum_duration,
        "tdi_percent": sim.tdi_percent,
        "recomputations": sim.steps - graph.n if sim.valid else None,
        "budget": budget,
        "fits_budget": fits,
        "fixed_bytes": graph.fixed_bytes,
        "peak_memory_with_fixed": sim.peak_memory + graph.fixed_bytes,
        "violation": None if sim.violation is None else sim.violation.to_json(),
    }
    if args.per_step:
        out["memory_per_step"] = sim.memory_per_step.tolist()
    if args.json:
        write_json(out, None)
    else:
        print(f"{graph.name}: {sim.steps:,} steps, {'valid' if sim.valid else 'INVALID'}")
        if sim.violation is not None:
            print(f"  violation: {sim.violation.describe()}")
        if graph.fixed_bytes:
            from moccasin_bench.cli.common import memory_figure

            print(
                f"  peak memory {memory_figure(sim.peak_memory, graph.fixed_bytes)} at step {sim.peak_step} (budgets count schedulable bytes)"
            )
        else:
            print(f"  peak memory {sim.peak_memory:,} at step {sim.peak_step}")
        print(
            f"  total duration {sim.total_duration:,} (sum of durations {graph.sum_duration:,}; TDI {sim.tdi_percent:.2f} %)"
        )
        if budget is not None:
            print(
                f"  budget {budget:,}: {'fits' if fits else 'EXCEEDED' if sim.valid else 'not checked (invalid schedule)'}"
            )
    return 0 if sim.valid and fits is not False else 1
