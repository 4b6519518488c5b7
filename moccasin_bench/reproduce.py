"""`reproduce`: the paper's experiment grid, run through the sweep driver, then the report.

The grid: RL1–RL4, CM1, CM2 × budgets 90 % / 80 % × Moccasin in fixed order (as the
paper), Checkmate MILP (HiGHS), Checkmate LP + rounding, plus Moccasin in free order and
the heuristics. Each paper graph is read from its file when a data directory holds it,
else replaced by its generated stand-in (graphs.catalog.STAND_INS), and the report says
so at the top. The grid is written as a sweep config (DIR/grid.toml) and run into
DIR/runs.sqlite, so re-running resumes: finished runs are skipped. `--quick` shortens
every limit so the whole grid and its report fit in about 10 minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from moccasin_bench.errors import UserError

PAPER_GRAPHS = ("rl1", "rl2", "rl3", "rl4", "cm1", "cm2")
BUDGETS = (0.9, 0.8)


@dataclass(frozen=True)
class Method:
    """One column of the paper's table: a formulation with the parameters that define it."""

    key: str
    formulation: str
    params: Mapping[str, Any]
    note: str = ""


METHODS = (
    Method("moccasin-fixed", "moccasin", {"order": "fixed", "copies": 2}, "the paper's model: fixed order, C = 2"),
    Method("moccasin-free", "moccasin", {"order": "free", "copies": 2}, "Moccasin without the fixed order"),
    Method("checkmate-milp", "checkmate-milp", {"backend": "highs"}, "Checkmate's MILP on HiGHS"),
    Method("checkmate-lp", "checkmate-lp", {}, "Checkmate's LP relaxation + rounding"),
    Method("heuristic", "heuristic", {"strategy": "best"}, "every heuristic, the cheapest schedule that fits"),
)
METHOD_KEYS = tuple(m.key for m in METHODS)


@dataclass(frozen=True)
class Mode:
    """Limits of a reproduction: per paper graph, for heuristics, what is left out and why."""

    name: str
    time_limits: Mapping[str, float]  # paper graph -> seconds (its stand-in gets the same)
    other_limit: float  # any other graph (--graphs)
    heuristic_limit: float  # heuristics stop at min(this, the graph's limit)
    skip: Mapping[tuple[str, str], str]  # (paper graph, method key) -> why it is not run, in a few words (table cell)
    skip_note: str  # the same, in a sentence (report preamble)
    grace_seconds: float | None  # None = the runner's default
    jobs: int
    threads: int


# Full mode: the paper's time limits (it reports Moccasin's best at ~1,800 s on RL3 and
# ~3,600 s on RL4, Checkmate's MILP up to ~700 s on RL2 / CM2). Checkmate's O(n^2) models
# are left out where the paper left them out (LP on RL3, both on RL4).
FULL = Mode(
    name="full",
    time_limits={"rl1": 600, "cm1": 600, "rl2": 1800, "cm2": 1800, "rl3": 1800, "rl4": 3600},
    other_limit=600,
    heuristic_limit=60,
    skip={("rl3", "checkmate-lp"): "as the paper", ("rl4", "checkmate-milp"): "as the paper",
          ("rl4", "checkmate-lp"): "as the paper"},
    skip_note="Checkmate's LP+rounding on RL3 and both Checkmate models on RL4 are not run, as in the paper "
              "(its O(n²) models are too large there).",
    grace_seconds=None,
    jobs=1,
    threads=max(1, os.cpu_count() or 1),
)

# Quick mode: short limits so the grid and its report finish in about 10 minutes on 2
# cores (two runs at a time, one solver thread each: on a fixed wall budget that gave
# better schedules than one run with two threads at half the limit; see results/README.md).
# Checkmate's O(n^2) models on RL3 / RL4 take longer than these limits just to build.
QUICK = Mode(
    name="quick",
    time_limits={"rl1": 15, "cm1": 15, "rl2": 25, "cm2": 25, "rl3": 30, "rl4": 45},
    other_limit=15,
    heuristic_limit=10,
    skip={("rl3", "checkmate-milp"): "quick mode", ("rl3", "checkmate-lp"): "quick mode",
          ("rl4", "checkmate-milp"): "quick mode", ("rl4", "checkmate-lp"): "quick mode"},
    skip_note="Quick mode does not run Checkmate's MILP and LP on RL3 and RL4: their O(n²) models take longer than "
              "the quick limits just to build (the paper's MILP ran out of time on RL3 after 30 minutes).",
    grace_seconds=20,
    jobs=2,
    threads=1,
)


@dataclass(frozen=True)
class Options:
    out_dir: Path
    quick: bool = False
    data_dir: str | None = None
    graphs: Sequence[str] = PAPER_GRAPHS
    methods: Sequence[str] = METHOD_KEYS
    stand_ins: bool = False  # use the generated stand-ins even when the paper's files are found
    jobs: int | None = None  # None = the mode's
    threads: int | None = None
    time_limit: float | None = None  # one limit for every run (overrides the mode's)
    dry_run: bool = False
    progress: bool = True
    memory_limit_bytes: int | None = None


@dataclass(frozen=True)
class GraphChoice:
    """What runs for one requested graph: the paper's file or its stand-in, and why."""

    requested: str
    entry: str  # what goes into the sweep config's `graphs`
    paper: str | None  # the paper graph it is or stands for
    is_stand_in: bool
    path: str | None = None


@dataclass
class Grid:
    """The reproduction's grid, as a sweep config, with what was left out."""

    config: dict
    choices: list[GraphChoice]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (graph entry, method key, reason)
    unavailable: dict[str, str] = field(default_factory=dict)  # method key -> why


def choose_graphs(names: Sequence[str], data_dir: str | None, stand_ins: bool) -> list[GraphChoice]:
    """Each paper graph from its file when found (and not `stand_ins`), else its generated stand-in."""
    from graphs.catalog import STAND_INS
    from moccasin_bench.sources import find_paper_file

    out = []
    for name in names:
        key = name.lower()
        if key in STAND_INS:
            path = None if stand_ins else find_paper_file(key, data_dir)
            if path is not None:
                out.append(GraphChoice(name, key, key, False, str(path)))
            else:
                out.append(GraphChoice(name, STAND_INS[key], key, True))
        else:
            stood = {v: k for k, v in STAND_INS.items()}.get(key)
            out.append(GraphChoice(name, name, stood, stood is not None))
    return out


def _available(formulation: str) -> str | None:
    """None when the formulation can be loaded, else why not."""
    from moccasin_bench.formulation import formulation_module

    try:
        formulation_module(formulation)
    except UserError as exc:
        return exc.problem
    except Exception as exc:  # a formulation module that fails to import
        return f"{type(exc).__name__}: {exc}"
    return None


def build_grid(opts: Options) -> Grid:
    """The sweep config (as a dict) of the reproduction."""
    mode = QUICK if opts.quick else FULL
    unknown = [m for m in opts.methods if m not in METHOD_KEYS]
    if unknown:
        raise UserError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHOD_KEYS)}")
    if not opts.graphs:
        raise UserError("no graphs to run")
    if opts.data_dir and not Path(opts.data_dir).is_dir():
        raise UserError("no such data directory (it should hold the paper's graph files)", str(opts.data_dir))
    choices = choose_graphs(opts.graphs, opts.data_dir, opts.stand_ins)
    methods = [m for m in METHODS if m.key in opts.methods]
    grid = Grid(config={}, choices=choices)
    for m in methods:
        why = _available(m.formulation)
        if why:
            grid.unavailable[m.key] = why
    methods = [m for m in methods if m.key not in grid.unavailable]
    if not methods:
        raise UserError("none of the chosen methods is available: " + "; ".join(f"{k}: {v}" for k, v in grid.unavailable.items()))

    threads = opts.threads or mode.threads
    tables = []
    for c in choices:
        limit = opts.time_limit or (mode.time_limits.get(c.paper, mode.other_limit) if c.paper else mode.other_limit)
        solvers, heuristics = [], []
        for m in methods:
            reason = mode.skip.get((c.paper, m.key)) if c.paper else None
            if reason:
                grid.skipped.append((c.entry, m.key, reason))
                continue
            (heuristics if m.formulation == "heuristic" else solvers).append(m)
        for group, seconds in ((solvers, limit), (heuristics, min(limit, opts.time_limit or mode.heuristic_limit))):
            if group:
                tables.append({"graphs": [c.entry], "time_limits": float(seconds),
                               "formulations": [{"name": m.formulation, "params": dict(m.params)} for m in group]})
    if not tables:
        raise UserError("the grid is empty: every method is skipped on every graph")
    config: dict[str, Any] = {
        "name": f"reproduce-{mode.name}",
        "description": f"the Moccasin paper's grid ({mode.name} mode): graphs x 90 % / 80 % x methods",
        "budgets": list(BUDGETS),
        "threads": int(threads),
        "seeds": 0,
    }
    if mode.grace_seconds is not None:
        config["grace_seconds"] = float(mode.grace_seconds)
    if opts.data_dir:
        config["data_dir"] = str(Path(opts.data_dir).resolve())
    config["grid"] = tables
    grid.config = config
    return grid


# ---- TOML (the few types a sweep config uses) ------------------------------------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def to_toml(config: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    lines = [f"# {h}" for h in header]
    for k, v in config.items():
        if k != "grid":
            lines.append(f"{k} = {_toml_value(v)}")
    for table in config.get("grid", ()):
        lines += ["", "[[grid]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# ---- running -----------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def preamble(opts: Options, grid: Grid, mode: Mode, jobs: int, elapsed_seconds: float | None) -> list[str]:
    """What the report says first about this reproduction."""
    from moccasin_bench.report.methods import base_label

    threads = grid.config["threads"]
    lines = [f"`moccasin-bench reproduce{' --quick' if opts.quick else ''}`: the Moccasin paper's grid in {mode.name} mode, "
             f"{jobs} run(s) at a time with {threads} solver thread(s) each"
             + (f"; running the grid took {_duration(elapsed_seconds)} in all." if elapsed_seconds is not None else ".")]
    limits = {}
    for t in grid.config["grid"]:
        for f in t["formulations"]:
            kind = "heuristics" if f["name"] == "heuristic" else "solvers"
            limits.setdefault((t["graphs"][0], kind), t["time_limits"])
    per_graph = []
    for c in grid.choices:
        parts = [f"{kind} {limits[(c.entry, kind)]:g} s" for kind in ("solvers", "heuristics") if (c.entry, kind) in limits]
        if parts:
            per_graph.append(f"{c.entry}: {', '.join(parts)}")
    lines.append("Time limits per run: " + "; ".join(per_graph) + ".")
    if opts.quick:
        lines.append("Quick mode is a smoke test of the whole pipeline with limits far below the paper's (which ran up to "
                     "3,600 s per run on 16 cores): expect `no solution` where the paper's solvers needed minutes, and "
                     "larger TDI. Run without --quick for the paper's limits.")
    files = [c for c in grid.choices if not c.is_stand_in and c.paper]
    if files:
        lines.append("Paper graph files: " + "; ".join(f"{c.paper.upper()} = {Path(c.path).name}" for c in files) + ".")
    if grid.skipped:
        lines.append(mode.skip_note)
    for key, why in grid.unavailable.items():
        m = next(x for x in METHODS if x.key == key)
        lines.append(f"{base_label(m.formulation, m.params)} was not run: the formulation is not available here ({why}).")
    return lines


def _add_earlier_time(meta_path: Path, grid_id: str, seconds: float | None) -> float | None:
    """Seconds spent running this grid, including earlier (interrupted or finished) invocations
    recorded in reproduce.json for the same grid."""
    try:
        earlier = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return seconds
    if earlier.get("grid_id") != grid_id or earlier.get("grid_seconds") is None:
        return seconds
    return float(earlier["grid_seconds"]) + (seconds or 0.0)


def run(opts: Options) -> int:
    """Build the grid, run what the store lacks, write the report. Returns an exit status."""
    from moccasin_bench.cluster import LocalExecutor
    from moccasin_bench.report import ReportRequest, build_report
    from moccasin_bench.report.methods import base_label
    from moccasin_bench.report.table import Skipped
    from moccasin_bench.store import stored_statuses
    from moccasin_bench.sweep import describe_plan, drive, load_config, plan

    mode = QUICK if opts.quick else FULL
    jobs = opts.jobs or mode.jobs
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    grid = build_grid(opts)
    out = opts.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output directory: {exc.strerror or exc}", str(out)) from None
    config_path, store_path = out / "grid.toml", out / "runs.sqlite"
    header = [f"Written by `moccasin-bench reproduce{' --quick' if opts.quick else ''}` ({mode.name} mode).",
              f"Re-run just the grid: moccasin-bench sweep {config_path.name} --store {store_path.name} --jobs {jobs}"]
    config_path.write_text(to_toml(grid.config, header))
    config = load_config(config_path)
    the_plan = plan(config)
    stored = stored_statuses(store_path)
    stand_ins = [c for c in grid.choices if c.is_stand_in and c.requested.lower() in PAPER_GRAPHS]  # replaced, not asked for
    if stand_ins:
        why = ("as asked (--stand-ins)" if opts.stand_ins else
               "because the paper's graph files were not found for " + ", ".join(c.paper.upper() for c in stand_ins))
        print(f"reproduce: using the generated stand-ins {', '.join(c.entry for c in stand_ins)} {why}; the report says so. "
              "Pass --data-dir DIR with the paper's files to reproduce the paper itself.", file=sys.stderr)
    if opts.dry_run:
        print(describe_plan(the_plan, stored, (), str(store_path), jobs))
        return 0

    grid_id = hashlib.sha256(" ".join(sorted(spec.key for spec in the_plan.runs)).encode()).hexdigest()[:16]
    meta_path = out / "reproduce.json"
    started = time.monotonic()
    memory = opts.memory_limit_bytes if opts.memory_limit_bytes is not None else config.memory_limit_bytes
    try:
        outcome = drive(the_plan, store_path, lambda: LocalExecutor(jobs, memory, config.grace_seconds),
                        title=f"reproduce ({mode.name}, {grid.config['threads']} thread(s) per run)",
                        config_path=str(config_path.resolve()), config_text=config.text, command=shlex.join(sys.argv),
                        progress=opts.progress)
    except KeyboardInterrupt:  # keep the time spent, so the report of the resumed grid counts it
        spent = _add_earlier_time(meta_path, grid_id, time.monotonic() - started)
        meta_path.write_text(json.dumps({"mode": mode.name, "grid_id": grid_id, "grid_seconds": spent,
                                         "interrupted": True}, indent=1) + "\n")
        raise
    ran = outcome.summary.ran > 0
    elapsed = _add_earlier_time(meta_path, grid_id, time.monotonic() - started if ran else None)

    hashes = {}
    for spec in the_plan.runs:
        hashes.setdefault(spec.graph_source, spec.graph_hash)
    skipped = []
    for entry, key, reason in grid.skipped:
        m = next(x for x in METHODS if x.key == key)
        if entry in hashes:
            for f in BUDGETS:
                skipped.append(Skipped(hashes[entry], f, base_label(m.formulation, m.params), reason))
    t0 = time.monotonic()
    result = build_report(ReportRequest(store=store_path, out_dir=out, keys=frozenset(s.key for s in the_plan.runs),
                                        title=f"Moccasin paper reproduction ({mode.name} mode)",
                                        preamble=preamble(opts, grid, mode, jobs, elapsed), skipped=skipped,
                                        data_dir=opts.data_dir))
    report_seconds = time.monotonic() - t0
    counts = outcome.counts
    meta = {
        "mode": mode.name, "jobs": jobs, "threads": grid.config["threads"],
        "graphs": [{"requested": c.requested, "used": c.entry, "paper": c.paper, "stand_in": c.is_stand_in,
                    "file": Path(c.path).name if c.path else None}
                   for c in grid.choices],
        "skipped": [{"graph": e, "method": k, "reason": r} for e, k, r in grid.skipped],
        "unavailable": grid.unavailable, "runs": len(the_plan.runs), "statuses": counts,
        "grid_id": grid_id, "grid_seconds": elapsed, "report_seconds": report_seconds,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "moccasin-bench " + shlex.join(sys.argv[1:]),
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"reproduce: {len(the_plan.runs)} runs ({shown}); report in {result.index_html} and {result.index_md}", file=sys.stderr)
    for note in result.notes:
        print(f"reproduce: {note}", file=sys.stderr)
    return outcome.exit_code
