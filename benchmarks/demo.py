#!/usr/bin/env python
"""The demo data set of `make demo`, and how well the demo run separates the cell types.

    python benchmarks/demo.py write --out assets/demo_data
        simulates the demo (two datasets with their own event atlases, donors as batches; the
        parameters are DEMO below) and writes what the demo samplesheet reads: sim1 as
        MatrixMarket + FASTA + cell table, sim2 as h5ad, plus simulation.json and the TF
        programs of the cell types (truth_tfs.tsv).

    python benchmarks/demo.py score --outdir results/demo
        cell-type ARI on the demo's cells of the trained CellSpace embedding
        (OUTDIR/cellspace/cellspace/cells.h5ad) and of LSI computed on each prepared dataset
        (OUTDIR/prepared/*.h5ad), both clustered the same way (the shared clustering of the
        benchmark: Leiden on the SNN graph of 20 neighbours, resolution searched for as many
        clusters as cell types). CellSpace is scored per dataset and on all cells together.

    python benchmarks/demo.py figure --outdir results/demo --out docs/demo_umap.png
        the README's image: the demo's CellSpace UMAP by cell type, donor and dataset.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

DEMO = dict(
    seed=1, n_cells=750, n_events=1500, event_len=300, n_types=4, n_donors=2, n_datasets=2,
    density=0.04, shared_regions=0.5, donor_event_fraction=0.3, donor_effect=1.5,
)
KEEP = {"sim1": ("mtx.gz", "fa.gz", "cells.tsv"), "sim2": ("h5ad",)}


def write(out: Path) -> None:
    from cellspace.simulate import SimulationParams, simulate, write_simulation

    sim = simulate(SimulationParams(**DEMO))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        write_simulation(sim, tmp, ("mtx", "h5ad"))
        for name, suffixes in KEEP.items():
            for sfx in suffixes:
                shutil.copy(Path(tmp) / f"{name}.{sfx}", out / f"{name}.{sfx}")
        for extra in ("simulation.json", "truth_tfs.tsv"):
            shutil.copy(Path(tmp) / extra, out / extra)
    for p in sorted(out.iterdir()):
        print(f"{p}: {p.stat().st_size / 1e3:.0f} kB")


def score(outdir: Path, label_key: str = "cell_type") -> None:
    import anndata as ad
    from sklearn.metrics import adjusted_rand_score

    from cellspace.analysis.clustering import cluster_embedding
    from cellspace.bench.methods.base import counts_matrix
    from cellspace.bench.methods.lsi import lsi

    def ari(x: np.ndarray, truth: np.ndarray) -> float:
        labels = cluster_embedding(x, n_neighbors=20, method="leiden",
                                   n_clusters=len(set(truth)), seed=0)
        return float(adjusted_rand_score(truth, labels))

    cells = ad.read_h5ad(outdir / "cellspace" / "cellspace" / "cells.h5ad")
    x = np.asarray(cells.obsm["X_cellspace"])
    truth = cells.obs[label_key].astype(str).to_numpy()
    print(f"{'cells':>14} {'n':>6} {'CellSpace':>10} {'LSI':>8}")
    print(f"{'all':>14} {len(truth):>6} {ari(x, truth):>10.3f} {'-':>8}")
    for path in sorted((outdir / "prepared").glob("*.h5ad")):
        prep = ad.read_h5ad(path)
        idx = cells.obs_names.get_indexer(prep.obs_names)
        if (idx < 0).any():
            raise SystemExit(f"{path}: cells missing from the trained embedding")
        t = prep.obs[label_key].astype(str).to_numpy()
        z = lsi(counts_matrix(prep, binary=True))
        print(f"{path.stem:>14} {len(t):>6} {ari(x[idx], t):>10.3f} {ari(z, t):>8.3f}")


def figure(outdir: Path, out: Path) -> None:
    """The demo's UMAP side by side: by cell type, by donor, by dataset (for the README)."""
    import anndata as ad
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = ad.read_h5ad(outdir / "analyze" / "cellspace" / "cells.h5ad")
    xy = np.asarray(cells.obsm["X_umap"])
    keys = ("cell_type", "donor", "dataset")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.8))
    for ax, key in zip(axes, keys, strict=True):
        values = cells.obs[key].astype(str)
        for i, v in enumerate(sorted(values.unique())):
            m = (values == v).to_numpy()
            ax.scatter(xy[m, 0], xy[m, 1], s=4, color=plt.cm.tab10(i), label=v, linewidths=0)
        ax.set_title(f"CellSpace UMAP by {key.replace('_', ' ')}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, markerscale=2.5, frameon=False, loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write the demo data")
    w.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("score", help="cell-type ARI of CellSpace and LSI on a demo run")
    s.add_argument("--outdir", type=Path, required=True)
    s.add_argument("--label-key", default="cell_type")
    f = sub.add_parser("figure", help="the demo's UMAPs side by side (README image)")
    f.add_argument("--outdir", type=Path, required=True)
    f.add_argument("--out", type=Path, default=Path("docs/demo_umap.png"))
    args = ap.parse_args()
    if args.cmd == "write":
        write(args.out)
    elif args.cmd == "figure":
        figure(args.outdir, args.out)
    else:
        score(args.outdir, args.label_key)


if __name__ == "__main__":
    main()
