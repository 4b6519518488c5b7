"""A sweep config: the TOML grid, read and checked (not the graphs yet: see `plan`).

A config is a union of grids. The top-level axes form one grid when there is no
`[[grid]]` table; each `[[grid]]` is a grid of its own whose missing axes come from the
top level. A grid is the product of its axes:

    graphs × budgets (fractions, and/or budget_bytes, budget_minimum) × reference_orders
           × formulations (each with the product of its parameter lists)
           × time_limits × threads × seeds × gaps

An axis may be a scalar or a list. Graph entries are files (relative to the config
file), registered names (rl1, demo, ...) or generator specs (`random-layered:n=100`).
`budgets`, `budget_bytes` and `budget_minimum` (multiples of each graph's minimum feasible
budget, 1 = the minimum itself) together make the budget axis; a `[[grid]]` that names
any of them replaces all three. Every key, value, formulation and parameter is checked here: a
mistake is one UserError naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moccasin_bench.budget import check_budget_bytes, check_minimum_factor
from moccasin_bench.errors import UserError
from moccasin_bench.orders import DEFAULT, ORDER_CHOICES
from moccasin_bench.runner import parse_memory_limit
from moccasin_bench.runner.limits import check_grace
from moccasin_bench.runner.spec import MAX_SEED, MAX_THREADS, MAX_TIME_LIMIT

AXES = (
    "graphs",
    "budgets",
    "budget_bytes",
    "budget_minimum",
    "reference_orders",
    "formulations",
    "time_limits",
    "threads",
    "seeds",
    "gaps",
)
SETTINGS = ("name", "description", "memory_limit", "grace_seconds", "data_dir", "grid")
DEFAULTS: dict[str, list] = {
    "reference_orders": [DEFAULT],
    "time_limits": [60.0],
    "threads": [1],
    "seeds": [0],
    "gaps": [0.0],
}


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
    budgets: tuple[tuple[str, float | int], ...]  # ("fraction", 0.9), ("bytes", 41688) or ("minimum", 1.0)
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
    from moccasin_bench.jsonio import read_text

    text = read_text(path, UserError, "sweep config")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"not valid TOML: {exc}", str(path)) from None
    except RecursionError:
        raise UserError("not valid TOML: nested too deeply to read", str(path)) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise UserError(f"not valid TOML: {exc}".split("; use")[0], str(path)) from None
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
            memory = parse_memory_limit(data["memory_limit"])
        except UserError as exc:
            raise check.fail("memory_limit", exc.problem) from None
    grace = None
    if "grace_seconds" in data:
        try:
            grace = check_grace(data["grace_seconds"], "grace_seconds")
        except UserError as exc:
            raise check.fail("grace_seconds", exc.problem) from None
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
        if not grid_tables:
            raise check.fail("grid", "is empty: the sweep would have no runs (drop the key to use the top-level grid)")
        grids = []
        for i, table in enumerate(grid_tables, 1):
            for key in table:
                if key not in AXES:
                    raise check.unknown(key, AXES, f"[[grid]] number {i}")
            merged = dict(top)
            budget_keys = {"budgets", "budget_bytes", "budget_minimum"}
            if budget_keys & set(table):
                for key in budget_keys:
                    merged.pop(key, None)
            merged.update(table)
            own = set(table)
            if own & budget_keys:
                own |= budget_keys
            grids.append(_parse_grid(merged, f"[[grid]] number {i}", f"grid[{i}].", own, check))
    return SweepConfig(
        path=path,
        text=text,
        name=name,
        description=description,
        grids=tuple(grids),
        memory_limit_bytes=memory,
        grace_seconds=grace,
        data_dir=data_dir,
    )


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
        raise check.fail(
            k(key), f"missing in {where}: every grid needs graphs, formulations and budgets (or budget_bytes)"
        )

    graphs = check.listed(k("graphs"), axis("graphs"), (str,), "graph names, files or generator specs")
    fractions = check.listed(k("budgets"), table.get("budgets", []), (int, float), "budget fractions such as 0.9")
    for f in fractions:
        if not 0 < f <= 10:
            raise check.fail(
                k("budgets"), f"a budget fraction must be in (0, 10], got {f!r}; absolute budgets go in budget_bytes"
            )
    absolute = check.listed(k("budget_bytes"), table.get("budget_bytes", []), (int,), "non-negative integers")
    for b in absolute:
        try:
            check_budget_bytes(b)
        except UserError as exc:
            raise check.fail(k("budget_bytes"), exc.problem) from None
    minimum = check.listed(
        k("budget_minimum"), table.get("budget_minimum", []), (int, float), "multiples of the minimum feasible budget"
    )
    for f in minimum:
        try:
            check_minimum_factor(f)
        except UserError as exc:
            raise check.fail(k("budget_minimum"), exc.problem) from None
    if not fractions and not absolute and not minimum:
        raise check.fail(k("budgets"), f"missing in {where}: give budgets (fractions), budget_bytes or budget_minimum")
    orders = check.listed(k("reference_orders"), axis("reference_orders"), (str,), "reference order names")
    for o in orders:
        if o not in ORDER_CHOICES:
            raise check.fail(
                k("reference_orders"), f"unknown reference order {o!r}; choose from {', '.join(ORDER_CHOICES)}"
            )
    time_limits = check.listed(k("time_limits"), axis("time_limits"), (int, float), "seconds")
    if any(not 0 < t <= MAX_TIME_LIMIT for t in time_limits):
        raise check.fail(
            k("time_limits"),
            f"time limits must be positive numbers of seconds up to {MAX_TIME_LIMIT:g}, got {time_limits!r}",
        )
    threads = check.listed(k("threads"), axis("threads"), (int,), "positive integers")
    if any(not 1 <= t <= MAX_THREADS for t in threads):
        raise check.fail(k("threads"), f"threads must be from 1 to {MAX_THREADS}, got {threads!r}")
    seeds = check.listed(k("seeds"), axis("seeds"), (int,), "integers")
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise check.fail(k("seeds"), f"seeds must be integers from 0 to {MAX_SEED:,} (2^31 - 1), got {seeds!r}")
    gaps = check.listed(k("gaps"), axis("gaps"), (int, float), "relative gaps in [0, 1)")
    if any(not 0 <= g < 1 for g in gaps):
        raise check.fail(k("gaps"), "a relative gap must be in [0, 1)")
    formulations = _parse_formulations(axis("formulations"), k("formulations"), check)
    for key, values in (
        ("graphs", graphs),
        ("formulations", formulations),
        ("time_limits", time_limits),
        ("threads", threads),
        ("seeds", seeds),
        ("gaps", gaps),
        ("reference_orders", orders),
    ):
        if not values:
            raise check.fail(k(key), "is empty: the grid would have no runs")
    return Grid(
        where=where,
        key_names={a: k(a) for a in AXES},
        graphs=tuple(graphs),
        budgets=tuple(
            [("fraction", float(f)) for f in fractions]
            + [("bytes", int(b)) for b in absolute]
            + [("minimum", float(f)) for f in minimum]
        ),
        reference_orders=tuple(orders),
        formulations=tuple(formulations),
        time_limits=tuple(float(t) for t in time_limits),
        threads=tuple(threads),
        seeds=tuple(seeds),
        gaps=tuple(float(g) for g in gaps),
    )


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
            raise check.fail(
                where, f"expected a formulation name or a table {{name = ..., params = {{...}}}}, got {item!r}"
            )
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


def grid_size(config: SweepConfig) -> int:
    """How many runs the config's grids describe before equal runs are merged: known without
    loading a graph or building a run, so a huge grid can be refused before it is planned."""
    total = 0
    for g in config.grids:
        settings = sum(math.prod(len(v) for v in f.params.values()) for f in g.formulations)
        total += math.prod(
            (
                len(g.graphs),
                len(g.budgets),
                len(g.reference_orders),
                settings,
                len(g.time_limits),
                len(g.threads),
                len(g.seeds),
                len(g.gaps),
            )
        )
    return total


def override(
    config: SweepConfig,
    graphs: Sequence[str] = (),
    formulations: Sequence[str] = (),
    time_limit: float | None = None,
) -> SweepConfig:
    """The config narrowed from the command line (`sweep --graphs/--formulations/--time-limit`).

    graphs: a listed graph the config names stays in the grids that name it (a stand-in such as
    rl1-gen counts as its paper graph); one the config does not name goes into every grid. Grids
    left without graphs or formulations drop out. formulations: names; each must be in some grid.
    time_limit: one limit for every run."""
    from moccasin_bench.catalog import STAND_INS

    grids = list(config.grids)
    if graphs:
        named = {g for grid in grids for g in grid.graphs}
        stands_for = {v: k for k, v in STAND_INS.items()}

        def kept(grid: Grid) -> tuple[str, ...]:
            out = []
            for g in graphs:
                paper = stands_for.get(g.lower())
                if (
                    g in grid.graphs
                    or (paper in grid.graphs and g not in named)
                    or (g not in named and paper not in named)
                ):
                    out.append(g)
            return tuple(out)

        grids = [dataclasses.replace(grid, graphs=kept(grid)) for grid in grids]
    if formulations:
        known = {f.name for grid in grids for f in grid.formulations}
        missing = [f for f in formulations if f not in known]
        if missing:
            raise UserError(
                f"--formulations: {missing[0]!r} is in none of the grids; they have {', '.join(sorted(known))}",
                str(config.path),
            )
        grids = [
            dataclasses.replace(grid, formulations=tuple(f for f in grid.formulations if f.name in formulations))
            for grid in grids
        ]
    if time_limit is not None:
        if not 0 < time_limit <= MAX_TIME_LIMIT:
            raise UserError(
                f"--time-limit must be a positive number of seconds up to {MAX_TIME_LIMIT:g}, got {time_limit!r}"
            )
        grids = [dataclasses.replace(grid, time_limits=(float(time_limit),)) for grid in grids]
    grids = [grid for grid in grids if grid.graphs and grid.formulations]
    if not grids:
        raise UserError("no run is left after --graphs/--formulations", str(config.path))
    return dataclasses.replace(config, grids=tuple(grids))


# ---- writing (reproduce generates a grid's sweep config from its experiment) --------------------


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


def dump_config(config: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """A sweep config (as parse_config reads it: top-level keys, then [[grid]] tables) as TOML text; only the
    few types a config uses (the standard library reads TOML but does not write it)."""
    lines = [f"# {h}" for h in header]
    for k, v in config.items():
        if k != "grid":
            lines.append(f"{k} = {_toml_value(v)}")
    for table in config.get("grid", ()):
        lines += ["", "[[grid]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
