"""The results store: one SQLite file, written only by the sweep driver, read with pandas.

Tables (schema version in `PRAGMA user_version`):
- `runs`: one row per run key — the run's definition, the simulator's verdict, solver
  facts (with the scope of the bound, version 4), limits, where it ran (provenance) and
  when. JSON text for params, variant, model_size, violation and bound_scope.
- `schedules` (run_key, schedule): the schedule as a JSON list of node ids, kept apart
  so loading the runs table stays light.
- `trajectories` (run_key, seconds, cost, bound), long format: one row per time a
  solution or a bound was reported, holding the last cost and the last bound reported
  up to that time (NULL before the first).
- `sweeps`: each time a sweep was started on this store (name, config text, command).
- `claims` (run_key, owner, host, pid, claimed_at, expires): runs a live driver is running
  now (version 3). A driver claims a run right before launching it and skips runs another
  live driver holds; a claim whose lease expired (its driver stopped renewing it) or whose
  driver's pid is dead on this host is stale and taken over. Writing a run's row deletes
  its claim in the same transaction.

Every finished run is written in one transaction, so a `kill -9` of the driver loses at
most the runs still in flight, and a run is never stored twice (the key is the primary
key). The store is created atomically (one exclusive transaction), so drivers started at
once on a fresh path agree on it. The default rollback journal is kept (no WAL): it works
on network file systems. SQLite failures become one-line errors: a full disk is
`errors.Incomplete` (nothing stored is lost; free space and re-run to resume).

Modules: `schema` (tables, version, migrations), `mapping` (a run as a row), `writer` (the
driver's `Store`: creation, migration, writes, claims), `readers` (read-only, pandas),
`check` (SQLite's integrity check before a store is trusted, naming what is damaged).
"""

from moccasin_bench.store.mapping import make_row, trajectory_rows
from moccasin_bench.store.readers import (
    export,
    load_runs,
    load_schedule,
    load_trajectories,
    rows,
    schedule_max_computations,
    stored_statuses,
)
from moccasin_bench.store.schema import (
    JSON_COLUMNS,
    MIGRATIONS,
    PROVENANCE_COLUMNS,
    RUN_COLUMN_NAMES,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    legacy_scope,
)
from moccasin_bench.store.writer import LEASE_SECONDS, RENEW_SECONDS, Store

__all__ = [
    "JSON_COLUMNS",
    "LEASE_SECONDS",
    "MIGRATIONS",
    "PROVENANCE_COLUMNS",
    "RENEW_SECONDS",
    "RUN_COLUMNS",
    "RUN_COLUMN_NAMES",
    "SCHEMA_VERSION",
    "Store",
    "export",
    "legacy_scope",
    "load_runs",
    "load_schedule",
    "load_trajectories",
    "make_row",
    "rows",
    "schedule_max_computations",
    "stored_statuses",
    "trajectory_rows",
]
