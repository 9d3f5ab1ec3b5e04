"""MOTIFS (steps/motifs.py, bin/motifs.py): checks before any work, outputs as a unit."""

from __future__ import annotations

import numpy as np
import pytest

from cellspace.analysis.motif_db import Motif, format_jaspar
from cellspace.analysis.synthetic import planted_motif_model
from cellspace.io import write_h5ad


@pytest.fixture()
def run_files(tmp_path):
    model, adata = planted_motif_model({"t1": ["ACGTTGCAAT"], "t2": ["GGGACCCATT"]}, k=5, dim=16,
                                       n_cells_per_type=30)
    model.save(tmp_path / "model.npz")
    write_h5ad(adata, tmp_path / "cells.h5ad")
    db = tmp_path / "db.jaspar"
    db.write_text(format_jaspar([Motif("P1", "t1", np.eye(4)[["ACGT".index(c) for c in "ACGTTGCAAT"]] * 20)]))
    return tmp_path / "model.npz", tmp_path / "cells.h5ad", db


def test_unknown_jaspar_release_is_a_usage_error_before_work(run_files, tmp_path):
    from stepcli import run_step

    model, cells, _ = run_files
    out = tmp_path / "mot"
    res = run_step("motifs", "--model", model, "--cells", cells, "--out", out, "--jaspar-release", "JASPAR1999")
    assert res.rc == 2
    assert "--jaspar-release 'JASPAR1999' is not bundled with pyjaspar" in res.error_line()
    assert "JASPAR2024" in res.error_line()
    assert not out.exists()


def test_unknown_groupby_fails_before_work(run_files, tmp_path):
    from stepcli import run_step

    model, cells, db = run_files
    out = tmp_path / "mot"
    res = run_step("motifs", "--model", model, "--cells", cells, "--out", out, "--motif-file", db,
                   "--groupby", "nosuch")
    assert res.rc == 2
    assert "no obs column for --groupby 'nosuch'" in res.error_line()
    assert not out.exists()


def test_rerun_with_another_grouping_replaces_the_tables(run_files, tmp_path):
    from stepcli import run_step

    model, cells, db = run_files
    out = tmp_path / "mot"
    args = ["--model", model, "--cells", cells, "--out", out, "--motif-file", db, "--top", "1"]
    assert run_step("motifs", *args).rc == 0
    assert (out / "top_motifs_by_cell_type.tsv").exists()
    res = run_step("motifs", *args, "--groupby", "batch")
    assert res.rc == 0, res.stderr
    names = {p.name for p in out.iterdir()}
    assert "top_motifs_by_batch.tsv" in names and "top_motifs_by_cell_type.tsv" not in names
