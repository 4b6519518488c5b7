"""networkx node-link JSON, in both dialects of the paper's data.

- Checkmate graphs: nodes with `id`, `cost_cpu` (duration), `cost_ram` (memory);
  links keyed `source`/`target`.
- Random layered graphs: nodes without `id` (id = position in the node list),
  `duration`, `out_cost` (memory); links keyed `"0"`/`"1"`; `graph.order` is the stored order.
A file written by networkx's `node_link_data` with `duration`/`memory` attributes loads too.
"""

from __future__ import annotations

from typing import Any

from moccasin_bench.errors import GraphError
from moccasin_bench.graph import Graph

FORMAT = "node-link"
DURATION_KEYS = ("duration", "cost_cpu")
MEMORY_KEYS = ("memory", "out_cost", "cost_ram")
EDGE_KEY_PAIRS = (("source", "target"), ("0", "1"))


def sniff(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and ("links" in data or "edges" in data)


def _pick_key(nodes: list, keys: tuple[str, ...], what: str) -> str:
    for key in keys:
        if any(isinstance(nd, dict) and key in nd for nd in nodes):
            return key
    raise GraphError(f"no node has a {what} attribute (looked for {', '.join(repr(k) for k in keys)})")


def parse(data: dict, name: str, origin: str = "") -> Graph:
    nodes = data["nodes"]
    links = data.get("links", data.get("edges"))
    if not isinstance(links, list):
        raise GraphError("'links' must be a list")
    if not nodes:
        raise GraphError("the graph is empty (no nodes)")
    for i, nd in enumerate(nodes):
        if not isinstance(nd, dict):
            raise GraphError(f"node at position {i} is not an object: {nd!r}")
    dkey = _pick_key(nodes, DURATION_KEYS, "duration")
    mkey = _pick_key(nodes, MEMORY_KEYS, "memory")
    ids = [nd.get("id", i) for i, nd in enumerate(nodes)]

    ekeys = None
    if links:
        first = links[0]
        ekeys = next((p for p in EDGE_KEY_PAIRS if isinstance(first, dict) and p[0] in first and p[1] in first), None)
        if ekeys is None:
            raise GraphError(f"cannot read link 0: expected keys 'source'/'target' or '0'/'1', got {first!r}")
    edges = []
    for k, link in enumerate(links):
        if not isinstance(link, dict) or ekeys[0] not in link or ekeys[1] not in link:
            raise GraphError(f"link {k} lacks {ekeys[0]!r}/{ekeys[1]!r}: {link!r}")
        edges.append((link[ekeys[0]], link[ekeys[1]]))

    graph_attrs = data.get("graph") if isinstance(data.get("graph"), dict) else {}
    order = graph_attrs.get("order")
    if order is not None and not isinstance(order, list):
        raise GraphError("graph.order must be a list of node ids")
    labels = None
    if all("name" in nd for nd in nodes):
        labels = [str(nd["name"]) for nd in nodes]
    return Graph.build(
        name=str(graph_attrs.get("name") or name),
        node_ids=ids,
        duration=[nd.get(dkey) for nd in nodes],
        memory=[nd.get(mkey) for nd in nodes],
        edges=edges,
        stored_order=order,
        origin=origin,
        labels=labels,
    )
