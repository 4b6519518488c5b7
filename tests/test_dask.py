"""A sweep through a real Dask cluster: `dask scheduler` and `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moccasin_bench.store import rows
from tests.conftest import REPO, run_cli
from tests.faulty_formulations import use_plugin, write_graph

pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'moccasin-bench[dask]')")


def _dask_command(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    if exe.exists():
        return [str(exe), *args]
    return [sys.executable, "-m", "dask", *args]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A scheduler and one worker process (2 threads) on 127.0.0.1; yields the scheduler address."""
    use_plugin(monkeypatch)  # the worker inherits PYTHONPATH, so it can import the faulty plug-in
    from distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    logs = [open(tmp_path / "scheduler.log", "w"), open(tmp_path / "worker.log", "w")]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                _dask_command(
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(scheduler_file),
                ),
                cwd=REPO,
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + 30
        while not (scheduler_file.exists() and scheduler_file.read_text().strip()):
            assert procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(
            subprocess.Popen(
                _dask_command(
                    "worker", address, "--nworkers", "1", "--nthreads", "2", "--host", "127.0.0.1", "--no-dashboard"
                ),
                cwd=REPO,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=30)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for log in logs:
            log.close()


def test_a_sweep_runs_on_a_dask_cluster(tmp_path, cluster):
    write_graph(tmp_path / "tiny.json")
    config = tmp_path / "dask.toml"
    config.write_text("""
name = "dask"
graphs = ["tiny.json"]
budget_bytes = [120, 100]
time_limits = 5
formulations = ["heuristic", { name = "oracle", params = { order = "free" } }, { name = "faulty", params = { fault = "crash" } }]
""")
    store = tmp_path / "s.sqlite"
    proc = run_cli("sweep", config, "--store", store, "--scheduler", cluster, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Dask scheduler" in proc.stderr and "1 worker(s), 2 thread(s)" in proc.stderr
    got = rows(store)
    assert len(got) == 6
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in got)
    status = {(r["formulation"], r["budget"]): r["status"] for r in got}
    assert status[("heuristic", 120)] == "feasible" and status[("oracle", 120)] == "optimal"
    assert (
        status[("heuristic", 100)] == status[("oracle", 100)] == "infeasible"
    )  # below the minimum feasible budget 110
    crash = [r for r in got if r["formulation"] == "faulty" and r["budget"] == 120][0]
    assert crash["status"] == "error" and "SIGSEGV" in crash["message"] and "Segmentation fault" in crash["stderr_tail"]
    assert all(r["python_version"] and r["hostname"] for r in got)

    again = run_cli("sweep", config, "--store", store, "--scheduler", cluster, timeout=60)
    assert again.returncode == 0 and "done: 0 run now, 6 skipped" in again.stderr


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopping_the_driver_stops_its_runs_on_the_cluster(tmp_path, cluster, how):
    """The driver stops (SIGTERM) or dies (kill -9): the scheduler drops its tasks and the
    workers kill the running children (and what they launched) instead of finishing them."""
    write_graph(tmp_path / "tiny.json")
    pid_file = tmp_path / "grandchild.pid"
    config = tmp_path / "hang.toml"
    config.write_text(f"""
graphs = ["tiny.json"]
budget_bytes = 120
time_limits = 600
formulations = [{{ name = "faulty", params = {{ fault = "hang", pid_file = "{pid_file}" }} }}]
""")
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moccasin_bench.cli",
            "sweep",
            str(config),
            "--store",
            str(tmp_path / "s.sqlite"),
            "--scheduler",
            cluster,
            "--quiet",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert driver.poll() is None, driver.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never started on the worker"
            time.sleep(0.1)
    finally:
        driver.send_signal(how)
        driver.wait(timeout=60)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while _alive(grandchild):
        assert time.monotonic() < deadline, "the run kept going on the worker after its driver stopped"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def test_an_unreachable_scheduler_is_one_clear_message(tmp_path):
    write_graph(tmp_path / "tiny.json")
    config = tmp_path / "c.toml"
    config.write_text('graphs = ["tiny.json"]\nbudget_bytes = 120\nformulations = "heuristic"\n')
    proc = run_cli(
        "sweep",
        config,
        "--store",
        tmp_path / "s.sqlite",
        "--scheduler",
        "tcp://127.0.0.1:9",
        "--connect-timeout",
        "2",
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr and "Traceback" not in proc.stderr
