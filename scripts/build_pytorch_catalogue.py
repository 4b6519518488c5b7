"""Remake the PyTorch catalogue (graphs/catalogue/*.json.gz) and its table in docs/pytorch.md.

    python scripts/build_pytorch_catalogue.py            # every graph, one at a time
    python scripts/build_pytorch_catalogue.py pt-gpt     # some of them
    python scripts/build_pytorch_catalogue.py --tables   # only the tables, from the files shipped

Each graph is made by its `moccasin-bench graphs extract` command (its declaration in
moccasin_bench/catalog.py), run in a fresh process; the tables (nodes, edges, fixed bytes,
peak of the stored order, extraction seconds, command) replace the blocks between the
CATALOGUE markers of docs/pytorch.md (tests/test_generators.py checks it is current). Needs torch to extract; the FLOP cost model makes the files deterministic.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moccasin_bench.budget import reference_peak  # noqa: E402
from moccasin_bench.catalog import CATALOGUE_DIR, PYTORCH_GRAPHS  # noqa: E402
from moccasin_bench.cli.common import human_bytes  # noqa: E402
from moccasin_bench.sources import read_graph_file  # noqa: E402

DOC = ROOT / "docs" / "pytorch.md"
BEGIN, END = "<!-- CATALOGUE:BEGIN -->", "<!-- CATALOGUE:END -->"


def build(names: list[str]) -> None:
    CATALOGUE_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        entry = PYTORCH_GRAPHS[name]
        words = shlex.split(entry.command())
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "moccasin_bench.cli", *words[1:]], cwd=ROOT, check=True)
        print(f"{name}: {time.perf_counter() - t0:.1f} s wall", file=sys.stderr)


def _shipped():
    """(declaration, graph, peak of the stored order) of every catalogue graph whose file is shipped."""
    for entry in PYTORCH_GRAPHS.values():
        path = CATALOGUE_DIR / entry.filename
        if path.is_file():
            g = read_graph_file(path)
            yield entry, g, reference_peak(g, "stored")


def table() -> str:
    """docs/pytorch.md's table: exact figures and the full command."""
    rows = [
        "| graph | model | nodes | edges | fixed bytes | peak, stored order (schedulable) | extraction | command |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for entry, g, peak in _shipped():
        rows.append(
            f"| `{entry.name}` | {entry.description} | {g.n:,} | {g.m:,} | {g.fixed_bytes:,} ({human_bytes(g.fixed_bytes)}) | "
            f"{peak:,} ({human_bytes(peak)}) | {g.source['extraction_seconds']} s | `{entry.command()}` |"
        )
    return "\n".join(rows)


def replace_block(text: str, block: str) -> str:
    """`text` with the part between the CATALOGUE markers replaced by `block`."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def write_tables() -> None:
    for path, block in ((DOC, table()),):  # the README links to docs/pytorch.md, which holds the table
        text = path.read_text() if path.is_file() else f"{BEGIN}\n{END}\n"
        path.write_text(replace_block(text, block))


def main(argv: list[str]) -> int:
    if argv == ["--tables"]:
        write_tables()
        return 0
    names = argv or list(PYTORCH_GRAPHS)
    unknown = [n for n in names if n not in PYTORCH_GRAPHS]
    if unknown:
        print(f"unknown catalogue graphs: {', '.join(unknown)}", file=sys.stderr)
        return 2
    build(names)
    write_tables()
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
