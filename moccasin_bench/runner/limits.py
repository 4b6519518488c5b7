"""Limits of a child run (memory cap, grace before the hard kill) and size strings ("8G")."""

from __future__ import annotations

import math
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
    """80 % of physical memory shared among the runs executing at once (at least MIN_MEMORY_LIMIT)."""
    return max(MIN_MEMORY_LIMIT, int(0.8 * total_memory_bytes() / max(1, concurrent_runs)))


def default_grace_seconds(time_limit_seconds: float) -> float:
    """Time past the solver's limit before the hard kill: model building and simulation
    happen outside the solver's own clock."""
    return 30.0 + 0.25 * time_limit_seconds


MAX_GRACE_SECONDS = 1e6  # about 12 days past the time limit


def check_grace(value: Any, what: str = "--grace") -> float:
    """Seconds past the time limit before the hard kill: a finite number in [0, 10^6]. NaN or
    infinity would disable the kill, a negative value would kill at once: both are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= MAX_GRACE_SECONDS
    ):
        raise UserError(f"{what} must be a number of seconds from 0 to {MAX_GRACE_SECONDS:g}, got {value!r}")
    return float(value)


MIN_MEMORY_LIMIT = 1 << 30  # below this a child cannot even import its solver (CP-SAT needs ~768 MiB of address space)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(value: Any, what: str = "memory limit") -> int:
    """Bytes from 8589934592, "8G", "8GiB", "512M"; 0 or "none" means no cap (returns 0)."""
    size = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        size = int(value)
    elif isinstance(value, str):
        if value.strip().lower() in ("none", "0", "unlimited"):
            return 0
        m = _SIZE.match(value)
        if m:
            scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
            size = int(float(m.group(1)) * scale)
    if size is None:
        raise UserError(f"{what} must be a size such as 8G or a number of bytes (0 or none for no cap), got {value!r}")
    return size


def parse_memory_limit(value: Any, what: str = "memory limit") -> int:
    """A run's memory cap (parse_size), refused when too small for a run to start or absurdly large."""
    size = parse_size(value, what)
    if size == 0:
        return 0
    if size < MIN_MEMORY_LIMIT:
        raise UserError(
            f"{what} of {format_size(size)} is too small: a run needs at least {format_size(MIN_MEMORY_LIMIT)} "
            f"to start (0 or none for no cap)"
        )
    if size > 1 << 60:
        raise UserError(f"{what} of {value!r} is beyond any machine's memory (at most 1 EiB; 0 or none for no cap)")
    return size


def format_size(n: int | None) -> str:
    if not n:
        return "none"
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
