"""Linear training graphs: a chain of layers, a loss and the mirrored backward pass.

The shape of Checkmate's linear benchmarks (Jain et al., MLSys 2020) and of VGG-like
networks; with `residual=k`, every k-th layer also reads the layer k before it (a
ResNet-style addition), which is how the `cm2-gen` preset stands in for ResNet50. The
backward pass follows Checkmate (see graphs/_training.py): backward node i reads
backward node i+1, forward node i+1 and forward node i, so every forward activation is
needed again late in the schedule.

Profile "conv": the layers form `STAGES` stages of equal length, as a CNN's resolution
stages; each stage halves the activation memory (4,096 units in the first) and makes a
layer 1.25x more expensive (100 time units in the first); residual additions cost a fifth
of a layer.
"""

from __future__ import annotations

from graphs._training import SEED_PARAM, Forward, describe_call, profile_param, require, training_graph
from moccasin_bench.graph import Graph
from moccasin_bench.params import Param

FAMILY = "linear"
DESCRIPTION = "a chain of layers + loss + mirrored backward pass (Checkmate-style), optional residual links"
SHAPED = "conv"
PARAMS = (
    Param("layers", int, 32, "number of forward layers (>= 1); the graph has 2 x layers + 1 nodes", high=1_000_000),
    Param("residual", int, 0, "0 = plain chain; k >= 2 = every k-th layer also reads the layer k before it"),
    profile_param(SHAPED, "memory halves and compute grows stage by stage"),
    SEED_PARAM,
)

STAGES = 5
BASE_MEMORY = 4096.0
BASE_DURATION = 100.0
GROWTH = 1.25
ADD_COST = 0.2


def forward_network(layers: int, residual: int) -> Forward:
    net = Forward()
    stages = min(STAGES, layers)
    for i in range(layers):
        stage = i * stages // layers
        memory = BASE_MEMORY / 2**stage
        duration = BASE_DURATION * GROWTH**stage
        if residual and i >= residual and i % residual == 0:
            net.add(f"add{i}", [i - 1, i - residual], ADD_COST * duration, memory)
        else:
            net.add(f"layer{i}", [i - 1] if i else [], duration, memory)
    return net


def generate(layers: int = 32, residual: int = 0, profile: str = SHAPED, seed: int = 0) -> Graph:
    require(layers >= 1, FAMILY, f"layers must be at least 1, got {layers}")
    require(
        residual == 0 or residual >= 2, FAMILY, f"residual must be 0 (no residual links) or at least 2, got {residual}"
    )
    require(seed >= 0, FAMILY, f"seed must be a non-negative integer, got {seed}")
    name, origin = describe_call(FAMILY, {"layers": layers, "residual": residual, "profile": profile, "seed": seed})
    return training_graph(forward_network(layers, residual), profile, SHAPED, seed, name, origin)
