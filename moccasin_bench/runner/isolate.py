"""The parent side of a run: start its child interpreter, enforce the limits, collect the outcome.

`run_isolated` writes the run and its graph (native JSON, so no graph file has to exist
where the run executes) to a private temporary directory, starts
`python -m moccasin_bench.runner.child RUN_FILE RESULT_FILE` in a new session (its own
process group), and waits. At time limit + grace it kills the whole process group (solver
subprocesses included); the child kills its group itself when its parent dies, so a
`kill -9` of the driver leaves no solver running. Solver libraries therefore never share a
process with each other or with the driver. Any crash, kill or missing result becomes an
`error` outcome carrying the tail of the child's stderr. The same function runs inside a
Dask task on a cluster worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moccasin_bench.formulation import PLUGINS_ENV
from moccasin_bench.runner.limits import check_grace, default_grace_seconds, default_memory_limit, format_size

if TYPE_CHECKING:
    from moccasin_bench.graph import Graph

STDERR_TAIL_BYTES = 4000
STDERR_TAIL_LINES = 40
POLL_SECONDS = 1.0


def graph_document(graph: Graph) -> str:
    """The graph as native JSON text: what travels to the child (and to Dask workers)."""
    from moccasin_bench.native import to_data

    return json.dumps({"origin": graph.origin, "document": to_data(graph)}, separators=(",", ":"))


# ---- parent side --------------------------------------------------------------------------

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def kill_live_children() -> None:
    """Kill every child run this process started and that is still running (on interrupt)."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - STDERR_TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:]).strip()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_isolated(
    spec: Mapping[str, Any],
    graph_text: str,
    *,
    memory_limit_bytes: int | None = None,
    grace_seconds: float | None = None,
    concurrent_runs: int = 1,
    plugins: str | None = None,
    stream_output: bool = False,
    progress: bool = False,
    worker: str = "local",
    should_stop: Callable[[], bool] | None = None,
    task: str = "solve",
) -> dict:
    """Run one spec (RunSpec.to_json()) in a child process; return an outcome dict.

    The outcome has `result` (the schedule JSON, or None), `status`, `message`,
    `stderr_tail`, `started_at`/`finished_at` (UTC ISO), `process_seconds`, the limits that
    applied, `worker` and `provenance`. It never raises for a failed run.
    memory_limit_bytes None = default_memory_limit(concurrent_runs), 0 = no cap.
    stream_output sends the child's output to this process's stderr instead of a log file.
    should_stop, polled every POLL_SECONDS, kills the run early (a cancelled Dask task).
    task "model_size" builds the formulation's model without solving it (judge.measure_model_size).
    """
    from moccasin_bench.provenance import provenance

    limit = float(spec["time_limit_seconds"])
    grace = default_grace_seconds(limit) if grace_seconds is None else check_grace(grace_seconds, "grace_seconds")
    mem = default_memory_limit(concurrent_runs) if memory_limit_bytes is None else int(memory_limit_bytes)
    payload = json.dumps(
        {
            "spec": dict(spec),
            "progress": progress,
            "task": task,
            "plugins": os.environ.get(PLUGINS_ENV) if plugins is None else plugins,
        }
    )
    payload = payload[:-1] + ',"graph":' + graph_text + "}"  # graph text is already JSON: don't re-encode it

    outcome: dict[str, Any] = {
        "result": None,
        "status": "error",
        "message": "",
        "stderr_tail": "",
        "memory_limit_bytes": mem or None,
        "grace_seconds": grace,
        "worker": worker,
        "provenance": provenance(),
    }
    with tempfile.TemporaryDirectory(prefix="moccasin-run-") as tmp:
        run_path, result_path, log_path = Path(tmp) / "run.json", Path(tmp) / "result.json", Path(tmp) / "output.log"
        run_path.write_text(payload)
        cmd = [
            sys.executable,
            "-m",
            "moccasin_bench.runner.child",
            str(run_path),
            str(result_path),
            "--memory-limit",
            str(mem),
        ]
        outcome["started_at"] = _now()
        t0 = time.perf_counter()
        with open(log_path, "wb") as log:
            # streaming: the child's stdout goes to our stderr (fd 2), so solver chatter never mixes with JSON on stdout
            out, err = (2, None) if stream_output else (log, log)
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            with _LIVE_LOCK:
                _LIVE.add(proc)
            killed = ""
            try:
                deadline = t0 + limit + grace
                while proc.poll() is None:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        killed = (
                            f"killed: no result after {limit + grace:g} s (time limit {limit:g} s + grace {grace:g} s)"
                        )
                    elif should_stop is not None and should_stop():
                        killed = "killed: the run was cancelled"
                    if killed:
                        _kill_group(proc)
                        proc.wait()
                        break
                    try:
                        proc.wait(timeout=min(left, POLL_SECONDS) if should_stop is not None else left)
                    except subprocess.TimeoutExpired:
                        pass
            except BaseException:
                _kill_group(proc)
                proc.wait()
                raise
            finally:
                with _LIVE_LOCK:
                    _LIVE.discard(proc)
                _kill_group(proc)  # grandchildren the run left behind
        outcome["process_seconds"] = time.perf_counter() - t0
        outcome["finished_at"] = _now()
        tail = "" if stream_output else _tail(log_path)
        result = None
        if result_path.is_file() and not killed:
            try:
                result = json.loads(result_path.read_text())
            except (OSError, ValueError) as exc:
                tail = f"{tail}\n[result file unreadable: {exc}]".strip()
    code = proc.returncode
    if killed:
        outcome["message"] = killed
    elif result is not None and code == 0:
        outcome["result"], outcome["status"], outcome["message"] = result, result["status"], result.get("message", "")
        if result["status"] == "error" and "out of memory" in result.get("message", ""):
            outcome["message"] += f" (memory limit {format_size(mem)})"
    elif code is not None and code < 0:
        sig = _signal_name(-code)
        hint = " (the system's out-of-memory killer?)" if -code == signal.SIGKILL else ""
        outcome["message"] = f"child process died of {sig}{hint}; memory limit {format_size(mem)}"
    else:
        last = tail.splitlines()[-1] if tail else "no output"
        outcome["message"] = f"child process exited with status {code} without a result: {last}"
    if (
        outcome["status"] == "error"
        and mem
        and "memory limit" not in outcome["message"]
        and _MEMORY_FAILURE.search(f"{outcome['message']}\n{tail}")
    ):
        outcome["message"] += (
            f" (the run failed to allocate memory under its memory limit of {format_size(mem)}: "
            "raise --memory-limit / memory_limit)"
        )
    if outcome["status"] == "error" or outcome["status"] == "invalid":
        outcome["stderr_tail"] = tail
    return outcome


# what a child that ran out of address space under RLIMIT_AS says (Python, glibc, C++, numpy, solver libraries)
_MEMORY_FAILURE = re.compile(
    r"MemoryError|out of memory|cannot allocate|bad_alloc|Unable to allocate|failed to map|"
    r"returned NULL without setting an exception|mmap|ENOMEM|Resource temporarily unavailable",
    re.IGNORECASE,
)
