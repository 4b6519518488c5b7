"""Random layered graphs: synthetic NN-like DAGs, as in the Moccasin paper's RL1-RL4.

The construction follows Appendix A of Gagrani et al., "Neural Topological Ordering for
Computation Graphs" (NeurIPS 2022), with the parameters that the paper's file names
carry (`random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json`). Where the appendix
leaves a detail open, the choice below was read off the four published files:

- `n` counts every node: a source (id 0) that feeds each node of the first inner layer
  and a sink (id 1) fed by each node of the last one, both of duration 0; inner nodes
  get ids 2..n-1, layer by layer.
- Inner layer sizes: with N = n - 2 and L = ceil(sqrt(n (1/w - 1))), sizes are
  floor(U[N/L (1 - nlv), N/L (1 + nlv)]) (at least 1), drawn until they reach N; the
  last layer is cut to make the total exactly N. The files have 19/22/31/49 inner layers
  for L = 17/19/30/48; this rule gives about 19/20/31/50 on average.
- Between consecutive layers of sizes a and b (source and sink included):
  round(ed a b + (1 - ed) max(a, b)) edges, spread evenly over the larger layer (each of
  its nodes gets the quotient, randomly chosen ones one more), each node of the larger
  layer linking to a contiguous run of the smaller layer centred on its proportional
  position. This reproduces every layer-to-layer edge count in the files exactly, and
  leaves no inner node without an input or an output.
- Skip edges: ceil(E scd / (1 - scd)) draws, E = number of layer-to-layer edges; each
  picks an inner layer s uniformly among those with a layer two further on, a target
  layer uniformly in s+2..last, x and y uniform in [0, 1), and links the nodes at
  relative positions x and min(x + 0.2 y, 0.999). Repeated pairs are merged, as the
  files' counts (33 of 34, 129 of 133, 331 of 347, 813 of 825) show.
- Durations of inner nodes: integers uniform in [1, 1000).
- Memory (`out_cost`, every node including source and sink): the appendix gives no law,
  so one was fitted to the 1,850 values of the four files (multiples of 10 from 10 to
  8,180; mean 1,988, median 1,495, sd 1,606; the histogram is flat up to about 1,300 and
  then falls off roughly linearly to ~7,500, so a single gamma, Weibull, lognormal or
  beta leaves a Kolmogorov-Smirnov distance of 0.033-0.05). Chosen: a two-part mixture,
  with probability 1/4 a "small tensor" U[0, 1300), else 8000 x Beta(1.3, 3.0), rounded
  to a multiple of 10 (at least 10). Its mean is 1,983, median 1,460, sd 1,597, 99th
  percentile 6,380, and the largest of 1,000 draws is about 7,300 (files: 6,150-8,180);
  KS distance to the pooled file values 0.014 (the 5 % critical value is 0.032).
- Stored order: a uniformly random topological order (repeatedly pick a uniformly
  random ready node); on the files' own graphs such orders peak where `graph.order` does.

Fit (tests/test_generators.py checks it): over seeds 0-9 with each file's parameters, the
mean edge count is within 5 % of the file's, and the mean peak of the stored order over
the total memory within 5 % for RL1-RL3 and 12 % low for RL4. The RL4 file is about two
standard deviations above the generated spread; its layer, band and skip statistics
(skip spans, positions, distinct endpoints) match the generated ones.
"""

from __future__ import annotations

import math

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph
from moccasin_bench.params import Param

FAMILY = "random-layered"
DESCRIPTION = "random layered DAGs as in Gagrani et al. 2022, App. A (the paper's RL1-RL4)"
PARAMS = (
    Param("n", int, 100, "number of nodes, source and sink included (>= 3)", high=2_000_000),
    Param("w", float, 0.27, "width parameter in (0, 1): larger w gives fewer, wider layers"),
    Param("nlv", float, 0.75, "layer size variation in [0, 1): sizes vary by up to +-nlv around the mean"),
    Param("ed", float, 0.2, "edge density in [0, 1] between consecutive layers"),
    Param("scd", float, 0.14, "skip-connection density in [0, 1): share of skip edges among all edges"),
    Param("seed", int, 0, "random seed (>= 0)"),
)

# Memory law fitted to the paper's files (see the module docstring).
SMALL_SHARE = 0.25
SMALL_MAX = 1300.0
LARGE_SCALE = 8000.0
LARGE_BETA = (1.3, 3.0)
MAX_DURATION = 1000  # durations are uniform in [1, MAX_DURATION)
SKIP_REACH = 0.2  # a skip edge moves at most this far in relative position


def _check(n: int, w: float, nlv: float, ed: float, scd: float, seed: int) -> None:
    owner = f"graph family {FAMILY!r}"
    if n < 3:
        raise UserError(f"{owner}: n must be at least 3 (a source, a sink and one inner node), got {n}")
    if not 0 < w < 1:
        raise UserError(f"{owner}: w must be strictly between 0 and 1, got {w}")
    if not 0 <= nlv < 1:
        raise UserError(f"{owner}: nlv must be in [0, 1), got {nlv}")
    if not 0 <= ed <= 1:
        raise UserError(f"{owner}: ed must be in [0, 1], got {ed}")
    if not 0 <= scd < 1:
        raise UserError(f"{owner}: scd must be in [0, 1), got {scd}")
    if seed < 0:
        raise UserError(f"{owner}: seed must be a non-negative integer, got {seed}")


def layer_sizes(rng: np.random.Generator, inner: int, layers: int, nlv: float) -> np.ndarray:
    """Inner layer sizes: floor(U[mean (1 - nlv), mean (1 + nlv)]) until they sum to `inner`."""
    mean = inner / layers
    # Every size is at least 1, so `inner` draws always suffice.
    draws = np.maximum(1, np.floor(rng.uniform(mean * (1 - nlv), mean * (1 + nlv), size=inner))).astype(np.int64)
    total = np.cumsum(draws)
    count = int(np.searchsorted(total, inner)) + 1
    sizes = draws[:count].copy()
    sizes[-1] -= total[count - 1] - inner
    return sizes


def band_edges(rng: np.random.Generator, a: int, b: int, ed: float) -> np.ndarray:
    """Edges (i, j), i in 0..a-1, j in 0..b-1, between consecutive layers of sizes a and b."""
    big, small = max(a, b), min(a, b)
    count = math.floor(ed * a * b + (1 - ed) * big + 0.5)
    per_node = np.full(big, count // big, dtype=np.int64)
    per_node[rng.choice(big, size=count % big, replace=False)] += 1
    centre = (np.arange(big) + 0.5) * small / big
    start = np.clip(np.floor(centre - (per_node - 1) / 2).astype(np.int64), 0, small - per_node)
    big_end = np.repeat(np.arange(big), per_node)
    offsets = np.arange(count) - np.repeat(np.cumsum(per_node) - per_node, per_node)
    small_end = np.repeat(start, per_node) + offsets
    return np.column_stack((big_end, small_end) if a >= b else (small_end, big_end))


def skip_edges(rng: np.random.Generator, starts: np.ndarray, sizes: np.ndarray, count: int) -> np.ndarray:
    """`count` skip edges between inner layers at least two apart, as global node ids."""
    layers = len(sizes)
    if layers < 3 or count == 0:
        return np.empty((0, 2), dtype=np.int64)
    src_layer = rng.integers(0, layers - 2, size=count)
    dst_layer = rng.integers(src_layer + 2, layers)
    x = rng.random(count)
    y = rng.random(count)
    x_to = np.minimum(x + SKIP_REACH * y, 0.999)
    u = starts[src_layer] + np.floor(x * sizes[src_layer]).astype(np.int64)
    v = starts[dst_layer] + np.floor(x_to * sizes[dst_layer]).astype(np.int64)
    return np.column_stack((u, v))


def memory_sizes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Output sizes from the mixture fitted to the paper's files: multiples of 10, >= 10."""
    small = rng.random(count) < SMALL_SHARE
    values = np.where(small, rng.uniform(0.0, SMALL_MAX, count), LARGE_SCALE * rng.beta(*LARGE_BETA, count))
    return 10 * np.maximum(1, np.rint(values / 10)).astype(np.int64)


def random_topological_order(rng: np.random.Generator, n: int, edges: np.ndarray) -> list[int]:
    """A topological order that repeatedly computes a uniformly random ready node."""
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges.tolist():
        succ[u].append(v)
    missing = np.bincount(edges[:, 1], minlength=n).tolist()
    ready = [v for v in range(n) if missing[v] == 0]
    order: list[int] = []
    while ready:
        k = int(rng.integers(len(ready)))
        ready[k], ready[-1] = ready[-1], ready[k]
        v = ready.pop()
        order.append(v)
        for w in succ[v]:
            missing[w] -= 1
            if missing[w] == 0:
                ready.append(w)
    return order


def generate(
    n: int = 100, w: float = 0.27, nlv: float = 0.75, ed: float = 0.2, scd: float = 0.14, seed: int = 0
) -> Graph:
    _check(n, w, nlv, ed, scd, seed)
    rng = np.random.default_rng(seed)
    inner = n - 2
    sizes = layer_sizes(rng, inner, math.ceil(math.sqrt(n * (1 / w - 1))), nlv)

    # Layers as id ranges: the source, the inner layers (ids from 2 on), the sink.
    all_sizes = np.concatenate(([1], sizes, [1]))
    all_starts = np.concatenate(([0], 2 + np.cumsum(sizes) - sizes, [1]))
    layered = np.concatenate(
        [
            band_edges(rng, int(all_sizes[k]), int(all_sizes[k + 1]), ed) + all_starts[k : k + 2]
            for k in range(len(all_sizes) - 1)
        ]
    )
    skips = skip_edges(rng, all_starts[1:-1], sizes, math.ceil(len(layered) * scd / (1 - scd)))
    edges = np.unique(np.concatenate((layered, skips)), axis=0)  # sorted by (u, v), repeats merged

    duration = np.concatenate(([0, 0], rng.integers(1, MAX_DURATION, size=inner)))
    memory = memory_sizes(rng, n)
    order = random_topological_order(rng, n, edges)

    call = f"n={n},w={w},nlv={nlv},ed={ed},scd={scd},seed={seed}"  # str(float) round-trips exactly
    return Graph.build(
        name=f"random_layered_n{n}_w{w:g}_nlv{nlv:g}_ed{ed:g}_scd{scd:g}_seed{seed}",
        node_ids=range(n),
        duration=duration.tolist(),
        memory=memory.tolist(),
        edges=edges.tolist(),
        stored_order=order,
        origin=f"{FAMILY}:{call}",
    )
