"""Limits of a child run (memory cap, grace before the hard kill) and size strings ("8G")."""

from __future__ import annotations

import os
import re
from typing import Any

from moccasin_bench.errors import UserError


def total_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_memory_limit(concurrent_runs: int = 1) -> int:
    """80 % of physical memory shared among the runs executing at once (at least 512 MiB)."""
    return max(512 << 20, int(0.8 * total_memory_bytes() / max(1, concurrent_runs)))


def default_grace_seconds(time_limit_seconds: float) -> float:
    """Time past the solver's limit before the hard kill: model building and simulation
    happen outside the solver's own clock."""
    return 30.0 + 0.25 * time_limit_seconds


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(value: Any, what: str = "memory limit") -> int:
    """Bytes from 8589934592, "8G", "8GiB", "512M"; 0 or "none" means no cap (returns 0)."""
    if isinstance(value, bool):
        raise UserError(f"{what} must be a size such as 8G or a number of bytes, got {value!r}")
    if isinstance(value, (int, float)) and value >= 0:
        return int(value)
    if isinstance(value, str):
        if value.strip().lower() in ("none", "0", "unlimited"):
            return 0
        m = _SIZE.match(value)
        if m:
            scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
            return int(float(m.group(1)) * scale)
    raise UserError(f"{what} must be a size such as 8G or a number of bytes, got {value!r}")


def format_size(n: int | None) -> str:
    if not n:
        return "none"
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
