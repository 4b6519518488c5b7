"""`maxbatch`: the largest batch per method equals brute force over every batch size up to a small bound,
on a small model extracted at each batch (fake tensors)."""

from __future__ import annotations

import json

import pytest

from moccasin_bench.budget import Budget
from moccasin_bench.judge import solve_in_process
from tests.conftest import run_cli

torch = pytest.importorskip("torch")

from graphs.pytorch.build import extract  # noqa: E402
from graphs.pytorch.maxbatch import (  # noqa: E402
    Attempt,
    Prober,
    bracket,
    largest_by_doubling,
    largest_true,
    max_batches,
)

FACTORY = "graphs.pytorch.models:small_net"
BOUND = 12
# small_net: plain step + fixed bytes 1.47 MB at batch 1, +0.1 MB a batch; minimum feasible + fixed 1.38 MB,
# +16 KB a batch (jumping at 8): at 1.6 MB the plain step fits batch 2, a schedule exists up to batch 11
DEVICE = 1_600_000
METHODS = {"heuristic": ("heuristic", {"strategy": "best"}), "checkpoint-free": ("moccasin", {"order": "free"})}


def _solve(key, probe, budget):
    formulation, params = METHODS[key]
    if budget < 0:
        return Attempt(probe.batch, "infeasible", None, None)
    r = solve_in_process(probe.graph, Budget(bytes=budget), formulation, params, time_limit_seconds=10).to_json()
    return Attempt(probe.batch, r["status"], r["tdi_percent"], r["peak_memory"])


def test_bisection_helpers_find_the_last_true():
    for cut in range(0, 40):
        assert largest_by_doubling(lambda b, cut=cut: b <= cut, cap=1000) == cut
        assert largest_true(lambda b, cut=cut: b <= cut, 0, 41) == cut
    assert largest_by_doubling(lambda b: True, cap=100) == 100


def test_galloping_from_a_guess_finds_the_last_true():
    """Any guess, any lower bound that fits: the bracket and the bisection in it end at the last true (exactly, or
    within the precision with the batch returned fitting)."""
    for cut in range(0, 40):
        for plain in sorted({0, min(cut, 3), cut}):
            for guess in range(1, 41):
                for precision in (0.0, 0.1):
                    tried = []

                    def fits(b, cut=cut, tried=tried):
                        tried.append(b)
                        return b <= cut

                    lo, hi = bracket(fits, guess, plain, 41, precision)
                    best = lo if hi is None else largest_true(fits, lo, hi, precision)
                    assert best <= cut and cut - best <= max(0, precision * best), (cut, plain, guess, best)
                    assert len(tried) == len(set(tried)) or precision  # exact search solves no batch twice
    calls = []
    bracket(lambda b: calls.append(b) or b <= 100, 100, 10, 1000, 0.05)
    assert calls == [100, 105]  # a guess within the precision costs two solves


def test_largest_batch_equals_brute_force():
    probe = Prober(lambda b: extract(FACTORY, batch=b))
    [found] = max_batches(probe, [DEVICE], list(METHODS), _solve, cap=BOUND)
    plain = [b for b in range(1, BOUND + 1) if probe(b).plain_peak + probe(b).fixed_bytes <= DEVICE]
    assert found["plain"] == max(plain, default=0) and 0 < found["plain"] < found["possible"]
    for r in found["methods"]:
        fits = [
            b
            for b in range(1, BOUND + 1)
            if _solve(r.method, probe(b), DEVICE - probe(b).fixed_bytes).status in ("optimal", "feasible")
        ]
        assert r.largest_batch == max(fits, default=0), (r.method, fits, r.attempts)
        assert r.largest_batch > found["plain"]  # recomputation buys batch size here
        assert r.peak_with_fixed_bytes <= DEVICE  # the step at the largest batch fits, fixed bytes included


def test_maxbatch_command(tmp_path):
    out = tmp_path / "mb.json"
    store = tmp_path / "runs.sqlite"
    args = [FACTORY, "--device-memory", str(DEVICE), "--methods", "heuristic", "--time-limit", "10"]
    r = run_cli("maxbatch", *args, "--max-batch", str(BOUND), "--store", str(store), "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    [dev] = doc["devices"]
    [m] = dev["methods"]
    assert m["method"].startswith("heuristic") and m["largest_batch"] > dev["plain_largest_batch"] > 0
    assert doc["not_applicable"] == {}  # only the chosen method, and it applies
    again = run_cli("maxbatch", *args, "--max-batch", str(BOUND), "--store", str(store), "--json")
    assert json.loads(again.stdout)["devices"][0]["methods"][0]["largest_batch"] == m["largest_batch"]
    bad = run_cli("maxbatch", FACTORY, "--device-memory", "lots")
    assert bad.returncode == 2 and "device-memory" in bad.stderr and "Traceback" not in bad.stderr


def test_affine_sizes_equal_extraction():
    from graphs.pytorch.maxbatch import affine_extractor, duration_tolerance

    at = affine_extractor(lambda b: extract(FACTORY, batch=b), check=8)
    for b in (1, 5, 11):
        real, guess = extract(FACTORY, batch=b), at(b)
        assert (real.memory == guess.memory).all() and real.fixed_bytes == guess.fixed_bytes
        assert (abs(real.duration - guess.duration) <= duration_tolerance(real.duration, b, 2, 2)).all()
        assert (real.edges == guess.edges).all() and guess.source["batch"] == b


def test_partitioner_plans_shared_across_batches_equal_fresh_ones():
    """maxbatch's shortcut for the partitioner (its plans traced at one batch, applied at another) gives what a
    fresh trace at that batch gives, knob by knob (a budget it cannot reach: every knob of the scan is tried),
    on a model whose plans do not depend on the batch."""
    from formulations._torch_remat import plans_shared_across_batches

    params = {"solver": "greedy", "scan_step": 0.5}  # knobs 1, 0.5, 0: three partitions a run

    def run(g):
        budget = Budget(bytes=int(g.min_feasible_budget))
        r = solve_in_process(g, budget, "torch-partitioner", params, time_limit_seconds=120).to_json()
        return r["status"], r["variant"]

    g2, g6 = extract(FACTORY, batch=2), extract(FACTORY, batch=6)
    fresh = run(g6)
    with plans_shared_across_batches() as shared:
        at2 = run(g2)
        again = run(g6)
        assert len(shared) == 1  # one trace for both batches
    assert fresh[0] == again[0] == "no_solution" and len(fresh[1]["tried"]) == 3
    assert again[1]["tried"] == fresh[1]["tried"]  # the same peak and cost at every knob
    assert [t["peak"] for t in at2[1]["tried"]] != [t["peak"] for t in fresh[1]["tried"]]  # another batch
    assert again[1]["plans_traced_at_batch"] == 2 and "plans_traced_at_batch" not in fresh[1]
