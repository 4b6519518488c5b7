"""Dask faults (slow: `python -m pytest -m slow_fault`, run by .ci/run): a worker killed mid-sweep,
the whole cluster lost, a replacement worker joining. Runs are rescheduled, never recorded as
errors for having lost their worker; a sweep whose cluster is gone stops with one line."""

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
from tests.conftest import REPO
from tests.faulty_formulations import use_plugin, write_graph

pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'moccasin-bench[dask]')")
pytestmark = pytest.mark.slow_fault


def _dask(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "dask", *args]


def _kill(proc: subprocess.Popen, how: int = signal.SIGKILL) -> None:
    """Kill a `dask worker` (nanny and worker: its whole process group) or the scheduler."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, how)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp, self.procs, self.logs = tmp, [], []
        scheduler_file = tmp / "scheduler.json"
        self.scheduler = self._start(
            "scheduler",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        )
        deadline = time.monotonic() + 30
        while not (scheduler_file.exists() and scheduler_file.read_text().strip()):
            assert self.scheduler.poll() is None and time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{len(self.procs)}.log", "w")
        self.logs.append(log)
        proc = subprocess.Popen(_dask(*args), cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def add_worker(self, wait_for: int | None = None) -> subprocess.Popen:
        proc = self._start(
            "worker",
            "worker",
            self.address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
        )
        if wait_for:
            self.wait_for_workers(wait_for)
        return proc

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(n, timeout=60)

    def close(self) -> None:
        for proc in reversed(self.procs):
            _kill(proc, signal.SIGTERM if proc.poll() is None else signal.SIGKILL)
        for log in self.logs:
            log.close()


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    use_plugin(monkeypatch)  # workers inherit PYTHONPATH and the plug-in
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.close()


def _sweep(tmp_path: Path, runs: int, seconds: float) -> Path:
    write_graph(tmp_path / "tiny.json")
    config = tmp_path / "c.toml"
    config.write_text(
        f'graphs = "tiny.json"\nbudget_bytes = 200\ntime_limits = 60\nseeds = {list(range(runs))}\n'
        f'formulations = [{{ name = "faulty", params = {{ fault = "slow", seconds = {seconds} }} }}]\n'
    )
    return config


def _driver(config: Path, store: Path, address: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moccasin_bench.cli",
            "sweep",
            str(config),
            "--store",
            str(store),
            "--scheduler",
            address,
            "--quiet",
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_rows(store: Path, n: int, driver: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if len(rows(store)) >= n:
                return
        except Exception:  # noqa: BLE001 - not created yet
            pass
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline, "no run finished in time"
        time.sleep(0.2)


def test_a_worker_killed_mid_sweep_loses_no_run(tmp_path, cluster):
    doomed = cluster.add_worker()
    cluster.add_worker(wait_for=2)
    store = tmp_path / "s.sqlite"
    driver = _driver(_sweep(tmp_path, 8, 2.0), store, cluster.address)
    _wait_for_rows(store, 1, driver)
    _kill(doomed)  # nanny and worker: its queued and running runs must go to the other worker
    err = driver.communicate(timeout=180)[1]
    assert driver.returncode == 0, err
    got = rows(store)
    assert len(got) == 8 and {r["status"] for r in got} == {"feasible"}, [(r["status"], r["message"]) for r in got]
    assert "Traceback" not in err and "error" not in err.lower()


def test_a_replacement_worker_takes_over_when_the_only_one_dies(tmp_path, cluster):
    first = cluster.add_worker(wait_for=1)
    store = tmp_path / "s.sqlite"
    driver = _driver(_sweep(tmp_path, 4, 1.0), store, cluster.address, "--worker-timeout", "120")
    _wait_for_rows(store, 1, driver)
    _kill(first)
    time.sleep(3)
    cluster.add_worker()
    err = driver.communicate(timeout=180)[1]
    assert driver.returncode == 0, err
    assert "has no worker" in err and "connected again" in err
    got = rows(store)
    assert len(got) == 4 and {r["status"] for r in got} == {"feasible"}


def test_a_sweep_whose_cluster_is_gone_stops_with_one_line_and_resumes(tmp_path, cluster):
    only = cluster.add_worker(wait_for=1)
    store = tmp_path / "s.sqlite"
    config = _sweep(tmp_path, 6, 1.5)
    driver = _driver(config, store, cluster.address, "--worker-timeout", "4")
    _wait_for_rows(store, 1, driver)
    _kill(only)
    err = driver.communicate(timeout=120)[1]
    assert driver.returncode == 75, err
    last = err.strip().splitlines()[-1]
    assert (
        last.startswith("moccasin-bench: error: the Dask cluster has no worker") and "re-run the same command" in last
    )
    assert "Traceback" not in err
    stored = rows(store)
    assert 0 < len(stored) < 6 and {r["status"] for r in stored} == {"feasible"}  # nothing recorded for unfinished runs
    cluster.add_worker(wait_for=1)
    again = _driver(config, store, cluster.address)
    err = again.communicate(timeout=180)[1]
    assert again.returncode == 0, err
    assert len(rows(store)) == 6


def test_a_lost_scheduler_stops_the_sweep_with_one_line(tmp_path, cluster):
    cluster.add_worker(wait_for=1)
    store = tmp_path / "s.sqlite"
    driver = _driver(_sweep(tmp_path, 6, 1.5), store, cluster.address, "--worker-timeout", "5")
    _wait_for_rows(store, 1, driver)
    _kill(cluster.scheduler)
    err = driver.communicate(timeout=180)[1]
    assert driver.returncode == 75, err
    last = err.strip().splitlines()[-1]
    assert (
        last.startswith("moccasin-bench: error: cannot reach the Dask scheduler") and "re-run the same command" in last
    )
    assert "Traceback" not in err
    assert {r["status"] for r in rows(store)} == {"feasible"}
