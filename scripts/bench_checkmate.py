#!/usr/bin/env python
"""Benchmark the Checkmate baselines on the paper's graphs; prints a markdown table.

Each (instance, backend) runs in a fresh child process, one after the other: first the
model builder alone (wall seconds and the process's peak resident memory while building,
read from /proc/self/status after resetting it; "building" includes handing the model to
the solver: highspy's passModel, PuLP's objects plus its transfer into HiGHS or the MPS
file CBC reads, or the CP-SAT model), then the full run through the harness
(build + solve under the time limit, simulated by the runner). Instances whose graph
files are absent are skipped.

Examples:
  python scripts/bench_checkmate.py                                  # the default set, 600 s, 2 threads
  python scripts/bench_checkmate.py -i cm1@0.9 cm1@0.8 -b highs --time-limit 120
  python scripts/bench_checkmate.py -i rl2@0.9 rl3@0.9 rl4@0.9 -b highs pulp-highs pulp-cbc cp --build-only
  python scripts/bench_checkmate.py -i rl2@117472 -b highs lp          # an absolute budget
  python scripts/bench_checkmate.py -i cm2@0.9 --param warm_start=none # without the heuristic start
Backends: highs, pulp-highs, pulp-cbc (checkmate-milp), cp (checkmate-cp), lp (checkmate-lp).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

DEFAULT_INSTANCES = ["cm1@0.9", "cm1@0.8", "cm2@0.9", "rl1@0.9", "rl1@0.8", "rl2@0.9", "rl2@0.8", "rl3@0.9", "rl4@0.9"]
BACKENDS = {
    "highs": ("checkmate-milp", {"backend": "highs"}),
    "pulp-highs": ("checkmate-milp", {"backend": "pulp", "pulp_solver": "highs"}),
    "pulp-cbc": ("checkmate-milp", {"backend": "pulp", "pulp_solver": "cbc"}),
    "cp": ("checkmate-cp", {}),
    "lp": ("checkmate-lp", {}),
}
# The paper's Checkmate MILP (Gurobi, 16 cores): TDI % / seconds; docs/paper.md.
PAPER = {
    "cm1@0.9": "0.0 / 6.3 s",
    "cm1@0.8": "0.1 / 5.6 s",
    "cm2@0.9": "0.1 / 434 s",
    "cm2@0.8": "0.3 / 485 s",
    "rl1@0.9": "0.8 / 18.5 s",
    "rl1@0.8": "2.3 / 22.7 s",
    "rl2@0.9": "0.9 / 685 s",
    "rl2@0.8": "time limit",
    "rl3@0.9": "time limit",
    "rl3@0.8": "time limit",
}


def _status_kb(field: str) -> int:
    m = re.search(rf"^{field}:\s+(\d+) kB", open("/proc/self/status").read(), re.M)
    return int(m.group(1)) if m else 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _budget(graph, spec: str):
    from moccasin_bench.budget import resolve_budget

    value = float(spec)
    return resolve_budget(graph, fraction=value) if value <= 10 else resolve_budget(graph, absolute=int(value))


def _hand_over(model, spec: dict):
    """What the backend does with the arrays before solving: passModel into HiGHS; for PuLP,
    the PuLP objects plus PuLP's transfer into HiGHS, or the MPS file CBC reads."""
    import tempfile

    import highspy

    from formulations._highs import pass_model
    from formulations._pulp import build_pulp

    backend = spec["backend"]
    if backend in ("highs", "lp"):
        h = highspy.Highs()
        h.silent()
        pass_model(h, model, mip=backend == "highs")
        return h
    import pulp

    prob, variables = build_pulp(model)
    if backend == "pulp-highs":
        solver = pulp.HiGHS(msg=False)
        solver.createAndConfigureSolver(prob)
        solver.buildSolverModel(prob)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            prob.writeMPS(os.path.join(tmp, "model.mps"), rename=1)
    return prob, variables


def child(spec: dict) -> dict:
    """Runs inside the child process: build alone, then the full run."""
    import gc
    import resource

    if spec["memory_cap_gb"] > 0:
        cap = int(spec["memory_cap_gb"] * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from formulations import _checkmate_model as cm
    from moccasin_bench.judge import solve_in_process
    from moccasin_bench.orders import reference_order
    from moccasin_bench.sources import load_graph

    name, budget_spec = spec["instance"].split("@")
    graph = load_graph(name)
    budget = _budget(graph, budget_spec)
    formulation, params = BACKENDS[spec["backend"]]
    params = dict(params, **spec["params"].get(formulation, {}))
    out: dict = {
        "instance": spec["instance"],
        "backend": spec["backend"],
        "n": graph.n,
        "m": graph.m,
        "budget": budget.bytes,
    }
    order = reference_order(graph, budget.reference_order or "default")
    gc.collect()
    base_kb = _status_kb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    try:
        if spec["backend"] == "cp":
            from formulations.checkmate_cp import build

            model = build(graph, order, budget.bytes)
            out["model_size"] = {
                "variables": len(model[0].proto.variables),
                "constraints": len(model[0].proto.constraints),
            }
        else:
            model = cm.build_model(graph, order, budget.bytes, hazard=params.get("hazard", "clique"))
            out["model_size"] = model.size()
            model = (model, _hand_over(model, spec))
        out["build_seconds"] = time.perf_counter() - t0
    except MemoryError:
        out["build_seconds"] = time.perf_counter() - t0
        out["build_error"] = f"MemoryError under the {spec['memory_cap_gb']} GB address-space cap"
    out["build_peak_gb"] = _status_kb("VmHWM") / 2**20
    out["base_rss_gb"] = base_kb / 2**20
    model = None
    gc.collect()
    if spec["build_only"] or "build_error" in out:
        return out
    _reset_peak()
    res = solve_in_process(
        graph,
        budget,
        formulation,
        params,
        time_limit_seconds=spec["time_limit"],
        threads=spec["threads"],
        seed=spec["seed"],
    )
    o = res.output
    out.update(
        {
            "status": res.status,
            "tdi_percent": res.tdi_percent,
            "cost": res.total_duration,
            "peak_memory": res.peak_memory,
            "sum_duration": graph.sum_duration,
            "best_bound": o.best_bound,
            "run_build_seconds": o.build_seconds,
            "solve_seconds": o.solve_seconds,
            "wall_seconds": res.wall_seconds,
            "run_peak_gb": _status_kb("VmHWM") / 2**20,
            "time_to_best": o.trajectory[-1][0] if o.trajectory else None,
            "first_solution": o.trajectory[0][0] if o.trajectory else None,
            "variant": dict(o.variant),
            "model_size": dict(o.model_size),
            "restrictions": o.restrictions,
            "message": res.message,
        }
    )
    return out


def run_one(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"instance": spec["instance"], "backend": spec["backend"], "error": f"killed after {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {
            "instance": spec["instance"],
            "backend": spec["backend"],
            "error": f"exit {done.returncode}: {' | '.join(tail)}",
        }
    return json.loads(lines[-1])


def _fmt(x, spec: str = ".1f", none: str = "–") -> str:
    return none if x is None else format(x, spec)


def _start(r: dict) -> str:
    ws = (r.get("variant") or {}).get("warm_start")
    if isinstance(ws, dict):
        tdi = 100 * (ws["cost"] - r["sum_duration"]) / r["sum_duration"] if r.get("sum_duration") else None
        return f"heuristic {_fmt(tdi, '.2f')} %"
    return ws or ""


def table(rows: list[dict]) -> str:
    head = (
        "| instance | n / m | budget | backend | build s | builder peak GB | vars / rows / nnz | status | TDI % | "
        "bound TDI % | first sol. s | best at s | wall s | run peak GB | start | paper (Gurobi) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r and "n" not in r:
            lines.append(f"| {r['instance']} | | | {r['backend']} | | | | error: {r['error']} | | | | | | | | |")
            continue
        size = r.get("model_size") or {}
        dims = (
            f"{size.get('variables', 0):,} / {size.get('constraints', 0):,} / {_fmt(size.get('nonzeros'), ',')}"
            if size
            else ""
        )
        bound = r.get("best_bound")
        bound_tdi = (
            None
            if bound is None or not r.get("sum_duration")
            else 100 * (bound - r["sum_duration"]) / r["sum_duration"]
        )
        status = r.get("status", r.get("build_error", "built"))
        lines.append(
            f"| {r['instance']} | {r['n']} / {r['m']} | {r['budget']:,} | {r['backend']} | {_fmt(r.get('build_seconds'), '.2f')} | "
            f"{_fmt(r.get('build_peak_gb'), '.2f')} | {dims} | {status} | {_fmt(r.get('tdi_percent'), '.2f')} | "
            f"{_fmt(bound_tdi, '.2f')} | {_fmt(r.get('first_solution'))} | {_fmt(r.get('time_to_best'))} | "
            f"{_fmt(r.get('wall_seconds'))} | {_fmt(r.get('run_peak_gb'), '.2f')} | {_start(r)} | {PAPER.get(r['instance'], '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "-i",
        "--instances",
        nargs="+",
        default=DEFAULT_INSTANCES,
        help="GRAPH@BUDGET: budget as a fraction of the reference peak (<= 10) or in bytes",
    )
    ap.add_argument("-b", "--backends", nargs="+", default=["highs"], choices=sorted(BACKENDS))
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--hazard", choices=("clique", "both", "upper"), default=None, help="FREE rows for the MILP/LP backends"
    )
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a formulation parameter, given to every backend whose formulation declares it (e.g. warm_start=none)",
    )
    ap.add_argument("--build-only", action="store_true", help="only build the models (seconds and peak memory)")
    ap.add_argument("--memory-cap-gb", type=float, default=16.0, help="address-space cap of each child (0 = none)")
    ap.add_argument("--json", help="also write the raw results to this file (updated after every run)")
    ap.add_argument(
        "--table", help="print the table of a --json file from an earlier (possibly interrupted) run and exit"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.table:
        with open(args.table) as f:
            print(table(json.load(f)))
        return 0

    import importlib

    from moccasin_bench.params import split_assignments
    from moccasin_bench.sources import find_paper_file

    given = split_assignments(args.param)
    if args.hazard:
        given["hazard"] = args.hazard
    params: dict = {}
    for formulation, _ in BACKENDS.values():
        declared = {p.name for p in importlib.import_module(f"formulations.{formulation.replace('-', '_')}").PARAMS}
        params[formulation] = {k: v for k, v in given.items() if k in declared}
    try:
        load = os.getloadavg()
        print(
            f"# bench_checkmate: {time.strftime('%Y-%m-%d %H:%M')}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"{os.cpu_count()} CPUs; time limit {args.time_limit:g} s, {args.threads} thread(s)",
            flush=True,
        )
    except OSError:
        pass
    rows = []
    for inst in args.instances:
        name = inst.split("@")[0]
        if find_paper_file(name) is None and name in ("rl1", "rl2", "rl3", "rl4", "cm1", "cm2", "vgg16", "vgg-unet"):
            print(f"skipping {inst}: graph file not found", file=sys.stderr)
            continue
        for backend in args.backends:
            spec = {
                "instance": inst,
                "backend": backend,
                "time_limit": args.time_limit,
                "threads": args.threads,
                "seed": args.seed,
                "build_only": args.build_only,
                "memory_cap_gb": args.memory_cap_gb,
                "params": params,
            }
            t0 = time.perf_counter()
            row = run_one(spec, timeout=2 * args.time_limit + 900)
            rows.append(row)
            if args.json:  # written after every run, so an interrupted benchmark keeps what it measured
                with open(args.json, "w") as f:
                    json.dump(rows, f, indent=1)
            print(
                f"  {inst} {backend}: {row.get('status', row.get('build_error', row.get('error', 'built')))} "
                f"({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
