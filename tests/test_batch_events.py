"""Batch events: openness that depends on the batch within clusters, not through composition."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from cellspace.batch_events import (
    batch_event_test,
    benjamini_hochberg,
    call_batch_events,
    find_batch_events,
)


def _matrix(seed: int = 0):
    """2 clusters x 3 batches; batch 0 has no cell of cluster 1 (a type absent from a batch).
    Events 0-99: cluster-1 events (open in cluster 1 only), 100-149: open 3x more in batch 2
    in both clusters, 150-399: neither. Depth differs by batch (x0.5, x1, x2)."""
    rng = np.random.default_rng(seed)
    cluster = np.r_[np.zeros(600, int), np.ones(400, int)]
    batch = np.r_[np.repeat([0, 1, 2], 200), np.repeat([1, 2], 200)]
    depth = np.array([0.5, 1.0, 2.0])[batch]
    rate = np.full((1000, 400), 0.05)
    rate[:, :100] = np.where(cluster[:, None] == 1, 0.08, 0.0)
    rate[:, 100:150] *= np.where(batch[:, None] == 2, 3.0, 1.0)
    a = rng.random((1000, 400)) < np.minimum(rate * depth[:, None], 1.0)
    return sp.csr_matrix(a.T.astype(np.uint8)), cluster, batch


def test_events_of_a_type_missing_from_a_batch_are_not_batch_events_within_clusters():
    events, cluster, batch = _matrix()
    _, df, _ = batch_event_test(events, cluster, batch)
    called, p = call_batch_events(events, cluster, batch, 0.05)
    assert called[100:150].mean() > 0.9  # the batch effect is found
    # composition (events 0-99 are open only where batch 0 has no cell) and depth are not
    assert called[:100].mean() <= 0.1 and called[150:].mean() <= 0.1
    assert (df[100:] == 2).all() and (df[:100] == 1).all()  # cluster 1 holds two batches
    # under the null the p-values are uniform: no more small ones than chance
    assert stats.kstest(p[150:], "uniform").pvalue > 1e-3
    # ignoring the clusters (one stratum, equal depths), the composition events would be called
    _, _, p_raw = batch_event_test(events, np.zeros_like(cluster), batch, depth=np.ones(len(batch)))
    assert benjamini_hochberg(p_raw, 0.05)[:100].mean() > 0.9


def test_benjamini_hochberg_step_up():
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.02])
    # sorted 0.01 0.02 0.03 0.04 0.5 against 0.01 0.02 0.03 0.04 0.05 x (i / 5): the 4 first pass
    assert list(benjamini_hochberg(p, 0.05)) == [True, True, True, False, True]
    assert not benjamini_hochberg(p, 0.001).any()


def test_find_batch_events_clusters_the_cell_rows():
    events, cluster, batch = _matrix(1)
    rng = np.random.default_rng(2)
    cells = np.where(cluster[:, None] == 1, 1.0, -1.0) * np.eye(4)[0] + 0.1 * rng.normal(size=(1000, 4))
    found = find_batch_events(events, cells, batch, seed=0)
    assert np.unique(found.clusters).size == 2
    assert found.batch_event[100:150].mean() > 0.9 and found.batch_event[:100].mean() <= 0.1
    with pytest.raises(Exception, match="one id per cell"):
        batch_event_test(events, cluster[:10], batch)


def test_type_events_that_are_not_batch_events_are_shared_across_batches():
    from cellspace.batch_events import call_type_events, shared_type_events

    events, cluster, batch = _matrix(2)
    typed, _ = call_type_events(events, cluster, 0.05)
    assert typed[:100].mean() > 0.9  # cluster-1 events differ by cluster
    rng = np.random.default_rng(3)
    cells = np.where(cluster[:, None] == 1, 1.0, -1.0) * np.eye(4)[0] + 0.1 * rng.normal(size=(1000, 4))
    shared = shared_type_events(events, cells, batch, seed=0)
    # the type absent from batch 0 keeps negatives across batches, the batch events do not
    assert shared[:100].mean() > 0.9 and shared[100:150].mean() <= 0.1
