"""BENCH_BOOTSTRAP_MERGE (steps/bench_bootstrap_merge.py, bin/bench_bootstrap_merge.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from stepcli import run_step, snapshot

from cellspace.cli import main

COMMON = ["--label-key", "cell_type", "--batch-key", "batch", "--label-exclude", "unknown",
          "--methods", "cellspace", "good", "noisy", "--n-replicates", "6", "--seed", "3"]
TABLES = ("scores_replicates.tsv", "per_label_replicates.tsv", "observed.tsv", "summary.tsv",
          "pairwise.tsv", "per_label_summary.tsv")


@pytest.fixture(scope="module")
def runs(embedding_files, tmp_path_factory):
    """A whole run of 6 replicates and chunks 0:2, 2:5, 5:6 and the overlapping 4:6
    (through ``cellspace benchmark bootstrap``, the same step)."""
    root = tmp_path_factory.mktemp("bootstrap")
    h5 = ["--h5ad", str(embedding_files["all"])]
    assert main(["benchmark", "bootstrap", *h5, *COMMON, "--out", str(root / "whole")]) == 0
    for spec in ("0:2", "2:5", "5:6", "4:6"):
        assert main(["benchmark", "bootstrap", *h5, *COMMON, "--no-plots", "--out", str(root / "parts"),
                     "--replicates", spec]) == 0
    return root


def test_merged_chunks_equal_the_whole_run(runs, tmp_path):
    parts = runs / "parts"
    good = [parts / n for n in ("chunk_000000-000002", "chunk_000002-000005", "chunk_000005-000006")]
    res = run_step("bench_bootstrap_merge", "--out", tmp_path / "merged", "--chunks", *good)
    assert res.rc == 0, res.stderr
    for name in TABLES:
        assert (runs / "whole" / name).read_bytes() == (tmp_path / "merged" / name).read_bytes(), name
    for name in ("scores.png", "pvalues_overall_score.png", "per_label_batch.png"):
        assert (tmp_path / "merged" / name).stat().st_size > 1000
    scores = pd.read_csv(tmp_path / "merged" / "scores_replicates.tsv", sep="\t")
    assert sorted(scores.replicate.unique()) == list(range(6)) and len(scores) == 18


def test_overlapping_or_missing_replicates_are_refused(runs, tmp_path):
    parts = runs / "parts"
    res = run_step("bench_bootstrap_merge", "--out", tmp_path / "m", "--chunks", *sorted(parts.iterdir()))
    assert res.rc == 1 and "replicate 4 is in more than one chunk" in res.error_line()
    res = run_step("bench_bootstrap_merge", "--out", tmp_path / "m", "--chunks",
                   parts / "chunk_000000-000002", parts / "chunk_000004-000006")
    assert res.rc == 1 and "2 replicate(s) missing (first: 2) of 6" in res.error_line()
    assert not (tmp_path / "m").exists()


def test_a_folder_holding_other_files_is_not_replaced(runs, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    parts = runs / "parts"
    res = run_step("bench_bootstrap_merge", "--out", out, "--no-plots", "--chunks",
                   parts / "chunk_000000-000002", parts / "chunk_000002-000005", parts / "chunk_000005-000006")
    assert res.rc == 1 and "holds 'notes.txt'" in res.error_line()
    assert snapshot(out) == before
