"""Extraction end to end (MODULE:FACTORY -> Graph). Re-tracing a graph for execution is graphs/pytorch/retrace.py."""

from __future__ import annotations

import time

from graphs.pytorch import require_torch
from graphs.pytorch.costs import COST_MODELS, flops_costs, profile_costs
from graphs.pytorch.extract import OPTIMIZER_STATES, plan_graph
from graphs.pytorch.retrace import retrace  # noqa: F401  (where callers found it before)
from graphs.pytorch.trace import make_setup, trace_joint
from moccasin_bench.errors import UserError
from moccasin_bench.graph import PYTORCH_SOURCE_KIND, Graph


def _dtypes(tensors) -> list[dict]:
    return [{"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")} for t in tensors]


def extract(
    spec: str,
    batch: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    costs: str = "flops",
    optimizer: str = "adam",
    profile_runs: int = 5,
    threads: int = 1,
    name: str | None = None,
    command: str | None = None,
) -> Graph:
    """Trace MODULE:FACTORY's training step and build its graph (see docs/pytorch.md)."""
    torch = require_torch()
    from moccasin_bench import __version__

    if costs not in COST_MODELS:
        raise UserError(f"unknown cost model {costs!r}; choose one of {', '.join(COST_MODELS)}")
    if optimizer not in OPTIMIZER_STATES:
        raise UserError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATES)}")
    if batch is not None and batch < 1:
        raise UserError(f"--batch must be at least 1, got {batch}")
    started = time.perf_counter()
    torch.set_num_threads(int(threads))
    setup = make_setup(spec, batch=batch, input_shape=input_shape, fake=True)
    joint = trace_joint(setup)
    plan = plan_graph(joint, optimizer)
    if plan.n == 0:
        raise UserError(f"the training step of {spec} has no operations to schedule")
    if costs == "flops":
        durations, detail = flops_costs(joint, plan)
    else:
        from graphs.pytorch.execute import StepRunner

        real = make_setup(spec, batch=batch, input_shape=input_shape, fake=False, factory_kwargs=setup.factory_kwargs)
        durations, detail = profile_costs(StepRunner(joint, plan, real, optimizer), profile_runs)
    params = [p for p in setup.step.parameters()]
    fixed = dict(plan.fixed)
    source = {
        "kind": PYTORCH_SOURCE_KIND,
        "factory": spec,
        "factory_kwargs": setup.factory_kwargs,
        "batch": batch,
        "input_shape": None if input_shape is None else list(input_shape),
        "inputs": _dtypes(setup.inputs),
        "targets": _dtypes(setup.targets),
        "loss": "given by the factory" if setup.loss_given else "default (scalar output, else mean of squared output)",
        "parameter_dtypes": sorted({str(p.dtype).removeprefix("torch.") for p in params}),
        "parameters": sum(p.numel() for p in params),
        "torch": torch.__version__,
        "moccasin_bench": __version__,
        "tracer": "torch._functorch.aot_autograd.aot_export_joint_with_descriptors (functionalized, fake tensors)",
        "command": command,
        "costs": detail["info"],
        "memory_unit": "bytes",
        "fixed": {**fixed, "optimizer": optimizer, "total": sum(fixed.values())},
        "fx_graph": plan.fingerprint(joint.gm),
        "fx_nodes": plan.groups,
        "epilogue": plan.epilogue,
        "random_nodes": plan.random,
        "folded": plan.folded,
        "flops": detail["flops"],
        "bytes_moved": detail["bytes_moved"],
        "extraction_seconds": round(time.perf_counter() - started, 2),
    }
    graph_name = name or spec.split(":")[-1]
    return Graph.build(
        graph_name,
        list(range(plan.n)),
        durations,
        plan.memory,
        plan.edges,
        stored_order=list(range(plan.n)),
        origin=spec,
        labels=plan.labels,
        fixed_bytes=sum(fixed.values()),
        source=source,
    )
