"""Transformer-like training graphs: a stack of pre-norm blocks, loss, backward pass.

Forward: an embedding, then `blocks` blocks, each
    ln1 -> q, k, v -> scores(q, k) -> softmax -> context(softmax, v) -> proj -> add1(x, proj)
    -> ln2 -> mlp_up -> gelu -> mlp_down -> add2(add1, mlp_down)
(two residual links per block), then a final norm and the output head: 14 x blocks + 3
forward nodes. Loss and backward pass follow Checkmate (see graphs/_training.py).

Profile "shapes": sizes from the tensor shapes of one sequence of `seq` tokens of width
`dim` with `heads` attention heads. Memory in units of 1,024 elements: a token tensor
holds seq x dim, the attention scores heads x seq^2, the MLP hidden layer 4 x seq x dim.
Durations in millions of floating-point operations: a projection 2 seq dim^2, the score
and context products 2 seq^2 dim each, the MLP layers 8 seq dim^2 each, element-wise
nodes 5 operations per element. So attention dominates memory at long sequences, the MLP
dominates compute at wide models.
"""

from __future__ import annotations

from graphs._training import SEED_PARAM, Forward, describe_call, profile_param, require, training_graph
from moccasin_bench.graph import Graph
from moccasin_bench.params import Param

FAMILY = "transformer"
DESCRIPTION = "a stack of transformer blocks (attention + MLP, residual links) + loss + backward pass"
SHAPED = "shapes"
PARAMS = (
    Param("blocks", int, 4, "number of transformer blocks (>= 1)", high=100_000),
    Param("seq", int, 512, "sequence length, for the 'shapes' profile (>= 1)"),
    Param("dim", int, 768, "model width, for the 'shapes' profile (>= 1)"),
    Param("heads", int, 12, "attention heads, for the 'shapes' profile (1..dim)"),
    profile_param(SHAPED, "sizes from seq, dim and heads"),
    SEED_PARAM,
)

ELEMENTS = 1024.0  # memory unit
OPERATIONS = 1e6  # duration unit
ELEMENTWISE = 5.0  # operations per element of a norm, softmax, activation or addition


def forward_network(blocks: int, seq: int, dim: int, heads: int) -> Forward:
    token = seq * dim
    scores = heads * seq * seq
    hidden = 4 * token

    def mem(elements: float) -> float:
        return elements / ELEMENTS

    def ops(operations: float) -> float:
        return operations / OPERATIONS

    def pointwise(elements: float) -> tuple[float, float]:
        return ops(ELEMENTWISE * elements), mem(elements)

    projection = (ops(2 * token * dim), mem(token))
    product = 2 * seq * seq * dim
    net = Forward()
    x = net.add("embed", [], ops(token), mem(token))
    for b in range(1, blocks + 1):
        ln1 = net.add(f"block{b}_ln1", [x], *pointwise(token))
        q = net.add(f"block{b}_q", [ln1], *projection)
        k = net.add(f"block{b}_k", [ln1], *projection)
        v = net.add(f"block{b}_v", [ln1], *projection)
        s = net.add(f"block{b}_scores", [q, k], ops(product), mem(scores))
        p = net.add(f"block{b}_softmax", [s], *pointwise(scores))
        c = net.add(f"block{b}_context", [p, v], ops(product), mem(token))
        o = net.add(f"block{b}_proj", [c], *projection)
        a1 = net.add(f"block{b}_add1", [x, o], *pointwise(token))
        ln2 = net.add(f"block{b}_ln2", [a1], *pointwise(token))
        up = net.add(f"block{b}_mlp_up", [ln2], ops(8 * token * dim), mem(hidden))
        g = net.add(f"block{b}_gelu", [up], *pointwise(hidden))
        down = net.add(f"block{b}_mlp_down", [g], ops(8 * token * dim), mem(token))
        x = net.add(f"block{b}_add2", [a1, down], *pointwise(token))
    ln = net.add("final_ln", [x], *pointwise(token))
    net.add("head", [ln], *projection)
    return net


def generate(
    blocks: int = 4, seq: int = 512, dim: int = 768, heads: int = 12, profile: str = SHAPED, seed: int = 0
) -> Graph:
    require(blocks >= 1, FAMILY, f"blocks must be at least 1, got {blocks}")
    require(seq >= 1, FAMILY, f"seq must be at least 1, got {seq}")
    require(dim >= 1, FAMILY, f"dim must be at least 1, got {dim}")
    require(1 <= heads <= dim, FAMILY, f"heads must be between 1 and dim ({dim}), got {heads}")
    require(seed >= 0, FAMILY, f"seed must be a non-negative integer, got {seed}")
    name, origin = describe_call(
        FAMILY, {"blocks": blocks, "seq": seq, "dim": dim, "heads": heads, "profile": profile, "seed": seed}
    )
    return training_graph(forward_network(blocks, seq, dim, heads), profile, SHAPED, seed, name, origin)
