"""Time of one bootstrap replicate (resample, re-cluster, all 8 metrics) for one method.

    PYTHONPATH=src python benchmarks/bootstrap_timing.py --n-cells 2000 --replicates 20

The embedding is the LSI of simulated cells (``cellspace.simulate``); the observed scores are
computed once before timing (imports, the clustering's start resolution), as in a bootstrap run.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

from cellspace.bench.bootstrap import replicate_indices
from cellspace.bench.methods import run_method
from cellspace.bench.metrics import SharedClustering, score_embedding
from cellspace.bench.toydata import dataset_to_anndata
from cellspace.simulate.core import SimulationParams, simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-cells", type=int, default=2000)
    ap.add_argument("--n-events", type=int, default=3000)
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--cluster-method", default="leiden", choices=["leiden", "louvain"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    sim = simulate(SimulationParams(seed=args.seed, n_cells=args.n_cells, n_events=args.n_events,
                                    n_types=6, n_donors=3))
    adata = dataset_to_anndata(sim.datasets[0])
    X = run_method(adata, "lsi").embedding
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    batches = adata.obs["donor"].astype(str).to_numpy()
    t = time.perf_counter()
    cf = SharedClustering(args.cluster_method)
    obs = score_embedding(X, labels, batches, cluster_fn=cf)  # observed: imports + start resolution
    cf.start = cf.last_resolution
    print(f"warm-up (imports, observed scores): {time.perf_counter() - t:.2f} s")
    times = []
    for r in range(args.replicates):
        idx = replicate_indices(adata.n_obs, args.seed, r)
        t = time.perf_counter()
        sc = score_embedding(X, labels, batches, sample=idx, cluster_fn=cf)
        times.append(time.perf_counter() - t)
    times = np.array(times)
    print(f"cells {adata.n_obs}, dims {X.shape[1]}, cores {os.cpu_count()}, "
          f"clustering {args.cluster_method}")
    print(f"observed overall {obs.values['overall_score']:.3f}; last replicate overall "
          f"{sc.values['overall_score']:.3f}")
    print(f"one replicate: median {np.median(times):.3f} s, mean {times.mean():.3f} s, "
          f"min {times.min():.3f} s, max {times.max():.3f} s over {times.size}")


if __name__ == "__main__":
    main()
