"""Inputs that would give plausible-looking wrong numbers are refused with one line."""

from __future__ import annotations

import numpy as np
import pytest

from cellspace.errors import InputError
from cellspace.kmers import kmer_names, n_kmer_rows
from cellspace.model import CellSpaceModel


def _model(dim=4, n_cells=3) -> CellSpaceModel:
    rng = np.random.default_rng(0)
    return CellSpaceModel(kmer_vectors=rng.normal(size=(n_kmer_rows(8), dim)).astype(np.float32),
                          cell_vectors=rng.normal(size=(n_cells, dim)).astype(np.float32),
                          bucket_vectors=np.zeros((0, dim), np.float32), params={"k": 8, "dim": dim},
                          cell_ids=np.array(["a", "b", "c"], dtype=object), dataset_names=["d"], run_id="r")


def test_model_with_nan_vectors_is_refused(tmp_path):
    from stepcli import run_step

    m = _model()
    m.kmer_vectors[5, 1] = np.nan
    m.save(tmp_path / "model.npz")
    with pytest.raises(InputError, match="1 k-mer vector"):
        CellSpaceModel.load(tmp_path / "model.npz")
    res = run_step("export", "--model", tmp_path / "model.npz", "--out", tmp_path / "m.tsv")
    assert res.rc == 1 and "hold NaN or infinite values" in res.error_line()
    assert not (tmp_path / "m.tsv").exists()


def test_import_with_a_duplicated_kmer_is_refused(tmp_path):
    from cellspace.tsv import export_tsv, import_tsv

    export_tsv(_model(), tmp_path / "m.tsv")
    lines = (tmp_path / "m.tsv").read_text().splitlines()
    lines.insert(3, lines[1])  # the second k-mer row again
    (tmp_path / "dup.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=f"k-mer '{kmer_names(8)[1]}'.*listed twice"):
        import_tsv(tmp_path / "dup.tsv")


def test_all_zero_motif_column_is_refused(tmp_path):
    from cellspace.analysis.motif_db import read_motif_file

    f = tmp_path / "m.jaspar"
    f.write_text(">M1 zero\nA [ 0 5 ]\nC [ 0 0 ]\nG [ 0 0 ]\nT [ 0 0 ]\n")
    with pytest.raises(InputError, match="motif M1: every position needs"):
        read_motif_file(f)
