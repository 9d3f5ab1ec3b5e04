"""``cellspace select-features``: keep the N most variable events by iterative LSI (ArchR)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cellspace.analysis.features import FeatureParams
from cellspace.errors import InputError, ParameterError

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "select-features",
        help="subset an h5ad to the N most variable events (iterative LSI)",
        description="Select variable events (peaks or tiles) as ArchR's iterative LSI does: LSI "
                    "on the most accessible events, clustering, then the events with the highest "
                    "variance of cluster-aggregated accessibility; the h5ad subset is written "
                    "atomically.",
    )
    p.add_argument("--h5ad", required=True, help="input cells x events h5ad")
    p.add_argument("--out", required=True, help="output h5ad with the selected events")
    p.add_argument("--n-features", type=int, required=True, help="number of events to keep")
    d = FeatureParams()
    p.add_argument("--iterations", type=int, default=d.iterations, help="LSI rounds (ArchR default 2)")
    p.add_argument("--n-components", type=int, default=d.n_components, help="LSI components")
    p.add_argument("--resolution", type=float, default=d.resolution,
                   help="clustering resolution between rounds")
    p.add_argument("--max-cells", type=int, default=FeatureParams().max_cells,
                   help="above this many cells, choose the events on a random subsample of them")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    return p


def run(args) -> int:
    import anndata as ad

    from cellspace.analysis.features import select_variable_events
    from cellspace.atomic import atomic_path

    if args.n_features < 2:
        raise ParameterError(f"--n-features must be >= 2, got {args.n_features}")
    src = Path(args.h5ad)
    if not src.is_file():
        raise InputError("file not found", src)
    try:
        adata = ad.read_h5ad(src)
    except Exception as e:  # noqa: BLE001 - any reader failure is bad input
        raise InputError(f"cannot read h5ad: {e}", src) from None
    if adata.n_obs < 3 or adata.n_vars < 2:
        raise InputError(f"too small to select features ({adata.n_obs} x {adata.n_vars})", src)
    if args.n_features >= adata.n_vars:
        log.warning("--n-features %d >= %d events: keeping all", args.n_features, adata.n_vars)
        keep = slice(None)
        n = adata.n_vars
    else:
        params = FeatureParams(n_features=args.n_features, iterations=args.iterations,
                               n_components=args.n_components, resolution=args.resolution,
                               max_cells=args.max_cells, seed=args.seed)
        keep = select_variable_events(adata, params)
        n = len(keep)
    sub = adata[:, keep].copy()
    sub.uns["select_features"] = {"method": "iterative_lsi", "n_features": int(n),
                                  "iterations": int(args.iterations), "seed": int(args.seed),
                                  "max_cells": int(args.max_cells)}
    with atomic_path(args.out) as tmp:
        sub.write_h5ad(tmp)
    log.info("kept %d of %d events -> %s", n, adata.n_vars, args.out)
    return 0
