"""Fixtures of the step tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sim_h5ads(tmp_path_factory) -> list[Path]:
    """Two small simulated datasets written as prepared .h5ad files."""
    from cellspace.io import write_h5ad
    from cellspace.simulate import small_simulation

    folder = tmp_path_factory.mktemp("sim_h5ads")
    sim = small_simulation(1, n_cells=120, n_events=250, n_datasets=2)
    paths = []
    for ds in sim.datasets:
        paths.append(write_h5ad(ds, folder / f"{ds.name}.h5ad"))
    return paths


@pytest.fixture(scope="session")
def toy_atac_h5ad(tmp_path_factory) -> Path:
    """Cells x events with sequences, three cell types and two batches (the benchmark's input)."""
    from cellspace.bench.toydata import toy_atac
    from cellspace.io import write_h5ad

    path = tmp_path_factory.mktemp("toy_atac") / "toy.h5ad"
    return write_h5ad(toy_atac(n_cells=150, n_events=120, n_types=3, n_batches=2, seq_len=200, seed=0), path)


@pytest.fixture(scope="session")
def embedding_files(tmp_path_factory) -> dict[str, Path]:
    """Embeddings of 90 toy cells (4 labelled 'unknown'), as the benchmark steps read them.

    ``all``: one file with X_good (types well apart), X_noisy (the same plus noise) and
    X_cellspace; ``good`` and ``noisy``: one method each, as BENCH_RUN_METHOD writes them
    (``noisy`` with its cells in another order); ``cells``: X_cellspace of a trained run that
    holds 5 more cells.
    """
    import anndata as ad
    import numpy as np

    from cellspace.bench.toydata import toy_atac

    folder = tmp_path_factory.mktemp("embeddings")
    rng = np.random.default_rng(0)
    a = toy_atac(90, 10, seed=0)
    lab = a.obs["cell_type"].astype(str).to_numpy()
    centre = {t: rng.normal(0, 4, 6) for t in np.unique(lab)}
    X = np.vstack([centre[t] for t in lab]) + rng.normal(size=(a.n_obs, 6))
    lab[:4] = "unknown"
    obs = a.obs.assign(cell_type=lab)
    emb = {"X_good": X, "X_noisy": X + rng.normal(0, 4, X.shape),
           "X_cellspace": X * 0.5 + rng.normal(0, 0.5, X.shape)}
    paths = {}
    full = ad.AnnData(obs=obs)
    full.obsm.update(emb)
    paths["all"] = folder / "all.h5ad"
    full.write_h5ad(paths["all"])
    good = ad.AnnData(obs=obs)
    good.obsm["X_good"] = emb["X_good"]
    good.uns["bench_runs"] = {"good": {"seconds": 1.0, "metric": "euclidean"}}
    paths["good"] = folder / "good.h5ad"
    good.write_h5ad(paths["good"])
    order = rng.permutation(a.n_obs)
    noisy = ad.AnnData(obs=obs.iloc[order])
    noisy.obsm["X_noisy"] = emb["X_noisy"][order]
    noisy.uns["bench_runs"] = {"noisy": {"seconds": 1.0, "metric": "euclidean"}}
    paths["noisy"] = folder / "noisy.h5ad"
    noisy.write_h5ad(paths["noisy"])
    extra = ad.AnnData(obs=obs.iloc[:5].rename(index=lambda s: f"extra_{s}"))
    cells = ad.concat([ad.AnnData(obs=obs), extra])
    cells.obsm["X_cellspace"] = np.vstack([emb["X_cellspace"], rng.normal(size=(5, 6))])
    paths["cells"] = folder / "cells.h5ad"
    cells.write_h5ad(paths["cells"])
    return paths
