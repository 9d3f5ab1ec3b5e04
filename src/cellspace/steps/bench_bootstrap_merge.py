"""BENCH_BOOTSTRAP_MERGE (``cellspace benchmark bootstrap-merge``): merge bootstrap chunks.

Checks that the chunk folders written by ``bench_bootstrap --chunk`` share their settings and
data (fingerprint) and hold every replicate exactly once, then writes the report of the whole
run as a unit: the replicate tables, ``summary.tsv`` (observed score, interval per method and
score), ``pairwise.tsv`` (differences, intervals, BH-adjusted p-values), the per-cell-type
summary and the figures. A merge gives byte-identical tables to a single run.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "bootstrap-merge"
HELP = "merge bootstrap chunks into a report"
DESCRIPTION = __doc__


@dataclass
class MergeParams:
    out: Path = field(metadata=doc("report folder"))
    chunks: list[Path] = field(metadata=doc("chunk folders (written by bootstrap --chunk)", action="extend"))
    alpha: float = field(default=0.05, metadata=doc("1 - confidence level"))
    plots: bool = field(default=True, metadata=doc("tables only", flag="--no-plots"))

    def validate(self) -> MergeParams:
        if not 0 < self.alpha < 1:
            raise ParameterError(f"--alpha must be in (0, 1), got {self.alpha}")
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, MergeParams)


def run(args: argparse.Namespace) -> int:
    from cellspace.bench.bootstrap_io import read_chunks, write_report

    p = from_args(MergeParams, args).validate()
    meta, scores, per, observed = read_chunks(p.chunks)
    write_report(p.out, meta, scores, per, observed, p.alpha, plots=p.plots)
    log.info("merged %d chunks (%d replicates) into %s", len(p.chunks), meta["replicates"][1], p.out)
    return 0
