"""TRAIN_CELLSPACE through bin/train_cellspace.py: outputs as a unit, one-line errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from stepcli import DEAD_PID, FAST_TRAIN, run_step, siblings, snapshot


def _inputs(h5ads) -> list[str]:
    return [a for p in h5ads for a in ("--h5ad", p)]


@pytest.fixture(scope="module")
def trained(sim_h5ads, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", out, *FAST_TRAIN,
                   "--checkpoint-every", "1")
    assert res.rc == 0, res.stderr
    return out


def test_writes_cells_model_and_checkpoint(trained, sim_h5ads):
    assert sorted(p.name for p in trained.iterdir()) == [
        "cells.h5ad", "checkpoint.npz", "model.npz", "training_log.tsv"]
    cells = ad.read_h5ad(trained / "cells.h5ad")
    n = sum(ad.read_h5ad(p, backed="r").n_obs for p in sim_h5ads)
    assert cells.obsm["X_cellspace"].shape == (n, 8)
    assert np.isfinite(cells.obsm["X_cellspace"]).all()
    assert siblings(trained) == []


def test_rerun_resumes_and_replaces_the_pair(trained, sim_h5ads, tmp_path):
    before = snapshot(trained)
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", trained, *FAST_TRAIN,
                   "--epochs", "3", "--checkpoint-every", "1", "--resume")
    assert res.rc == 0, res.stderr
    assert "resuming from" in res.stderr
    after = snapshot(trained)
    assert set(after) == set(before)
    assert after["model.npz"] != before["model.npz"] and after["cells.h5ad"] != before["cells.h5ad"]
    # the log continues the checkpoint's epochs, their speeds included
    log = pd.read_csv(trained / "training_log.tsv", sep="\t")
    assert log["epoch"].tolist() == [1, 2, 3] and np.isfinite(log["examples_per_s"]).all()


def test_out_is_a_file(sim_h5ads, tmp_path):
    out = tmp_path / "run"
    out.write_text("keep me")
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", out, *FAST_TRAIN)
    assert res.rc == 1
    assert "exists and is not a folder" in res.error_line() and str(out) in res.error_line()
    assert out.read_text() == "keep me"


def test_out_holding_other_files_is_not_replaced(sim_h5ads, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", out, *FAST_TRAIN)
    assert res.rc == 1
    assert "'notes.txt', which this step does not write" in res.error_line()
    assert snapshot(out) == {"notes.txt": snapshot(out)["notes.txt"]}


def test_file_size_limit_leaves_previous_outputs(trained, sim_h5ads, tmp_path):
    before = snapshot(trained)
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", trained, *FAST_TRAIN,
                   "--seed", "5", fsize=200_000)
    assert res.rc == 1
    assert "file-size limit (ulimit -f)" in res.error_line()
    assert snapshot(trained) == before
    assert siblings(trained) == []


def test_stale_temp_files_of_a_killed_run_are_removed(sim_h5ads, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale_file = out / f".checkpoint.npz.{DEAD_PID}-abc.tmp.npz"
    stale_file.write_bytes(b"\0" * 1000)
    stale_dir = tmp_path / f".run.{DEAD_PID}-xyz.tmp"
    stale_dir.mkdir()
    (stale_dir / "model.npz").write_bytes(b"partial")
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", out, *FAST_TRAIN, "--epochs", "1")
    assert res.rc == 0, res.stderr
    assert not stale_file.exists() and not stale_dir.exists()
    assert sorted(p.name for p in out.iterdir()) == ["cells.h5ad", "model.npz", "training_log.tsv"]


def test_interrupted_swap_restores_the_previous_outputs(trained, tmp_path):
    """A run killed between moving the old outputs aside and moving the new ones in."""
    from cellspace.atomic import remove_stale

    out = tmp_path / "run"
    out.mkdir()
    (out / "model.npz").write_bytes(b"old model")
    aside = tmp_path / f".run.{DEAD_PID}-ab12.old"
    out.rename(aside)
    remove_stale(out)
    assert (out / "model.npz").read_bytes() == b"old model" and not aside.exists()


def test_table_larger_than_memory_is_a_usage_error(sim_h5ads, tmp_path):
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", tmp_path / "run", "--dim", "100000")
    assert res.rc == 2
    assert "needs about" in res.error_line() and "GB of memory" in res.error_line()
    assert not (tmp_path / "run").exists()


def test_k_too_large_for_training_is_a_usage_error_before_any_allocation(sim_h5ads, tmp_path):
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", tmp_path / "run", "--k", "14")
    assert res.rc == 2
    assert "k = 14 needs a 1 GiB k-mer index; use k <= 13" in res.error_line()
    assert "dataset" not in res.stderr  # refused before the inputs are read
    assert not (tmp_path / "run").exists()


def test_resume_beyond_epochs_is_refused_and_keeps_outputs(trained, sim_h5ads):
    before = snapshot(trained)
    res = run_step("train_cellspace", *_inputs(sim_h5ads), "--out", trained, *FAST_TRAIN, "--epochs", "1",
                   "--checkpoint-every", "1", "--resume")
    assert res.rc == 2
    assert "beyond --epochs 1" in res.error_line()
    assert snapshot(trained) == before
