"""Argument helpers shared by the verbs."""

from __future__ import annotations

import argparse

from moccasin_bench.sources import DATA_DIR_HELP


def add_graph_argument(
    parser: argparse.ArgumentParser,
    help_text: str = "a graph file, a registered name (see `graphs list`) or FAMILY:key=value,...",
) -> None:
    parser.add_argument("graph", metavar="GRAPH", help=help_text)
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=DATA_DIR_HELP,
    )


def human_bytes(n: int | float) -> str:
    """1536 -> '1.5 KiB': binary units, one decimal."""
    n = float(n)
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def memory_figure(schedulable: int, fixed: int) -> str:
    """A peak with what it includes: '1.2 GiB schedulable + 45.0 MiB fixed = 1.3 GiB' (no fixed bytes: bytes only)."""
    if not fixed:
        return f"{schedulable:,}"
    return f"{schedulable:,} schedulable ({human_bytes(schedulable)}) + {human_bytes(fixed)} fixed = {human_bytes(schedulable + fixed)}"
