"""A graph file never makes us import and call code the user did not choose (docs/security.md).

A PyTorch graph's `source.factory` is imported and called again by `execute` and by
`torch-partitioner`. Only the catalogue's factories and those the user names with
--trust-factory are; anything else is refused, in one line, before any import. Each hostile
factory below would create a marker file if it ran; none may.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from graphs.pytorch.trust import CATALOGUE_FACTORIES, TRUST_ENV, check_factory
from moccasin_bench.cli import main
from moccasin_bench.errors import UserError
from tests.conftest import REPO, run_cli


def pytorch_graph_file(path: Path, factory, kwargs) -> Path:
    """A three-node graph that claims to be a PyTorch training step made by `factory`."""
    doc = {
        "format": "moccasin-bench-graph",
        "version": 1,
        "name": "hostile",
        "nodes": [{"id": i, "duration": 1, "memory": 10, "label": f"aten.relu n{i}"} for i in range(3)],
        "edges": [[0, 1], [1, 2]],
        "order": [0, 1, 2],
        "fixed_bytes": 8,
        "source": {"kind": "pytorch-training-step", "factory": factory, "factory_kwargs": kwargs, "batch": None},
    }
    path.write_text(json.dumps(doc))
    return path


def shell_factories(marker: Path) -> list[tuple[str, dict]]:
    """Several ways of reaching a shell or running code, each creating `marker` if called."""
    m = str(marker)
    code = f"open({m!r}, 'w').close()"
    return [
        ("os:system", {"command": f"touch {m}"}),
        ("posix:system", {"command": f"touch {m}"}),
        ("subprocess:call", {"args": ["touch", m]}),
        ("subprocess:run", {"args": f"touch {m}", "shell": True}),
        ("subprocess:getoutput", {"cmd": f"touch {m}"}),
        ("pty:spawn", {"argv": ["touch", m]}),
        ("os:popen", {"cmd": f"touch {m}"}),
        ("builtins:exec", {"source": code}),
        ("builtins:eval", {"source": f"__import__('os').system('touch {m}')"}),
        ("importlib:import_module", {"name": "evil_on_import"}),
        ("evil_on_import:anything", {}),  # importing the module alone would run it
        ("runpy:run_path", {"path_name": str(marker.parent / "evil_on_import.py")}),
        ("code:InteractiveInterpreter", {}),
        ("os.path:exists", {"path": m}),
        ("graphs.pytorch.models:_seed", {}),  # the catalogue's module, but not one of its factories
        ("graphs.pytorch.models:torch", {}),
        ("tests.pytorch_factories:raises", {}),  # the project's own code, still not trusted from a file
    ]


ODD_SPECS = [
    "os:system\n",  # a trailing newline passes a `$`-anchored regex
    " os:system",
    "os :system",
    "\uff4f\uff53:system",  # fullwidth "os": a Unicode identifier
    "os:system:x",
    "os..path:join",
    "os.path.join",
    "graphs.pytorch.models:resnet18\n",
    "graphs.pytorch.models:resnet18 ",
    "graphs/pytorch/models:resnet18",
    "",
    ["os", "system"],
    {"module": "os", "factory": "system"},
    42,
]


@pytest.fixture
def hostile_dir(tmp_path, monkeypatch):
    """A working directory holding a module that creates the marker when imported."""
    marker = tmp_path / "PWNED"
    (tmp_path / "evil_on_import.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef anything(**kw):\n    return 0\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    return tmp_path, marker


def one_refusal(capsys, path: Path) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert str(path) in err[0]
    return err[0]


def commands(graph: Path, schedule: Path, sweep: Path) -> dict[str, list[str]]:
    return {
        "execute": ["execute", str(graph), str(schedule), "--json"],
        "solve": ["solve", str(graph), "-f", "torch-partitioner", "--budget", "1", "--in-process", "-q"],
        "sweep-dry-run": ["sweep", str(sweep), "--store", str(graph.parent / "s.sqlite"), "--dry-run"],
    }


def test_no_hostile_factory_runs_under_execute_solve_or_sweep(hostile_dir, capsys):
    tmp, marker = hostile_dir
    schedule = tmp / "order.json"
    schedule.write_text("[0, 1, 2]")
    for i, (factory, kwargs) in enumerate(shell_factories(marker)):
        graph = pytorch_graph_file(tmp / f"g{i}.json", factory, kwargs)
        sweep = tmp / f"s{i}.toml"
        sweep.write_text(
            f'name = "t"\ngraphs = ["{graph}"]\nbudgets = [1.0]\ntime_limits = 5\nformulations = ["torch-partitioner"]\n'
        )
        for what, argv in commands(graph, schedule, sweep).items():
            assert main(argv) == 2, (factory, what)
            line = one_refusal(capsys, graph)
            assert f"--trust-factory {factory}" in line, line
            assert not marker.exists(), f"{factory} ran under {what}"
        assert "evil_on_import" not in __import__("sys").modules


@pytest.mark.parametrize("spec", ODD_SPECS, ids=repr)
def test_odd_factory_names_are_refused_before_any_import(spec, hostile_dir, capsys):
    tmp, marker = hostile_dir
    graph = pytorch_graph_file(tmp / "g.json", spec, {"command": f"touch {marker}"})
    (tmp / "order.json").write_text("[0, 1, 2]")
    assert main(["execute", str(graph), str(tmp / "order.json")]) == 2
    one_refusal(capsys, graph)
    assert main(["solve", str(graph), "-f", "torch-partitioner", "--budget", "1", "--in-process", "-q"]) == 2
    one_refusal(capsys, graph)
    assert not marker.exists()


def test_the_refusal_holds_in_a_fresh_interpreter_and_a_child_solve(hostile_dir):
    """The real command line: solve's isolated child run and execute, each one line, exit 2."""
    tmp, marker = hostile_dir
    graph = pytorch_graph_file(tmp / "g.json", "os:system", {"command": f"touch {marker}"})
    (tmp / "order.json").write_text("[0, 1, 2]")
    env_cwd = REPO
    for argv in (
        ("solve", graph, "-f", "torch-partitioner", "--budget", "1", "-q"),
        ("execute", graph, tmp / "order.json"),
    ):
        proc = run_cli(*argv, cwd=env_cwd, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "--trust-factory os:system" in proc.stderr
        assert not marker.exists()


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"batch": float("nan")}, "plain JSON"),
        ({"batch": float("inf")}, "plain JSON"),
        ({"batch": 10**30}, "plain JSON"),
        ({"x": [[[[[[[[[[1]]]]]]]]]]}, "plain JSON"),
        ({"x": list(range(2000))}, "plain JSON"),
        ({"**x": 1}, "object of keyword arguments"),
        ({"": 1}, "object of keyword arguments"),
        ([1, 2], "object of keyword arguments"),
        ("batch=2", "object of keyword arguments"),
    ],
)
def test_factory_kwargs_must_be_plain_json(kwargs, needle, tmp_path, capsys):
    graph = pytorch_graph_file(tmp_path / "g.json", "graphs.pytorch.models:tiny_mlp", kwargs)
    assert main(["solve", str(graph), "-f", "torch-partitioner", "--budget", "1", "--in-process", "-q"]) == 2
    assert needle in one_refusal(capsys, graph)


def test_catalogue_factories_are_trusted_and_the_user_can_trust_more(monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    assert check_factory("graphs.pytorch.models:resnet18", {"batch": 2}, "f.json") == (
        "graphs.pytorch.models:resnet18",
        {"batch": 2},
    )
    with pytest.raises(UserError, match="--trust-factory mymodels:make_net"):
        check_factory("mymodels:make_net", {}, "f.json")
    assert (
        main(["solve", "demo", "-f", "heuristic", "--budget", "1", "-q", "--trust-factory", "mymodels:make_net"]) == 0
    )
    assert os.environ[TRUST_ENV] == "mymodels:make_net"
    assert check_factory("mymodels:make_net", None, "f.json") == ("mymodels:make_net", {})
    with pytest.raises(UserError, match="os:system"):  # trusting one factory trusts no other
        check_factory("os:system", {}, "f.json")


def test_trust_factory_takes_only_module_factory(capsys):
    assert main(["solve", "demo", "-f", "heuristic", "--budget", "1", "--trust-factory", "os:system;rm"]) == 2
    assert "is not MODULE:FACTORY" in capsys.readouterr().err


def test_the_trusted_list_is_exactly_the_catalogue_modules_public_factories():
    tree = ast.parse((REPO / "graphs" / "pytorch" / "models.py").read_text())
    public = {f"graphs.pytorch.models:{f.name}" for f in tree.body if isinstance(f, ast.FunctionDef)}
    public = {s for s in public if not s.split(":")[1].startswith("_")}
    assert CATALOGUE_FACTORIES == public
    from graphs.catalog import PYTORCH_GRAPHS

    assert {g.factory for g in PYTORCH_GRAPHS.values()} <= CATALOGUE_FACTORIES


def test_a_trusted_factory_does_run(hostile_dir, monkeypatch, capsys):
    """Control: with the user's permission, the same file's factory is called (so the tests
    above would see a factory that ran)."""
    pytest.importorskip("torch")
    tmp, marker = hostile_dir
    graph = pytorch_graph_file(tmp / "g.json", "os:system", {"command": f"touch {marker}"})
    from graphs.pytorch.retrace import retrace
    from graphs.pytorch.trust import trust
    from moccasin_bench.sources import load_graph

    trust(["os:system"])  # as --trust-factory os:system does
    with pytest.raises(UserError, match="returned a int"):  # it ran, then returned an int
        retrace(load_graph(str(graph)), real=False)
    assert marker.exists()


def test_every_layer_refuses_on_its_own(hostile_dir):
    """The re-trace (any caller) and the factory call itself refuse an untrusted factory, not
    only the commands' early checks (a new caller of either is covered too)."""
    pytest.importorskip("torch")
    from graphs.pytorch.build import retrace
    from graphs.pytorch.trace import make_setup
    from moccasin_bench.sources import load_graph

    tmp, marker = hostile_dir
    path = pytorch_graph_file(tmp / "g.json", "os:system", {"command": f"touch {marker}"})
    with pytest.raises(UserError, match=f"{path}: refused to import and call factory 'os:system'"):
        retrace(load_graph(str(path)), real=False)
    with pytest.raises(UserError, match="untrusted factory 'os:system'"):
        make_setup("os:system", factory_kwargs={"command": f"touch {marker}"})
    assert not marker.exists()
