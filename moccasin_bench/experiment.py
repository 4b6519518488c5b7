"""What `reproduce --grid NAME` runs: an experiment (graphs, budgets, methods, the limits of
its quick and full modes, seeds, the published figures to print beside ours), and lookup in
the registry `moccasin_bench/experiments/__init__.py`.

An experiment module has one attribute, `EXPERIMENT`. Adding one is one module plus one
registry line; `reproduce` turns it into a sweep config, runs it through the sweep driver
and writes the report.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moccasin_bench.errors import UserError
from moccasin_bench.model_sizes import SizeSeries


@dataclass(frozen=True)
class Method:
    """One column of an experiment's table: a formulation with the parameters that define it."""

    key: str  # what --methods names, e.g. "moccasin-fixed"
    formulation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


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
    skip: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (graph, method key) -> why not (a table cell)
    skip_note: str = ""  # the same, in a sentence for the report
    grace_seconds: float | None = None  # None: the runner's default
    seeds: tuple[int, ...] = (0,)
    method_seeds: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # method key -> its own seeds
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
    published: tuple[str, ...] = ()  # keys of moccasin_bench.report.published.TABLES
    more_modes: tuple[Mode, ...] = ()  # modes besides quick and full, chosen with `reproduce --mode NAME`
    # (numerator, denominator) method keys whose solve-effort ratio the report draws against n
    effort_ratios: tuple[tuple[str, str], ...] = ()

    @property
    def method_keys(self) -> tuple[str, ...]:
        return tuple(m.key for m in self.methods)

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
    from moccasin_bench.experiments import REGISTRY

    return dict(REGISTRY)


def experiment(name: str) -> Experiment:
    reg = experiments()
    if name not in reg:
        raise UserError(f"unknown grid {name!r}; known: {', '.join(reg)}")
    return importlib.import_module(reg[name]).EXPERIMENT
