"""`moccasin-bench maxbatch MODEL --device-memory 16GiB`: the largest batch whose training step fits a device, per method."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from moccasin_bench.errors import UserError
from moccasin_bench.jsonio import write_json

HELP = "the largest batch size whose training step fits a device's memory, for each method (PyTorch models)"
EPILOG = """MODEL is MODULE:FACTORY (a callable taking `batch`, as for `graphs extract`) or a catalogue
graph (pt-resnet50, ...: its source block records the factory). At each batch size tried the step is
extracted on fake tensors (no real memory is used); it fits a device of D bytes under a method when
the method, solving the graph at the absolute budget D - fixed bytes (parameters, gradients, optimizer
state, batch), returns a schedule that fits (simulated). The plain step (no recomputation) is the
baseline row; beyond the largest batch whose minimum feasible budget fits, nothing can. Each method's
largest batch is found by bisection between the two. Not counted: allocator fragmentation, kernel
workspaces, the CUDA context (leave room for them). Methods are the frontier's (`reproduce --grid
frontier`): every registered formulation that applies, moccasin as moccasin-fixed and moccasin-free.

examples:
  moccasin-bench maxbatch graphs.pytorch.models:resnet50 --device-memory 16GiB --methods heuristic,annealing
  moccasin-bench maxbatch pt-gpt --device-memory 16GiB,24GiB --time-limit 10 --json
  moccasin-bench maxbatch graphs.pytorch.models:resnet18 --device-memory 1.5GiB --methods heuristic --execute"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="MODULE:FACTORY or a catalogue graph (pt-resnet50, ...)")
    parser.add_argument(
        "--device-memory",
        required=True,
        metavar="SIZE[,SIZE...]",
        help="device memory, e.g. 16GiB (several, comma-separated, share the extractions)",
    )
    parser.add_argument("--methods", metavar="M,M,...", help="method keys (default: every one that applies)")
    parser.add_argument("--time-limit", type=float, default=30.0, metavar="S", help="seconds per solve (default 30)")
    parser.add_argument("--threads", type=int, default=1, metavar="T", help="solver threads (default 1)")
    parser.add_argument("--max-batch", type=int, default=1 << 20, metavar="N", help="largest batch tried")
    parser.add_argument("--store", metavar="FILE", help="results store (SQLite): every solve is recorded and reused")
    parser.add_argument("--data-dir", metavar="DIR", help="where the paper's graph files are")
    parser.add_argument(
        "--execute",
        action="store_true",
        help="run each method's step at its largest batch on the CPU (`execute`): allocator peak against the prediction",
    )
    parser.add_argument(
        "--sizes",
        choices=("extract", "affine"),
        default="extract",
        help="extract: trace the step at every batch tried (default); affine: trace it at batch 2, 4 and 16 and "
        "compute the graph at other batches (sizes are affine in the batch; checked at 16, else refused)",
    )
    parser.add_argument(
        "--precision",
        type=float,
        default=0.0,
        metavar="P",
        help="stop a method's bisection when the batch that fits and the one that does not are within P x the "
        "first (default 0: the exact largest batch)",
    )
    parser.add_argument(
        "--search",
        choices=("bisect", "gallop"),
        default="bisect",
        help="bisect: each device's search from its bounds (default); gallop: on each device after the first, a "
        "method's search starts from the batch its result on the previous device predicts (the batch scales with "
        "the memory beyond the batch-independent fixed bytes) and gallops out from it: fewer solves",
    )
    parser.add_argument(
        "--first-guess",
        type=int,
        metavar="B",
        help="with --search gallop: on the first device, every method's search starts from batch B (e.g. another "
        "method's largest batch there) instead of bisecting from the bounds",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="solve in this process (no child per solve: faster, but a solver that overruns its limit is not killed)",
    )
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument("-o", "--output", metavar="FILE", help="also write the JSON here")


def _sizes(text: str) -> list[int]:
    from moccasin_bench.runner.limits import parse_size

    out = [parse_size(x.strip(), "--device-memory") for x in text.split(",") if x.strip()]
    if not out or any(x <= 0 for x in out):
        raise UserError(f"--device-memory must be sizes such as 16GiB, got {text!r}")
    return out


def _methods(wanted: str | None, graph: Any) -> tuple[list, dict[str, str]]:
    """(the methods to run, method key -> why not applicable)."""
    from moccasin_bench.experiment import experiment
    from moccasin_bench.reproduce import _available, _not_applicable

    every = list(experiment("frontier").methods)
    keys = [m.key for m in every]
    chosen = every
    if wanted:
        names = [x.strip() for x in wanted.split(",") if x.strip()]
        unknown = [n for n in names if not any(m.answers_to(n) for m in every)]
        if unknown:
            raise UserError(f"unknown method {unknown[0]!r}; choose from {', '.join(keys)}")
        chosen = [m for m in every if any(m.answers_to(n) for n in names)]
    run, skipped = [], {}
    for m in chosen:
        why = _available(m.formulation) or _not_applicable(m, graph)
        if why:
            skipped[m.key] = why
        else:
            run.append(m)
    return run, skipped


def make_solver(methods: list, args: argparse.Namespace, factory: str) -> Any:
    """(method key, probe, budget bytes) -> Attempt: one isolated run (the sweep's runner), stored when asked."""
    from graphs.pytorch.maxbatch import Attempt
    from moccasin_bench.budget import Budget
    from moccasin_bench.runner import graph_document, make_spec, run_isolated
    from moccasin_bench.store import Store, load_schedule, make_row, rows

    by_key = {m.key: m for m in methods}
    store = None
    if args.store:
        store = Store(args.store)

    def solve(key: str, probe: Any, budget: int) -> Attempt:
        if budget < 0:
            return Attempt(probe.batch, "infeasible", None, None, "the fixed bytes alone exceed the device")
        m = by_key[key]
        spec = make_spec(
            probe.graph,
            Budget(bytes=budget),
            m.formulation,
            m.run_params,
            time_limit_seconds=args.time_limit,
            threads=args.threads,
            graph_source=f"{factory}@batch={probe.batch}",
        )
        if store is not None:
            found = rows(args.store, "key = ?", (spec.key,)) if Path(args.store).is_file() else []
            if found:
                r = found[0]
                sched = load_schedule(args.store, spec.key)
                return Attempt(
                    probe.batch,
                    r["status"],
                    r["tdi_percent"],
                    r["peak_memory"],
                    r["message"] or "",
                    spec.key,
                    None if sched is None else tuple(sched),
                )
        if args.in_process:
            from moccasin_bench.judge import solve_in_process

            res = solve_in_process(
                probe.graph, Budget(bytes=budget), m.formulation, m.run_params, args.time_limit, args.threads
            ).to_json()
            outcome = {"status": res["status"], "message": res.get("message"), "result": res}
        else:
            outcome = run_isolated(spec.to_json(), graph_document(probe.graph), concurrent_runs=1)
        result = outcome.get("result") or {}
        if store is not None:
            store.write(make_row(spec, outcome, sweep="maxbatch", graph=probe.graph), outcome.get("result"))
        sched = result.get("schedule")
        return Attempt(
            probe.batch,
            outcome["status"],
            result.get("tdi_percent"),
            result.get("peak_memory"),
            str(outcome.get("message") or "").splitlines()[0][:200] if outcome.get("message") else "",
            spec.key,
            None if sched is None else tuple(sched),
        )

    return solve


def run(args: argparse.Namespace) -> int:
    from graphs.pytorch import require_torch

    devices = _sizes(args.device_memory)
    if args.time_limit <= 0 or args.threads < 1 or args.max_batch < 1 or not 0 <= args.precision < 1:
        raise UserError("--time-limit must be positive, --threads and --max-batch at least 1, --precision in [0, 1)")
    require_torch()
    from graphs.pytorch.build import extract
    from graphs.pytorch.maxbatch import Prober, factory_of, max_batches

    factory, kwargs, shape = factory_of(args.model, args.data_dir)
    say = None if args.json else (lambda text: print(f"  {text}", file=sys.stderr, flush=True))

    def extract_at(batch: int):
        if kwargs:  # a catalogue entry's other factory arguments: through a wrapper (the spec names one callable)
            raise UserError(f"maxbatch cannot pass {kwargs} to {factory}; name the factory with MODULE:FACTORY")
        return extract(factory, batch=batch, input_shape=shape, costs="flops", threads=1)

    if args.sizes == "affine":
        from graphs.pytorch.maxbatch import NotAffine, affine_extractor

        try:
            probe = Prober(affine_extractor(extract_at))
        except NotAffine as exc:
            raise UserError(f"--sizes affine cannot be used for {factory}: {exc}; use --sizes extract") from None
    else:
        probe = Prober(extract_at)
    methods, skipped = _methods(args.methods, probe(1).graph)
    solve = make_solver(methods, args, factory)
    results = max_batches(
        probe,
        devices,
        [m.key for m in methods],
        solve,
        args.max_batch,
        say,
        args.precision,
        args.search == "gallop",
        args.first_guess if args.search == "gallop" else None,
    )
    doc = to_json(factory, results, skipped, args)
    doc["sizes"] = args.sizes
    doc["in_process"] = bool(args.in_process)
    doc["search"] = args.search
    if args.search == "gallop" and args.first_guess:
        doc["first_guess"] = args.first_guess
    if args.execute:
        doc["executed"] = execute_largest(probe, results)
    if args.output:
        write_json(doc, args.output)
    if args.json:
        write_json(doc, None)
    else:
        print_table(doc)
    return 0


def to_json(factory: str, results: list[dict], skipped: dict[str, str], args: argparse.Namespace) -> dict:
    return {
        "model": factory,
        "time_limit_seconds": args.time_limit,
        "threads": args.threads,
        "precision": args.precision,
        "not_counted": "allocator fragmentation and rounding, kernel workspaces, the CUDA context",
        "not_applicable": skipped,
        "devices": [
            {
                "device_bytes": r["device_bytes"],
                "plain_largest_batch": r["plain"],
                "any_schedule_largest_batch": r["possible"],
                "methods": [
                    {
                        "method": m.method,
                        "largest_batch": m.largest_batch,
                        "tdi_percent": m.tdi_percent,
                        "peak_with_fixed_bytes": m.peak_with_fixed_bytes,
                        "tried": [
                            {"batch": a.batch, "status": a.status, "tdi_percent": a.tdi_percent, "key": a.key}
                            for a in m.attempts
                        ],
                    }
                    for m in r["methods"]
                ],
            }
            for r in results
        ],
    }


def execute_largest(probe: Any, results: list[dict]) -> list[dict]:
    """Each method's schedule at its largest batch, run on the CPU: allocator peak against simulated + fixed."""
    from graphs.pytorch.execute import execute

    out = []
    for r in results:
        for m in r["methods"]:
            if not m.largest_batch or m.schedule is None:
                continue
            g = probe(m.largest_batch).graph
            rep = execute(g, list(m.schedule), repeat=1, threads=1)
            predicted = rep["simulated"]["scheduled_peak_with_fixed"]
            measured = rep["measured"]["scheduled"]["peak_bytes"]
            out.append(
                {
                    "device_bytes": r["device_bytes"],
                    "method": m.method,
                    "batch": m.largest_batch,
                    "predicted_peak_bytes": predicted,
                    "allocator_peak_bytes": measured,
                    "difference_percent": 100.0 * (measured - predicted) / predicted,
                    "bitwise_equal": rep["check"]["bitwise_equal"],
                }
            )
    return out


def print_table(doc: dict) -> None:
    print(
        f"{doc['model']}: largest batch per method (solves of {doc['time_limit_seconds']:g} s, {doc['threads']} thread(s))"
    )
    for d in doc["devices"]:
        print(
            f"  device {d['device_bytes'] / 2**30:g} GiB: plain (no recomputation) {d['plain_largest_batch']}; "
            f"no schedule fits beyond {d['any_schedule_largest_batch']}"
        )
        for m in d["methods"]:
            tdi = "–" if m["tdi_percent"] is None else f"{m['tdi_percent']:.2f} %"
            print(f"    {m['method']:<20} batch {m['largest_batch']:>7}  TDI {tdi}")
    for k, v in doc["not_applicable"].items():
        print(f"  {k}: {v}")
    for e in doc.get("executed", []):
        print(
            f"  executed {e['method']} at batch {e['batch']}: allocator peak {e['allocator_peak_bytes'] / 2**20:,.0f} MiB, "
            f"predicted {e['predicted_peak_bytes'] / 2**20:,.0f} MiB ({e['difference_percent']:+.1f} %)"
        )
    print(f"  not counted: {doc['not_counted']}")
