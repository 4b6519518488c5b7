"""Shared fixtures: the paper's graphs (skipped when absent) and a CLI runner."""

from __future__ import annotations

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
