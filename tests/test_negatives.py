"""Negative pools: the default pools are the reference tool's distribution, draws follow it."""

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

from cellspace import _core
from cellspace.dataset import combine, make_dataset
from cellspace.errors import ParameterError
from cellspace.negatives import (
    NegativePools,
    build_pools,
    group_pools,
    reference_pools,
    with_shared_events,
)
from cellspace.sequences import SequenceStore
from cellspace.train import TrainParams, run_training


def _dataset(name, n_cells, n_events, seed, donors=None, density=0.15, empty_cells=0):
    """A random binary dataset; the last ``empty_cells`` cells are open in no event."""
    rng = np.random.default_rng(seed)
    m = (rng.random((n_cells, n_events)) < density).astype(np.uint8)
    m[: n_cells - empty_cells, :][np.arange(n_events) % (n_cells - empty_cells), np.arange(n_events)] = 1
    m[n_cells - empty_cells :] = 0
    obs = None
    if donors:
        obs = pd.DataFrame({"donor": rng.choice([f"d{i}" for i in range(donors)], n_cells)})
    seqs = SequenceStore.from_codes(list(rng.integers(0, 4, (n_events, 40)).astype(np.uint8)))
    return make_dataset(name, sp.csr_matrix(m), seqs, obs=obs, batch_key="donor" if donors else None, k=5,
                        drop_empty_cells=False)


def _reference_draw(dense_events: np.ndarray, group: np.ndarray) -> dict[int, dict[int, Fraction]]:
    """Exact distribution of the reference's two-step draw for every group, by enumeration.

    A negative of group g: a uniform event among those with >= 1 open cell in g, then a
    uniform open cell of that event within g.
    """
    out: dict[int, dict[int, Fraction]] = {}
    for g in np.unique(group):
        members = set(np.flatnonzero(group == g))
        events = [set(np.flatnonzero(row)) & members for row in dense_events]
        events = [e for e in events if e]
        dist: dict[int, Fraction] = {}
        for e in events:
            for c in e:
                dist[c] = dist.get(c, Fraction(0)) + Fraction(1, len(events) * len(e))
        assert sum(dist.values()) == 1
        out[int(g)] = dist
    return out


@pytest.mark.parametrize("by_batch", [False, True])
def test_default_pools_are_exactly_the_reference_two_step_draw(by_batch):
    donors = 3 if by_batch else None
    datasets = [
        _dataset("a", 40, 30, seed=1, donors=donors, empty_cells=3),
        _dataset("b", 25, 50, seed=2, donors=donors, density=0.05),
        _dataset("c", 30, 12, seed=3, donors=donors, density=0.4),
    ]
    data = combine(datasets)
    pools = reference_pools(data, by_batch=by_batch)
    group = data.cell_batch if by_batch else data.cell_dataset
    expected = _reference_draw(data.events.toarray(), group)
    assert len(expected) == (9 if by_batch else 3)
    for g, dist in expected.items():
        members = np.flatnonzero(group == g)
        pool = pools.cell_pool[members]
        assert (pool == pool[0]).all()  # a group's cells share one pool
        cells, prob = pools.distribution(int(pool[0]))
        truth = dict(sorted(dist.items()))
        assert list(cells) == list(truth)  # same support: the group's cells open in some event
        np.testing.assert_allclose(prob, [float(p) for p in truth.values()], rtol=0, atol=1e-9)
    # cells open in no event are never drawn
    assert not np.isin(np.arange(37, 40), pools.entries[:, 1:]).any()


def test_the_trainers_draws_follow_the_pool_distribution():
    """Chi-square goodness of fit of draws made by the core's own alias and RNG code."""
    data = combine([_dataset("a", 60, 80, seed=7, density=0.08)])
    pools = reference_pools(data)
    cells, prob = pools.distribution(0)
    assert prob.max() / prob.min() > 3  # far from uniform, so the test has power
    n = 300_000
    draws = pools.draw(cell=5, n=n, seed=20240611)
    assert len(draws) == n and np.isin(draws, cells).all()
    counts = np.bincount(np.searchsorted(cells, draws), minlength=len(cells))
    assert (n * prob).min() > 5  # the chi-square approximation holds (df = 59)
    assert stats.chisquare(counts, n * prob).pvalue > 1e-3
    # power: the same draws reject the uniform distribution over the pool's cells
    assert stats.chisquare(counts).pvalue < 1e-3


def test_alias_entries_encode_any_weights_with_duplicates_and_zeros():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        w = rng.exponential(size=n) * (rng.random(n) < 0.8)
        w[0] = 1.0
        cells = rng.integers(0, 20, n)
        pools = build_pools(np.zeros(20, dtype=np.int32), [cells], [w])
        got_cells, got = pools.distribution(0)
        want = np.bincount(cells, weights=w, minlength=20) / w.sum()
        assert list(got_cells) == list(np.flatnonzero(want > 0))
        np.testing.assert_allclose(got, want[want > 0], rtol=0, atol=1e-9)
    # equal weights: every entry keeps its own cell
    ent = _core.alias_entries(np.arange(5, dtype=np.int32), np.ones(5))
    assert (ent[:, 1] == ent[:, 2]).all()


def test_custom_pools_decide_where_training_draws_negatives():
    """Positives use pool 0 = {cell 30}; pool 1 = {cell 31} belongs to cells that are never positive."""
    ds = _dataset("a", 40, 60, seed=5, density=0.1, empty_cells=10)  # cells 30..39 open nowhere
    data = combine([ds])
    cell_pool = np.r_[np.zeros(30), np.ones(10)].astype(np.int32)
    pools = build_pools(cell_pool, [np.array([30]), np.array([31])], [np.array([1.0]), np.array([1.0])])
    params = TrainParams(epochs=2, dim=8, bucket=1000, k=5, examples_per_event=5, threads=1, seed=1)
    state = run_training(data, params, negatives=pools)
    acc = state.table[state.n_kmers : state.n_kmers + state.n_cells, params.dim]
    assert acc[30] > 0 and acc[31] == 0 and (acc[32:] == 0).all()
    # the default pools never draw cells open in no event
    default = run_training(data, params)
    acc = default.table[default.n_kmers : default.n_kmers + default.n_cells, params.dim]
    assert (acc[30:] == 0).all() and (acc[:30] > 0).all()


def test_group_pools_and_bad_pools():
    pools = group_pools(np.array([0, 0, 1, 1, 1]), np.array([1.0, 3.0, 0.0, 1.0, 1.0]))
    assert isinstance(pools, NegativePools) and pools.n_pools == 2
    cells, prob = pools.distribution(0)
    assert list(cells) == [0, 1] and np.allclose(prob, [0.25, 0.75])
    cells, prob = pools.distribution(1)
    assert list(cells) == [3, 4] and np.allclose(prob, [0.5, 0.5])
    with pytest.raises(ParameterError, match="0..1"):
        build_pools(np.array([0, 2]), [np.array([0]), np.array([1])], [np.ones(1), np.ones(1)])
    with pytest.raises(ParameterError, match="nonnegative"):
        build_pools(np.array([0, 0]), [np.array([0, 1])], [np.array([1.0, -1.0])])
    with pytest.raises(ParameterError, match="cell ids"):
        build_pools(np.array([0, 0]), [np.array([0, 2])], [np.ones(2)])
    data = combine([_dataset("a", 20, 10, seed=1)])
    with pytest.raises(ParameterError, match="3 cells"):
        run_training(data, TrainParams(epochs=1, k=5, threads=1),
                     negatives=build_pools(np.zeros(3, np.int32), [np.arange(3)], [np.ones(3)]))


def test_examples_of_shared_events_draw_from_the_shared_pool():
    """Exact marginals: pool 0 (own) and pool 1 (shared) have different supports and weights;
    the core draws from the own pool for unflagged events and no event, from the shared pool
    for flagged events (chi-square against each pool's exact distribution)."""
    n_cells = 12
    own = build_pools(np.zeros(n_cells, np.int32), [np.arange(0, 6)], [np.arange(1.0, 7.0)])
    shared = build_pools(np.zeros(n_cells, np.int32), [np.arange(4, 12)], [np.arange(8.0, 0.0, -1.0)])
    pools = with_shared_events(own, shared, np.array([False, True, False]))
    assert pools.n_pools == 2 and list(pools.shared_pool) == [1] * n_cells
    n = 200_000
    for event, pool in ((-1, 0), (0, 0), (1, 1), (2, 0)):
        cells, prob = pools.distribution(pool)
        draws = pools.draw(cell=3, n=n, seed=7 + event, event=event)
        assert np.isin(draws, cells).all()  # the other pool's own cells never appear
        counts = np.bincount(np.searchsorted(cells, draws), minlength=len(cells))
        assert stats.chisquare(counts, n * prob).pvalue > 1e-3
    with pytest.raises(ValueError, match="event out of range"):
        pools.draw(cell=3, n=10, event=3)
    with pytest.raises(ParameterError, match="cells"):
        with_shared_events(own, build_pools(np.zeros(3, np.int32), [np.arange(3)], [np.ones(3)]), [True])


def test_training_uses_the_shared_pool_only_for_flagged_events():
    """Own pool = {cell 30}, shared pool = {cell 31} (cells 30, 31 open nowhere): only cell 31 is
    ever a negative when every event is flagged, only cell 30 when none is."""
    ds = _dataset("a", 40, 60, seed=5, density=0.1, empty_cells=10)
    data = combine([ds])
    params = TrainParams(epochs=1, dim=8, bucket=1000, k=5, examples_per_event=5, threads=1, seed=1)
    own = build_pools(np.zeros(40, np.int32), [np.array([30])], [np.array([1.0])])
    shared = build_pools(np.zeros(40, np.int32), [np.array([31])], [np.array([1.0])])
    for flag, used, unused in ((True, 31, 30), (False, 30, 31)):
        pools = with_shared_events(own, shared, np.full(data.n_events, flag))
        state = run_training(data, params, negatives=pools)
        acc = state.table[state.n_kmers : state.n_kmers + state.n_cells, params.dim]
        assert acc[used] > 0 and acc[unused] == 0
    with pytest.raises(ParameterError, match="one flag per event"):
        run_training(data, params, negatives=with_shared_events(own, shared, np.ones(data.n_events + 1, bool)))
