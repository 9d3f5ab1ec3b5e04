"""``cellspace train``, ``embed``, ``export`` and ``import`` end to end through the CLI."""

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import cellspace.cli
from cellspace.io.mtx import write_mtx_pair
from cellspace.kmers import kmer_names
from cellspace.model import CellSpaceModel
from cellspace.simulate import small_simulation

FAST = ["--epochs", "2", "--dim", "8", "--bucket", "5000", "--examples-per-event", "3", "--threads", "1"]


@pytest.fixture(autouse=True)
def _log_level(caplog):
    caplog.set_level("INFO")
    return caplog


def run_cli(argv, capsys):
    """Run the CLI; returns (exit code, stderr + log records of this call)."""
    import logging

    capsys.readouterr()
    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Grab(level=logging.INFO)
    logging.getLogger().addHandler(handler)
    try:
        rc = cellspace.cli.main([str(a) for a in argv])
    except SystemExit as e:
        rc = int(e.code or 0)
    finally:
        logging.getLogger().removeHandler(handler)
    err = capsys.readouterr().err
    return rc, err + "\n".join(records)


def capsys_err_lines(err: str) -> list[str]:
    """Lines printed by the CLI itself (log records of the readers are not errors)."""
    return [ln for ln in err.splitlines() if ln.startswith("cellspace ")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    sim = small_simulation(1, n_cells=150, n_events=300, n_datasets=2)
    paths = []
    for ds in sim.datasets:
        mtx, fa = folder / f"{ds.name}.mtx.gz", folder / f"{ds.name}.fa.gz"
        write_mtx_pair(ds.events.T.tocsr(), mtx, fa, sequences=list(ds.sequences), event_ids=list(ds.event_ids))
        obs = folder / f"{ds.name}.obs.tsv"
        ds.obs.reset_index().to_csv(obs, sep="\t", index=False)
        paths.append((mtx, fa, obs, ds))
    return paths


def test_train_two_datasets_writes_cells_and_model(inputs, tmp_path, capsys):
    (m1, f1, o1, d1), (m2, f2, o2, d2) = inputs
    out = tmp_path / "run"
    rc, err = run_cli(["train", "--matrix", m1, "--fasta", f1, "--obs", o1, "--matrix", m2, "--fasta", f2,
                       "--obs", o2, "--batch-key", "donor", "--out", out, *FAST], capsys)
    assert rc == 0, err
    cells = ad.read_h5ad(out / "cells.h5ad")
    assert cells.n_obs == d1.n_cells + d2.n_cells
    assert cells.obsm["X_cellspace"].shape == (cells.n_obs, 8)
    assert np.isfinite(cells.obsm["X_cellspace"]).all()
    assert list(cells.obs["dataset"].astype(str).unique()) == [d1.name, d2.name]
    assert {"cell_type", "donor", "batch"} <= set(cells.obs.columns)
    model = CellSpaceModel.load(out / "model.npz")
    assert model.run_id == cells.uns["cellspace"]["run_id"]
    # the embedding holds the trained rows' directions (unit rows), their lengths in obs
    norms = cells.obs["cellspace_norm"].to_numpy()
    assert np.allclose(np.linalg.norm(cells.obsm["X_cellspace"], axis=1), 1.0, atol=1e-5)
    assert np.allclose(cells.obsm["X_cellspace"] * norms[:, None], model.cell_vectors, atol=1e-6)
    assert model.bucket_vectors.shape == (5000, 8)
    assert sorted(p.name for p in out.iterdir()) == ["cells.h5ad", "model.npz", "training_log.tsv"]
    # an epoch log line with the loss and the speed
    assert "epoch 2/2: mean loss" in err and "examples/s" in err


def test_export_import_round_trip_keeps_every_row(inputs, tmp_path, capsys):
    m1, f1, _, d1 = inputs[0]
    out = tmp_path / "run"
    assert run_cli(["train", "--matrix", m1, "--fasta", f1, "--out", out, *FAST], capsys)[0] == 0
    tsv = tmp_path / "model.tsv"
    assert run_cli(["export", "--model", out / "model.npz", "--format", "tsv", "--out", tsv], capsys)[0] == 0
    table = pd.read_csv(tsv, sep="\t", header=None, index_col=0)
    assert table.shape == (32896 + d1.n_cells, 8)
    assert list(table.index[:3]) == list(kmer_names(8)[:3])
    assert table.index[32896] == "__label__C1" and table.index[-1] == f"__label__C{d1.n_cells}"
    assert run_cli(["import", "--tsv", tsv, "--out", tmp_path / "imp"], capsys)[0] == 0
    a, b = CellSpaceModel.load(out / "model.npz"), CellSpaceModel.load(tmp_path / "imp" / "model.npz")
    np.testing.assert_allclose(a.kmer_vectors, b.kmer_vectors, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.cell_vectors, b.cell_vectors, rtol=1e-5, atol=1e-7)
    # imported cells carry the same run record as trained ones
    trained, imported = (ad.read_h5ad(d / "cells.h5ad").uns["cellspace"] for d in (out, tmp_path / "imp"))
    assert set(imported) == set(trained)
    assert imported["run_id"] == b.run_id and json.loads(imported["params"])["imported_from"] == "model.tsv"


def test_import_accepts_kmers_named_on_either_strand(tmp_path, capsys):
    from cellspace.kmers import encode, kmer_row_table

    lines = ["AAAAAAAA\t1\t0", "TTTTTTTC\t0\t1", "__label__C1\t0.5\t0.5"]  # GAAAAAAA's other strand
    tsv = tmp_path / "m.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    assert run_cli(["import", "--tsv", tsv, "--out", tmp_path / "o"], capsys)[0] == 0
    model = CellSpaceModel.load(tmp_path / "o" / "model.npz")
    row = kmer_row_table(8)[encode("GAAAAAAA")]
    assert list(model.kmer_vectors[row]) == [0, 1]
    assert model.n_cells == 1


def test_embed_sums_canonical_kmer_rows(inputs, tmp_path, capsys):
    m1, f1, _, _ = inputs[0]
    out = tmp_path / "run"
    assert run_cli(["train", "--matrix", m1, "--fasta", f1, "--out", out, *FAST], capsys)[0] == 0
    fa = tmp_path / "q.fa"
    seq = "ACGTTGCAAGGCTTACGATCGATCGGA"
    rc_seq = seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]
    fa.write_text(f">q1\n{seq}\n>q2\n{rc_seq}\n")
    res = tmp_path / "emb.tsv"
    assert run_cli(["embed", "--model", out / "model.npz", "--fasta", fa, "--out", res], capsys)[0] == 0
    emb = pd.read_csv(res, sep="\t", index_col=0)
    assert emb.shape == (2, 8)
    np.testing.assert_allclose(emb.loc["q1"], emb.loc["q2"], atol=1e-5)  # strand-symmetric
    model = CellSpaceModel.load(out / "model.npz")
    from cellspace.kmers import kmer_rows_of

    v = model.kmer_vectors[kmer_rows_of(seq, 8)].sum(axis=0)
    np.testing.assert_allclose(emb.loc["q1"], v / np.linalg.norm(v), atol=1e-5)
    assert np.linalg.norm(emb.to_numpy(), axis=1) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--k", "1"], "k must be an integer in 2..15"), (["--k", "16"], "k must be an integer in 2..15"),
     (["--dim", "1"], "dim must be >= 2"), (["--epochs", "0"], "epochs must be >= 1")],
)
def test_bad_parameters_fail_with_one_line_and_no_output(inputs, tmp_path, capsys, flags, message):
    m1, f1, _, _ = inputs[0]
    out = tmp_path / "run"
    rc, err = run_cli(["train", "--matrix", m1, "--fasta", f1, "--out", out, *FAST, *flags], capsys)
    assert rc == 2
    assert message in err and len(capsys_err_lines(err)) == 1
    assert not out.exists() or list(out.iterdir()) == []


def test_unknown_batch_column_in_train_fails_cleanly(inputs, tmp_path, capsys):
    m1, f1, o1, _ = inputs[0]
    out = tmp_path / "run"
    rc, err = run_cli(["train", "--matrix", m1, "--fasta", f1, "--obs", o1, "--batch-key", "nope",
                       "--out", out, *FAST], capsys)
    assert rc == 1
    assert capsys_err_lines(err) == [ln for ln in err.splitlines() if "unknown batch column 'nope'" in ln]
    assert len(capsys_err_lines(err)) == 1
    assert not out.exists() or list(out.iterdir()) == []


def test_checkpoint_and_resume_through_the_cli(inputs, tmp_path, capsys):
    m1, f1, _, _ = inputs[0]
    a, b = tmp_path / "a", tmp_path / "b"
    base = ["train", "--matrix", m1, "--fasta", f1, *FAST, "--seed", "5"]
    assert run_cli([*base, "--out", a, "--epochs", "4"], capsys)[0] == 0
    # b: two epochs with checkpoints, then resume to four
    assert run_cli([*base, "--out", b, "--epochs", "2", "--checkpoint-every", "1"], capsys)[0] == 0
    assert (b / "checkpoint.npz").exists()
    rc, err = run_cli([*base, "--out", b, "--epochs", "4", "--checkpoint-every", "1", "--resume"], capsys)
    assert rc == 0 and "resuming" in err and "epoch 3/4" in err and "epoch 1/4" not in err
    ma, mb = CellSpaceModel.load(a / "model.npz"), CellSpaceModel.load(b / "model.npz")
    assert ma.params["epochs_trained"] == mb.params["epochs_trained"] == 4
    assert np.isfinite(mb.cell_vectors).all()


def test_help_documents_every_training_flag():
    parser = cellspace.cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    text = sub.format_help()
    for flag in ["--dim", "--ngrams", "--k", "--sample-len", "--examples-per-event", "--epochs", "--margin",
                 "--bucket", "--lr", "--neg-search-limit", "--max-neg-samples", "--init-sd", "--batch-size",
                 "--threads", "--seed", "--checkpoint-every", "--resume", "--batch-key", "--matrix", "--fasta",
                 "--h5ad", "--tenx", "--genome", "--out"]:
        assert flag in text
    assert "(default: 30)" in text  # defaults are shown


def test_every_listed_subcommand_is_installed():
    import importlib

    for name in cellspace.cli.SUBCOMMANDS:
        if name.startswith("steps."):
            mod = importlib.import_module(f"cellspace.{name}")
            assert callable(mod.add_arguments) and callable(mod.run) and mod.COMMAND
            continue
        mod = importlib.import_module(f"cellspace.cli.{name}")
        assert callable(mod.register) and callable(mod.run)
    assert Path(cellspace.cli.__file__).exists()


def test_embed_gives_nan_without_a_valid_kmer_and_refuses_iupac(inputs, tmp_path, capsys):
    m1, f1, _, _ = inputs[0]
    out = tmp_path / "run"
    assert run_cli(["train", "--matrix", m1, "--fasta", f1, "--out", out, *FAST], capsys)[0] == 0
    fa = tmp_path / "q.fa"
    fa.write_text(">ok\nACGTTGCAAGGCTTACGA\n>alln\nNNNNNNNNNNNN\n>short\nACGT\n")
    res = tmp_path / "emb.tsv"
    rc, log = run_cli(["embed", "--model", out / "model.npz", "--fasta", fa, "--out", res], capsys)
    assert rc == 0
    emb = pd.read_csv(res, sep="\t", index_col=0)
    assert np.isfinite(emb.loc["ok"]).all()
    assert emb.loc[["alln", "short"]].isna().all(axis=None)
    assert "2 sequence(s) have no 8-mer without N" in log
    iupac = tmp_path / "iupac.fa"
    iupac.write_text(">r\nACGTRYACGTACGT\n")
    rc, err = run_cli(["embed", "--model", out / "model.npz", "--fasta", iupac, "--out", tmp_path / "e2.tsv"], capsys)
    assert rc == 1 and "non-ACGTN letter 'R'" in err and str(iupac) in err and "Traceback" not in err
    assert not (tmp_path / "e2.tsv").exists()
