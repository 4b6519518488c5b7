"""Where a sweep's runs execute: a local pool of N concurrent child runs, or a Dask cluster.

Both executors take the runs and the graphs (native JSON text, by content hash) and
yield (spec, outcome) as runs finish; the driver alone writes the store. Either way each
run is a child process started by `runner.run_isolated` (on this machine, or inside a
Dask task on a worker), so the hard kill and the memory cap hold everywhere.

Dask is optional (`pip install 'moccasin-bench[dask]'`) and imported only for
`--scheduler`. A worker with `--nthreads K` runs K runs at once; each run's default memory
cap is 80 % of the worker machine's RAM divided by K. Each graph is sent to the cluster
once (scattered) and shared by its runs.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Iterator, Mapping, Protocol, Sequence

from moccasin_bench.errors import UserError
from moccasin_bench.formulation import PLUGINS_ENV
from moccasin_bench.runner import RunSpec, kill_live_children, run_isolated


class Executor(Protocol):
    """Where runs execute: yields (spec, outcome) as runs finish; the driver writes the store."""

    def describe(self) -> str: ...

    def run(self, specs: Sequence[RunSpec], graphs: Mapping[str, str]) -> Iterator[tuple[RunSpec, dict]]: ...

    def close(self) -> None: ...


def _failed(message: str) -> dict:
    """The outcome of a run whose launch itself failed (not the run's own crash)."""
    from moccasin_bench.provenance import provenance

    return {"result": None, "status": "error", "message": message, "stderr_tail": "", "provenance": provenance()}


class LocalExecutor:
    """`jobs` child runs at a time on this machine (threads here only wait on children)."""

    def __init__(self, jobs: int = 1, memory_limit_bytes: int | None = None, grace_seconds: float | None = None) -> None:
        if jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {jobs}")
        self.jobs, self.memory_limit_bytes, self.grace_seconds = jobs, memory_limit_bytes, grace_seconds

    def describe(self) -> str:
        return f"{self.jobs} local job(s)"

    def close(self) -> None:
        pass

    def run(self, specs: Sequence[RunSpec], graphs: Mapping[str, str]) -> Iterator[tuple[RunSpec, dict]]:
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="run")
        pending: dict[Future, RunSpec] = {}
        queue = list(reversed(specs))
        try:
            while queue or pending:
                # keep only `jobs` runs submitted, so an interrupt leaves nothing queued inside the pool
                while queue and len(pending) < self.jobs:
                    spec = queue.pop()
                    fut = pool.submit(run_isolated, spec.to_json(), graphs[spec.graph_hash],
                                      memory_limit_bytes=self.memory_limit_bytes, grace_seconds=self.grace_seconds,
                                      concurrent_runs=self.jobs)
                    pending[fut] = spec
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = pending.pop(fut)
                    exc = fut.exception()
                    yield spec, (_failed(f"could not run the child process: {type(exc).__name__}: {exc}") if exc else fut.result())
        finally:
            kill_live_children()
            pool.shutdown(wait=True, cancel_futures=True)


def dask_task(spec: dict, graph_text: str, memory_limit_bytes: int | None, grace_seconds: float | None,
              plugins: str | None, task_key: str) -> dict:
    """Runs on a Dask worker: start the isolated child there and return its outcome.
    The child is killed early when the task is cancelled (the driver stopped or died)."""
    from distributed import get_worker

    worker = get_worker()
    state = getattr(worker, "state", None)
    nthreads = int(getattr(state, "nthreads", 0) or 1)

    def cancelled() -> bool:
        tasks = getattr(state, "tasks", None)
        if tasks is None:
            return False
        task = tasks.get(task_key)
        return task is None or task.state in ("cancelled", "released", "forgotten")

    return run_isolated(spec, graph_text, memory_limit_bytes=memory_limit_bytes, grace_seconds=grace_seconds,
                        concurrent_runs=nthreads, plugins=plugins, worker=str(worker.address), should_stop=cancelled)


class DaskExecutor:
    """Runs go to a dask.distributed scheduler; results come back here."""

    def __init__(self, address: str, memory_limit_bytes: int | None = None, grace_seconds: float | None = None,
                 connect_timeout_seconds: float = 30.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise UserError("--scheduler needs dask.distributed: pip install 'moccasin-bench[dask]'") from None
        self.address, self.memory_limit_bytes, self.grace_seconds = address, memory_limit_bytes, grace_seconds
        try:
            self.client = Client(address, timeout=connect_timeout_seconds, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None

    def describe(self) -> str:
        info = self.client.scheduler_info(n_workers=-1)
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        return f"Dask scheduler {self.address} ({len(workers)} worker(s), {threads} thread(s))"

    def run(self, specs: Sequence[RunSpec], graphs: Mapping[str, str]) -> Iterator[tuple[RunSpec, dict]]:
        from distributed import as_completed

        needed = sorted({s.graph_hash for s in specs})
        scattered = dict(zip(needed, self.client.scatter([graphs[h] for h in needed], hash=False)))
        plugins = os.environ.get(PLUGINS_ENV)
        by_key: dict[str, RunSpec] = {}
        futures = []
        for spec in specs:
            task_key = f"moccasin-run-{spec.key}"
            by_key[task_key] = spec
            futures.append(self.client.submit(dask_task, spec.to_json(), scattered[spec.graph_hash], self.memory_limit_bytes,
                                              self.grace_seconds, plugins, task_key, key=task_key, pure=False, retries=0))
        try:
            for fut, value in as_completed(futures, loop=self.client.loop, with_results=True, raise_errors=False):
                spec = by_key[fut.key]
                if fut.status == "error" or not isinstance(value, dict):
                    yield spec, _failed(f"Dask task failed: {type(value).__name__}: {value}")
                else:
                    yield spec, value
        finally:
            self.client.cancel(futures)
            self.client.cancel(list(scattered.values()))

    def close(self) -> None:
        self.client.close()
