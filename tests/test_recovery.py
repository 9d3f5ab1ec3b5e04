"""Training on simulated data recovers the planted cell types while donors mix."""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.neighbors import NearestNeighbors

from cellspace.model import l2_normalize
from cellspace.simulate import small_simulation
from cellspace.train import TrainParams, train_datasets


@pytest.fixture(scope="module")
def trained():
    sim = small_simulation(0)  # 600 cells x 1,500 events, 3 donors, 4 cell types
    ds = sim.datasets[0]
    assert ds.obs["donor"].nunique() == 3
    model, cells = train_datasets([ds], TrainParams(epochs=12, bucket=200_000, threads=2, seed=0))
    return ds, model, cells


def test_kmeans_on_the_embedding_recovers_cell_types(trained):
    ds, _, cells = trained
    x = l2_normalize(cells.obsm["X_cellspace"])
    truth = ds.obs["cell_type"].to_numpy()
    labels = KMeans(len(set(truth)), n_init=10, random_state=0).fit_predict(x)
    assert adjusted_rand_score(truth, labels) >= 0.8


def test_donors_mix_in_the_embedding(trained):
    ds, _, cells = trained
    x = l2_normalize(cells.obsm["X_cellspace"])
    donor = ds.obs["donor"].to_numpy()
    truth = ds.obs["cell_type"].to_numpy()
    # donors do not form clusters of their own ...
    labels = KMeans(len(set(truth)), n_init=10, random_state=0).fit_predict(x)
    assert adjusted_rand_score(donor, labels) < 0.05
    assert abs(silhouette_score(x, donor, metric="cosine")) < 0.05
    # ... and a cell's neighbours of its own type come from every donor about as often as
    # the donors' shares predict
    nn = NearestNeighbors(n_neighbors=16, metric="cosine").fit(x)
    idx = nn.kneighbors(return_distance=False)
    same_donor = (donor[idx] == donor[:, None]).mean()
    expected = sum((donor == d).mean() ** 2 for d in set(donor))
    assert same_donor < expected + 0.1


def test_outputs_carry_ids_metadata_and_a_finite_embedding(trained):
    ds, model, cells = trained
    assert cells.obsm["X_cellspace"].shape == (ds.n_cells, 30)
    assert np.isfinite(cells.obsm["X_cellspace"]).all()
    assert list(cells.obs_names) == list(ds.obs.index.astype(str))
    assert {"dataset", "cell_type", "donor"} <= set(cells.obs.columns)
    assert cells.uns["cellspace"]["run_id"] == model.run_id
