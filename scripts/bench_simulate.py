#!/usr/bin/env python
"""Simulator speed: a 10,000-step schedule on the paper's 1000-node graph (RL4), or on its
generated stand-in when the file is absent; prints the median of repeated calls.

    python scripts/bench_simulate.py                 # RL4, 10,000 steps, 50 repeats
    python scripts/bench_simulate.py --graph rl2 --steps 2000

The schedule is the stored order followed by recomputations of random nodes, each placed
just before a random later reader (so every step is valid and many copies are live).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def schedule_with_recomputations(graph, steps: int, seed: int):
    """The reference order plus recomputations of random nodes, each placed just before one
    of its readers: valid, since the node's inputs were computed before its first copy."""
    import numpy as np

    from moccasin_bench.orders import reference_order

    rng = np.random.default_rng(seed)
    order = np.asarray(reference_order(graph, "default"), dtype=np.int64)
    position = np.empty(graph.n, dtype=np.float64)
    position[order] = np.arange(graph.n)
    keys, nodes = list(position[order]), list(order)
    while len(nodes) < steps:
        v = int(rng.integers(graph.n))
        readers = graph.successors(v)
        if len(readers):
            keys.append(position[int(readers[rng.integers(len(readers))])] - 0.5)
            nodes.append(v)
    return np.asarray(nodes, dtype=np.int64)[np.argsort(keys, kind="stable")][:steps]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default="rl4")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from moccasin_bench.simulate import simulate
    from moccasin_bench.sources import find_paper_file, load_graph

    name = (
        args.graph
        if find_paper_file(args.graph) is not None or not args.graph.startswith(("rl", "cm"))
        else f"{args.graph}-gen"
    )
    graph = load_graph(name)
    schedule = schedule_with_recomputations(graph, args.steps, args.seed)
    result = simulate(graph, schedule)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        simulate(graph, schedule)
        times.append(time.perf_counter() - t0)
    print(
        f"{name}: n={graph.n}, {len(schedule):,} steps, valid={result.valid}, peak={result.peak_memory:,}: "
        f"median {1e3 * statistics.median(times):.2f} ms, min {1e3 * min(times):.2f} ms over {args.repeats} calls"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
