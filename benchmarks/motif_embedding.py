"""Consensus vs ensemble motif embedding: how well do planted TFs rank on simulated data?

For each seed: simulate (cellspace.simulate), train, embed all JASPAR 2024 CORE vertebrate motifs
both ways, and rank each cell type's planted TFs among all motifs by the type's mean z-score.
Prints a Markdown table (and writes it with --out).

    python benchmarks/motif_embedding.py --seeds 0 1 2 3 4 --epochs 20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.analysis.motif_db import jaspar_motifs
from cellspace.analysis.motifs import group_means, motif_scores_for_cells, planted_ranks
from cellspace.simulate import simulate
from cellspace.simulate.params import SimulationParams
from cellspace.train import TrainParams, train_datasets

VARIANTS = {
    "consensus": {"method": "consensus"},
    "ensemble (t=0.8)": {"method": "ensemble", "rel_threshold": 0.8},
    "ensemble (t=0.9)": {"method": "ensemble", "rel_threshold": 0.9},
    "ensemble (t=0.7)": {"method": "ensemble", "rel_threshold": 0.7},
}


def markdown(df: pd.DataFrame, index: bool = True, fmt: str = "{:.3g}") -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    d = df.reset_index() if index else df
    cells = [[fmt.format(v) if isinstance(v, float) else str(v) for v in row] for row in d.itertuples(index=False)]
    head = [str(c) for c in d.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def one_seed(seed: int, epochs: int, n_cells: int, n_events: int, db) -> pd.DataFrame:
    sim = simulate(SimulationParams(seed=seed, n_cells=n_cells, n_events=n_events, n_types=4))
    model, adata = train_datasets(sim.datasets, TrainParams(epochs=epochs, bucket=200_000, dim=30, seed=seed))
    planted = sim.truth.active_tfs()
    rows = []
    for label, kw in VARIANTS.items():
        t = time.perf_counter()
        s = motif_scores_for_cells(model, db, adata.obsm["X_cellspace"], adata.obs_names, **kw)
        secs = time.perf_counter() - t
        means = group_means(s.X, adata.obs["cell_type"], s.var_names)
        r = planted_ranks(means, planted, s.var["name"].astype(str).tolist())
        r["variant"], r["seed"], r["seconds"] = label, seed, secs
        rows.append(r)
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--n-cells", type=int, default=600)
    ap.add_argument("--n-events", type=int, default=1500)
    ap.add_argument("--out", type=Path, help="write the per-TF ranks here (TSV)")
    args = ap.parse_args()
    db = jaspar_motifs()
    res = pd.concat([one_seed(s, args.epochs, args.n_cells, args.n_events, db) for s in args.seeds],
                    ignore_index=True)
    if args.out:
        res.to_csv(args.out, sep="\t", index=False)
    summary = res.groupby("variant", sort=False).agg(
        planted_tfs=("rank", "size"),
        top1=("rank", lambda r: float(np.mean(r == 1))),
        top5=("rank", lambda r: float(np.mean(r <= 5))),
        top10=("rank", lambda r: float(np.mean(r <= 10))),
        median_rank=("rank", "median"),
        seconds_per_879_motifs=("seconds", "mean"),
    )
    per_seed = res.assign(top5=res["rank"] <= 5).pivot_table(index="variant", columns="seed", values="top5",
                                                             aggfunc="mean", sort=False)
    print(f"{len(db)} motifs (JASPAR2024 CORE vertebrates); seeds {args.seeds}; {args.epochs} epochs\n")
    print(markdown(summary))
    print("\nfraction of planted TFs in the top 5, per seed:\n")
    print(markdown(per_seed, fmt="{:.2f}"))
    worst = res[res["variant"] == "ensemble (t=0.8)"].sort_values("rank", ascending=False).head(5)
    print("\nworst-ranked planted TFs (ensemble t=0.8):\n")
    print(markdown(worst[["seed", "group", "tf", "rank"]], index=False))


if __name__ == "__main__":
    main()
