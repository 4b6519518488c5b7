"""Where a sweep's runs execute: a local pool of N concurrent child runs, or a Dask cluster.

Both executors take the runs and the graphs (native JSON text, by content hash) and
yield (spec, outcome) as runs finish; the driver alone writes the store. Either way each
run is a child process started by `runner.run_isolated` (on this machine, or inside a
Dask task on a worker), so the hard kill and the memory cap hold everywhere.

Dask is optional (`pip install 'moccasin-bench[dask]'`) and imported only for
`--scheduler`. A worker with `--nthreads K` runs K runs at once; each run's default memory
cap is 80 % of the worker machine's RAM divided by K. Each task carries its graph's text,
so no data lives on one worker only: when a worker dies the scheduler runs its tasks
elsewhere, and a task the cluster lost or cancelled is submitted again (the run never
finished, so nothing is recorded for it). Only a window of runs (twice the cluster's
threads) is submitted at a time. While the cluster has no worker the driver waits (saying
so) up to `worker_timeout_seconds`, then stops with `errors.Incomplete`: the runs not
started stay unrecorded, so re-running the sweep resumes them.

Both executors call `claim(spec)` (when given) right before a run is launched and skip
the run when it returns False: the driver's claim in the store (another driver has it).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from moccasin_bench.errors import Incomplete, UserError
from moccasin_bench.formulation import PLUGINS_ENV
from moccasin_bench.runner import RunSpec, kill_live_children, run_isolated

Claim = Callable[[RunSpec], bool]


class Executor(Protocol):
    """Where runs execute: yields (spec, outcome) as runs finish; the driver writes the store."""

    def describe(self) -> str: ...

    def run(
        self, specs: Sequence[RunSpec], graphs: Mapping[str, str], claim: Claim | None = None
    ) -> Iterator[tuple[RunSpec, dict]]: ...

    def close(self) -> None: ...


def _failed(message: str) -> dict:
    """The outcome of a run whose launch itself failed (not the run's own crash)."""
    from moccasin_bench.provenance import provenance

    return {"result": None, "status": "error", "message": message, "stderr_tail": "", "provenance": provenance()}


class LocalExecutor:
    """`jobs` child runs at a time on this machine (threads here only wait on children)."""

    def __init__(
        self, jobs: int = 1, memory_limit_bytes: int | None = None, grace_seconds: float | None = None
    ) -> None:
        if jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {jobs}")
        self.jobs, self.memory_limit_bytes, self.grace_seconds = jobs, memory_limit_bytes, grace_seconds

    def describe(self) -> str:
        return f"{self.jobs} local job(s)"

    def close(self) -> None:
        pass

    def run(
        self, specs: Sequence[RunSpec], graphs: Mapping[str, str], claim: Claim | None = None
    ) -> Iterator[tuple[RunSpec, dict]]:
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="run")
        pending: dict[Future, RunSpec] = {}
        queue = list(reversed(specs))
        try:
            while queue or pending:
                # keep only `jobs` runs submitted, so an interrupt leaves nothing queued inside the pool
                while queue and len(pending) < self.jobs:
                    spec = queue.pop()
                    if claim is not None and not claim(spec):
                        continue
                    fut = pool.submit(
                        run_isolated,
                        spec.to_json(),
                        graphs[spec.graph_hash],
                        memory_limit_bytes=self.memory_limit_bytes,
                        grace_seconds=self.grace_seconds,
                        concurrent_runs=self.jobs,
                    )
                    pending[fut] = spec
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = pending.pop(fut)
                    exc = fut.exception()
                    yield (
                        spec,
                        (
                            _failed(f"could not run the child process: {type(exc).__name__}: {exc}")
                            if exc
                            else fut.result()
                        ),
                    )
        finally:
            kill_live_children()
            pool.shutdown(wait=True, cancel_futures=True)


def dask_task(
    spec: dict,
    graph_text: str,
    memory_limit_bytes: int | None,
    grace_seconds: float | None,
    plugins: str | None,
    task_key: str,
) -> dict:
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

    return run_isolated(
        spec,
        graph_text,
        memory_limit_bytes=memory_limit_bytes,
        grace_seconds=grace_seconds,
        concurrent_runs=nthreads,
        plugins=plugins,
        worker=str(worker.address),
        should_stop=cancelled,
    )


_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ws|wss|ucx|inproc)://)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?/?$")


def check_scheduler_address(address: str) -> str:
    """A Dask scheduler address such as tcp://HOST:PORT (or HOST:PORT); anything else is a UserError."""
    m = _ADDRESS.match(address or "")
    if not address or not address.strip() or m is None or (m.group(2) and not 0 < int(m.group(2)) < 65536):
        raise UserError(f"--scheduler must be a Dask scheduler address such as tcp://HOST:8786, got {address!r}")
    return address


def _discard(client: object) -> None:
    """Make a Client whose constructor failed inert: its __del__ would otherwise try to close
    the connection it never made and print a TimeoutError traceback at exit, a minute later."""
    with contextlib.suppress(Exception):
        client.status = "closed"  # close() returns at once on a closed client
        client._loop_runner.stop()


POLL_SECONDS = 2.0  # how often the driver looks at the cluster while runs are pending
RESUBMIT_LIMIT = 20  # a run whose task the cluster lost this many times is recorded as an error


class DaskExecutor:
    """Runs go to a dask.distributed scheduler; results come back here."""

    def __init__(
        self,
        address: str,
        memory_limit_bytes: int | None = None,
        grace_seconds: float | None = None,
        connect_timeout_seconds: float = 30.0,
        worker_timeout_seconds: float = 600.0,
    ) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise UserError("--scheduler needs dask.distributed: pip install 'moccasin-bench[dask]'") from None
        check_scheduler_address(address)
        self.address, self.memory_limit_bytes, self.grace_seconds = address, memory_limit_bytes, grace_seconds
        self.worker_timeout = worker_timeout_seconds
        client = Client.__new__(Client)
        try:
            client.__init__(address, timeout=connect_timeout_seconds, set_as_default=False)
        except Exception as exc:  # OSError, TimeoutError, ValueError (a bad address), ...
            _discard(client)
            raise UserError(f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: {exc}") from None
        self.client = client

    def describe(self) -> str:
        workers = self._nthreads() or {}
        return f"Dask scheduler {self.address} ({len(workers)} worker(s), {sum(workers.values())} thread(s))"

    def _nthreads(self) -> dict | None:
        """worker address -> threads, or None when the scheduler cannot be asked."""
        try:
            return dict(self.client.nthreads())
        except Exception:
            return None

    def run(
        self, specs: Sequence[RunSpec], graphs: Mapping[str, str], claim: Claim | None = None
    ) -> Iterator[tuple[RunSpec, dict]]:
        from distributed import KilledWorker

        plugins = os.environ.get(PLUGINS_ENV)
        queue: deque[RunSpec] = deque(specs)
        pending: dict = {}  # future -> (spec, times submitted)
        finished = 0
        lost_since: float | None = None  # when the cluster was last seen without a worker
        last_note = 0.0
        workers = self._nthreads() or {}

        def submit(spec: RunSpec, attempt: int) -> None:
            task_key = f"moccasin-run-{spec.key}-{attempt}-{os.getpid()}"
            fut = self.client.submit(
                dask_task,
                spec.to_json(),
                graphs[spec.graph_hash],
                self.memory_limit_bytes,
                self.grace_seconds,
                plugins,
                task_key,
                key=task_key,
                pure=False,
                retries=0,
            )
            pending[fut] = (spec, attempt)

        try:
            while queue or pending:
                window = max(2, 2 * sum(workers.values()))
                while queue and len(pending) < window and lost_since is None:
                    spec = queue.popleft()
                    if claim is None or claim(spec):
                        try:
                            submit(spec, 1)
                        except Exception:  # the scheduler is unreachable: retry when it is back
                            queue.appendleft(spec)
                            break
                if not pending and not queue:
                    break
                until = time.monotonic() + POLL_SECONDS
                done = [f for f in pending if f.done()]
                while not done and time.monotonic() < until:
                    time.sleep(0.05)
                    done = [f for f in pending if f.done()]
                for fut in done:
                    spec, attempt = pending.pop(fut)
                    if fut.status == "finished":
                        try:
                            value = fut.result()
                        except Exception as exc:  # the result could not be fetched: run it again
                            value = exc
                        if isinstance(value, dict):
                            finished += 1
                            yield spec, value
                            continue
                    else:
                        value = fut.exception() if fut.status == "error" else None
                    fut.release()
                    if isinstance(value, KilledWorker):
                        finished += 1
                        yield (
                            spec,
                            _failed(
                                f"the Dask workers running it died repeatedly ({value}); the run itself may "
                                "kill its worker (memory?)"
                            ),
                        )
                    elif value is not None and not isinstance(value, Exception):
                        finished += 1
                        yield spec, _failed(f"Dask task returned {type(value).__name__}, not an outcome")
                    elif fut.status == "error" and not _lost(value):
                        finished += 1
                        yield spec, _failed(f"Dask task failed: {type(value).__name__}: {value}")
                    elif attempt >= RESUBMIT_LIMIT:
                        finished += 1
                        yield spec, _failed(f"the Dask cluster lost this run {attempt} times before it finished")
                    else:  # cancelled or lost with its worker: it never finished; run it again
                        try:
                            submit(spec, attempt + 1)
                        except Exception:  # the scheduler is unreachable: back to the queue
                            queue.appendleft(spec)
                now = time.monotonic()
                workers = self._nthreads()
                if workers:
                    if lost_since is not None:
                        print(f"Dask: {len(workers)} worker(s) connected again; going on", file=sys.stderr, flush=True)
                    lost_since = None
                    continue
                reason = "cannot reach the Dask scheduler" if workers is None else "the Dask cluster has no worker"
                workers = {}
                if lost_since is None:
                    lost_since = last_note = now
                    print(
                        f"Dask: {reason} at {self.address}; waiting up to {self.worker_timeout:g} s for a worker "
                        f"({len(queue) + len(pending)} run(s) not finished)",
                        file=sys.stderr,
                        flush=True,
                    )
                elif now - lost_since >= self.worker_timeout:
                    raise Incomplete(
                        f"{reason} at {self.address} for {now - lost_since:.0f} s: stopped; {finished} run(s) "
                        f"of this pass finished and stored, {len(queue) + len(pending)} not finished and "
                        "not recorded: re-run the same command to resume them"
                    )
                elif now - last_note >= 30:
                    last_note = now
                    print(
                        f"Dask: still no worker after {now - lost_since:.0f} s (stopping after {self.worker_timeout:g} s)",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            try:
                self.client.cancel(list(pending))
            except Exception:
                pass

    def close(self) -> None:
        try:
            self.client.close(timeout=10)
        except Exception:
            pass


def _lost(exc: BaseException | None) -> bool:
    """Whether a task's failure is the cluster's (cancelled, a lost connection or worker), not the run's."""
    from concurrent.futures import CancelledError

    if exc is None or isinstance(exc, (CancelledError, OSError, TimeoutError)):
        return True
    return type(exc).__name__ in ("CommClosedError", "FutureCancelledError", "StreamClosedError")
