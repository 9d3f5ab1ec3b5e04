"""ANALYZE (steps/analyze.py, bin/analyze.py): clusters, UMAP, plots, checks before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cellspace.analysis.synthetic import blob_cells, planted_motif_model
from cellspace.analysis.validate import check_same_run, read_cells
from cellspace.errors import InputError
from cellspace.io import write_h5ad
from cellspace.steps.analyze import AnalyzeParams, analyze, select_motifs


def analyze_cells(cells, out, **kwargs):
    return analyze(AnalyzeParams(cells=Path(cells), out=Path(out), **kwargs))


@pytest.fixture()
def cells_file(tmp_path):
    adata = blob_cells(n_cells=400, n_types=4, n_batches=2, seed=1)
    path = tmp_path / "cells.h5ad"
    write_h5ad(adata, path)
    return path, adata


@pytest.mark.slow  # umap-learn compiles its layout code with numba on first use (~20-40 s)
def test_analyze_writes_clusters_umap_and_plots(cells_file, tmp_path):
    path, truth = cells_file
    out = tmp_path / "out"
    adata = analyze_cells(path, out, n_clusters=4, n_neighbors=15)
    res = read_cells(out / "cells.h5ad")
    assert res.obs["leiden"].nunique() == 4
    assert adjusted_rand_score(truth.obs["cell_type"], res.obs["leiden"]) > 0.95
    assert res.obsm["X_umap"].shape == (400, 2)
    assert res.obsp["connectivities"].shape == (400, 400)
    assert res.uns["leiden"]["params"]["n_clusters"] == 4
    assert res.uns["neighbors"]["params"]["n_neighbors"] == 15
    tsv = pd.read_csv(out / "clusters.tsv", sep="\t", index_col=0)
    assert list(tsv.index) == list(adata.obs_names)
    for png in ("umap_leiden.png", "umap_cell_type.png", "umap_batch.png"):
        assert (out / png).stat().st_size > 1000
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_analyze_clusters_match_cell_types_at_requested_count(cells_file, tmp_path):
    path, truth = cells_file
    res = analyze_cells(path, tmp_path / "o", n_clusters=4, n_neighbors=15, umap=False)
    assert res.obs["leiden"].nunique() == 4
    assert adjusted_rand_score(truth.obs["cell_type"], res.obs["leiden"]) > 0.95
    back = read_cells(tmp_path / "o" / "cells.h5ad")
    assert back.uns["leiden"]["params"]["n_clusters"] == 4
    assert back.obsp["connectivities"].nnz > 0 and back.obsp["distances"].shape == (400, 400)


def test_cli_analyze_without_umap_and_louvain(cells_file, tmp_path):
    from cellspace.cli import main

    path, _ = cells_file
    out = tmp_path / "o2"
    rc = main(["analyze", "--cells", str(path), "--out", str(out), "--method", "louvain",
               "--resolution", "0.5", "--no-umap", "--min-cluster-size", "5"])
    assert rc == 0
    res = read_cells(out / "cells.h5ad")
    assert "louvain" in res.obs
    assert res.obs["louvain"].value_counts().min() >= 5
    assert not (out / "umap.tsv").exists()


def test_cli_reports_missing_embedding_as_one_line(tmp_path, capsys):
    from cellspace.cli import main

    adata = blob_cells(n_cells=50)
    del adata.obsm["X_cellspace"]
    p = tmp_path / "bad.h5ad"
    write_h5ad(adata, p)
    rc = main(["analyze", "--cells", str(p), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert "X_cellspace" in err and str(p) in err and "\n" not in err


def test_model_and_cells_of_different_runs_are_rejected():
    model, adata = planted_motif_model({"a": ["ACGTACGTAC"], "b": ["TTTTGGGGCC"]}, n_cells_per_type=5)
    check_same_run(model, adata)
    adata.uns["cellspace"]["run_id"] = "other"
    with pytest.raises(InputError, match="training run"):
        check_same_run(model, adata)
    adata.uns["cellspace"]["run_id"] = model.run_id
    sub = adata[::-1].copy()
    with pytest.raises(InputError, match="cell ids differ"):
        check_same_run(model, sub)


def test_select_motifs_prefers_cluster_specific_high_scores():
    z = np.zeros((6, 4))
    z[:3, 2] = 3.0  # strong in cluster 0
    z[3:, 0] = 1.0  # weaker in cluster 1
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert select_motifs(z, labels, 2).tolist() == [2, 0]


def test_unknown_color_by_fails_before_any_work(cells_file, tmp_path):
    from stepcli import run_step

    path, _ = cells_file
    out = tmp_path / "o"
    res = run_step("analyze", "--cells", path, "--out", out, "--color-by", "nosuch")
    assert res.rc == 2
    assert "--color-by: no obs column 'nosuch'" in res.error_line()
    assert not out.exists()


def test_more_clusters_than_cells_is_a_usage_error(cells_file, tmp_path):
    from stepcli import run_step

    path, _ = cells_file
    res = run_step("analyze", "--cells", path, "--out", tmp_path / "o", "--n-clusters", "1000", "--no-umap")
    assert res.rc == 2
    assert "--n-clusters 1000 is more than the 400 cells" in res.error_line()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("resolution", ["50", "1000"])
def test_high_resolution_finishes(cells_file, tmp_path, resolution):
    """Leiden runs a bounded number of iterations: a huge resolution ends (many small clusters)."""
    from stepcli import run_step

    path, _ = cells_file
    out = tmp_path / "o"
    res = run_step("analyze", "--cells", path, "--out", out, "--resolution", resolution, "--no-umap",
                   timeout=120)
    assert res.rc == 0, res.stderr
    n = pd.read_csv(out / "clusters.tsv", sep="\t")["cluster"].nunique()
    assert n > 20


def test_rerun_replaces_outputs_as_a_unit(cells_file, tmp_path):
    path, _ = cells_file
    out = tmp_path / "o"
    analyze_cells(path, out, n_clusters=4, n_neighbors=15, umap=False)
    first = (out / "clusters.tsv").read_text()
    analyze_cells(path, out, n_clusters=3, n_neighbors=15, umap=False)
    assert (out / "clusters.tsv").read_text() != first
    assert sorted(p.name for p in out.iterdir()) == ["cells.h5ad", "clusters.tsv"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
