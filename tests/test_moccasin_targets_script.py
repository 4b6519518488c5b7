"""scripts/moccasin_targets.py on a small store: default moccasin against the best other method per cell."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from formulations import moccasin

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "moccasin_targets.py"
COLUMNS = (
    "graph, budget, budget_fraction, min_feasible_budget, formulation, params, variant, status, tdi_percent, "
    "time_limit_seconds, threads, seed"
)


def _store(path: Path, rows: list[tuple]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE runs ({COLUMNS})")
    conn.executemany(f"INSERT INTO runs ({COLUMNS}) VALUES ({','.join('?' * 12)})", rows)
    conn.commit()
    conn.close()


def test_counts_cells_where_default_moccasin_is_at_most_the_best_other(tmp_path):
    default = json.dumps({p.name: p.default for p in moccasin.PARAMS if p.keyed_at_default})
    paper = json.dumps({"warm_start": "heuristics", "search": "auto"})
    improved = json.dumps({"cpsat_improved": {"tdi_points": 0.5}, "start": {"name": "quick"}})

    def run(graph, fraction, formulation, params, status, tdi, variant="{}", limit=60.0):
        return (graph, int(fraction * 100), fraction, 10, formulation, params, variant, status, tdi, limit, 1, 0)

    _store(
        tmp_path / "runs.sqlite",
        [
            run("g", 0.5, "moccasin", default, "feasible", 2.0, improved),
            run("g", 0.5, "dtr", "{}", "feasible", 2.5),
            run("g", 0.5, "annealing", "{}", "feasible", 1.0, limit=600.0),  # another limit: left out
            run("g", 0.3, "moccasin", default, "no_solution", None),
            run("g", 0.3, "moccasin", paper, "feasible", 1.0),  # not the default: neither side
            run("g", 0.3, "heuristic", "{}", "feasible", 4.0),
            run("g", 0.2, "moccasin", default, "feasible", 5.0),
            run("g", 0.2, "annealing", "{}", "feasible", 4.0),
        ],
    )
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "runs.sqlite")], capture_output=True, text=True, check=True
    ).stdout
    assert "moccasin <= best single method: 1 of 3" in out
    assert "another method finds a schedule, moccasin none: 1" in out
    assert "CP-SAT strictly improved its start in 1 cells" in out
    assert "runs left out (another time limit or thread count than moccasin's in their cell): 1" in out


def test_a_missing_store_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none.sqlite")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no such file" in done.stderr
