"""Sweeps: a TOML grid expanded into runs, and the driver that runs what a store lacks.

- `config`: the TOML grid, read and checked (`load_config`, `parse_config`);
- `plan`: the grid's runs, deduplicated by key, with their graphs (`plan`, `to_run`, `describe_plan`);
- `driver`: running the plan into a store (`drive`, `run_sweep`).
"""

from moccasin_bench.sweep.config import (
    FormulationEntry,
    Grid,
    SweepConfig,
    grid_size,
    load_config,
    override,
    parse_config,
)
from moccasin_bench.sweep.driver import Summary, SweepOutcome, drive, run_sweep
from moccasin_bench.sweep.plan import Plan, describe_plan, plan, to_run

__all__ = [
    "FormulationEntry",
    "Grid",
    "Plan",
    "Summary",
    "SweepConfig",
    "SweepOutcome",
    "describe_plan",
    "drive",
    "grid_size",
    "load_config",
    "override",
    "parse_config",
    "plan",
    "run_sweep",
    "to_run",
]
