"""Every registered formulation against the plug-in contract (moccasin_bench/formulation.py),
and the layering rules of docs/architecture.md.

A new formulation is one module plus one registry line; these tests pick it up by themselves.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moccasin_bench.budget import resolve_budget
from moccasin_bench.errors import UserError
from moccasin_bench.formulation import STATUSES, formulation_module, registry
from moccasin_bench.graph import Graph
from moccasin_bench.judge import solve_in_process
from moccasin_bench.params import Param, resolve_params
from moccasin_bench.report.methods import base_label
from tests.conftest import REPO

NAMES = sorted(registry())
SOLVER_LIBRARIES = ("ortools", "highspy", "pulp", "numba", "torch")


def tiny_graph() -> Graph:
    """A diamond with a skip edge: recomputation can pay off below the no-recomputation peak."""
    return Graph.build(
        "tiny", [0, 1, 2, 3, 4], [3, 1, 2, 1, 2], [4, 2, 3, 2, 1], [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (0, 4)]
    )


@pytest.mark.parametrize("name", NAMES)
def test_module_describes_itself(name):
    module = formulation_module(name)
    assert getattr(module, "NAME", name) == name  # optional: the registry names it (its identity's name)
    assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION.strip() and "\n" not in module.DESCRIPTION
    assert isinstance(module.PARAMS, tuple) and all(isinstance(p, Param) for p in module.PARAMS)
    names = [p.name for p in module.PARAMS]
    assert len(names) == len(set(names)), "duplicate parameter names"
    for p in module.PARAMS:
        assert p.type in (int, float, str, bool)
        assert type(p.default) is p.type or (p.type is float and type(p.default) is int), (p.name, p.default)
        assert p.coerce(p.default, name) == p.default
        if p.choices is not None:
            assert p.default in p.choices, (p.name, p.default, p.choices)
            assert all(p.coerce(c, name) == c for c in p.choices)
        assert p.help.strip(), f"parameter {p.name!r} has no help line"
    defaults = resolve_params(module.PARAMS, {}, name)
    assert set(defaults) == set(names)
    assert isinstance(getattr(module, "LABEL", name), str)
    assert set(getattr(module, "KEY_PARAMS", ())) <= set(names)
    label = base_label(name, defaults)
    assert isinstance(label, str) and label
    custom = callable(getattr(module, "label", None))  # a custom label may combine key parameters
    for p in module.PARAMS:  # each choice of a key parameter is a method of its own name
        if p.name in getattr(module, "KEY_PARAMS", ()) and p.choices and not custom:
            labels = {base_label(name, {**defaults, p.name: c}) for c in p.choices}
            assert len(labels) == len(p.choices), (p.name, labels)


@pytest.mark.parametrize("name", NAMES)
def test_importing_a_formulation_loads_no_solver(name):
    code = (
        f"import sys; from moccasin_bench.formulation import formulation_module; formulation_module({name!r}); "
        f"print(','.join(m for m in {SOLVER_LIBRARIES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{name} imports {out.stdout.strip()} at module top level"


@pytest.mark.parametrize("fraction", [1.0, 0.8])
@pytest.mark.parametrize("name", NAMES)
def test_solve_on_a_tiny_graph_gives_a_judged_status(name, fraction):
    g = tiny_graph()
    budget = resolve_budget(g, fraction=fraction, order_name="topological")
    result = solve_in_process(g, budget, name, {}, time_limit_seconds=20, threads=1)
    if getattr(formulation_module(name), "REQUIRES", None) is not None:  # not its kind of graph: one line
        assert result.status == "error" and result.schedule is None, (result.status, result.message)
        assert "runs only on" in result.message and "\n" not in result.message
        return
    assert result.status in STATUSES and result.status not in ("invalid", "error"), (result.status, result.message)
    if fraction == 1.0:  # the reference order itself fits: every formulation must find a schedule
        assert result.status in ("optimal", "feasible"), (result.status, result.message)
    if result.schedule is not None:
        assert result.peak_memory <= budget.bytes and result.total_duration >= g.sum_duration
    doc = result.to_json()
    assert doc["formulation"] == name and isinstance(doc["variant"], dict) and isinstance(doc["restrictions"], str)


@pytest.mark.parametrize("name", NAMES)
def test_a_bound_reaches_the_reports_gap(name, tmp_path):
    """A bound a formulation returns says its scope, is stored with the run and becomes the gap of the run's own
    cell in the report (a bound without a scope would never reach the gap column)."""
    from moccasin_bench.report.analysis import analyse
    from moccasin_bench.report.build import _with_gaps
    from moccasin_bench.runner import make_spec
    from moccasin_bench.store import Store, load_runs, load_trajectories, make_row

    g = tiny_graph()
    budget = resolve_budget(g, fraction=0.8, order_name="topological")
    result = solve_in_process(g, budget, name, {}, time_limit_seconds=20, threads=1)
    if result.output.best_bound is None:
        assert result.output.bound_scope is None
        return
    assert result.output.bound_scope is not None, f"{name} returns a bound but not its scope (SolverOutput.bound_scope)"
    spec = make_spec(g, budget, name, {}, time_limit_seconds=20)
    store = tmp_path / "runs.sqlite"
    with Store(store) as s:
        doc = result.to_json()
        s.write(make_row(spec, {"status": result.status, "result": doc}, graph=g), doc)
    analysis = _with_gaps(analyse(load_runs(store), load_trajectories(store)), store)
    cell = analysis.cells.set_index("key").loc[spec.key]
    if result.status in ("optimal", "feasible"):
        assert cell["bound"] == pytest.approx(result.output.best_bound), (cell["bound"], cell["bound_method"])
        assert cell["bound_method"] == analysis.runs.set_index("key").loc[spec.key, "method"]
        expected = 100 * max(0.0, result.total_duration - result.output.best_bound) / result.total_duration
        assert cell["gap_percent"] == pytest.approx(expected)


@pytest.mark.parametrize("name", NAMES)
def test_the_time_limit_is_honoured(name):
    """On a graph too large to finish on (or refused), a 2 s limit ends the solve within a few seconds."""
    from moccasin_bench.sources import load_graph

    g = load_graph("random-layered:n=160,seed=5")
    budget = resolve_budget(g, fraction=0.75)
    limit = 2.0
    t0 = time.perf_counter()
    result = solve_in_process(g, budget, name, {}, time_limit_seconds=limit, threads=1)
    wall = time.perf_counter() - t0
    assert result.status in STATUSES and result.status != "invalid", (result.status, result.message)
    assert wall <= 2 * limit + 4.0, f"{name} took {wall:.1f} s with a {limit:g} s limit"


@pytest.mark.parametrize("name", NAMES)
def test_a_requirement_is_known_and_checked_when_planning(name):
    """REQUIRES names one of the engine's requirements; a graph that does not meet it is refused
    when the run is planned (make_spec: what `sweep --dry-run` and `solve` do), with one line."""
    from moccasin_bench.errors import UserError
    from moccasin_bench.formulation import REQUIREMENTS
    from moccasin_bench.runner import make_spec

    needs = getattr(formulation_module(name), "REQUIRES", None)
    assert needs is None or needs in REQUIREMENTS, needs
    g = tiny_graph()
    budget = resolve_budget(g, fraction=0.9, order_name="topological")
    if needs is None:
        make_spec(g, budget, name, {})
        return
    with pytest.raises(UserError, match="runs only on") as info:
        make_spec(g, budget, name, {})
    assert "\n" not in str(info.value)


# ---- layering ---------------------------------------------------------------------------------


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (lazy imports included)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _registered_module_names() -> set[str]:
    import formulations

    return set(formulations.REGISTRY.values())


def test_formulation_modules_depend_only_on_helpers_and_the_engine():
    registered = _registered_module_names()
    for path in sorted((REPO / "formulations").glob("*.py")):
        mod = f"formulations.{path.stem}"
        used = {m for m in _imported_modules(path) if m.startswith("formulations.")}
        others = {m for m in used if m in registered and m != mod}
        assert not others, (
            f"{path.name} imports the registered formulation(s) {sorted(others)}: move what they share into a helper (formulations/_*.py)"
        )
        if mod not in registered and path.stem != "__init__":
            assert path.stem.startswith("_"), (
                f"{path.name} is not registered: name helper modules with a leading underscore"
            )


def test_the_engine_does_not_reach_up():
    """Below the CLI nothing imports the CLI; the engine imports no formulation module at top level."""
    for path in sorted((REPO / "moccasin_bench").rglob("*.py")):
        rel = path.relative_to(REPO / "moccasin_bench")
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue
        used = _imported_modules(path)
        assert not any(m.startswith("moccasin_bench.cli") for m in used), f"{rel} imports the CLI"


PLUGIN_PACKAGES = ("formulations", "graphs", "experiments")  # their registries (the packages) the engine may read
# The CLI verbs that are PyTorch's own (`graphs extract`, `execute`, `maxbatch`) call the PyTorch graph plug-in by name.
CLI_PLUGIN_IMPORTS = {
    "graphs.pytorch",
    "graphs.pytorch.build",
    "graphs.pytorch.execute",
    "graphs.pytorch.trace",
    "graphs.pytorch.maxbatch",
    "graphs.pytorch.trust",  # --trust-factory: the user names the factories a graph file may call
}


def _project_modules() -> dict[str, Path]:
    out = {}
    for pkg in ("moccasin_bench", *PLUGIN_PACKAGES):
        for path in (REPO / pkg).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports at any depth (`from pkg import sub` counts as importing pkg.sub)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out.update(subs or ({node.module} & known))
    return out


def test_the_engine_imports_no_plug_in_module():
    """The engine reads the plug-in registries (`formulations`, `graphs`, `experiments`) and nothing below them:
    the native graph format and the catalogue of named graphs are the engine's own (moccasin_bench/native.py,
    moccasin_bench/catalog.py). Only the PyTorch verbs of the CLI name the PyTorch graph plug-in."""
    modules = _project_modules()
    for name, path in sorted(modules.items()):
        if not name.startswith("moccasin_bench"):
            continue
        used = {m for m in _imports_of(path, set(modules)) if m.split(".")[0] in PLUGIN_PACKAGES}
        plugins = used - set(PLUGIN_PACKAGES)
        if name.startswith("moccasin_bench.cli"):
            plugins -= CLI_PLUGIN_IMPORTS
        assert not plugins, f"{name} imports the plug-in module(s) {sorted(plugins)}: the engine names no plug-in"


def test_no_import_cycles():
    """No two project modules import each other, directly or round a circle, even inside functions (an import
    inside a function hides a circle; it does not break it)."""
    import networkx as nx

    modules = _project_modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        for used in _imports_of(path, set(modules)):
            if used != name and not name.startswith(used + "."):  # a module importing its own package: not a circle
                graph.add_edge(name, used)
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_source_kind_is_defined_once():
    """The kind of a PyTorch-extracted graph is the engine's constant, spelled nowhere else."""
    spelled = [
        p.relative_to(REPO)
        for pkg in ("moccasin_bench", *PLUGIN_PACKAGES)
        for p in (REPO / pkg).rglob("*.py")
        if '"pytorch-training-step"' in p.read_text()
    ]
    assert [str(p) for p in spelled] == ["moccasin_bench/graph.py"], spelled


def test_the_engine_imports_no_solver_at_module_level():
    code = (
        "import importlib, pkgutil, sys, moccasin_bench\n"
        "for m in pkgutil.walk_packages(moccasin_bench.__path__, 'moccasin_bench.'):\n"
        "    m.name.endswith('__main__') or importlib.import_module(m.name)\n"
        f"print(','.join(m for m in {SOLVER_LIBRARIES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"importing the engine loads {out.stdout.strip()}"


@pytest.mark.parametrize("name", [n for n in NAMES if callable(getattr(formulation_module(n), "model_size", None))])
def test_model_size_builds_without_solving(name):
    from moccasin_bench.judge import measure_model_size

    g = tiny_graph()
    doc = measure_model_size(g, resolve_budget(g, fraction=0.9, order_name="topological"), name)
    assert doc["status"] == "built", doc["message"]
    size = doc["model_size"]
    assert {"variables", "constraints", "nonzeros"} <= set(size) and all(
        isinstance(v, int) and v >= 0 for v in size.values()
    )
    assert size["variables"] > 0 and size["nonzeros"] >= size["variables"] // 2 and doc["build_seconds"] >= 0


@pytest.mark.parametrize("name", NAMES)
def test_every_numeric_parameter_has_a_finite_range(name):
    """A number without bounds passes planning and fails later (out of memory, an overflow in
    the solver, a division by zero): every int and float parameter declares both ends, and a
    value past either end is refused when it is parsed (issue 25)."""
    import math

    module = formulation_module(name)
    for p in module.PARAMS:
        if p.type not in (int, float):
            continue
        assert p.low is not None and p.high is not None, f"{name}: parameter {p.name!r} has no range"
        assert math.isfinite(p.low) and math.isfinite(p.high) and p.low <= p.high, (p.name, p.low, p.high)
        assert p.in_range(p.default), (p.name, p.default)
        for outside in (p.high + 1, p.low - 1):
            with pytest.raises(UserError, match=f"parameter {p.name!r} of {name} must be in"):
                p.coerce(outside, name)


# ---- comparison baselines join the grids that take them ----------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_baseline_declares_itself_in_one_line(name):
    note = getattr(formulation_module(name), "BASELINE", None)
    assert note is None or (isinstance(note, str) and note.strip() and "\n" not in note), note


def _planned(grid_name: str, tmp_path) -> tuple[dict[str, set[str]], dict[str, dict[str, str]], list[str]]:
    """What `reproduce --quick --stand-ins` would run: graph entry -> formulations, graph -> method -> why not,
    and the lines a dry run prints about what it leaves out."""
    from moccasin_bench.reproduce import Options, build_grid, not_run_lines

    grid = build_grid(Options(out_dir=tmp_path, grid=grid_name, quick=True, stand_ins=True))
    runs: dict[str, set[str]] = {}
    for table in grid.config["grid"]:
        for graph in table["graphs"]:
            runs.setdefault(graph, set()).update(f["name"] for f in table["formulations"])
    skipped: dict[str, dict[str, str]] = {}
    for graph, key, reason in grid.skipped:
        skipped.setdefault(graph, {})[key] = reason
    return runs, skipped, not_run_lines(grid)


@pytest.mark.parametrize("grid_name", ["paper", "catalogue"])
def test_a_baseline_registered_at_runtime_joins_the_grids_that_take_baselines(grid_name, tmp_path, monkeypatch):
    """A formulation that declares BASELINE, registered as a plug-in, is in the grid's plan with no change to the
    experiment: run on every graph it accepts, listed as not applicable (with its reason) on the others; the
    experiment's own methods keep their identities and order, and their runs keep their keys."""
    from moccasin_bench.experiment import experiment
    from tests import baseline_plugin as probe

    before = experiment(grid_name)
    assert probe.NAME not in before.method_keys
    keys_before = _run_keys(grid_name, tmp_path / "before")
    probe.use(monkeypatch)
    after = experiment(grid_name)
    assert after.method_keys[: len(before.methods)] == before.method_keys
    assert probe.NAME in after.method_keys
    runs, skipped, said = _planned(grid_name, tmp_path / "after")
    assert any(line.startswith(f"not run: {probe.NAME} on ") and "not applicable" in line for line in said)
    ran = [g for g, names in runs.items() if probe.NAME in names]
    refused = [g for g, why in skipped.items() if probe.NAME in why]
    assert ran and refused and set(ran) | set(refused) == set(runs) | set(skipped)
    assert all(
        "not applicable" in skipped[g][probe.NAME] and "at most 300 nodes" in skipped[g][probe.NAME] for g in refused
    )
    assert keys_before <= _run_keys(grid_name, tmp_path / "after2")


def _run_keys(grid_name: str, out) -> set[str]:
    import tomllib

    from moccasin_bench.reproduce import Options, build_grid, to_toml
    from moccasin_bench.sweep.config import parse_config
    from moccasin_bench.sweep.plan import plan

    grid = build_grid(Options(out_dir=out, grid=grid_name, quick=True, stand_ins=True))
    text = to_toml(grid.config)
    return {spec.key for spec in plan(parse_config(tomllib.loads(text), out / "grid.toml", text)).runs}
