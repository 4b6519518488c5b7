"""`moccasin-bench graphs list | info | generate | export`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from moccasin_bench.cli.common import add_graph_argument
from moccasin_bench.jsonio import write_json
from moccasin_bench.errors import UserError

if TYPE_CHECKING:
    from moccasin_bench.graph import Graph

HELP = "list, inspect, generate and export graphs"
EPILOG = """examples:
  moccasin-bench graphs list
  moccasin-bench graphs info rl1                    # the paper's RL1 (needs its file)
  moccasin-bench graphs info path/to/graph.json --json
  moccasin-bench graphs generate random-layered n=100 w=0.27 seed=3 -o rl100.json
  moccasin-bench graphs generate unet depth=4 -o unet.json
  moccasin-bench graphs export "ResNet50.json" -o resnet50.native.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="graphs_verb", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("list", help="registered graphs and generator families",
                       description="Registered graphs (the paper's files and generated presets) and generator families with their parameters.")
    p.add_argument("--data-dir", metavar="DIR", help="where the paper's graph files are")
    p.set_defaults(_action=_list)

    p = sub.add_parser("info", help="sizes, minimum feasible budget and reference-order peaks of a graph",
                       epilog="examples:\n  moccasin-bench graphs info rl2\n  moccasin-bench graphs info my_graph.json --json",
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_graph_argument(p)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.set_defaults(_action=_info)

    p = sub.add_parser("generate", help="generate a graph from a family",
                       epilog="examples:\n  moccasin-bench graphs generate random-layered n=250 w=0.43 seed=1 -o rl250.json\n  moccasin-bench graphs generate linear layers=16 -o linear16.json --format node-link",
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("family", metavar="FAMILY", help="a generator family (see `graphs list`)")
    p.add_argument("params", metavar="KEY=VALUE", nargs="*", help="family parameters")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the graph (JSON)")
    p.add_argument("--format", choices=("native", "node-link"), default="native", help="file format (default: native)")
    p.set_defaults(_action=_generate)

    p = sub.add_parser("export", help="write any readable graph in the project's own JSON format (or node-link)",
                       epilog="example:\n  moccasin-bench graphs export rl1 -o rl1.native.json",
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_graph_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--format", choices=("native", "node-link"), default="native")
    p.set_defaults(_action=_export)


def run(args: argparse.Namespace) -> int:
    return args._action(args)


def _list(args: argparse.Namespace) -> int:
    from graphs.catalog import PAPER_GRAPHS, PRESETS

    from moccasin_bench.params import describe_params
    from moccasin_bench.sources import find_paper_file, generator_module, _registry

    print("The paper's graphs (files from github.com/haoming-codes/moccasin, folder data/):")
    for g in PAPER_GRAPHS.values():
        where = find_paper_file(g.name, args.data_dir)
        print(f"  {g.name:<18} {g.description}  [{'found: ' + str(where) if where else 'file not found'}]")
    print("\nGenerated presets (always available):")
    for p in PRESETS.values():
        params = ",".join(f"{k}={v}" for k, v in p.params.items())
        print(f"  {p.name:<18} {p.description}  ({p.family}:{params})")
    print("\nGenerator families (use as FAMILY:key=value,... wherever a GRAPH is expected):")
    for family in _registry().GENERATORS:
        try:
            module = generator_module(family)
        except ImportError as exc:  # a family under construction should not hide the others
            print(f"  {family:<18} (unavailable: {exc})")
            continue
        print(f"  {family:<18} {module.DESCRIPTION}")
        print(describe_params(module.PARAMS).replace("\n  ", "\n      ").replace("  ", "      ", 1))
    return 0


def graph_info(graph: Graph) -> dict:
    """The facts `graphs info` prints."""
    from moccasin_bench.budget import reference_peak
    from moccasin_bench.orders import REFERENCE_ORDERS, default_order_name

    peaks = {}
    for name in REFERENCE_ORDERS:
        if name == "stored" and graph.stored_order is None:
            continue
        peaks[name] = reference_peak(graph, name)
    return {
        "name": graph.name,
        "origin": graph.origin,
        "hash": graph.content_hash,
        "nodes": graph.n,
        "edges": graph.m,
        "sum_duration": graph.sum_duration,
        "sum_memory": graph.sum_memory,
        "max_memory": int(graph.memory.max()),
        "min_feasible_budget": graph.min_feasible_budget,
        "has_stored_order": graph.stored_order is not None,
        "default_reference_order": default_order_name(graph),
        "peaks": peaks,
        "max_in_degree": int(graph.in_degree.max()),
        "max_out_degree": int(graph.out_degree.max()),
        "duplicate_edges_merged": graph.duplicate_edges_merged,
    }


def _info(args: argparse.Namespace) -> int:
    from moccasin_bench.sources import load_graph

    info = graph_info(load_graph(args.graph, args.data_dir))
    if args.json:
        write_json(info, None)
        return 0
    print(f"{info['name']}  ({info['origin']})")
    print(f"  nodes {info['nodes']:,}   edges {info['edges']:,}   hash {info['hash']}")
    print(f"  sum of durations {info['sum_duration']:,}   sum of memory {info['sum_memory']:,}   largest node {info['max_memory']:,}")
    print(f"  minimum feasible budget {info['min_feasible_budget']:,} (largest node plus its inputs; a lower bound)")
    for name, peak in info["peaks"].items():
        mark = "  <- default reference" if name == info["default_reference_order"] else ""
        print(f"  peak without recomputation, {name} order: {peak:,}{mark}")
    if info["duplicate_edges_merged"]:
        print(f"  note: {info['duplicate_edges_merged']} duplicate edges were merged")
    return 0


def write_graph(graph: Graph, path: str, fmt: str) -> None:
    """Write a graph as native JSON or networkx node-link JSON."""
    if fmt == "native":
        from graphs.native import to_data

        write_json(to_data(graph), path)
        return
    import networkx as nx

    g = graph.to_networkx()
    if graph.stored_order is not None:
        g.graph["order"] = graph.to_ids(graph.stored_order)
    write_json(nx.node_link_data(g, edges="links"), path)


def _generate(args: argparse.Namespace) -> int:
    from moccasin_bench.params import split_assignments
    from moccasin_bench.sources import generate

    graph = generate(args.family, split_assignments(args.params))
    write_graph(graph, args.output, args.format)
    print(f"wrote {args.output}: {graph.name}, {graph.n} nodes, {graph.m} edges", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from moccasin_bench.sources import load_graph

    graph = load_graph(args.graph, args.data_dir)
    write_graph(graph, args.output, args.format)
    print(f"wrote {args.output}: {graph.name}, {graph.n} nodes, {graph.m} edges", file=sys.stderr)
    return 0
