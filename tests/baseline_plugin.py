"""A comparison baseline registered at runtime, for the grids' contract tests (never registered for users).

Load it as a plug-in: MOCCASIN_BENCH_PLUGINS="baseline-probe=tests.baseline_plugin", with the repository
root on PYTHONPATH. It declares BASELINE, so the grids that take baselines (catalogue, paper) must list it;
it refuses graphs of more than MAX_NODES nodes, so those grids must show it as not applicable there.
"""

from __future__ import annotations

from moccasin_bench.errors import UserError
from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "baseline-probe"
DESCRIPTION = "test-only: the reference order without recomputation, a comparison baseline"
LABEL = "Baseline probe"
BASELINE = "test-only: joins every grid that takes baselines"
PARAMS = (Param("unused", int, 0, "a parameter at its default", low=0, high=1),)
MAX_NODES = 300
PLUGIN = f"{NAME}=tests.baseline_plugin"


def check(params, graph) -> None:
    if graph.n > MAX_NODES:
        raise UserError(f"{NAME} runs on graphs of at most {MAX_NODES} nodes; {graph.name!r} has {graph.n}")


def solve(problem: Problem) -> SolverOutput:
    from moccasin_bench.orders import reference_order
    from moccasin_bench.simulate import simulate

    sim = simulate(problem.graph, reference_order(problem.graph, problem.reference_order_name))
    if not sim.fits(problem.budget.bytes):
        return SolverOutput(status="no_solution", message="the reference order does not fit")
    return SolverOutput(status="feasible", schedule=sim.schedule, objective=float(sim.total_duration))


def use(monkeypatch) -> None:
    """Register this module as a plug-in, for this process and every child it starts."""
    import os
    from pathlib import Path

    repo = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("MOCCASIN_BENCH_PLUGINS", PLUGIN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))
