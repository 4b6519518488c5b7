"""Remake the PyTorch catalogue (graphs/catalogue/*.json.gz) and its table in docs/pytorch.md.

    python scripts/build_pytorch_catalogue.py            # every graph, one at a time
    python scripts/build_pytorch_catalogue.py pt-gpt     # some of them

Each graph is made by its `moccasin-bench graphs extract` command (graphs/catalog.py),
run in a fresh process; the table (nodes, edges, fixed bytes, peak of the stored order,
extraction seconds, command) replaces the block between the CATALOGUE markers of
docs/pytorch.md. Needs torch; the FLOP cost model makes the files deterministic.
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


def table() -> str:
    rows = [
        "| graph | model | nodes | edges | fixed bytes | peak, stored order (schedulable) | extraction | command |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for entry in PYTORCH_GRAPHS.values():
        path = CATALOGUE_DIR / entry.filename
        if not path.is_file():
            continue
        g = read_graph_file(path)
        peak = reference_peak(g, "stored")
        rows.append(
            f"| `{entry.name}` | {entry.description} | {g.n:,} | {g.m:,} | {g.fixed_bytes:,} ({human_bytes(g.fixed_bytes)}) | "
            f"{peak:,} ({human_bytes(peak)}) | {g.source['extraction_seconds']} s | `{entry.command()}` |"
        )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    names = argv or list(PYTORCH_GRAPHS)
    unknown = [n for n in names if n not in PYTORCH_GRAPHS]
    if unknown:
        print(f"unknown catalogue graphs: {', '.join(unknown)}", file=sys.stderr)
        return 2
    build(names)
    text = DOC.read_text() if DOC.is_file() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
