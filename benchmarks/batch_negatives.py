"""Negative designs and group centring, one training per variant (docs/design.md, "Batches and datasets").

Each variant is a negative pool built with ``cellspace.negatives`` (no change to the core) with or
without ``centre_groups`` on the labels; the embedding is scored after given epochs of one
schedule (snapshots of the same run). Prints one JSON line per (variant, epoch).

    python benchmarks/batch_negatives.py --sim '{"seed": 1, "n_cells": 1200, "n_events": 1200,
        "n_types": 6, "n_donors": 3, "donor_effect_sign": "open", "donor_effect": 2.0,
        "donor_event_fraction": 0.2}' --variants dataset balanced mix0.5 dataset_centre own own_centre
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from cellspace import _core
from cellspace.bench.batch import cells_table
from cellspace.bench.metrics import score_embedding
from cellspace.bench.mixing import cross_knn_accuracy, kmeans_ari, knn_entropy, unit_batch_asw
from cellspace.dataset import TrainingData, combine
from cellspace.negatives import NegativePools, build_pools, group_pools
from cellspace.simulate import SimulationParams, simulate
from cellspace.train import TrainParams, TrainState, run_training


def reference_weights(data: TrainingData, groups: np.ndarray) -> np.ndarray:
    """The reference's negative weights with ``groups`` as pools, rescaled to sum to 1 per group."""
    ev = data.events
    w, _ = _core.reference_pool_weights(np.ascontiguousarray(ev.indptr, dtype=np.int64),
                                        np.ascontiguousarray(ev.indices, dtype=np.int32),
                                        np.ascontiguousarray(groups, dtype=np.int32), int(groups.max()) + 1)
    w = np.asarray(w)
    return w / np.bincount(groups, weights=w)[groups]


def pools(data: TrainingData, variant: str, label: np.ndarray) -> tuple[NegativePools, bool]:
    """(pools, centre on the label?) of a variant name; "_centre" adds centring."""
    name, centre = (variant[: -len("_centre")], True) if variant.endswith("_centre") else (variant, False)
    dataset = data.cell_dataset.astype(np.int32)
    if name == "dataset":  # the reference's: the event's dataset
        return group_pools(dataset, reference_weights(data, dataset)), centre
    if name == "own":  # the positive's own label (within a dataset when the label is a donor)
        return group_pools(label, reference_weights(data, label)), centre
    if name == "balanced":  # the dataset's cells, every label given the same total weight
        return group_pools(dataset, reference_weights(data, label)), centre
    if name == "all":  # every cell of every dataset, every label the same total weight
        return group_pools(np.zeros_like(label), reference_weights(data, label)), centre
    if name.startswith("mix"):  # a fraction alpha from the own label, the rest from the others
        alpha = float(name[3:])
        w = reference_weights(data, label)
        n_lab = int(label.max()) + 1
        every = np.arange(len(label))
        weights = [np.where(label == b, alpha * w, (1 - alpha) * w / (n_lab - 1)) for b in range(n_lab)]
        return build_pools(label, [every] * n_lab, weights), centre
    raise SystemExit(f"unknown variant {variant!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", required=True, help="SimulationParams as JSON")
    ap.add_argument("--key", choices=("donor", "dataset"), default="donor", help="the label to mix")
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 20, 50], help="snapshots; the last is the schedule")
    ap.add_argument("--train", default="{}", help="extra TrainParams as JSON (e.g. {\"ngrams\": 1})")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sim = simulate(SimulationParams(**json.loads(args.sim)))
    data = combine(sim.datasets)
    cells = cells_table(sim)
    types, labels, ds = cells["cell_type"].to_numpy(), cells[args.key].to_numpy(), cells["dataset"].to_numpy()
    label = np.unique(labels, return_inverse=True)[1].astype(np.int32)
    marks = sorted(args.epochs)
    for variant in args.variants:
        neg, centre = pools(data, variant, label)
        tp = TrainParams(epochs=marks[-1], seed=args.seed, threads=1, **json.loads(args.train))
        snaps: dict[int, np.ndarray] = {}

        def keep(s: TrainState, snaps: dict[int, np.ndarray] = snaps, dim: int = tp.dim) -> None:
            if s.epoch in marks:
                snaps[s.epoch] = np.array(s.table[s.n_kmers : s.n_kmers + s.n_cells, :dim])

        t0 = time.perf_counter()
        run_training(data, tp, negatives=neg, centre=label if centre else None, progress=False, on_state=keep)
        for ep in marks:
            X = snaps[ep].astype(np.float64)
            sc = score_embedding(X, types, labels, metric="cosine", n_neighbors=15)
            row = {"variant": variant, "epochs": ep, "ari": kmeans_ari(X, types), "asw_batch": sc.values["asw_batch"],
                   "asw_unit": unit_batch_asw(X, types, labels), "entropy": knn_entropy(X, labels, types)}
            if np.unique(ds).size > 1:
                row["cross_acc"] = cross_knn_accuracy(X, types, ds)
                row.update({f"ari_{d}": kmeans_ari(X[ds == d], types[ds == d]) for d in np.unique(ds)})
            row = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
            print(json.dumps({**row, "seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
