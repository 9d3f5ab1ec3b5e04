"""Small synthetic embeddings with known structure, for tests, examples and timings.

These bypass training: cell vectors are drawn directly in the latent space. Use
``cellspace.simulate`` plus training for end-to-end checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellspace.kmers import kmer_row_table, n_kmer_rows
from cellspace.model import CellSpaceModel, l2_normalize


def _cells_anndata(vectors: np.ndarray, obs: pd.DataFrame, run_id: str):
    import anndata as ad
    import scipy.sparse as sp

    adata = ad.AnnData(X=sp.csr_matrix((len(obs), 0), dtype=np.float32), obs=obs)
    adata.obsm["X_cellspace"] = np.asarray(vectors, dtype=np.float32)
    adata.uns["cellspace"] = {"run_id": run_id, "params": "{}"}
    return adata


def blob_cells(
    n_cells: int = 600,
    n_types: int = 5,
    dim: int = 16,
    noise: float = 0.5,
    n_batches: int = 1,
    batch_shift: float = 0.0,
    seed: int = 0,
):
    """AnnData of cells around ``n_types`` random centres; obs ``cell_type`` and ``batch``.

    With ``batch_shift`` > 0 every batch gets its own random offset of that norm (a batch effect).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_types, dim))
    y = rng.integers(0, n_types, n_cells)
    b = rng.integers(0, n_batches, n_cells)
    x = centres[y] + noise * rng.normal(size=(n_cells, dim))
    if batch_shift > 0:
        shifts = rng.normal(size=(n_batches, dim))
        shifts *= batch_shift / np.linalg.norm(shifts, axis=1, keepdims=True)
        x = x + shifts[b]
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical([f"type{i}" for i in y]), "batch": pd.Categorical([f"b{i}" for i in b])},
        index=pd.Index([f"cell{i}" for i in range(n_cells)]),
    )
    return _cells_anndata(x, obs, run_id=f"blobs-{seed}")


def planted_motif_model(
    consensus_by_type: dict[str, list[str]],
    n_cells_per_type: int = 60,
    k: int = 6,
    dim: int = 24,
    noise: float = 0.3,
    seed: int = 0,
):
    """A hand-made model whose cells sit near the k-mers of planted motif consensus sequences.

    Each cell type's cells are ``mean(planted motif vectors) + noise`` where a motif vector is the
    normalised sum of its consensus k-mer rows. k-mer rows are random. Returns (model, adata).
    """
    rng = np.random.default_rng(seed)
    kmer_vectors = l2_normalize(rng.normal(size=(n_kmer_rows(k), dim))).astype(np.float32)
    table = kmer_row_table(k)

    def motif_vec(seq: str) -> np.ndarray:
        codes = np.array(["ACGT".index(c) for c in seq])
        rows = [
            table[int(np.dot(codes[i : i + k], 4 ** np.arange(k - 1, -1, -1)))]
            for i in range(len(seq) - k + 1)
        ]
        return l2_normalize(kmer_vectors[rows].sum(axis=0))

    vecs, types = [], []
    for t, seqs in consensus_by_type.items():
        centre = l2_normalize(np.mean([motif_vec(s) for s in seqs], axis=0))
        vecs.append(centre + noise * rng.normal(size=(n_cells_per_type, dim)) / np.sqrt(dim))
        types += [t] * n_cells_per_type
    cells = np.vstack(vecs).astype(np.float32)
    ids = np.array([f"cell{i}" for i in range(len(types))], dtype=object)
    run_id = f"planted-{seed}"
    model = CellSpaceModel(
        kmer_vectors=kmer_vectors,
        cell_vectors=cells,
        bucket_vectors=np.empty((0, dim), np.float32),
        params={"k": k, "dim": dim, "ngrams": 1},
        cell_ids=ids,
        dataset_names=["synthetic"],
        run_id=run_id,
    )
    obs = pd.DataFrame({"cell_type": pd.Categorical(types), "batch": "b0"}, index=pd.Index(ids.astype(str)))
    return model, _cells_anndata(cells, obs, run_id)


_TRAINED: dict[tuple, tuple] = {}


def trained_simulation(seed: int = 0, epochs: int = 20, dim: int = 30, train: dict | None = None,
                       **sim_overrides):
    """(simulation, model, cells AnnData) of a small simulation trained with test-sized settings.

    ``train``: further ``TrainParams`` fields (e.g. ``threads=1`` for a reproducible training).
    Memoised per arguments within a process (several end-to-end tests share one training);
    treat the results as read-only.
    """
    train = dict(train or {})
    key = (seed, epochs, dim, tuple(sorted((k, repr(v)) for k, v in train.items())),
           tuple(sorted((k, repr(v)) for k, v in sim_overrides.items())))
    if key not in _TRAINED:
        from cellspace.simulate import simulate
        from cellspace.simulate.params import SimulationParams
        from cellspace.train import TrainParams, train_datasets

        base = dict(n_cells=600, n_events=1500, event_len=300, n_types=4, n_donors=3, density=0.03)
        base.update(sim_overrides)
        sim = simulate(SimulationParams(seed=seed, **base))
        model, adata = train_datasets(sim.datasets, TrainParams(epochs=epochs, bucket=200_000, dim=dim, seed=seed, **train))
        _TRAINED[key] = (sim, model, adata)
    return _TRAINED[key]


def branching_cells(n_cells: int = 600, n_branches: int = 2, dim: int = 16, noise: float = 0.03,
                    branch_point: float = 0.3, seed: int = 0):
    """AnnData of cells on a tree: a root segment, then ``n_branches`` diverging branches.

    obs: ``pseudotime`` (0..1), ``branch`` (0 = root segment), ``cell_type`` ("root" or
    "term<b>" by the dominant state, as the simulator names them).
    """
    rng = np.random.default_rng(seed)
    t = rng.random(n_cells)
    branch = np.where(t < branch_point, 0, rng.integers(1, n_branches + 1, n_cells))
    dirs = np.linalg.qr(rng.normal(size=(dim, n_branches + 2)))[0].T  # orthonormal directions
    base = 3.0 * dirs[-1]  # keeps every vector far from the origin (cosine geometry)
    x = base + np.outer(np.minimum(t, branch_point), dirs[0])
    for b in range(1, n_branches + 1):
        m = branch == b
        x[m] += np.outer(t[m] - branch_point, dirs[b])
    x += noise * rng.normal(size=x.shape)
    q = np.clip((t - branch_point) / (1 - branch_point), 0, 1)
    label = np.where((branch > 0) & (q >= 0.5), np.char.add("term", branch.astype(str)), "root")
    obs = pd.DataFrame({"pseudotime": t, "branch": branch, "cell_type": pd.Categorical(label)},
                       index=pd.Index([f"cell{i}" for i in range(n_cells)]))
    return _cells_anndata(x, obs, run_id=f"branching-{seed}")
