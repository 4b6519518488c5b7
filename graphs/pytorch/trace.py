"""MODULE:FACTORY -> one training step -> the joint forward + backward FX graph.

The factory is any importable callable. It returns the model, or `(model, inputs)`,
`(model, inputs, loss)`, `(model, inputs, targets, loss)`, or a dict with those keys
("model", "inputs", "targets", "loss"); `inputs` and `targets` are a tensor or a tuple of
tensors, `loss(output, *targets)` returns a scalar. Without a loss, a scalar model output
is the loss, otherwise the mean of the squared output. Without inputs, the batch is
`torch.randn(batch, *input_shape)`. The factory receives `batch=N` and
`input_shape=(...)` when the command line gives them and its signature accepts them.

The step (model + loss, wrapped as one module) is traced by AOT autograd
(`aot_export_joint_with_descriptors`): functionalized, with fake tensors (the factory
itself runs under a FakeTensorMode, so no parameter or activation memory is allocated),
inputs and outputs described (parameter, buffer, batch, loss seed; loss, gradient,
buffer update). Module paths come from forward hooks while tracing (forward nodes) and
from the autograd sequence number linking each backward node to its forward op.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphs.pytorch import require_torch
from moccasin_bench.errors import UserError

FACTORY_RE = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_][\w]*)$")

ROLE_PARAMETER, ROLE_BUFFER, ROLE_INPUT, ROLE_TARGET, ROLE_SEED = "parameter", "buffer", "input", "target", "loss_seed"
OUT_LOSS, OUT_GRADIENT, OUT_BUFFER = "loss", "gradient", "buffer_update"


def is_factory_spec(text: str) -> bool:
    return bool(FACTORY_RE.match(str(text)))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_factory(spec: str) -> Callable[..., Any]:
    """The callable named by MODULE:FACTORY (the working directory is importable, as with python -m)."""
    m = FACTORY_RE.match(str(spec))
    if not m:
        raise UserError(f"{spec!r} is not MODULE:FACTORY (e.g. graphs.pytorch.models:resnet18 or mymodels:make_net)")
    module_name, attr = m.groups()
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an ImportError, or any error the module raises on import
        raise UserError(f"cannot import module {module_name!r} of {spec!r}: {_one_line(exc)}") from None
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise UserError(f"module {module_name!r} has no attribute {attr!r} ({spec!r})") from None
    if not callable(factory):
        raise UserError(f"{spec!r} is not callable (it is a {type(factory).__name__})")
    return factory


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@contextlib.contextmanager
def _no_torch_logs():
    """Keep torch's log records off stderr while the factory runs and the step is traced: an op
    that fails on fake tensors is logged with its whole traceback (fake_tensor.py) before it is
    raised, and the raised error is what we report, in one line."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


@dataclass
class Setup:
    """One training step ready to trace or run: the step module and its batch."""

    spec: str
    factory_kwargs: dict
    input_shape: tuple[int, ...] | None
    step: Any  # torch.nn.Module: model + loss
    inputs: tuple
    targets: tuple
    loss_given: bool
    fake: bool
    seconds: float = 0.0
    generated: bool = False  # the batch is torch.randn(batch, *input_shape), not the factory's

    @property
    def batch(self) -> tuple:
        return tuple(self.inputs) + tuple(self.targets)


def _as_tensors(value, what: str, spec: str) -> tuple:
    torch = require_torch()
    if value is None:
        return ()
    items = (value,) if isinstance(value, torch.Tensor) else tuple(value) if isinstance(value, (tuple, list)) else None
    if items is None or not all(isinstance(t, torch.Tensor) for t in items):
        raise UserError(f"factory {spec!r} returned {what} that are not a tensor or a tuple of tensors")
    return items


def _split_result(result, spec: str):
    """(model, inputs, targets, loss) from what a factory returned."""
    torch = require_torch()
    if isinstance(result, torch.nn.Module):
        return result, None, None, None
    if isinstance(result, dict):
        unknown = set(result) - {"model", "inputs", "targets", "loss"}
        if unknown or "model" not in result:
            raise UserError(
                f"factory {spec!r} returned a dict with keys {sorted(result)}; expected model, inputs, targets, loss"
            )
        return result["model"], result.get("inputs"), result.get("targets"), result.get("loss")
    if isinstance(result, (tuple, list)) and 1 <= len(result) <= 4:
        items = list(result)
        if len(items) == 3 and not callable(items[2]):
            raise UserError(
                f"factory {spec!r} returned (model, inputs, X) with X not callable; use (model, inputs, targets, loss)"
            )
        if len(items) == 3:
            items = [items[0], items[1], None, items[2]]
        items += [None] * (4 - len(items))
        return tuple(items)
    raise UserError(
        f"factory {spec!r} returned a {type(result).__name__}; expected an nn.Module, a tuple (model, inputs[, targets], loss) or a dict"
    )


def make_step_module(model, loss, n_inputs: int):
    """The training step as one module: loss(model(*inputs), *targets) -> a scalar."""
    torch = require_torch()

    class Loss(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, out, *targets):
            if self.fn is not None:
                return self.fn(out, *targets)
            if isinstance(out, (tuple, list)):
                out = out[0]
            return out.sum() if out.numel() == 1 else out.float().square().mean()

    class TrainingStep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.loss = Loss(loss)

        def forward(self, *batch):
            return self.loss(self.model(*batch[:n_inputs]), *batch[n_inputs:])

    return TrainingStep()


def make_setup(
    spec: str,
    batch: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    fake: bool = True,
    factory_kwargs: dict | None = None,
) -> Setup:
    """Call the factory (under a FakeTensorMode when `fake`) and wrap model + loss as one module."""
    torch = require_torch()
    from torch._subclasses.fake_tensor import FakeTensorMode

    started = time.perf_counter()
    factory = load_factory(spec)
    kwargs = dict(factory_kwargs or {})
    if factory_kwargs is None:
        if batch is not None and _accepts(factory, "batch"):
            kwargs["batch"] = int(batch)
        if input_shape is not None and _accepts(factory, "input_shape"):
            kwargs["input_shape"] = tuple(input_shape)
    mode = FakeTensorMode(allow_non_fake_inputs=True) if fake else contextlib.nullcontext()
    generated = False
    try:
        with mode, _no_torch_logs():
            result = factory(**kwargs)
            model, inputs, targets, loss = _split_result(result, spec)
            if not isinstance(model, torch.nn.Module):
                raise UserError(
                    f"factory {spec!r} returned a model that is not a torch.nn.Module ({type(model).__name__})"
                )
            if inputs is None:
                if input_shape is None:
                    raise UserError(f"factory {spec!r} returned no example inputs; give --input-shape (and --batch)")
                inputs = torch.randn(int(batch or 1), *input_shape, generator=torch.Generator().manual_seed(0))
                generated = True
            elif batch is not None and "batch" not in kwargs:
                raise UserError(f"factory {spec!r} returns its own inputs and takes no 'batch' argument; drop --batch")
            elif input_shape is not None and "input_shape" not in kwargs:
                raise UserError(
                    f"factory {spec!r} returns its own inputs and takes no 'input_shape' argument; drop --input-shape"
                )
            inputs = _as_tensors(inputs, "inputs", spec)
            targets = _as_tensors(targets, "targets", spec)
            if loss is not None and not callable(loss):
                raise UserError(f"factory {spec!r} returned a loss that is not callable")
            step = make_step_module(model, loss, len(inputs))
            step.train()
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"factory {spec!r} raised {_one_line(exc)}") from None
    return Setup(
        spec=spec,
        factory_kwargs=kwargs,
        input_shape=None if input_shape is None else tuple(input_shape),
        step=step,
        inputs=inputs,
        targets=targets,
        loss_given=loss is not None,
        fake=fake,
        seconds=time.perf_counter() - started,
        generated=generated,
    )


@dataclass
class Joint:
    """The traced joint graph and what its inputs and outputs are."""

    gm: Any  # torch.fx.GraphModule
    inputs: dict[str, tuple[str, Any]]  # placeholder name -> (role, parameter/buffer name or batch index)
    outputs: list[tuple[str | None, str, Any]]  # (FX node name or None, role, parameter/buffer name or None)
    paths: dict[str, str] = field(default_factory=dict)  # FX node name -> module path ("<loss>", "<model>" at the top)
    backward: set[str] = field(default_factory=set)  # FX node names of the backward pass
    canonical: dict[str, str] = field(
        default_factory=dict
    )  # parameter/buffer name -> first name of the same tensor (tied weights)
    seconds: float = 0.0

    @property
    def nodes(self):
        return self.gm.graph.nodes


def _module_path(qualified: str) -> str:
    if qualified == "model":
        return "<model>"
    if qualified.startswith("model."):
        return qualified[len("model.") :]
    if qualified == "loss" or qualified.startswith("loss."):
        return "<loss>"
    return qualified or "<step>"


@contextlib.contextmanager
def _module_stack_recorder(root):
    """While tracing, keep fx.traceback's current nn_module_stack equal to the modules being run."""
    torch = require_torch()
    import torch.fx.traceback as fx_traceback

    names = {id(mod): name for name, mod in root.named_modules(remove_duplicate=False)}
    stack: list[str] = []

    def publish():
        fx_traceback.current_meta["nn_module_stack"] = {s: (s, "") for s in stack}

    def pre(mod, args):
        if id(mod) in names:
            stack.append(names[id(mod)])
            publish()

    def post(mod, args, out):
        if id(mod) in names and stack:
            stack.pop()
            publish()

    h1 = torch.nn.modules.module.register_module_forward_pre_hook(pre)
    h2 = torch.nn.modules.module.register_module_forward_hook(post)
    try:
        yield
    finally:
        h1.remove()
        h2.remove()


def _target(desc) -> str:
    name = str(getattr(desc, "target", desc))
    return name[len("model.") :] if name.startswith("model.") else name


def check_training_step(gm, setup: Setup, d) -> None:
    """Refuse a traced step that is not a training step, with one line saying why.

    A training step returns one real floating-point scalar (the loss), gets a gradient for
    at least one parameter, and changes in place nothing but buffers, which carry no
    gradient into the next step. `d` is AOT autograd's descriptors module.
    """
    spec = setup.spec
    out_node = gm.graph.output_node()
    values = out_node.args[0]
    descs = out_node.meta.get("desc") or [None] * len(values)
    for desc in descs:
        if not isinstance(desc, d.InputMutationAOTOutput):
            continue
        mutated = desc.mutated_input
        if isinstance(mutated, d.ParamAOTInput):
            raise UserError(
                f"the step of {spec} changes parameter {_target(mutated)!r} in place: not a training step "
                "(eager PyTorch refuses an in-place op on a parameter that requires grad; an update under "
                "no_grad or through .data belongs to the optimizer, after the step)"
            )
        if isinstance(mutated, d.PlainAOTInput):
            which = "input" if mutated.idx < len(setup.inputs) else "target"
            index = mutated.idx if which == "input" else mutated.idx - len(setup.inputs)
            raise UserError(
                f"the step of {spec} changes its batch {which} {index} in place: a training step must "
                "leave its batch as it found it"
            )
    for node in gm.graph.nodes:
        if node.op != "placeholder":
            continue
        desc = node.meta.get("desc")
        if isinstance(desc, d.TangentAOTInput) and isinstance(desc.output, d.InputMutationAOTOutput):
            raise UserError(
                f"the step of {spec} updates buffer {_target(desc.output.mutated_input)!r} from values that "
                "require grad: the buffer would carry this step's graph into the next (detach the update)"
            )
    losses = [(v, desc) for v, desc in zip(values, descs) if isinstance(desc, d.PlainAOTOutput)]
    if len(losses) != 1:
        raise UserError(f"the loss of {spec} is {len(losses)} values; a training step's loss is one scalar tensor")
    torch = require_torch()
    value = losses[0][0]
    val = value.meta.get("val") if isinstance(value, torch.fx.Node) else value
    if not isinstance(val, torch.Tensor):
        raise UserError(f"the loss of {spec} is not a tensor but {val!r:.60}")
    dtype = str(val.dtype).removeprefix("torch.")
    if val.is_complex():
        raise UserError(f"the loss of {spec} is complex ({dtype}): backward needs a real loss")
    if not val.is_floating_point():
        raise UserError(f"the loss of {spec} has dtype {dtype}: integer and boolean values have no gradients")
    if val.numel() != 1:
        raise UserError(
            f"the loss of {spec} has shape {tuple(val.shape)}, not one value: backward needs a scalar (reduce it, e.g. .mean())"
        )
    if any(
        isinstance(desc, d.GradAOTOutput) and isinstance(desc.grad_of, d.ParamAOTInput) and v is not None
        for v, desc in zip(values, descs)
    ):
        return
    params = list(setup.step.parameters())
    if not params:
        raise UserError(f"the model of {spec} has no parameters: a training step has nothing to train")
    if not any(p.requires_grad for p in params):
        raise UserError(f"no parameter of the model of {spec} requires grad: a training step has nothing to train")
    raise UserError(
        f"the loss of {spec} depends on no parameter that requires grad (computed under torch.no_grad, "
        "detached, or not from the model's output): the step has no gradients"
    )


def trace_joint(setup: Setup) -> Joint:
    """The joint forward + backward graph of the step; a failure is one UserError line."""
    torch = require_torch()
    from torch._functorch._aot_autograd import descriptors as d
    from torch._functorch.aot_autograd import aot_export_joint_with_descriptors

    started = time.perf_counter()
    n_inputs = len(setup.inputs)
    try:
        with contextlib.ExitStack() as stack, _module_stack_recorder(setup.step), _no_torch_logs():
            joint = aot_export_joint_with_descriptors(stack, setup.step, setup.batch)
            gm = joint.graph_module
    except UserError:
        raise
    except Exception as exc:
        batch = (
            f" on the batch torch.randn{tuple(setup.inputs[0].shape)} made from --input-shape"
            if setup.generated
            else ""
        )
        raise UserError(f"the model does not trace ({setup.spec}){batch}: {_one_line(exc)}") from None

    inputs: dict[str, tuple[str, Any]] = {}
    for node in gm.graph.nodes:
        if node.op != "placeholder":
            continue
        desc = node.meta.get("desc")
        if isinstance(desc, d.ParamAOTInput):
            inputs[node.name] = (ROLE_PARAMETER, desc.target)
        elif isinstance(desc, d.BufferAOTInput):
            inputs[node.name] = (ROLE_BUFFER, desc.target)
        elif isinstance(desc, d.PlainAOTInput):
            inputs[node.name] = (ROLE_INPUT, desc.idx) if desc.idx < n_inputs else (ROLE_TARGET, desc.idx - n_inputs)
        elif isinstance(desc, d.TangentAOTInput):
            inputs[node.name] = (ROLE_SEED, None)
        else:
            raise UserError(
                f"the traced step has an input this tool does not handle: {desc!r} (tensor subclasses and RNG-functionalized graphs are not supported)"
            )

    out_node = gm.graph.output_node()
    values = out_node.args[0]
    descs = out_node.meta.get("desc") or [None] * len(values)
    check_training_step(gm, setup, d)
    outputs: list[tuple[str | None, str, Any]] = []
    for value, desc in zip(values, descs):
        if value is None:
            continue
        if not isinstance(value, torch.fx.Node):
            raise UserError(f"the traced step returns a non-tensor output {value!r}")
        if isinstance(desc, d.GradAOTOutput):
            target = getattr(desc.grad_of, "target", None)
            if not isinstance(desc.grad_of, d.ParamAOTInput):
                continue  # a gradient of a batch tensor: not part of a training step
            outputs.append((value.name, OUT_GRADIENT, target))
        elif isinstance(desc, d.InputMutationAOTOutput):
            outputs.append((value.name, OUT_BUFFER, getattr(desc.mutated_input, "target", repr(desc.mutated_input))))
        elif isinstance(desc, d.PlainAOTOutput):
            outputs.append((value.name, OUT_LOSS, None))
        else:
            raise UserError(f"the traced step has an output this tool does not handle: {desc!r}")

    paths: dict[str, str] = {}
    backward: set[str] = set()
    first_forward_by_seq: dict[int, str] = {}
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        is_backward = node.meta.get("partitioner_tag") == "is_backward" or bool(node.meta.get("autograd_backward"))
        seq = node.meta.get("seq_nr")
        if is_backward:
            backward.add(node.name)
            fwd = first_forward_by_seq.get(seq)
            if node.meta.get("is_gradient_acc"):
                paths[node.name] = "<gradient accumulation>"
            else:
                paths[node.name] = paths.get(fwd, "<step>") if fwd is not None else "<step>"
        else:
            stack = node.meta.get("nn_module_stack") or {}
            paths[node.name] = _module_path(list(stack)[-1]) if stack else "<step>"
            if seq is not None:
                first_forward_by_seq.setdefault(seq, node.name)
    canonical: dict[str, str] = {}
    first: dict[int, str] = {}
    for name, tensor in [
        *setup.step.named_parameters(remove_duplicate=False),
        *setup.step.named_buffers(remove_duplicate=False),
    ]:
        canonical[name] = first.setdefault(id(tensor), name)
    return Joint(
        gm=gm,
        inputs=inputs,
        outputs=outputs,
        paths=paths,
        backward=backward,
        canonical=canonical,
        seconds=time.perf_counter() - started,
    )
