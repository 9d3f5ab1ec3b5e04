#!/usr/bin/env python
"""Mapping a held-out donor into a model trained on the other two, against joint training.

Simulates one dataset (``--n-cells`` cells x ``--n-events`` events, 3 donors, 4 cell types),
trains a model on the cells of two donors, maps the third donor's cells (``cellspace.mapping``:
k-mer and n-gram rows frozen), and trains the same parameters on all three donors jointly.
Reports the kNN (k = 15, cosine) cell-type accuracy of the held-out cells against the trained
cells of the other two donors, in both spaces, and the wall times (state the load average).

    python benchmarks/map_query.py [--n-cells 1500] [--n-events 3000] [--epochs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def knn_accuracy(ref, ref_types, query, query_types, k: int = 15) -> float:
    from sklearn.neighbors import KNeighborsClassifier

    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    knn = KNeighborsClassifier(k).fit(unit(ref), ref_types)
    return float((knn.predict(unit(query)) == query_types).mean())


def main() -> None:
    from cellspace.dataset import subset_cells
    from cellspace.mapping import map_cells, map_params
    from cellspace.simulate import SimulationParams, simulate
    from cellspace.train import TrainParams, train_datasets

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-cells", type=int, default=1500)
    ap.add_argument("--n-events", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--dim", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="simulation seeds")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        sim = simulate(SimulationParams(seed=seed, n_cells=args.n_cells, n_events=args.n_events,
                                        event_len=300, n_types=4, n_donors=3, density=0.03))
        ds = sim.datasets[0]
        truth = sim.truth.cells.set_index("cell")
        donor = truth.loc[ds.cell_ids, "donor"].astype(str).to_numpy()
        types = truth.loc[ds.cell_ids, "cell_type"].astype(str).to_numpy()
        held = sorted(set(donor))[-1]
        q = donor == held
        ref, query = subset_cells(ds, ~q, "reference"), subset_cells(ds, q, "query")
        params = TrainParams(epochs=args.epochs, dim=args.dim, threads=args.threads, seed=seed)
        t0 = time.perf_counter()
        model, _ = train_datasets([ref], params)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        mapped = map_cells(model, [query], map_params(model, threads=args.threads, seed=seed), progress=False)
        t_map = time.perf_counter() - t0
        acc_map = knn_accuracy(model.cell_vectors, types[~q], mapped.obsm["X_cellspace"], types[q])
        t0 = time.perf_counter()
        _, joint = train_datasets([ds], params)
        t_joint = time.perf_counter() - t0
        z = joint.obsm["X_cellspace"]
        acc_joint = knn_accuracy(z[~q], types[~q], z[q], types[q])
        row = {"seed": seed, "n_reference": int((~q).sum()), "n_query": int(q.sum()),
               "acc_mapped": round(acc_map, 4), "acc_joint": round(acc_joint, 4),
               "train_reference_s": round(t_ref, 1), "map_s": round(t_map, 1),
               "train_joint_s": round(t_joint, 1), "load_average": round(os.getloadavg()[0], 1)}
        print(row, flush=True)
        rows.append(row)
    summary = {"args": vars(args), "runs": rows,
               "acc_mapped_mean": round(float(np.mean([r["acc_mapped"] for r in rows])), 4),
               "acc_joint_mean": round(float(np.mean([r["acc_joint"] for r in rows])), 4)}
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
