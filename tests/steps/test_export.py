"""EXPORT (steps/export.py, bin/export.py): the reference tool's TSV; one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellspace.kmers import n_kmer_rows
from cellspace.model import CellSpaceModel


def _model(tmp_path, n_cells=5, dim=4):
    rng = np.random.default_rng(0)
    m = CellSpaceModel(kmer_vectors=rng.normal(size=(n_kmer_rows(8), dim)).astype(np.float32),
                       cell_vectors=rng.normal(size=(n_cells, dim)).astype(np.float32),
                       bucket_vectors=np.zeros((0, dim), np.float32), params={"k": 8, "dim": dim},
                       cell_ids=np.array([f"c{i}" for i in range(n_cells)], dtype=object),
                       dataset_names=["d"], run_id="r")
    path = tmp_path / "model.npz"
    m.save(path)
    return path, m


def test_export_writes_every_row(tmp_path):
    from stepcli import run_step

    path, m = _model(tmp_path)
    out = tmp_path / "model.tsv"
    res = run_step("export", "--model", path, "--out", out)
    assert res.rc == 0, res.stderr
    table = pd.read_csv(out, sep="\t", header=None, index_col=0)
    assert table.shape == (n_kmer_rows(8) + 5, 4)
    np.testing.assert_allclose(table.to_numpy()[-5:], m.cell_vectors, rtol=1e-5)


def test_file_size_limit_keeps_the_previous_file(tmp_path):
    from stepcli import run_step, siblings

    path, _ = _model(tmp_path)
    out = tmp_path / "model.tsv"
    out.write_text("previous")
    res = run_step("export", "--model", path, "--out", out, fsize=50_000)
    assert res.rc == 1
    assert "file-size limit" in res.error_line()
    assert out.read_text() == "previous" and siblings(out) == []
