"""The native graph format lives in the engine now (moccasin_bench/native.py: the wire format of every run);
this name stays for code written against it."""

from moccasin_bench.native import FORMAT, MAGIC, VERSION, parse, sniff, to_data, write  # noqa: F401
