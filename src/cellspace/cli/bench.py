"""``cellspace benchmark``: run competing methods, score embeddings, bootstrap statistics.

Actions:
  list             registered methods and whether their dependencies are installed
  run-method       embed an h5ad (cells x events, var["sequence"]) with one or more methods
  score            the eight benchmark metrics and summary scores of embeddings
  bootstrap        bootstrap CIs and pairwise tests (whole run, or one chunk of replicates)
  bootstrap-merge  merge chunk folders into the report of a whole run

All but ``list`` are the pipeline's benchmark steps (:mod:`cellspace.steps`, one per process:
``bench_run_method``, ``bench_score``, ``bench_bootstrap``, ``bench_bootstrap_merge``).
"""

from __future__ import annotations

import argparse

from cellspace.steps.entry import Formatter, step_module
from cellspace.steps.entry import register as register_step

STEPS = ("bench_run_method", "bench_score", "bench_bootstrap", "bench_bootstrap_merge")


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("benchmark", help="benchmark competing methods (run, score, bootstrap)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    lst = sub.add_parser("list", help="list methods", formatter_class=Formatter)
    lst.set_defaults(_action=_list)
    for name in STEPS:
        module = step_module(name)
        register_step(sub, module).set_defaults(_action=module.run)
    return p


def _list(_args: argparse.Namespace) -> int:
    from cellspace.bench.methods import MISSING, get_method, list_methods

    for n in list_methods():
        m = get_method(n)
        miss = m.missing_dependencies()
        state = "ok" if not miss else f"needs {', '.join(miss)} (pip install 'cellspace[{m.extra}]')"
        print(f"{n}\t{state}\t{m.description}")
    for n, why in MISSING.items():
        print(f"{n}\tmissing\t{why}")
    return 0


def run(args: argparse.Namespace) -> int:
    return int(args._action(args) or 0)
