"""Errors that reach the user as one line, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""

    def __init__(self, problem: str, path: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path

    def with_path(self, path: str) -> UserError:
        """The same error, naming the file it came from (if it named none yet)."""
        if self.path is None:
            self.path = str(path)
        return self

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


class GraphError(UserError):
    """The graph is malformed: cycle, self-loop, bad size, unknown node, empty."""


class ScheduleError(UserError):
    """A schedule file cannot be read (not a simulation verdict: that is a Violation)."""


class Incomplete(UserError):
    """The work stopped before its end for a reason outside the input (the Dask cluster is gone, the
    disk is full); everything finished is kept and re-running the same command resumes: exit status 75."""

    exit_status = 75
