"""Argument helpers shared by the verbs."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

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


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """--trust-factory: the user's permission to import and call a factory a graph file names."""
    parser.add_argument(
        "--trust-factory",
        action="append",
        default=[],
        metavar="MODULE:FACTORY",
        help="a PyTorch graph file may make this factory be imported and called (repeatable; "
        "the catalogue's own are always allowed; see docs/security.md)",
    )


def apply_trust(specs: list[str] | None) -> None:
    """Record the factories named with --trust-factory (child runs inherit them)."""
    if specs:
        from graphs.pytorch.trust import trust

        trust(specs)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While inside, whatever is written to stdout (print, and C code writing to fd 1: a
    user's model factory, a solver) goes to stderr, so that a command's stdout holds only
    the document it writes afterwards (one JSON object)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 (closed): Python-level redirection only
        saved = None
    if saved is not None:
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):  # C stdio buffers too, before fd 1 is given back
            import ctypes

            ctypes.CDLL(None).fflush(None)
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
