"""Named graphs, the engine's catalogue: the paper's files (read from a data directory), generated presets
(a family with fixed parameters) and the PyTorch training steps shipped in graphs/catalogue/."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PaperGraph:
    """A graph from the Moccasin paper, read from its published file."""

    name: str
    filename: str
    description: str


@dataclass(frozen=True)
class Preset:
    """A generated graph: a family with fixed parameters (seeded, so always the same graph)."""

    name: str
    family: str
    params: dict = field(default_factory=dict)
    description: str = ""


PAPER_GRAPHS = {
    g.name: g
    for g in (
        PaperGraph("rl1", "random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json", "RL1: random layered, n=100, m=236"),
        PaperGraph("rl2", "random_layered_n250_w0.43_nlv0.75_ed0.2_scd0.14.json", "RL2: random layered, n=250, m=944"),
        PaperGraph("rl3", "random_layered_n500_w0.36_nlv0.75_ed0.2_scd0.14.json", "RL3: random layered, n=500, m=2461"),
        PaperGraph(
            "rl4", "random_layered_n1000_w0.31_nlv0.75_ed0.2_scd0.14.json", "RL4: random layered, n=1000, m=5875"
        ),
        PaperGraph(
            "cm1", "fcn_8_vgg (MLSys)_32_(416, 608, 3)_train_nx.json", "CM1: fcn_8_vgg training graph, n=73, m=149"
        ),
        PaperGraph(
            "cm2", "ResNet50 (MLSys)_256_(224, 224, 3)_train_nx.json", "CM2: ResNet50 training graph, n=353, m=751"
        ),
        PaperGraph("vgg16", "VGG16 (MLSys)_256_(224, 224, 3)_train_nx.json", "VGG16 training graph, n=45"),
        PaperGraph("vgg-unet", "vgg_unet (MLSys)_32_(416, 608, 3)_train_nx.json", "vgg_unet training graph, n=71"),
    )
}

# Generated stand-ins for the paper's graphs (used when its files are absent) and small demos.
PRESETS = {
    p.name: p
    for p in (
        Preset(
            "rl1-gen",
            "random-layered",
            {"n": 100, "w": 0.27, "nlv": 0.75, "ed": 0.2, "scd": 0.14, "seed": 0},
            "generated like RL1 (n=100)",
        ),
        Preset(
            "rl2-gen",
            "random-layered",
            {"n": 250, "w": 0.43, "nlv": 0.75, "ed": 0.2, "scd": 0.14, "seed": 0},
            "generated like RL2 (n=250)",
        ),
        Preset(
            "rl3-gen",
            "random-layered",
            {"n": 500, "w": 0.36, "nlv": 0.75, "ed": 0.2, "scd": 0.14, "seed": 0},
            "generated like RL3 (n=500)",
        ),
        Preset(
            "rl4-gen",
            "random-layered",
            {"n": 1000, "w": 0.31, "nlv": 0.75, "ed": 0.2, "scd": 0.14, "seed": 0},
            "generated like RL4 (n=1000)",
        ),
        Preset(
            "cm1-gen",
            "unet",
            {"depth": 4, "convs": 2, "profile": "conv", "seed": 0},
            "a U-Net-like training graph (65 nodes) standing in for CM1 (fcn_8_vgg)",
        ),
        Preset(
            "cm2-gen",
            "linear",
            {"layers": 176, "residual": 3, "profile": "conv", "seed": 0},
            "a ResNet-like linear training graph (353 nodes) standing in for CM2 (ResNet50)",
        ),
        Preset(
            "demo",
            "random-layered",
            {"n": 60, "w": 0.3, "nlv": 0.75, "ed": 0.2, "scd": 0.14, "seed": 1},
            "a small random layered graph for the quick start",
        ),
        Preset(
            "transformer-small",
            "transformer",
            {"blocks": 4, "seq": 512, "dim": 768, "heads": 12, "profile": "shapes", "seed": 0},
            "a 4-block transformer-like training graph (119 nodes)",
        ),
    )
}

# Which generated preset stands in for each paper graph when its file is missing.
STAND_INS = {"rl1": "rl1-gen", "rl2": "rl2-gen", "rl3": "rl3-gen", "rl4": "rl4-gen", "cm1": "cm1-gen", "cm2": "cm2-gen"}


@dataclass(frozen=True)
class CatalogueGraph:
    """A PyTorch training step extracted by `graphs extract`, shipped as graphs/catalogue/NAME.json.gz: one
    declaration per model, from which the build script (scripts/build_pytorch_catalogue.py), `graphs list`,
    docs/pytorch.md's table and the catalogue grid (experiments/catalogue.py) all read.

    Loads without torch; the file is remade by `command()`:
    `moccasin-bench graphs extract FACTORY --batch BATCH --costs flops -o FILE`."""

    name: str
    factory: str  # MODULE:FACTORY (graphs/pytorch/models.py)
    batch: int  # the batch the graph is extracted at (the factory's own default does not count)
    model: str  # what it is, e.g. "ResNet-18"
    input: str = ""  # the input's size, e.g. "224x224"
    # False: too large for the catalogue grid's default run (experiments/catalogue.py); still a named graph that
    # any command or `--graphs NAME` takes.
    default_grid: bool = True

    @property
    def description(self) -> str:
        return f"{self.model} training step, batch {self.batch}" + (f", {self.input}" if self.input else "")

    @property
    def filename(self) -> str:
        return f"{self.name}.json.gz"

    def command(self, output: str | None = None) -> str:
        return (
            f"moccasin-bench graphs extract {self.factory} --batch {self.batch} --costs flops --optimizer adam "
            f"--name {self.name} -o {output or 'graphs/catalogue/' + self.filename}"
        )


CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "graphs" / "catalogue"  # the files, beside the graph plug-ins

PYTORCH_GRAPHS = {
    g.name: g
    for g in (
        CatalogueGraph("pt-resnet18", "graphs.pytorch.models:resnet18", 32, "ResNet-18", "224x224"),
        CatalogueGraph("pt-resnet50", "graphs.pytorch.models:resnet50", 32, "ResNet-50", "224x224"),
        CatalogueGraph("pt-mobilenetv2", "graphs.pytorch.models:mobilenet_v2", 32, "MobileNetV2", "224x224"),
        CatalogueGraph("pt-unet", "graphs.pytorch.models:unet", 8, "U-Net (depth 4, width 64, batch norm)", "256x256"),
        CatalogueGraph(
            "pt-gpt",
            "graphs.pytorch.models:gpt",
            4,
            "GPT-2-style decoder (12 layers, d=768, 12 heads, seq 512, vocab 50304)",
        ),
        CatalogueGraph("pt-vit-b16", "graphs.pytorch.models:vit_b16", 16, "ViT-B/16", "224x224"),
        CatalogueGraph(
            "pt-llama",
            "graphs.pytorch.models:llama",
            1,
            "Llama-style decoder in Llama 3 8B's shape (32 layers, d=4096, 32 query / 8 key-value heads, "
            "SwiGLU 14336, seq 4096, vocab 128256, bfloat16)",
            default_grid=False,
        ),
    )
}
