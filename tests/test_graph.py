"""Graph validation, loaders (both paper dialects and the native format) and their round trips."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings

from moccasin_bench.errors import GraphError
from moccasin_bench.graph import Graph
from moccasin_bench.native import to_data
from moccasin_bench.sources import parse_graph_data, read_graph_file
from tests.conftest import paper_graph, paper_path, run_cli
from tests.strategies import dags


def native(nodes, edges, **extra):
    return {"format": "moccasin-bench-graph", "version": 1, "name": "t", "nodes": nodes, "edges": edges, **extra}


def nodes(*sizes):
    return [{"id": i, "duration": d, "memory": m} for i, (d, m) in enumerate(sizes)]


# (document, words the one-line message must contain)
BAD_DOCUMENTS = {
    "cycle": (native(nodes((1, 1), (1, 1), (1, 1)), [[0, 1], [1, 2], [2, 1]]), ["cycle through node", "2 -> 1 -> 2"]),
    "self-loop": (native(nodes((1, 1), (1, 1)), [[0, 1], [1, 1]]), ["self-loop", "node 1"]),
    "missing memory": (native([{"id": 0, "duration": 1}], []), ["memory of node 0", "missing"]),
    "missing duration": (native([{"id": 0, "memory": 1}], []), ["duration of node 0", "missing"]),
    "negative size": (native(nodes((1, -5)), []), ["memory of node 0", "negative"]),
    "fractional size": (native(nodes((2.5, 1)), []), ["duration of node 0", "not an integer"]),
    "text size": (native(nodes(("ten", 1)), []), ["duration of node 0", "not a number"]),
    "unknown edge end": (native(nodes((1, 1), (1, 1)), [[0, 7]]), ["unknown node 7"]),
    "unknown edge start": (native(nodes((1, 1), (1, 1)), [[9, 1]]), ["unknown node 9"]),
    "empty graph": (native([], []), ["empty"]),
    "duplicate id": (
        native([{"id": 3, "duration": 1, "memory": 1}, {"id": 3, "duration": 1, "memory": 1}], []),
        ["node id 3 appears twice"],
    ),
    "order not topological": (
        native(nodes((1, 1), (1, 1)), [[0, 1]], order=[1, 0]),
        ["stored order is not topological"],
    ),
    "order incomplete": (native(nodes((1, 1), (1, 1)), [[0, 1]], order=[0]), ["stored order must list each"]),
    "node-link missing memory": (
        {"directed": True, "nodes": [{"id": 0, "cost_cpu": 1}], "links": []},
        ["memory attribute"],
    ),
    "node-link bad link": (
        {"directed": True, "nodes": [{"id": 0, "cost_cpu": 1, "cost_ram": 1}], "links": [{"from": 0}]},
        ["link 0"],
    ),
    "not a graph": ({"hello": "world"}, ["not a graph file"]),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_documents_raise_one_clear_error(case, tmp_path):
    doc, words = BAD_DOCUMENTS[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GraphError) as info:
        read_graph_file(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("case", ["cycle", "self-loop", "negative size", "unknown edge end", "empty graph"])
def test_cli_reports_bad_graph_in_one_line_without_traceback(case, tmp_path):
    path = tmp_path / f"{case.replace(' ', '_')}.json"
    path.write_text(json.dumps(BAD_DOCUMENTS[case][0]))
    for args in (
        ["graphs", "info", path],
        ["simulate", path, path],
        ["solve", path, "-f", "heuristic", "--budget", "0.9"],
    ):
        proc = run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert str(path) in lines[0] and BAD_DOCUMENTS[case][1][0] in lines[0], lines[0]


def test_cli_reports_unreadable_files(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    for target, words in ((bad, "not valid JSON"), (tmp_path / "absent.json", "no such file")):
        proc = run_cli("graphs", "info", target)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert words in proc.stderr and str(target) in proc.stderr


def test_duplicate_edges_are_merged_and_counted():
    g = parse_graph_data(native(nodes((1, 1), (1, 1)), [[0, 1], [0, 1], [0, 1]]), "t", "t.json")
    assert g.m == 1 and g.duplicate_edges_merged == 2


def test_cycle_message_names_a_node_on_the_cycle():
    with pytest.raises(GraphError) as info:
        Graph.build("t", list("abcd"), [1] * 4, [1] * 4, [("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")])
    assert "cycle through node" in str(info.value)
    for node in "bcd":
        assert repr(node) in str(info.value)
    assert "'a'" not in str(info.value)


def test_graph_arrays_are_read_only():
    g = Graph.build("t", [0, 1], [1, 2], [3, 4], [(0, 1)])
    with pytest.raises(ValueError):
        g.memory[0] = 7


def _same(a: Graph, b: Graph, edge_order: bool = True) -> None:
    assert a.node_ids == b.node_ids
    assert np.array_equal(a.duration, b.duration) and np.array_equal(a.memory, b.memory)
    if edge_order:
        assert np.array_equal(a.edges, b.edges)
    else:  # networkx writes edges grouped by source node
        assert sorted(map(tuple, a.edges.tolist())) == sorted(map(tuple, b.edges.tolist()))
    assert (a.stored_order is None) == (b.stored_order is None)
    if a.stored_order is not None:
        assert np.array_equal(a.stored_order, b.stored_order)
    assert a.content_hash == b.content_hash


@settings(max_examples=60, deadline=None)
@given(dags(max_nodes=8))
def test_native_round_trip(g):
    back = parse_graph_data(json.loads(json.dumps(to_data(g))), "t", "t.json")
    _same(g, back)


@settings(max_examples=60, deadline=None)
@given(dags(max_nodes=8))
def test_networkx_node_link_data_loads(g):
    """A file written by networkx itself (node_link_data) reads back as the same graph."""
    data = nx.node_link_data(g.to_networkx(), edges="links")
    _same(g, parse_graph_data(json.loads(json.dumps(data)), "t", "t.json"), edge_order=False)


def test_node_link_export_loads_in_networkx(tmp_path):
    g = Graph.build("t", ["x", "y", "z"], [1, 2, 3], [4, 5, 6], [("x", "y"), ("y", "z")], stored_order=["x", "y", "z"])
    out = tmp_path / "g.json"
    proc = run_cli("graphs", "export", _native_file(g, tmp_path), "-o", out, "--format", "node-link")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    h = nx.node_link_graph(data, edges="links")
    assert list(h.edges) == [("x", "y"), ("y", "z")] and h.nodes["z"]["memory"] == 6
    _same(g, read_graph_file(out), edge_order=False)


def _native_file(g, tmp_path):
    path = tmp_path / "native.json"
    path.write_text(json.dumps(to_data(g)))
    return path


def test_random_layered_dialect():
    g = paper_graph("rl1")
    raw = json.loads(paper_path("rl1").read_text())
    assert g.n == len(raw["nodes"]) == 100 and g.m == 236
    assert g.node_ids == tuple(range(100))  # no ids in the file: position
    assert g.memory[5] == raw["nodes"][5]["out_cost"] and g.duration[5] == raw["nodes"][5]["duration"]
    assert g.stored_order.tolist() == raw["graph"]["order"]
    first = raw["links"][0]
    assert g.edges[0].tolist() == [first["0"], first["1"]]


def test_checkmate_dialect():
    g = paper_graph("cm1")
    raw = json.loads(paper_path("cm1").read_text())
    assert g.n == 73 and g.m == 149 and g.stored_order is None
    assert g.memory[3] == raw["nodes"][3]["cost_ram"] and g.duration[3] == raw["nodes"][3]["cost_cpu"]
    assert g.labels[0] == raw["nodes"][0]["name"]


@pytest.mark.parametrize("name", ["rl1", "rl2", "cm1", "cm2"])
def test_paper_files_round_trip_through_native(name, tmp_path):
    g = paper_graph(name)
    out = tmp_path / "g.json"
    assert run_cli("graphs", "export", name, "-o", out).returncode == 0
    _same(g, read_graph_file(out))
