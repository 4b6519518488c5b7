"""U-Net-like training graphs: encoder, bottleneck, decoder with skip links, loss, backward.

Modelled on the segmentation networks of Checkmate's benchmarks (vgg_unet, and fcn_8_vgg,
the paper's CM1): the encoder goes down `depth` levels, each `convs` convolutions then a
pooling; a bottleneck of `convs` convolutions; the decoder comes back up, each level an
upsampling, a concatenation with the last encoder activation of the same level (the skip
link that keeps large tensors alive across the whole network) and `convs` convolutions;
then a 1x1 output convolution and an activation. Loss and backward pass follow Checkmate
(see graphs/_training.py). depth=4, convs=2 gives 32 forward and 65 nodes in all.

Profile "conv": level l (0 = full resolution) holds activations of 4,096 / 2^l memory units
(half the resolution squared, twice the channels) and its convolutions cost 100 x 1.25^l;
pooling and upsampling cost 0.3 of a convolution, a concatenation 0.2 and holds both of
its inputs; the output layers hold a quarter of a level-0 activation (few classes).
"""

from __future__ import annotations

from graphs._training import SEED_PARAM, Forward, describe_call, profile_param, require, training_graph
from moccasin_bench.graph import Graph
from moccasin_bench.params import Param

FAMILY = "unet"
DESCRIPTION = "a U-Net-like encoder/decoder with skip links + loss + backward pass (Checkmate-style)"
SHAPED = "conv"
PARAMS = (
    Param("depth", int, 4, "number of down-sampling levels (>= 1)", high=64),
    Param("convs", int, 2, "convolutions per level and in the bottleneck (>= 1)", high=10_000),
    profile_param(SHAPED, "memory shrinks and compute grows with the level"),
    SEED_PARAM,
)

BASE_MEMORY = 4096.0
BASE_DURATION = 100.0
GROWTH = 1.25
RESAMPLE_COST = 0.3
CONCAT_COST = 0.2
HEAD_MEMORY = 0.25


def _memory(level: int) -> float:
    return BASE_MEMORY / 2**level


def _duration(level: int) -> float:
    return BASE_DURATION * GROWTH**level


def forward_network(depth: int, convs: int) -> Forward:
    net = Forward()

    def conv_stack(prefix: str, level: int, inputs: list[int]) -> int:
        for k in range(convs):
            inputs = [net.add(f"{prefix}_conv{k + 1}", inputs, _duration(level), _memory(level))]
        return inputs[0]

    skips: list[int] = []
    last: list[int] = []
    for level in range(depth):
        skips.append(conv_stack(f"down{level + 1}", level, last))
        last = [net.add(f"down{level + 1}_pool", [skips[-1]], RESAMPLE_COST * _duration(level), _memory(level + 1))]
    last = [conv_stack("bottleneck", depth, last)]
    for level in reversed(range(depth)):
        up = net.add(f"up{level + 1}_upsample", last, RESAMPLE_COST * _duration(level), _memory(level))
        cat = net.add(f"up{level + 1}_concat", [up, skips[level]], CONCAT_COST * _duration(level), 2 * _memory(level))
        last = [conv_stack(f"up{level + 1}", level, [cat])]
    out = net.add("output_conv", last, _duration(0), HEAD_MEMORY * _memory(0))
    net.add("output_activation", [out], CONCAT_COST * _duration(0), HEAD_MEMORY * _memory(0))
    return net


def generate(depth: int = 4, convs: int = 2, profile: str = SHAPED, seed: int = 0) -> Graph:
    require(depth >= 1, FAMILY, f"depth must be at least 1, got {depth}")
    require(convs >= 1, FAMILY, f"convs must be at least 1, got {convs}")
    require(seed >= 0, FAMILY, f"seed must be a non-negative integer, got {seed}")
    name, origin = describe_call(FAMILY, {"depth": depth, "convs": convs, "profile": profile, "seed": seed})
    return training_graph(forward_network(depth, convs), profile, SHAPED, seed, name, origin)
