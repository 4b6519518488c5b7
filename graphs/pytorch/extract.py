"""The joint FX graph -> a moccasin-bench Graph.

Classification of the FX nodes (docs/pytorch.md, "Folding rules"), in graph order:

1. Placeholders (parameters, buffers, batch inputs and targets, the loss seed 1.0) are
   resident: fixed bytes, no node.
2. `operator.getitem` is folded into the node it indexes: a multi-output op is one node
   whose memory is the sum of its tensor outputs.
3. An op whose schema says its output aliases an input (view, t, permute, expand,
   transpose, (un)squeeze, slice, select, split, unbind, alias, detach, ...), or one of
   ALIAS_OPS (storage-sharing ops the schema does not annotate: _unsafe_view), allocates
   nothing: it is folded into the node it is a view of. A view of a resident tensor is
   itself resident (0 bytes).
4. Every other op is a node: memory = bytes of its tensor outputs (numel x element size,
   summed over tuple outputs), edges from the nodes its inputs (after folding) belong to.
5. Epilogue: an op the loss and the gradients do not depend on, reading only resident
   tensors or other epilogue ops (BatchNorm's num_batches_tracked + 1), runs once after
   the schedule, unscheduled; it changes no peak (it runs when the activations are gone).

Fixed bytes = parameters + buffers + batch (inputs, targets, loss seed) + step outputs
(one resident slot per gradient, per buffer update and for the loss: a node that
produces one copies it there and is then freed like any other; a tied weight gets one
gradient per name, as the joint graph returns them) + optimizer state (`adam`: 2 x the
bytes of the distinct parameters that get a gradient, `momentum`: 1 x, `sgd`: 0). A tied
weight (one tensor under two names) is counted once.
"""

from __future__ import annotations

import hashlib
import operator
from dataclasses import dataclass, field
from typing import Any

from graphs.pytorch import require_torch
from graphs.pytorch.trace import (
    OUT_BUFFER,
    OUT_GRADIENT,
    OUT_LOSS,
    ROLE_BUFFER,
    ROLE_INPUT,
    ROLE_PARAMETER,
    ROLE_SEED,
    ROLE_TARGET,
    Joint,
)
from moccasin_bench.errors import UserError

OPTIMIZER_STATES = {"adam": 2, "momentum": 1, "sgd": 0}
ALIAS_OPS = ("aten._unsafe_view.default",)


def tensor_bytes(value) -> int:
    """Bytes of a tensor (numel x element size), or summed over a tuple/list of them."""
    torch = require_torch()
    if isinstance(value, torch.Tensor):
        return int(value.numel()) * int(value.element_size())
    if isinstance(value, (tuple, list)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def op_name(target) -> str:
    name = getattr(target, "__name__", None) if not hasattr(target, "_schema") else str(target)
    name = str(name or target)
    return name[: -len(".default")] if name.endswith(".default") else name


def _aliased_input(node) -> Any:
    """The FX input node a view op's output aliases, or None when the op allocates."""
    torch = require_torch()
    target = node.target
    if target is operator.getitem:
        return node.args[0]
    schema = getattr(target, "_schema", None)
    if schema is None:
        return None
    if str(target) in ALIAS_OPS:
        return node.args[0] if isinstance(node.args[0], torch.fx.Node) else None
    returns_alias = any(r.alias_info is not None and not r.alias_info.is_write for r in schema.returns)
    if not returns_alias:
        return None
    for i, arg in enumerate(schema.arguments):
        info = arg.alias_info
        if info is None or info.is_write:
            continue
        value = node.args[i] if i < len(node.args) else node.kwargs.get(arg.name)
        if isinstance(value, torch.fx.Node):
            return value
    return None


def is_random(target) -> bool:
    torch = require_torch()
    return torch.Tag.nondeterministic_seeded in getattr(target, "tags", ())


def tensor_inputs(node) -> list:
    torch = require_torch()
    seen: list = []
    torch.fx.node.map_arg((node.args, node.kwargs), lambda n: seen.append(n) if n not in seen else None)
    return seen


@dataclass
class Plan:
    """What each FX node became: a scheduled node, folded into one, resident, or epilogue."""

    groups: list[list[str]]  # node id -> FX names (the op first, then what is folded into it)
    group_of: dict[str, int]  # FX name -> node id
    resident: dict[str, str]  # FX name -> "parameter" | "buffer" | "input" | "target" | "loss_seed" | "view"
    epilogue: list[list[str]]  # groups run once after the schedule
    edges: list[tuple[int, int]]
    memory: list[int]
    labels: list[str]
    random: list[int]  # node ids of ops with RNG (dropout)
    outputs: list[tuple[str, str, Any]]  # (FX name, role, target)
    fixed: dict[str, int] = field(default_factory=dict)  # fixed-byte breakdown
    folded: int = 0  # FX op nodes folded into others (views, getitem)

    @property
    def n(self) -> int:
        return len(self.groups)

    def fingerprint(self, gm) -> str:
        """A hash of the FX graph's ops and wiring: equal traces give equal fingerprints."""
        h = hashlib.sha256()
        for node in gm.graph.nodes:
            h.update(
                f"{node.op}|{node.name}|{op_name(node.target) if node.op == 'call_function' else node.target}|".encode()
            )
            h.update(",".join(n.name for n in tensor_inputs(node)).encode())
        return h.hexdigest()[:16]


def plan_graph(joint: Joint, optimizer: str = "adam") -> Plan:
    require_torch()
    if optimizer not in OPTIMIZER_STATES:
        raise UserError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATES)}")
    gm = joint.gm
    resident: dict[str, str] = {}
    owner: dict[str, str] = {}  # FX name -> FX name of the op node it belongs to (itself for an op)
    ops: list[str] = []  # op nodes in graph order
    members: dict[str, list[str]] = {}
    node_by_name = {n.name: n for n in gm.graph.nodes}
    fixed = {"parameters": 0, "buffers": 0, "batch": 0, "outputs": 0, "optimizer_state": 0}

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            role, target = joint.inputs[node.name]
            resident[node.name] = role
            if role in (ROLE_PARAMETER, ROLE_BUFFER) and joint.canonical.get(target, target) != target:
                continue  # a tied weight: the same tensor as an earlier placeholder
            size = tensor_bytes(node.meta.get("val"))
            key = {ROLE_PARAMETER: "parameters", ROLE_BUFFER: "buffers"}.get(role, "batch")
            fixed[key] += size
        elif node.op == "call_function":
            src = _aliased_input(node)
            if src is not None:
                if src.name in resident:
                    resident[node.name] = "view"
                else:
                    owner[node.name] = owner[src.name]
                    members[owner[node.name]].append(node.name)
                continue
            schema = getattr(node.target, "_schema", None)
            if schema is not None and any(r.alias_info is not None and r.alias_info.is_write for r in schema.returns):
                raise UserError(
                    f"the traced step has an in-place op ({op_name(node.target)}, node {node.name}); "
                    "only functionalized graphs (as AOT export makes them) are handled"
                )
            owner[node.name] = node.name
            ops.append(node.name)
            members[node.name] = [node.name]
        elif node.op == "output":
            continue
        else:  # get_attr (a lifted constant) or anything else: not expected from AOT export
            raise UserError(
                f"the traced step has a {node.op} node ({node.name}); only placeholders and ops are handled"
            )

    # Inputs of each op node, after folding (resident inputs dropped).
    preds: dict[str, list[str]] = {}
    for op in ops:
        found: list[str] = []
        for name in members[op]:
            for inp in tensor_inputs(node_by_name[name]):
                o = owner.get(inp.name)
                if o is not None and o != op and o not in found:
                    found.append(o)
        preds[op] = found

    # Epilogue: not needed for the loss or a gradient, and reads only resident tensors or
    # other epilogue ops (BatchNorm's num_batches_tracked + 1).
    needed: set[str] = set()
    todo = [owner[name] for name, role, _ in joint.outputs if role != OUT_BUFFER and name in owner]
    while todo:
        op = todo.pop()
        if op not in needed:
            needed.add(op)
            todo.extend(preds[op])
    epilogue_set: set[str] = set()
    for op in ops:
        if op not in needed and all(p in epilogue_set for p in preds[op]):
            epilogue_set.add(op)
    scheduled = [op for op in ops if op not in epilogue_set]
    index = {op: i for i, op in enumerate(scheduled)}

    groups = [members[op] for op in scheduled]
    group_of = {name: index[op] for op in scheduled for name in members[op]}
    edges = [(index[p], index[op]) for op in scheduled for p in preds[op]]
    memory = [tensor_bytes(node_by_name[op].meta.get("val")) for op in scheduled]
    labels = []
    for op in scheduled:
        node = node_by_name[op]
        label = f"{op_name(node.target)} {joint.paths.get(op, '<step>')}"
        labels.append(label + (" (backward)" if op in joint.backward else ""))
    random = [index[op] for op in scheduled if is_random(node_by_name[op].target)]

    outputs = []
    trained: dict[str, int] = {}  # distinct parameters that get a gradient -> bytes
    for name, role, target in joint.outputs:
        outputs.append((name, role, target))
        size = tensor_bytes(node_by_name[name].meta.get("val"))
        fixed["outputs"] += size
        if role == OUT_GRADIENT:
            trained[joint.canonical.get(target, target)] = size
    fixed["optimizer_state"] = OPTIMIZER_STATES[optimizer] * sum(trained.values())
    folded = sum(len(m) - 1 for m in members.values())
    return Plan(
        groups=groups,
        group_of=group_of,
        resident=resident,
        epilogue=[members[op] for op in ops if op in epilogue_set],
        edges=edges,
        memory=memory,
        labels=labels,
        random=random,
        outputs=outputs,
        fixed=fixed,
        folded=folded,
    )


__all__ = [
    "Plan",
    "plan_graph",
    "tensor_bytes",
    "op_name",
    "is_random",
    "OPTIMIZER_STATES",
    "OUT_BUFFER",
    "OUT_GRADIENT",
    "OUT_LOSS",
    "ROLE_INPUT",
    "ROLE_TARGET",
    "ROLE_SEED",
]
