"""What `reproduce --grid NAME` runs: an experiment (graphs, budgets, methods, the limits of
its quick and full modes, seeds, the published figures to print beside ours), and lookup in
the plug-in registry `experiments/__init__.py`.

An experiment module has one attribute, `EXPERIMENT`. Adding one is one module plus one
registry line; `reproduce` turns it into a sweep config (the grid's one language is this
object: the TOML it writes is generated from it), runs it through the sweep driver and writes
the report. Methods are named by identity (moccasin_bench/method.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moccasin_bench.errors import UserError
from moccasin_bench.method import Method
from moccasin_bench.model_sizes import SizeSeries

__all__ = ["Experiment", "Method", "Mode", "experiment", "experiments"]


@dataclass(frozen=True)
class Mode:
    """The limits of one mode (quick or full) of an experiment."""

    name: str
    time_limits: Mapping[str, float]  # graph (a paper graph's name covers its stand-in too) -> seconds
    other_limit: float  # any other graph (--graphs)
    jobs: int  # runs at once
    threads: int  # solver threads per run
    caps: Mapping[str, float] = field(default_factory=dict)  # formulation -> at most this many seconds
    floors: Mapping[str, float] = field(
        default_factory=dict
    )  # formulation -> at least this many seconds (one whose setup alone outlasts the mode's limit)
    skip: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (graph, method identity) -> why not (a cell)
    skip_note: str = ""  # the same, in a sentence for the report
    grace_seconds: float | None = None  # None: the runner's default
    seeds: tuple[int, ...] = (0,)
    method_seeds: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # method identity -> its own seeds
    summary: str = ""  # one sentence for the report's preamble (what this mode is good for)
    graphs: tuple[str, ...] = ()  # this mode's graphs, when they differ from the experiment's
    sizes: SizeSeries | None = None  # model sizes to measure (build only) besides the solves


@dataclass(frozen=True)
class Experiment:
    """A grid with its modes and what to compare it with."""

    name: str
    title: str  # the report's title
    description: str  # one line: what it reproduces
    graphs: tuple[str, ...]
    budgets: tuple[float, ...]
    methods: tuple[Method, ...]
    quick: Mode
    full: Mode
    published: tuple[str, ...] = ()  # keys of experiments.TABLES (published tables to print beside ours)
    # Per-graph budgets, when they depend on the graph: (graph, mode) -> (("fraction", 0.9), ("minimum", 1.0), ...);
    # None: `budgets` (fractions) on every graph.
    budgets_for: Callable[[Any, Mode], tuple[tuple[str, float], ...]] | None = None
    # A module with optional `after_grid(context)` (work after the runs, e.g. executing schedules; resumable)
    # and `report_section(context)` -> (blocks, figures) for the report (moccasin_bench.reproduce.HookContext).
    hooks: str | None = None
    more_modes: tuple[Mode, ...] = ()  # modes besides quick and full, chosen with `reproduce --mode NAME`
    # (numerator, denominator) method identities whose solve-effort ratio the report draws against n
    effort_ratios: tuple[tuple[str, str], ...] = ()

    @property
    def method_keys(self) -> tuple[str, ...]:
        return tuple(m.key for m in self.methods)

    def find_method(self, name: str) -> Method | None:
        """The method `reproduce --methods NAME` selects (its identity, alias or slug, or its formulation's
        name when only one method of the grid has it), or None."""
        found = next((m for m in self.methods if m.answers_to(name)), None)
        if found is None:
            same = [m for m in self.methods if m.formulation == name.strip()]
            found = same[0] if len(same) == 1 else None
        return found

    @property
    def modes(self) -> tuple[Mode, ...]:
        return (self.quick, self.full, *self.more_modes)

    def mode(self, quick: bool, name: str | None = None) -> Mode:
        """The named mode (`reproduce --mode NAME`), else quick or full."""
        if name is None:
            return self.quick if quick else self.full
        for m in self.modes:
            if m.name == name:
                return m
        raise UserError(f"grid {self.name!r} has no mode {name!r}; its modes: {', '.join(m.name for m in self.modes)}")

    def graphs_of(self, mode: Mode) -> tuple[str, ...]:
        return mode.graphs or self.graphs


def experiments() -> dict[str, str]:
    """name -> module path of every registered experiment."""
    from experiments import REGISTRY

    return dict(REGISTRY)


def experiment(name: str) -> Experiment:
    reg = experiments()
    if name not in reg:
        raise UserError(f"unknown grid {name!r}; known: {', '.join(reg)}")
    return importlib.import_module(reg[name]).EXPERIMENT
