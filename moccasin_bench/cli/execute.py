"""`moccasin-bench execute GRAPH_OR_MODEL SCHEDULE`: one real PyTorch training step in a schedule's order."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from moccasin_bench.cli.common import human_bytes
from moccasin_bench.errors import ScheduleError, UserError
from moccasin_bench.graph import PYTORCH_SOURCE_KIND
from moccasin_bench.jsonio import write_json

if TYPE_CHECKING:
    from moccasin_bench.graph import Graph

HELP = "run one real PyTorch training step (CPU) in a schedule's order: outputs, allocator peak and time against the plain step"
EPILOG = """GRAPH_OR_MODEL is a graph made by `graphs extract` (a file or a catalogue name such as
pt-resnet18: its source block says how to re-trace the step) or MODULE:FACTORY (extracted
now, with --batch/--input-shape/--costs as for `graphs extract`). The schedule is checked
against the graph before anything runs (unknown node, read before compute, another
graph's schedule: one line, exit status 2). Then the step is run twice without the
profiler, the graph's own order ("plain") and the schedule, and their outputs (loss,
gradients, buffer updates) compared; each is run once under torch.profiler for the
allocator's peak (resident state included) and --repeat times for the median time.
Exit status: 0 outputs equal, 1 outputs differ, 2 bad input. Needs torch (CPU).

examples:
  moccasin-bench solve pt-resnet18 --formulation moccasin --budget 0.8 --time-limit 60 -o r18.json
  moccasin-bench execute pt-resnet18 r18.json --repeat 3
  moccasin-bench execute graphs.pytorch.models:small_net schedule.json --json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "graph", metavar="GRAPH_OR_MODEL", help="an extracted graph (file or catalogue name) or MODULE:FACTORY"
    )
    parser.add_argument(
        "schedule", metavar="SCHEDULE", help="schedule JSON (from `solve -o`) or a JSON list of node ids"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, metavar="K", help="timed runs of each step (default 3; the median is reported)"
    )
    parser.add_argument("--threads", type=int, default=1, metavar="T", help="torch CPU threads (default 1)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the paper's graph files are")
    parser.add_argument("--batch", type=int, metavar="N", help="with MODULE:FACTORY: batch size passed to the factory")
    parser.add_argument(
        "--input-shape", metavar="D,D,...", help="with MODULE:FACTORY: shape of one example (no batch dimension)"
    )
    parser.add_argument(
        "--costs", choices=("flops", "profile"), default="flops", help="with MODULE:FACTORY: cost model (default flops)"
    )
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument("-o", "--output", metavar="FILE", help="also write the JSON report here")


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(x) for x in text.replace("x", ",").split(",") if x.strip())
    except ValueError:
        raise UserError(f"--input-shape must be integers separated by commas, e.g. 3,224,224; got {text!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise UserError(f"--input-shape must be positive integers, e.g. 3,224,224; got {text!r}")
    return shape


def _load(args: argparse.Namespace) -> Graph:
    from graphs.pytorch.trace import is_factory_spec
    from moccasin_bench.sources import load_graph

    try:
        return load_graph(args.graph, args.data_dir)
    except UserError:
        if not is_factory_spec(args.graph):
            raise
    from graphs.pytorch.build import extract

    return extract(
        args.graph, batch=args.batch, input_shape=parse_shape(args.input_shape), costs=args.costs, threads=args.threads
    )


def check_schedule(graph: Graph, path: str) -> list:
    """The schedule's node ids, or one ScheduleError line naming what does not fit."""
    from moccasin_bench.errors import GraphError
    from moccasin_bench.jsonio import read_schedule
    from moccasin_bench.simulate import simulate

    ids, doc = read_schedule(path)
    if doc.get("graph_hash") and doc["graph_hash"] != graph.content_hash:
        raise ScheduleError(
            f"the schedule was made for graph {doc.get('graph')!r} (hash {doc['graph_hash']}), not for {graph.name!r} (hash {graph.content_hash})",
            path,
        )
    try:
        sched = graph.to_indices(ids)
    except GraphError as exc:
        raise ScheduleError(f"{exc.problem} (not a node of graph {graph.name!r})", path) from None
    sim = simulate(graph, sched)
    if not sim.valid:
        raise ScheduleError(f"the schedule does not fit graph {graph.name!r}: {sim.violation.describe()}", path)
    return ids


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1 or args.threads < 1:
        raise UserError("--repeat and --threads must be at least 1")
    graph = _load(args)
    if (graph.source or {}).get("kind") != PYTORCH_SOURCE_KIND:
        raise UserError(
            f"graph {graph.name!r} was not extracted from PyTorch; execute needs a graph made by `moccasin-bench graphs extract` (or MODULE:FACTORY)"
        )
    ids = check_schedule(graph, args.schedule)
    from graphs.pytorch import require_torch

    require_torch()
    from graphs.pytorch.execute import execute

    report = execute(
        graph,
        ids,
        repeat=args.repeat,
        threads=args.threads,
        progress=None if args.json else (lambda text: print(f"  {text}", file=sys.stderr, flush=True)),
    )
    if args.output:
        write_json(report, args.output)
    if args.json:
        write_json(report, None)
    else:
        print_report(report)
    check = report["check"]
    return 0 if check["bitwise_equal"] or check["equal_within_tolerance"] else 1


def print_report(r: dict) -> None:
    sim, meas, check = r["simulated"], r["measured"], r["check"]
    fixed = sim["fixed_bytes"]
    print(
        f"{r['graph']}: {r['steps']:,} steps ({r['recomputations']:,} recomputations), {r['threads']} thread(s), torch {r['torch']}"
    )
    if check["bitwise_equal"]:
        verdict = "bitwise equal to the plain step"
    elif check["equal_within_tolerance"]:
        verdict = f"equal to the plain step within rtol {check['rtol']:g}, atol {check['atol']:g} (not bitwise: max |diff| {check['max_abs_diff']:.3g})"
    else:
        verdict = f"DIFFERENT from the plain step (max |diff| {check['max_abs_diff']:.3g}; {', '.join(map(str, check['differing']))})"
    print(f"  outputs (loss {r['loss']:.6g}, {check['tensors_compared']} tensors): {verdict}")
    if r["random_nodes"]:
        print(f"  random ops: {r['random_nodes']} (dropout), {r['rng']}")
    print(
        f"  memory, allocator peak incl. {human_bytes(meas['scheduled']['resident_bytes'])} resident (graph's fixed bytes {human_bytes(fixed)}):"
    )
    for key in ("plain", "scheduled"):
        m = meas[key]
        s = sim[f"{key}_peak"]
        diff = 100.0 * (m["peak_bytes"] - (s + fixed)) / (s + fixed)
        print(
            f"    {key:<9} measured {human_bytes(m['peak_bytes']):>10}   simulated {human_bytes(s)} + {human_bytes(fixed)} fixed = {human_bytes(s + fixed):>10}   ({diff:+.1f} %)"
        )
    print(
        f"  time (median of {r['repeat']}): plain {meas['plain']['seconds_median']:.3f} s, scheduled {meas['scheduled']['seconds_median']:.3f} s: "
        f"{meas['time_increase_percent']:+.1f} % (predicted TDI {sim['predicted_tdi_percent']:.1f} %)"
    )
