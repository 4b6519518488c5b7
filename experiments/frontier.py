"""Where the methods differ: the memory–compute frontier, from the reference peak down to each graph's
minimum feasible budget, for every registered formulation that applies, with executed points.

- Graphs: the six PyTorch catalogue models and the paper's RL1–RL4, CM1, CM2 (stand-ins where the files
  are missing, as everywhere).
- Budgets, per graph: 100, 90, …, 20 % of the reference peak (those above the graph's minimum feasible
  budget), the minimum feasible budget itself and 1.1, 1.25, 1.5, 2 and 3 times it where that lies below
  the lowest of those fractions: the points between where the curves bend, close to the minimum.
- Methods: every formulation in the registry when the grid is planned (built-ins and plug-ins), each with
  its default parameters unless VARIANTS below names the settings that define it (Moccasin in both
  orders; `live-bound`, a lower bound whose schedule is the heuristics', is left to the bounds grid); a
  formulation whose REQUIRES or check() refuses a graph (the PyTorch baselines on the paper's graphs, the
  oracle beyond 9 nodes) is listed as not applicable there, never silently left out. A
  formulation added later joins without a change here. Randomized methods (SEEDED) run with several seeds.
- After the runs, on pt-resnet18 and pt-gpt: each method's schedule at the tightest budget it reached and
  at 50 % is executed (`execute`: outputs against the plain step, allocator peak against the simulated
  peak plus fixed bytes, step time), into executed.json beside the store (keyed by run, resumable).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from typing import Any

from moccasin_bench.experiment import Experiment, Method, Mode

GRAPHS = (
    "pt-resnet18",
    "pt-resnet50",
    "pt-mobilenetv2",
    "pt-unet",
    "pt-gpt",
    "pt-vit-b16",
    "rl1",
    "rl2",
    "rl3",
    "rl4",
    "cm1",
    "cm2",
)
FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2)
MINIMUM_MULTIPLES = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0)

# The settings that define a formulation's method(s) on the frontier; any other formulation runs with its
# defaults. Keys are formulation names: a formulation not registered here is simply not run.
VARIANTS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "moccasin": (("moccasin-fixed", {"order": "fixed"}), ("moccasin-free", {"order": "free"})),
    "checkmate-milp": (("checkmate-milp", {"backend": "highs"}),),
    "heuristic": (("heuristic", {"strategy": "best"}),),
    "annealing": (("annealing", {"order": "free"}),),
    "torch-partitioner": (("torch-partitioner", {"solver": "all"}),),
    "torch-checkpoint": (("torch-checkpoint", {"pattern": "best"}),),
    # A proven lower bound whose schedule is the heuristics' (already a line of its own): the frontier
    # draws schedules, so it runs in the bounds grid instead (docs/reproducing.md).
    "live-bound": (),
}
SEEDED = {"annealing": (0, 1, 2)}  # formulation -> seeds (randomized methods: a band over seeds)
QUICK_SEEDED = {"annealing": (0, 1)}

# The partitioner re-traces the step and runs its knob search (30 to 45 s on the catalogue, whatever the
# budget): it gets at least this long.
TORCH_FLOORS = {"torch-partitioner": 45}

# Executed points: graphs (those of the grid), which budgets (the tightest each method reached, and these
# fractions), timing repeats. The quick mode's own grid executes only the tightest points, once.
# Points are executed tightest first (every graph), then at the fractions, until `seconds` have been spent
# (None: no limit); the rest are listed as not executed, and a re-run resumes (another `seconds`).
EXECUTE_FULL = {"graphs": ("pt-resnet18", "pt-gpt"), "fractions": (0.5,), "repeat": 3, "seconds": 1200}
EXECUTE_QUICK = {"graphs": ("pt-resnet18", "pt-gpt"), "fractions": (), "repeat": 1, "seconds": 120}


def methods() -> tuple[Method, ...]:
    """One Method per registered formulation (or per VARIANTS entry), in registry order."""
    from moccasin_bench.formulation import registry

    out = []
    for name in registry():
        for key, params in VARIANTS.get(name, ((name, {}),)):
            out.append(Method(key, name, params, "the formulation's defaults" if name not in VARIANTS else ""))
    return tuple(out)


def budgets_for(graph: Any, mode: Mode) -> tuple[tuple[str, float], ...]:
    """The graph's frontier budgets: the fractions above its minimum feasible budget, then the minimum
    and the multiples of it below the lowest of those fractions."""
    from moccasin_bench.budget import fraction_of_peak, reference_peak

    peak = reference_peak(graph)
    minimum = graph.min_feasible_budget
    fractions = [f for f in _fractions(mode) if fraction_of_peak(f, peak) > minimum]
    lowest = min((fraction_of_peak(f, peak) for f in fractions), default=math.inf)
    multiples = [m for m in _multiples(mode) if m == 1 or fraction_of_peak(m, minimum) < lowest]
    return tuple([("fraction", f) for f in fractions] + [("minimum", m) for m in multiples])


def _fractions(mode: Mode) -> tuple[float, ...]:
    return {"full": FRACTIONS, "targets": TARGET_FRACTIONS, "reference": REFERENCE_FRACTIONS}.get(
        mode.name, QUICK_FRACTIONS
    )


def _multiples(mode: Mode) -> tuple[float, ...]:
    return {"full": MINIMUM_MULTIPLES, "targets": TARGET_MULTIPLES, "reference": REFERENCE_MULTIPLES}.get(
        mode.name, QUICK_MULTIPLES
    )


# Full mode: 30 s per run, two runs at a time with one thread each: 1,279 runs (12 graphs x 5 to 15 budgets x
# 8 to 11 runs, the annealer three times), 5 h 28 min of time limits; with each run's start and the kills of
# Checkmate's O(n^2) models that do not build in time, an estimated 7 to 8 hours on 2 cores (README).
FULL = Mode(
    name="full",
    time_limits={},
    other_limit=30,
    jobs=2,
    threads=1,
    caps={"heuristic": 30},
    floors=TORCH_FLOORS,
    method_seeds={},  # filled per formulation below
)

# Quick mode (within 15 min on 2 cores, with margin for some load): pt-resnet18 and RL1 at 100 and 50 % and
# the minimum feasible budget, every method for 5 s (the partitioner 30 s: its trace and knob scan take about
# 12 s of CPU on pt-resnet18), the annealer with two seeds, then pt-resnet18's tightest point of each method
# executed once until 2 min have been spent: 69 runs, 7 min of time limits (3.5 min with two at a time); with
# each run's start, the executions and the report, about 8 min on an idle machine.
QUICK_FRACTIONS = (1.0, 0.5)
QUICK_MULTIPLES = (1.0,)
QUICK = Mode(
    name="quick",
    time_limits={},
    other_limit=5,
    jobs=2,
    threads=1,
    floors={"torch-partitioner": 30},
    graphs=("pt-resnet18", "rl1"),
    summary="Quick mode: pt-resnet18 and RL1 at 100 and 50 % and the minimum feasible budget, 5 s per run (the "
    "PyTorch partitioner 30 s), the annealer with two seeds, pt-resnet18's tightest points executed once (2 min at "
    "most); the full mode: twelve graphs, 9 fractions and up to 6 multiples of the minimum, 30 s per run, three "
    "annealer seeds, pt-resnet18 and pt-gpt executed at their tightest and at 50 %.",
)


# The reference mode (results/reference/frontier): on the graphs the issue asks about in words (ResNet-50, GPT,
# RL3) and pt-resnet18, at 100 / 70 / 50 / 30 % and the minimum feasible budget (and 1.25, 1.5, 2 x it below the
# lowest fraction), 10 s per run (the partitioner 45 s), two annealer seeds, with the full mode's executed points
# (tightest and 50 % on pt-resnet18 and pt-gpt) within EXECUTE_FULL's time budget.
REFERENCE_FRACTIONS = (1.0, 0.7, 0.5, 0.3)
REFERENCE_MULTIPLES = (1.0, 1.25, 1.5, 2.0)
REFERENCE = dataclasses.replace(
    QUICK,
    name="reference",
    other_limit=10,
    floors=TORCH_FLOORS,
    graphs=("pt-resnet50", "pt-gpt", "rl3", "pt-resnet18"),
    summary="Reference mode: pt-resnet50, pt-gpt, RL3 and pt-resnet18 at 100 / 70 / 50 / 30 % and the minimum "
    "feasible budget (and 1.25, 1.5, 2 x it below the lowest fraction), 10 s per run (the partitioner 45 s), two "
    "annealer seeds, with executed points on pt-resnet18 and pt-gpt at each method's tightest budget and at 50 %.",
)


# The targets mode: the tight cells where the methods differ most (pt-resnet50, pt-gpt, pt-mobilenetv2, RL3,
# RL4 at 50 / 40 / 30 / 20 % and the minimum feasible budget, 1.25 x it below 20 %), every method for 60 s
# with one thread, two runs at a time, the annealer with one seed: the cells on which default Moccasin is
# judged against the best single method at the same limit (scripts/moccasin_targets.py).
TARGET_FRACTIONS = (0.5, 0.4, 0.3, 0.2)
TARGET_MULTIPLES = (1.0, 1.25)
TARGETS = dataclasses.replace(
    FULL,
    name="targets",
    other_limit=60,
    caps={},
    graphs=("pt-resnet50", "pt-gpt", "pt-mobilenetv2", "rl3", "rl4"),
    summary="Targets mode: pt-resnet50, pt-gpt, pt-mobilenetv2, RL3 and RL4 at 50 / 40 / 30 / 20 % and the "
    "minimum feasible budget (and 1.25 x it below 20 %), every method for 60 s with one thread (the annealer "
    "with one seed), two runs at a time; no executed points.",
)
TARGET_SEEDED = {"annealing": (0,)}


def _with_seeds(mode: Mode, seeded: dict[str, tuple[int, ...]], keys: list[Method]) -> Mode:
    return dataclasses.replace(
        mode, method_seeds={m.key: seeded[m.formulation] for m in keys if m.formulation in seeded}
    )


def build() -> Experiment:
    """The experiment, with the methods of the registry as it is now (see the module's docstring)."""
    ms = methods()
    return Experiment(
        name="frontier",
        title="The memory–compute frontier, down to the minimum feasible budget",
        description="every applicable method from the reference peak down to each graph's minimum feasible "
        "budget on the six catalogue models and RL1-RL4, CM1, CM2",
        graphs=GRAPHS,
        budgets=FRACTIONS,
        methods=ms,
        quick=_with_seeds(QUICK, QUICK_SEEDED, list(ms)),
        full=_with_seeds(FULL, SEEDED, list(ms)),
        more_modes=(
            _with_seeds(REFERENCE, QUICK_SEEDED, list(ms)),
            _with_seeds(TARGETS, TARGET_SEEDED, list(ms)),
        ),
        budgets_for=budgets_for,
        hooks=__name__,
    )


_BUILT: dict[tuple, Experiment] = {}


def __getattr__(name: str) -> Any:
    if name == "EXPERIMENT":  # built when asked for, so that the registry of the moment decides the methods
        from moccasin_bench.formulation import registry

        state = tuple(sorted(registry().items()))
        if state not in _BUILT:
            _BUILT[state] = build()
        return _BUILT[state]
    raise AttributeError(name)


# ---- executed points -------------------------------------------------------------------------------


def executed_path(ctx: Any) -> Any:
    return ctx.out_dir / "executed.json"


def _execute_spec(ctx: Any) -> dict:
    """The quick mode's executed points in quick mode, none in the targets mode, else the full mode's."""
    if ctx.grid.mode.name == "targets":
        return {**EXECUTE_QUICK, "graphs": ()}
    return EXECUTE_QUICK if ctx.grid.mode.name == "quick" else EXECUTE_FULL


def execution_points(ctx: Any) -> list[dict]:
    """For each graph to execute and each method: its valid run at the tightest budget it reached, and at
    each of the execute fractions (the best run of the cell)."""
    from moccasin_bench.report.analysis import analyse
    from moccasin_bench.store import load_runs, load_trajectories

    spec = _execute_spec(ctx)
    a = analyse(load_runs(ctx.store_path), load_trajectories(ctx.store_path), ctx.keys)
    cells = a.cells[a.cells["valid"]]
    points = []
    for which_f in (None, *spec["fractions"]):  # the tightest points of every graph first
        for name in spec["graphs"]:
            here = cells[cells["graph"] == name]
            for m in a.methods:
                mine = here[here["method"] == m]
                if not len(mine):
                    continue
                if which_f is None:
                    which, c = "tightest", mine.loc[mine["budget"].idxmin()]
                else:
                    at = mine[(mine["budget_fraction"] - which_f).abs() < 1e-9]
                    if not len(at):
                        continue
                    which, c = f"{100 * which_f:g} %", at.iloc[0]
                points.append(
                    {
                        "graph": name,
                        "method": m,
                        "which": which,
                        "key": c["key"],
                        "budget": int(c["budget"]),
                        "budget_percent": 100.0 * float(c["budget"]) / float(c["reference_peak"]),
                        "tdi_percent": float(c["tdi_percent"]),
                    }
                )
    return points


def after_grid(ctx: Any) -> None:
    """Execute the chosen schedules (resumable: a run key executed before is not executed again)."""
    from moccasin_bench.errors import UserError
    from moccasin_bench.sources import load_graph
    from moccasin_bench.store import load_schedule

    spec = _execute_spec(ctx)
    path = executed_path(ctx)
    done: dict[str, dict] = {}
    if path.is_file():
        done = {
            p["key"]: p for p in json.loads(path.read_text()).get("points", []) if p.get("report") or p.get("error")
        }
    try:
        from graphs.pytorch import require_torch

        require_torch()
    except UserError as exc:
        print(f"reproduce frontier: no executed points: {exc.problem}", file=sys.stderr)
        return
    import time

    from graphs.pytorch.execute import execute

    points = execution_points(ctx)
    out = []
    started = time.monotonic()
    for p in points:
        if p["key"] in done:
            out.append({**p, **{k: done[p["key"]][k] for k in ("report", "error") if k in done[p["key"]]}})
            continue
        if spec["seconds"] is not None and time.monotonic() - started > spec["seconds"]:
            out.append(
                {**p, "skipped": f"not executed: the executed points' time budget ({spec['seconds']} s) ran out"}
            )
            continue
        if ctx.progress:
            print(f"reproduce frontier: executing {p['graph']} {p['method']} at {p['which']} ...", file=sys.stderr)
        try:
            graph = load_graph(p["graph"], ctx.data_dir)
            report = execute(graph, load_schedule(ctx.store_path, p["key"]), repeat=spec["repeat"], threads=1)
            done[p["key"]] = {"report": report}
        except (UserError, RuntimeError, MemoryError) as exc:
            done[p["key"]] = {"error": str(exc).splitlines()[0][:300]}
        out.append({**p, **done[p["key"]]})
        path.write_text(json.dumps({"points": out}, indent=1) + "\n")
    path.write_text(json.dumps({"points": out}, indent=1) + "\n")


# ---- the report's section -------------------------------------------------------------------------------


def _fixed_bytes(a: Any, data_dir: str | None) -> dict[str, int]:
    """graph label -> fixed bytes, for the PyTorch graphs (read from the graphs themselves)."""
    from moccasin_bench.errors import UserError
    from moccasin_bench.sources import load_graph

    out = {}
    for g in a.graphs.itertuples():
        source = a.runs[a.runs["graph_hash"] == g.graph_hash]["graph_source"].dropna()
        if not len(source) or not str(source.iloc[0]).startswith("pt-"):
            continue
        try:
            out[g.graph_label] = int(load_graph(str(source.iloc[0]), data_dir).fixed_bytes)
        except UserError:
            continue
    return out


def report_section(ctx: Any, a: Any, fig_dir: Any) -> tuple[list, list]:
    from moccasin_bench.report import frontier as fr
    from moccasin_bench.report import index as page

    fixed = _fixed_bytes(a, ctx.data_dir)
    exp = ctx.grid.experiment
    label = {m.key: m.label() for m in exp.methods}
    not_run = {}
    for entry, key, reason in ctx.grid.skipped:
        g = a.graphs[a.graphs["graph_label"].str.lower() == entry.lower()]
        not_run[(g.iloc[0].graph_label if len(g) else entry, label.get(key, key))] = reason
    path = executed_path(ctx)
    points = json.loads(path.read_text()).get("points", []) if path.is_file() else []
    figures = fr.frontier_figures(a, fig_dir, fixed, points)
    profile = fr.profile_figure(a, fig_dir)
    header, rows = fr.reach_rows(a, fixed, not_run)
    why_header, why = fr.why_rows(a)
    blocks = [
        page.Heading("The frontier: lowest budget each method reached"),
        page.Paragraph(
            "Per graph and method, the lowest budget (% of the reference order's peak) at which the method returned "
            "a schedule that fits, and its TDI there; ✓: proven optimal there; (min): the graph's minimum feasible "
            "budget (no schedule peaks below it); none fits: at no budget tried; n/a: the formulation does not "
            "apply to the graph (listed below). PyTorch graphs: budgets count schedulable bytes, the fixed bytes "
            "are resident on top."
        ),
        page.Table(header, rows),
    ]
    if why:
        blocks += [
            page.Paragraph("Why each method stops there: what it reported at the next budget tried below."),
            page.Table(why_header, why),
        ]
    if not_run:
        per_method: dict[str, list] = {}
        for (graph, method), why in not_run.items():
            per_method.setdefault(method, []).append((graph, why))
        parts = [
            f"{m} on {', '.join(g for g, _ in items)} ({items[0][1].removeprefix('not applicable: ')})"
            for m, items in per_method.items()
        ]
        blocks.append(page.Paragraph("Not applicable: " + "; ".join(parts) + "."))
    if points:
        eh, er = fr.executed_rows(points)
        blocks += [
            page.Heading("Executed points"),
            page.Paragraph(
                "Each method's schedule at the tightest budget it reached (and at 50 % in full mode), run as one real "
                "training step on the CPU (`execute`, 1 thread): outputs against the plain step, the allocator's peak "
                "(resident state included) against the simulated peak plus fixed bytes, and the step time against "
                "the plain step's (executed.json has every figure; the frontier figures of the executed graphs draw "
                "the same points in a panel below the curves). An allocator peak above the prediction at a tight "
                "budget on a CNN is the convolution's workspace (docs/pytorch.md)."
            ),
            page.Table(eh, er),
        ]
    return blocks, [*figures, *profile]
