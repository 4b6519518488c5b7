"""`graphs download` and the data-directory lookup: files checked by SHA-256, written atomically,
skipped when valid; a mismatch or an unreachable source is one line; the lookup ignores the working directory."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from moccasin_bench.download import FILES, DataFile, download, file_url
from moccasin_bench.errors import Incomplete, UserError
from moccasin_bench.sources import find_paper_file, project_data_dir
from tests.conftest import REPO

_RL1 = find_paper_file("rl1")
PAPER_DIR = _RL1.parent if _RL1 else None  # wherever the lookup finds the paper's files


def _data_file(directory: Path, name: str, content: bytes) -> DataFile:
    (directory / name).write_bytes(content)
    return DataFile(name, len(content), hashlib.sha256(content).hexdigest())


@pytest.fixture
def server(tmp_path):
    """A local HTTP server (127.0.0.1) serving tmp_path/served; yields (base URL, directory)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    httpd.shutdown()
    httpd.server_close()


def test_fetches_checks_and_skips(server, tmp_path):
    url, served = server
    files = (
        _data_file(served, "a graph (1).json", b'{"nodes": []}'),
        _data_file(served, "b.json", b"[1, 2, 3]\n"),
    )
    dest = tmp_path / "data"
    said: list[str] = []
    assert download(dest, url, files, said.append) == {"fetched": 2, "present": 0}
    for f in files:
        assert (dest / f.filename).read_bytes() == (served / f.filename).read_bytes()
    assert download(dest, url, files, said.append) == {"fetched": 0, "present": 2}
    (dest / "b.json").write_bytes(b"[1, 2]\n")  # a damaged copy is fetched again
    said.clear()
    assert download(dest, url, files, said.append) == {"fetched": 1, "present": 1}
    assert any("replacing an invalid copy" in line and "b.json" in line for line in said)
    assert (dest / "b.json").read_bytes() == b"[1, 2, 3]\n"


def test_mismatch_names_the_file_and_writes_nothing(server, tmp_path):
    url, served = server
    good = _data_file(served, "good.json", b"{}")
    bad = DataFile("bad.json", 2, hashlib.sha256(b"{}").hexdigest())
    (served / "bad.json").write_bytes(b"[]")  # same size, other bytes
    dest = tmp_path / "data"
    with pytest.raises(UserError, match=r"bad\.json: the file from .* is not the published one.*nothing written"):
        download(dest, url, (good, bad), lambda _: None)
    assert sorted(p.name for p in dest.iterdir()) == ["good.json"]  # no half-written or temporary file


def test_missing_file_on_server_is_one_line(server, tmp_path):
    url, _ = server
    with pytest.raises(UserError, match=r"gone\.json: the server answered 404"):
        download(tmp_path / "data", url, (DataFile("gone.json", 1, "0" * 64),), lambda _: None)


def test_unreachable_source_is_incomplete(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Incomplete, match="cannot reach http://127.0.0.1"):
        download(tmp_path / "data", f"http://127.0.0.1:{port}/", (DataFile("x.json", 1, "0" * 64),), lambda _: None)
    with pytest.raises(UserError, match="must be an https://"):
        download(tmp_path / "data", "ftp://example.org/", (DataFile("x.json", 1, "0" * 64),), lambda _: None)


def test_manifest_covers_the_paper_graphs():
    from graphs.catalog import PAPER_GRAPHS

    assert {f.filename for f in FILES} == {g.filename for g in PAPER_GRAPHS.values()}
    assert file_url("http://h/data", "a (b)_1.json") == "http://h/data/a%20%28b%29_1.json"


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI of this checkout, run from another directory with a controlled environment."""
    full = {k: v for k, v in os.environ.items() if k != "MOCCASIN_BENCH_DATA"}
    full.update(env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "moccasin_bench.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full,
        timeout=120,
    )


@pytest.mark.skipif(PAPER_DIR is None, reason="the paper's graph files are in no data directory")
def test_download_the_paper_files_from_a_file_url_then_find_them_from_anywhere(tmp_path):
    """The real manifest against a file:// copy of the published files; the user data directory
    (platformdirs honours XDG_DATA_HOME) is then found with the working directory at /."""
    home = tmp_path / "xdg"
    env = {"XDG_DATA_HOME": str(home)}
    r = _cli("graphs", "download", "--from", PAPER_DIR.resolve().as_uri() + "/", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "GPL-3.0" in r.stdout and f"{len(FILES)} fetched" in r.stdout
    target = home / "moccasin-bench" / "paper-graphs"
    for f in FILES:
        assert hashlib.sha256((target / f.filename).read_bytes()).hexdigest() == f.sha256
    r = _cli("graphs", "info", "rl1", "--json", cwd=Path("/"), env=env)
    assert r.returncode == 0, r.stderr
    assert '"nodes": 100' in r.stdout and str(target) in r.stdout


def test_lookup_does_not_depend_on_the_working_directory(tmp_path):
    """From a directory with ../shared/paper-graphs of its own, that copy is not used; the error lists
    where it looked, and those places are absolute."""
    cwd = tmp_path / "a" / "b"
    decoy = tmp_path / "a" / "shared" / "paper-graphs"
    decoy.mkdir(parents=True)
    cwd.mkdir()
    from graphs.catalog import PAPER_GRAPHS

    (decoy / PAPER_GRAPHS["rl1"].filename).write_text("not json")
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    r = _cli("graphs", "info", "rl1", cwd=cwd, env=env)
    assert str(decoy) not in r.stdout + r.stderr
    project = project_data_dir()
    if project is not None and (project / PAPER_GRAPHS["rl1"].filename).is_file():  # CI: ../shared beside the clone
        assert r.returncode == 0 and str(project.resolve()) in r.stdout
    else:
        assert r.returncode == 2
        [line] = r.stderr.strip().splitlines()
        assert "looked at: --data-dir (not given); $MOCCASIN_BENCH_DATA (not set); the user data directory" in line
        assert str(tmp_path / "xdg" / "moccasin-bench" / "paper-graphs") in line and "/../" not in line
    r = _cli("graphs", "info", "rl1", "--data-dir", str(decoy), cwd=cwd, env=env)
    assert r.returncode == 2 and "not valid JSON" in r.stderr and str(decoy) in r.stderr
