"""`moccasin-bench solve GRAPH --formulation NAME --budget F`: one run, simulated and judged."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from moccasin_bench.cli.common import add_graph_argument
from moccasin_bench.jsonio import write_json
from moccasin_bench.orders import DEFAULT, ORDER_CHOICES

if TYPE_CHECKING:
    from moccasin_bench.budget import Budget
    from moccasin_bench.graph import Graph
    from moccasin_bench.runner import RunSpec

HELP = "schedule a graph under a memory budget with one formulation"
EPILOG = """The budget is a fraction of the peak of a reference order run without recomputation
(--budget 0.9), or absolute (--budget-bytes N). For a graph with fixed bytes (a PyTorch
training step: parameters, batch, optimizer state) budgets and peaks count the
schedulable graph only; the fixed bytes are resident on top (both are printed). Every returned schedule is simulated: the
peak memory and total duration written are the simulator's.

Exit status: 0 a result: optimal, feasible, infeasible (proven; a budget below the minimum
feasible budget is infeasible without running a solver) or no_solution (time ran out);
1 error (the solver failed or the run was killed); 2 bad input (one line names the file
and the problem); 3 invalid (a formulation returned a schedule that breaks the budget or
reads a freed tensor: a bug).
The solve runs in a child process, killed at the time limit plus a grace and capped in
memory (as in a sweep); a crash or kill is reported as status error.

examples:
  moccasin-bench solve rl1 --formulation moccasin --budget 0.9 --time-limit 30 --threads 2 -o rl1_90.json
  moccasin-bench solve cm2 --formulation checkmate-milp --budget 0.8 --param backend=highs -o cm2_80.json
  moccasin-bench solve graph.json --formulation heuristic --budget-bytes 100000 --reference-order memory-aware
  moccasin-bench solve demo --formulation moccasin --budget 0.8 --param order=free --param copies=3
  moccasin-bench solve rl3 --formulation moccasin --budget 0.8 --initial rl3_80_annealed.json --time-limit 300"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_argument(parser)
    parser.add_argument(
        "--formulation", "-f", required=True, metavar="NAME", help="a registered formulation (see --list-formulations)"
    )
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument(
        "--budget", type=float, metavar="FRACTION", help="budget as a fraction of the reference order's peak, e.g. 0.9"
    )
    budget.add_argument("--budget-bytes", type=int, metavar="N", help="absolute budget, in the graph's memory unit")
    parser.add_argument(
        "--reference-order",
        default=DEFAULT,
        choices=ORDER_CHOICES,
        help="order whose peak a fractional budget applies to, and that fixed-order formulations follow (default: stored if the file has one, else networkx topological)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=60.0, metavar="S", help="solver time limit in seconds (default 60)"
    )
    parser.add_argument("--threads", type=int, default=1, metavar="K", help="solver threads (default 1)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="solver random seed (default 0)")
    parser.add_argument(
        "--gap", type=float, default=0.0, metavar="G", help="stop at this relative optimality gap (default 0)"
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="formulation parameter (repeatable)"
    )
    parser.add_argument(
        "--initial",
        metavar="SCHEDULE",
        help="a schedule to start from (a `solve -o` file or a JSON list of node ids): "
        "moccasin and checkmate-* use it as their hint / MIP start where their model can express it",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the schedule JSON here (default: print it to stdout)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--memory-limit", metavar="SIZE", help="address-space cap of the solve, e.g. 8G; 0 = none (default 80%% of RAM)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        metavar="S",
        help="seconds past the time limit before the hard kill (default 30 s + 25%% of the limit)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="solve in this process, without the child, kill or memory cap (for debugging)",
    )


def run(args: argparse.Namespace) -> int:
    from moccasin_bench.budget import resolve_budget
    from moccasin_bench.params import split_assignments
    from moccasin_bench.runner import check_grace, make_spec, parse_memory_limit
    from moccasin_bench.sources import load_graph

    graph = load_graph(args.graph, args.data_dir)
    budget = resolve_budget(graph, fraction=args.budget, absolute=args.budget_bytes, order_name=args.reference_order)
    params = split_assignments(args.param)
    memory = None if args.memory_limit is None else parse_memory_limit(args.memory_limit, "--memory-limit")
    initial = _initial(graph, args.initial) if args.initial else None
    grace = None if args.grace is None else check_grace(args.grace, "--grace")
    spec = make_spec(
        graph,
        budget,
        args.formulation,
        params,
        time_limit_seconds=args.time_limit,
        threads=args.threads,
        seed=args.seed,
        relative_gap=args.gap,
        reference_order=args.reference_order,
        graph_source=str(args.graph),
        initial=initial,
    )
    if not args.quiet:
        fixed = f" (schedulable bytes; {graph.fixed_bytes:,} fixed bytes resident on top)" if graph.fixed_bytes else ""
        print(
            f"{graph.name}: {graph.n} nodes, {graph.m} edges; budget {budget.describe()}{fixed}; {args.formulation}, limit {args.time_limit:g} s, {args.threads} thread(s)",
            file=sys.stderr,
        )
    if args.in_process:
        from moccasin_bench.judge import solve_in_process
        from moccasin_bench.progress import solve_progress_printer

        doc = solve_in_process(
            graph,
            budget,
            args.formulation,
            params,
            time_limit_seconds=args.time_limit,
            threads=args.threads,
            seed=args.seed,
            relative_gap=args.gap,
            reference_order_name=spec.reference_order,
            initial=initial,
            progress=None if args.quiet else solve_progress_printer(graph.sum_duration),
        ).to_json()
    else:
        doc = _solve_isolated(graph, budget, spec, memory, grace, progress=not args.quiet)
    if graph.fixed_bytes:  # peak and budget are schedulable bytes; say what stays resident on top
        doc["fixed_bytes"] = graph.fixed_bytes
        doc["memory_note"] = (
            "peak_memory and budget count the schedulable graph only; fixed_bytes are resident on top of them"
        )
    write_json(doc, args.output)
    if not args.quiet or doc["status"] in ("invalid", "error"):
        line = f"{doc['status']}"
        if doc["total_duration"] is not None:
            line += f": cost {doc['total_duration']:,} (TDI {doc['tdi_percent']:.2f} %), "
            if graph.fixed_bytes:  # two kinds of peak: each says which it is
                from moccasin_bench.cli.common import human_bytes

                peak, fixed = doc["peak_memory"], graph.fixed_bytes
                line += (
                    f"schedulable peak {peak:,} B ({human_bytes(peak)}) / budget {budget.bytes:,} B ({human_bytes(budget.bytes)}); "
                    f"with the {human_bytes(fixed)} of fixed bytes: peak {human_bytes(peak + fixed)} / budget {human_bytes(budget.bytes + fixed)}"
                )
            else:
                line += f"peak {doc['peak_memory']:,} / budget {budget.bytes:,}"
        line += f"; wall {doc['wall_seconds']:.2f} s"
        if doc["message"]:
            line += f"\n  {doc['message']}"
        print(line, file=sys.stderr)
    return {"invalid": 3, "error": 1}.get(doc["status"], 0)


def _initial(graph: Graph, path: str) -> list:
    """The node ids of an initial schedule file, checked against the graph (ids, and the graph hash a
    result document carries)."""
    from moccasin_bench.errors import GraphError, ScheduleError
    from moccasin_bench.jsonio import read_schedule

    ids, doc = read_schedule(path)
    if doc.get("graph_hash") not in (None, graph.content_hash):
        raise ScheduleError(
            f"the schedule was made for another graph (hash {doc['graph_hash']}, this graph's is {graph.content_hash})",
            path,
        )
    try:
        graph.to_indices(ids)
    except GraphError as exc:
        raise ScheduleError(f"{exc.problem} (not a node of graph {graph.name!r})", path) from None
    return list(ids)


def _solve_isolated(
    graph: Graph,
    budget: Budget,
    spec: RunSpec,
    memory_limit_bytes: int | None,
    grace_seconds: float | None,
    progress: bool,
) -> dict:
    """The schedule document of a child-process solve; a crash or kill gives an `error` document."""
    from moccasin_bench.formulation import SolverOutput
    from moccasin_bench.judge import RunResult
    from moccasin_bench.runner import graph_document, run_isolated

    outcome = run_isolated(
        spec.to_json(),
        graph_document(graph),
        memory_limit_bytes=memory_limit_bytes,
        grace_seconds=grace_seconds,
        stream_output=True,
        progress=progress,
    )
    if outcome["result"] is not None:
        return outcome["result"]
    failed = RunResult(
        graph=graph,
        formulation=spec.formulation,
        params=spec.params,
        budget=budget,
        status="error",
        schedule=None,
        peak_memory=None,
        total_duration=None,
        tdi_percent=None,
        output=SolverOutput(status="error", message=outcome["message"]),
        time_limit_seconds=spec.time_limit_seconds,
        threads=spec.threads,
        seed=spec.seed,
        wall_seconds=outcome.get("process_seconds", 0.0),
        message=outcome["message"],
    )
    return failed.to_json()
