"""`moccasin-bench graphs list | info | generate | export | download | extract`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from moccasin_bench.cli.common import add_graph_argument, human_bytes, memory_figure
from moccasin_bench.errors import UserError
from moccasin_bench.jsonio import write_json
from moccasin_bench.sources import DATA_DIR_HELP

if TYPE_CHECKING:
    from moccasin_bench.graph import Graph

HELP = "list, inspect, generate and export graphs"
EPILOG = """examples:
  moccasin-bench graphs list
  moccasin-bench graphs info rl1                    # the paper's RL1 (needs its file)
  moccasin-bench graphs info path/to/graph.json --json
  moccasin-bench graphs generate random-layered n=100 w=0.27 seed=3 -o rl100.json
  moccasin-bench graphs generate unet depth=4 -o unet.json
  moccasin-bench graphs export "ResNet50.json" -o resnet50.native.json
  moccasin-bench graphs download                    # the paper's files (GPL-3.0) into the user data directory
  moccasin-bench graphs extract graphs.pytorch.models:resnet18 --batch 32 -o resnet18.json.gz"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="graphs_verb", metavar="ACTION")
    sub.required = True
    p = sub.add_parser(
        "list",
        help="registered graphs and generator families",
        description="Registered graphs (the paper's files and generated presets) and generator families with their parameters.",
    )
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    p.set_defaults(_action=_list)

    p = sub.add_parser(
        "info",
        help="sizes, minimum feasible budget and reference-order peaks of a graph",
        epilog="examples:\n  moccasin-bench graphs info rl2\n  moccasin-bench graphs info my_graph.json --json",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    add_graph_argument(p)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.set_defaults(_action=_info)

    p = sub.add_parser(
        "generate",
        help="generate a graph from a family",
        epilog="examples:\n  moccasin-bench graphs generate random-layered n=250 w=0.43 seed=1 -o rl250.json\n  moccasin-bench graphs generate linear layers=16 -o linear16.json --format node-link",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("family", metavar="FAMILY", help="a generator family (see `graphs list`)")
    p.add_argument("params", metavar="KEY=VALUE", nargs="*", help="family parameters")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the graph (JSON)")
    p.add_argument("--format", choices=("native", "node-link"), default="native", help="file format (default: native)")
    p.set_defaults(_action=_generate)

    p = sub.add_parser(
        "export",
        help="write any readable graph in the project's own JSON format (or node-link)",
        epilog="example:\n  moccasin-bench graphs export rl1 -o rl1.native.json",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    add_graph_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--format", choices=("native", "node-link"), default="native")
    p.set_defaults(_action=_export)

    p = sub.add_parser(
        "download",
        help="fetch the paper's graph files (GPL-3.0) into the user data directory, each checked by SHA-256",
        description="Fetch the paper's graph files from the authors' repository (github.com/haoming-codes/moccasin, "
        "folder data/; the data are licensed GPL-3.0), check each against the SHA-256 recorded in this project, "
        "and write them atomically. Files already present and valid are skipped.",
        epilog="""Without --to, the files go to the user data directory, where every command looks for them.
Exit status: 0 done; 2 a file does not match its recorded SHA-256 (nothing of it written) or
cannot be written; 75 the source cannot be reached (the files fetched so far are kept).

examples:
  moccasin-bench graphs download
  moccasin-bench graphs download --to ~/moccasin/data
  moccasin-bench graphs download --from file:///mnt/mirror/moccasin-data/""",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("--to", metavar="DIR", help="where to put the files (default: the user data directory)")
    p.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="another location serving the same files (https://, http:// or file://; default: the authors' repository)",
    )
    p.set_defaults(_action=_download)

    p = sub.add_parser(
        "extract",
        help="the training-step graph of a PyTorch model (needs torch)",
        description="Trace one training step (forward, loss, backward) of the model MODULE:FACTORY returns "
        "and write its graph: one node per op (views folded), output bytes as memory, parameters, "
        "buffers, batch, step outputs and optimizer state as fixed bytes. See docs/pytorch.md.",
        epilog="""MODULE:FACTORY is an importable callable (the working directory is importable). It returns
the model, or (model, inputs[, targets], loss), or a dict with keys model, inputs,
targets, loss; it receives batch=N / input_shape=(...) when given and accepted.

examples:
  moccasin-bench graphs extract graphs.pytorch.models:resnet18 --batch 32 -o resnet18.json.gz
  moccasin-bench graphs extract mymodels:make_net --input-shape 3,64,64 --batch 16 -o net.json
  moccasin-bench graphs extract mymodels:make_net --costs profile --profile-runs 5 -o net.json""",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "factory",
        metavar="MODULE:FACTORY",
        help="an importable callable returning the model (and optionally inputs, targets, loss)",
    )
    p.add_argument(
        "--batch",
        type=int,
        metavar="N",
        help="batch size, passed to the factory as batch=N (or used with --input-shape)",
    )
    p.add_argument(
        "--input-shape",
        metavar="D,D,...",
        help="shape of one example without the batch dimension, e.g. 3,224,224 (for a factory that returns only the model)",
    )
    p.add_argument(
        "--costs",
        choices=("flops", "profile"),
        default="flops",
        help="durations: flops = FLOP count / bandwidth model, deterministic (default); profile = median measured CPU time",
    )
    p.add_argument(
        "--profile-runs", type=int, default=5, metavar="K", help="timed runs for --costs profile (default 5)"
    )
    p.add_argument(
        "--optimizer",
        choices=("adam", "momentum", "sgd"),
        default="adam",
        help="optimizer whose state counts as fixed bytes: adam 2x, momentum 1x, sgd 0x the trained parameters (default adam)",
    )
    p.add_argument("--threads", type=int, default=1, metavar="T", help="torch CPU threads (default 1)")
    p.add_argument("--name", metavar="NAME", help="graph name (default: the factory's name)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write the graph (native JSON; .json.gz compresses)",
    )
    p.set_defaults(_action=_extract)


def run(args: argparse.Namespace) -> int:
    return args._action(args)


def _list(args: argparse.Namespace) -> int:
    from moccasin_bench.catalog import PAPER_GRAPHS, PRESETS, PYTORCH_GRAPHS
    from moccasin_bench.params import describe_params
    from moccasin_bench.sources import _registry, describe_search, find_paper_file, generator_module

    print("The paper's graphs (files from github.com/haoming-codes/moccasin, folder data/, GPL-3.0):")
    missing = 0
    for g in PAPER_GRAPHS.values():
        where = find_paper_file(g.name, args.data_dir)
        missing += where is None
        print(f"  {g.name:<18} {g.description}  [{'found: ' + str(where) if where else 'file not found'}]")
    if missing:
        print(f"  (looked at: {describe_search(args.data_dir)}; `moccasin-bench graphs download` fetches them)")
    print("\nGenerated presets (always available):")
    for p in PRESETS.values():
        params = ",".join(f"{k}={v}" for k, v in p.params.items())
        print(f"  {p.name:<18} {p.description}  ({p.family}:{params})")
    print(
        "\nPyTorch training steps (graphs/catalogue, extracted by `graphs extract`; memory in bytes, fixed bytes apart):"
    )
    for c in PYTORCH_GRAPHS.values():
        print(f"  {c.name:<18} {c.description}")
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


def _download(args: argparse.Namespace) -> int:
    from pathlib import Path

    from moccasin_bench.download import FILES, LICENCE, SOURCE_NAME, SOURCE_URL, download
    from moccasin_bench.sources import DATA_ENV, data_dirs, user_data_dir

    to_dir = Path(args.to).expanduser().resolve() if args.to else user_data_dir()
    source = args.source or SOURCE_URL
    print(
        f"The paper's {len(FILES)} graph files are the authors' ({SOURCE_NAME}), licensed {LICENCE}: "
        f"they are not part of this project. Fetching from {source} into {to_dir}:"
    )
    counts = download(to_dir, source)
    print(f"done: {counts['fetched']} fetched, {counts['present']} already present and valid, in {to_dir}.")
    if all(d.path != to_dir for d in data_dirs()):
        print(f"Commands look there only when told: pass --data-dir {to_dir} or set {DATA_ENV}={to_dir}.")
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
    source = graph.source or {}
    return {
        "name": graph.name,
        "origin": graph.origin,
        "hash": graph.content_hash,
        "nodes": graph.n,
        "edges": graph.m,
        "fixed_bytes": graph.fixed_bytes,
        "fixed_breakdown": source.get("fixed"),
        "peaks_include_fixed_bytes": False,
        "cost_model": source.get("costs"),
        "made_by": source.get("command"),
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
    print(
        f"  sum of durations {info['sum_duration']:,}   sum of memory {info['sum_memory']:,}   largest node {info['max_memory']:,}"
    )
    print(f"  minimum feasible budget {info['min_feasible_budget']:,} (largest node plus its inputs; a lower bound)")
    fixed = info["fixed_bytes"]
    for name, peak in info["peaks"].items():
        mark = "  <- default reference" if name == info["default_reference_order"] else ""
        print(f"  peak without recomputation, {name} order: {memory_figure(peak, fixed)}{mark}")
    if fixed:
        parts = info["fixed_breakdown"] or {}
        detail = ", ".join(
            f"{k.replace('_', ' ')} {human_bytes(v)}" for k, v in parts.items() if isinstance(v, int) and k != "total"
        )
        extra = (
            f" ({detail}; optimizer {parts['optimizer']})"
            if detail and parts.get("optimizer")
            else f" ({detail})"
            if detail
            else ""
        )
        print(
            f"  fixed bytes {fixed:,} = {human_bytes(fixed)} resident for the whole step, outside the schedulable graph{extra}"
        )
        print("  budgets (--budget F) are fractions of the schedulable peak; the fixed bytes come on top of any budget")
    if info["cost_model"]:
        c = info["cost_model"]
        print(f"  durations: {c.get('model')} model, unit {c.get('unit')}")
    if info["made_by"]:
        print(f"  made by: {info['made_by']}")
    if info["duplicate_edges_merged"]:
        print(f"  note: {info['duplicate_edges_merged']} duplicate edges were merged")
    return 0


def write_graph(graph: Graph, path: str, fmt: str) -> None:
    """Write a graph as native JSON or networkx node-link JSON."""
    if fmt == "native":
        from moccasin_bench.native import to_data

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


def _extract(args: argparse.Namespace) -> int:
    import shlex

    from graphs.pytorch.build import extract
    from moccasin_bench.cli.execute import parse_shape
    from moccasin_bench.native import write

    if args.threads < 1 or args.profile_runs < 1:
        raise UserError("--threads and --profile-runs must be at least 1")
    words = ["moccasin-bench", "graphs", "extract", args.factory]
    for flag, value in (
        ("--batch", args.batch),
        ("--input-shape", args.input_shape),
        ("--costs", args.costs),
        ("--profile-runs", args.profile_runs if args.costs == "profile" else None),
        ("--optimizer", args.optimizer),
        ("--name", args.name),
        ("-o", args.output),
    ):
        if value is not None:
            words += [flag, str(value)]
    command = " ".join(shlex.quote(w) for w in words)
    graph = extract(
        args.factory,
        batch=args.batch,
        input_shape=parse_shape(args.input_shape),
        costs=args.costs,
        optimizer=args.optimizer,
        profile_runs=args.profile_runs,
        threads=args.threads,
        name=args.name,
        command=command,
    )
    try:
        write(graph, args.output)
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror or exc}", args.output) from None
    print(
        f"wrote {args.output}: {graph.name}, {graph.n} nodes, {graph.m} edges, fixed {human_bytes(graph.fixed_bytes)}, "
        f"{graph.source['extraction_seconds']} s",
        file=sys.stderr,
    )
    return 0
