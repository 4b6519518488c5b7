"""Sweeps: a TOML grid expanded into runs, and the driver that runs what is not yet stored.

A config is a union of grids. The top-level axes form one grid when there is no
`[[grid]]` table; each `[[grid]]` is a grid of its own whose missing axes come from the
top level. A grid is the product of its axes:

    graphs × budgets (fractions, and/or budget_bytes) × reference_orders
           × formulations (each with the product of its parameter lists)
           × time_limits × threads × seeds × gaps

An axis may be a scalar or a list. Graph entries are files (relative to the config
file), registered names (rl1, demo, ...) or generator specs (`random-layered:n=100`).
`budgets` and `budget_bytes` together make the budget axis; a `[[grid]]` that names
either replaces both. Runs with the same key (see runner.run_key) are merged. Every key,
value, graph, budget, formulation and parameter is checked before anything runs: a
mistake is one UserError naming the key and the file.

The driver (`run_sweep`) skips keys already in the store (or re-runs those whose status
is in `retry`), hands the rest to an executor (cluster.LocalExecutor or DaskExecutor),
and alone writes each result to the store, one transaction per run.
"""

from __future__ import annotations

import difflib
import itertools
import sqlite3
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, TextIO

from moccasin_bench.errors import UserError
from moccasin_bench.runner import RunSpec, format_size, make_spec, parse_size

AXES = ("graphs", "budgets", "budget_bytes", "reference_orders", "formulations", "time_limits", "threads", "seeds", "gaps")
SETTINGS = ("name", "description", "memory_limit", "grace_seconds", "data_dir", "grid")
DEFAULTS: dict[str, list] = {"reference_orders": ["default"], "time_limits": [60.0], "threads": [1], "seeds": [0], "gaps": [0.0]}
REFERENCE_ORDERS = ("default", "stored", "topological", "memory-aware")


@dataclass(frozen=True)
class FormulationEntry:
    """One formulation of a grid with its parameter grid (each value a list of choices)."""

    name: str
    params: Mapping[str, tuple[Any, ...]]
    where: str  # key path, for messages

    def settings(self) -> Iterator[dict[str, Any]]:
        names = sorted(self.params)
        for values in itertools.product(*(self.params[n] for n in names)):
            yield dict(zip(names, values))


@dataclass(frozen=True)
class Grid:
    where: str  # "the top level" or "[[grid]] number 2"
    key_names: Mapping[str, str]  # axis -> how messages name it ("graphs" or "grid[2].graphs")
    graphs: tuple[str, ...]
    budgets: tuple[tuple[str, float | int], ...]  # ("fraction", 0.9) or ("bytes", 41688)
    reference_orders: tuple[str, ...]
    formulations: tuple[FormulationEntry, ...]
    time_limits: tuple[float, ...]
    threads: tuple[int, ...]
    seeds: tuple[int, ...]
    gaps: tuple[float, ...]


@dataclass(frozen=True)
class SweepConfig:
    path: Path
    text: str
    name: str
    description: str
    grids: tuple[Grid, ...]
    memory_limit_bytes: int | None  # None = the runner's default, 0 = no cap
    grace_seconds: float | None  # None = the runner's default (30 s + 25 % of the limit)
    data_dir: str | None


# ---- parsing ----------------------------------------------------------------------------------

class _Checker:
    """Type checks that name the key and the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> UserError:
        return UserError(f"key '{key}': {problem}", str(self.path))

    def unknown(self, key: str, known: Sequence[str], where: str) -> UserError:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"
        return UserError(f"unknown key '{key}' in {where}{hint}", str(self.path))

    def listed(self, key: str, value: Any, kinds: tuple[type, ...], what: str) -> list:
        """A scalar or a list, every item of one of `kinds` (a bool is not a number here)."""
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, kinds) or (isinstance(item, bool) and bool not in kinds):
                raise self.fail(key, f"expected {what} (or a list of them), got {item!r}")
        return items


def load_config(path: str | Path) -> SweepConfig:
    """Read and check a sweep config (not the graphs yet: see `plan`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read sweep config: {exc.strerror or exc}", str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"not valid TOML: {exc}", str(path)) from None
    return parse_config(data, path, text)


def parse_config(data: Mapping[str, Any], path: Path, text: str = "") -> SweepConfig:
    check = _Checker(path)
    for key in data:
        if key not in AXES + SETTINGS:
            raise check.unknown(key, AXES + SETTINGS, "the top level")
    name = data.get("name", path.stem)
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise check.fail(key, f"expected a string, got {value!r}")
    memory = None
    if "memory_limit" in data:
        try:
            memory = parse_size(data["memory_limit"])
        except UserError as exc:
            raise check.fail("memory_limit", exc.problem) from None
    grace = None
    if "grace_seconds" in data:
        grace = data["grace_seconds"]
        if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
            raise check.fail("grace_seconds", f"expected a non-negative number of seconds, got {grace!r}")
        grace = float(grace)
    data_dir = data.get("data_dir")
    if data_dir is not None:
        if not isinstance(data_dir, str):
            raise check.fail("data_dir", f"expected a directory path, got {data_dir!r}")
        data_dir = str((path.parent / data_dir).resolve())

    top = {k: v for k, v in data.items() if k in AXES}
    grid_tables = data.get("grid")
    if grid_tables is None:
        grids = [_parse_grid(top, "the top level", "", set(), check)]
    else:
        if not isinstance(grid_tables, list) or not all(isinstance(g, dict) for g in grid_tables):
            raise check.fail("grid", "expected [[grid]] tables")
        grids = []
        for i, table in enumerate(grid_tables, 1):
            for key in table:
                if key not in AXES:
                    raise check.unknown(key, AXES, f"[[grid]] number {i}")
            merged = dict(top)
            if "budgets" in table or "budget_bytes" in table:
                merged.pop("budgets", None)
                merged.pop("budget_bytes", None)
            merged.update(table)
            own = set(table)
            if own & {"budgets", "budget_bytes"}:
                own |= {"budgets", "budget_bytes"}
            grids.append(_parse_grid(merged, f"[[grid]] number {i}", f"grid[{i}].", own, check))
    return SweepConfig(path=path, text=text, name=name, description=description, grids=tuple(grids),
                       memory_limit_bytes=memory, grace_seconds=grace, data_dir=data_dir)


def _parse_grid(table: Mapping[str, Any], where: str, prefix: str, own: set[str], check: _Checker) -> Grid:
    """`own`: the keys written in this grid's table (named `grid[i].key` in messages); others are
    inherited from the top level (named `key`)."""

    def k(key: str) -> str:
        return (prefix if key in own else "") + key

    def axis(key: str) -> list:
        if key in table:
            return table[key]
        if key in DEFAULTS:
            return DEFAULTS[key]
        raise check.fail(k(key), f"missing in {where}: every grid needs graphs, formulations and budgets (or budget_bytes)")

    graphs = check.listed(k("graphs"), axis("graphs"), (str,), "graph names, files or generator specs")
    fractions = check.listed(k("budgets"), table.get("budgets", []), (int, float), "budget fractions such as 0.9")
    for f in fractions:
        if not 0 < f <= 10:
            raise check.fail(k("budgets"), f"a budget fraction must be in (0, 10], got {f!r}; absolute budgets go in budget_bytes")
    absolute = check.listed(k("budget_bytes"), table.get("budget_bytes", []), (int,), "non-negative integers")
    for b in absolute:
        if b < 0:
            raise check.fail(k("budget_bytes"), f"a budget must be non-negative, got {b!r}")
    if not fractions and not absolute:
        raise check.fail(k("budgets"), f"missing in {where}: give budgets (fractions) or budget_bytes")
    orders = check.listed(k("reference_orders"), axis("reference_orders"), (str,), "reference order names")
    for o in orders:
        if o not in REFERENCE_ORDERS:
            raise check.fail(k("reference_orders"), f"unknown reference order {o!r}; choose from {', '.join(REFERENCE_ORDERS)}")
    time_limits = check.listed(k("time_limits"), axis("time_limits"), (int, float), "seconds")
    if any(t <= 0 for t in time_limits):
        raise check.fail(k("time_limits"), "time limits must be positive")
    threads = check.listed(k("threads"), axis("threads"), (int,), "positive integers")
    if any(t < 1 for t in threads):
        raise check.fail(k("threads"), "threads must be at least 1")
    seeds = check.listed(k("seeds"), axis("seeds"), (int,), "integers")
    gaps = check.listed(k("gaps"), axis("gaps"), (int, float), "relative gaps in [0, 1)")
    if any(not 0 <= g < 1 for g in gaps):
        raise check.fail(k("gaps"), "a relative gap must be in [0, 1)")
    formulations = _parse_formulations(axis("formulations"), k("formulations"), check)
    for key, values in (("graphs", graphs), ("formulations", formulations), ("time_limits", time_limits), ("threads", threads),
                        ("seeds", seeds), ("gaps", gaps), ("reference_orders", orders)):
        if not values:
            raise check.fail(k(key), "is empty: the grid would have no runs")
    return Grid(where=where, key_names={a: k(a) for a in AXES}, graphs=tuple(graphs),
                budgets=tuple([("fraction", float(f)) for f in fractions] + [("bytes", int(b)) for b in absolute]),
                reference_orders=tuple(orders), formulations=tuple(formulations), time_limits=tuple(float(t) for t in time_limits),
                threads=tuple(threads), seeds=tuple(seeds), gaps=tuple(float(g) for g in gaps))


def _parse_formulations(value: Any, key: str, check: _Checker) -> list[FormulationEntry]:
    from moccasin_bench.formulation import formulation_module
    from moccasin_bench.params import resolve_params

    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise check.fail(where, f"expected a formulation name or a table {{name = ..., params = {{...}}}}, got {item!r}")
        for k in item:
            if k not in ("name", "params"):
                raise check.unknown(k, ("name", "params"), where)
        name = item.get("name")
        if not isinstance(name, str):
            raise check.fail(where + ".name", f"expected a formulation name, got {name!r}")
        try:
            module = formulation_module(name)
        except UserError as exc:
            raise check.fail(where + ".name", exc.problem) from None
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise check.fail(where + ".params", f"expected a table of parameter values, got {params!r}")
        grid = {}
        for p, v in params.items():
            values = v if isinstance(v, list) else [v]
            if not values or any(isinstance(x, (list, dict)) for x in values):
                raise check.fail(f"{where}.params.{p}", f"expected a value or a non-empty list of values, got {v!r}")
            grid[p] = tuple(values)
        entry = FormulationEntry(name=name, params=grid, where=where)
        for setting in entry.settings():
            try:
                resolve_params(module.PARAMS, setting, f"formulation {name!r}")
            except UserError as exc:
                raise check.fail(where + ".params", exc.problem) from None
        out.append(entry)
    return out


# ---- planning --------------------------------------------------------------------------------

@dataclass
class Plan:
    """The runs of a config, deduplicated by key, with the graphs they use."""

    config: SweepConfig
    runs: list[RunSpec]
    graphs: dict[str, Any]  # content hash -> Graph
    duplicates: int = 0
    axes: dict[str, int] = field(default_factory=dict)  # distinct values per axis, for the summary

    def graph_of(self, spec: RunSpec):
        return self.graphs[spec.graph_hash]


def _load_graph(entry: str, config: SweepConfig, key: str):
    from moccasin_bench.sources import load_graph

    local = config.path.parent / entry
    target = local if local.is_file() else entry
    try:
        return load_graph(target, config.data_dir)
    except UserError as exc:
        raise UserError(f"key '{key}': graph {entry!r}: {exc}", str(config.path)) from None


def plan(config: SweepConfig) -> Plan:
    """Load every graph, resolve every budget and parameter, and list the runs (deduplicated)."""
    from moccasin_bench.budget import resolve_budget

    loaded: dict[str, Any] = {}
    graphs: dict[str, Any] = {}
    budgets: dict[tuple, Any] = {}
    runs: dict[str, RunSpec] = {}
    total = 0
    axes: dict[str, set] = {k: set() for k in ("graphs", "budgets", "formulations", "seeds", "time_limits", "threads")}
    for grid in config.grids:
        for entry in grid.graphs:
            if entry not in loaded:
                loaded[entry] = _load_graph(entry, config, grid.key_names["graphs"])
            graph = loaded[entry]
            graphs.setdefault(graph.content_hash, graph)
            for (kind, value), order, fentry in itertools.product(grid.budgets, grid.reference_orders, grid.formulations):
                bkey = (graph.content_hash, kind, value, order)
                if bkey not in budgets:
                    try:
                        budgets[bkey] = (resolve_budget(graph, fraction=value, order_name=order) if kind == "fraction"
                                         else resolve_budget(graph, absolute=value))
                    except UserError as exc:
                        raise UserError(f"key '{grid.key_names['reference_orders']}': graph {entry!r}: {exc.problem}", str(config.path)) from None
                budget = budgets[bkey]
                for params, limit, threads, seed, gap in itertools.product(
                        list(fentry.settings()), grid.time_limits, grid.threads, grid.seeds, grid.gaps):
                    try:
                        spec = make_spec(graph, budget, fentry.name, params, time_limit_seconds=limit, threads=threads,
                                         seed=seed, relative_gap=gap, reference_order=order, graph_source=entry)
                    except UserError as exc:
                        raise UserError(f"key '{fentry.where}': {exc.problem}", str(config.path)) from None
                    total += 1
                    runs.setdefault(spec.key, spec)
                    for name, v in (("graphs", graph.content_hash), ("budgets", (kind, value)), ("seeds", seed),
                                    ("formulations", (fentry.name, tuple(sorted(params.items())))),
                                    ("time_limits", limit), ("threads", threads)):
                        axes[name].add(v)
    return Plan(config=config, runs=list(runs.values()), graphs=graphs, duplicates=total - len(runs),
                axes={k: len(v) for k, v in axes.items()})


# ---- progress ---------------------------------------------------------------------------------

def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Progress:
    """A progress line on stderr: runs done and left, failures, elapsed and ETA.

    On a terminal the line redraws in place; elsewhere (logs, batch jobs) a line is printed
    at most every `interval_seconds`. Error and invalid runs are always printed."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, interval_seconds: float = 10.0) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.interval = interval_seconds
        self.start = time.monotonic()
        self.last_print = -1e9

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        left = self.total - self.done
        eta = _clock(elapsed / self.done * left) if self.done else "?"
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        failed = f", {self.failed} failed" if self.failed else ""
        return f"[{bar}] {self.done}/{self.total} done, {left} left{failed}; elapsed {_clock(elapsed)}, ETA {eta}"

    def update(self, spec: RunSpec, status: str, message: str = "") -> None:
        self.done += 1
        if status in ("error", "invalid"):
            self.failed += 1
            self._print(f"{status.upper()}: {spec.describe()}: {message.splitlines()[0] if message else ''}", force=True)
        self._draw()

    def _print(self, text: str, force: bool = False) -> None:
        if not self.enabled and not force:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif now - self.last_print >= self.interval or self.done == self.total:
            self.last_print = now
            self._print(self.line())

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ---- driving -----------------------------------------------------------------------------------

@dataclass
class Summary:
    planned: int
    skipped: int
    ran: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def to_run(plan_: Plan, stored: Mapping[str, str], retry: Iterable[str] = ()) -> list[RunSpec]:
    """Runs of the plan that are not stored yet, or whose stored status is in `retry`."""
    retry = set(retry)
    return [s for s in plan_.runs if s.key not in stored or stored[s.key] in retry]


def run_sweep(plan_: Plan, store, executor, *, retry: Iterable[str] = (), progress: Progress | None = None) -> Summary:
    """Run what the store lacks; write each result as it arrives (this process only)."""
    from moccasin_bench.runner import graph_document
    from moccasin_bench.store import make_row

    stored = store.statuses()
    todo = to_run(plan_, stored, retry)
    summary = Summary(planned=len(plan_.runs), skipped=len(plan_.runs) - len(todo))
    if not todo:
        return summary
    texts = {h: graph_document(plan_.graphs[h]) for h in {s.graph_hash for s in todo}}
    for spec, outcome in executor.run(todo, texts):
        row = make_row(spec, outcome, sweep=plan_.config.name, graph=plan_.graph_of(spec))
        try:
            store.write(row, outcome.get("result"), replace=spec.key in stored)
        except sqlite3.IntegrityError:  # another driver stored this key meanwhile: keep the stored run
            print(f"warning: {spec.key} was stored meanwhile by another process; kept that row", file=sys.stderr)
        summary.ran += 1
        summary.statuses[row["status"]] = summary.statuses.get(row["status"], 0) + 1
        if progress is not None:
            progress.update(spec, row["status"], row["message"])
    return summary


def describe_plan(plan_: Plan, stored: Mapping[str, str], retry: Iterable[str] = (), store_path: str = "",
                  jobs: int = 1) -> str:
    """The dry-run listing: the grid's size, then each run and whether it is done."""
    cfg = plan_.config
    todo = {s.key for s in to_run(plan_, stored, retry)}
    a = plan_.axes
    lines = [f"sweep {cfg.name!r} ({cfg.path}): {len(plan_.runs)} runs"
             + (f" ({plan_.duplicates} duplicates merged)" if plan_.duplicates else "")
             + f" = {a['graphs']} graph(s) x {a['budgets']} budget(s) x {a['formulations']} formulation setting(s)"
             + f" x {a['time_limits']} time limit(s) x {a['threads']} thread count(s) x {a['seeds']} seed(s)"
             + (f" over {len(cfg.grids)} grids" if len(cfg.grids) > 1 else "")]
    limit_seconds = sum(s.time_limit_seconds for s in plan_.runs if s.key in todo)
    lines.append(f"store {store_path}: {len(plan_.runs) - len(todo)} done, {len(todo)} to run"
                 f" (at most {_clock(limit_seconds / max(1, jobs))} of solver time limits with {jobs} job(s))")
    mem = "default (80 % of RAM / concurrent runs)" if cfg.memory_limit_bytes is None else format_size(cfg.memory_limit_bytes)
    grace = "default (30 s + 25 % of the limit)" if cfg.grace_seconds is None else f"{cfg.grace_seconds:g} s"
    lines.append(f"limits per run: memory {mem}; kill at time limit + grace, grace {grace}")
    for s in plan_.runs:
        state = "to run" if s.key in todo else "done"
        status = stored.get(s.key, "")
        lines.append(f"  {state:6} {status:11} {s.describe()}  [{s.key}]")
    return "\n".join(lines)


__all__ = ["SweepConfig", "Grid", "FormulationEntry", "Plan", "Progress", "Summary", "load_config", "parse_config", "plan",
           "run_sweep", "describe_plan", "to_run"]
