"""Resolve a GRAPH argument: a file path, a registered name, or `family:key=value,...`."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from moccasin_bench.errors import GraphError, UserError
from moccasin_bench.graph import Graph
from moccasin_bench.params import resolve_params

DATA_ENV = "MOCCASIN_BENCH_DATA"
DATA_DIR_HELP = (
    "where the paper's graph files are (default: $MOCCASIN_BENCH_DATA, then the user data directory "
    "`graphs download` fills, then shared/paper-graphs beside a source checkout; never the working directory)"
)


def _registry():
    import graphs

    return graphs


def generator_module(family: str) -> ModuleType:
    families = _registry().GENERATORS
    if family not in families:
        raise UserError(f"unknown graph family {family!r}; known families: {', '.join(sorted(families))}")
    return importlib.import_module(families[family])


def format_modules() -> list[ModuleType]:
    return [importlib.import_module(m) for m in _registry().FORMATS.values()]


@dataclass(frozen=True)
class DataDir:
    """One place the paper's graph files are looked for, and what put it on the list."""

    path: Path
    origin: str  # "--data-dir", "$MOCCASIN_BENCH_DATA", "the user data directory", "the project's default"


def user_data_dir() -> Path:
    """The per-user directory `graphs download` fills by default (platformdirs: ~/.local/share/... on Linux)."""
    from platformdirs import user_data_path

    return user_data_path("moccasin-bench", appauthor=False) / "paper-graphs"


def project_data_dir() -> Path | None:
    """`shared/paper-graphs` beside a source checkout of this project (the layout CI and the tests use);
    None when the package is not run from a checkout (an installed copy has no project beside it)."""
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "pyproject.toml").is_file() or not (checkout / "moccasin_bench").is_dir():
        return None
    return checkout.parent / "shared" / "paper-graphs"


def data_dirs(explicit: str | Path | None = None) -> list[DataDir]:
    """Where the paper's graph files are looked for, in order; none depends on the working directory
    (a relative `explicit` or $MOCCASIN_BENCH_DATA is taken as the user typed it)."""
    dirs = []
    if explicit:
        dirs.append(DataDir(Path(explicit).expanduser().resolve(), "--data-dir"))
    if os.environ.get(DATA_ENV):
        dirs.append(DataDir(Path(os.environ[DATA_ENV]).expanduser().resolve(), f"${DATA_ENV}"))
    dirs.append(DataDir(user_data_dir(), "the user data directory"))
    project = project_data_dir()
    if project is not None:
        dirs.append(DataDir(project, "the project's default"))
    return dirs


def describe_search(explicit: str | Path | None = None) -> str:
    """Where the lookup went and what it found there, for messages: `--data-dir /x (no such directory); ...`."""
    parts = []
    if not explicit:
        parts.append("--data-dir (not given)")
    if not os.environ.get(DATA_ENV):
        parts.append(f"${DATA_ENV} (not set)")
    for d in data_dirs(explicit):
        state = "a directory" if d.path.is_dir() else "no such directory"
        parts.append(f"{d.origin} {d.path} ({state})")
    return "; ".join(parts)


def find_paper_file(name: str, data_dir: str | Path | None = None) -> Path | None:
    from moccasin_bench.catalog import PAPER_GRAPHS

    entry = PAPER_GRAPHS[name]
    for d in data_dirs(data_dir):
        p = d.path / entry.filename
        if p.is_file():
            return p.resolve()
    return None


def read_graph_file(path: str | Path) -> Graph:
    """Read a graph file in any registered format (gzip-compressed when it ends in .gz); errors name the file."""
    from moccasin_bench.jsonio import parse_json, read_text

    path = Path(path)
    data = parse_json(read_text(path, GraphError), path, GraphError)
    stem = path.name.split(".")[0] if path.suffix == ".gz" else path.stem
    return parse_graph_data(data, stem, str(path))


def parse_graph_data(data: Any, name: str, origin: str) -> Graph:
    for module in format_modules():
        if module.sniff(data):
            try:
                return module.parse(data, name=name, origin=origin)
            except UserError as exc:
                raise exc.with_path(origin) from None
    raise GraphError(
        "not a graph file this tool knows: expected networkx node-link JSON (nodes + links) or a moccasin-bench-graph document",
        origin,
    )


def generate(family: str, params: dict[str, Any]) -> Graph:
    module = generator_module(family)
    values = resolve_params(module.PARAMS, params, f"graph family {family!r}")
    return module.generate(**values)


def parse_generator_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`random-layered:n=100,seed=3` -> ("random-layered", {"n": "100", "seed": "3"})."""
    family, _, rest = spec.partition(":")
    params: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"graph spec {spec!r}: expected key=value, got {item!r}")
        params[key.strip()] = value.strip()
    return family, params


def load_graph(spec: str | Path, data_dir: str | Path | None = None) -> Graph:
    """A graph from a path, a catalog name (rl1, cm2, demo, pt-resnet18, ...) or a generator spec."""
    from moccasin_bench.catalog import CATALOGUE_DIR, PAPER_GRAPHS, PRESETS, PYTORCH_GRAPHS

    text = str(spec)
    path = Path(text)
    if path.is_file():
        return read_graph_file(path)
    key = text.lower()
    if key in PAPER_GRAPHS:
        found = find_paper_file(key, data_dir)
        if found is None:
            raise UserError(
                f"graph {text!r} is one of the paper's graphs, but its file {PAPER_GRAPHS[key].filename!r} is in no data directory "
                f"(looked at: {describe_search(data_dir)}); `moccasin-bench graphs download` fetches the paper's files into the user data directory"
            )
        return read_graph_file(found)
    if key in PYTORCH_GRAPHS:
        found = CATALOGUE_DIR / PYTORCH_GRAPHS[key].filename
        if not found.is_file():
            raise UserError(f"catalogue graph {text!r}: its file {found} is missing from this installation")
        return read_graph_file(found)
    if key in PRESETS:
        preset = PRESETS[key]
        g = generate(preset.family, dict(preset.params))
        return _renamed(g, preset.name)
    if ":" in text or text in _registry().GENERATORS:
        family, params = parse_generator_spec(text)
        if family in _registry().GENERATORS:
            return generate(family, params)
    if path.suffix or os.sep in text:
        raise UserError(f"no such file: {text}")
    raise UserError(f"{text!r} is neither a file nor a registered graph; see `moccasin-bench graphs list`")


def _renamed(g: Graph, name: str) -> Graph:
    import dataclasses

    return dataclasses.replace(g, name=name)
