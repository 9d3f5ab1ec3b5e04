"""Own-donor negatives and a donor that lacks a cell type (docs/design.md, "Batches and datasets").

On the ``composition`` simulation of ``benchmarks/batch_effects.py`` (type 6 absent from donor
1), CellSpace without and with ``--batch-key donor``. For every other type t, the gap = mean
cosine of donor 1's type-t cells to the unit centroid of the type-6 cells minus the same mean
over the other donors' type-t cells: positive when donor 1 sits nearer type 6 than its
type-mates of other donors. Also the unit-row batch ASW before and after removing the type-6
direction from every row. One JSON line per (seed, epochs, variant).

    python benchmarks/batch_absent_type.py --seeds 1 2 --epochs 10 50
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from cellspace.bench.batch import (
    BATCH_SCENARIOS,
    cells_table,
    cellspace_embedding,
    scenario_simulation,
)
from cellspace.bench.mixing import kmeans_ari, unit_batch_asw

ABSENT_DONOR, ABSENT_TYPE = "sim1/donor1", "type6"


def absent_type_gaps(X: np.ndarray, types: np.ndarray, donors: np.ndarray) -> dict[str, float]:
    """Per present type: cosine to the absent type's centroid, the lacking donor minus the others."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    centre = U[types == ABSENT_TYPE].mean(axis=0)
    cos = U @ (centre / np.linalg.norm(centre))
    lacking = donors == ABSENT_DONOR
    return {str(t): float(cos[(types == t) & lacking].mean() - cos[(types == t) & ~lacking].mean())
            for t in np.unique(types) if t != ABSENT_TYPE}


def without_direction(X: np.ndarray, types: np.ndarray) -> np.ndarray:
    """Unit rows with their component along the absent type's unit centroid removed."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    c = U[types == ABSENT_TYPE].mean(axis=0)
    c /= np.linalg.norm(c)
    return U - np.outer(U @ c, c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 50])
    args = ap.parse_args()
    for seed in args.seeds:
        sim = scenario_simulation(BATCH_SCENARIOS["composition"], seed)
        cells = cells_table(sim)
        types, donors = cells["cell_type"].to_numpy(), cells["donor"].to_numpy()
        for epochs in args.epochs:
            for key in (None, "donor"):
                X = cellspace_embedding(sim, key=key, epochs=epochs, seed=seed)
                gaps = absent_type_gaps(X, types, donors)
                row = {"seed": seed, "epochs": epochs, "batch_key": key, "ari": round(kmeans_ari(X, types, seed), 3),
                       "asw_unit": round(unit_batch_asw(X, types, donors), 4),
                       "asw_unit_no_absent_dir": round(unit_batch_asw(without_direction(X, types), types, donors), 4),
                       "gap_mean": round(float(np.mean(list(gaps.values()))), 3),
                       "gaps": {k: round(v, 3) for k, v in gaps.items()}}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
