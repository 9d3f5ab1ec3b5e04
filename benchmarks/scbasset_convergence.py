"""How scBasset's cell embedding improves with training epochs on simulated cells (needs the
``[torch]`` extra).

    python benchmarks/scbasset_convergence.py --epochs 10 40

Each value of --epochs is a separate training from the same seed; the training loss of every
epoch is logged, and the embedding is scored with the benchmark's metrics (cell types and donors
of the simulation).
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 40])
    ap.add_argument("--n-cells", type=int, default=2000)
    ap.add_argument("--n-events", type=int, default=2000)
    ap.add_argument("--seq-len", type=int, default=344, help="one-hot input length (events are 300 bp)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("cellspace.bench.methods.scbasset").setLevel(logging.DEBUG)

    from cellspace.bench.methods.scbasset import train_scbasset
    from cellspace.bench.metrics import SharedClustering, score_embedding
    from cellspace.bench.toydata import dataset_to_anndata
    from cellspace.simulate.core import SimulationParams, simulate

    sim = simulate(SimulationParams(seed=args.seed, n_cells=args.n_cells, n_events=args.n_events,
                                    event_len=300, n_types=6, n_donors=3))
    adata = dataset_to_anndata(sim.datasets[0])
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    donors = adata.obs["donor"].astype(str).to_numpy()
    for epochs in args.epochs:
        t = time.perf_counter()
        emb = train_scbasset(adata, None, args.seed, epochs=epochs, seq_len=args.seq_len)
        sc = score_embedding(emb, labels, donors, metric="euclidean", cluster_fn=SharedClustering()).values
        print(f"epochs {epochs}: {time.perf_counter() - t:.0f} s; ARI {sc['ari']:.3f}, NMI {sc['nmi']:.3f}, "
              f"cell-type ASW {sc['asw_label']:.3f}, overall {sc['overall_score']:.3f}", flush=True)


if __name__ == "__main__":
    main()
