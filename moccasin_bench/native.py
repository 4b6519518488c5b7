"""The project's own graph JSON (documented in docs/graphs.md), and export to it.

{"format": "moccasin-bench-graph", "version": 1, "name": "...",
 "nodes": [{"id": 0, "duration": 5, "memory": 100, "label": "conv1"}, ...],
 "edges": [[0, 1], ...],
 "order": [0, 1, ...],          # optional stored order
 "fixed_bytes": 0,              # optional: resident bytes outside the graph (default 0)
 "source": {...}}               # optional: free-form provenance (how the graph was made)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moccasin_bench.errors import GraphError
from moccasin_bench.graph import Graph

FORMAT = "native"
MAGIC = "moccasin-bench-graph"
VERSION = 1


def sniff(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == MAGIC


def parse(data: dict, name: str, origin: str = "") -> Graph:
    if data.get("version") != VERSION:
        raise GraphError(f"unsupported {MAGIC} version {data.get('version')!r} (this release reads version {VERSION})")
    nodes = data.get("nodes")
    edges = data.get("edges", [])
    if not isinstance(nodes, list):
        raise GraphError("'nodes' must be a list")
    if not isinstance(edges, list):
        raise GraphError("'edges' must be a list of [source, target] pairs")
    for i, nd in enumerate(nodes):
        if not isinstance(nd, dict):
            raise GraphError(f"node at position {i} is not an object: {nd!r}")
        if "id" not in nd:
            raise GraphError(f"node at position {i} has no 'id'")
    labels = [str(nd.get("label", nd["id"])) for nd in nodes] if any("label" in nd for nd in nodes) else None
    if not isinstance(data.get("name", ""), (str, type(None))):
        raise GraphError(f"'name' must be a string, got {data['name']!r:.60}")
    source = data.get("source")
    if source is not None and not isinstance(source, dict):
        raise GraphError("'source' must be an object (the graph's provenance)")
    return Graph.build(
        name=str(data.get("name") or name),
        node_ids=[nd["id"] for nd in nodes],
        duration=[nd.get("duration") for nd in nodes],
        memory=[nd.get("memory") for nd in nodes],
        edges=[tuple(e) if isinstance(e, list) else e for e in edges],
        stored_order=data.get("order"),
        origin=origin,
        labels=labels,
        fixed_bytes=data.get("fixed_bytes", 0),
        source=source,
    )


def to_data(graph: Graph) -> dict:
    """The graph as a native JSON document (node ids, sizes, edges and stored order kept)."""
    nodes = []
    for i, v in enumerate(graph.node_ids):
        nd = {"id": v, "duration": int(graph.duration[i]), "memory": int(graph.memory[i])}
        if graph.labels is not None:
            nd["label"] = graph.labels[i]
        nodes.append(nd)
    data = {
        "format": MAGIC,
        "version": VERSION,
        "name": graph.name,
        "nodes": nodes,
        "edges": [[graph.node_ids[a], graph.node_ids[b]] for a, b in graph.edges.tolist()],
    }
    if graph.stored_order is not None:
        data["order"] = graph.to_ids(graph.stored_order)
    if graph.fixed_bytes:
        data["fixed_bytes"] = graph.fixed_bytes
    if graph.source is not None:
        data["source"] = graph.source
    return data


def write(graph: Graph, path: str | Path) -> None:
    """Write the graph; a path ending in .gz is gzip-compressed (reproducibly: no timestamp)."""
    text = json.dumps(to_data(graph), separators=(",", ":")) + "\n"
    if str(path).endswith(".gz"):
        import gzip

        Path(path).write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    else:
        Path(path).write_text(text)
