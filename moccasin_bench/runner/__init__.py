"""Running one solve as an isolated child process: what a run is, its limits, both sides of the process.

- `spec`: `RunSpec` (what one run is), `run_key` (its content hash), `make_spec` (checks);
- `limits`: the memory cap and grace before the hard kill, size strings such as "8G";
- `isolate`: the parent side, `run_isolated` (start, wait, kill, collect);
- `child`: the child interpreter's entry point (`python -m moccasin_bench.runner.child`).

The names used elsewhere are importable from this package directly.
"""

from moccasin_bench.runner.isolate import graph_document, kill_live_children, run_isolated
from moccasin_bench.runner.limits import (
    check_grace,
    default_grace_seconds,
    default_memory_limit,
    format_size,
    parse_memory_limit,
    parse_size,
)
from moccasin_bench.runner.spec import KEY_VERSION, RunSpec, make_spec, run_key

__all__ = [
    "KEY_VERSION",
    "RunSpec",
    "check_grace",
    "default_grace_seconds",
    "default_memory_limit",
    "format_size",
    "graph_document",
    "kill_live_children",
    "make_spec",
    "parse_memory_limit",
    "parse_size",
    "run_isolated",
    "run_key",
]
