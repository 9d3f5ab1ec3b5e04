"""``cellspace integrate``: batch correction of the CellSpace embedding (anchors or Harmony)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "integrate",
        help="correct batch effects with Seurat-style anchors (or Harmony) in the CellSpace space",
        description=(
            "Seurat v3 anchor integration in the CellSpace space: mutual nearest neighbours between "
            "the reference batch and each query batch, filtered and scored by shared neighbours, "
            "give per-cell correction vectors (Gaussian-kernel weighted over the nearest anchors) "
            "that are applied to the query cells (reference cells unchanged). --method harmony runs "
            "Harmony (harmonypy, the [bench] extra) on the L2-normalised vectors instead. Writes a "
            "copy of the cells AnnData with obsm['X_cellspace_integrated'] (L2-normalised)."
        ),
    )
    p.add_argument("--cells", required=True, type=Path, help="cells.h5ad with the embedding")
    p.add_argument("--batch-key", required=True, help="obs column with the batches (e.g. dataset, batch)")
    p.add_argument("--method", choices=("anchors", "harmony"), default="anchors",
                   help="anchors: Seurat v3-style anchor correction towards --reference (default); "
                   "harmony: Harmony on every batch (no reference; the anchor options do not apply)")
    p.add_argument("--reference", help="the reference batch (a value of --batch-key); required with anchors")
    p.add_argument("--out", required=True, type=Path, help="output .h5ad path")
    p.add_argument("--model", type=Path, help="model.npz of the same run (only checked against the cells)")
    p.add_argument("--use-rep", default="X_cellspace", help="obsm key of the embedding to correct")
    p.add_argument("--key-added", default="X_cellspace_integrated", help="obsm key of the result")
    p.add_argument("--k-anchor", type=int, default=5, help="neighbours for mutual-neighbour anchors")
    p.add_argument("--k-filter", type=int, default=200, help="neighbours for anchor filtering (0: none)")
    p.add_argument("--k-score", type=int, default=30, help="neighbours for shared-neighbour anchor scores")
    p.add_argument("--k-weight", type=int, default=100, help="anchors per query cell in the correction")
    p.add_argument("--sd", type=float, default=1.0, help="bandwidth of the Gaussian anchor weighting")
    p.add_argument("--no-center", action="store_true",
                   help="find anchors on the vectors as they are, without removing each batch's mean "
                   "vector first (the default removal keeps a global batch shift from biasing anchors)")
    p.add_argument("--space", choices=("raw", "unit"), default="raw",
                   help="vectors the anchor differences are taken and applied in: 'raw' = the embedding "
                   "as trained (an additive batch shift is removed exactly), 'unit' = L2-normalised")
    p.add_argument("--anchors", type=Path, help="also write the anchor table (TSV) here")
    p.add_argument("--label-key", help="obs column of cell types: log batch ASW, kBET and ARI before/after "
                   "(stored in uns['integration']['metrics'])")
    return p


def run(args: argparse.Namespace) -> int:
    from cellspace.analysis.integrate_step import run_integrate
    from cellspace.errors import ParameterError

    for name in ("k_anchor", "k_score", "k_weight"):
        if getattr(args, name) < 1:
            raise ParameterError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.k_filter < 0:
        raise ParameterError(f"--k-filter must be >= 0, got {args.k_filter}")
    if args.sd <= 0:
        raise ParameterError(f"--sd must be > 0, got {args.sd}")
    if args.method == "anchors" and args.reference is None:
        raise ParameterError("--reference is required with --method anchors")
    if args.method == "harmony" and args.reference is not None:
        raise ParameterError("--reference does not apply to --method harmony (it corrects every batch)")
    if args.method == "harmony" and args.anchors is not None:
        raise ParameterError("--anchors does not apply to --method harmony (it has no anchors)")
    run_integrate(
        cells=args.cells, out=args.out, batch_key=args.batch_key, reference=args.reference,
        method=args.method, model=args.model, use_rep=args.use_rep, key_added=args.key_added,
        k_anchor=args.k_anchor, k_filter=args.k_filter or None, k_score=args.k_score,
        k_weight=args.k_weight, sd=args.sd, center=not args.no_center, space=args.space,
        anchors_path=args.anchors, label_key=args.label_key,
    )
    return 0
