"""Wall-clock and CPU time of the analysis steps on a synthetic 20,000-cell embedding.

Runs each step the way the command line does (files in, files out) on a hand-made model
(k = 8, dim = 30, random k-mer rows) and 20,000 cells in 10 types and 2 batches:

    python benchmarks/analysis_timings.py [--cells 20000] [--skip-umap] [--skip-palantir]

Prints a Markdown table. Set OMP_NUM_THREADS/OPENBLAS_NUM_THREADS to pin the thread count.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from cellspace.analysis.synthetic import blob_cells
from cellspace.io import write_h5ad
from cellspace.kmers import n_kmer_rows
from cellspace.model import CellSpaceModel, l2_normalize


def make_inputs(folder: Path, n_cells: int, seed: int = 0) -> tuple[Path, Path]:
    adata = blob_cells(n_cells=n_cells, n_types=10, dim=30, noise=0.8, n_batches=2, batch_shift=1.5, seed=seed)
    rng = np.random.default_rng(seed)
    model = CellSpaceModel(
        kmer_vectors=l2_normalize(rng.normal(size=(n_kmer_rows(8), 30))).astype(np.float32),
        cell_vectors=adata.obsm["X_cellspace"],
        bucket_vectors=np.empty((0, 30), np.float32),
        params={"k": 8, "dim": 30, "ngrams": 3},
        cell_ids=adata.obs_names.to_numpy(dtype=object),
        dataset_names=["synthetic"],
        run_id=adata.uns["cellspace"]["run_id"],
    )
    model.save(folder / "model.npz")
    write_h5ad(adata, folder / "cells.h5ad")
    return folder / "model.npz", folder / "cells.h5ad"


def timed(label: str, fn, rows: list) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append((label, wall, cpu, peak))
    print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--skip-umap", action="store_true")
    ap.add_argument("--skip-palantir", action="store_true")
    args = ap.parse_args()

    from cellspace.analysis.clustering import cluster_embedding
    from cellspace.steps.analyze import AnalyzeParams, analyze
    from cellspace.steps.denovo import DenovoParams, denovo
    from cellspace.steps.integrate import IntegrateParams, integrate_cells
    from cellspace.steps.motifs import MotifsParams, motifs
    from cellspace.steps.trajectory import TrajectoryParams, trajectory

    def run_motifs(model, cells, out, **kw):
        return motifs(MotifsParams(model=Path(model), cells=Path(cells), out=Path(out), **kw))

    def run_denovo(model, cells, out, **kw):
        return denovo(DenovoParams(model=Path(model), cells=Path(cells), out=Path(out), **kw))

    def analyze_cells(cells, out, **kw):
        return analyze(AnalyzeParams(cells=Path(cells), out=Path(out), **kw))

    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        model, cells = make_inputs(d, args.cells)
        x2k = blob_cells(n_cells=2000, n_types=8, dim=30, noise=0.8, seed=1).obsm["X_cellspace"]
        cluster_embedding(x2k, n_clusters=8)  # imports
        timed("cluster_embedding, 2,000 cells, n_clusters = 8 (x10, per call)",
              lambda: [cluster_embedding(x2k, n_clusters=8, seed=s) for s in range(10)], rows)
        rows[-1] = (rows[-1][0], rows[-1][1] / 10, rows[-1][2] / 10, rows[-1][3])
        timed("analyze: kNN/SNN + Leiden (n_clusters = 10), no UMAP",
              lambda: analyze_cells(cells, d / "an", n_clusters=10, umap=False), rows)
        timed("motifs: 879 JASPAR motifs, ensemble",
              lambda: run_motifs(model, cells, d / "mo", groupby="cell_type"), rows)
        timed("motifs: 879 JASPAR motifs, consensus",
              lambda: run_motifs(model, cells, d / "mo2", method="consensus", groupby="cell_type"), rows)
        timed("integrate: 2 batches, k.anchor 5 / filter 200 / score 30 / weight 100",
              lambda: integrate_cells(IntegrateParams(cells=cells, batch_key="batch", reference="b0",
                                                        out=d / "int.h5ad")), rows)
        timed("denovo: 524,800 10-mers, contrast selection (default, 200 per group)",
              lambda: run_denovo(model, cells, d / "dn", groupby="cell_type"), rows)
        timed("denovo: paper selection, 10 groups x 500 cells",
              lambda: run_denovo(model, cells, d / "dn2", groupby="cell_type", selection="cells"), rows)
        if not args.skip_umap:
            timed("analyze with UMAP + joint UMAP (20 motifs)",
                  lambda: analyze_cells(cells, d / "an2", n_clusters=10, motifs=d / "mo" / "motif_scores.h5ad"),
                  rows)
        if not args.skip_palantir:
            timed("trajectory: Palantir (no plots)",
                  lambda: trajectory(TrajectoryParams(cells=cells, out=d / "tr", start_group="cell_type=type0",
                                                    plots=False)), rows)
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(f"\n{args.cells:,} cells, dim 30, k = 8; {os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}\n")
    print("| step | wall (s) | CPU (s) | peak RSS so far (MB) |")
    print("|---|---|---|---|")
    for label, wall, cpu, peak in rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
