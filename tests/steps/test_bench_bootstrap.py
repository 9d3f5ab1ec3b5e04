"""BENCH_BOOTSTRAP (steps/bench_bootstrap.py, bin/bench_bootstrap.py)."""

from __future__ import annotations

import json

import pandas as pd
from stepcli import run_step

COMMON = ["--label-key", "cell_type", "--batch-key", "batch", "--label-exclude", "unknown",
          "--n-replicates", "4", "--seed", "3"]


def test_a_chunk_from_the_runs_files_equals_one_from_a_single_file(embedding_files, tmp_path):
    """As the pipeline calls it: the methods' files plus the trained cells, one chunk of two."""
    res = run_step("bench_bootstrap", "--h5ad", embedding_files["good"], embedding_files["noisy"],
                   "--cells", embedding_files["cells"], *COMMON, "--chunk", "1", "--n-chunks", "2",
                   "--out", tmp_path / "runs")
    assert res.rc == 0, res.stderr
    chunk = tmp_path / "runs" / "chunk_000002-000004"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [chunk.name]
    meta = json.loads((chunk / "meta.json").read_text())
    assert meta["methods"] == ["cellspace", "good", "noisy"] and meta["replicates"] == [2, 4]
    assert meta["n_cells"] == 86 and meta["n_excluded"] == 4
    scores = pd.read_csv(chunk / "scores_replicates.tsv", sep="\t")
    assert sorted(scores["replicate"].unique()) == [2, 3] and len(scores) == 6

    res = run_step("bench_bootstrap", "--h5ad", embedding_files["all"], "--methods", "cellspace", "good",
                   "noisy", *COMMON, "--replicates", "2:4", "--out", tmp_path / "one")
    assert res.rc == 0, res.stderr
    other = tmp_path / "one" / chunk.name
    assert json.loads((other / "meta.json").read_text()) == meta  # same data fingerprint
    for name in ("scores_replicates.tsv", "observed.tsv", "per_label_replicates.tsv"):
        assert (chunk / name).read_bytes() == (other / name).read_bytes(), name


def test_all_replicates_write_the_report(embedding_files, tmp_path):
    out = tmp_path / "report"
    res = run_step("bench_bootstrap", "--h5ad", embedding_files["all"], "--methods", "good", "noisy",
                   *COMMON, "--out", out)
    assert res.rc == 0, res.stderr
    summ = pd.read_csv(out / "summary.tsv", sep="\t")
    ov = summ[summ.score == "overall_score"].set_index("method")
    assert ov.loc["good", "observed"] > ov.loc["noisy", "observed"]
    assert (ov["ci_low"] <= ov["ci_high"]).all()
    assert (out / "scores.png").stat().st_size > 1000


def test_bad_replicate_options_are_usage_errors_before_reading(tmp_path):
    absent = tmp_path / "absent.h5ad"
    for extra, msg in ((["--n-replicates", "1"], "--n-replicates must be >= 2"),
                       (["--chunk", "3", "--n-chunks", "2"], "chunk must be in [0, 2), got 3"),
                       (["--chunk", "0"], "--chunk and --n-chunks go together"),
                       (["--replicates", "3:9", "--n-replicates", "5"], "outside 0:5")):
        res = run_step("bench_bootstrap", "--h5ad", absent, "--label-key", "cell_type",
                       "--out", tmp_path / "o", *extra)
        assert res.rc == 2 and msg in res.error_line(), (extra, res.stderr)
    assert not (tmp_path / "o").exists()
