"""Benchmark metrics against scikit-learn / scib definitions and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    adjusted_rand_score,
    homogeneity_score,
    normalized_mutual_info_score,
    silhouette_samples,
    silhouette_score,
)

from cellspace.bench import metrics as M


def _blobs(n_per=40, n_types=3, n_batches=2, sep=20.0, batch_shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    lab = np.repeat(np.arange(n_types), n_per)
    bat = np.tile(np.arange(n_batches), n_per * n_types // n_batches + 1)[: lab.size]
    X = rng.normal(size=(lab.size, 5))
    X[:, 0] += sep * lab
    X[:, 1] += batch_shift * bat
    return X, lab.astype(str), bat.astype(str)


def by_truth(labels):
    """A stand-in clustering that returns the given partition."""
    return lambda X, nb, k, metric, seed: np.asarray(labels)


def test_label_asw_equals_scaled_sklearn_silhouette_euclidean_and_cosine():
    X, lab, bat = _blobs(sep=1.5)
    for metric in ("euclidean", "cosine"):
        s = M.score_embedding(X, lab, bat, asw_metric=metric, metric=metric, cluster_fn=by_truth(lab))
        assert s.values["asw_label"] == pytest.approx((silhouette_score(X, lab, metric=metric) + 1) / 2, abs=1e-10)


def test_label_asw_hand_computed_on_four_points():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    lab = np.array(["a", "a", "b", "b"])
    s = M.score_embedding(X, lab, None, n_neighbors=2, cluster_fn=by_truth(lab))
    # a(0)=1, b(0)=10.5 -> 9.5/10.5; a(1)=1, b(1)=9.5 -> 8.5/9.5; symmetric for b
    expected = np.mean([9.5 / 10.5, 8.5 / 9.5, 8.5 / 9.5, 9.5 / 10.5])
    assert s.values["asw_label"] == pytest.approx((expected + 1) / 2)


def test_batch_asw_equals_scib_definition():
    X, lab, bat = _blobs(batch_shift=1.0, sep=3.0)
    s = M.score_embedding(X, lab, bat, cluster_fn=by_truth(lab))
    per = [np.mean(1 - np.abs(silhouette_samples(X[lab == t], bat[lab == t]))) for t in np.unique(lab)]
    assert s.values["asw_batch"] == pytest.approx(np.mean(per), abs=1e-10)


def test_batch_metrics_perfect_mixing_versus_separated_batches():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(60, 4))
    base[:, 0] += 30 * np.repeat([0, 1, 2], 20)
    lab = np.repeat(["a", "b", "c"], 20)
    # mixed: every cell appears once in each batch at the same position
    Xm = np.vstack([base, base])
    labm = np.concatenate([lab, lab])
    batm = np.repeat(["b0", "b1"], 60)
    mixed = M.score_embedding(Xm, labm, batm, n_neighbors=10, cluster_fn=by_truth(labm))
    # own batch: a = S/19 (self excluded), other batch: b = S/20 (twin at 0) -> |s| = 1/20
    assert mixed.values["asw_batch"] == pytest.approx(1 - 1 / 20)
    assert mixed.values["kbet"] == pytest.approx(1.0)
    assert mixed.values["batch_nmi"] == pytest.approx(1.0)
    assert mixed.values["graph_connectivity"] == pytest.approx(1.0)
    # separated: batch 1 is shifted far away within every cell type
    Xs = Xm.copy()
    Xs[60:, 1] += 15
    clusters = np.char.add(labm, batm)  # clusters follow batches within types
    sep = M.score_embedding(Xs, labm, batm, n_neighbors=10, cluster_fn=by_truth(clusters))
    assert sep.values["kbet"] == pytest.approx(0.0)
    assert sep.values["asw_batch"] < 0.2
    assert sep.values["batch_nmi"] == pytest.approx(0.0, abs=1e-12)
    assert sep.values["graph_connectivity"] == pytest.approx(0.5)
    assert sep.values["batch_score"] < mixed.values["batch_score"]


def test_cluster_metrics_equal_sklearn_and_perfect_clusters_score_one():
    rng = np.random.default_rng(2)
    for _ in range(50):
        n = int(rng.integers(2, 60))
        a = rng.integers(0, int(rng.integers(1, 6)), n)
        b = rng.integers(0, int(rng.integers(1, 6)), n)
        nmi, ari, hom = M.partition_scores(a, b)
        assert nmi == pytest.approx(normalized_mutual_info_score(a, b))
        assert ari == pytest.approx(adjusted_rand_score(a, b))
        assert hom == pytest.approx(homogeneity_score(a, b))
    X, lab, bat = _blobs()
    s = M.score_embedding(X, lab, bat)  # real shared clustering: well separated blobs
    assert (s.values["nmi"], s.values["ari"], s.values["homogeneity"]) == pytest.approx((1, 1, 1))
    assert s.values["asw_label"] > 0.85


def test_random_embedding_scores_low_biology():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 10))
    lab = rng.integers(0, 3, 300).astype(str)
    s = M.score_embedding(X, lab, None)
    assert s.values["ari"] < 0.1 and s.values["nmi"] < 0.1
    assert abs(s.values["asw_label"] - 0.5) < 0.05
    assert np.isnan(s.values["batch_score"]) and np.isnan(s.values["overall_score"])


def test_summary_scores_are_means_and_weighted_overall():
    X, lab, bat = _blobs(batch_shift=2.0, sep=4.0)
    v = M.score_embedding(X, lab, bat).values
    assert v["bio_score"] == pytest.approx(np.mean([v[k] for k in M.BIO_METRICS]))
    assert v["batch_score"] == pytest.approx(np.mean([v[k] for k in M.BATCH_METRICS]))
    assert v["overall_score"] == pytest.approx(0.6 * v["bio_score"] + 0.4 * v["batch_score"])


def test_resampled_scoring_equals_scoring_the_materialised_resample():
    X, lab, bat = _blobs(sep=2.0, batch_shift=0.5, n_per=50)
    idx = np.random.default_rng(4).integers(0, lab.size, lab.size)
    fixed = by_truth(lab[idx])
    a = M.score_embedding(X, lab, bat, sample=idx, cluster_fn=fixed)
    b = M.score_embedding(X[idx], lab[idx], bat[idx], cluster_fn=fixed)
    for k in M.ALL_SCORES:
        assert a.values[k] == pytest.approx(b.values[k], abs=1e-9), k
    nb = M.compute_neighbors(X, 10, sample=idx)
    assert (nb.indices[:, 0] == np.arange(idx.size)).all()
    assert np.allclose(nb.distances, M.compute_neighbors(X[idx], 10).distances, atol=1e-6)


def test_kbet_matches_scib_metrics_tuple_api():
    from scib_metrics import kbet
    from scib_metrics.nearest_neighbors import NeighborsResults

    from cellspace.analysis.kbet import kbet_pvalues

    X, lab, bat = _blobs(batch_shift=2.5)
    nb = M.compute_neighbors(X, 15)
    rate, accepted = M.kbet(nb, bat)
    ref = kbet(NeighborsResults(indices=nb.indices, distances=nb.distances), bat)
    assert isinstance(ref, tuple) and rate == pytest.approx(float(ref[0]))
    assert accepted.mean() == pytest.approx(rate)
    stat, p = kbet_pvalues(nb.indices, bat)
    np.testing.assert_allclose(stat, np.asarray(ref[1]), rtol=1e-5)
    np.testing.assert_allclose(p, np.asarray(ref[2]), atol=1e-5)
    assert 0.05 < rate < 0.95  # a partly mixed case, where the test's decision matters


def test_evaluation_mask_excludes_labels_and_restricts_to_subset():
    lab = np.array(["a", "unknown", "b", None, "a"], dtype=object)
    m = M.evaluation_mask(lab, ["unknown"])
    assert m.tolist() == [True, False, True, False, True]
    m2 = M.evaluation_mask(lab, ["unknown"], subset=np.array([0, 1, 2]))
    assert m2.tolist() == [True, False, True, False, False]


def test_per_label_table_lists_every_cell_type_with_batch_metrics():
    X, lab, bat = _blobs(batch_shift=1.0)
    per = M.score_embedding(X, lab, bat).per_label
    assert list(per.index) == ["0", "1", "2"]
    assert set(M.BATCH_METRICS) <= set(per.columns)
    assert per["n_cells"].sum() == lab.size


def test_score_anndata_excludes_labels_and_records_scores():
    import anndata as ad
    import pandas as pd

    X, lab, bat = _blobs()
    lab = lab.astype(object)
    lab[:5] = "unknown"
    a = ad.AnnData(obs=pd.DataFrame({"ct": lab, "b": bat}, index=[f"c{i}" for i in range(lab.size)]))
    a.obsm["X_e"] = X
    df = M.score_anndata(a, ["e"], "ct", "b", label_exclude=["unknown"])
    assert df.loc["e", "ari"] == pytest.approx(1.0)
    assert a.uns["bench_scores"]["method"] == ["e"]
