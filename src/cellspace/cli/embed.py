"""``cellspace embed``: embed DNA sequences with a trained model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from cellspace.atomic import atomic_path
from cellspace.kmers import kmer_rows_of
from cellspace.model import CellSpaceModel
from cellspace.sequences import SequenceStore, read_fasta

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "embed",
        help="embed DNA sequences (sum of canonical k-mer rows, normalised)",
        description="Embed each FASTA record as the L2-normalised sum of its canonical k-mer "
        "rows (windows with N skipped; a sequence without any N-free k-mer gets NaN). Output: TSV (name + dim values, with header) or, for a "
        ".h5ad name, an AnnData with obsm['X_cellspace'].",
    )
    p.add_argument("--model", required=True, type=Path, help="model.npz")
    p.add_argument("--fasta", required=True, type=Path, help="sequences to embed (gz ok)")
    p.add_argument("--out", required=True, type=Path, help="output .tsv or .h5ad")
    return p


def run(args: argparse.Namespace) -> int:
    model = CellSpaceModel.load(args.model, with_buckets=False)
    names, seqs = read_fasta(args.fasta)
    # the same alphabet as prepare: IUPAC ambiguity codes are an error, not silently skipped
    SequenceStore.from_strings(seqs, names, source=str(args.fasta))
    vecs = model.embed_sequences(seqs)
    # a sequence without any N-free k-mer (all N, or shorter than k) has no embedding: NaN,
    # not the zero vector that would look like a real (if uninformative) one
    empty = np.array([len(kmer_rows_of(s, model.k)) == 0 for s in seqs], dtype=bool)
    if empty.any():
        vecs[empty] = np.nan
        log.warning(
            "%s: %d sequence(s) have no %d-mer without N (first: %s); their vectors are NaN",
            args.fasta, int(empty.sum()), model.k, names[int(np.flatnonzero(empty)[0])],
        )
    if args.out.suffix == ".h5ad":
        a = ad.AnnData(obs=pd.DataFrame(index=pd.Index(names, name="sequence")))
        a.obsm["X_cellspace"] = vecs
        with atomic_path(args.out) as tmp:
            a.write_h5ad(tmp)
    else:
        df = pd.DataFrame(vecs, index=pd.Index(names, name="name"),
                          columns=[f"dim{i + 1}" for i in range(model.dim)])
        with atomic_path(args.out) as tmp:
            df.to_csv(tmp, sep="\t", float_format="%.6g")
    log.info("embedded %d sequences into %s", len(names), args.out)
    return 0
