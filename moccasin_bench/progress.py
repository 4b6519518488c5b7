"""Progress on the terminal: a sweep's progress line, and a solve's improving solutions.

Both write to stderr (stdout stays free for JSON). On a terminal the sweep line redraws in
place; in logs and batch jobs a line is printed at most every `interval_seconds`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from moccasin_bench.runner import RunSpec


def clock(seconds: float) -> str:
    """H:MM:SS."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


class SweepProgress:
    """A progress line on stderr: runs done and left, failures, elapsed and ETA.

    On a terminal the line redraws in place; elsewhere (logs, batch jobs) a line is printed
    at most every `interval_seconds`. Error and invalid runs are always printed."""

    def __init__(
        self, total: int, stream: TextIO | None = None, enabled: bool = True, interval_seconds: float = 10.0
    ) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.interval = interval_seconds
        self.start = time.monotonic()
        self.last_print = -1e9

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        left = self.total - self.done
        eta = clock(elapsed / self.done * left) if self.done else "?"
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        failed = f", {self.failed} failed" if self.failed else ""
        return f"[{bar}] {self.done}/{self.total} done, {left} left{failed}; elapsed {clock(elapsed)}, ETA {eta}"

    def update(self, spec: RunSpec, status: str, message: str = "") -> None:
        self.done += 1
        if status in ("error", "invalid"):
            self.failed += 1
            self._print(
                f"{status.upper()}: {spec.describe()}: {message.splitlines()[0] if message else ''}", force=True
            )
        self._draw()

    def skip(self) -> None:
        """One run fewer to do here (another driver on the same store has it)."""
        self.total = max(self.done, self.total - 1)

    def _print(self, text: str, force: bool = False) -> None:
        if not self.enabled and not force:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif now - self.last_print >= self.interval or self.done == self.total:
            self.last_print = now
            self._print(self.line())

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def solve_progress_printer(sum_duration: int) -> Callable[[float, float, float | None], None]:
    """A `Problem.progress` callback printing each improving cost (and bound) with its TDI."""

    def show(seconds: float, cost: float, bound: float | None) -> None:
        tdi = 100.0 * (cost - sum_duration) / sum_duration if sum_duration else 0.0
        b = "" if bound is None else f"   bound {bound:,.0f}"
        print(f"  [{seconds:8.2f} s] cost {cost:,.0f} (TDI {tdi:.2f} %){b}", file=sys.stderr, flush=True)

    return show
