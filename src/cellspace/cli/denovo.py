"""``cellspace denovo``: de novo motifs from the 10-mer neighbours of cell groups."""

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

    p = subparsers.add_parser(
        "denovo",
        help="discover de novo motifs from the embedding and match them to known motifs",
        description=(
            "Embed every 10-mer (mean of its k-mer rows), find each cell's 50 nearest 10-mers, keep "
            "per cell group the 10-mers near >= 20%% of its cells, cluster them by sequence, align "
            "each cluster of more than 3 into a PWM and compare it with a motif database. Writes "
            "DIR/denovo_motifs.{tsv,meme,jaspar}, denovo_matches.tsv, denovo_alignments.txt, "
            "the selected 10-mers, denovo_logos.png and denovo_scores.h5ad (cells x motifs)."
        ),
    )
    p.add_argument("--model", required=True, type=Path, help="model.npz of the training run")
    p.add_argument("--cells", required=True, type=Path, help="cells.h5ad of the same run")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--groupby", help="obs column of cell groups (default: leiden/louvain/cell_type if "
                   "present, else fresh Leiden clusters)")
    p.add_argument("--use-rep", default="X_cellspace", help="obsm key of the cell embedding")
    p.add_argument("--length", type=int, default=10, help="length of the candidate words (L-mers)")
    p.add_argument("--n-neighbors", type=int, default=50, help="nearest L-mers per cell (K)")
    p.add_argument("--min-fraction", type=float, default=0.2,
                   help="keep L-mers among the neighbours of at least this fraction of a group's cells")
    p.add_argument("--cut", type=float, default=0.5, help="height at which the L-mer tree is cut")
    p.add_argument("--min-members", type=int, default=4, help="smallest L-mer cluster turned into a motif")
    p.add_argument("--max-cells-per-group", type=int, default=500,
                   help="estimate each group's fractions from at most this many random cells (0: all)")
    p.add_argument("--smooth", type=int, default=0,
                   help="average each cell with its nearest cells (this many, itself included) before "
                   "the cell -> L-mer search; 0 = off, as the paper")
    p.add_argument("--selection", choices=("cells", "contrast"), default="contrast",
                   help="how a group's L-mers are chosen: 'contrast' (default) = the --n-top L-mers closest "
                   "to the group's centroid relative to the other groups' centroids; 'cells' = the paper's, "
                   "neighbours of >= --min-fraction of the group's cells (finds no or generic motifs when "
                   "single cells are noisy, see docs/benchmarks.md)")
    p.add_argument("--n-top", type=int, default=200, help="L-mers per group with --selection contrast")
    p.add_argument("--max-logos", type=int, default=24, help="logos drawn (largest motifs first; 0: none)")
    p.add_argument("--no-compare", action="store_true", help="skip the database comparison")
    p.add_argument("--jaspar-release", default=DEFAULT_RELEASE, help="JASPAR release for the comparison")
    p.add_argument("--collection", default=DEFAULT_COLLECTION, help="JASPAR collection")
    p.add_argument("--taxon", default=DEFAULT_TAXON, help="JASPAR taxonomic group ('all': every one)")
    p.add_argument("--motif-file", type=Path, help="compare with the motifs of this file instead of JASPAR")
    p.add_argument("--motif-format", choices=FORMATS, help="format of --motif-file (default: guessed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (cell sampling, clustering)")
    return p


def run(args: argparse.Namespace) -> int:
    from cellspace.analysis.denovo_step import run_denovo
    from cellspace.errors import ParameterError

    if not 0 < args.min_fraction <= 1:
        raise ParameterError(f"--min-fraction must be in (0, 1], got {args.min_fraction}")
    if args.n_neighbors < 1 or args.min_members < 1:
        raise ParameterError("--n-neighbors and --min-members must be >= 1")
    if not 0 < args.cut <= 1:
        raise ParameterError(f"--cut must be in (0, 1], got {args.cut}")
    run_denovo(
        model=args.model, cells=args.cells, out=args.out, groupby=args.groupby, use_rep=args.use_rep,
        length=args.length, n_neighbors=args.n_neighbors, min_fraction=args.min_fraction, cut=args.cut,
        min_members=args.min_members, max_cells_per_group=args.max_cells_per_group or None,
        smooth=args.smooth, selection=args.selection, n_top=args.n_top, compare=not args.no_compare, max_logos=args.max_logos, motif_file=args.motif_file,
        motif_format=args.motif_format, release=args.jaspar_release, collection=args.collection,
        taxon=None if args.taxon in ("all", "") else args.taxon, seed=args.seed,
    )
    return 0
