"""Up-front checks of what a step will need: memory, and optional extras (packages)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

from cellspace.errors import CellSpaceError, ParameterError


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or a lower cgroup limit."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def check_memory(n_bytes: int, what: str) -> None:
    """Refuse (usage error) a parameter choice that needs more memory than the machine has."""
    have = machine_memory()
    if n_bytes > have:
        raise ParameterError(f"{what} needs about {_gb(n_bytes)} of memory, more than the "
                             f"{_gb(have)} available")


class MissingExtra(CellSpaceError):
    """An optional dependency is not installed."""


def require_extras(modules: Iterable[str], extra: str, what: str) -> None:
    """Fail before any work when an optional package that ``what`` needs is missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{what} needs {', '.join(missing)}: install it with "
                           f"pip install 'cellspace[{extra}]'")
