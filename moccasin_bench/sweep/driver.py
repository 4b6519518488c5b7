"""The sweep driver: run what a store lacks, one child per run, and write each result as it arrives.

`drive` is the one driver behind both `moccasin-bench sweep` and `reproduce`: it opens the
store, records the sweep, shows progress, turns SIGTERM (the end of a batch job) into a
clean stop, runs the plan through an executor (cluster.LocalExecutor or DaskExecutor),
counts the plan's statuses and picks the exit status. Only this process writes the store,
one transaction per run, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from moccasin_bench.progress import SweepProgress
from moccasin_bench.sweep.plan import Plan, to_run

if TYPE_CHECKING:
    from moccasin_bench.cluster import Executor
    from moccasin_bench.runner import RunSpec
    from moccasin_bench.store import Store

EXIT_INVALID = 3  # some run returned a schedule the simulator rejects: a formulation bug


@dataclass
class Summary:
    """What one pass of the driver did."""

    planned: int
    skipped: int
    ran: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    elsewhere: int = 0  # runs left to another driver on the same store (claimed there, or stored meanwhile)


def run_sweep(
    plan_: Plan, store: Store, executor: Executor, *, retry: Iterable[str] = (), progress: SweepProgress | None = None
) -> Summary:
    """Run what the store lacks; write each result as it arrives (this process only).

    Each run is claimed in the store right before it is launched: a run another live driver
    has claimed, or that was stored since this driver looked, is left alone (`elsewhere`)."""
    from moccasin_bench.runner import graph_document
    from moccasin_bench.store import make_row

    snapshot = store.snapshot()
    stored = {k: status for k, (status, _) in snapshot.items()}
    todo = to_run(plan_, stored, retry)
    summary = Summary(planned=len(plan_.runs), skipped=len(plan_.runs) - len(todo))
    if not todo:
        return summary
    texts = {h: graph_document(plan_.graphs[h]) for h in {s.graph_hash for s in todo}}

    def claim(spec: RunSpec) -> bool:
        why = store.claim(spec.key, snapshot.get(spec.key))
        if why is None:
            return True
        summary.elsewhere += 1
        if progress is not None:
            progress.skip()
        return False

    store.start_renewing()
    for spec, outcome in executor.run(todo, texts, claim=claim):
        row = make_row(spec, outcome, sweep=plan_.config.name, graph=plan_.graph_of(spec))
        try:
            store.write(row, outcome.get("result"), replace=spec.key in stored)
        except sqlite3.IntegrityError:  # another driver stored this key meanwhile: keep the stored run
            print(f"warning: {spec.key} was stored meanwhile by another process; kept that row", file=sys.stderr)
        summary.ran += 1
        summary.statuses[row["status"]] = summary.statuses.get(row["status"], 0) + 1
        if progress is not None:
            progress.update(spec, row["status"], row["message"])
    return summary


@dataclass(frozen=True)
class SweepOutcome:
    """The plan's runs after a drive: what ran now, and every run's stored status."""

    summary: Summary
    counts: dict[str, int]  # status -> runs of the plan ("missing": not in the store)
    exit_code: int  # 0, or EXIT_INVALID when a stored run of the plan is invalid

    def describe(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (the end of a batch job, `kill`) stops the drive like Ctrl-C: in-flight children are
    killed, finished runs are already stored."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def plan_statuses(plan_: Plan, store_path: str | Path) -> dict[str, int]:
    """status -> number of the plan's runs with it in the store ("missing" when not stored)."""
    from moccasin_bench.store import stored_statuses

    stored = stored_statuses(store_path)
    counts: dict[str, int] = {}
    for spec in plan_.runs:
        status = stored.get(spec.key, "missing")
        counts[status] = counts.get(status, 0) + 1
    return counts


def drive(
    plan_: Plan,
    store_path: str | Path,
    make_executor: Callable[[], Executor],
    *,
    title: str,
    config_path: str,
    config_text: str,
    command: str,
    retry: Iterable[str] = (),
    progress: bool = True,
) -> SweepOutcome:
    """Run the plan's runs that `store_path` lacks (or holds with a status in `retry`).

    Runs another driver is running on the same store are left to it (claims, see store.py).
    The executor is made only when something is left to run (a Dask cluster is not contacted
    for a finished grid). `title` starts the line printed before running ("sweep 'x'").
    KeyboardInterrupt (Ctrl-C, SIGTERM) propagates after the in-flight runs are killed."""
    from moccasin_bench.store import Store, stored_statuses

    retry = tuple(retry)
    todo = to_run(plan_, stored_statuses(store_path), retry)
    summary = Summary(planned=len(plan_.runs), skipped=len(plan_.runs) - len(todo))
    if todo:
        executor = make_executor()
        with contextlib.closing(executor), Store(store_path) as store:
            print(
                f"{title}: {len(plan_.runs)} runs, {summary.skipped} already in {store_path}, "
                f"{len(todo)} to run on {executor.describe()}",
                file=sys.stderr,
            )
            store.record_sweep(plan_.config.name, config_path, config_text, command)
            bar = SweepProgress(len(todo), enabled=progress)
            with sigterm_as_interrupt():
                try:
                    summary = run_sweep(plan_, store, executor, retry=retry, progress=bar)
                finally:
                    bar.close()
    counts = plan_statuses(plan_, store_path)
    if counts.get("invalid"):
        print(
            f"WARNING: {counts['invalid']} run(s) returned an INVALID schedule (a formulation bug); see the store's "
            "message column",
            file=sys.stderr,
        )
    return SweepOutcome(summary=summary, counts=counts, exit_code=EXIT_INVALID if counts.get("invalid") else 0)
