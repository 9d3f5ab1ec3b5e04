"""TRAJECTORY (steps/trajectory.py, bin/trajectory.py): tables and plots; checks before work."""

from __future__ import annotations

import pandas as pd
import pytest

from cellspace.analysis.synthetic import branching_cells
from cellspace.io import write_h5ad


@pytest.fixture()
def tree_file(tmp_path):
    adata = branching_cells(300, n_branches=2, seed=2)
    adata.obsm["X_umap"] = adata.obsm["X_cellspace"][:, :2].copy()  # plots reuse an existing UMAP
    write_h5ad(adata, tmp_path / "cells.h5ad")
    return tmp_path / "cells.h5ad"


def test_trajectory_writes_tables_and_plots(tree_file, tmp_path):
    from cellspace.analysis.validate import read_cells
    from cellspace.cli import main

    out = tmp_path / "traj"
    rc = main(["trajectory", "--cells", str(tree_file), "--out", str(out), "--start-group", "cell_type=root"])
    assert rc == 0
    res = read_cells(out / "cells.h5ad")
    assert "palantir_pseudotime" in res.obs and "palantir_fate_probabilities" in res.obsm
    tab = pd.read_csv(out / "trajectory.tsv", sep="\t", index_col=0)
    assert list(tab.columns[:2]) == ["pseudotime", "entropy"] and len(tab) == 300
    terms = pd.read_csv(out / "terminal_states.tsv", sep="\t")
    assert len(terms) == 2
    assert {"pseudotime.png", "entropy.png", "fate_1.png"} <= {p.name for p in out.iterdir()}


@pytest.mark.parametrize(("args", "message"), [
    (["--n-components", "500"], "--n-components 500 must be below the 300 cells"),
    (["--knn", "400"], "--knn 400 must be below the 300 cells"),
    (["--start-cell", "nosuch"], "--start-cell 'nosuch' is not a cell"),
    (["--start-group", "nosuch=1"], "--start-group: no obs column 'nosuch'"),
])
def test_impossible_parameters_fail_before_any_work(tree_file, tmp_path, args, message):
    from stepcli import run_step

    out = tmp_path / "traj"
    res = run_step("trajectory", "--cells", tree_file, "--out", out, *args, timeout=60)
    assert res.rc == 2
    assert message in res.error_line()
    assert not out.exists()
