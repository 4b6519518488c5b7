"""moccasin-bench: a research harness for tensor rematerialization (Moccasin, Checkmate, heuristics)."""

__version__ = "0.1.0"
