"""Hostile input, round 3 (issue 25, items 4-6): steps that are not training steps, parameters
without a bound, graphs a baseline cannot read, and damaged stores. Every case ends with one
line naming the input and the problem and a non-zero exit status, never with a traceback."""

from __future__ import annotations

import pytest

from moccasin_bench.cli import main

# ---- item 4: `graphs extract` refuses what is not a training step -----------------------------------

NOT_TRAINING = [
    ("inplace_param", "changes parameter 'lin.weight' in place"),
    ("inplace_param_no_grad", "changes parameter 'lin.weight' in place"),
    ("inplace_param_data", "changes parameter 'lin.weight' in place"),
    ("inplace_input", "changes its batch input 0 in place"),
    ("buffer_with_grad", "updates buffer 'stat' from values that require grad"),
    ("vector_loss", "has shape (3,), not one value"),
    ("tuple_loss", "is 2 values"),
    ("string_loss", "is not a tensor but 'low'"),
    ("integer_output", "has dtype int64: integer and boolean values have no gradients"),
    ("complex_loss", "is complex (complex64)"),
    ("no_grad", "depends on no parameter that requires grad"),
    ("detached_loss", "depends on no parameter that requires grad"),
    ("loss_of_inputs_only", "depends on no parameter that requires grad"),
    ("no_parameters", "has no parameters"),
    ("frozen", "no parameter of the model of tests.round3_factories:frozen requires grad"),
]


@pytest.mark.parametrize("factory, fragment", NOT_TRAINING, ids=[c[0] for c in NOT_TRAINING])
def test_extract_refuses_a_step_that_is_not_a_training_step(tmp_path, capsys, factory, fragment):
    pytest.importorskip("torch")
    out = tmp_path / "g.json"
    assert main(["graphs", "extract", f"tests.round3_factories:{factory}", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and f"tests.round3_factories:{factory}" in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("factory", ["inplace_buffer", "nan_shape_loss", "int_parameter", "loss_is_parameter"])
def test_extract_keeps_accepting_real_training_steps_at_the_edges(tmp_path, factory):
    """A buffer updated in place (as batch norm's statistics), a one-element loss (eager backward
    takes it), a frozen integer parameter beside trained ones, a loss that is a parameter."""
    pytest.importorskip("torch")
    from graphs.pytorch.build import extract

    g = extract(f"tests.round3_factories:{factory}")
    assert g.n >= 1 and g.source["fixed"]["parameters"] > 0
