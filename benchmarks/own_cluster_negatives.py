"""Negatives from the positive's own cluster down-weighted (docs/design.md, "Negatives from the
positive's own cluster").

A label-free variant of the negatives: after a 5-epoch pilot with the default negatives, the
pilot's unit cell rows are clustered (``cellspace.pseudo_batches.choose_clusters``, k by the
cosine silhouette, as the batch pilot does) and a fresh training draws the negatives of a
positive in cluster j from every cell with the reference weights, those of cluster j
multiplied by ``w``. The default training (batch pilot included) is scored beside it on the
scenarios of ``benchmarks/batch_effects.py``. One JSON line per (scenario, seed, epochs,
variant) with ``cellspace.bench.batch.score``'s metrics.

    python benchmarks/own_cluster_negatives.py --scenarios donor_events_1 composition depth \
        donor_events_2 --seeds 1 --epochs 10 50 --weights 0.5 0.25
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from cellspace import _core
from cellspace.bench.batch import BATCH_SCENARIOS, cells_table, scenario_simulation, score
from cellspace.dataset import TrainingData, combine
from cellspace.negatives import NegativePools, build_pools
from cellspace.pseudo_batches import choose_clusters
from cellspace.train import TrainParams, TrainState, cells_anndata, run_training, state_to_model


def unit_rows(state: TrainState, data: TrainingData) -> np.ndarray:
    return np.asarray(cells_anndata(state_to_model(state, data), data).obsm["X_cellspace"], np.float64)


def own_cluster_pools(data: TrainingData, clusters: np.ndarray, weight: float) -> NegativePools:
    """One pool per cluster: every cell at its reference weight, the cluster's own cells times ``weight``."""
    ev = data.events
    base, _ = _core.reference_pool_weights(
        np.ascontiguousarray(ev.indptr, dtype=np.int64), np.ascontiguousarray(ev.indices, dtype=np.int32),
        np.zeros(data.n_cells, np.int32), 1)
    every = np.arange(data.n_cells)
    k = int(clusters.max()) + 1
    return build_pools(clusters, [every] * k, [base * np.where(clusters == j, weight, 1.0) for j in range(k)])


def pilot_clusters(data: TrainingData, params: TrainParams, epochs: int = 5) -> np.ndarray:
    pilot = run_training(data, params, progress=False, until=epochs)
    rows = np.array(pilot.table[pilot.n_kmers : pilot.n_kmers + pilot.n_cells, : params.dim])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True) + 1e-12
    return choose_clusters(rows, params.seed).labels_.astype(np.int32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", nargs="+", default=["donor_events_1", "composition", "depth"],
                    choices=list(BATCH_SCENARIOS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.25])
    args = ap.parse_args()
    for name in args.scenarios:
        scenario = BATCH_SCENARIOS[name]
        for seed in args.seeds:
            sim = scenario_simulation(scenario, seed)
            cells, data = cells_table(sim), combine(sim.datasets)
            for epochs in args.epochs:
                params = TrainParams(epochs=epochs, seed=seed, threads=1)
                variants: list[tuple[str, NegativePools | None]] = [("default", None)]
                bare = replace(params, batch_pilot_epochs=0)
                clusters = pilot_clusters(data, bare)
                variants += [(f"own_cluster_{w:g}", own_cluster_pools(data, clusters, w)) for w in args.weights]
                for label, pools in variants:
                    t0 = time.perf_counter()
                    state = run_training(data, params if pools is None else bare, negatives=pools, progress=False)
                    row = {"scenario": name, "seed": seed, "epochs": epochs, "variant": label,
                           "clusters": int(clusters.max()) + 1, "pilot": state.batch_pilot,
                           "seconds": time.perf_counter() - t0,
                           **score(unit_rows(state, data), cells, scenario.key, "cosine", seed)}
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
