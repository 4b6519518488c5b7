"""Where and with what a run executed: library versions, CPU, host, the project's git revision.

Collected once per process on the machine that launches the child run (the driver for a
local pool, the Dask worker on a cluster), so every stored row says what really ran it.
Versions are read from package metadata: no solver library is imported here.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("ortools", "highspy", "pulp", "networkx", "numpy")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else what platform reports)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_revision(root: Path = PROJECT_ROOT) -> str | None:
    """The project checkout's commit, with `+dirty` when files differ from it; None outside git."""
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return rev.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def provenance() -> dict[str, str | int | None]:
    """Flat provenance columns for a stored run (threads are recorded with the run itself)."""
    from moccasin_bench import __version__

    out: dict[str, str | int | None] = {
        "moccasin_bench_version": __version__,
        "git_revision": git_revision(),
        "python_version": platform.python_version(),
    }
    out.update({f"{name}_version": package_version(name) for name in PACKAGES})
    out.update(
        {
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
        }
    )
    return out
