"""Registry of competing embedding methods: one module per method in this package.

Every module (not starting with "_", other than ``base``) defines ``METHODS``, a list of
:class:`~cellspace.bench.methods.base.Method` instances; adding a competitor is adding one
file. Methods that cannot be provided are listed in :data:`MISSING` with the reason.
"""

from __future__ import annotations

import importlib
import pkgutil

from cellspace.bench.methods.base import (
    Method,
    MethodRun,
    MissingDependencyError,
    parse_method_params,
    run_method,
)
from cellspace.errors import ParameterError

__all__ = ["MISSING", "Method", "MethodRun", "MissingDependencyError", "available_methods",
           "get_method", "list_methods", "parse_method_params", "run_method"]

# methods that cannot be provided, with the reason (shown by `cellspace benchmark list`)
MISSING: dict[str, str] = {}

_REGISTRY: dict[str, Method] | None = None


def _registry() -> dict[str, Method]:
    global _REGISTRY
    if _REGISTRY is None:
        reg: dict[str, Method] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            if info.name.startswith("_") or info.name == "base":
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            for m in getattr(mod, "METHODS", []):
                if m.name in reg:
                    raise RuntimeError(f"method {m.name!r} defined twice")
                reg[m.name] = m
        _REGISTRY = reg
    return _REGISTRY


def list_methods() -> list[str]:
    """Names of all registered methods (available or not)."""
    return sorted(_registry())


def available_methods() -> list[str]:
    """Registered methods whose dependencies are installed."""
    return [n for n, m in sorted(_registry().items()) if not m.missing_dependencies()]


def get_method(name: str) -> Method:
    reg = _registry()
    if name in reg:
        return reg[name]
    if name in MISSING:
        raise ParameterError(f"method {name!r} is not available: {MISSING[name]}")
    raise ParameterError(f"unknown method {name!r}; known: {', '.join(sorted(reg))}")
