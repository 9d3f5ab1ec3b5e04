"""``cellspace motifs``: TF motif embedding and single-cell TF activity scores."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    from cellspace.analysis.motif_db import (
        DEFAULT_COLLECTION,
        DEFAULT_RELEASE,
        DEFAULT_TAXON,
        FORMATS,
    )
    from cellspace.analysis.motifs import (
        DEFAULT_MAX_KMERS,
        DEFAULT_METHOD,
        DEFAULT_REL_THRESHOLD,
        EMBEDDING_METHODS,
    )

    p = subparsers.add_parser(
        "motifs",
        help="embed TF motifs and score every cell's TF activity",
        description=(
            "Embed the motifs of a database (a JASPAR release bundled offline, or a JASPAR, MEME or "
            "HOMER file) in the model's latent space and score every cell: cosine(cell, motif), "
            "z-scored across cells per motif. Writes DIR/motif_scores.h5ad (cells x motifs; "
            "varm['embedding'] holds the motif vectors), motif_embedding.tsv, mean scores and top "
            "motifs per group (TSV), a heatmap (PNG) and, with --scores-tsv, motif_scores.tsv."
        ),
    )
    p.add_argument("--model", required=True, type=Path, help="model.npz of the training run")
    p.add_argument("--cells", required=True, type=Path, help="cells.h5ad of the same run")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    src = p.add_argument_group("motif database (a JASPAR release unless --motif-file is given)")
    src.add_argument("--jaspar-release", default=DEFAULT_RELEASE, help="JASPAR release bundled with pyjaspar")
    src.add_argument("--collection", default=DEFAULT_COLLECTION, help="JASPAR collection")
    src.add_argument("--taxon", default=DEFAULT_TAXON,
                     help="JASPAR taxonomic group (vertebrates, insects, plants, ...; 'all' for every one)")
    src.add_argument("--motif-file", type=Path, help="motif file instead of JASPAR")
    src.add_argument("--motif-format", choices=FORMATS, help="format of --motif-file (default: guessed)")
    p.add_argument("--method", choices=EMBEDDING_METHODS, default=DEFAULT_METHOD,
                   help="motif embedding: consensus k-mers, or a PWM-weighted ensemble of high-scoring k-mers")
    p.add_argument("--rel-threshold", type=float, default=DEFAULT_REL_THRESHOLD,
                   help="ensemble: k-mers scoring >= min + t * (max - min) of a motif window")
    p.add_argument("--max-kmers-per-window", type=int, default=DEFAULT_MAX_KMERS,
                   help="ensemble: at most this many (best) k-mers per motif window")
    p.add_argument("--groupby", help="obs column to summarise scores by (default: leiden/louvain/cell_type "
                   "if present, else fresh Leiden clusters)")
    p.add_argument("--top", type=int, default=5, help="motifs per group in the top table and heatmap")
    p.add_argument("--use-rep", default="X_cellspace", help="obsm key of the cell embedding")
    p.add_argument("--scores-tsv", action="store_true",
                   help="also write the cells x motifs z-scores as TSV (large and slow for many cells)")
    return p


def run(args: argparse.Namespace) -> int:
    from cellspace.analysis.motif_step import run_motifs
    from cellspace.errors import ParameterError

    if not 0.0 <= args.rel_threshold <= 1.0:
        raise ParameterError(f"--rel-threshold must be in [0, 1], got {args.rel_threshold}")
    if args.max_kmers_per_window < 1:
        raise ParameterError(f"--max-kmers-per-window must be >= 1, got {args.max_kmers_per_window}")
    if args.top < 1:
        raise ParameterError(f"--top must be >= 1, got {args.top}")
    run_motifs(
        model=args.model,
        cells=args.cells,
        out=args.out,
        motif_file=args.motif_file,
        motif_format=args.motif_format,
        release=args.jaspar_release,
        collection=args.collection,
        taxon=None if args.taxon in ("all", "") else args.taxon,
        method=args.method,
        rel_threshold=args.rel_threshold,
        max_kmers_per_window=args.max_kmers_per_window,
        use_rep=args.use_rep,
        groupby=args.groupby,
        top=args.top,
        scores_tsv=args.scores_tsv,
    )
    return 0
