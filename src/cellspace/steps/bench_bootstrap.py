"""BENCH_BOOTSTRAP (``cellspace benchmark bootstrap``): bootstrap CIs and pairwise tests of scores.

Collects the embeddings of the method runs (and the trained cells' ``X_cellspace``), then
scores bootstrap replicates of the evaluated cells. With all replicates it writes the report
folder (what ``bench_bootstrap_merge`` writes); with ``--chunk``/``--n-chunks`` or
``--replicates a:b`` only those replicates, as the folder ``OUT/chunk_<a>-<b>`` that
``bench_bootstrap_merge`` merges. Each folder is written as a unit.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import ParameterError
from cellspace.steps.evaluation import EvaluationParams
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "bootstrap"
HELP = "bootstrap CIs and pairwise tests"
DESCRIPTION = __doc__


@dataclass(kw_only=True)
class BootstrapParams(EvaluationParams):
    out: Path = field(metadata=doc("output folder (the report, or the chunk folders)"))
    n_replicates: int = field(default=1000, metadata=doc("bootstrap replicates of the whole run"))
    resampling: str = field(default="half", metadata=doc(
        "half: n/2 distinct cells per replicate, intervals centred on the observed score; "
        "replacement: n draws with replacement, raw percentile intervals (duplicated cells "
        "bias kNN metrics)", choices=("half", "replacement")))
    replicates: str | None = field(default=None, metadata=doc(
        "compute only replicates a:b (half-open; a chunk)", metavar="A:B"))
    chunk: int | None = field(default=None, metadata=doc("compute only chunk i of --n-chunks"))
    n_chunks: int | None = field(default=None, metadata=doc("number of chunks"))
    alpha: float = field(default=0.05, metadata=doc("1 - confidence level"))
    plots: bool = field(default=True, metadata=doc("tables only", flag="--no-plots"))

    def replicate_range(self) -> range:
        from cellspace.bench.bootstrap import replicate_range

        self.check()
        if self.n_replicates < 2:
            raise ParameterError(f"--n-replicates must be >= 2, got {self.n_replicates}")
        if not 0 < self.alpha < 1:
            raise ParameterError(f"--alpha must be in (0, 1), got {self.alpha}")
        return replicate_range(self.n_replicates, self.chunk, self.n_chunks, self.replicates)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, BootstrapParams)


def run(args: argparse.Namespace) -> int:
    from cellspace.bench.bootstrap import BootstrapSettings, bootstrap_scores
    from cellspace.bench.bootstrap_io import chunk_name, fingerprint, write_chunk, write_report
    from cellspace.steps.evaluation import read_evaluation

    p = from_args(BootstrapParams, args)
    reps = p.replicate_range()
    whole = len(reps) == p.n_replicates
    folder = p.out if whole else p.out / chunk_name(reps)
    ev = read_evaluation(p)
    settings = BootstrapSettings(n_replicates=p.n_replicates, seed=p.seed, n_neighbors=p.n_neighbors,
                                 cluster_seed=p.seed, cluster_method=p.cluster_method,
                                 resampling=p.resampling)
    scores, per, observed = bootstrap_scores(ev.embeddings, ev.labels, ev.batches, replicates=reps,
                                             settings=settings, metrics=ev.metrics)
    meta = {
        "settings": settings.as_dict(), "methods": list(ev.embeddings), "metrics": ev.metrics,
        "label_key": p.label_key, "batch_key": p.batch_key, "label_exclude": list(p.label_exclude),
        "subset_key": p.subset_key, "subset_values": list(p.subset_values), "n_cells": int(ev.labels.size),
        "n_excluded": ev.n_excluded, "fingerprint": fingerprint(ev.embeddings, ev.labels, ev.batches),
        "replicates": [reps.start, reps.stop],
    }
    if whole:
        write_report(folder, meta, scores, per, observed, p.alpha, plots=p.plots)
        log.info("bootstrap report written to %s", folder)
    else:
        write_chunk(folder, meta, scores, per, observed)
        log.info("bootstrap chunk %d:%d written to %s", reps.start, reps.stop, folder)
    return 0
