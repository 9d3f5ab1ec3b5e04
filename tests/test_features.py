"""Variable events by iterative LSI (analysis.features), with and without a cell subsample."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cellspace.analysis.features import FeatureParams, cluster_variance, select_variable_events
from cellspace.io import dataset_to_anndata
from cellspace.simulate import small_simulation


@pytest.fixture(scope="module")
def sim_adata():
    sim = small_simulation()
    a = dataset_to_anndata(sim.datasets[0])
    truth = sim.truth.cells.set_index("cell")
    a.obs["cell_type"] = truth.loc[a.obs_names, "cell_type"].to_numpy()
    return a


def _type_specificity(a) -> np.ndarray:
    """Per event: range across cell types of the fraction of cells where it is open."""
    X = sp.csr_matrix(a.X)
    lab = a.obs["cell_type"].to_numpy()
    frac = np.vstack([np.asarray(X[lab == t].mean(axis=0)).ravel() for t in np.unique(lab)])
    return frac.max(axis=0) - frac.min(axis=0)


def test_cluster_variance_equals_the_dense_definition():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random((60, 40)) < 0.2).astype(np.float32))
    clusters = rng.integers(0, 4, 60)
    agg = np.vstack([np.asarray(X[clusters == c].sum(axis=0)).ravel() for c in range(4)]).astype(float)
    dense = np.log2(1 + 1e4 * agg / agg.sum(axis=1, keepdims=True)).var(axis=0)
    np.testing.assert_allclose(cluster_variance(X, clusters), dense, rtol=1e-10, atol=1e-12)


def test_variable_events_are_cell_type_specific(sim_adata):
    keep = select_variable_events(sim_adata, FeatureParams(n_features=300, n_components=10))
    assert keep.size == 300 and np.all(np.diff(keep) > 0)
    spec = _type_specificity(sim_adata)
    # the chosen events separate the types far better than the events left out
    assert spec[keep].mean() > 1.5 * np.delete(spec, keep).mean()


def test_a_cell_subsample_chooses_nearly_the_same_events(sim_adata):
    full = select_variable_events(sim_adata, FeatureParams(n_features=300, n_components=10))
    sub = select_variable_events(sim_adata, FeatureParams(n_features=300, n_components=10, max_cells=300))
    again = select_variable_events(sim_adata, FeatureParams(n_features=300, n_components=10, max_cells=300))
    np.testing.assert_array_equal(sub, again)  # the subsample is seeded
    spec = _type_specificity(sim_adata)
    assert spec[sub].mean() > 1.5 * np.delete(spec, sub).mean()
    assert len(np.intersect1d(full, sub)) >= 0.6 * 300
