"""BENCH_RUN_METHOD (steps/bench_run_method.py, bin/bench_run_method.py)."""

from __future__ import annotations

import anndata as ad
import pandas as pd
from stepcli import run_step


def test_writes_each_methods_embedding_and_timings(toy_atac_h5ad, tmp_path):
    out, timings = tmp_path / "emb.h5ad", tmp_path / "t.tsv"
    res = run_step("bench_run_method", "--h5ad", toy_atac_h5ad, "--out", out, "--method", "lsi",
                   "--method", "lsi_harmony", "--batch-key", "batch", "--param", "n_components=8",
                   "--timings", timings)  # memory measured in a spawned child, as in the pipeline
    assert res.rc == 0, res.stderr
    a = ad.read_h5ad(out)
    assert a.n_obs == 150 and a.n_vars == 120 and "sequence" in a.var  # the input travels on
    assert a.obsm["X_lsi"].shape[0] == 150 and 2 <= a.obsm["X_lsi"].shape[1] <= 8
    assert set(a.uns["bench_runs"]) == {"lsi", "lsi_harmony"}
    t = pd.read_csv(timings, sep="\t")
    assert t["method"].tolist() == ["lsi", "lsi_harmony"] and (t["seconds"] > 0).all()
    assert (t["n_cells"] == 150).all() and (t["memory_mode"] == "child").all()


def test_unknown_method_or_parameter_is_a_usage_error_before_reading(tmp_path):
    out = tmp_path / "emb.h5ad"
    missing = tmp_path / "absent.h5ad"  # never read: the names are checked first
    res = run_step("bench_run_method", "--h5ad", missing, "--out", out, "--method", "nope")
    assert res.rc == 2 and "unknown method 'nope'" in res.error_line()
    res = run_step("bench_run_method", "--h5ad", missing, "--out", out, "--method", "lsi",
                   "--param", "bogus=1")
    assert res.rc == 2 and "has no parameter(s) bogus" in res.error_line()
    assert not out.exists()


def test_missing_batch_column_is_one_line_and_writes_nothing(toy_atac_h5ad, tmp_path):
    out = tmp_path / "emb.h5ad"
    res = run_step("bench_run_method", "--h5ad", toy_atac_h5ad, "--out", out, "--method", "lsi_harmony",
                   "--batch-key", "donor")
    assert res.rc == 1 and "donor" in res.error_line()
    assert not out.exists() and not list(tmp_path.iterdir())
