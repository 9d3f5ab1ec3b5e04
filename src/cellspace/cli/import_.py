"""``cellspace import``: read a reference-tool TSV model into model.npz (+ cells.h5ad)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellspace.atomic import atomic_path
from cellspace.errors import InputError
from cellspace.tsv import import_tsv

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "import",
        help="import a model TSV written by the reference tool",
        description="Read the reference tool's TSV (k-mer rows and __label__C<i> cell rows) "
        "into OUT/model.npz and OUT/cells.h5ad.",
    )
    p.add_argument("--tsv", required=True, type=Path, help="model TSV")
    p.add_argument("--cell-names", type=Path, default=None,
                   help="file with one cell name per line, in __label__C1..Cn order")
    p.add_argument("--k", type=int, default=None, help="k-mer length (default: from the names)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    return p


def run(args: argparse.Namespace) -> int:
    cell_ids = None
    if args.cell_names is not None:
        if not args.cell_names.exists():
            raise InputError("cell names file not found", args.cell_names)
        cell_ids = [ln.split("\t")[0].strip() for ln in args.cell_names.read_text().splitlines() if ln.strip()]
    model = import_tsv(args.tsv, k=args.k, cell_ids=cell_ids)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "model.npz")
    obs = pd.DataFrame(index=pd.Index(np.asarray(model.cell_ids, dtype=str), name="cell"))
    cells = ad.AnnData(X=sp.csr_matrix((len(obs), 0), dtype=np.float32), obs=obs)
    from cellspace.train import add_cell_embedding, run_uns  # the trainer's core only when run

    add_cell_embedding(cells, model.cell_vectors)
    cells.uns["cellspace"] = run_uns(model)
    with atomic_path(args.out / "cells.h5ad") as tmp:
        cells.write_h5ad(tmp)
    log.info("imported %d k-mers (k = %d, %d missing) and %d cells, dim %d",
             len(model.kmer_vectors), model.k, model.params["missing_kmers"], model.n_cells, model.dim)
    return 0
