"""Step parameters declared once, as a dataclass; the argparse flags derive from it.

Each field becomes ``--field-name`` (underscores as dashes) with the field's default and the
help text, choices, metavar and type given in its ``metadata``::

    @dataclass
    class Params:
        n_neighbors: int = field(default=20, metadata=doc("k of the kNN graph"))

A field without a default is a required flag. ``bool`` fields are switches (``store_true``;
default ``True`` gives a ``--no-...`` switch instead). ``X | None`` fields take an ``X``;
``list[X]`` fields take one or more (``nargs="+"`` unless the metadata says otherwise).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from cellspace.errors import ParameterError

T = TypeVar("T")


def doc(help: str, **extra: Any) -> dict[str, Any]:
    """Field metadata: ``help`` plus any of ``choices``, ``metavar``, ``type``, ``nargs``,
    ``action`` (``"extend"``: a list flag that may also be repeated) and ``flag``."""
    return {"help": help, **extra}


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _base_type(hint: Any) -> Any:
    """``int`` of ``int | None``; ``list[str]`` -> (list, str)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else str
    return hint


def field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields that are command-line flags (``init`` fields without ``cli=False``)."""
    return [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("cli", True)]


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                  exclude: Iterable[str] = ()) -> None:
    """Add one flag per field of the dataclass ``cls`` (except ``exclude``)."""
    hints = typing.get_type_hints(cls)
    skip = set(exclude)
    for f in cli_fields(cls):
        if f.name in skip:
            continue
        meta = dict(f.metadata)
        default = field_default(f)
        hint = _base_type(hints[f.name])
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta.get("help", "")}
        if hint is bool:
            if default is True:
                parser.add_argument(meta.get("flag", "--no-" + f.name.replace("_", "-")),
                                    action="store_false", **kwargs)
            else:
                parser.add_argument(flag_of(f), action="store_true", **kwargs)
            continue
        origin = typing.get_origin(hint)
        if origin in (list, tuple):
            kwargs["nargs"] = meta.get("nargs", "+")
            hint = typing.get_args(hint)[0]
        elif "nargs" in meta:
            kwargs["nargs"] = meta["nargs"]
        kwargs["type"] = meta.get("type", hint if hint in (int, float, str, Path) else str)
        for key in ("choices", "metavar", "action"):
            if key in meta:
                kwargs[key] = meta[key]
        if default is dataclasses.MISSING:
            kwargs["required"] = True
            kwargs["default"] = argparse.SUPPRESS
        else:
            kwargs["default"] = default
        parser.add_argument(flag_of(f), **kwargs)


def from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """The dataclass ``cls`` filled from parsed arguments (fields absent from ``args`` keep
    their defaults; ``overrides`` win)."""
    values = {f.name: getattr(args, f.name) for f in cli_fields(cls) if hasattr(args, f.name)}
    values.update(overrides)
    return cls(**values)


def from_mapping(cls: type[T], values: Mapping[str, Any], what: str = "parameter") -> T:
    """The dataclass ``cls`` from a mapping; unknown names and ill-typed values are usage errors."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ParameterError(f"unknown {what}(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    converted = {k: _convert(k, v, _base_type(hints[k]), what) for k, v in values.items()}
    return cls(**converted)


def _convert(name: str, value: Any, hint: Any, what: str) -> Any:
    if value is None:
        return None
    conv: Callable[[Any], Any]
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ParameterError(f"{what} {name}: expected true or false, got {value!r}")
    if hint in (int, float, str, Path):
        conv = hint
    else:
        return value
    try:
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return conv(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} {name}: expected {hint.__name__}, got {value!r}") from None
