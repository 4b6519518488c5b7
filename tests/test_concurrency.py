"""Drivers sharing one store: atomic creation, claims (no run done twice), stale claims taken over."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from moccasin_bench.store import LEASE_SECONDS, Store, rows
from tests.conftest import REPO
from tests.faulty_formulations import use_plugin, write_graph


def test_stores_created_at_once_on_one_fresh_path_all_open(tmp_path):
    path = tmp_path / "fresh.sqlite"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_it() -> None:
        try:
            start.wait()
            Store(path).close()
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    conn = sqlite3.connect(path)
    assert {"runs", "claims", "sweeps"} <= {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }


def test_two_drivers_started_at_once_share_the_work(tmp_path, monkeypatch):
    use_plugin(monkeypatch)
    write_graph(tmp_path / "tiny.json")
    config = tmp_path / "c.toml"
    config.write_text(
        'graphs = "tiny.json"\nbudget_bytes = 200\ntime_limits = 20\nseeds = [0, 1, 2, 3, 4, 5]\n'
        'formulations = [{ name = "faulty", params = { fault = "slow", seconds = 0.5 } }]\n'
    )
    store = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-m", "moccasin_bench.cli", "sweep", str(config), "--store", str(store), "--quiet"]
    drivers = [
        subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [d.communicate(timeout=120)[1] for d in drivers]
    for d, err in zip(drivers, outputs):
        assert d.returncode == 0, err
        assert "Traceback" not in err
    ran = [int(re.search(r"done: (\d+) run now", err).group(1)) for err in outputs]
    assert sum(ran) == 6, outputs  # every run once, none twice
    assert len(rows(store)) == 6 and {r["status"] for r in rows(store)} == {"feasible"}
    assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # every claim released


def _claim_row(path, key, owner, host, pid, expires):
    conn = sqlite3.connect(path)
    conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, '', ?)", (key, owner, host, pid, expires))
    conn.commit()
    conn.close()


def test_live_claims_are_respected_and_stale_ones_taken_over(tmp_path):
    path = tmp_path / "s.sqlite"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Store(path) as store:
        now = time.time()
        _claim_row(path, "live", "other", store.host, os.getppid(), now + LEASE_SECONDS)  # a live driver here
        _claim_row(path, "remote", "other", "another-host", 1, now + LEASE_SECONDS)  # a live lease elsewhere
        _claim_row(path, "dead", "other", store.host, dead.pid, now + LEASE_SECONDS)  # its driver was killed
        _claim_row(path, "expired", "other", "another-host", 1, now - 1)  # its driver stopped renewing
        assert "running in another driver" in store.claim("live")
        assert "running in another driver" in store.claim("remote")
        assert store.claim("dead") is None and store.claim("expired") is None and store.claim("new") is None
        assert store.claim("new") is None  # claiming again is harmless
        assert store.claim("stored", ("feasible", "t")) == "stored meanwhile by another driver"  # the row changed
        owners = dict(sqlite3.connect(path).execute("SELECT run_key, owner FROM claims"))
        assert owners["dead"] == owners["expired"] == owners["new"] == store.owner and owners["live"] == "other"
    left = dict(sqlite3.connect(path).execute("SELECT run_key, owner FROM claims"))
    assert set(left) == {"live", "remote"}  # closing released this driver's claims only


def test_claims_are_renewed_while_the_driver_runs(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        assert store.claim("k") is None
        first = sqlite3.connect(path).execute("SELECT expires FROM claims").fetchone()[0]
        store.start_renewing(every_seconds=0.1)
        time.sleep(0.5)
        assert sqlite3.connect(path).execute("SELECT expires FROM claims").fetchone()[0] > first


@pytest.mark.parametrize("version", [1, 2])
def test_older_stores_gain_the_claims_table(tmp_path, version):
    path = tmp_path / "old.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE claims")
    if version == 1:
        conn.execute("ALTER TABLE runs RENAME COLUMN nodes TO n")
        conn.execute("ALTER TABLE runs RENAME COLUMN edges TO m")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.claim("k") is None
