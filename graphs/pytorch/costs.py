"""Node durations, in integer nanoseconds.

`flops` (deterministic): a node whose op has a FLOP formula (torch.utils.flop_counter:
mm, addmm, bmm, baddbmm, convolution and its backward, the attention kernels; plus the
CPU flash-attention kernels, counted with flop_counter's SDPA formulas) takes
ceil(FLOPs / PEAK_FLOPS) seconds; every other op is memory-bound and takes
ceil(bytes moved / BANDWIDTH), bytes moved = its tensor inputs (as the op sees them) +
its tensor outputs. Both on a nominal machine of PEAK_FLOPS and BANDWIDTH (recorded
with the graph). Folded views cost nothing.

`profile`: the median over k runs of each node's measured CPU time (its op and the views
folded into it) in one real training step on real tensors, interpreted in the graph's
order after one warm-up run; the provenance (CPU, threads, torch, k, date) is recorded.
"""

from __future__ import annotations

import datetime
import platform
import statistics

from graphs.pytorch import require_torch
from graphs.pytorch.extract import Plan, tensor_bytes, tensor_inputs

PEAK_FLOPS = 100 * 10**9  # FLOP/s of the nominal machine
BANDWIDTH = 20 * 10**9  # bytes/s of the nominal machine
COST_MODELS = ("flops", "profile")


def _custom_flop_formulas() -> dict:
    """FLOP formulas for ops torch.utils.flop_counter has none for (CPU attention kernels)."""
    torch = require_torch()
    from torch.utils import flop_counter as fc

    formulas = {}
    fwd = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    bwd = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)
    if fwd is not None:

        def forward(query, key, value, *args, out_val=None, **kwargs):
            return fc.sdpa_flop_count(query.shape, key.shape, value.shape)

        formulas[fwd] = forward
    if bwd is not None:

        def backward(grad_out, query, key, value, *args, out_val=None, **kwargs):
            return fc.sdpa_backward_flop_count(grad_out.shape, query.shape, key.shape, value.shape)

        formulas[bwd] = backward
    return formulas


def node_flops(node, formulas: dict) -> int:
    """FLOPs of one FX op node, counted on its fake tensors; 0 for ops without a formula."""
    torch = require_torch()
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    target = node.target
    packet = getattr(target, "overloadpacket", None)
    if packet is None or (packet not in flop_registry and packet not in formulas):
        return 0
    if packet in formulas:
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: n.meta["val"])
        return int(formulas[packet](*args, out_val=node.meta.get("val"), **kwargs))
    args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: n.meta["val"])
    fake_mode = next(
        (v.fake_mode for v in (n.meta.get("val") for n in tensor_inputs(node)) if hasattr(v, "fake_mode")), None
    )
    counter = FlopCounterMode(display=False)
    with fake_mode if fake_mode is not None else _null(), counter:
        target(*args, **kwargs)
    return int(counter.get_total_flops())


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def node_bytes_moved(node) -> int:
    """Bytes an op reads (its tensor inputs, as it sees them) and writes (its outputs)."""
    read = sum(tensor_bytes(n.meta.get("val")) for n in tensor_inputs(node))
    return read + tensor_bytes(node.meta.get("val"))


def flops_costs(joint, plan: Plan) -> tuple[list[int], dict]:
    """Durations (ns) by the FLOP / bandwidth model, and the per-node FLOPs and bytes moved."""
    nodes = {n.name: n for n in joint.gm.graph.nodes}
    formulas = _custom_flop_formulas()
    durations, flops, moved = [], [], []
    for members in plan.groups:
        node = nodes[members[0]]
        f = node_flops(node, formulas)
        b = node_bytes_moved(node)
        flops.append(f)
        moved.append(b)
        durations.append(-(-f * 10**9 // PEAK_FLOPS) if f > 0 else -(-b * 10**9 // BANDWIDTH))
    info = {
        "model": "flops",
        "unit": "ns",
        "peak_flops_per_second": PEAK_FLOPS,
        "bandwidth_bytes_per_second": BANDWIDTH,
        "rule": "ceil(FLOPs / peak) for ops with a FLOP formula, else ceil((input + output bytes) / bandwidth)",
    }
    return durations, {"flops": flops, "bytes_moved": moved, "info": info}


def profile_costs(runner, runs: int) -> tuple[list[int], dict]:
    """Median measured time (ns) of each node over `runs` timed runs of the plain step."""
    torch = require_torch()
    from moccasin_bench.provenance import cpu_model

    runs = max(1, int(runs))
    runner.run_plain(timings=None)  # warm-up
    samples: list[list[int]] = [[] for _ in range(runner.plan.n)]
    for _ in range(runs):
        times = [0] * runner.plan.n
        runner.run_plain(timings=times)
        for i, t in enumerate(times):
            samples[i].append(t)
    durations = [int(statistics.median(s)) for s in samples]
    info = {
        "model": "profile",
        "unit": "ns",
        "runs": runs,
        "statistic": "median",
        "warmup_runs": 1,
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return durations, {"flops": None, "bytes_moved": None, "info": info}


__all__ = ["COST_MODELS", "PEAK_FLOPS", "BANDWIDTH", "flops_costs", "profile_costs", "node_flops", "node_bytes_moved"]
