"""Re-tracing an extracted graph's training step (from its source block), checked to give the same graph:
what executing a schedule (graphs/pytorch/execute.py) and the PyTorch baselines need."""

from __future__ import annotations

from graphs.pytorch import require_torch
from graphs.pytorch.extract import plan_graph
from graphs.pytorch.trace import is_factory_spec, make_setup, trace_joint
from moccasin_bench.errors import UserError
from moccasin_bench.graph import PYTORCH_SOURCE_KIND, Graph


def retrace(graph: Graph, real: bool = True, optimizer: str = "adam"):
    """Trace the graph's step again (from its source block) and check it is the same graph.

    Returns (joint, plan, setup), the setup holding real tensors when `real`.
    """
    source = graph.source or {}
    spec = source.get("factory")
    if source.get("kind") != PYTORCH_SOURCE_KIND or not spec or not is_factory_spec(spec):
        raise UserError(f"graph {graph.name!r} does not record the PyTorch factory it was extracted from")
    torch = require_torch()
    kwargs = dict(source.get("factory_kwargs") or {})
    if "input_shape" in kwargs and kwargs["input_shape"] is not None:
        kwargs["input_shape"] = tuple(kwargs["input_shape"])
    shape = source.get("input_shape")
    shape = None if shape is None else tuple(shape)
    fake = make_setup(spec, batch=source.get("batch"), input_shape=shape, fake=True, factory_kwargs=kwargs)
    joint = trace_joint(fake)
    plan = plan_graph(joint, optimizer)
    problems = []
    if source.get("torch") and source["torch"] != torch.__version__:
        problems.append(f"extracted with torch {source['torch']}, this is {torch.__version__}")
    if plan.groups != [list(g) for g in source.get("fx_nodes", [])]:
        problems.append("its FX nodes differ from the recorded node mapping")
    if plan.memory != graph.memory.tolist():
        problems.append("node sizes differ")
    if sorted(plan.edges) != sorted(map(tuple, graph.edges.tolist())):
        problems.append("edges differ")
    if problems and (len(problems) > 1 or not problems[0].startswith("extracted with")):
        raise UserError(f"re-tracing {spec} does not give graph {graph.name!r} again: {'; '.join(problems)}")
    setup = (
        make_setup(spec, batch=source.get("batch"), input_shape=shape, fake=False, factory_kwargs=kwargs)
        if real
        else fake
    )
    return joint, plan, setup
