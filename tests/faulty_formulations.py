"""A formulation that misbehaves on purpose, for the runner's fault tests (never registered for users).

Load it as a plug-in: MOCCASIN_BENCH_PLUGINS="faulty=tests.faulty_formulations", with the
repository root on PYTHONPATH. Its `fault` parameter picks the misbehaviour.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.params import Param

NAME = "faulty"
DESCRIPTION = "test-only: crashes, hangs, or allocates without bound on request"
PARAMS = (
    Param("fault", str, "none", "what goes wrong", ("none", "slow", "raise", "crash", "hang", "hog")),
    Param("seconds", float, 0.0, "slow: sleep this long, then behave", low=0),
    Param("pid_file", str, "", "hang: write the pid of a grandchild process here"),
)
MARKER = "faulty formulation about to"


def _behave(problem: Problem) -> SolverOutput:
    """What the heuristic formulation returns with its default parameters."""
    from formulations import heuristics
    from moccasin_bench.params import resolve_params

    defaults = resolve_params(heuristics.PARAMS, {}, "heuristic")
    return heuristics.solve(dataclasses.replace(problem, params=defaults))


def solve(problem: Problem) -> SolverOutput:
    fault = problem.params["fault"]
    print(f"{MARKER} {fault}", file=sys.stderr, flush=True)
    if fault == "slow":
        time.sleep(problem.params["seconds"])
    elif fault == "raise":
        raise RuntimeError("deliberate failure in a formulation")
    elif fault == "crash":
        import ctypes

        ctypes.string_at(0)  # a native crash (SIGSEGV), as a buggy solver library would
    elif fault == "hang":
        child = subprocess.Popen(["sleep", "1000"])  # like a solver binary the formulation launched
        if problem.params["pid_file"]:
            with open(problem.params["pid_file"], "w") as f:
                f.write(str(child.pid))
        while True:  # ignores its time limit
            time.sleep(0.1)
    elif fault == "hog":
        chunks = []
        while True:  # allocates (and touches) memory without bound
            chunks.append(b"x" * (64 << 20))
    return _behave(problem)


# ---- helpers for the runner, sweep and Dask tests --------------------------------------------

PLUGIN = f"{NAME}=tests.faulty_formulations"


def use_plugin(monkeypatch) -> None:
    """Register this module as a plug-in, for this process and every child it starts."""
    from pathlib import Path

    repo = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("MOCCASIN_BENCH_PLUGINS", PLUGIN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))


def tiny_graph(name: str = "tiny", scale: int = 1):
    """A 5-node DAG (min feasible budget 110 x scale, peak of the topological order 110 x scale)."""
    from moccasin_bench.graph import Graph

    return Graph.build(
        name,
        [0, 1, 2, 3, 4],
        [1, 2, 3, 4, 5],
        [10 * scale, 20 * scale, 30 * scale, 40 * scale, 50 * scale],
        [(0, 1), (1, 2), (0, 3), (2, 3), (3, 4), (1, 4)],
    )


def write_graph(path, graph=None):
    from moccasin_bench.native import write

    write(graph if graph is not None else tiny_graph(), path)
    return path
