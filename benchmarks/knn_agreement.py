#!/usr/bin/env python
"""Approximate (nearest-neighbour descent) against exact cosine kNN on the same cells.

Takes ``--cells`` cells (a fixed random subsample) of an embedding, ``obsm["X_cellspace"]`` of
``--h5ad`` (e.g. the trained atlas), or a synthetic 10-type embedding (dim 30) without it, and
computes both kNN graphs (k = ``--k``, self included, as ANALYZE does). Prints the wall and CPU
time of each, the fraction of the exact neighbours the approximate graph recovers (recall), the
same per cell (quantiles), and the ARI between Leiden clusterings of the two SNN graphs.

    python benchmarks/knn_agreement.py [--h5ad cells.h5ad] [--cells 20000] [--k 20]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    from sklearn.metrics import adjusted_rand_score

    from cellspace.analysis.clustering import cluster_graph
    from cellspace.analysis.graph import knn_graph, neighbour_recall, snn_graph

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h5ad", type=Path, default=None, help="cells h5ad with obsm['X_cellspace']")
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    if args.h5ad is not None:
        import anndata as ad

        a = ad.read_h5ad(args.h5ad, backed="r")
        x = np.asarray(a.obsm["X_cellspace"], dtype=np.float32)
        source = str(args.h5ad)
    else:
        from cellspace.analysis.synthetic import blob_cells

        x = blob_cells(n_cells=args.cells, n_types=10, dim=30, noise=0.8, seed=args.seed).obsm["X_cellspace"]
        source = "synthetic (blob_cells, 10 types, dim 30, noise 0.8)"
    if len(x) > args.cells:
        x = x[np.sort(np.random.default_rng(args.seed).choice(len(x), args.cells, replace=False))]
    print(f"{len(x):,} cells x {x.shape[1]} from {source}, k = {args.k}")
    exact, w_e, c_e = timed(lambda: knn_graph(x, args.k, method="exact"))
    approx, w_a, c_a = timed(lambda: knn_graph(x, args.k, method="nndescent", seed=args.seed))
    recall = neighbour_recall(approx, exact)
    per_cell = (np.isin(approx.indices[:, 1:] + np.arange(len(x))[:, None] * len(x),
                        exact.indices[:, 1:] + np.arange(len(x))[:, None] * len(x))).mean(axis=1)
    labels = [cluster_graph(snn_graph(g), method="leiden", resolution=0.8, seed=args.seed)
              for g in (exact, approx)]
    print("| kNN | wall (s) | CPU (s) |\n|---|---|---|")
    print(f"| exact (brute force) | {w_e:.1f} | {c_e:.1f} |")
    print(f"| nearest-neighbour descent | {w_a:.1f} | {c_a:.1f} |")
    q = np.quantile(per_cell, [0.01, 0.1, 0.5])
    print(f"recall of the exact neighbours: {recall:.4f}; per cell: 1 % {q[0]:.2f}, 10 % {q[1]:.2f}, "
          f"median {q[2]:.2f}; cells with all {args.k - 1}: {(per_cell == 1).mean():.3f}")
    print(f"Leiden (resolution 0.8) on the two SNN graphs: {labels[0].max() + 1} / {labels[1].max() + 1} "
          f"clusters, ARI {adjusted_rand_score(labels[0], labels[1]):.4f}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
