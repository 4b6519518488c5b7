"""Every registered experiment (reproduce --grid NAME) gives a valid sweep config in both modes,
and the model-size measurement behind the scaling experiment."""

from __future__ import annotations

import tomllib

import pytest

from moccasin_bench.experiment import Method, experiment, experiments
from moccasin_bench.formulation import formulation_module
from moccasin_bench.model_sizes import SizeSeries, growth_exponent, load_sizes, measure
from moccasin_bench.reproduce import Options, build_grid, to_toml
from moccasin_bench.sweep import parse_config


@pytest.mark.parametrize("quick", [True, False])
@pytest.mark.parametrize("name", sorted(experiments()))
def test_an_experiment_is_a_valid_sweep(tmp_path, name, quick):
    exp = experiment(name)
    assert exp.name == name and exp.methods and exp.budgets and exp.title and exp.description
    assert len(set(exp.method_keys)) == len(exp.method_keys)
    grid = build_grid(Options(out_dir=tmp_path, grid=name, quick=quick, stand_ins=True))
    text = to_toml(grid.config)
    config = parse_config(tomllib.loads(text), tmp_path / "grid.toml", text)
    assert config.grids and grid.mode is exp.mode(quick)
    for _, key in grid.mode.skip:
        assert key in exp.method_keys, f"skip names an unknown method {key!r}"
    if grid.mode.sizes is not None:  # every method of a size series can build its model without solving
        for m in grid.mode.sizes.methods:
            assert callable(getattr(formulation_module(m.formulation), "model_size", None)), m.key


def test_growth_exponent_is_the_log_log_slope():
    n = [100, 200, 400, 800]
    assert growth_exponent(n, [x * x for x in n]) == pytest.approx(2.0)
    assert growth_exponent(n, [3 * x for x in n]) == pytest.approx(1.0)
    assert growth_exponent([50, 100, 200, 400], [1, 2, 4, 8], min_n=100) == pytest.approx(1.0)
    assert growth_exponent(n[:2], [1, 2]) is None  # two points are not a fit


def test_model_sizes_stop_a_builder_at_its_cap_and_resume(tmp_path, monkeypatch):
    from tests.faulty_formulations import use_plugin

    use_plugin(monkeypatch)
    out = tmp_path / "sizes.csv"
    hangs = Method("slow", "faulty", {"fault": "hang", "from_nodes": 100})  # a builder that never ends from n = 100
    series = SizeSeries(
        graphs=("random-layered:n=30,seed=1", "random-layered:n=120,seed=1", "random-layered:n=240,seed=1"),
        methods=(Method("milp", "checkmate-milp"), hangs, Method("h", "heuristic")),
        budget_fraction=0.9,
        memory_cap_bytes=4 << 30,
        seconds_cap=5.0,
        grace_seconds=0.5,  # killed 5.5 s after its start, whatever the machine's speed: it never finishes
    )
    rows = measure(series, out, progress=False)
    by = {(r["method"], r["graph"].split("n=")[1].split(",")[0]): r for r in rows}
    assert by[("milp", "30")]["status"] == "built" and int(by[("milp", "30")]["variables"]) > 0
    assert by[("h", "30")]["status"] == "not_supported"
    assert by[("slow", "30")]["status"] == "built" and int(by[("slow", "30")]["variables"]) == 30
    assert by[("slow", "120")]["status"] == "over_time_cap", by[("slow", "120")]  # killed, larger not tried
    assert by[("slow", "240")]["status"] == "skipped"
    before = out.read_text()
    again = measure(series, out, progress=False)  # resumes: nothing to do
    assert out.read_text() == before and len(again) == len(rows) == 9
    df = load_sizes(out)
    assert df["variables"].dtype.kind == "f" and set(df["status"]) >= {
        "built",
        "over_time_cap",
        "skipped",
        "not_supported",
    }
