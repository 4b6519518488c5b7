"""The `rotor` formulation: optimal persistent checkpointing of a heterogeneous chain (Beaumont,
Eyraud-Dubois, Herrmann, Joly, Shilova, 2019: the dynamic program behind the `rotor` library
and the top level of Rockmate), written from the paper's description.

The graph is cut into a chain of stages, each a run of forward nodes with the backward nodes
that belong to it: on PyTorch graphs the model's top-level blocks (the module paths
`torch-checkpoint` reads: `layer1.0`, `blocks.3`, ...) and the runs of other forward ops
between them; on training graphs labelled `NAME` / `NAME_backward` (the `linear` family,
Checkmate's graphs) one stage per forward node. A backward node belongs to the stage of the
latest forward node it reads. Where a skip connection or a backward read crosses more than
one stage boundary the stages it spans are merged, so what remains is a chain: stage i's
forward reads only stage i-1 and itself, its backward only stages i-1 and i and the backward
of stage i+1. A graph with no backward nodes is one stage.

The dynamic program (per stage: forward and backward durations; bytes of all its forward
outputs, of the outputs the next stage reads, of its backward outputs) gives the cheapest
persistent schedule of the chain under a memory limit: for the stages s..t, either run
stage s keeping all its forward outputs, solve s+1..t, then run s's backward; or run stages
s..s'-1 keeping only the outputs stage s' reads, solve s'..t, then s..s'-1 again. Memory is
in `slots` slots, sizes rounded up. Its memory model counts every forward output of a
stored stage and every backward output of the running stage, so it is an upper bound on the
simulator's peak; the schedule (a recomputed stage recomputes all its forward nodes before
its backward) is simulated, and the memory limit handed to the program is raised above the
budget, by bisection, as long as the simulated schedule still fits (the bound is loose on
stages whose outputs die early). `optimal` is claimed by nobody: the result is the cheapest
schedule of the family found, judged by the simulator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moccasin_bench.formulation import Problem, SolverOutput
from moccasin_bench.graph import PYTORCH_SOURCE_KIND, Graph
from moccasin_bench.params import Param

NAME = "rotor"
DESCRIPTION = "optimal persistent checkpointing of the chain of blocks (rotor's dynamic program), simulated"
LABEL = "Rotor"
BASELINE = "rotor: the optimal block-level checkpointing plan"
PARAMS = (
    Param(
        "slots", int, 500, "memory discretisation of the dynamic program (slots up to the limit)", low=10, high=20000
    ),
)
PYTORCH_BACKWARD = " (backward)"
TRAINING_BACKWARD = "_backward"


@dataclass(frozen=True)
class Chain:
    """A graph cut into a chain of stages (dense node indices, in schedule order)."""

    forward: tuple[tuple[int, ...], ...]  # per stage, its forward nodes
    backward: tuple[tuple[int, ...], ...]  # per stage, its backward nodes
    names: tuple[str, ...]
    merged: int  # initial stages merged away to make a chain
    note: str = ""  # why the chain is as it is (no backward, ...)

    @property
    def length(self) -> int:
        return len(self.forward)


@dataclass(frozen=True)
class ChainCosts:
    """The dynamic program's data, per stage (sizes in any unit)."""

    uf: np.ndarray  # forward duration
    ub: np.ndarray  # backward duration
    xall: np.ndarray  # all forward outputs of the stage
    xb: np.ndarray  # forward outputs the next stage reads (its input)
    btot: np.ndarray  # all backward outputs of the stage
    grad: np.ndarray  # backward outputs the previous stage's backward reads


# ---- the chain -----------------------------------------------------------------------------


def _backward_flags(graph: Graph) -> np.ndarray | None:
    if graph.labels is None:
        return None
    pt = (graph.source or {}).get("kind") == PYTORCH_SOURCE_KIND
    suffix = PYTORCH_BACKWARD if pt else TRAINING_BACKWARD
    flags = np.array([label.endswith(suffix) for label in graph.labels], dtype=bool)
    return flags if flags.any() else None


def _initial_stages(graph: Graph, forward: list[int]) -> tuple[list[int], list[str]]:
    """Stage index per forward-order position, and stage names."""
    if (graph.source or {}).get("kind") != PYTORCH_SOURCE_KIND:
        return list(range(len(forward))), [graph.labels[v] for v in forward]
    from formulations._torch_remat import checkpoint_units, step_parts

    _, units = checkpoint_units(graph, step_parts(graph))
    stage, names, pos = [], [], 0
    starts = {u.first: u for u in units}
    while pos < len(forward):
        if pos in starts:
            u = starts[pos]
            names.append(u.key)
            stage += [len(names) - 1] * (u.last - u.first + 1)
            pos = u.last + 1
        else:
            end = pos
            while end < len(forward) and end not in starts:
                end += 1
            names.append(f"ops {pos}-{end - 1}")
            stage += [len(names) - 1] * (end - pos)
            pos = end
    return stage, names


def build_chain(graph: Graph, order: np.ndarray) -> Chain:
    """Cut the graph into a chain of stages along `order` (see the module docstring)."""
    order_list = np.asarray(order, dtype=np.int64).tolist()
    flags = _backward_flags(graph)
    if flags is None:
        return Chain((tuple(order_list),), ((),), ("whole graph",), 0, "no backward nodes (labels NAME_backward)")
    forward = [v for v in order_list if not flags[v]]
    backward = [v for v in order_list if flags[v]]
    init, names = _initial_stages(graph, forward)
    n_init = max(init) + 1
    cut = [True] * n_init  # cut[i]: a boundary before initial stage i
    preds = [graph.predecessors(v).tolist() for v in range(graph.n)]
    while True:
        index = np.cumsum(cut) - 1  # initial stage -> current stage
        sf = {v: int(index[init[k]]) for k, v in enumerate(forward)}
        sb: dict[int, int] = {}
        prev = int(index[-1])
        for b in backward:
            fw = [sf[u] for u in preds[b] if u in sf]
            bw = [sb[u] for u in preds[b] if u in sb]
            s = max(fw) if fw else (min(bw) if bw else prev)
            s = min(s, prev)
            sb[b] = prev = s
        merges: list[tuple[int, int]] = []  # merge current stages a..b (a < b)
        for w in forward:
            for u in preds[w]:
                if u in sf and sf[w] - sf[u] > 1:
                    merges.append((sf[u] + 1, sf[w]))
        for b in backward:
            for u in preds[b]:
                if u in sf and (sf[u] < sb[b] - 1 or sf[u] > sb[b]):
                    lo, hi = sorted((sf[u], sb[b]))
                    merges.append((lo + 1 if sf[u] < sb[b] else lo, hi))
                elif u in sb and sb[u] > sb[b] + 1:
                    merges.append((sb[b] + 1, sb[u]))
        if not merges:
            break
        first_of = {}  # current stage -> first initial stage of it
        for i in range(n_init):
            first_of.setdefault(int(index[i]), i)
        for a, b in merges:
            for s in range(a + 1, b + 1):
                cut[first_of[s]] = False
    count = int(index[-1]) + 1
    fw_st: list[list[int]] = [[] for _ in range(count)]
    bw_st: list[list[int]] = [[] for _ in range(count)]
    for v in forward:
        fw_st[sf[v]].append(v)
    for b in backward:
        bw_st[sb[b]].append(b)
    stage_names = []
    for i in range(n_init):
        if cut[i]:
            stage_names.append(names[i])
        else:
            stage_names[-1] = stage_names[-1].split(" + ")[0] + " + ..."
    return Chain(
        tuple(map(tuple, fw_st)), tuple(map(tuple, bw_st)), tuple(stage_names), n_init - count, "" if count > 1 else ""
    )


def chain_costs(graph: Graph, chain: Chain) -> ChainCosts:
    """Per-stage durations and byte counts (see ChainCosts)."""
    L = chain.length
    stage_of_f = {v: i for i, nodes in enumerate(chain.forward) for v in nodes}
    stage_of_b = {v: i for i, nodes in enumerate(chain.backward) for v in nodes}
    dur, mem = graph.duration, graph.memory
    uf = np.array([int(dur[list(f)].sum()) if f else 0 for f in chain.forward], dtype=np.int64)
    ub = np.array([int(dur[list(b)].sum()) if b else 0 for b in chain.backward], dtype=np.int64)
    xall = np.array([int(mem[list(f)].sum()) if f else 0 for f in chain.forward], dtype=np.int64)
    btot = np.array([int(mem[list(b)].sum()) if b else 0 for b in chain.backward], dtype=np.int64)
    xb = np.zeros(L, dtype=np.int64)
    grad = np.zeros(L, dtype=np.int64)
    for i in range(L):
        for v in chain.forward[i]:
            if any(stage_of_f.get(s, stage_of_b.get(s)) == i + 1 for s in graph.successors(v).tolist()):
                xb[i] += int(mem[v])
        for v in chain.backward[i]:
            if any(stage_of_b.get(s) == i - 1 for s in graph.successors(v).tolist()):
                grad[i] += int(mem[v])
    return ChainCosts(uf, ub, xall, xb, btot, grad)


# ---- the dynamic program ----------------------------------------------------------------------


def _shift(a: np.ndarray, d: int) -> np.ndarray:
    """out[m] = a[m - d] (inf where m < d)."""
    if d <= 0:
        return a
    out = np.full_like(a, np.inf)
    if d < len(a):
        out[d:] = a[: len(a) - d]
    return out


def rotor_table(c: ChainCosts, limit: int) -> tuple[list, list]:
    """The dynamic program on integer sizes: cost[s][t][m] (the cheapest schedule of stages
    s..t within m units beyond what is held outside), choice[s][t][m] (-1: store stage s
    entirely; s' > s: keep only stage s'-1's output across s'..t; -2: none fits)."""
    L = len(c.uf)
    M = limit + 1
    m_axis = np.arange(M)
    uf, ub = c.uf.astype(float), c.ub.astype(float)
    xall, xb, btot = (np.asarray(a, dtype=np.int64).tolist() for a in (c.xall, c.xb, c.btot))
    cost = [[None] * L for _ in range(L)]
    choice = [[None] * L for _ in range(L)]
    prefix = np.concatenate(([0.0], np.cumsum(uf)))
    for s in range(L):
        ok = m_axis >= xall[s] + btot[s]
        cost[s][s] = np.where(ok, uf[s] + ub[s], np.inf)
        choice[s][s] = np.where(ok, -1, -2)
    for length in range(1, L):
        for s in range(L - length):
            t = s + length
            best = np.where(m_axis >= xall[s] + btot[s], uf[s] + ub[s] + _shift(cost[s + 1][t], xall[s]), np.inf)
            pick = np.where(np.isfinite(best), -1, -2)
            trans = xall[s]  # forward transient of running s..s'-1 without storing
            for sp in range(s + 1, t + 1):
                if sp - 1 > s:
                    trans = max(trans, xb[sp - 2] + xall[sp - 1])
                val = prefix[sp] - prefix[s] + _shift(cost[sp][t], xb[sp - 1]) + cost[s][sp - 1]
                val = np.where(m_axis >= trans, val, np.inf)
                better = val < best
                best = np.where(better, val, best)
                pick = np.where(better, sp, pick)
            cost[s][t] = best
            choice[s][t] = pick
    return cost, choice


def rotor_ops(c: ChainCosts, choice: list, limit: int) -> list[tuple[str, int]]:
    """The operations of the optimal schedule: ("F", i) runs stage i's forward, ("B", i) its backward."""
    xb, xall = np.asarray(c.xb).tolist(), np.asarray(c.xall).tolist()
    ops: list[tuple[str, int]] = []

    def walk(s: int, t: int, m: int) -> None:
        k = int(choice[s][t][m])
        if k == -2:
            raise ValueError("no schedule fits")
        if k == -1:
            ops.append(("F", s))
            if t > s:
                walk(s + 1, t, m - xall[s])
            ops.append(("B", s))
            return
        ops.extend(("F", i) for i in range(s, k))
        walk(k, t, m - xb[k - 1])
        walk(s, k - 1, m)

    walk(0, len(c.uf) - 1, limit)
    return ops


def store_all(chain: Chain) -> list[tuple[str, int]]:
    """The schedule of the family that recomputes nothing: every forward, then every backward."""
    L = chain.length
    return [("F", i) for i in range(L)] + [("B", i) for i in reversed(range(L))]


def ops_schedule(chain: Chain, ops: Sequence[tuple[str, int]]) -> np.ndarray:
    """Our node sequence: each operation's nodes in order."""
    out: list[int] = []
    for kind, i in ops:
        out.extend(chain.forward[i] if kind == "F" else chain.backward[i])
    return np.asarray(out, dtype=np.int64)


def in_slots(c: ChainCosts, unit: int) -> ChainCosts:
    up = lambda a: -(-np.asarray(a, dtype=np.int64) // unit)  # noqa: E731
    return ChainCosts(c.uf, c.ub, up(c.xall), up(c.xb), up(c.btot), up(c.grad))


def plan(c: ChainCosts, limit_bytes: int, slots: int) -> list[tuple[str, int]] | None:
    """The dynamic program's schedule within `limit_bytes` (the largest backward output held
    outside every subproblem), or None when none fits."""
    unit = max(1, math.ceil(limit_bytes / slots))
    cs = in_slots(c, unit)
    limit = limit_bytes // unit - int(cs.grad.max(initial=0))
    if limit < 0:
        return None
    cost, choice = rotor_table(cs, limit)
    if not np.isfinite(cost[0][len(c.uf) - 1][limit]):
        return None
    return rotor_ops(cs, choice, limit)


# ---- the formulation -------------------------------------------------------------------------


def solve(problem: Problem) -> SolverOutput:
    from moccasin_bench.orders import reference_order
    from moccasin_bench.simulate import simulate

    g, budget = problem.graph, problem.budget.bytes
    t0 = time.perf_counter()
    deadline = problem.started_at + problem.time_limit_seconds
    chain = build_chain(g, reference_order(g, problem.reference_order_name))
    costs = chain_costs(g, chain)
    build = time.perf_counter() - t0
    slots = int(problem.params["slots"])
    tried: list[dict] = []
    best = None
    trajectory: list[tuple[float, float]] = []

    def attempt(limit: int | None):
        nonlocal best
        ops = plan(costs, limit, slots) if limit is not None else store_all(chain)
        if ops is None:
            tried.append({"limit": limit, "fits": False, "peak": None})
            return None
        sim = simulate(g, ops_schedule(chain, ops))
        if not sim.valid:  # pragma: no cover - the chain's checks keep every read after its computation
            raise RuntimeError(f"rotor schedule is not valid: {sim.violation.describe()}")
        fits = sim.fits(budget)
        tried.append(
            {
                "limit": limit if limit is not None else "store all",
                "fits": fits,
                "peak": int(sim.peak_memory),
                "cost": int(sim.total_duration),
            }
        )
        if fits and (best is None or (sim.total_duration, sim.steps) < (best[1].total_duration, best[1].steps)):
            best = (ops, sim, limit)
            trajectory.append((problem.elapsed(), float(sim.total_duration)))
            problem.notify(float(sim.total_duration))
        return sim

    attempt(None)  # every stage stored: in the family, whatever the model's bound says
    attempt(budget)
    # The model's peak is an upper bound: larger limits may still simulate within the budget.
    top = int(costs.xall.sum() + costs.btot.sum() + costs.grad.max(initial=0))
    lo, hi = budget, max(budget, top)
    while hi - lo > max(1, budget // 200) and time.perf_counter() < deadline:
        mid = (lo + hi) // 2
        sim = attempt(mid)
        if sim is not None and sim.fits(budget):
            lo = mid
        else:
            hi = mid
    seconds = time.perf_counter() - t0
    variant = {
        "stages": chain.length,
        "stage_examples": list(chain.names[:4]),
        "stages_merged": chain.merged,
        "slots": slots,
        "limits_tried": len(tried),
    }
    if chain.note:
        variant["chain"] = chain.note
    if best is None:
        peaks = [e["peak"] for e in tried if e["peak"] is not None]
        why = f"the graph has {chain.note}, so it is one stage: rotor can only run it as is" if chain.note else ""
        low = f"; the smallest simulated peak of its schedules is {min(peaks):,}" if peaks else ""
        return SolverOutput(
            status="no_solution",
            build_seconds=build,
            solve_seconds=seconds - build,
            variant=variant,
            message=(
                f"no persistent checkpointing of the chain of {chain.length} stage(s) fits the budget {budget:,}"
                + (f": {why}" if why else "")
                + low
            ),
        )
    ops, sim, limit = best
    return SolverOutput(
        status="feasible",
        schedule=sim.schedule,
        objective=float(sim.total_duration),
        trajectory=tuple(trajectory),
        build_seconds=build,
        solve_seconds=seconds - build,
        variant={
            **variant,
            "limit": limit if limit is not None else "store all",
            "forward_recomputed_stages": sum(1 for k, _ in ops if k == "F") - chain.length,
            "recomputations": sim.steps - g.n,
        },
        restrictions="persistent checkpointing of the chain of stages (rotor's family): no optimality claim on the graph",
    )
