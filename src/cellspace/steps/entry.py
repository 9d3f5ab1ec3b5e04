"""Running a step from the command line: the parser, logging and the one error path.

Both entry points use it: the ``cellspace`` command (``cellspace train ...``) and the thin
``bin/<process>.py`` scripts that the Nextflow modules call. Every failure is one line on
stderr, never a traceback: exit 2 for a usage error, 1 for bad data or an output that cannot be
written (exists, not writable, no space, file-size limit), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn

from cellspace._version import __version__
from cellspace.errors import CellSpaceError, ParameterError, os_problem


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")




def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("h5py").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


def guarded(prog: str, run: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a step; every user-facing failure becomes one line on stderr and an exit code."""
    try:
        rc = run(args)
    except ParameterError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except CellSpaceError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # an input or output the OS refused
        where = f"{e.filename}: " if e.filename else ""
        print(f"{prog}: error: {where}{os_problem(e)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{prog}: error: out of memory (lower the sizes, or use a larger machine)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


def step_module(name: str) -> ModuleType:
    return importlib.import_module(f"cellspace.steps.{name}")


def step_parser(module: ModuleType, prog: str | None = None) -> argparse.ArgumentParser:
    """The stand-alone parser of a step (what ``bin/<process>.py`` parses)."""
    p = Parser(prog=prog or f"{module.__name__.rsplit('.', 1)[-1]}.py", description=module.DESCRIPTION,
               formatter_class=Formatter)
    p.add_argument("--version", action="version", version=f"cellspace {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    module.add_arguments(p)
    return p


def register(sub: argparse._SubParsersAction, module: ModuleType) -> argparse.ArgumentParser:
    """Add a step as a ``cellspace`` subcommand."""
    p = sub.add_parser(module.COMMAND, help=module.HELP, description=module.DESCRIPTION,
                       formatter_class=Formatter)
    module.add_arguments(p)
    p.set_defaults(_run=module.run)
    return p


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """Entry of ``bin/<name>.py``: parse, run the step ``cellspace.steps.<name>``, exit code."""
    module = step_module(name)
    parser = step_parser(module)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return guarded(parser.prog, module.run, args)
