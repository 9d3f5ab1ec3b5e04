"""SELECT_FEATURES (steps/select_features.py, bin/select_features.py)."""

from __future__ import annotations

import anndata as ad


def test_keeps_the_requested_number_of_events(sim_h5ads, tmp_path):
    from stepcli import run_step

    out = tmp_path / "sel.h5ad"
    res = run_step("select_features", "--h5ad", sim_h5ads[0], "--out", out, "--n-features", "100",
                   "--n-components", "10")
    assert res.rc == 0, res.stderr
    a = ad.read_h5ad(out)
    assert a.n_vars == 100 and a.uns["select_features"]["n_features"] == 100
    assert "sequence" in a.var


def test_too_many_components_is_a_usage_error_before_work(sim_h5ads, tmp_path):
    from stepcli import run_step

    out = tmp_path / "sel.h5ad"
    res = run_step("select_features", "--h5ad", sim_h5ads[0], "--out", out, "--n-features", "100",
                   "--n-components", "5000")
    assert res.rc == 2
    assert "--n-components 5000 must be below" in res.error_line()
    assert not out.exists()
