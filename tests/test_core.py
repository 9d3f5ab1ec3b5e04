"""The Cython training core: tokens, n-grams, windows, one update step, permutations."""

import numpy as np
import pytest

from cellspace import _core
from cellspace.dataset import combine, make_dataset
from cellspace.kmers import kmer_row_table, kmer_rows_of
from cellspace.sequences import SequenceStore
from cellspace.train import TrainParams, build_corpus, row_stride

K = 5


def _corpus(seqs, ngrams=3, bucket=1000):
    import scipy.sparse as sp

    m = sp.csr_matrix(np.ones((3, len(seqs)), dtype=np.uint8))
    ds = make_dataset("d", m, SequenceStore.from_strings(seqs), k=K)
    data = combine([ds])
    params = TrainParams(k=K, ngrams=ngrams, bucket=bucket, threads=1)
    return data, build_corpus(data, params), params


def _rows(corpus, params, event, start, w, n_kmers=512):
    config = _core.TrainConfig(
        packed=corpus.packed, seq_off=corpus.seq_off, ntok=corpus.ntok, tokpos_off=corpus.tokpos_off,
        tokpos=corpus.tokpos, row_of_code=kmer_row_table(K), k=K, ngrams=params.ngrams,
        n_buckets=params.bucket, bucket_offset=n_kmers + 3,
    )
    return _core.example_rows(config, event, start, w)


def _step(table, dim, rows, pos, cands, margin, max_neg, rate, freeze=False):
    config = _core.TrainConfig(table=table, dim=dim, margin=margin, max_neg=max_neg, freeze_lhs=freeze)
    return _core.update_step(config, rows, pos, cands, np.float32(rate))


SEQS = ["ACGTTGCAAGGCTTACGATCGATCGGA", "TTGACNNAGGCTTACGNATCGATTTGACCA", "GGGGCCCCAATT"]


def test_trainer_tokens_equal_the_reference_tokenisation_including_n():
    data, corpus, params = _corpus(SEQS, ngrams=1)
    for e, s in enumerate(SEQS):
        expected = kmer_rows_of(s, K)
        assert corpus.ntok[e] == len(expected)
        got = _rows(corpus, params, e, 0, len(expected))
        assert np.array_equal(got, expected)
        # any window is the matching slice
        if len(expected) > 4:
            assert np.array_equal(_rows(corpus, params, e, 2, 3), expected[2:5])


def test_window_bounds_are_enforced():
    data, corpus, params = _corpus(SEQS, ngrams=1)
    n = int(corpus.ntok[0])
    assert len(_rows(corpus, params, 0, n - 4, 4)) == 4
    with pytest.raises(ValueError):
        _rows(corpus, params, 0, n - 3, 4)
    with pytest.raises(ValueError):
        _rows(corpus, params, 0, -1, 2)


def test_ngram_rows_are_deterministic_hashes_of_consecutive_tokens():
    data, corpus, params = _corpus(SEQS, ngrams=3, bucket=997)
    toks = kmer_rows_of(SEQS[0], K)
    w = 10
    rows = _rows(corpus, params, 0, 0, w)
    assert len(rows) == w + (w - 1) + (w - 2)
    assert np.array_equal(rows[:w], toks[:w])
    off = 512 + 3
    expected = [off + _core.ngram_bucket(toks[i : i + 2].astype(np.int32), 997) for i in range(w - 1)]
    expected += [off + _core.ngram_bucket(toks[i : i + 3].astype(np.int32), 997) for i in range(w - 2)]
    assert list(rows[w:]) == expected
    assert np.array_equal(rows, _rows(corpus, params, 0, 0, w))  # deterministic
    # order matters (n-grams are ordered runs) and different runs spread over buckets
    a = _core.ngram_bucket(np.array([5, 9], np.int32), 10**6)
    b = _core.ngram_bucket(np.array([9, 5], np.int32), 10**6)
    assert a != b
    many = {_core.ngram_bucket(np.array([i, j], np.int32), 1000) for i in range(40) for j in range(40)}
    assert len(many) > 700  # 1600 pairs into 1000 buckets: a good hash fills most


def _numpy_update(table, dim, rows, pos, cands, margin, max_neg, rate):
    """A float64 transcription of the reference's forward pass and ``EmbedModel::backward``."""
    t = table.astype(np.float64)

    def unit(v):
        return v / np.linalg.norm(v)

    lhs = unit(t[rows, :dim].sum(axis=0))
    pos_sim = lhs @ unit(t[pos, :dim])
    negs = []
    for c in cands:
        if len(negs) >= max_neg:
            break
        if c == pos:
            continue
        if margin - pos_sim + lhs @ unit(t[c, :dim]) > 0:
            negs.append(c)
    if not negs:
        return t, pos_sim, 0
    g = np.mean([unit(t[c, :dim]) for c in negs], axis=0) - unit(t[pos, :dim])
    # backward(): n1 = |gradW|^2 / dim for the LHS rows, n2 = |lhs|^2 / dim for EVERY cell row
    n1, n2 = g @ g / dim, lhs @ lhs / dim

    def update(r, direction, step_rate, wsum):  # EmbedModel::update + inline clipping
        t[r, dim] += wsum
        t[r, :dim] += step_rate / np.sqrt(t[r, dim] + 1e-6) * direction
        n = np.linalg.norm(t[r, :dim])
        if n > 1:
            t[r, :dim] /= n

    for r in rows:
        update(r, g, -rate, n1)
    update(pos, lhs, rate, n2)
    for c in negs:
        update(c, lhs, -rate / len(negs), n2)
    return t, pos_sim, len(negs)


@pytest.mark.parametrize("max_neg", [1, 3, 10])
def test_one_update_step_matches_a_numpy_reference(max_neg):
    rng = np.random.default_rng(max_neg)
    dim = 7
    stride = row_stride(dim)
    table = np.zeros((40, stride), dtype=np.float32)
    table[:, :dim] = rng.normal(0, 0.3, (40, dim))
    table[:, dim] = rng.uniform(0, 0.5, 40)  # accumulators already in use
    rows = np.array([1, 4, 4, 7, 9, 2, 1], dtype=np.int32)  # duplicates count per occurrence
    pos = np.int32(20)
    cands = np.array([21, 20, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31], dtype=np.int32)
    before = table.copy()
    expected, pos_sim, n_negs = _numpy_update(table, dim, rows, pos, cands, 0.5, max_neg, 0.05)
    got_pos_sim, got_n, _loss = _step(table, dim, rows, pos, cands, 0.5, max_neg, 0.05)
    assert got_n == n_negs > 0
    assert got_pos_sim == pytest.approx(pos_sim, abs=1e-5)
    np.testing.assert_allclose(table[:, : dim + 1], expected[:, : dim + 1], rtol=2e-4, atol=2e-6)
    touched = np.flatnonzero((table != before).any(axis=1))
    assert set(rows) | {pos} <= set(touched)
    assert (np.linalg.norm(table[touched, :dim], axis=1) <= 1 + 1e-5).all()  # clipped inline


def test_every_cell_row_accumulator_grows_by_lhs_norm_over_dim():
    """Positive and each violating negative add |lhs|^2 / dim = 1 / dim, whatever the count."""
    rng = np.random.default_rng(7)
    dim = 6
    table = np.zeros((30, row_stride(dim)), dtype=np.float32)
    table[:, :dim] = rng.normal(0, 0.3, (30, dim))
    rows = np.array([0, 1, 2, 3], dtype=np.int32)
    pos = np.int32(10)
    table[pos, :dim] = -table[rows, :dim].sum(axis=0)  # positive far from the LHS: every candidate violates
    cands = np.arange(11, 16, dtype=np.int32)
    _, n, _ = _step(table, dim, rows, pos, cands, 2.5, 10, 0.01)
    assert n == len(cands)
    np.testing.assert_allclose(table[[pos, *cands], dim], 1.0 / dim, rtol=1e-5)
    assert (table[20:, dim] == 0).all()  # untouched rows keep their accumulators


def test_no_violating_negative_means_no_update():
    dim = 4
    table = np.zeros((6, row_stride(dim)), dtype=np.float32)
    table[0, :dim] = [1, 0, 0, 0]
    table[1, :dim] = [1, 0, 0, 0]  # positive aligned with the LHS
    table[2, :dim] = [-1, 0, 0, 0]  # negative far away
    before = table.copy()
    _, n, loss = _step(table, dim, np.array([0], np.int32), np.int32(1),
                         np.array([2], np.int32), 0.05, 10, 0.1)
    assert n == 0 and loss == 0
    assert np.array_equal(table, before)


def test_epoch_order_is_a_permutation():
    for n in (1, 2, 7, 1000, 4097):
        p = _core.permutation(n, 12345)
        assert np.array_equal(np.sort(p), np.arange(n))
    a, b = _core.permutation(1000, 1), _core.permutation(1000, 2)
    assert not np.array_equal(a, b)


def test_frozen_lhs_rows_are_not_updated_and_cell_rows_are():
    rng = np.random.default_rng(3)
    dim = 7
    table = np.zeros((40, row_stride(dim)), dtype=np.float32)
    table[:, :dim] = rng.normal(0, 0.3, (40, dim))
    table[:, dim] = rng.uniform(0, 0.5, 40)
    rows = np.array([1, 4, 4, 7, 9], dtype=np.int32)
    pos = np.int32(20)
    cands = np.arange(21, 33, dtype=np.int32)
    expected, _, n_negs = _numpy_update(table, dim, rows, pos, cands, 0.5, 10, 0.05)
    before = table.copy()
    _, got_n, _ = _step(table, dim, rows, pos, cands, 0.5, 10, 0.05, freeze=True)
    assert got_n == n_negs > 0
    assert np.array_equal(table[:20], before[:20])  # every LHS row, accumulators included
    np.testing.assert_allclose(table[20:, : dim + 1], expected[20:, : dim + 1], rtol=2e-4, atol=2e-6)
    assert (table[20] != before[20]).any()
