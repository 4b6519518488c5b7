"""The child interpreter of one run: `python -m moccasin_bench.runner.child RUN RESULT --memory-limit B`.

It caps its own address space (RLIMIT_AS), starts a watchdog that kills its process group
when the parent dies, rebuilds the graph from the native JSON it was sent (checking its
content hash), solves and judges the run in-process (moccasin_bench.judge), and writes
the result document atomically. Exit status 2 = bad input, 4 = the graph's hash differs.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from moccasin_bench.errors import UserError
from moccasin_bench.formulation import PLUGINS_ENV
from moccasin_bench.runner.spec import RunSpec

WATCHDOG_SECONDS = 0.5


def _apply_memory_limit(limit_bytes: int) -> None:
    if limit_bytes <= 0:
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _watch_parent() -> None:
    """Kill this process group when the parent dies (re-parenting changes getppid)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_SECONDS)
            if os.getppid() != parent:
                os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def child_main(argv: list[str]) -> int:
    """Entry of the child interpreter: `RUN_FILE RESULT_FILE --memory-limit BYTES`."""
    run_path, result_path = Path(argv[0]), Path(argv[1])
    memory_limit = int(argv[argv.index("--memory-limit") + 1]) if "--memory-limit" in argv else 0
    _apply_memory_limit(memory_limit)
    _watch_parent()
    faulthandler.enable()

    payload = json.loads(run_path.read_text())
    if payload.get("plugins"):
        os.environ[PLUGINS_ENV] = payload["plugins"]
    spec = RunSpec.from_json(payload["spec"])

    from moccasin_bench.budget import Budget
    from moccasin_bench.jsonio import dumps, write_text_atomically
    from moccasin_bench.judge import max_rss_bytes, solve_in_process
    from moccasin_bench.native import parse

    graph = parse(payload["graph"]["document"], name=spec.graph_name, origin=payload["graph"].get("origin", ""))
    if graph.content_hash != spec.graph_hash:
        print(f"graph content hash {graph.content_hash} differs from the run's {spec.graph_hash}", file=sys.stderr)
        return 4
    budget = Budget(
        bytes=spec.budget_bytes,
        fraction=spec.budget_fraction,
        reference_order=spec.reference_order if spec.budget_fraction is not None else None,
        reference_peak=spec.reference_peak,
    )
    if payload.get("task") == "model_size":
        from moccasin_bench.judge import max_rss_bytes, measure_model_size

        try:
            doc = measure_model_size(graph, budget, spec.formulation, spec.params, spec.reference_order)
        except UserError as exc:
            print(f"moccasin-bench: error: {exc}", file=sys.stderr)
            return 2
        doc["max_rss_bytes"] = max_rss_bytes()
        write_text_atomically(dumps(doc), result_path)
        return 0
    progress = None
    if payload.get("progress"):
        from moccasin_bench.progress import solve_progress_printer

        progress = solve_progress_printer(graph.sum_duration)
    try:
        result = solve_in_process(
            graph,
            budget,
            spec.formulation,
            spec.params,
            time_limit_seconds=spec.time_limit_seconds,
            threads=spec.threads,
            seed=spec.seed,
            relative_gap=spec.relative_gap,
            reference_order_name=spec.reference_order,
            progress=progress,
            initial=spec.initial,
        )
    except UserError as exc:
        print(f"moccasin-bench: error: {exc}", file=sys.stderr)
        return 2
    doc = result.to_json()
    doc["max_rss_bytes"] = max_rss_bytes()
    write_text_atomically(dumps(doc), result_path)
    return 0


if __name__ == "__main__":
    code = child_main(sys.argv[1:])
    # a solver thread that overran its limit may still be running in C++ (see
    # formulations/_highs.py): exit without waiting for it or running its destructors
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
