"""BENCH_SCORE (``cellspace benchmark score``): the benchmark metrics of embeddings.

Scores each method's embedding on the evaluated cells: the four biological-conservation
metrics (cell-type ASW, NMI, ARI, homogeneity), the four batch-mixing metrics (with
``--batch-key``) and the bio, batch and overall scores; one row per method in ``--out``,
per-cell-type batch metrics in ``--per-label``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import OutputError
from cellspace.steps.evaluation import EvaluationParams
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "score"
HELP = "score embeddings (8 metrics + summaries)"
DESCRIPTION = __doc__


@dataclass(kw_only=True)
class ScoreParams(EvaluationParams):
    out: Path = field(metadata=doc("TSV of scores (one row per method)"))
    per_label: Path | None = field(default=None, metadata=doc("TSV of per-cell-type batch metrics"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, ScoreParams)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from cellspace.bench.metrics import SharedClustering, score_embedding
    from cellspace.steps.evaluation import read_evaluation
    from cellspace.steps.tables import write_tsv

    p = from_args(ScoreParams, args)
    p.check()
    for out in (p.out, p.per_label):
        if out is not None and out.is_dir():
            raise OutputError("is a folder; give a file name", out)
    ev = read_evaluation(p)
    rows, per = [], []
    for m, X in ev.embeddings.items():
        sc = score_embedding(X, ev.labels, ev.batches, metric=ev.metrics[m], n_neighbors=p.n_neighbors,
                             cluster_fn=SharedClustering(p.cluster_method), seed=p.seed)
        rows.append({"method": m, **sc.as_series().to_dict()})
        pl = sc.per_label.reset_index()
        pl.insert(0, "method", m)
        per.append(pl)
        log.info("%s: overall score %.3f", m, rows[-1]["overall_score"])
    write_tsv(pd.DataFrame(rows), p.out, index=False, na_rep="NaN")
    if p.per_label is not None:
        write_tsv(pd.concat(per), p.per_label, index=False, na_rep="NaN")
    return 0
