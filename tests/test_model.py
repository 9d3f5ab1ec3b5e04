"""The model file: what is saved is what is loaded."""

from __future__ import annotations

import numpy as np

from cellspace.kmers import n_kmer_rows
from cellspace.model import CellSpaceModel


def _model(inferred: np.ndarray) -> CellSpaceModel:
    rng = np.random.default_rng(0)
    return CellSpaceModel(
        kmer_vectors=rng.normal(size=(n_kmer_rows(3), 4)).astype(np.float32),
        cell_vectors=rng.normal(size=(5, 4)).astype(np.float32),
        bucket_vectors=rng.normal(size=(7, 4)).astype(np.float32),
        params={"k": 3, "dim": 4},
        cell_ids=np.array([f"c{i}" for i in range(5)], dtype=object),
        dataset_names=["d"],
        run_id="r",
        inferred_batches=inferred,
    )


def test_a_saved_model_loads_with_its_rows_ids_and_inferred_batches(tmp_path):
    for inferred in (np.array([0, 1, 1, 0, 2], dtype=np.int32), np.empty(0, np.int32)):
        m = _model(inferred)
        m.save(tmp_path / "model.npz")
        back = CellSpaceModel.load(tmp_path / "model.npz")
        for name in ("kmer_vectors", "cell_vectors", "bucket_vectors", "inferred_batches"):
            np.testing.assert_array_equal(getattr(back, name), getattr(m, name))
        assert list(back.cell_ids) == list(m.cell_ids) and back.params == m.params and back.run_id == "r"


def test_a_model_file_without_inferred_batches_loads_with_none(tmp_path):
    m = _model(np.array([0, 1, 1, 0, 2], dtype=np.int32))
    m.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz") as z:
        kept = {k: z[k] for k in z.files if k != "inferred_batches"}
    np.savez(tmp_path / "older.npz", **kept)
    assert len(CellSpaceModel.load(tmp_path / "older.npz").inferred_batches) == 0
