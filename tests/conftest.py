"""Shared fixtures: the paper's graphs (skipped when absent) and a CLI runner."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from moccasin_bench.sources import find_paper_file, load_graph

REPO = Path(__file__).resolve().parent.parent


def paper_graph(name: str):
    """Load one of the paper's graphs, or skip the test when its file is absent."""
    if find_paper_file(name) is None:
        pytest.skip(f"paper graph {name} not found (`moccasin-bench graphs download` fetches it)")
    return load_graph(name)


def paper_path(name: str) -> Path:
    path = find_paper_file(name)
    if path is None:
        pytest.skip(f"paper graph {name} not found (`moccasin-bench graphs download` fetches it)")
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `moccasin-bench ARGS` in a fresh interpreter, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "moccasin_bench.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=timeout,
    )


def assert_outputs_were_compared(report: dict) -> None:
    """An equality of outputs means something: every output was compared, they are not all
    zero (a run that wrote nothing to its slots compares zeros with zeros) and the loss is finite."""
    check = report["check"]
    assert check["tensors_compared"] >= 3 and check["elements_compared"] > check["tensors_compared"], check
    assert check["nonzero_tensors"] >= 0.9 * check["tensors_compared"], check
    assert report["loss"] is not None and math.isfinite(report["loss"]) and report["loss"] > 0


def tight_portfolio(monkeypatch, graph, budget, seconds: float, **constants):
    """Default `moccasin` with every budget counted as tight and the given constants of
    formulations/_portfolio.py set: (the run's result, its start portfolio's record)."""
    from formulations import _portfolio
    from moccasin_bench.judge import solve_in_process

    monkeypatch.setattr(_portfolio, "GOOD_START_TDI_PERCENT", -1.0)
    for name, value in constants.items():
        monkeypatch.setattr(_portfolio, name, value)
    result = solve_in_process(graph, budget, "moccasin", {}, time_limit_seconds=seconds, threads=1)
    portfolio = result.output.variant["portfolio"]
    assert portfolio["tight"]["start_tdi_percent"] is not None
    return result, portfolio
