"""Graph generators: determinism, validity, structure, parameter checks, fit to the paper's files."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphs
from moccasin_bench.budget import reference_peak
from moccasin_bench.catalog import PAPER_GRAPHS, PRESETS
from moccasin_bench.errors import UserError
from moccasin_bench.graph import Graph
from moccasin_bench.params import resolve_params
from moccasin_bench.simulate import simulate
from moccasin_bench.sources import find_paper_file, generate, generator_module, load_graph
from tests.conftest import REPO

# A few calls per family, small enough to be quick.
CALLS = [
    ("random-layered", {"n": 60, "w": 0.3}),
    ("random-layered", {"n": 250, "w": 0.43, "ed": 0.5, "scd": 0.3}),
    ("linear", {"layers": 12}),
    ("linear", {"layers": 20, "residual": 3, "profile": "random"}),
    ("unet", {"depth": 3}),
    ("unet", {"depth": 2, "convs": 3, "profile": "uniform"}),
    ("transformer", {"blocks": 2}),
    ("transformer", {"blocks": 1, "seq": 64, "dim": 32, "heads": 4, "profile": "random"}),
]
TRAINING = ("linear", "unet", "transformer")
RL_FILES = {"rl1": (100, 0.27), "rl2": (250, 0.43), "rl3": (500, 0.36), "rl4": (1000, 0.31)}


def same_graph(a: Graph, b: Graph) -> bool:
    return (
        a.name == b.name
        and a.origin == b.origin
        and a.node_ids == b.node_ids
        and a.labels == b.labels
        and np.array_equal(a.duration, b.duration)
        and np.array_equal(a.memory, b.memory)
        and np.array_equal(a.edges, b.edges)
        and np.array_equal(a.stored_order, b.stored_order)
    )


def assert_runnable(g: Graph) -> None:
    """Sizes are integers >= 0, the stored order is topological and the simulator accepts it."""
    assert g.duration.dtype == np.int64 and g.memory.dtype == np.int64
    assert g.duration.min() >= 0 and g.memory.min() >= 0
    order = g.stored_order
    assert order is not None and sorted(order.tolist()) == list(range(g.n))
    position = np.empty(g.n, dtype=np.int64)
    position[order] = np.arange(g.n)
    assert np.all(position[g.edges[:, 0]] < position[g.edges[:, 1]])
    sim = simulate(g, order)
    assert sim.valid, sim.violation.describe()
    assert sim.total_duration == g.sum_duration


# ---- the plug-in interface ---------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(graphs.GENERATORS))
def test_family_module_follows_the_interface(family):
    module = generator_module(family)
    assert module.FAMILY == family
    assert module.DESCRIPTION and "\n" not in module.DESCRIPTION
    names = [p.name for p in module.PARAMS]
    assert "seed" in names and len(set(names)) == len(names)
    defaults = resolve_params(module.PARAMS, {}, family)
    g = module.generate(**defaults)
    assert g.origin.startswith(f"{family}:") and "seed=0" in g.origin
    assert_runnable(g)


@pytest.mark.parametrize("family,params", CALLS)
def test_generated_graph_is_valid_and_its_origin_regenerates_it(family, params):
    g = generate(family, dict(params))
    assert_runnable(g)
    assert same_graph(load_graph(g.origin), g)


def test_presets_have_the_promised_sizes():
    sizes = {name: load_graph(name) for name in ("cm1-gen", "cm2-gen", "transformer-small", "demo", "rl1-gen")}
    assert 60 <= sizes["cm1-gen"].n <= 80
    assert sizes["cm2-gen"].n == 353
    assert sizes["transformer-small"].n == 2 * (14 * 4 + 3) + 1
    assert sizes["demo"].n == 60 and sizes["rl1-gen"].n == 100
    for name, g in sizes.items():
        assert g.name == name
        assert_runnable(g)
    for name in PRESETS:
        if name.startswith("rl"):
            paper = PAPER_GRAPHS[name.removesuffix("-gen")]
            assert f"_n{PRESETS[name].params['n']}_w{PRESETS[name].params['w']}_" in paper.filename


# ---- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("family,params", CALLS)
def test_same_seed_same_graph_other_seed_other_graph(family, params):
    a = generate(family, {**params, "seed": 5})
    b = generate(family, {**params, "seed": 5})
    c = generate(family, {**params, "seed": 6})
    assert same_graph(a, b)
    assert not same_graph(a, c)
    assert "seed=5" in a.origin and "seed=6" in c.origin


@pytest.mark.parametrize("profile", ["conv", "uniform", "random"])
def test_every_profile_depends_on_the_seed(profile):
    a, b = (generate("unet", {"depth": 2, "profile": profile, "seed": s}) for s in (0, 1))
    assert np.array_equal(a.edges, b.edges)  # the structure does not depend on the seed ...
    assert not (np.array_equal(a.duration, b.duration) and np.array_equal(a.memory, b.memory))  # ... the sizes do


# Pinned values: a change means a (params, seed) pair no longer gives the graph it gave
# before (a generator change or a numpy stream change) and saved results no longer match.
PINNED = {
    "random-layered:n=30,seed=7": "6cd3965c2c1deab5",
    "unet:depth=2,profile=random,seed=3": "08fb76d9f099534e",
    "transformer:blocks=1,seq=16,dim=8,heads=2,seed=1": "c32cc7343bf47994",
}


def fingerprint(g: Graph) -> str:
    arrays = [g.duration, g.memory, g.edges.ravel(), g.stored_order, [g.n, g.m]]
    return hashlib.sha256(np.concatenate(arrays).astype("<i8").tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("spec", sorted(PINNED))
def test_pinned_graphs_never_change(spec):
    assert fingerprint(load_graph(spec)) == PINNED[spec]


# ---- random layered graphs ---------------------------------------------------------------------


def longest_path_layers(g: Graph) -> np.ndarray:
    layer = np.zeros(g.n, dtype=np.int64)
    for v in g.topological_indices:
        preds = g.predecessors(v)
        if len(preds):
            layer[v] = layer[preds].max() + 1
    return layer


def check_random_layered(g: Graph, ed: float) -> None:
    n = g.n
    assert g.node_ids == tuple(range(n))
    assert np.nonzero(g.in_degree == 0)[0].tolist() == [0]
    assert np.nonzero(g.out_degree == 0)[0].tolist() == [1]
    assert g.duration[0] == g.duration[1] == 0
    assert g.duration[2:].min() >= 1 and g.duration[2:].max() < 1000
    assert np.all(g.memory % 10 == 0) and g.memory.min() >= 10

    layer = longest_path_layers(g)
    last = layer[1]
    inner = layer[2:]
    assert inner.min() == 1 and inner.max() == last - 1
    assert np.all(np.diff(inner) >= 0), "inner ids go layer by layer"
    # The source feeds exactly the first layer, the sink is fed by exactly the last one.
    assert sorted(g.successors(0).tolist()) == (np.nonzero(layer == 1)[0]).tolist()
    assert sorted(g.predecessors(1).tolist()) == (np.nonzero(layer == last - 1)[0]).tolist()
    sizes = np.bincount(layer)
    gap = layer[g.edges[:, 1]] - layer[g.edges[:, 0]]
    assert gap.min() >= 1
    for k in range(last):
        a, b = sizes[k], sizes[k + 1]
        between = np.count_nonzero((layer[g.edges[:, 0]] == k) & (gap == 1))
        assert between == math.floor(ed * a * b + (1 - ed) * max(a, b) + 0.5), f"layers {k}->{k + 1}"
    skips = g.edges[gap >= 2]
    assert not np.isin(skips, [0, 1]).any(), "skip edges join inner nodes only"


@pytest.mark.parametrize("n,w", RL_FILES.values())
def test_random_layered_structure_with_the_paper_parameters(n, w):
    g = generate("random-layered", {"n": n, "w": w, "seed": 11})
    check_random_layered(g, 0.2)
    assert_runnable(g)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 160),
    w=st.floats(0.02, 0.98),
    nlv=st.floats(0, 0.95),
    ed=st.floats(0, 1),
    scd=st.floats(0, 0.9),
    seed=st.integers(0, 2**40),
)
def test_random_layered_structure_for_any_parameters(n, w, nlv, ed, scd, seed):
    params = {"n": n, "w": w, "nlv": nlv, "ed": ed, "scd": scd, "seed": seed}
    g = generate("random-layered", params)
    assert g.n == n
    check_random_layered(g, ed)
    assert_runnable(g)
    assert same_graph(g, generate("random-layered", params))
    assert same_graph(g, load_graph(g.origin))


# ---- training graphs ---------------------------------------------------------------------------


def check_training_graph(g: Graph) -> int:
    """Checkmate's layout and backward rule, checked from the labels; returns F."""
    assert g.n % 2 == 1
    f = (g.n - 1) // 2
    labels = list(g.labels)
    assert labels[f] == "loss"
    forward = labels[:f]
    assert not any(x.endswith("_backward") for x in forward)
    assert labels[f + 1 :] == [x + "_backward" for x in reversed(forward)]
    assert g.stored_order.tolist() == list(range(g.n))
    where = {x: i for i, x in enumerate(labels)}
    consumers = {v: [int(c) for c in g.successors(v) if c < f] for v in range(f)}
    for v in range(f):
        assert all(u < f for u in g.predecessors(v)), "forward nodes read forward nodes only"
        grad = where[forward[v] + "_backward"]
        expected = {v} | set(consumers[v]) | {where[forward[c] + "_backward"] for c in consumers[v]}
        if not consumers[v]:
            expected.add(f)
        assert set(g.predecessors(grad).tolist()) == expected, forward[v]
        assert g.memory[grad] == g.memory[v]
    assert set(g.predecessors(f).tolist()) == {v for v in range(f) if not consumers[v]}
    return f


def test_linear_graph_is_a_chain_with_a_mirrored_backward_pass():
    g = generate("linear", {"layers": 6, "profile": "uniform"})
    assert check_training_graph(g) == 6
    fwd = {(int(u), int(v)) for u, v in g.edges if v < 6}
    assert fwd == {(i, i + 1) for i in range(5)}
    # backward node of layer 2 (id 13 - 2 = 11) reads layer 2, layer 3 and layer 3's backward node
    assert set(g.predecessors(2 * 6 - 2).tolist()) == {2, 3, 2 * 6 - 3}
    assert set(g.predecessors(2 * 6).tolist()) == {0, 1, 2 * 6 - 1}


def test_linear_residual_links():
    g = generate("linear", {"layers": 10, "residual": 3})
    check_training_graph(g)
    skips = sorted((int(u), int(v)) for u, v in g.edges if v < 10 and v - u > 1)
    assert skips == [(0, 3), (3, 6), (6, 9)]


def test_unet_has_skip_links_from_each_encoder_level_to_its_decoder_level():
    depth = 3
    g = generate("unet", {"depth": depth, "convs": 2})
    f = check_training_graph(g)
    assert f == depth * 3 + 2 + depth * 4 + 2
    labels = g.labels
    for level in range(1, depth + 1):
        concat = labels.index(f"up{level}_concat")
        inputs = sorted(labels[u] for u in g.predecessors(concat))
        assert inputs == [f"down{level}_conv2", f"up{level}_upsample"]
    # conv profile: memory shrinks and compute grows going down (up to the +-10 % jitter)
    d1, d3 = labels.index("down1_conv1"), labels.index("down3_conv1")
    assert g.memory[d1] > 2 * g.memory[d3] and g.duration[d3] > g.duration[d1]


def test_transformer_blocks_have_attention_mlp_and_residuals():
    g = generate("transformer", {"blocks": 3})
    f = check_training_graph(g)
    assert f == 14 * 3 + 3
    labels = g.labels
    names = lambda v: sorted(labels[u] for u in g.predecessors(labels.index(v)))  # noqa: E731
    assert names("block2_scores") == ["block2_k", "block2_q"]
    assert names("block2_context") == ["block2_softmax", "block2_v"]
    assert names("block2_add1") == ["block1_add2", "block2_proj"]
    assert names("block2_add2") == ["block2_add1", "block2_mlp_down"]
    # with seq 512 and 12 heads, attention scores are the largest tensors
    assert g.memory[labels.index("block1_scores")] > 4 * g.memory[labels.index("block1_q")]


@settings(max_examples=25, deadline=None)
@given(
    family=st.sampled_from(TRAINING),
    size=st.integers(1, 12),
    profile=st.sampled_from(["shaped", "uniform", "random"]),
    residual=st.sampled_from([0, 2, 3, 5]),
    seed=st.integers(0, 2**40),
)
def test_training_graph_structure_for_any_parameters(family, size, profile, residual, seed):
    module = generator_module(family)
    shaped = next(p for p in module.PARAMS if p.name == "profile").default
    params = {
        "linear": {"layers": size, "residual": residual},
        "unet": {"depth": min(size, 6)},
        "transformer": {"blocks": size},
    }[family]
    params.update(profile=shaped if profile == "shaped" else profile, seed=seed)
    g = generate(family, params)
    check_training_graph(g)
    assert_runnable(g)
    assert g.duration.min() >= 1 and g.memory.min() >= 1


# ---- parameter validation ----------------------------------------------------------------------

BAD_PARAMS = [
    ("random-layered", {"n": 2}, "n must be at least 3"),
    ("random-layered", {"n": -5}, "n must be at least 3"),
    ("random-layered", {"w": 0}, "w must be strictly between 0 and 1"),
    ("random-layered", {"w": 1}, "w must be strictly between 0 and 1"),
    ("random-layered", {"w": 1.5}, "w must be strictly between 0 and 1"),
    ("random-layered", {"nlv": 1}, "nlv must be in [0, 1)"),
    ("random-layered", {"ed": -0.1}, "ed must be in [0, 1]"),
    ("random-layered", {"scd": 1}, "scd must be in [0, 1)"),
    ("random-layered", {"seed": -1}, "seed must be a non-negative integer"),
    ("random-layered", {"n": "many"}, "'n' of graph family 'random-layered' must be int"),
    ("random-layered", {"width": 3}, "unknown parameter 'width'"),
    ("linear", {"layers": 0}, "layers must be at least 1"),
    ("linear", {"residual": 1}, "residual must be 0"),
    ("linear", {"profile": "gpu"}, "must be one of conv, uniform, random"),
    ("unet", {"depth": 0}, "depth must be at least 1"),
    ("unet", {"convs": 0}, "convs must be at least 1"),
    ("transformer", {"blocks": 0}, "blocks must be at least 1"),
    ("transformer", {"heads": 1000, "dim": 64}, "heads must be between 1 and dim"),
    ("transformer", {"profile": "conv"}, "must be one of shapes, uniform, random"),
]


@pytest.mark.parametrize("family,params,message", BAD_PARAMS)
def test_bad_parameters_give_a_clear_user_error(family, params, message):
    with pytest.raises(UserError) as info:
        generate(family, params)
    assert message in str(info.value)
    assert f"'{family}'" in str(info.value)


def test_unknown_profile_called_directly_is_a_user_error():
    with pytest.raises(UserError, match="unknown cost profile 'gpu'"):
        generator_module("unet").generate(profile="gpu")


# ---- fit to the paper's random layered graphs ----------------------------------------------------


def paper_file(name: str):
    path = find_paper_file(name)
    if path is None:
        pytest.skip(f"paper graph {name} not found (`moccasin-bench graphs download` fetches it)")
    return path


@pytest.mark.parametrize("name", sorted(RL_FILES))
def test_random_layered_matches_the_paper_file_within_20_percent(name):
    paper = load_graph(str(paper_file(name)))
    n, w = RL_FILES[name]
    assert paper.n == n
    edges, ratios = [], []
    for seed in range(10):
        g = generate("random-layered", {"n": n, "w": w, "nlv": 0.75, "ed": 0.2, "scd": 0.14, "seed": seed})
        edges.append(g.m)
        ratios.append(reference_peak(g, "stored") / g.sum_memory)
    paper_ratio = reference_peak(paper, "stored") / paper.sum_memory
    assert np.mean(edges) == pytest.approx(paper.m, rel=0.2)
    assert np.mean(ratios) == pytest.approx(paper_ratio, rel=0.2)


def test_memory_law_fits_the_paper_files():
    files = [paper_file(name) for name in sorted(RL_FILES)]
    values = np.concatenate([[node["out_cost"] for node in json.loads(p.read_text())["nodes"]] for p in files])
    generated = np.concatenate([generate("random-layered", {"n": 1000, "w": 0.31, "seed": s}).memory for s in range(2)])
    assert np.mean(generated) == pytest.approx(np.mean(values), rel=0.1)
    assert np.median(generated) == pytest.approx(np.median(values), rel=0.1)
    assert np.quantile(generated, 0.9) == pytest.approx(np.quantile(values, 0.9), rel=0.1)
    assert generated.max() <= 10_000 and values.max() <= 10_000


def test_the_catalogue_tables_are_read_from_its_declarations():
    """A PyTorch catalogue model is one declaration (moccasin_bench/catalog.py): its file is shipped, the catalogue
    grid runs it (unless declared too large for it), and docs/pytorch.md's table is what the build script makes of the
    declarations and the files (remake them: python scripts/build_pytorch_catalogue.py --tables)."""
    import importlib.util

    from experiments.catalogue import GRAPHS
    from moccasin_bench.catalog import CATALOGUE_DIR, PYTORCH_GRAPHS

    spec = importlib.util.spec_from_file_location("build_catalogue", REPO / "scripts" / "build_pytorch_catalogue.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert all((CATALOGUE_DIR / g.filename).is_file() for g in PYTORCH_GRAPHS.values())
    assert GRAPHS == tuple(name for name, g in PYTORCH_GRAPHS.items() if g.default_grid)  # pt-llama: by name only
    for path, block in ((build.DOC, build.table()),):
        text = path.read_text()
        assert build.replace_block(text, block) == text, f"{path.name}'s catalogue table is stale"
        assert all(f"`{name}`" in block for name in PYTORCH_GRAPHS)
