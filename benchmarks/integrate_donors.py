"""``cellspace integrate`` on simulations with donor-specific events: cell types kept, donors mixed.

    PYTHONPATH=src python benchmarks/integrate_donors.py --configs open1 open2 absent --seeds 0 1 2

Simulations (1,500 cells x 3,000 events of 500 bp, 6 cell types, 3 donors): every donor opens
its own 10 % of the events, independently of sequence (``donor_effect_sign="open"``), by a
log-fold of 1 (``open1``) or 2 (``open2``); ``absent``: log-fold 2 with donor-specific type
proportions (Dirichlet 2) and type1 absent from donor1, the reference. Each is trained with the
default parameters for 50 epochs (cached in --workdir; ``--no-centre`` trains without the
trainer's negative-group centring, whose embeddings separate donors more). Donor1 is the reference of the anchor
correction. Per embedding: k-means ARI (k = number of types, L2-normalised vectors), donor
entropy (:func:`cellspace.bench.mixing.knn_entropy`, 15 neighbours, 1 = as mixed as each type's
donor mix allows; above 1 only when types mix with each other), the fraction of anchors pairing
different cell types, and the fraction of query cells "pulled" into another type (the majority
type of their 15 nearest reference cells is not theirs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from cellspace.analysis.integrate import harmony_embedding, integrate_embedding
from cellspace.bench.mixing import kmeans_ari, knn_entropy
from cellspace.model import l2_normalize

CONFIGS = {
    "open1": dict(donor_effect_sign="open", donor_effect=1.0, donor_event_fraction=0.1),
    "open2": dict(donor_effect_sign="open", donor_effect=2.0, donor_event_fraction=0.1),
    "absent": dict(donor_effect_sign="open", donor_effect=2.0, donor_event_fraction=0.1,
                   donor_type_concentration=2.0, absent_types=((0, 0),)),
}
# anchor settings compared: the defaults, and the earlier defaults (raw space, batch centring)
VARIANTS = {
    "anchors": {},
    "anchors, no score filter": dict(min_score=0.0),
    "anchors, k_weight 100": dict(k_weight=100),
    "anchors, centred": dict(center=True),
    "anchors, earlier defaults": dict(space="raw", center=True, k_weight=100, min_score=0.0),
    "anchors, earlier + unit space": dict(space="unit", center=True, k_weight=100, min_score=0.0),
}


def trained(workdir: Path, config: str, seed: int, epochs: int, no_centre: bool) -> ad.AnnData:
    path = workdir / f"{config}_s{seed}_e{epochs}{'_nc' if no_centre else ''}.h5ad"
    if not path.exists():
        from cellspace.simulate import simulate
        from cellspace.simulate.params import SimulationParams
        from cellspace.train import TrainParams, train_datasets

        t = time.perf_counter()
        sim = simulate(SimulationParams(seed=seed, n_cells=1500, n_events=3000, event_len=500, n_types=6,
                                        n_donors=3, **CONFIGS[config]))
        _, adata = train_datasets(sim.datasets, TrainParams(epochs=epochs, bucket=200_000, dim=30, seed=seed,
                                                                       centre=not no_centre))
        adata.write_h5ad(path)
        print(f"  trained {path.name} in {time.perf_counter() - t:.0f} s", flush=True)
    return ad.read_h5ad(path)


def pulled(x: np.ndarray, types: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of query cells (of a type the reference has) whose 15 nearest reference cells
    mostly have another type."""
    u = l2_normalize(np.asarray(x, dtype=np.float32))
    idx = NearestNeighbors(n_neighbors=15).fit(u[ref]).kneighbors(u[~ref], return_distance=False)
    codes, t = np.unique(types, return_inverse=True)
    votes = np.zeros((idx.shape[0], codes.size))
    np.add.at(votes, (np.repeat(np.arange(idx.shape[0]), 15), t[ref][idx].ravel()), 1.0)
    tq = t[~ref]
    keep = np.isin(tq, np.unique(t[ref]))
    return float(np.mean(votes.argmax(axis=1)[keep] != tq[keep]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--no-centre", action="store_true", help="train without negative-group centring")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cellspace_integrate_donors")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for config in args.configs:
        for seed in args.seeds:
            a = trained(args.workdir, config, seed, args.epochs, args.no_centre)
            x = a.obsm["X_cellspace"].astype(np.float64)
            y = a.obs["cell_type"].astype(str).to_numpy()
            b = a.obs["donor"].astype(str).to_numpy()
            reference = sorted(set(b))[0]
            ref = b == reference
            embs = {"trained": (x, None), "harmony": (harmony_embedding(x, b, seed), None)}
            for name, kw in VARIANTS.items():
                embs[name] = integrate_embedding(x, b, reference, **kw)
            for name, (e, anchors) in embs.items():
                wrong = np.nan
                if anchors:
                    pairs = [(y[ref][an.ref], y[b == q][an.query]) for q, an in anchors.items()]
                    wrong = float(np.mean(np.concatenate([r != q for r, q in pairs])))
                rows.append({"config": config, "seed": seed, "embedding": name,
                             "ari": kmeans_ari(e, y), "donor_entropy": knn_entropy(e, b, y),
                             "wrong_type_anchors": wrong, "pulled": pulled(e, y, ref)})
            print(pd.DataFrame(rows[-len(embs):]).round(3).to_string(index=False), flush=True)
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print("\nmean over seeds")
        print(df.groupby(["config", "embedding"], sort=False)[["ari", "donor_entropy", "wrong_type_anchors",
                                                               "pulled"]].mean().round(3).to_string())


if __name__ == "__main__":
    main()
