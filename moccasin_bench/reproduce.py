"""`reproduce`: an experiment's grid (the `experiments/` plug-ins), run through the sweep driver, then the report.

The default experiment is the Moccasin paper's Table 2 (`--grid paper`). Each paper graph
(rl1..rl4, cm1, cm2) is read from its file when a data directory holds it, else replaced
by its generated stand-in (moccasin_bench.catalog.STAND_INS), and the report says so at the top.
The grid is written as a sweep config (DIR/grid.toml) and run into DIR/runs.sqlite, so
re-running resumes: finished runs are skipped. `--quick` uses the experiment's quick mode.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moccasin_bench.errors import UserError
from moccasin_bench.experiment import Experiment, Mode, experiment
from moccasin_bench.sweep.config import dump_config as to_toml  # noqa: F401  (the name tests and scripts use)


@dataclass(frozen=True)
class Options:
    """What the user asked `reproduce` for; None and empty mean the experiment's own choice."""

    out_dir: Path
    grid: str = "paper"  # the experiment (experiments.REGISTRY)
    quick: bool = False
    mode: str | None = None  # a named mode (overrides quick)
    data_dir: str | None = None
    graphs: Sequence[str] = ()  # () = the experiment's graphs
    methods: Sequence[str] = ()  # () = the experiment's methods (their identities, e.g. moccasin[order=free])
    stand_ins: bool = False  # use the generated stand-ins even when the paper's files are found
    jobs: int | None = None  # None = the mode's
    threads: int | None = None
    time_limit: float | None = None  # one limit for every run (overrides the mode's)
    dry_run: bool = False  # plan and print; write nothing
    force: bool = False  # run into a store that holds another grid's runs
    write_grid: bool = False  # write DIR/grid.toml (the grid as a sweep config) and run nothing
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
    experiment: Experiment
    mode: Mode
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (graph entry, method identity, reason)
    unavailable: dict[str, str] = field(default_factory=dict)  # method identity -> why
    stand_in_note: str | None = None  # which stand-ins replace paper graphs, and where the files were looked for


@dataclass(frozen=True)
class HookContext:
    """What an experiment's hooks (Experiment.hooks) get: where the runs are and what the grid was."""

    out_dir: Path
    store_path: Path
    grid: Grid
    keys: frozenset[str]  # the grid's run keys
    quick: bool
    data_dir: str | None
    progress: bool


def _hook(exp: Experiment, name: str):
    """The experiment's hook function `name`, or None."""
    import importlib

    if not exp.hooks:
        return None
    return getattr(importlib.import_module(exp.hooks), name, None)


def choose_graphs(names: Sequence[str], data_dir: str | None, stand_ins: bool) -> list[GraphChoice]:
    """Each paper graph from its file when found (and not `stand_ins`), else its generated stand-in."""
    from moccasin_bench.catalog import STAND_INS
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


def _load_choice(c: GraphChoice, data_dir: str | None) -> Any:
    from moccasin_bench.sources import load_graph

    return load_graph(c.path or c.entry, data_dir)


def _not_applicable(m: Any, graph: Any) -> str | None:
    """Why method `m` cannot run on `graph` (the formulation's REQUIRES and check()), or None."""
    from moccasin_bench.formulation import check_params, formulation_module
    from moccasin_bench.params import resolve_params

    module = formulation_module(m.formulation)
    try:
        check_params(module, resolve_params(module.PARAMS, dict(m.run_params), f"formulation {m.formulation!r}"), graph)
    except UserError as exc:
        return f"not applicable: {exc.problem}"
    return None


def _budget_axes(budgets: Sequence[tuple[str, float]]) -> dict[str, list]:
    """(kind, value) budgets as a [[grid]] table's budget keys."""
    keys = {"fraction": "budgets", "bytes": "budget_bytes", "minimum": "budget_minimum"}
    out: dict[str, list] = {}
    for kind, value in budgets:
        out.setdefault(keys[kind], []).append(int(value) if kind == "bytes" else float(value))
    return out


def build_grid(opts: Options) -> Grid:
    """The sweep config (as a dict) of the reproduction."""
    exp = experiment(opts.grid)
    mode = exp.mode(opts.quick, opts.mode)
    unknown = [m for m in opts.methods if exp.find_method(m) is None]
    if unknown:
        raise UserError(
            f"unknown method {unknown[0]!r} for grid {exp.name!r}; choose from {', '.join(exp.method_keys)}"
        )
    wanted = {exp.find_method(m).key for m in opts.methods} or set(exp.method_keys)
    graphs = tuple(opts.graphs) or exp.graphs_of(mode)
    if not graphs:
        raise UserError("no graphs to run")
    if opts.data_dir and not Path(opts.data_dir).is_dir():
        raise UserError("no such data directory (it should hold the paper's graph files)", str(opts.data_dir))
    choices = choose_graphs(graphs, opts.data_dir, opts.stand_ins)
    methods = [m for m in exp.methods if m.key in wanted]
    grid = Grid(config={}, choices=choices, experiment=exp, mode=mode)
    grid.stand_in_note = stand_in_reason(opts, grid)  # said now: the report, written later, says the same
    for m in methods:
        why = _available(m.formulation)
        if why:
            grid.unavailable[m.key] = why
    methods = [m for m in methods if m.key not in grid.unavailable]
    if not methods:
        raise UserError(
            "none of the chosen methods is available: " + "; ".join(f"{k}: {v}" for k, v in grid.unavailable.items())
        )

    threads = opts.threads or mode.threads
    tables = []
    for c in choices:
        graph = _load_choice(c, opts.data_dir)
        limit = opts.time_limit or mode.time_limits.get(c.paper or c.entry, mode.other_limit)
        groups: dict[tuple, list] = {(float(limit), None): []}  # uncapped methods first, then each cap or seed set
        for m in methods:
            reason = m.lookup(mode.skip, c.paper or c.entry) or _not_applicable(m, graph)
            if reason:
                grid.skipped.append((c.entry, m.key, reason))
                continue
            cap = mode.caps.get(m.formulation)
            seconds = float(limit if cap is None else min(limit, opts.time_limit or cap))
            floor = mode.floors.get(m.formulation)
            if floor is not None and not opts.time_limit:  # --time-limit is the user's word for every run
                seconds = max(seconds, float(floor))
            params = m.run_params
            work = m.lookup(mode.work_limits) or mode.work_limits.get(m.formulation)
            if work is not None and work.applies(c.paper or c.entry):
                params = {**params, work.param: work.value(seconds)}
                seconds = float(seconds * work.safety)
            groups.setdefault((seconds, m.lookup(mode.method_seeds)), []).append((m, params))
        for (seconds, seeds), group in groups.items():
            if group:
                table = {
                    "graphs": [c.entry],
                    "time_limits": seconds,
                    "formulations": [{"name": m.formulation, "params": params} for m, params in group],
                }
                if seeds is not None:
                    table["seeds"] = list(seeds)
                if exp.budgets_for is not None:
                    table.update(_budget_axes(exp.budgets_for(graph, mode)))
                tables.append(table)
    if not tables:
        raise UserError("the grid is empty: every method is skipped on every graph")
    prefix = "reproduce" if exp.name == "paper" else f"reproduce-{exp.name}"
    config: dict[str, Any] = {
        "name": f"{prefix}-{mode.name}",
        "description": f"{exp.description} ({mode.name} mode)",
        "budgets": list(exp.budgets),
        "threads": int(threads),
        "seeds": list(mode.seeds) if len(mode.seeds) > 1 else mode.seeds[0],
    }
    if mode.grace_seconds is not None:
        config["grace_seconds"] = float(mode.grace_seconds)
    if opts.data_dir:
        config["data_dir"] = str(Path(opts.data_dir).resolve())
    config["grid"] = tables
    grid.config = config
    return grid


# ---- running -----------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def preamble(opts: Options, grid: Grid, jobs: int, elapsed_seconds: float | None) -> list[str]:
    """What the report says first about this reproduction."""
    from moccasin_bench.method import label

    exp, mode = grid.experiment, grid.mode
    threads = grid.config["threads"]
    lines = [grid.stand_in_note] if grid.stand_in_note else []
    lines += [
        f"`{command_of(opts)}`: {exp.description}, in {mode.name} mode, "
        f"{jobs} run(s) at a time with {threads} solver thread(s) each"
        + (f"; running the grid took {_duration(elapsed_seconds)} in all." if elapsed_seconds is not None else ".")
    ]
    per_graph = []
    for c in grid.choices:
        limits: dict[float, list[str]] = {}
        for t in grid.config["grid"]:
            if t["graphs"] == [c.entry]:
                names = [label(f["name"], f["params"]) for f in t["formulations"]]
                limits.setdefault(t["time_limits"], []).extend(names)
        if len(limits) == 1:
            per_graph.append(f"{c.entry}: {next(iter(limits)):g} s")
        elif limits:
            first = next(iter(limits))
            parts = [f"{first:g} s"] + [f"{', '.join(n)} {sec:g} s" for sec, n in list(limits.items())[1:]]
            per_graph.append(f"{c.entry}: {'; '.join(parts)}")
    lines.append("Time limits per run: " + " | ".join(per_graph) + ".")
    if len(mode.seeds) > 1:
        lines.append(f"Every run is repeated with seeds {', '.join(map(str, mode.seeds))}.")
    if mode.name != "full" and mode.summary:
        lines.append(mode.summary)
    files = [c for c in grid.choices if not c.is_stand_in and c.paper]
    if files:
        lines.append("Paper graph files: " + "; ".join(f"{c.paper.upper()} = {Path(c.path).name}" for c in files) + ".")
    if grid.skipped and mode.skip_note:
        lines.append(mode.skip_note)
    for key, why in grid.unavailable.items():
        m = next(x for x in exp.methods if x.key == key)
        lines.append(f"{m.label()} was not run: the formulation is not available here ({why}).")
    entries = {c.entry for c in grid.choices}
    for m in exp.methods:  # a method left out on every graph has no column: say so here
        reasons = {
            reason.replace(f"graph {e!r}", "the graph") for e, k, reason in grid.skipped if k == m.key and e in entries
        }
        if reasons and len({e for e, k, _ in grid.skipped if k == m.key}) == len(entries):
            lines.append(f"{m.label()} was not run on any graph of this grid: {'; '.join(sorted(reasons))}.")
    return lines


def stand_in_reason(opts: Options, grid: Grid) -> str | None:
    """Which stand-ins replace paper graphs and why, naming every place the files were looked for."""
    from moccasin_bench.catalog import STAND_INS
    from moccasin_bench.sources import describe_search

    replaced = [c for c in grid.choices if c.is_stand_in and c.requested.lower() in STAND_INS]  # not asked for by name
    if not replaced:
        return None
    used = ", ".join(f"{c.entry} for {c.paper.upper()}" for c in replaced)
    if opts.stand_ins:
        return f"Using the generated stand-ins {used}, as asked (--stand-ins)."
    return (
        f"Using the generated stand-ins {used}: the paper's files for them were not found. Looked at: "
        f"{describe_search(opts.data_dir)}. `moccasin-bench graphs download` fetches them into the user data directory."
    )


def _effort_pairs(exp: Experiment) -> tuple[tuple[str, str], ...]:
    """The experiment's effort-ratio pairs, from method identities to the labels the report uses."""
    pairs = [(exp.find_method(a), exp.find_method(b)) for a, b in exp.effort_ratios]
    return tuple((a.label(), b.label()) for a, b in pairs if a is not None and b is not None)


def command_of(opts: Options) -> str:
    """The reproduce command line, as the report shows it."""
    return (
        "moccasin-bench reproduce"
        + (f" --grid {opts.grid}" if opts.grid != "paper" else "")
        + (f" --mode {opts.mode}" if opts.mode else " --quick" if opts.quick else "")
    )


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


def _write_grid(out: Path, config_path: Path, text: str) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        config_path.write_text(text)
    except OSError as exc:
        raise UserError(f"cannot write the grid: {exc.strerror or exc}", str(config_path)) from None


def not_run_lines(grid: Grid) -> list[str]:
    """One line per method the plan leaves out on some graphs, and why (a mode's skip, not applicable)."""
    by: dict[tuple[str, str], list[str]] = {}
    for entry, key, reason in grid.skipped:  # the same reason on several graphs is said once
        by.setdefault((key, reason.replace(f"graph {entry!r}", "the graph")), []).append(entry)
    return [f"not run: {key} on {', '.join(entries)} ({reason})" for (key, reason), entries in by.items()]


def run(opts: Options) -> int:
    """Build the grid, run what the store lacks, write the report. Returns an exit status."""
    from moccasin_bench.cluster import LocalExecutor
    from moccasin_bench.report import ReportRequest, build_report
    from moccasin_bench.report.table import Skipped
    from moccasin_bench.store import stored_statuses
    from moccasin_bench.sweep import describe_plan, drive, plan
    from moccasin_bench.sweep.config import dump_config, parse_config

    grid = build_grid(opts)
    exp, mode = grid.experiment, grid.mode
    jobs = opts.jobs or mode.jobs
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    out = opts.out_dir
    config_path, store_path = out / "grid.toml", out / "runs.sqlite"
    header = [
        f"Written by `{command_of(opts)}` ({mode.name} mode).",
        f"Re-run just the grid: moccasin-bench sweep {config_path.name} --store {store_path.name} --jobs {jobs}",
    ]
    text = dump_config(grid.config, header)
    config = parse_config(tomllib.loads(text), config_path, text)  # checked before anything is written
    the_plan = plan(config)
    stored = stored_statuses(store_path)
    foreign = set(stored) - {spec.key for spec in the_plan.runs}
    if foreign and not opts.dry_run and not opts.force:
        raise UserError(
            f"the store holds {len(foreign)} run(s) of another grid (another command, options or code version wrote "
            f"{config_path.name} there): use a fresh output directory, or --force to add this grid's runs to that "
            "store (the report then shows this grid only)",
            str(store_path),
        )
    if grid.stand_in_note:
        print(f"reproduce: {grid.stand_in_note} The report says so at its top.", file=sys.stderr)
    if opts.write_grid:  # the grid as a sweep config, nothing run
        _write_grid(out, config_path, text)
        print(f"reproduce: wrote {config_path} (run it with: moccasin-bench sweep {config_path})", file=sys.stderr)
    if opts.dry_run or opts.write_grid:  # a dry run writes nothing, not even the output directory
        if foreign and opts.dry_run:
            print(
                f"note: {store_path} holds {len(foreign)} run(s) of another grid: a real run there stops "
                "unless --force is given",
                file=sys.stderr,
            )
        print(describe_plan(the_plan, stored, (), str(store_path), jobs))
        for line in not_run_lines(grid):
            print(line)
        if mode.sizes is not None:
            from moccasin_bench.runner import format_size

            z = mode.sizes
            print(
                f"model sizes (build only, one at a time): {len(z.methods)} method(s) x {len(z.graphs)} graph(s), "
                f"each build capped at {z.seconds_cap:g} s and {format_size(z.memory_cap_bytes)}, into "
                f"{out / 'model-sizes.csv'}: {', '.join(m.key for m in z.methods)} on {', '.join(z.graphs)}"
            )
        return 0

    _write_grid(out, config_path, text)
    grid_id = hashlib.sha256(" ".join(sorted(spec.key for spec in the_plan.runs)).encode()).hexdigest()[:16]
    meta_path = out / "reproduce.json"
    started = time.monotonic()
    memory = opts.memory_limit_bytes if opts.memory_limit_bytes is not None else config.memory_limit_bytes
    try:
        outcome = drive(
            the_plan,
            store_path,
            lambda: LocalExecutor(jobs, memory, config.grace_seconds),
            title=f"reproduce {exp.name} ({mode.name}, {grid.config['threads']} thread(s) per run)",
            config_path=str(config_path.resolve()),
            config_text=config.text,
            command=shlex.join(sys.argv),
            progress=opts.progress,
        )
        sizes_path = out / "model-sizes.csv"
        if mode.sizes is not None:
            from moccasin_bench.model_sizes import measure

            print(f"reproduce {exp.name}: model sizes (build only) into {sizes_path}", file=sys.stderr)
            before = sizes_path.stat().st_size if sizes_path.is_file() else 0
            measure(mode.sizes, sizes_path, opts.data_dir, progress=opts.progress)
            ran_sizes = (sizes_path.stat().st_size if sizes_path.is_file() else 0) != before
        else:
            ran_sizes = False
    except KeyboardInterrupt:  # keep the time spent, so the report of the resumed grid counts it
        spent = _add_earlier_time(meta_path, grid_id, time.monotonic() - started)
        meta_path.write_text(
            json.dumps(
                {"grid": exp.name, "mode": mode.name, "grid_id": grid_id, "grid_seconds": spent, "interrupted": True},
                indent=1,
            )
            + "\n"
        )
        raise
    ran = outcome.summary.ran > 0 or ran_sizes
    elapsed = _add_earlier_time(meta_path, grid_id, time.monotonic() - started if ran else None)

    hashes = {}
    for spec in the_plan.runs:
        hashes.setdefault(spec.graph_source, spec.graph_hash)
    skipped = []
    for entry, key, reason in grid.skipped:
        m = next(x for x in exp.methods if x.key == key)
        if entry in hashes:
            for f in exp.budgets:
                skipped.append(Skipped(hashes[entry], f, m.label(), reason))
    ctx = HookContext(
        out_dir=out,
        store_path=store_path,
        grid=grid,
        keys=frozenset(s.key for s in the_plan.runs),
        quick=opts.quick,
        data_dir=opts.data_dir,
        progress=opts.progress,
    )
    after = _hook(exp, "after_grid")
    if after is not None:
        after(ctx)
    section = _hook(exp, "report_section")
    t0 = time.monotonic()
    result = build_report(
        ReportRequest(
            store=store_path,
            out_dir=out,
            keys=frozenset(s.key for s in the_plan.runs),
            title=f"{exp.title} ({mode.name} mode)",
            preamble=preamble(opts, grid, jobs, elapsed),
            skipped=skipped,
            data_dir=opts.data_dir,
            published=exp.published,
            model_sizes=sizes_path if mode.sizes is not None else None,
            section=None if section is None else (lambda a, fig_dir: section(ctx, a, fig_dir)),
            effort_ratios=_effort_pairs(exp),
        )
    )
    report_seconds = time.monotonic() - t0
    counts = outcome.counts
    meta = {
        "grid": exp.name,
        "mode": mode.name,
        "jobs": jobs,
        "threads": grid.config["threads"],
        "graphs": [
            {
                "requested": c.requested,
                "used": c.entry,
                "paper": c.paper,
                "stand_in": c.is_stand_in,
                "file": Path(c.path).name if c.path else None,
            }
            for c in grid.choices
        ],
        "skipped": [{"graph": e, "method": k, "reason": r} for e, k, r in grid.skipped],
        "unavailable": grid.unavailable,
        "runs": len(the_plan.runs),
        "statuses": counts,
        "grid_id": grid_id,
        "grid_seconds": elapsed,
        "report_seconds": report_seconds,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "moccasin-bench " + shlex.join(sys.argv[1:]),
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(
        f"reproduce: {len(the_plan.runs)} runs ({shown}); report in {result.index_html} and {result.index_md}",
        file=sys.stderr,
    )
    for note in result.notes:
        print(f"reproduce: {note}", file=sys.stderr)
    return outcome.exit_code
