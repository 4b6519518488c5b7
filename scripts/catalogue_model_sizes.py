"""Model size on the PyTorch catalogue's real training graphs: each formulation's model built,
not solved, at 90 % of the stored order's peak (the same measurement as the scaling grid's size
series, on real graphs instead of random layered ones).

    python scripts/catalogue_model_sizes.py                       # all pt-* graphs, caps 4 GiB / 60 s
    python scripts/catalogue_model_sizes.py -o sizes.csv --memory-cap 8G --seconds-cap 600

Rows are appended to the CSV as builds finish (re-running resumes); the table is printed as
markdown. Builds run in isolated children, one at a time; build seconds depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.scaling import BUILT
from moccasin_bench.errors import UserError
from moccasin_bench.model_sizes import SizeSeries, load_sizes, measure
from moccasin_bench.runner.limits import parse_memory_limit
from moccasin_bench.sources import load_graph


def catalogue_graphs() -> list[str]:
    """The pt-* graphs, smallest first (a build that fails is not tried on larger ones)."""
    from moccasin_bench.catalog import PYTORCH_GRAPHS

    return sorted(PYTORCH_GRAPHS, key=lambda name: load_graph(name).n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="catalogue_model_sizes.csv", help="CSV to write (appended, resumable)")
    ap.add_argument("--memory-cap", default="4G", help="address-space cap per build (default 4G)")
    ap.add_argument("--seconds-cap", type=float, default=60.0, help="time cap per build (default 60)")
    args = ap.parse_args()
    try:
        series = SizeSeries(
            graphs=tuple(catalogue_graphs()),
            methods=BUILT,
            budget_fraction=0.9,
            memory_cap_bytes=parse_memory_limit(args.memory_cap, "--memory-cap"),
            seconds_cap=args.seconds_cap,
        )
        measure(series, Path(args.output))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    df = load_sizes(args.output)
    print("| graph | n | method | status | variables | constraints | nonzeros | build s | builder peak MiB |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|")
    for _, r in df.sort_values(["nodes", "method"]).iterrows():
        built = r["status"] == "built"
        cells = [f"{int(r[c]):,}" if built and r[c] == r[c] else "" for c in ("variables", "constraints", "nonzeros")]
        secs = f"{r['build_seconds']:.2f}" if built else ""
        mib = f"{r['peak_rss_bytes'] / 2**20:,.0f}" if built and r["peak_rss_bytes"] == r["peak_rss_bytes"] else ""
        print(
            f"| {r['graph']} | {int(r['nodes'])} | {r['method']} | {r['status']} | {' | '.join(cells)} | {secs} | {mib} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
