"""The ``cellspace`` command line: one module per subcommand.

Each subcommand module defines ``register(subparsers)`` (adds its parser, with help for every
flag and its default) and ``run(args) -> int``. Modules import heavy libraries inside ``run``
so that ``cellspace train`` starts fast and small. User mistakes are reported as one line on
stderr with exit code 2 (usage) or 1 (bad data), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from cellspace._version import __version__
from cellspace.errors import CellSpaceError, ParameterError

# (subcommand module under cellspace.cli, in the order shown by --help)
SUBCOMMANDS: list[str] = [
    "simulate",
    "prepare",
    "select_features",
    "train",
    "embed",
    "export",
    "import_",
    "motifs",
    "analyze",
    "trajectory",
    "denovo",
    "integrate",
    "bench",
]


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used by the CLI and by tests that check module commands)."""
    parser = _Parser(
        prog="cellspace",
        description="Sequence-informed embedding of single-cell ATAC-seq (CellSpace).",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"cellspace {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"cellspace.cli.{name}")
        except ModuleNotFoundError as e:  # a subcommand still being installed/developed
            if e.name != f"cellspace.cli.{name}":
                raise
            continue
        p = mod.register(sub)
        p.formatter_class = _Formatter
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("h5py").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        rc = args._run(args)
    except ParameterError as e:
        print(f"cellspace {args.command}: error: {e}", file=sys.stderr)
        return 2
    except CellSpaceError as e:
        print(f"cellspace {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cellspace {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


def entry() -> None:
    sys.exit(main())
