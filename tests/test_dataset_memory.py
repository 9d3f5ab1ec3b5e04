"""The lean data path: binarising, stacking datasets, model views and the memory log lines."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from cellspace.dataset import binarize_events, combine, stack_events
from cellspace.memory import MESSAGE, log_memory, peak_rss_mb, rss_mb
from cellspace.simulate import simulate
from cellspace.train import TrainParams, run_training, state_to_model


def _random_counts(seed: int, shape=(40, 70), density=0.2) -> sp.csr_matrix:
    return sp.random(*shape, density=density, format="csr", random_state=seed,
                     data_rvs=lambda n: np.random.default_rng(seed).integers(1, 4, n).astype(np.float32))


def _expected(matrix: sp.spmatrix) -> np.ndarray:
    return (np.asarray(matrix.todense()) != 0).T.astype(np.uint8)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_binarize_events_gives_sorted_int32_uint8_transpose(fmt):
    m = _random_counts(1).asformat(fmt)
    ev = binarize_events(m)
    assert ev.format == "csr" and ev.shape == (70, 40)
    assert ev.indices.dtype == np.int32 and ev.data.dtype == np.uint8
    assert np.array_equal(ev.toarray(), _expected(m))
    assert all(np.all(np.diff(ev.indices[ev.indptr[i] : ev.indptr[i + 1]]) > 0) for i in range(ev.shape[0]))


def test_binarize_events_counts_duplicates_once_and_drops_explicit_zeros():
    rows = np.array([0, 0, 1, 2, 2, 3])
    cols = np.array([1, 1, 0, 2, 3, 3])
    vals = np.array([1.0, 2.0, 1.0, 0.0, 5.0, 1.0], dtype=np.float32)
    for m in (sp.coo_matrix((vals, (rows, cols)), shape=(4, 5)),
              sp.csr_matrix((vals, (rows, cols)), shape=(4, 5)),
              sp.csr_matrix((vals, cols, np.array([0, 2, 3, 5, 6])), shape=(4, 5))):  # duplicates kept
        ev = binarize_events(m)
        assert ev.nnz == 4
        assert np.array_equal(ev.toarray(), np.array(
            [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=np.uint8))


def test_binarize_events_of_uint8_counts_gives_ones_and_leaves_the_input():
    m = _random_counts(5)
    m.data = (m.data + 1).astype(np.uint8)
    before = m.data.copy()
    ev = binarize_events(m)
    assert np.array_equal(ev.toarray(), _expected(m)) and set(ev.data) == {1}
    assert np.array_equal(m.data, before)


def test_binarize_events_reuses_a_canonical_csc_structure():
    m = _random_counts(2).tocsc()
    ev = binarize_events(m)
    assert np.shares_memory(ev.indices, m.indices)


def test_stack_events_is_the_block_diagonal_matrix():
    blocks = [binarize_events(_random_counts(s, shape=(10 + s, 20 + 3 * s))) for s in range(3)]
    stacked = stack_events(blocks)
    assert stacked.indices.dtype == np.int32 and stacked.data.dtype == np.uint8
    assert np.array_equal(stacked.toarray(), sp.block_diag(blocks).toarray())
    assert stack_events(blocks[:1]) is blocks[0]


def test_combine_keeps_one_dataset_events_without_a_copy():
    ds = simulate(seed=3, n_cells=60, n_events=80, event_len=60).datasets[0]
    data = combine([ds])
    assert np.shares_memory(data.events.indices, ds.events.indices)


def test_model_rows_are_views_of_the_trained_table():
    sim = simulate(seed=4, n_cells=50, n_events=60, event_len=60)
    data = combine(sim.datasets)
    state = run_training(data, TrainParams(dim=8, epochs=1, bucket=500, threads=1), progress=False)
    model = state_to_model(state, data)
    d, nk, nc = 8, state.n_kmers, state.n_cells
    for rows, lo, hi in ((model.kmer_vectors, 0, nk), (model.cell_vectors, nk, nk + nc),
                         (model.bucket_vectors, nk + nc, len(state.table))):
        assert np.shares_memory(rows, state.table)
        assert np.array_equal(rows, state.table[lo:hi, :d])


def test_memory_lines_are_logged_at_debug_level_only(caplog):
    log = logging.getLogger("cellspace.test_memory")
    with caplog.at_level(logging.INFO, logger=log.name):
        log_memory(log, "nothing")
    assert not caplog.records
    with caplog.at_level(logging.DEBUG, logger=log.name):
        block = np.ones(8 << 20, dtype=np.uint8)  # 8 MiB, touched
        log_memory(log, "a block")
    (rec,) = caplog.records
    assert rec.msg == MESSAGE and rec.args[0] == "a block"
    assert 8 < rec.args[1] <= rec.args[2] and rss_mb() <= peak_rss_mb()
    del block


def test_training_path_does_not_import_optional_heavy_libraries():
    # the training step's peak RSS includes every imported module: scikit-learn (bridges,
    # inferred batches) and the analysis stack are imported only by the code that uses them
    code = ("import sys, cellspace.steps.train_cellspace, cellspace.train; "
            "print(' '.join(m for m in ('sklearn', 'scanpy', 'torch', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
