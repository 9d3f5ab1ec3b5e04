"""Mapping new cells into a trained model: frozen sequence rows, held-out cells placed by type."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from cellspace.dataset import combine, subset_cells
from cellspace.io import write_h5ad
from cellspace.mapping import map_params, map_training, mapped_cells
from cellspace.simulate import small_simulation
from cellspace.train import TrainParams, train_datasets, write_outputs

PARAMS = TrainParams(epochs=10, dim=16, bucket=20_000, threads=1, seed=0)


def knn_accuracy(ref: np.ndarray, ref_types: np.ndarray, query: np.ndarray, query_types: np.ndarray,
                 k: int = 15) -> float:
    """Fraction of query cells whose k nearest reference cells (cosine) vote for their type."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    knn = KNeighborsClassifier(k).fit(unit(ref), ref_types)
    return float((knn.predict(unit(query)) == query_types).mean())


@pytest.fixture(scope="module")
def split():
    """A model trained on two donors of the simulation, and the third donor's cells."""
    sim = small_simulation()
    ds = sim.datasets[0]
    truth = sim.truth.cells.set_index("cell")
    donor = truth.loc[ds.cell_ids, "donor"].astype(str).to_numpy()
    held = sorted(set(donor))[-1]
    ref = subset_cells(ds, donor != held, "reference")
    query = subset_cells(ds, donor == held, "query")
    model, cells = train_datasets([ref], PARAMS)
    types = truth["cell_type"].astype(str)
    return model, cells, query, types.loc[ref.cell_ids].to_numpy(), types.loc[query.cell_ids].to_numpy()


def test_map_freezes_sequence_rows_and_places_held_out_cells_by_type(split) -> None:
    model, _, query, ref_types, query_types = split
    data = combine([query])
    params = map_params(model, threads=1, seed=3)
    state = map_training(model, data, params, progress=False)
    nk, d, nc = state.n_kmers, params.dim, data.n_cells
    assert state.epoch == PARAMS.epochs and params.freeze_sequence_rows
    assert np.array_equal(state.table[:nk, :d], model.kmer_vectors)  # bit-identical
    assert np.array_equal(state.table[nk + nc :, :d], model.bucket_vectors)
    assert state.losses[-1] < state.losses[0]  # the new cell rows were trained
    cells = mapped_cells(model, state, data)
    assert cells.uns["cellspace"]["run_id"] == model.run_id
    assert knn_accuracy(model.cell_vectors, ref_types, cells.obsm["X_cellspace"], query_types) >= 0.9


def test_map_command_writes_cells_in_the_model_space(split, tmp_path: Path) -> None:
    from cellspace.cli import main

    model, cells, query, ref_types, query_types = split
    write_outputs(model, cells, tmp_path / "ref")
    write_h5ad(query, tmp_path / "query.h5ad")
    rc = main(["map", "--model", str(tmp_path / "ref" / "model.npz"), "--h5ad", str(tmp_path / "query.h5ad"),
               "--out", str(tmp_path / "mapped"), "--epochs", "3", "--threads", "1"])
    assert rc == 0
    mapped = ad.read_h5ad(tmp_path / "mapped" / "cells.h5ad")
    assert list(mapped.obs_names) == [str(c) for c in query.cell_ids]
    assert mapped.obsm["X_cellspace"].shape == (query.n_cells, PARAMS.dim)
    assert knn_accuracy(model.cell_vectors, ref_types, mapped.obsm["X_cellspace"], query_types) >= 0.9


def test_map_rejects_a_model_without_buckets(split, tmp_path: Path) -> None:
    from cellspace.errors import InputError

    model, _, query, _, _ = split
    import dataclasses

    bare = dataclasses.replace(model, bucket_vectors=model.bucket_vectors[:0])
    with pytest.raises(InputError, match="bucket rows"):
        map_training(bare, combine([query]), map_params(model, threads=1))
