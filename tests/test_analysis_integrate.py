"""Anchor-based batch correction and its metrics."""

from __future__ import annotations

import numpy as np
import pytest

from cellspace.analysis.integrate import (
    correct_query,
    find_anchors,
    integrate,
    integrate_embedding,
    integration_metrics,
)
from cellspace.analysis.synthetic import blob_cells
from cellspace.errors import ParameterError
from cellspace.model import l2_normalize


def test_anchors_are_mutual_nearest_neighbours_with_scores_in_unit_range():
    rng = np.random.default_rng(0)
    ref = l2_normalize(rng.normal(size=(120, 8)))
    query = l2_normalize(ref[:80] + 0.05 * rng.normal(size=(80, 8)))
    a = find_anchors(ref, query, k_anchor=3, k_filter=None, k_score=10)
    assert len(a) >= 60
    d = ((ref[:, None, :] - query[None]) ** 2).sum(-1)
    r2q = np.argsort(d, axis=1)[:, :3]
    q2r = np.argsort(d.T, axis=1)[:, :3]
    for r, q in zip(a.ref, a.query, strict=True):
        assert q in r2q[r] and r in q2r[q]
    assert a.score.min() >= 0 and a.score.max() <= 1
    # almost every query cell is anchored to the reference cell it was derived from
    exact = set(zip(a.ref.tolist(), a.query.tolist(), strict=True))
    assert np.mean([(i, i) in exact for i in range(80)]) > 0.9


def test_constant_shift_is_largely_removed():
    rng = np.random.default_rng(1)
    centres = 10 * rng.normal(size=(4, 6))
    ref = centres[rng.integers(0, 4, 300)] + 0.2 * rng.normal(size=(300, 6))
    shift = np.array([1.5, -1.0, 0.5, 0, 0, 0])
    query = ref[rng.permutation(300)[:200]] + 0.05 * rng.normal(size=(200, 6)) + shift
    a = find_anchors(ref, query, k_anchor=5, k_filter=None, k_score=10)
    assert len(a) > 50
    corrected = correct_query(ref, query, a, k_weight=30)
    residual = np.linalg.norm(corrected - (query - shift), axis=1)
    assert np.median(residual) < 0.5 * np.linalg.norm(shift)  # uncorrected: the full norm


def test_raw_space_removes_an_additive_shift_that_the_unit_space_only_reduces():
    rng = np.random.default_rng(3)
    centres = 4 * rng.normal(size=(4, 8))
    types = rng.integers(0, 4, 600)
    x = centres[types] + 0.3 * rng.normal(size=(600, 8))
    batch = np.repeat(["r", "q"], 300)
    shift = 3.0 * rng.normal(size=8)
    shifted = x.copy()
    shifted[batch == "q"] += shift
    truth = l2_normalize(x.astype(np.float32))
    q = batch == "q"
    err = {}
    for space in ("raw", "unit"):
        out, _ = integrate_embedding(shifted, batch, "r", space=space, center=True)
        err[space] = float(np.median(np.linalg.norm(out[q] - truth[q], axis=1)))
    before = float(np.median(np.linalg.norm(l2_normalize(shifted[q].astype(np.float32)) - truth[q], axis=1)))
    assert err["raw"] < 0.25 * before
    assert err["raw"] < err["unit"]
    with pytest.raises(ParameterError, match="space must be one of raw, unit"):
        integrate_embedding(shifted, batch, "r", space="cosine")


def test_integration_improves_batch_mixing_and_keeps_cell_types():
    adata = blob_cells(n_cells=1200, n_types=4, dim=20, noise=0.6, n_batches=2, batch_shift=2.5, seed=3)
    b, y = adata.obs["batch"].to_numpy(), adata.obs["cell_type"].to_numpy()
    before = integration_metrics(adata.obsm["X_cellspace"], b, y)
    anchors = integrate(adata, "batch", "b0")
    after = integration_metrics(adata.obsm["X_cellspace_integrated"], b, y)
    assert set(anchors) == {"b1"}
    assert after["batch_asw"] > before["batch_asw"] + 0.1
    assert after["kbet"] > before["kbet"] + 0.1
    assert after["ari"] >= before["ari"] - 0.05
    ref = (b == "b0")
    np.testing.assert_allclose(adata.obsm["X_cellspace_integrated"][ref],
                               l2_normalize(adata.obsm["X_cellspace"][ref]), atol=1e-6)
    assert adata.uns["integration"]["reference"] == "b0"


def test_unknown_reference_or_single_batch_is_a_parameter_error():
    adata = blob_cells(n_cells=100, n_batches=2)
    with pytest.raises(ParameterError, match="reference batch"):
        integrate(adata, "batch", "nope")
    one = blob_cells(n_cells=100, n_batches=1)
    with pytest.raises(ParameterError, match="one batch"):
        integrate(one, "batch", "b0")



def test_harmony_method_mixes_batches_and_keeps_cell_types():
    adata = blob_cells(n_cells=900, n_types=3, dim=16, noise=0.6, n_batches=2, batch_shift=2.5, seed=4)
    b, y = adata.obs["batch"].to_numpy(), adata.obs["cell_type"].to_numpy()
    before = integration_metrics(adata.obsm["X_cellspace"], b, y)
    assert integrate(adata, "batch", method="harmony") == {}
    out = adata.obsm["X_cellspace_integrated"]
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    after = integration_metrics(out, b, y)
    assert after["batch_asw"] > before["batch_asw"] + 0.1
    assert after["ari"] >= before["ari"] - 0.05
    assert adata.uns["integration"]["method"] == "harmony"
    with pytest.raises(ParameterError, match="do not apply to Harmony"):
        integrate(adata, "batch", method="harmony", k_weight=10)
    with pytest.raises(ParameterError, match="needs a reference"):
        integrate(adata, "batch")


@pytest.mark.parametrize("extra, message", [
    ([], "--reference is required"),
    (["--method", "harmony", "--reference", "b0"], "--reference does not apply"),
    (["--method", "harmony", "--anchors", "a.tsv"], "--anchors does not apply"),
])
def test_cli_integrate_method_options_are_usage_errors(tmp_path, capsys, extra, message):
    from cellspace.cli import main
    from cellspace.io import write_h5ad

    write_h5ad(blob_cells(n_cells=60, n_batches=2), tmp_path / "cells.h5ad")
    rc = main(["integrate", "--cells", str(tmp_path / "cells.h5ad"), "--batch-key", "batch",
               "--out", str(tmp_path / "int.h5ad"), *extra])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "int.h5ad").exists()


@pytest.fixture(scope="module")
def donor_events():
    """A small simulation whose donors open their own events (independent of sequence), trained."""
    from cellspace.analysis.synthetic import trained_simulation

    # one thread (a reproducible training) and no batch pilot: the embedding must keep the donor
    # effect that integration is tested on (the pilot may infer the donors and mix them already)
    _, _, adata = trained_simulation(seed=0, epochs=20, train={"threads": 1, "batch_pilot_epochs": 0},
                                     donor_effect_sign="open", donor_effect=2.0)
    return adata


@pytest.mark.parametrize("method", ["anchors", "harmony"])
def test_integration_of_donor_specific_events_keeps_cell_types(donor_events, method):
    from cellspace.bench.mixing import kmeans_ari, knn_entropy

    adata = donor_events.copy()
    y, b = adata.obs["cell_type"].astype(str).to_numpy(), adata.obs["donor"].astype(str).to_numpy()
    integrate(adata, "donor", "donor1" if method == "anchors" else None, method=method)
    x, out = adata.obsm["X_cellspace"], adata.obsm["X_cellspace_integrated"]
    assert kmeans_ari(out, y) >= kmeans_ari(x, y) - 0.05
    assert knn_entropy(out, b, y) > knn_entropy(x, b, y) + 0.05


def test_score_filter_removes_anchors_between_different_cell_types(donor_events):
    y = donor_events.obs["cell_type"].astype(str).to_numpy()
    b = donor_events.obs["donor"].astype(str).to_numpy()
    x = donor_events.obsm["X_cellspace"]
    wrong = {}
    for min_score in (0.0, 0.6):
        _, anchors = integrate_embedding(x, b, "donor1", min_score=min_score)
        pairs = [y[b == "donor1"][a.ref] != y[b == q][a.query] for q, a in anchors.items()]
        wrong[min_score] = float(np.mean(np.concatenate(pairs)))
    assert wrong[0.6] < wrong[0.0]
