"""BENCH_RUN_METHOD (``cellspace benchmark run-method``): embed cells with competing methods.

Reads a prepared cells x events h5ad (``var["sequence"]`` for sequence-based methods), runs
each method of ``--method`` (``cellspace benchmark list`` shows them) and writes the input
plus ``obsm["X_<method>"]`` and ``uns["bench_runs"]`` (run time, peak memory, metric) to
``--out``; ``--timings`` also writes them as a table. Method names and parameters are checked
before the data are read.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import OutputError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "run-method"
HELP = "embed cells with competing methods"
DESCRIPTION = __doc__


@dataclass
class RunMethodParams:
    h5ad: Path = field(metadata=doc("cells x events AnnData (var['sequence'] for sequence-based methods)"))
    out: Path = field(metadata=doc("output h5ad (the input plus obsm['X_<method>'])"))
    method: list[str] = field(metadata=doc("method name(s); the flag may be repeated", action="extend"))
    batch_key: str | None = field(default=None, metadata=doc("obs batch column (batch-aware methods)"))
    param: list[str] = field(default_factory=list, metadata=doc(
        "method parameter name=value (value read as JSON when it parses), for every method given",
        action="extend", metavar="NAME=VALUE"))
    memory: str = field(default="child", metadata=doc(
        "peak memory: peak RSS increase of the method in a fresh child process, the same in this "
        "process (under-reports after earlier work), or traced Python/NumPy allocations",
        choices=("child", "rss", "tracemalloc")))
    seed: int = field(default=0, metadata=doc("random seed"))
    timings: Path | None = field(default=None, metadata=doc("also write run time and memory to this TSV"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, RunMethodParams)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from cellspace.bench.methods import get_method, parse_method_params, run_method
    from cellspace.bench.methods.base import check_method_params
    from cellspace.io import write_h5ad
    from cellspace.io.anndata_io import read_anndata
    from cellspace.steps.tables import write_tsv

    p = from_args(RunMethodParams, args)
    methods = [get_method(n) for n in p.method]  # unknown names fail before any work
    params = parse_method_params(p.param)
    for m in methods:
        m.check_available()
        check_method_params(m, params)
    for out in (p.out, p.timings):
        if out is not None and out.is_dir():
            raise OutputError("is a folder; give a file name", out)
    adata = read_anndata(p.h5ad)
    rows = []
    for m in methods:
        r = run_method(adata, m, batch_key=p.batch_key, seed=p.seed, params=params, memory=p.memory)
        rows.append({"method": m.name, "seconds": r.seconds, "peak_memory_mib": r.peak_memory / 2**20,
                     "memory_mode": r.memory_mode, "n_cells": adata.n_obs, "dims": r.embedding.shape[1]})
        log.info("%s: %d x %d embedding in %.1f s", m.name, adata.n_obs, r.embedding.shape[1], r.seconds)
    write_h5ad(adata, p.out)
    if p.timings is not None:
        write_tsv(pd.DataFrame(rows), p.timings, index=False)
    return 0
