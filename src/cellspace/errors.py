"""User-facing errors: one line naming the file and the problem."""

from __future__ import annotations

import errno
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


class OutputError(CellSpaceError):
    """An output cannot be written (exists, not writable, no space, file-size limit): exit 1."""

    def __init__(self, problem: str, path: str | Path) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# errno -> the problem in the user's words
_OS_PROBLEMS = {
    errno.EEXIST: "exists and is not a folder the step can replace",
    errno.ENOTDIR: "a parent of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EACCES: "not writable (permission denied)",
    errno.EPERM: "not writable (operation not permitted)",
    errno.EROFS: "not writable (read-only file system)",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file-size limit reached (ulimit -f)",
    errno.ENAMETOOLONG: "file name too long",
}


def os_problem(e: OSError) -> str:
    """The problem of an OS error in a few words (no path)."""
    if e.errno in _OS_PROBLEMS:
        return _OS_PROBLEMS[e.errno]
    return (e.strerror or str(e)).strip().splitlines()[0] if (e.strerror or str(e)) else type(e).__name__


def output_error(e: OSError, fallback: str | Path) -> OutputError:
    """An :class:`OutputError` for an OS error met while writing (path from the error if known)."""
    path = e.filename if isinstance(e.filename, str) and e.filename else fallback
    return OutputError(os_problem(e), path)
