"""Which factory a graph file may make us import and call (the trust model, docs/security.md).

A PyTorch graph file records the factory it was extracted from (`source.factory`,
MODULE:FACTORY, and `source.factory_kwargs`); `execute` and `torch-partitioner` import and
call it again. Graph files are data that users download and share, so a factory named in a
file is imported only if it is one of the catalogue's own (graphs/pytorch/models.py) or the
user named it on the command line (`--trust-factory MODULE:FACTORY`, which sets
$MOCCASIN_BENCH_TRUST_FACTORIES for child runs too). Anything else is refused before any
import. `factory_kwargs` must be plain JSON data. Imports nothing beyond the standard library.
"""

from __future__ import annotations

import math
import os
import re

from moccasin_bench.errors import UserError

TRUST_ENV = "MOCCASIN_BENCH_TRUST_FACTORIES"
# ASCII identifiers only (Python's \w would take any Unicode letter), matched in full: no
# trailing newline, no spaces.
FACTORY_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)", re.ASCII)
CATALOGUE_MODULE = "graphs.pytorch.models"
# The public factories of graphs/pytorch/models.py (a test keeps this list equal to them).
CATALOGUE_FACTORIES = frozenset(
    f"{CATALOGUE_MODULE}:{name}"
    for name in (
        "resnet18",
        "resnet50",
        "mobilenet_v2",
        "vit_b16",
        "gpt",
        "unet",
        "tiny_mlp",
        "small_net",
        "small_gpt",
        "llama",
        "small_llama",
    )
)
KWARGS_MAX_DEPTH = 8
KWARGS_MAX_ITEMS = 1000


def parse_spec(spec) -> tuple[str, str] | None:
    """(module, attribute) of a well-formed MODULE:FACTORY string, else None."""
    if not isinstance(spec, str):
        return None
    m = FACTORY_RE.fullmatch(spec)
    return None if m is None else (m.group(1), m.group(2))


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def user_trusted() -> frozenset[str]:
    """The factories the user named ($MOCCASIN_BENCH_TRUST_FACTORIES, comma-separated)."""
    return frozenset(x.strip() for x in os.environ.get(TRUST_ENV, "").split(",") if x.strip())


def trust(specs) -> None:
    """Trust these MODULE:FACTORY strings (named on the command line) here and in child runs."""
    specs = [s for s in (specs or ()) if s is not None]
    for spec in specs:
        if parse_spec(spec) is None:
            raise UserError(f"--trust-factory {_shown(spec)} is not MODULE:FACTORY (e.g. mymodels:make_net)")
    if specs:
        os.environ[TRUST_ENV] = ",".join(sorted(user_trusted() | set(specs)))


def is_trusted(spec: str) -> bool:
    return spec in CATALOGUE_FACTORIES or spec in user_trusted()


def _plain(value, depth: int, count: list[int]) -> bool:
    count[0] += 1
    if count[0] > KWARGS_MAX_ITEMS or depth > KWARGS_MAX_DEPTH:
        return False
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return abs(value) < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1, count) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1, count) for k, v in value.items())
    return False


def check_factory(spec, kwargs, where: str) -> tuple[str, dict]:
    """The factory a graph names and its keyword arguments, if it may be imported and called;
    else one UserError line naming `where` (the file), the factory and how to allow it.
    Nothing is imported here."""
    if parse_spec(spec) is None:
        raise UserError(
            f"{where}: its source names the factory {_shown(spec)}, which is not MODULE:FACTORY; nothing was imported"
        )
    if not is_trusted(spec):
        raise UserError(
            f"{where}: refused to import and call factory {spec!r} named in the graph file: only the catalogue's "
            f"factories ({CATALOGUE_MODULE}:...) are trusted; if you trust this code, name it: --trust-factory {spec} "
            f"(or ${TRUST_ENV}={spec})"
        )
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
        raise UserError(
            f"{where}: source.factory_kwargs must be an object of keyword arguments, got {_shown(kwargs)}; "
            "nothing was imported"
        )
    if not _plain(kwargs, 0, [0]):
        raise UserError(
            f"{where}: source.factory_kwargs must be plain JSON data (null, booleans, finite numbers below 2**63, strings, "
            f"lists, objects; at most {KWARGS_MAX_ITEMS} items, {KWARGS_MAX_DEPTH} levels), got {_shown(kwargs)}; "
            "nothing was imported"
        )
    return spec, dict(kwargs)
