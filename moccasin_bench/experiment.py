"""What `reproduce --grid NAME` runs: an experiment (graphs, budgets, methods, the limits of
its quick and full modes, seeds, the published figures to print beside ours), and lookup in
the plug-in registry `experiments/__init__.py`.

An experiment module has one attribute, `EXPERIMENT`. Adding one is one module plus one
registry line; `reproduce` turns it into a sweep config (the grid's one language is this
object: the TOML it writes is generated from it), runs it through the sweep driver and writes
the report. Methods are named by identity (moccasin_bench/method.py).

A grid lists its own methods (`methods`) and, with `baselines=True`, also takes every registered
formulation that declares itself a comparison baseline (a module attribute `BASELINE`: one line on
what it is compared for), with its defaults, in registry order, resolved from the registry when
the grid is looked up (`experiment(name)`). So a baseline added later joins every such grid with
its module and registry line alone; where it refuses a graph (its REQUIRES or check()), the plan
lists it as not applicable there, as it does any method.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moccasin_bench.errors import UserError
from moccasin_bench.method import Method
from moccasin_bench.model_sizes import SizeSeries

__all__ = [
    "Experiment",
    "Method",
    "Mode",
    "WorkLimit",
    "baseline_methods",
    "experiment",
    "experiments",
    "with_baselines",
]


@dataclass(frozen=True)
class WorkLimit:
    """A limit on a method's work that does not depend on the machine's load (e.g. CP-SAT's deterministic
    time): in a mode that gives one, a run with time limit L gets parameter `param` = `per_second` x L and
    a wall-clock limit of `safety` x L, kept only as a safety net, so that the work limit, not the
    machine's load, decides where the run stops."""

    param: str
    per_second: float
    safety: float = 2.0
    graphs: tuple[str, ...] = ()  # only on these graphs (a paper graph's name covers its stand-in); (): every graph

    def applies(self, graph: str) -> bool:
        return not self.graphs or graph in self.graphs

    def value(self, seconds: float) -> float:
        return round(self.per_second * seconds, 6)


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
    # method identity (or formulation) -> its load-independent limit in this mode (see WorkLimit)
    work_limits: Mapping[str, WorkLimit] = field(default_factory=dict)


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
    # also every registered formulation that declares BASELINE (see the module's docstring), after `methods`
    baselines: bool = False

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


def baseline_methods(listed: tuple[Method, ...] = ()) -> tuple[Method, ...]:
    """A Method (the formulation's defaults) for every registered formulation that declares BASELINE, in
    registry order, leaving out formulations `listed` already has a method of. A formulation whose module
    does not import here cannot say whether it is one and is left out (`reproduce` cannot run it either)."""
    from moccasin_bench.formulation import formulation_module, registry

    have = {m.formulation for m in listed}
    out = []
    for name in registry():
        if name in have:
            continue
        try:
            module = formulation_module(name)
        except (UserError, ImportError):
            continue
        note = getattr(module, "BASELINE", None)
        if note:
            out.append(Method(name, {}, str(note)))
    return tuple(out)


def with_baselines(exp: Experiment) -> Experiment:
    """The experiment with the registered baselines after its own methods (unchanged when it takes none)."""
    if not exp.baselines:
        return exp
    return dataclasses.replace(exp, methods=exp.methods + baseline_methods(exp.methods))


def experiment(name: str) -> Experiment:
    """The registered experiment `name`, its methods resolved against the registry of the moment."""
    reg = experiments()
    if name not in reg:
        raise UserError(f"unknown grid {name!r}; known: {', '.join(reg)}")
    return with_baselines(importlib.import_module(reg[name]).EXPERIMENT)
