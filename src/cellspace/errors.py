"""User-facing errors: one line naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class CellSpaceError(Exception):
    """Base class of errors that are reported to the user as one line (exit code 1)."""


class InputError(CellSpaceError):
    """Bad input data: the message names the file (when there is one) and the problem."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class ParameterError(CellSpaceError):
    """An invalid parameter value (a usage error, exit code 2)."""
