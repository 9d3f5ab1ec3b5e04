"""The ``cellspace`` command line: one module per subcommand.

Each subcommand module defines ``register(subparsers)`` (adds its parser, with help for every
flag and its default) and ``run(args) -> int``. Modules import heavy libraries inside ``run``
so that ``cellspace train`` starts fast and small. User mistakes are reported as one line on
stderr with exit code 2 (usage) or 1 (bad data), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cellspace._version import __version__
from cellspace.steps.entry import Formatter, Parser, guarded, setup_logging
from cellspace.steps.entry import register as register_step

# subcommands in the order shown by --help: "steps.<process>" are the pipeline's steps
# (cellspace.steps), the others modules of cellspace.cli with register(subparsers) and run(args)
SUBCOMMANDS: list[str] = [
    "simulate",
    "steps.prepare_dataset",
    "steps.select_features",
    "steps.train_cellspace",
    "steps.map_cells",
    "embed",
    "steps.export",
    "import_",
    "steps.motifs",
    "steps.analyze",
    "steps.trajectory",
    "steps.denovo",
    "steps.integrate",
    "bench",
    "steps.report",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used by the CLI and by tests that check module commands)."""
    parser = Parser(
        prog="cellspace",
        description="Sequence-informed embedding of single-cell ATAC-seq (CellSpace).",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"cellspace {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in SUBCOMMANDS:
        full = f"cellspace.{name}" if name.startswith("steps.") else f"cellspace.cli.{name}"
        try:
            mod = importlib.import_module(full)
        except ModuleNotFoundError as e:  # a subcommand still being installed/developed
            if e.name != full:
                raise
            continue
        if name.startswith("steps."):
            register_step(sub, mod)
            continue
        p = mod.register(sub)
        p.formatter_class = Formatter
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return guarded(f"cellspace {args.command}", args._run, args)


def entry() -> None:
    sys.exit(main())
