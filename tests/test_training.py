"""Training loop: determinism, checkpoints, negative sampling groups, multiple datasets."""

import numpy as np
import pytest
import scipy.sparse as sp

from cellspace.dataset import combine, make_dataset
from cellspace.sequences import SequenceStore
from cellspace.train import TrainParams, init_state, run_training, train_datasets

FAST = dict(epochs=3, dim=8, bucket=5000, examples_per_event=5, threads=1)


def _dataset(name, n_cells=80, n_events=120, seed=0, batches=None):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n_events, 120)).astype(np.uint8)
    m = sp.random(n_cells, n_events, density=0.08, random_state=seed, format="csr")
    m = m + sp.eye(n_cells, n_events, format="csr")  # no empty event
    obs = None
    if batches is not None:
        import pandas as pd

        obs = pd.DataFrame({"donor": [f"d{i % batches}" for i in range(n_cells)]})
    return make_dataset(name, m, SequenceStore.from_codes(list(codes)), obs=obs,
                        batch_key="donor" if batches else None)


def test_seeded_single_thread_runs_are_bit_identical():
    ds = _dataset("a")
    m1, _ = train_datasets([ds], TrainParams(seed=7, **FAST))
    m2, _ = train_datasets([ds], TrainParams(seed=7, **FAST))
    m3, _ = train_datasets([ds], TrainParams(seed=8, **FAST))
    assert np.array_equal(m1.cell_vectors, m2.cell_vectors)
    assert np.array_equal(m1.kmer_vectors, m2.kmer_vectors)
    assert np.array_equal(m1.bucket_vectors, m2.bucket_vectors)
    assert not np.array_equal(m1.cell_vectors, m3.cell_vectors)
    assert m1.run_id == m2.run_id != m3.run_id


def test_training_lowers_the_loss_and_keeps_rows_clipped():
    ds = _dataset("a")
    model, cells = train_datasets([ds], TrainParams(seed=1, **{**FAST, "epochs": 6}))
    losses = model.params["losses"]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert np.isfinite(cells.obsm["X_cellspace"]).all()
    for rows in (model.cell_vectors, model.kmer_vectors, model.bucket_vectors):
        assert np.linalg.norm(rows, axis=1).max() <= 1 + 1e-5


def test_two_threads_train_to_a_finite_embedding():
    ds = _dataset("a")
    model, cells = train_datasets([ds], TrainParams(seed=1, **{**FAST, "threads": 2}))
    assert cells.obsm["X_cellspace"].shape == (80, 8)
    assert np.isfinite(model.cell_vectors).all()


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    ds = _dataset("a")
    data = combine([ds])
    params = TrainParams(seed=3, **{**FAST, "epochs": 4})
    full = run_training(data, params)

    class Stop(Exception):
        pass

    def interrupt(epoch, *_):
        if epoch == 2:
            raise Stop

    ckpt = tmp_path / "checkpoint.npz"
    with pytest.raises(Stop):
        run_training(data, params, checkpoint=ckpt, checkpoint_every=1, on_epoch=interrupt)
    # the checkpoint of epoch 1 was saved before the interrupt at the end of epoch 2
    resumed = run_training(data, params, checkpoint=ckpt, checkpoint_every=1, resume=True)
    assert resumed.epoch == 4
    assert np.array_equal(full.table, resumed.table)
    assert full.losses == pytest.approx(resumed.losses)


def test_checkpoint_from_other_parameters_is_refused(tmp_path):
    from cellspace.errors import InputError

    ds = _dataset("a")
    data = combine([ds])
    ckpt = tmp_path / "c.npz"
    run_training(data, TrainParams(seed=3, **FAST), checkpoint=ckpt, checkpoint_every=1)
    with pytest.raises(InputError, match="dim"):
        run_training(data, TrainParams(seed=3, **{**FAST, "dim": 9}), checkpoint=ckpt, resume=True)


def test_batch_aware_training_runs_and_keeps_batch_labels():
    a = _dataset("a", 60, 80, seed=4, batches=3)
    model, cells = train_datasets([a], TrainParams(batch_key="donor", **FAST))
    assert np.isfinite(cells.obsm["X_cellspace"]).all()
    assert set(cells.obs["batch"]) == {"d0", "d1", "d2"}


def test_frozen_sequence_rows_stay_bit_identical_while_cell_rows_train():
    a, b = _dataset("a", 50, 60, seed=1), _dataset("b", 30, 40, seed=2)
    data = combine([a, b])
    params = TrainParams(seed=5, freeze_sequence_rows=True, **FAST)
    start = init_state(params, data.n_cells).table
    state = run_training(data, params)
    nk, nc = state.n_kmers, state.n_cells
    # k-mer and bucket rows, accumulators and padding included, are untouched
    assert np.array_equal(state.table[:nk], start[:nk])
    assert np.array_equal(state.table[nk + nc :], start[nk + nc :])
    cells_changed = (state.table[nk : nk + nc] != start[nk : nk + nc]).any(axis=1)
    assert cells_changed.mean() > 0.9
    assert (state.table[nk : nk + nc, params.dim] > 0).mean() > 0.9  # cell accumulators grew
    # without the option the same run moves k-mer rows
    free = run_training(data, TrainParams(seed=5, **FAST))
    assert not np.array_equal(free.table[:nk], start[:nk])


def test_multiple_datasets_number_cells_globally_in_input_order():
    a, b = _dataset("a", 50, 60, seed=1), _dataset("b", 30, 40, seed=2)
    model, cells = train_datasets([a, b], TrainParams(**FAST))
    assert cells.n_obs == 80
    assert list(cells.obs["dataset"].astype(str)[:50].unique()) == ["a"]
    assert list(cells.obs["dataset"].astype(str)[50:].unique()) == ["b"]
    assert model.dataset_names == ["a", "b"]
