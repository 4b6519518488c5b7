"""Exits that said nothing or blamed the wrong party (issue 25 item 7).

Each: one line on stderr naming the problem, exit status 2 (or the documented status),
stdout holding only the document the command writes. In process (capfd sees fd-level
writes too), except where the process's own exit is what is tested."""

from __future__ import annotations

import json

import pytest

from moccasin_bench.cli import main
from tests.conftest import run_cli

TRUST = "--trust-factory"


@pytest.fixture(autouse=True)
def no_trust_left_behind(monkeypatch):
    """main() records --trust-factory (and execute's MODULE:FACTORY) in the environment: undo it."""
    from graphs.pytorch.trust import TRUST_ENV

    monkeypatch.delenv(TRUST_ENV, raising=False)


@pytest.fixture
def torch_ok():
    pytest.importorskip("torch")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_factory_calling_sys_exit_is_one_line_not_a_silent_exit(torch_ok, tmp_path, capfd):
    (tmp_path / "order.json").write_text("[0]")
    assert main(["graphs", "extract", "tests.pytorch_factories:exits", "-o", str(tmp_path / "g.json")]) == 2
    assert "called sys.exit(7)" in one_line(capfd.readouterr().err)
    assert main(["execute", "tests.pytorch_factories:exits", str(tmp_path / "order.json"), "--json"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and "called sys.exit(7)" in one_line(err)


def test_a_module_calling_sys_exit_on_import_is_one_line(torch_ok, tmp_path, monkeypatch, capfd):
    (tmp_path / "quits_on_import.py").write_text("import sys\nsys.exit(5)\ndef f():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["graphs", "extract", "quits_on_import:f", "-o", str(tmp_path / "g.json")]) == 2
    assert "called sys.exit(5)" in one_line(capfd.readouterr().err)


def test_a_batch_too_large_is_blamed_on_the_batch_not_the_factory(torch_ok, tmp_path, capfd):
    argv = ["graphs", "extract", "tests.pytorch_factories:bare", "--batch", str(10**18), "--input-shape", "5"]
    assert main([*argv, "-o", str(tmp_path / "g.json")]) == 2
    line = one_line(capfd.readouterr().err)
    assert "--batch 1,000,000,000,000,000,000" in line and "not by" in line and "raised" not in line


def test_a_factory_overflowing_its_own_batch_says_what_it_was_given(torch_ok, tmp_path, capfd):
    argv = ["graphs", "extract", "graphs.pytorch.models:tiny_mlp", "--batch", str(10**18)]
    assert main([*argv, "-o", str(tmp_path / "g.json")]) == 2
    line = one_line(capfd.readouterr().err)
    assert "raised" in line and "called with batch=1000000000000000000" in line


def test_a_dict_output_without_a_loss_says_so(torch_ok, tmp_path, capfd):
    assert main(["graphs", "extract", "tests.pytorch_factories:dict_output", "-o", str(tmp_path / "g.json")]) == 2
    line = one_line(capfd.readouterr().err)
    assert "returned a dict (keys ['logits']), not a tensor" in line and "AttributeError" not in line


def test_execute_json_stdout_is_one_object_even_when_the_factory_prints(torch_ok, tmp_path, capfd):
    g, sched = tmp_path / "g.json", tmp_path / "order.json"
    assert main(["graphs", "extract", "tests.pytorch_factories:prints", "-o", str(g)]) == 0
    capfd.readouterr()
    sched.write_text(json.dumps(list(range(len(json.loads(g.read_text())["nodes"])))))
    assert main(["execute", "tests.pytorch_factories:prints", str(sched), "--json", "--repeat", "1"]) == 0
    out, err = capfd.readouterr()
    report = json.loads(out)  # exactly one JSON document, nothing before or after
    assert report["check"]["bitwise_equal"]
    assert "hello from the factory" in err and "raw bytes on fd 1" in err
    # the same file, its factory trusted by name, in an in-process solve: stdout is the document alone
    argv = ["solve", str(g), "-f", "torch-partitioner", "--budget", "1", "--in-process", "-q"]
    assert main([*argv, TRUST, "tests.pytorch_factories:prints"]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out)["status"] == "feasible" and "hello from the factory" in err


def test_a_nan_loss_equals_itself(torch_ok, tmp_path, capfd):
    """The plain order against itself: NaN loss and gradients, bitwise equal (issue 25 item 2)."""
    g, sched = tmp_path / "g.json", tmp_path / "order.json"
    assert main(["graphs", "extract", "tests.pytorch_factories:nan_loss", "-o", str(g)]) == 0
    sched.write_text(json.dumps(list(range(len(json.loads(g.read_text())["nodes"])))))
    capfd.readouterr()
    argv = ["execute", str(g), str(sched), "--repeat", "1", TRUST, "tests.pytorch_factories:nan_loss"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capfd.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert report["check"]["bitwise_equal"] and report["loss"] is None and report["loss_text"] == "nan"
    assert main(argv) == 0
    out = capfd.readouterr().out
    assert "bitwise equal" in out and "loss nan" in out


def test_an_unreachable_scheduler_is_one_line_and_no_late_traceback(tmp_path):
    """A real process: the late `Client.__del__` traceback appeared at interpreter exit."""
    pytest.importorskip("distributed")
    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "t"\ngraphs = ["demo"]\nbudgets = [1.0]\ntime_limits = 5\nformulations = ["heuristic"]\n')
    for address in ("not-an-address", "tcp://127.0.0.1:1"):
        proc = run_cli(
            "sweep", cfg, "--store", tmp_path / "s.sqlite", "--scheduler", address, "--connect-timeout", "2", timeout=60
        )
        assert proc.returncode == 2 and "cannot reach the Dask scheduler" in one_line(proc.stderr)
