"""Batches inferred without labels (cellspace.pseudo_batches)."""

from __future__ import annotations

import inspect

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from cellspace.pseudo_batches import (
    _residual_scores,
    held_component,
    infer_batches,
    refine_clusters,
    residual_components,
    split_half_agreement,
)
from cellspace.simulate import small_simulation


def _type_embedding(types: np.ndarray, seed: int) -> np.ndarray:
    """Cell vectors that separate the types and nothing else (a trained, perfectly mixed embedding)."""
    rng = np.random.default_rng(seed)
    codes = np.unique(types, return_inverse=True)[1]
    centres = rng.normal(size=(codes.max() + 1, 10))
    return centres[codes] + 0.3 * rng.normal(size=(len(types), 10))


def test_donors_that_open_their_own_events_are_found_without_labels():
    # 3 donors; a fifth of the events opens e^2 = 7.4x more in one donor, whatever its sequence
    sim = small_simulation(4, n_cells=500, n_events=1200, n_types=4, donor_effect_sign="open",
                           donor_effect=2.0, donor_event_fraction=0.2)
    c = sim.truth.cells
    found = infer_batches(sim.datasets[0].events, _type_embedding(c["cell_type"].to_numpy(), 0), seed=0)
    assert found.groups is not None, found.reason
    # the groups are the donors (ARI 1 = exactly), not the types
    assert adjusted_rand_score(c["donor"], found.groups) > 0.8
    assert adjusted_rand_score(c["cell_type"], found.groups) < 0.05
    assert adjusted_rand_score(c["cell_type"], found.clusters) > 0.9


def test_no_batches_are_invented_without_batch_effects():
    sim = small_simulation(5, n_cells=500, n_events=800, n_types=4, n_donors=1)
    c = sim.truth.cells
    found = infer_batches(sim.datasets[0].events, _type_embedding(c["cell_type"].to_numpy(), 1), seed=0)
    assert found.groups is None, found.reason
    assert found.n_components == 0


def test_cells_outside_the_sample_join_their_donor():
    sim = small_simulation(4, n_cells=1000, n_events=1200, n_types=4, donor_effect_sign="open",
                           donor_effect=2.0, donor_event_fraction=0.2)
    c = sim.truth.cells
    found = infer_batches(sim.datasets[0].events, _type_embedding(c["cell_type"].to_numpy(), 0), seed=0,
                          max_cells=600)
    assert found.groups is not None and len(found.groups) == 1000, found.reason
    assert adjusted_rand_score(c["donor"], found.groups) > 0.8


def test_residual_scores_of_the_decomposed_cells_are_their_singular_scores():
    sim = small_simulation(4, n_cells=500, n_events=800, n_types=4, donor_effect_sign="open",
                           donor_effect=2.0, donor_event_fraction=0.2)
    A = sp.csr_matrix(sim.datasets[0].events.T, dtype=np.float64)
    A.data[:] = 1.0
    clusters = np.unique(sim.truth.cells["cell_type"], return_inverse=True)[1]
    u, s, vt, sM, mean_depth = residual_components(A, clusters, 3, seed=0)
    np.testing.assert_allclose(_residual_scores(A, clusters, vt.T, sM, mean_depth), u * s, atol=1e-6)


def _binary_cells_by_events(sim) -> sp.csr_matrix:
    A = sp.csr_matrix(sim.datasets[0].events.T, dtype=np.float64)
    A.data[:] = 1.0
    return A


def test_donor_groups_replicate_across_halves_of_the_events_and_noise_groups_do_not():
    # the replication rule: donors open many events of their own, so each half of the events finds
    # them; without donors the residual's top component is noise, and the halves' groups disagree
    donors = small_simulation(4, n_cells=500, n_events=1200, n_types=4, donor_effect_sign="open",
                              donor_effect=2.0, donor_event_fraction=0.2)
    none = small_simulation(5, n_cells=500, n_events=1200, n_types=4, n_donors=1)
    default = inspect.signature(infer_batches).parameters["min_replication"].default
    for sim, replicates in ((donors, True), (none, False)):
        types = np.unique(sim.truth.cells["cell_type"], return_inverse=True)[1]
        agreement = split_half_agreement(_binary_cells_by_events(sim), types, n_components=2, n_groups=3, seed=0)
        assert (agreement.min() >= default) == replicates, agreement
        assert (agreement.max() >= default) == replicates, agreement


def _between_share(x: np.ndarray, groups: np.ndarray) -> float:
    """Share of the variance of ``x`` between the groups (R² of the group means)."""
    means = np.bincount(groups, weights=x) / np.bincount(groups)
    return float(((means[groups] - x.mean()) ** 2).sum() / ((x - x.mean()) ** 2).sum())


def test_clusters_of_unequal_depth_leave_no_offset_in_the_residual():
    # no donor-specific events; donors differ in depth (e^-1, 1, e^1), and every (type, donor)
    # is its own cluster: the clusters explain everything, so nothing may stand above noise.
    # Depth taken relative to all cells would over-predict the deep clusters on every event.
    sim = small_simulation(1, n_cells=1200, n_events=1000, n_types=4, n_donors=3, donor_effect=0.0,
                           donor_depth_spread=1.0)
    c = sim.truth.cells
    clusters = np.unique((c["cell_type"] + "/" + c["donor"]).to_numpy(), return_inverse=True)[1]
    A = sp.csr_matrix(sim.datasets[0].events.T, dtype=np.float64)
    A.data[:] = 1.0
    u, s, _, _, _ = residual_components(A, clusters, 3, seed=0)
    assert s[0] < np.sqrt(A.shape[0]) + np.sqrt(A.shape[1])  # measured 53 against the edge 66
    assert _between_share(u[:, 0], clusters) < 0.2  # 0.93 with the depth of all cells


def test_cells_misplaced_by_the_embedding_return_to_their_type():
    sim = small_simulation(6, n_cells=600, n_events=1000, n_types=4, n_donors=1)
    types = np.unique(sim.truth.cells["cell_type"].to_numpy(), return_inverse=True)[1]
    A = sp.csr_matrix(sim.datasets[0].events.T, dtype=np.float64)
    A.data[:] = 1.0
    rng = np.random.default_rng(0)
    wrong = types.copy()
    moved = rng.choice(len(types), len(types) // 5, replace=False)
    wrong[moved] = (types[moved] + rng.integers(1, 4, len(moved))) % 4  # a fifth in another type's cluster
    refined, rates = refine_clusters(A, wrong)
    assert adjusted_rand_score(types, refined) > 0.95  # from 0.6
    assert rates.shape == (4, A.shape[1])


def test_a_cluster_that_merges_two_types_is_split_and_the_donors_found():
    # the embedding puts two of the four types together: their difference is the residual's largest
    # component, held by that one cluster; a batch's component spreads over every cluster
    sim = small_simulation(4, n_cells=500, n_events=1200, n_types=4, donor_effect_sign="open",
                           donor_effect=2.0, donor_event_fraction=0.2)
    c = sim.truth.cells
    types = np.unique(c["cell_type"].to_numpy(), return_inverse=True)[1]
    merged = np.where(types == 3, 2, types)
    cells = _type_embedding(merged.astype(str), 0)
    unsplit = infer_batches(sim.datasets[0].events, cells, seed=0, max_splits=0)
    assert unsplit.groups is None or adjusted_rand_score(c["donor"], unsplit.groups) < 0.5, unsplit.reason
    found = infer_batches(sim.datasets[0].events, cells, seed=0)
    assert found.n_splits >= 1, found.reason
    assert adjusted_rand_score(types, found.clusters) > 0.9
    assert found.groups is not None, found.reason
    assert adjusted_rand_score(c["donor"], found.groups) > 0.8


def test_a_batch_component_is_not_held_by_one_cluster():
    sim = small_simulation(4, n_cells=500, n_events=1200, n_types=4, donor_effect_sign="open",
                           donor_effect=2.0, donor_event_fraction=0.2)
    A = _binary_cells_by_events(sim)
    types = np.unique(sim.truth.cells["cell_type"].to_numpy(), return_inverse=True)[1]
    u, s, _, _, _ = residual_components(A, types, 3, seed=0)
    r = int((s > np.sqrt(A.shape[0]) + np.sqrt(A.shape[1])).sum())
    assert r >= 1
    assert held_component(u[:, :r], types) is None
    merged = np.where(types == 3, 2, types)
    u, s, _, _, _ = residual_components(A, merged, 3, seed=0)
    held = held_component(u[:, :1], merged)
    assert held is not None and held[0] == 2


def test_two_merged_pairs_of_types_are_both_split():
    # two clusters each merge two types: the residual's two largest components are of similar size
    # and may mix both pairs, so the split must follow the combination held by one cluster
    sim = small_simulation(7, n_cells=900, n_events=1200, n_types=6, n_donors=1)
    types = np.unique(sim.truth.cells["cell_type"].to_numpy(), return_inverse=True)[1]
    merged = np.select([types == 1, types == 3], [0, 2], types)
    found = infer_batches(sim.datasets[0].events, _type_embedding(merged.astype(str), 0), seed=0)
    assert found.n_splits >= 2, found.reason
    assert adjusted_rand_score(types, found.clusters) > 0.9
    assert found.groups is None, found.reason


def test_a_mixture_of_two_merged_pairs_is_unmixed_by_cluster():
    # clusters 0 and 1 each hold a split (two merged types); the decomposition returns the two
    # splits mixed at 45 degrees, so each component is half in one cluster and half in the other
    rng = np.random.default_rng(0)
    clusters = np.repeat([0, 1, 2], [100, 100, 200])
    a = np.where(clusters == 0, rng.choice([-1.0, 1.0], 400), 0.0)
    b = np.where(clusters == 1, rng.choice([-1.0, 1.0], 400), 0.0)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    u = np.column_stack([(a + b) / np.sqrt(2), (a - b) / np.sqrt(2)])
    c, w = held_component(u, clusters)
    direction = u @ w
    split = a if c == 0 else b
    assert c in (0, 1)
    assert abs(direction @ split) > 0.99  # the combination is that cluster's own split
    # one component alone: half its squared scores outside either cluster, 2/3 of an even spread
    assert held_component(u[:, :1], clusters) is None
