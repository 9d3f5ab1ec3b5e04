"""Graph construction, clustering, resolution search and cluster merging."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from cellspace.analysis.clustering import (
    cluster_embedding,
    cluster_graph,
    merge_small_clusters,
    relabel_by_size,
    resolution_search,
)
from cellspace.analysis.graph import (
    _self_first,
    knn_between,
    knn_graph,
    neighbour_recall,
    snn_graph,
)
from cellspace.errors import ParameterError


def blobs(n=600, c=5, d=16, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    cent = rng.normal(size=(c, d))
    y = rng.integers(0, c, n)
    return (cent[y] + noise * rng.normal(size=(n, d))).astype(np.float32), y


def test_knn_matches_bruteforce_cosine_and_lists_self_first():
    x, _ = blobs(200)
    knn = knn_graph(x, n_neighbors=10)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = xn @ xn.T
    np.fill_diagonal(sim, -np.inf)
    expected = np.argsort(-sim, axis=1)[:, :9]
    assert np.array_equal(knn.indices[:, 0], np.arange(200))
    assert np.array_equal(np.sort(knn.indices[:, 1:], axis=1), np.sort(expected, axis=1))
    d = 1 - np.take_along_axis(sim, knn.indices[:, 1:], axis=1)
    np.testing.assert_allclose(knn.distances[:, 1:], d, atol=1e-5)
    assert np.all(np.diff(knn.distances, axis=1) >= -1e-7)


def test_knn_above_the_threshold_is_approximate_self_first_and_recovers_the_exact_neighbours():
    x, y = blobs(3000, c=8, d=30, noise=0.8, seed=4)
    exact = knn_graph(x, n_neighbors=15)  # 3,000 cells: below the default threshold
    approx = knn_graph(x, n_neighbors=15, exact_max_cells=1000)
    assert exact.method == "exact" and approx.method == "nndescent"
    assert approx.indices.shape == exact.indices.shape == (3000, 15)
    assert np.array_equal(approx.indices[:, 0], np.arange(3000))
    assert np.all(approx.distances[:, 0] == 0)
    assert not np.any(approx.indices[:, 1:] == np.arange(3000)[:, None])
    assert all(len(set(r)) == 15 for r in approx.indices)
    # the distances are the true cosine distances of the pairs listed
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - np.einsum("ij,ikj->ik", xn, xn[approx.indices[:, 1:]])
    np.testing.assert_allclose(approx.distances[:, 1:], d, atol=1e-4)
    assert neighbour_recall(exact, exact) == 1.0
    assert neighbour_recall(approx, exact) >= 0.9
    # the graph it gives clusters as the exact one does
    same = (y[approx.indices[:, 1:]] == y[:, None]).mean()
    assert same >= 0.99 * (y[exact.indices[:, 1:]] == y[:, None]).mean()


def test_approximate_rows_without_themselves_get_self_first_and_drop_the_farthest():
    idx = np.array([[0, 2, 1], [2, 0, 3]])
    dist = np.array([[0.0, 0.1, 0.2], [0.1, 0.3, 0.5]], dtype=np.float32)
    out_idx, out_dist = _self_first(idx, dist, 3)
    assert out_idx.tolist() == [[0, 2, 1], [1, 2, 0]]
    np.testing.assert_allclose(out_dist, [[0.0, 0.1, 0.2], [0.0, 0.1, 0.3]])


def test_knn_method_is_checked():
    with pytest.raises(ParameterError, match="kNN method"):
        knn_graph(np.ones((5, 3), np.float32), 3, method="annoy")


def test_knn_between_euclidean_distances_are_true_l2():
    rng = np.random.default_rng(3)
    q, r = rng.normal(size=(7, 5)), rng.normal(size=(40, 5))
    idx, dist = knn_between(q, r, 4, metric="euclidean")
    full = np.linalg.norm(q[:, None, :] - r[None], axis=2)
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :4], rtol=1e-4)
    assert np.array_equal(idx[:, 0], full.argmin(axis=1))


def test_snn_is_jaccard_of_neighbour_sets_and_pruned():
    x, _ = blobs(120)
    knn = knn_graph(x, n_neighbors=8)
    snn = snn_graph(knn, prune=1 / 15).toarray()
    sets = [set(r) for r in knn.indices]
    for i, j in [(0, 1), (5, 17), (30, 31), (2, 99)]:
        shared = len(sets[i] & sets[j])
        jac = shared / (16 - shared)
        assert snn[i, j] == pytest.approx(jac if jac >= 1 / 15 else 0.0, abs=1e-6)
    assert np.allclose(snn, snn.T)
    assert np.all(np.diag(snn) == 0)


def test_cluster_embedding_recovers_blobs_with_both_methods():
    x, y = blobs(800, c=5)
    for method in ("leiden", "louvain"):
        lab = cluster_embedding(x, method=method, n_clusters=5)
        assert lab.max() + 1 == 5
        assert adjusted_rand_score(y, lab) > 0.95


def test_cluster_embedding_is_deterministic_for_a_seed_and_numbers_by_size():
    x, _ = blobs(500, c=4, noise=1.0)
    a = cluster_embedding(x, seed=3)
    b = cluster_embedding(x, seed=3)
    assert np.array_equal(a, b)
    sizes = np.bincount(a)
    assert np.all(np.diff(sizes) <= 0)


def test_resolution_search_hits_exact_requested_counts():
    x, _ = blobs(600, c=8, noise=1.2, seed=2)
    snn = snn_graph(knn_graph(x, 20))
    for target in (2, 4, 8, 12):
        res = resolution_search(snn, target)
        assert res.exact, res.tried
        assert res.labels.max() + 1 == target
        assert res.tried[res.resolution] == target


def test_n_clusters_falls_back_to_merging_when_no_resolution_fits():
    # two disconnected groups: no resolution can give one cluster, so merging must
    a = np.zeros((40, 4), np.float32)
    a[:20, 0] = 1
    a[20:, 1] = 1
    a += np.random.default_rng(0).normal(scale=0.01, size=a.shape).astype(np.float32)
    lab = cluster_embedding(a, n_neighbors=5, n_clusters=1)
    assert set(lab) == {0}


def test_merge_small_clusters_moves_small_cluster_to_best_connected_neighbour():
    # clusters 0 (10 cells), 1 (10 cells), 2 (2 cells) ; cluster 2 linked strongly to 1
    n = 22
    labels = np.array([0] * 10 + [1] * 10 + [2] * 2)
    w = sp.lil_matrix((n, n))
    for i in range(10):
        for j in range(10):
            if i != j:
                w[i, j] = 1
                w[10 + i, 10 + j] = 1
    w[20, 11] = w[11, 20] = 0.9
    w[21, 12] = w[12, 21] = 0.9
    w[20, 3] = w[3, 20] = 0.1
    w[20, 21] = w[21, 20] = 1
    merged = merge_small_clusters(labels, w.tocsr(), min_size=3)
    assert merged.max() + 1 == 2
    assert len(set(merged[[20, 21, 10]])) == 1
    assert merged[0] != merged[20]
    # by count: the smallest goes first, same destination
    merged2 = merge_small_clusters(labels, w.tocsr(), n_clusters=2)
    assert np.array_equal(merged, merged2)


def test_merge_to_n_clusters_reduces_to_exact_count():
    x, _ = blobs(400, c=6)
    snn = snn_graph(knn_graph(x, 15))
    fine = cluster_graph(snn, resolution=3.0)
    assert fine.max() + 1 > 3
    merged = merge_small_clusters(fine, snn, n_clusters=3)
    assert merged.max() + 1 == 3
    # merging never splits a fine cluster
    for c in np.unique(fine):
        assert len(np.unique(merged[fine == c])) == 1


def test_relabel_by_size_orders_largest_first():
    assert relabel_by_size(np.array([5, 5, 2, 9, 9, 9])).tolist() == [1, 1, 2, 0, 0, 0]


def test_bad_parameters_raise_parameter_error():
    x, _ = blobs(50)
    with pytest.raises(ParameterError):
        cluster_embedding(x, method="kmeans")
    with pytest.raises(ParameterError):
        knn_graph(x, metric="manhattan")
    with pytest.raises(ParameterError):
        cluster_embedding(np.full((10, 3), np.nan))


def test_cluster_embedding_reaches_the_requested_count_on_2000_cells():
    x, truth = blobs(2000, c=8, d=30, noise=0.8)
    labels = np.asarray(cluster_embedding(x, n_clusters=8))
    assert np.unique(labels).size == 8
    assert adjusted_rand_score(truth, labels) > 0.9
