"""BENCH_SCORE (steps/bench_score.py, bin/bench_score.py)."""

from __future__ import annotations

import pandas as pd
from stepcli import run_step


def test_scores_every_method_of_one_file(embedding_files, tmp_path):
    out, per = tmp_path / "s.tsv", tmp_path / "pl.tsv"
    res = run_step("bench_score", "--h5ad", embedding_files["all"], "--methods", "good", "noisy",
                   "--label-key", "cell_type", "--batch-key", "batch", "--label-exclude", "unknown",
                   "--out", out, "--per-label", per)
    assert res.rc == 0, res.stderr
    s = pd.read_csv(out, sep="\t").set_index("method")
    assert list(s.index) == ["good", "noisy"]
    assert s.loc["good", "ari"] > 0.9 and s.loc["good", "ari"] > s.loc["noisy", "ari"]
    assert s.loc["good", "overall_score"] > s.loc["noisy", "overall_score"]
    pl = pd.read_csv(per, sep="\t")
    assert len(pl) == 2 * 3  # two methods x three cell types ('unknown' excluded)


def test_files_of_separate_runs_score_as_one_file(embedding_files, tmp_path):
    """The methods' own files (cells in another order) and the trained cells (extra cells) give
    the scores of the file that holds every embedding."""
    common = ["--label-key", "cell_type", "--batch-key", "batch", "--label-exclude", "unknown"]
    res = run_step("bench_score", "--h5ad", embedding_files["all"], "--methods", "cellspace", "good", "noisy",
                   *common, "--out", tmp_path / "one.tsv")
    assert res.rc == 0, res.stderr
    res = run_step("bench_score", "--h5ad", embedding_files["good"], embedding_files["noisy"],
                   "--cells", embedding_files["cells"], *common, "--out", tmp_path / "runs.tsv")
    assert res.rc == 0, res.stderr
    one = pd.read_csv(tmp_path / "one.tsv", sep="\t").set_index("method").sort_index()
    runs = pd.read_csv(tmp_path / "runs.tsv", sep="\t").set_index("method").sort_index()
    assert list(runs.index) == ["cellspace", "good", "noisy"]  # cellspace from --cells
    pd.testing.assert_frame_equal(one, runs)


def test_missing_label_column_and_missing_cells_name_the_file(embedding_files, tmp_path):
    out = tmp_path / "s.tsv"
    res = run_step("bench_score", "--h5ad", embedding_files["good"], "--label-key", "celltype", "--out", out)
    assert res.rc == 1
    assert f"{embedding_files['good']}: label column 'celltype' not in obs" in res.error_line()
    # the trained cells lack none of the cells, but a method file must hold all of the first's
    res = run_step("bench_score", "--h5ad", embedding_files["cells"], embedding_files["good"],
                   "--label-key", "cell_type", "--out", out)
    assert res.rc == 1
    assert f"{embedding_files['good']}: 5 cells of {embedding_files['cells']} missing" in res.error_line()
    assert not out.exists()
