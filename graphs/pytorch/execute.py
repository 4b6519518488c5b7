"""Run one real training step in a schedule's order, and measure it.

The joint FX graph is interpreted node group by node group (a graph node = its op and the
views folded into it) in the schedule's order. Step j computing node v reads, for each
input, the most recent earlier copy; every copy is dropped right after the step the
simulator says is its last read (`Simulation.live_until`), so Python's reference counts
free its tensors there. A repeated node is recomputed from its inputs' live copies.

Resident state (allocated before the step, as in step 2 onwards of real training):
parameters, buffers, the batch, the loss seed, one slot per step output (gradient,
buffer update, loss: a node producing one copies it there; a recomputation writes the
same values again) and the optimizer state (zeros: the optimizer update itself is not in
the joint graph and is not run). Epilogue nodes run once after the schedule.

Random ops (dropout) draw from a generator seeded per node: seed + node id, restored
after the op. Every computation of a node, first or recomputed, in any order, draws the
same mask, and the plain run (the graph's own order, no recomputation) uses the same
rule, so the two runs compute the same values.

Memory is measured by the allocator: torch.profiler with profile_memory=True records
every CPU allocation and free (signed bytes); the peak of their running sum over the
run, the resident state included (it is allocated inside the profiled region).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphs.pytorch import require_torch
from graphs.pytorch.extract import OPTIMIZER_STATES, OUT_BUFFER, OUT_GRADIENT, OUT_LOSS, Plan
from graphs.pytorch.retrace import retrace
from graphs.pytorch.trace import ROLE_BUFFER, ROLE_INPUT, ROLE_PARAMETER, ROLE_SEED, ROLE_TARGET, Joint, Setup
from moccasin_bench.errors import UserError
from moccasin_bench.graph import PYTORCH_SOURCE_KIND

RNG_SEED = 20230725
RTOL, ATOL = 1e-5, 1e-6  # used only when two runs are not bitwise equal (see docs/pytorch.md)


@dataclass
class State:
    """Resident tensors of one step: placeholders and their views, output slots, optimizer state."""

    fixed: dict[str, Any]
    slots: dict[str, Any]
    optimizer: list


class StepRunner:
    """Interprets a planned joint graph on the real tensors of a (non-fake) Setup."""

    def __init__(self, joint: Joint, plan: Plan, setup: Setup, optimizer: str = "adam", seed: int = RNG_SEED) -> None:
        torch = require_torch()
        if setup.fake:
            raise ValueError("StepRunner needs real tensors (make_setup(fake=False))")
        self.torch = torch
        self.joint, self.plan, self.seed = joint, plan, int(seed)
        self.optimizer_states = OPTIMIZER_STATES[optimizer]
        self.nodes = {n.name: n for n in joint.gm.graph.nodes}
        params = dict(setup.step.named_parameters(remove_duplicate=False))
        buffers = dict(setup.step.named_buffers(remove_duplicate=False))
        self.placeholders: dict[str, Any] = {}
        detached: dict[int, Any] = {}  # a tied weight stays one tensor under its two names
        for name, (role, key) in joint.inputs.items():
            if role == ROLE_PARAMETER:
                value = detached.setdefault(id(params[key]), params[key].detach())
            elif role == ROLE_BUFFER:
                value = buffers[key]
            elif role == ROLE_INPUT:
                value = setup.inputs[key]
            elif role == ROLE_TARGET:
                value = setup.targets[key]
            elif role == ROLE_SEED:
                meta = self.nodes[name].meta["val"]
                value = torch.ones(meta.shape, dtype=meta.dtype)
            else:  # pragma: no cover - trace_joint rejects other inputs
                raise UserError(f"unexpected input role {role!r}")
            self.placeholders[name] = value
        self.view_order = [n.name for n in joint.gm.graph.nodes if plan.resident.get(n.name) == "view"]
        # Per group: (FX name, target, args, kwargs) in graph order; and its output slot names.
        self.code = [[self._instr(name) for name in members] for members in plan.groups]
        self.epilogue_code = [[self._instr(name) for name in members] for members in plan.epilogue]
        out_names = {name for name, _, _ in plan.outputs}
        self.group_outputs = [[name for name in members if name in out_names] for members in plan.groups]
        self.epilogue_outputs = [[name for name in members if name in out_names] for members in plan.epilogue]
        self.random = set(plan.random)

    def _instr(self, name: str):
        node = self.nodes[name]
        return (name, node.target, node.args, node.kwargs)

    # ---- state ------------------------------------------------------------------------
    def resident(self, clone: bool = False) -> State:
        """The resident state; `clone` allocates copies of the placeholders and the
        optimizer state (zeros), so an allocator trace sees all of it. Without `clone` the
        optimizer state, which no op reads, is left out."""
        torch = self.torch
        copies: dict[int, Any] = {}  # tied weights: one tensor under two names stays one tensor
        fixed = {}
        for k, v in self.placeholders.items():
            if clone and id(v) not in copies:
                copies[id(v)] = v.clone()
            fixed[k] = copies[id(v)] if clone else v
        for name in self.view_order:
            _, target, args, kwargs = self._instr(name)
            a, kw = torch.fx.node.map_arg((args, kwargs), lambda n: fixed[n.name])
            fixed[name] = target(*a, **kw)
        slots = {}
        for name, _, _ in self.plan.outputs:
            if name not in slots:
                meta = self.nodes[name].meta["val"]
                slots[name] = torch.zeros(meta.shape, dtype=meta.dtype)
        trained = {}
        for name, role, target in self.plan.outputs:
            if role == OUT_GRADIENT:
                trained.setdefault(self.joint.canonical.get(target, target), slots[name])
        optimizer = [
            torch.zeros_like(g) for g in trained.values() for _ in range(self.optimizer_states if clone else 0)
        ]
        return State(fixed=fixed, slots=slots, optimizer=optimizer)

    # ---- interpretation ---------------------------------------------------------------
    def _compute(self, g: int, code, lookup):
        torch = self.torch
        local: dict[str, Any] = {}

        def value(n):
            v = local.get(n.name)
            return v if v is not None or n.name in local else lookup(n.name)

        def run():
            for name, target, args, kwargs in code:
                a, kw = torch.fx.node.map_arg((args, kwargs), value)
                local[name] = target(*a, **kw)

        if g in self.random:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + g)
                run()
        else:
            run()
        return local

    def run(
        self, schedule, live_until, state: State, timings: list[int] | None = None, mark_steps: bool = False
    ) -> None:
        """Run the dense-index schedule; drop each copy after step live_until[j].

        `mark_steps` wraps each step in a profiler range named moccasin::@<step>."""
        plan = self.plan
        fixed, slots = state.fixed, state.slots
        group_of = plan.group_of
        copies: dict[int, dict] = {}
        current: dict[int, int] = {}
        free_at: dict[int, list[int]] = {}
        for j, last in enumerate(np.asarray(live_until).tolist()):
            free_at.setdefault(last, []).append(j)

        def lookup(name):
            v = fixed.get(name)
            if v is not None:
                return v
            return copies[current[group_of[name]]][name]

        perf = time.perf_counter_ns
        if mark_steps:
            from torch.profiler import record_function
        for j, g in enumerate(np.asarray(schedule).tolist()):
            if mark_steps:
                with record_function(f"moccasin::@{j}"):
                    local = self._compute(g, self.code[g], lookup)
                    for name in self.group_outputs[g]:
                        slots[name].copy_(local[name])
                    copies[j] = local
                    current[g] = j
                    del local
                    for k in free_at.get(j, ()):
                        del copies[k]
                continue
            if timings is not None:
                t0 = perf()
                local = self._compute(g, self.code[g], lookup)
                timings[g] += perf() - t0
            else:
                local = self._compute(g, self.code[g], lookup)
            for name in self.group_outputs[g]:
                slots[name].copy_(local[name])
            copies[j] = local
            current[g] = j
            del local
            for k in free_at.get(j, ()):
                del copies[k]
        if copies:  # pragma: no cover - live_until covers every step
            raise RuntimeError("copies left after the last step")
        epi: dict[str, Any] = {}
        for code, outs in zip(self.epilogue_code, self.epilogue_outputs):
            local = self._compute(-1, code, lambda name: fixed[name] if name in fixed else epi[name])
            epi.update(local)
            for name in outs:
                slots[name].copy_(local[name])

    def run_plain(self, timings: list[int] | None = None, state: State | None = None) -> State:
        """The unscheduled step: the graph's own order, each node once, freed after its last reader."""
        from moccasin_bench.simulate import simulate

        order = np.arange(self.plan.n)
        if not hasattr(self, "_plain_live"):
            self._plain_live = simulate(self._graph_for_plan(), order).live_until
        state = state or self.resident()
        self.run(order, self._plain_live, state, timings)
        return state

    def _graph_for_plan(self):
        from moccasin_bench.graph import Graph

        if not hasattr(self, "_plan_graph"):
            self._plan_graph = Graph.build(
                "plan", list(range(self.plan.n)), [0] * self.plan.n, self.plan.memory, self.plan.edges
            )
        return self._plan_graph

    # ---- measurements -----------------------------------------------------------------
    def measure_memory(self, schedule, live_until, simulated=None) -> dict:
        """Allocator peak of one run (resident state allocated inside the profiled region).

        With `simulated` (the simulator's memory per step), also the step whose in-step
        allocator peak exceeds the simulator's figure + the resident bytes the most (an op's
        internal workspace, which the graph does not model).
        """
        from torch.profiler import ProfilerActivity, profile, record_function

        prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        with _quiet_stderr():  # kineto prints a line to the C stderr when it starts and stops
            prof.start()
        try:
            with record_function("moccasin::resident"):
                state = self.resident(clone=True)
            with record_function("moccasin::step"):
                self.run(schedule, live_until, state, mark_steps=simulated is not None)
            del state
        finally:
            with _quiet_stderr():
                prof.stop()
        events = prof.profiler.kineto_results.events()
        step_start = min((e.start_ns() for e in events if e.name() == "moccasin::step"), default=None)
        memory = sorted((e.start_ns(), int(e.nbytes())) for e in events if e.name() == "[memory]")
        times, totals = [], []
        total = peak = resident = 0
        for start, nbytes in memory:
            if step_start is not None and start < step_start:
                resident += nbytes
            total += nbytes
            peak = max(peak, total)
            times.append(start)
            totals.append(total)
        out = {
            "peak_bytes": peak,
            "resident_bytes": resident,
            "transient_peak_bytes": peak - resident,
            "allocation_events": len(memory),
        }
        if simulated is not None:
            import bisect

            worst = None
            for e in events:
                name = e.name()
                if not name.startswith("moccasin::@"):
                    continue
                j = int(name[len("moccasin::@") :])
                lo = bisect.bisect_left(times, e.start_ns())
                hi = bisect.bisect_right(times, e.end_ns())
                before = totals[lo - 1] if lo > 0 else 0
                in_step = max([before, *totals[lo:hi]])
                excess = in_step - (int(simulated[j]) + resident)
                if worst is None or excess > worst[0]:
                    worst = (excess, j)
            if worst is not None:
                g = int(np.asarray(schedule)[worst[1]])
                out["largest_excess_over_simulated"] = {"bytes": worst[0], "step": worst[1], "node": g}
        return out

    def time_runs(self, schedule, live_until, repeat: int) -> list[float]:
        state = self.resident()
        out = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            self.run(schedule, live_until, state)
            out.append(time.perf_counter() - t0)
        return out


class _quiet_stderr:
    """Send file descriptor 2 to /dev/null for a moment (C++ log lines only: nothing runs inside)."""

    def __enter__(self):
        import os

        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        import os

        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


def compare_states(a: State, b: State, outputs) -> dict:
    """Bitwise equality of every step output, with the largest absolute difference."""
    torch = require_torch()
    bitwise = True
    close = True
    worst = 0.0
    names = []
    for name, role, target in outputs:
        x, y = a.slots[name], b.slots[name]
        if not torch.equal(x, y):
            bitwise = False
            names.append(target or role)
            if x.is_floating_point():
                diff = float((x.double() - y.double()).abs().max())
                worst = max(worst, diff)
                close = close and bool(torch.allclose(x, y, rtol=RTOL, atol=ATOL))
            else:
                close = False
    return {
        "bitwise_equal": bitwise,
        "equal_within_tolerance": close,
        "max_abs_diff": worst,
        "tensors_compared": len(outputs),
        "differing": names[:10],
        "rtol": RTOL,
        "atol": ATOL,
    }


def execute(
    graph, schedule_ids: list, repeat: int = 3, threads: int = 1, optimizer: str | None = None, progress=None
) -> dict:
    """Check the schedule, re-trace the graph's step, run it plain and scheduled, measure both."""
    torch = require_torch()
    from moccasin_bench.simulate import simulate

    say = progress or (lambda text: None)
    source = graph.source or {}
    if source.get("kind") != PYTORCH_SOURCE_KIND:
        raise UserError(
            f"graph {graph.name!r} was not extracted from PyTorch (it has no pytorch source block); execute needs a graph made by `moccasin-bench graphs extract`"
        )
    schedule = graph.to_indices(schedule_ids)
    sim = simulate(graph, schedule)
    if not sim.valid:
        raise UserError(f"the schedule does not fit graph {graph.name!r}: {sim.violation.describe()}")
    plain_sim = simulate(graph, np.arange(graph.n))
    torch.set_num_threads(int(threads))
    optimizer = optimizer or source.get("fixed", {}).get("optimizer", "adam")

    say(f"re-tracing {source.get('factory')} ...")
    joint, plan, setup = retrace(graph, real=True, optimizer=optimizer)
    runner = StepRunner(joint, plan, setup, optimizer=optimizer)
    runner._plain_live = plain_sim.live_until

    say("plain step ...")
    plain_state = runner.resident()
    runner.run(np.arange(graph.n), plain_sim.live_until, plain_state)
    say("scheduled step ...")
    sched_state = runner.resident()
    runner.run(sim.schedule, sim.live_until, sched_state)
    check = compare_states(plain_state, sched_state, plan.outputs)
    loss_name = next((name for name, role, _ in plan.outputs if role == OUT_LOSS), None)
    loss = None if loss_name is None else float(sched_state.slots[loss_name])
    del plain_state, sched_state

    say("memory (profiler) ...")
    mem_plain = runner.measure_memory(np.arange(graph.n), plain_sim.live_until, plain_sim.memory_per_step)
    mem_sched = runner.measure_memory(sim.schedule, sim.live_until, sim.memory_per_step)
    for mem in (mem_plain, mem_sched):
        worst = mem.get("largest_excess_over_simulated")
        if worst is not None and graph.labels is not None:
            worst["label"] = graph.labels[worst["node"]]
            worst["node"] = graph.node_ids[worst["node"]]
    say(f"timing ({repeat} runs each) ...")
    t_plain, t_sched = [], []
    for _ in range(max(1, repeat)):  # alternate, so drifts in machine load hit both
        t_plain += runner.time_runs(np.arange(graph.n), plain_sim.live_until, 1)
        t_sched += runner.time_runs(sim.schedule, sim.live_until, 1)
    med_plain, med_sched = statistics.median(t_plain), statistics.median(t_sched)
    fixed = graph.fixed_bytes
    return {
        "graph": graph.name,
        "graph_hash": graph.content_hash,
        "factory": source.get("factory"),
        "steps": sim.steps,
        "recomputations": sim.steps - graph.n,
        "loss": loss,
        "check": check,
        "random_nodes": len(plan.random),
        "rng": f"per-node seeds ({RNG_SEED} + node id), restored after each random op",
        "simulated": {
            "scheduled_peak": sim.peak_memory,
            "plain_peak": plain_sim.peak_memory,
            "fixed_bytes": fixed,
            "scheduled_peak_with_fixed": sim.peak_memory + fixed,
            "plain_peak_with_fixed": plain_sim.peak_memory + fixed,
            "predicted_tdi_percent": sim.tdi_percent,
        },
        "measured": {
            "scheduled": {**mem_sched, "seconds_median": med_sched, "seconds": t_sched},
            "plain": {**mem_plain, "seconds_median": med_plain, "seconds": t_plain},
            "time_increase_percent": 100.0 * (med_sched - med_plain) / med_plain if med_plain > 0 else None,
            "peak_over_simulated_percent": 100.0
            * (mem_sched["peak_bytes"] - (sim.peak_memory + fixed))
            / (sim.peak_memory + fixed),
        },
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "repeat": int(repeat),
    }


__all__ = ["StepRunner", "execute", "compare_states", "OUT_BUFFER"]
