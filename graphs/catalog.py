"""The catalogue of named graphs lives in the engine now (moccasin_bench/catalog.py); this name stays for code
written against it."""

from moccasin_bench.catalog import (  # noqa: F401
    CATALOGUE_DIR,
    PAPER_GRAPHS,
    PRESETS,
    PYTORCH_GRAPHS,
    STAND_INS,
    CatalogueGraph,
    PaperGraph,
    Preset,
)
