"""``cellspace analyze``: cell graph, clusters, UMAP (and joint cells + motifs UMAP), plots."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_COLOR_KEYS = ("cell_type", "celltype", "label", "batch", "dataset", "donor")


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "analyze",
        help="cluster cells, compute UMAPs and plots from a trained embedding",
        description=(
            "Cosine kNN and shared-nearest-neighbour (SNN) graphs of the cell embedding, Leiden or "
            "Louvain clustering (optionally at an exact number of clusters), UMAP, and a joint UMAP "
            "of cells and TF motifs. Writes DIR/cells.h5ad (obs[<method>], obsm['X_umap'], obsp "
            "graphs), DIR/clusters.tsv, DIR/umap.tsv and PNG plots."
        ),
    )
    p.add_argument("--cells", required=True, type=Path, help="cells.h5ad written by 'cellspace train'")
    p.add_argument("--model", type=Path, help="model.npz of the same run (checked against the cells; "
                   "needed when --motifs is a motif file)")
    p.add_argument("--motifs", type=Path, help="motif_scores.h5ad from 'cellspace motifs', or a motif "
                   "file (JASPAR/MEME/HOMER, with --model) for the joint cells + motifs UMAP")
    p.add_argument("--motif-format", choices=("jaspar", "meme", "homer"), help="format of a --motifs "
                   "file (default: guessed from its content)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--use-rep", default="X_cellspace", help="obsm key of the embedding")
    p.add_argument("--n-neighbors", type=int, default=20, help="k of the kNN/SNN graphs and UMAP")
    p.add_argument("--method", choices=("leiden", "louvain"), default="leiden", help="clustering method")
    p.add_argument("--resolution", type=float, default=None,
                   help="clustering resolution (default 0.8; start of the search with --n-clusters)")
    p.add_argument("--n-clusters", type=int, default=None,
                   help="search the resolution for exactly this many clusters (merging the smallest "
                   "clusters if no resolution gives it)")
    p.add_argument("--min-cluster-size", type=int, default=None,
                   help="merge clusters with fewer cells into their most-connected neighbour")
    p.add_argument("--color-by", nargs="*", default=None,
                   help=f"obs columns to colour UMAPs by (default: those of {', '.join(DEFAULT_COLOR_KEYS)} present)")
    p.add_argument("--joint-motifs", type=int, default=20,
                   help="number of motifs in the joint UMAP (the most cluster-specific ones)")
    p.add_argument("--min-dist", type=float, default=0.3, help="UMAP min_dist")
    p.add_argument("--no-umap", action="store_true", help="skip the UMAPs and plots")
    p.add_argument("--seed", type=int, default=0, help="random seed of clustering and UMAP")
    return p


def run(args: argparse.Namespace) -> int:
    from cellspace.analysis.analyze import analyze_cells

    analyze_cells(
        cells=args.cells,
        out=args.out,
        model=args.model,
        motifs=args.motifs,
        motif_format=args.motif_format,
        use_rep=args.use_rep,
        n_neighbors=args.n_neighbors,
        method=args.method,
        resolution=args.resolution,
        n_clusters=args.n_clusters,
        min_cluster_size=args.min_cluster_size,
        color_by=args.color_by,
        joint_motifs=args.joint_motifs,
        min_dist=args.min_dist,
        umap=not args.no_umap,
        seed=args.seed,
    )
    return 0
