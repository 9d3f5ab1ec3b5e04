"""Bridges between datasets with disjoint atlases (cellspace.bridges)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cellspace.bench.mixing import cross_knn_accuracy, kmeans_ari
from cellspace.bridges import (
    Bridges,
    agreeing_partners,
    bridged_events,
    cluster_matches,
    cluster_within,
    cross_partners,
    informative_kmers,
    kmer_profiles,
    profile_k,
    smooth_within,
)
from cellspace.dataset import combine
from cellspace.errors import ParameterError
from cellspace.simulate import small_simulation
from cellspace.train import TrainParams, train_datasets


def test_bridged_events_draws_from_the_partners_open_events_only():
    # 4 events x 4 cells; cells 0, 1 of dataset 0 (events 0, 1), cells 2, 3 of dataset 1 (events 2, 3)
    dense = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], dtype=np.uint8)
    events = sp.csr_matrix(dense)
    partners = np.array([[3, -1], [2, -1], [1, -1], [0, -1]])
    out = bridged_events(events, partners, weight=1.0, seed=0).toarray()
    assert out.dtype == np.uint8 and (out[dense == 1] == 1).all()
    added = out - dense
    # cell 0 (2 events) may take both of cell 3's (event 3 only: 1 event); cell 1 (1 event)
    # one of cell 2's (events 2, 3); cell 2 (2 events) cell 1's only event 0; cell 3 (1) one of 0, 1
    assert added[:, 0].tolist() == [0, 0, 0, 1]
    assert added[:, 1].sum() == 1 and added[2:, 1].sum() == 1
    assert added[:, 2].tolist() == [1, 0, 0, 0]
    assert added[:, 3].sum() == 1 and added[:2, 3].sum() == 1
    assert bridged_events(events, partners, weight=0.0, seed=0) is events


@pytest.fixture(scope="module")
def disjoint_sim():
    # two datasets of one simulation, no region in common: only sequence links them
    return small_simulation(2, n_cells=300, n_events=1000, event_len=500, n_types=4, n_donors=1,
                            n_datasets=2, shared_regions=0.0, type_concentration=50.0)


def test_kmer_profiles_are_standardised_within_each_dataset(disjoint_sim):
    data = combine(disjoint_sim.datasets)
    P = kmer_profiles(data, 5)
    assert P.shape == (data.n_cells, 512)
    for d in (0, 1):
        m = data.cell_dataset == d
        np.testing.assert_allclose(P[m].mean(axis=0), 0.0, atol=1e-4)
        sd = P[m].std(axis=0)
        assert np.allclose(sd[sd > 0], 1.0, atol=1e-3)


def test_partners_come_from_the_other_dataset_and_match_types_beyond_chance(disjoint_sim):
    data = combine(disjoint_sim.datasets)
    types = disjoint_sim.truth.cells["cell_type"].to_numpy()
    # smoothing over the true types stands in for a trained embedding that separates them
    one_hot = (types[:, None] == np.unique(types)[None, :]).astype(np.float32)
    smoothed = smooth_within(kmer_profiles(data, 8), one_hot, data.cell_dataset, 15)
    partners = cross_partners(smoothed, data.cell_dataset, 15)
    assert partners.shape == (data.n_cells, 15)
    kept = partners >= 0
    assert kept.mean() > 0.2
    cell = np.broadcast_to(np.arange(data.n_cells)[:, None], partners.shape)[kept]
    assert (data.cell_dataset[partners[kept]] != data.cell_dataset[cell]).all()
    # 4 types: a random partner has the cell's type about a quarter of the time
    assert (types[partners[kept]] == types[cell]).mean() >= 0.6
    with pytest.raises(ParameterError, match="two datasets"):
        Bridges(combine(disjoint_sim.datasets[:1]), 8, 0.5, 0)


def test_approximate_partner_search_finds_the_exact_partners(disjoint_sim):
    # exact_max_cells=0 forces nearest-neighbour descent, the path of atlas-sized datasets
    data = combine(disjoint_sim.datasets)
    types = disjoint_sim.truth.cells["cell_type"].to_numpy()
    rng = np.random.default_rng(0)
    # the true types plus noise stand in for a trained embedding (no ties between neighbours)
    rows = (types[:, None] == np.unique(types)[None, :]) + rng.normal(0, 0.3, (data.n_cells, 4))
    profiles = kmer_profiles(data, 6)
    smoothed = smooth_within(profiles, rows, data.cell_dataset, 15)
    assert np.allclose(smooth_within(profiles, rows, data.cell_dataset, 15, exact_max_cells=0), smoothed, atol=1e-5)
    exact = cross_partners(smoothed, data.cell_dataset, 15)
    approx = cross_partners(smoothed, data.cell_dataset, 15, exact_max_cells=0)
    assert approx.shape == exact.shape
    kept = approx >= 0
    cell = np.broadcast_to(np.arange(data.n_cells)[:, None], approx.shape)[kept]
    assert (data.cell_dataset[approx[kept]] != data.cell_dataset[cell]).all()
    # the search is approximate, so agreement, not identity: most exact partners are found
    found = [len(np.intersect1d(a[a >= 0], e[e >= 0])) for a, e in zip(approx, exact, strict=True)]
    assert sum(found) >= 0.8 * (exact >= 0).sum()
    assert kept.sum() <= 1.2 * (exact >= 0).sum()


def test_bridges_make_disjoint_atlases_meet_by_cell_type(disjoint_sim):
    c = disjoint_sim.truth.cells
    types, ds = c["cell_type"].to_numpy(), c["dataset"].to_numpy()
    X = {}
    for w in (0.0, 0.5):
        params = TrainParams(epochs=10, threads=1, seed=1, bucket=100_000, bridge_weight=w, bridge_start=5,
                             bridge_every=5)
        X[w] = train_datasets(disjoint_sim.datasets, params, progress=False)[1].obsm["X_cellspace"]
    chance = max(np.mean(types[ds == d] == t) for d in np.unique(ds) for t in np.unique(types))
    # without bridges these atlases share too little sequence to match types (about 0.4,
    # docs/design.md); with them a cell's neighbours in the other dataset are mostly its type:
    # twice chance (the other dataset's commonest type, about 0.3 here)
    assert cross_knn_accuracy(X[0.5], types, ds) >= 2 * chance
    assert cross_knn_accuracy(X[0.5], types, ds) >= cross_knn_accuracy(X[0.0], types, ds) + 0.2
    for d in np.unique(ds):
        m = ds == d
        assert kmeans_ari(X[0.5][m], types[m]) >= kmeans_ari(X[0.0][m], types[m]) - 0.1


def test_informative_kmers_are_those_that_vary_between_clusters_in_every_dataset():
    rng = np.random.default_rng(0)
    n, cols = 400, 50
    ds = np.repeat([0, 1], n // 2)
    clusters = np.tile(np.repeat([0, 1], n // 4), 2) + 10 * ds
    P = rng.normal(size=(n, cols))
    shift = (clusters % 10 == 1)[:, None]
    P[:, [3, 7]] += 2.0 * shift  # informative in both datasets
    P[:, [11]] += 2.0 * (shift & (ds == 0)[:, None])  # only in dataset 0
    assert informative_kmers(P, clusters, ds, 2).tolist() == [3, 7]
    assert 11 not in informative_kmers(P, clusters, ds, 5).tolist()
    assert informative_kmers(P, clusters, ds, 100).tolist() == list(range(cols))
    # clusters of each dataset's cell rows, with ids unique across datasets
    rows = np.vstack([rng.normal(size=(n // 2, 4)) + 5 * np.eye(4)[0], rng.normal(size=(n // 2, 4))])
    lab = cluster_within(rows, ds, 3, seed=0)
    assert len(set(lab[ds == 0]) & set(lab[ds == 1])) == 0 and len(np.unique(lab)) == 6


def test_partners_are_kept_only_between_matched_clusters():
    # dataset 0: clusters 0, 1; dataset 1: clusters 10, 11; cluster 0 looks like 11, 1 like 10
    ds = np.array([0, 0, 1, 1])
    clusters = np.array([0, 1, 10, 11])
    profiles = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0.1], [1.0, 0, 0.1]])
    matches = cluster_matches(profiles, clusters, ds)
    assert matches[[0, 1, 10, 11], 1].tolist() == [11, 10, 10, 11]
    assert matches[[0, 1, 10, 11], 0].tolist() == [0, 1, 1, 0]
    partners = np.array([[3, 2], [2, -1], [0, 1], [1, 0]])
    assert agreeing_partners(partners, clusters, ds, matches).tolist() == [[3, -1], [2, -1], [-1, 1], [-1, 0]]


def test_profile_k_shrinks_with_the_number_of_cells():
    assert profile_k(1_600, 8) == 8
    assert profile_k(1_600, 6) == 6  # never above the training k
    assert profile_k(60_000, 8) == 7  # 60,000 x 32,896 k-mers would take 7.9 GB
    assert profile_k(10**9, 8) == 4


def test_bridges_are_on_by_default_with_several_datasets_and_change_nothing_with_one(disjoint_sim):
    assert TrainParams().bridge_weight > 0
    one = disjoint_sim.datasets[:1]
    X = [train_datasets(one, TrainParams(epochs=7, threads=1, seed=1, bridge_weight=w, batch_pilot_epochs=0),
                        progress=False)[1].obsm["X_cellspace"] for w in (TrainParams().bridge_weight, 0.0)]
    np.testing.assert_array_equal(X[0], X[1])
