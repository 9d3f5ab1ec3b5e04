"""Palantir trajectories on a synthetic branching embedding."""

from __future__ import annotations

import pytest
from scipy.stats import spearmanr

from cellspace.analysis.synthetic import branching_cells
from cellspace.analysis.trajectory import run_palantir, terminal_state_labels
from cellspace.errors import ParameterError


@pytest.fixture(scope="module")
def tree():
    adata = branching_cells(400, n_branches=3, seed=0)
    res = run_palantir(adata, start_group="cell_type=root")
    return adata, res


def test_pseudotime_follows_the_tree_and_every_branch_gets_a_terminal_state(tree):
    adata, res = tree
    assert spearmanr(res.pseudotime, adata.obs["pseudotime"]).statistic > 0.9
    assert adata.obs.loc[res.start_cell, "pseudotime"] < 0.1
    branches = adata.obs.loc[res.terminal_states, "branch"].tolist()
    assert sorted(branches) == [1, 2, 3]
    assert (adata.obs.loc[res.terminal_states, "pseudotime"] > 0.8).all()


def test_results_are_written_into_the_anndata(tree):
    adata, res = tree
    assert adata.obsm["palantir_fate_probabilities"].shape == (400, 3)
    sums = adata.obsm["palantir_fate_probabilities"].sum(axis=1)
    assert sums.min() > 0.95 and sums.max() < 1.0 + 1e-4
    assert adata.uns["palantir"]["start_cell"] == res.start_cell
    labels = terminal_state_labels(res, adata.obs["cell_type"])
    assert sorted(labels["label"]) == ["term1", "term2", "term3"]


def test_bad_start_is_a_parameter_error():
    adata = branching_cells(60, seed=1)
    with pytest.raises(ParameterError, match="start cell"):
        run_palantir(adata, start_cell="nope")
    with pytest.raises(ParameterError, match="KEY=VALUE"):
        run_palantir(adata, start_group="cell_type")
    with pytest.raises(ParameterError, match="no cell"):
        run_palantir(adata, start_group="cell_type=xyz")
