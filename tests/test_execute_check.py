"""`execute`'s proof that a scheduled step computes what the plain step computes.

The comparison (`compare_states`) tested on its own: a perturbed slot is flagged, equality
is of bits (NaN payloads, signed zeros), the tolerance treats NaN and infinities as
documented. Then the interpreter's plain step against an independent eager
`torch.autograd` step of the same model, so a run that computed nothing (zeros in every
slot) or computed with the wrong inputs cannot pass.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from graphs.pytorch.execute import RTOL, State, StepRunner, bitwise_equal, compare_states  # noqa: E402
from graphs.pytorch.extract import OUT_BUFFER, OUT_GRADIENT, OUT_LOSS  # noqa: E402


def nan_with_payload(payload: int) -> float:
    return struct.unpack("<f", struct.pack("<I", 0x7FC00000 | payload))[0]


def states(xs: dict, ys: dict):
    outputs = [(k, OUT_GRADIENT, f"p.{k}") for k in xs]
    return State({}, dict(xs), []), State({}, dict(ys), []), outputs


def test_identical_states_are_bitwise_equal_and_counted():
    a = {"g1": torch.randn(4, 3, generator=torch.Generator().manual_seed(1)), "g2": torch.arange(5.0)}
    x, y, outs = states(a, {k: v.clone() for k, v in a.items()})
    check = compare_states(x, y, outs)
    assert check["bitwise_equal"] and check["equal_within_tolerance"] and check["max_abs_diff"] == 0
    assert check["tensors_compared"] == 2 and check["elements_compared"] == 17 and check["nonzero_tensors"] == 2


@pytest.mark.parametrize("which", ["g1", "g2"])
def test_one_perturbed_slot_is_flagged(which):
    a = {"g1": torch.randn(4, 3, generator=torch.Generator().manual_seed(1)), "g2": torch.arange(1.0, 6.0)}
    b = {k: v.clone() for k, v in a.items()}
    flat = b[which].view(-1)
    flat[2] = torch.nextafter(flat[2], torch.tensor(float("inf")))  # one ulp
    check = compare_states(*states(a, b))
    assert not check["bitwise_equal"] and check["differing"] == [f"p.{which}"]
    assert check["equal_within_tolerance"] and 0 < check["max_abs_diff"] < 1e-6
    flat[2] += 1.0
    check = compare_states(*states(a, b))
    assert not check["bitwise_equal"] and not check["equal_within_tolerance"]
    assert check["max_abs_diff"] == pytest.approx(1.0, rel=1e-6)
    a_is_b = compare_states(*states(a, a))  # the comparison must look at both runs
    assert a_is_b["bitwise_equal"]


def test_nan_equals_itself_by_bits_and_payloads_count():
    nan1, nan2 = nan_with_payload(1), nan_with_payload(2)
    a = {"loss": torch.tensor(nan1), "g": torch.tensor([1.0, nan1, -0.0])}
    same = {"loss": torch.tensor(nan1), "g": torch.tensor([1.0, nan1, -0.0])}
    check = compare_states(*states(a, same))
    assert check["bitwise_equal"] and check["equal_within_tolerance"]
    other_payload = {"loss": torch.tensor(nan2), "g": torch.tensor([1.0, nan1, -0.0])}
    check = compare_states(*states(a, other_payload))
    assert not check["bitwise_equal"] and check["differing"] == ["p.loss"]
    assert check["equal_within_tolerance"] and check["max_abs_diff"] == 0  # NaN against NaN: any payload
    nan_vs_number = {"loss": torch.tensor(0.0), "g": torch.tensor([1.0, nan1, -0.0])}
    check = compare_states(*states(a, nan_vs_number))
    assert not check["equal_within_tolerance"] and check["max_abs_diff"] is None  # infinite: JSON says null


def test_signed_zeros_differ_by_bits_not_by_tolerance():
    check = compare_states(*states({"g": torch.tensor([0.0, 1.0])}, {"g": torch.tensor([-0.0, 1.0])}))
    assert not check["bitwise_equal"] and check["equal_within_tolerance"] and check["max_abs_diff"] == 0


def test_infinities_match_only_the_same_infinity():
    inf = float("inf")
    check = compare_states(*states({"g": torch.tensor([inf, -inf])}, {"g": torch.tensor([inf, -inf])}))
    assert check["bitwise_equal"]
    check = compare_states(*states({"g": torch.tensor([inf, 1.0])}, {"g": torch.tensor([-inf, 1.0])}))
    assert not check["bitwise_equal"] and not check["equal_within_tolerance"]
    check = compare_states(*states({"g": torch.tensor([inf, 1.0])}, {"g": torch.tensor([3e38, 1.0])}))
    assert not check["equal_within_tolerance"]


def test_tolerance_is_relative_and_absolute():
    base = torch.tensor([1000.0, 0.0], dtype=torch.float64)
    near = base + torch.tensor([1000.0 * RTOL * 0.5, 0.0], dtype=torch.float64)
    far = base + torch.tensor([1000.0 * RTOL * 3, 0.0], dtype=torch.float64)
    assert compare_states(*states({"g": base}, {"g": near}))["equal_within_tolerance"]
    assert not compare_states(*states({"g": base}, {"g": far}))["equal_within_tolerance"]


def test_dtype_shape_and_integer_differences_are_not_equal():
    assert not bitwise_equal(torch.zeros(3), torch.zeros(3, dtype=torch.float64))
    assert not bitwise_equal(torch.zeros(3), torch.zeros(1, 3))
    check = compare_states(*states({"n": torch.tensor([1, 2])}, {"n": torch.tensor([1, 3])}))
    assert not check["bitwise_equal"] and not check["equal_within_tolerance"]


# ---- the interpreter against eager autograd ------------------------------------------


@pytest.fixture(scope="module", params=["graphs.pytorch.models:tiny_mlp", "tests.pytorch_factories:conv_bn"])
def eager_and_interpreted(request):
    """The plain interpreted step of a model without dropout, and an eager autograd step."""
    import os

    from graphs.pytorch.build import extract, retrace
    from graphs.pytorch.trust import TRUST_ENV, trust
    from moccasin_bench.simulate import simulate

    saved = os.environ.get(TRUST_ENV)
    trust([request.param])  # named here, as on the command line
    try:
        g = extract(request.param, batch=4)
        joint, plan, setup = retrace(g, real=True)
    finally:
        os.environ.pop(TRUST_ENV) if saved is None else os.environ.__setitem__(TRUST_ENV, saved)
    runner = StepRunner(joint, plan, setup)
    sim = simulate(g, np.arange(g.n))
    state = runner.resident()
    runner.run(np.arange(g.n), sim.live_until, state)
    step = setup.step
    step.zero_grad(set_to_none=True)
    loss = step(*setup.batch)
    loss.backward()
    return plan, state, step, float(loss.detach())


def test_the_plain_step_equals_an_eager_autograd_step(eager_and_interpreted):
    plan, state, step, eager_loss = eager_and_interpreted
    params = dict(step.named_parameters(remove_duplicate=False))
    buffers = dict(step.named_buffers(remove_duplicate=False))
    grads = [(name, target) for name, role, target in plan.outputs if role == OUT_GRADIENT]
    assert {t for _, t in grads} == set(params) and params
    for name, target in grads:
        ours, eager = state.slots[name], params[target].grad
        assert eager is not None and bool(eager.abs().sum() > 0), target
        torch.testing.assert_close(ours, eager, rtol=1e-5, atol=1e-6, msg=lambda m, t=target: f"{t}: {m}")
    for name, role, target in plan.outputs:  # running statistics: what the eager step left in the buffers
        if role == OUT_BUFFER:
            torch.testing.assert_close(state.slots[name], buffers[target], rtol=1e-5, atol=1e-6)
    loss_slot = next(name for name, role, _ in plan.outputs if role == OUT_LOSS)
    loss = float(state.slots[loss_slot])
    assert np.isfinite(loss) and loss != 0
    assert loss == pytest.approx(eager_loss, rel=1e-6)
