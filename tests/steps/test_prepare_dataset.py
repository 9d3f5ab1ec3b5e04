"""PREPARE_DATASET through bin/prepare_dataset.py: one .h5ad, atomic, one-line errors."""

from __future__ import annotations

import os

import anndata as ad
import pytest
from stepcli import run_step, siblings


def test_prepares_an_h5ad(sim_h5ads, tmp_path):
    out = tmp_path / "a.h5ad"
    res = run_step("prepare_dataset", "--h5ad", sim_h5ads[0], "--dataset", "a", "--out", out)
    assert res.rc == 0, res.stderr
    a = ad.read_h5ad(out)
    assert a.n_obs == ad.read_h5ad(sim_h5ads[0], backed="r").n_obs
    assert "sequence" in a.var and set(a.obs["dataset"]) == {"a"}


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not apply to root")
def test_out_in_a_read_only_folder(sim_h5ads, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = run_step("prepare_dataset", "--h5ad", sim_h5ads[0], "--out", ro / "sub" / "a.h5ad")
    finally:
        ro.chmod(0o755)
    assert res.rc == 1
    assert "not writable" in res.error_line()
    assert list(ro.iterdir()) == []


def test_out_is_a_folder(sim_h5ads, tmp_path):
    res = run_step("prepare_dataset", "--h5ad", sim_h5ads[0], "--out", tmp_path)
    assert res.rc == 1
    assert "is a folder" in res.error_line()


def test_file_size_limit_keeps_the_previous_file(sim_h5ads, tmp_path):
    out = tmp_path / "a.h5ad"
    out.write_bytes(b"previous")
    res = run_step("prepare_dataset", "--h5ad", sim_h5ads[0], "--out", out, fsize=20_000)
    assert res.rc == 1
    assert "file-size limit" in res.error_line()
    assert out.read_bytes() == b"previous"
    assert siblings(out) == []
