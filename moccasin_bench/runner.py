"""Run one solve in a fresh child interpreter, with a hard wall-clock kill and a memory cap.

A run is a `RunSpec`: graph (by content hash), budget (bytes and how they were derived),
formulation, resolved parameters, time limit, threads, seed and gap. Its `key` hashes
exactly those, so the same run found twice (another sweep, another file path holding
the same graph) is the same key.

Isolation: `run_isolated` writes the run and its graph (native JSON, so no graph file has
to exist where the run executes) to a private temporary directory, starts
`python -m moccasin_bench.runner RUN_FILE RESULT_FILE` in a new session (its own process
group), and waits. The child caps its address space (RLIMIT_AS), runs
`moccasin_bench.run.execute`, and writes `RunResult.to_json()` to RESULT_FILE. At time
limit + grace the parent kills the whole process group (solver subprocesses included). A child also kills its group when its parent dies (a watchdog
polls the parent pid), so a `kill -9` of the driver leaves no solver running. Solver
libraries therefore never share a process with each other or with the driver.
Any crash, kill or missing result becomes an `error` outcome carrying the tail of the
child's stderr. The same function runs inside a Dask task on a cluster worker.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from moccasin_bench.errors import UserError
from moccasin_bench.formulation import PLUGINS_ENV

KEY_VERSION = 1
STDERR_TAIL_BYTES = 4000
STDERR_TAIL_LINES = 40
WATCHDOG_SECONDS = 0.5
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run; `key` is its content hash."""

    graph_name: str
    graph_hash: str
    formulation: str
    params: Mapping[str, Any]  # resolved: every declared parameter, validated
    budget_bytes: int
    budget_fraction: float | None  # None for an absolute budget
    reference_order: str  # resolved name (never "default"): the budget's order and the one fixed-order models follow
    reference_peak: int | None
    time_limit_seconds: float
    threads: int = 1
    seed: int = 0
    relative_gap: float = 0.0
    graph_source: str = ""  # what the user wrote (path, name or generator spec): display only, not in the key

    @property
    def key(self) -> str:
        return run_key(self)

    def to_json(self) -> dict:
        return {**asdict(self), "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunSpec":
        return cls(**data)

    def describe(self) -> str:
        budget = f"{self.budget_fraction:g}" if self.budget_fraction is not None else f"{self.budget_bytes:,}B"
        params = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return (f"{self.graph_name} budget={budget} ({self.budget_bytes:,}, {self.reference_order}) {self.formulation}"
                f"{'[' + params + ']' if params else ''} limit={self.time_limit_seconds:g}s threads={self.threads} seed={self.seed}"
                + (f" gap={self.relative_gap:g}" if self.relative_gap else ""))


def _canonical(value: Any) -> Any:
    """JSON-stable form of a parameter value: 1 and 1.0 hash alike, bools stay bools."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        f = float(value)
        return int(f) if math.isfinite(f) and f.is_integer() else f
    return str(value)


def run_key(spec: RunSpec) -> str:
    """Content hash of a run: graph content (not its path), budget and its derivation,
    formulation, resolved parameters, time limit, threads, seed and gap."""
    ident = {
        "key_version": KEY_VERSION,
        "graph": spec.graph_hash,
        "budget_bytes": int(spec.budget_bytes),
        "budget_fraction": _canonical(spec.budget_fraction),
        "reference_order": spec.reference_order,
        "formulation": spec.formulation,
        "params": {k: _canonical(v) for k, v in sorted(spec.params.items())},
        "time_limit_seconds": _canonical(spec.time_limit_seconds),
        "threads": int(spec.threads),
        "seed": int(spec.seed),
        "relative_gap": _canonical(spec.relative_gap),
    }
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def make_spec(graph, budget, formulation: str, params: Mapping[str, Any] | None = None, *, time_limit_seconds: float = 60.0,
              threads: int = 1, seed: int = 0, relative_gap: float = 0.0, reference_order: str = "default",
              graph_source: str = "") -> RunSpec:
    """Resolve a run: validate the parameters against the formulation, name the reference order."""
    from moccasin_bench.formulation import formulation_module
    from moccasin_bench.orders import default_order_name
    from moccasin_bench.params import resolve_params

    module = formulation_module(formulation)
    values = resolve_params(module.PARAMS, dict(params or {}), f"formulation {formulation!r}")
    order = budget.reference_order if budget.fraction is not None else reference_order
    if order in (None, "default"):
        order = default_order_name(graph)
    if time_limit_seconds <= 0 or not math.isfinite(time_limit_seconds):
        raise UserError(f"time limit must be a positive number of seconds, got {time_limit_seconds!r}")
    if int(threads) != threads or threads < 1:
        raise UserError(f"threads must be a positive integer, got {threads!r}")
    if int(seed) != seed:
        raise UserError(f"seed must be an integer, got {seed!r}")
    if not 0 <= relative_gap < 1:
        raise UserError(f"gap must be in [0, 1), got {relative_gap!r}")
    return RunSpec(graph_name=graph.name, graph_hash=graph.content_hash, formulation=formulation, params=values,
                   budget_bytes=int(budget.bytes), budget_fraction=budget.fraction, reference_order=order,
                   reference_peak=budget.reference_peak, time_limit_seconds=float(time_limit_seconds), threads=int(threads),
                   seed=int(seed), relative_gap=float(relative_gap), graph_source=graph_source)


def graph_document(graph) -> str:
    """The graph as native JSON text: what travels to the child (and to Dask workers)."""
    from graphs.native import to_data

    return json.dumps({"origin": graph.origin, "document": to_data(graph)}, separators=(",", ":"))


# ---- limits -------------------------------------------------------------------------------

def total_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_memory_limit(concurrent_runs: int = 1) -> int:
    """80 % of physical memory shared among the runs executing at once (at least 512 MiB)."""
    return max(512 << 20, int(0.8 * total_memory_bytes() / max(1, concurrent_runs)))


def default_grace_seconds(time_limit_seconds: float) -> float:
    """Time past the solver's limit before the hard kill: model building and simulation
    happen outside the solver's own clock."""
    return 30.0 + 0.25 * time_limit_seconds


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(value: Any, what: str = "memory limit") -> int:
    """Bytes from 8589934592, "8G", "8GiB", "512M"; 0 or "none" means no cap (returns 0)."""
    if isinstance(value, bool):
        raise UserError(f"{what} must be a size such as 8G or a number of bytes, got {value!r}")
    if isinstance(value, (int, float)) and value >= 0:
        return int(value)
    if isinstance(value, str):
        if value.strip().lower() in ("none", "0", "unlimited"):
            return 0
        m = _SIZE.match(value)
        if m:
            scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
            return int(float(m.group(1)) * scale)
    raise UserError(f"{what} must be a size such as 8G or a number of bytes, got {value!r}")


def format_size(n: int | None) -> str:
    if not n:
        return "none"
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


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
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


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


def run_isolated(spec: Mapping[str, Any], graph_text: str, *, memory_limit_bytes: int | None = None,
                 grace_seconds: float | None = None, concurrent_runs: int = 1, plugins: str | None = None,
                 stream_output: bool = False, progress: bool = False, worker: str = "local",
                 should_stop: Callable[[], bool] | None = None) -> dict:
    """Run one spec (RunSpec.to_json()) in a child process; return an outcome dict.

    The outcome has `result` (the schedule JSON, or None), `status`, `message`,
    `stderr_tail`, `started_at`/`finished_at` (UTC ISO), `process_seconds`, the limits that
    applied, `worker` and `provenance`. It never raises for a failed run.
    memory_limit_bytes None = default_memory_limit(concurrent_runs), 0 = no cap.
    stream_output sends the child's output to this process's stderr instead of a log file.
    should_stop, polled every POLL_SECONDS, kills the run early (a cancelled Dask task).
    """
    from moccasin_bench.provenance import provenance

    limit = float(spec["time_limit_seconds"])
    grace = default_grace_seconds(limit) if grace_seconds is None else float(grace_seconds)
    mem = default_memory_limit(concurrent_runs) if memory_limit_bytes is None else int(memory_limit_bytes)
    payload = json.dumps({"spec": dict(spec), "progress": progress,
                          "plugins": os.environ.get(PLUGINS_ENV) if plugins is None else plugins})
    payload = payload[:-1] + ',"graph":' + graph_text + "}"  # graph text is already JSON: don't re-encode it

    outcome: dict[str, Any] = {"result": None, "status": "error", "message": "", "stderr_tail": "",
                               "memory_limit_bytes": mem or None, "grace_seconds": grace, "worker": worker,
                               "provenance": provenance()}
    with tempfile.TemporaryDirectory(prefix="moccasin-run-") as tmp:
        run_path, result_path, log_path = Path(tmp) / "run.json", Path(tmp) / "result.json", Path(tmp) / "output.log"
        run_path.write_text(payload)
        cmd = [sys.executable, "-m", "moccasin_bench.runner", str(run_path), str(result_path), "--memory-limit", str(mem)]
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
                        killed = f"killed: no result after {limit + grace:g} s (time limit {limit:g} s + grace {grace:g} s)"
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
    if outcome["status"] == "error" or outcome["status"] == "invalid":
        outcome["stderr_tail"] = tail
    return outcome


# ---- child side -----------------------------------------------------------------------------

def _apply_memory_limit(limit_bytes: int) -> None:
    if limit_bytes <= 0:
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _watch_parent() -> None:
    """Kill this process group when the parent dies (re-parenting changes getppid)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_SECONDS)
            if os.getppid() != parent:
                os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _max_rss_bytes() -> int | None:
    try:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return int(max(own, kids) * scale)
    except (ImportError, OSError):
        return None


def child_main(argv: list[str]) -> int:
    """Entry of the child interpreter: `RUN_FILE RESULT_FILE --memory-limit BYTES`."""
    run_path, result_path = Path(argv[0]), Path(argv[1])
    memory_limit = int(argv[argv.index("--memory-limit") + 1]) if "--memory-limit" in argv else 0
    _apply_memory_limit(memory_limit)
    _watch_parent()
    faulthandler.enable()

    payload = json.loads(run_path.read_text())
    if payload.get("plugins"):
        os.environ[PLUGINS_ENV] = payload["plugins"]
    spec = RunSpec.from_json(payload["spec"])

    from graphs.native import parse
    from moccasin_bench.budget import Budget
    from moccasin_bench.run import execute

    graph = parse(payload["graph"]["document"], name=spec.graph_name, origin=payload["graph"].get("origin", ""))
    if graph.content_hash != spec.graph_hash:
        print(f"graph content hash {graph.content_hash} differs from the run's {spec.graph_hash}", file=sys.stderr)
        return 4
    budget = Budget(bytes=spec.budget_bytes, fraction=spec.budget_fraction,
                    reference_order=spec.reference_order if spec.budget_fraction is not None else None,
                    reference_peak=spec.reference_peak)
    progress = None
    if payload.get("progress"):
        from moccasin_bench.cli.solve import _progress_printer

        progress = _progress_printer(graph.sum_duration)
    try:
        result = execute(graph, budget, spec.formulation, spec.params, time_limit_seconds=spec.time_limit_seconds,
                         threads=spec.threads, seed=spec.seed, relative_gap=spec.relative_gap,
                         reference_order_name=spec.reference_order, progress=progress)
    except UserError as exc:
        print(f"moccasin-bench: error: {exc}", file=sys.stderr)
        return 2
    doc = result.to_json()
    doc["max_rss_bytes"] = _max_rss_bytes()
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(doc, default=_json_default))
    tmp.replace(result_path)
    return 0


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


if __name__ == "__main__":
    code = child_main(sys.argv[1:])
    # a solver thread that overran its limit may still be running in C++ (see
    # formulations/checkmate_milp.py): exit without waiting for it or running its destructors
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
