"""Shared code of the training-graph families (linear, unet, transformer).

A family describes only its forward network (a DAG listed in topological order, with
nominal per-node costs); `training_graph` adds the loss and the backward pass the way
Checkmate's graphs do (Jain et al., MLSys 2020; checked edge by edge on the four
Checkmate files of the Moccasin paper's data, fcn_8_vgg, ResNet50, VGG16 and vgg_unet):

- ids 0..F-1 are the forward nodes, id F the loss (it reads the forward outputs nobody
  else reads), ids F+1..2F the backward nodes, in reverse forward order;
- the backward node of forward node v reads v itself and, for each consumer c of v, the
  forward node c and c's backward node; a node whose only reader is the loss reads the
  loss once instead. So forward activations are needed again in the backward pass and
  must be kept or recomputed;
- a backward node's output (the gradient of v's output) is as large as v's output;
- the stored order is the natural one: forward, loss, backward (= id order).

Cost profiles (every family accepts `profile`):
- "uniform": every forward node about 100 time units and 1,000 memory units;
- the family's shaped profile ("conv" or "shapes"): nominal sizes from the layer shapes;
- "random": log-uniform durations in [10, 1000] and memories in [100, 100,000].
Forward sizes get a seeded +-10 % jitter (so the seed always matters). Backward nodes cost
2x their forward node (+-10 %), as Checkmate's analytical costs have it (its profiled
graphs range from 1x to 4x); under "random" the factor is uniform in [1, 3]. The loss
costs the mean forward duration and holds 1 memory unit (a scalar).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph
from moccasin_bench.params import Param

UNIFORM_DURATION = 100.0
UNIFORM_MEMORY = 1000.0
RANDOM_DURATION = (10.0, 1000.0)
RANDOM_MEMORY = (100.0, 100_000.0)
JITTER = 0.1
BACKWARD_FACTOR = 2.0
RANDOM_BACKWARD_FACTOR = (1.0, 3.0)
LOSS_MEMORY = 1
BACKWARD_SUFFIX = "_backward"
LOSS_NAME = "loss"


def profile_param(shaped: str, shaped_help: str) -> Param:
    """The `profile` parameter, whose default is the family's shaped profile."""
    return Param(
        "profile",
        str,
        shaped,
        f"cost profile: {shaped} ({shaped_help}), uniform (all alike) or random (seeded log-uniform sizes)",
        choices=(shaped, "uniform", "random"),
    )


SEED_PARAM = Param("seed", int, 0, "random seed (>= 0)")


def require(ok: bool, family: str, message: str) -> None:
    """Raise a UserError naming the family unless `ok`."""
    if not ok:
        raise UserError(f"graph family {family!r}: {message}")


def describe_call(family: str, params: dict) -> tuple[str, str]:
    """(graph name, origin) for a generator call, e.g. ("unet_depth4_convs2_conv_seed0", "unet:depth=4,...")."""
    name = "_".join([family] + [str(v) if k == "profile" else f"{k}{v}" for k, v in params.items()])
    origin = f"{family}:" + ",".join(f"{k}={v}" for k, v in params.items())
    return name, origin


@dataclass
class Forward:
    """A forward network under construction: nodes are added in topological order."""

    names: list[str] = field(default_factory=list)
    inputs: list[list[int]] = field(default_factory=list)
    duration: list[float] = field(default_factory=list)  # nominal costs of the shaped profile
    memory: list[float] = field(default_factory=list)

    def add(self, name: str, inputs: Iterable[int], duration: float, memory: float) -> int:
        """Append a node reading `inputs` (earlier nodes); return its index."""
        ins = list(dict.fromkeys(int(i) for i in inputs))
        assert all(0 <= i < len(self.names) for i in ins), "inputs must be earlier nodes"
        self.names.append(name)
        self.inputs.append(ins)
        self.duration.append(float(duration))
        self.memory.append(float(memory))
        return len(self.names) - 1

    @property
    def size(self) -> int:
        return len(self.names)


def _forward_costs(
    rng: np.random.Generator, forward: Forward, profile: str, shaped: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward durations, forward memories and backward factors (floats) for a profile."""
    f = forward.size
    if profile == "random":
        lo, hi = np.log(RANDOM_DURATION)
        duration = np.exp(rng.uniform(lo, hi, f))
        lo, hi = np.log(RANDOM_MEMORY)
        memory = np.exp(rng.uniform(lo, hi, f))
        factor = rng.uniform(*RANDOM_BACKWARD_FACTOR, f)
        return duration, memory, factor
    if profile == "uniform":
        duration, memory = np.full(f, UNIFORM_DURATION), np.full(f, UNIFORM_MEMORY)
    elif profile == shaped:
        duration, memory = np.asarray(forward.duration), np.asarray(forward.memory)
    else:
        raise UserError(f"unknown cost profile {profile!r}; choose {shaped}, uniform or random")
    duration = duration * rng.uniform(1 - JITTER, 1 + JITTER, f)
    memory = memory * rng.uniform(1 - JITTER, 1 + JITTER, f)
    factor = BACKWARD_FACTOR * rng.uniform(1 - JITTER, 1 + JITTER, f)
    return duration, memory, factor


def _whole(values: np.ndarray, minimum: int) -> list[int]:
    """Rounded to Python ints (never a wrapped-around int64): a size beyond 64 bits is then
    refused by Graph.build with a message, not turned into a negative number."""
    return [max(minimum, int(v)) for v in np.rint(values).tolist()]


def training_graph(forward: Forward, profile: str, shaped: str, seed: int, name: str, origin: str) -> Graph:
    """Forward network + loss + Checkmate-style backward pass, with costs from `profile`."""
    assert len(set(forward.names)) == forward.size, "forward node names must be unique"
    rng = np.random.default_rng(seed)
    f = forward.size
    fwd_duration, fwd_memory, factor = _forward_costs(rng, forward, profile, shaped)
    loss = f
    backward = [2 * f - v for v in range(f)]  # forward v -> id of its backward node

    consumers: list[list[int]] = [[] for _ in range(f)]
    for v, ins in enumerate(forward.inputs):
        for u in ins:
            consumers[u].append(v)

    edges: list[tuple[int, int]] = [(u, v) for v, ins in enumerate(forward.inputs) for u in ins]
    edges += [(v, loss) for v in range(f) if not consumers[v]]
    for v in reversed(range(f)):
        reads = [v]
        for c in consumers[v]:
            reads += [c, backward[c]]
        if not consumers[v]:
            reads.append(loss)
        edges += [(u, backward[v]) for u in reads]

    duration = _whole(fwd_duration, 1) + [int(round(fwd_duration.mean()))] + _whole((fwd_duration * factor)[::-1], 1)
    memory = _whole(fwd_memory, 1) + [LOSS_MEMORY] + _whole(fwd_memory[::-1], 1)
    labels = forward.names + [LOSS_NAME] + [forward.names[v] + BACKWARD_SUFFIX for v in reversed(range(f))]
    ids = list(range(2 * f + 1))
    return Graph.build(name, ids, duration, memory, edges, stored_order=ids, origin=origin, labels=labels)
