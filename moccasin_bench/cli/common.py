"""Argument helpers shared by the verbs."""

from __future__ import annotations

import argparse



def add_graph_argument(parser: argparse.ArgumentParser, help_text: str = "a graph file, a registered name (see `graphs list`) or FAMILY:key=value,...") -> None:
    parser.add_argument("graph", metavar="GRAPH", help=help_text)
    parser.add_argument("--data-dir", metavar="DIR", help="where the paper's graph files are (default: $MOCCASIN_BENCH_DATA, then ../shared/paper-graphs)")
