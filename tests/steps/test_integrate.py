"""INTEGRATE (steps/integrate.py, bin/integrate.py): corrected embedding, anchors, metrics."""

from __future__ import annotations

import pandas as pd
import pytest

from cellspace.analysis.synthetic import blob_cells
from cellspace.io import write_h5ad


@pytest.fixture()
def cells_file(tmp_path):
    adata = blob_cells(n_cells=600, n_types=3, dim=16, n_batches=3, batch_shift=2.0, seed=2)
    write_h5ad(adata, tmp_path / "cells.h5ad")
    return tmp_path / "cells.h5ad"


def test_integrate_writes_corrected_embedding_anchors_and_metrics(cells_file, tmp_path):
    from cellspace.analysis.validate import read_cells
    from cellspace.cli import main

    rc = main(["integrate", "--cells", str(cells_file), "--batch-key", "batch",
               "--reference", "b1", "--out", str(tmp_path / "int.h5ad"), "--anchors",
               str(tmp_path / "anchors.tsv"), "--label-key", "cell_type"])
    assert rc == 0
    res = read_cells(tmp_path / "int.h5ad")
    assert res.obsm["X_cellspace_integrated"].shape == (600, 16)
    m = res.uns["integration"]["metrics"]
    assert m["after"]["batch_asw"] > m["before"]["batch_asw"]
    anchors = pd.read_csv(tmp_path / "anchors.tsv", sep="\t")
    assert set(anchors["query_batch"]) == {"b0", "b2"}


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--reference", "nope"], 2, "--reference 'nope' is no value of obs['batch']"),
    (["--label-key", "nosuch"], 2, "no obs label column (--label-key) 'nosuch'"),
    (["--out-is-folder"], 1, "is a folder"),
])
def test_bad_parameters_fail_with_one_line(cells_file, tmp_path, args, code, message):
    from stepcli import run_step

    out = tmp_path / "int.h5ad"
    argv = ["--cells", cells_file, "--batch-key", "batch", "--reference", "b1", "--out", out]
    if args == ["--out-is-folder"]:
        out.mkdir()
    else:
        argv += args
    res = run_step("integrate", *argv)
    assert res.rc == code
    assert message in res.error_line()
    assert not out.is_file()


def test_step_defaults_are_the_anchor_defaults():
    from dataclasses import fields

    from cellspace.analysis.integrate import AnchorParams
    from cellspace.steps.integrate import IntegrateParams

    step = {f.name: f.default for f in fields(IntegrateParams)}
    for f in fields(AnchorParams):
        assert step[f.name] == f.default, f.name
