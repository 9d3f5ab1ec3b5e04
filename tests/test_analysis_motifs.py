"""Motif files, motif embedding (consensus and ensemble) and TF activity scores."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from cellspace.analysis.motif_db import (
    Motif,
    format_jaspar,
    format_meme,
    guess_format,
    read_motif_file,
)
from cellspace.analysis.motifs import (
    embed_motifs,
    group_means,
    motif_kmer_weights,
    motif_scores_for_cells,
    planted_ranks,
    window_kmers,
    zscore_columns,
)
from cellspace.analysis.synthetic import planted_motif_model
from cellspace.errors import InputError
from cellspace.kmers import encode, kmer_row_table
from cellspace.model import l2_normalize

JASPAR_TEXT = """>MA0004.1\tArnt
A  [ 4 19  0  0  0  0 ]
C  [16  0 20  0  0  0 ]
G  [ 0  1  0 20  0 20 ]
T  [ 0  0  0  0 20  0 ]
>MA9999.1 TEST
A [ 10 0 0 ]
C [ 0 10 0 ]
G [ 0 0 10 ]
T [ 0 0 0 ]
"""

MEME_TEXT = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF M1 GATA
letter-probability matrix: alength= 4 w= 4 nsites= 20 E= 0
 0.9 0.0 0.1 0.0
 0.0 0.0 0.0 1.0
 1.0 0.0 0.0 0.0
 0.0 0.0 1.0 0.0

MOTIF M2
letter-probability matrix: alength= 4 w= 2
 0.25 0.25 0.25 0.25
 0.1 0.2 0.3 0.4
"""

HOMER_TEXT = """>CACGTG\tArnt(bHLH)/Test/Homer\t6.5\t-1.0\t0\tT:0
0.2\t0.8\t0.0\t0.0
0.95\t0.0\t0.05\t0.0
0.0\t1.0\t0.0\t0.0
>AGATAA\tGata1(Zf)/K562-GATA1-ChIP-Seq/Homer\t7.0
0.7 0.1 0.1 0.1
0.0 0.0 1.0 0.0
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_jaspar_file_is_parsed_into_width_by_4_counts(tmp_path):
    motifs = read_motif_file(write(tmp_path, "m.jaspar", JASPAR_TEXT))
    assert [m.id for m in motifs] == ["MA0004.1", "MA9999.1"]
    assert motifs[0].name == "Arnt" and motifs[0].width == 6
    assert motifs[0].consensus == "CACGTG"
    assert motifs[0].counts[1].tolist() == [19, 0, 1, 0]
    assert motifs[1].name == "TEST" and motifs[1].consensus == "ACG"


def test_meme_and_homer_files_are_parsed(tmp_path):
    meme = read_motif_file(write(tmp_path, "m.meme", MEME_TEXT))
    assert [(m.id, m.name, m.width) for m in meme] == [("M1", "GATA", 4), ("M2", "M2", 2)]
    assert meme[0].consensus == "ATAG"
    homer = read_motif_file(write(tmp_path, "m.motif", HOMER_TEXT))
    assert [m.name for m in homer] == ["Arnt(bHLH)", "Gata1(Zf)"]
    assert homer[0].consensus == "CAC" and homer[1].width == 2


def test_format_is_guessed():
    assert guess_format(JASPAR_TEXT.splitlines()) == "jaspar"
    assert guess_format(MEME_TEXT.splitlines()) == "meme"
    assert guess_format(HOMER_TEXT.splitlines()) == "homer"


@pytest.mark.parametrize(
    "fmt,text,line,needle",
    [
        ("jaspar", ">M1 x\nA [1 2]\nC [1 2]\nG [1 x]\nT [1 2]\n", 4, "expected numbers"),
        ("jaspar", ">M1 x\nA [1 2]\nC [1 2]\nG [1 2]\n>M2\n", 1, "expected 4 rows"),
        ("jaspar", ">M1 x\nA [1 2]\nC [1 2 3]\nG [1 2]\nT [1 2]\n", 2, "different"),
        ("jaspar", "A [1 2]\n", 1, "before any"),
        ("meme", "MEME version 4\n\nMOTIF M1\nletter-probability matrix: w= 3\n0.1 0.2 0.3 0.4\n0.1 0.2 0.3\n", 6, "expected 4"),
        ("meme", "MEME version 4\nMOTIF M1\nletter-probability matrix: w= 3\n0.1 0.2 0.3 0.4\n\n", 2, "w= 3"),
        ("homer", ">ACG\tname\t5\n0.1 0.2 0.3\n", 2, "expected 4 values"),
        ("homer", ">ACG\tname\t5\n0.1 0.2 -0.3 0.1\n", 2, ">= 0"),
    ],
)
def test_parse_errors_name_file_and_line(tmp_path, fmt, text, line, needle):
    p = write(tmp_path, f"bad.{fmt}", text)
    with pytest.raises(InputError) as e:
        read_motif_file(p, fmt)
    msg = str(e.value)
    assert str(p) in msg and f"line {line}:" in msg and needle in msg


def test_empty_or_missing_motif_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no motifs"):
        read_motif_file(write(tmp_path, "e.txt", "\n# nothing\n"), "jaspar")
    with pytest.raises(InputError, match="not found"):
        read_motif_file(tmp_path / "nope.meme")


def test_written_motifs_read_back_identically(tmp_path):
    ms = read_motif_file(write(tmp_path, "m.jaspar", JASPAR_TEXT))
    back = read_motif_file(write(tmp_path, "w.jaspar", format_jaspar(ms)))
    assert all(np.array_equal(a.counts, b.counts) and a.id == b.id for a, b in zip(ms, back, strict=True))
    meme = read_motif_file(write(tmp_path, "w.meme", format_meme(ms)))
    for a, b in zip(ms, meme, strict=True):
        np.testing.assert_allclose(a.probabilities(0), b.probabilities(0), atol=1e-6)


def test_window_kmers_matches_brute_force_enumeration():
    rng = np.random.default_rng(0)
    lo = rng.normal(size=(5, 4))
    codes, scores = window_kmers(lo, 0.75, max_kmers=10_000)
    allc = np.array(list(itertools.product(range(4), repeat=5)))
    s = lo[np.arange(5), allc].sum(axis=1)
    thr = lo.min(1).sum() + 0.75 * (lo.max(1).sum() - lo.min(1).sum())
    expect = set((allc[s >= thr - 1e-9] @ 4 ** np.arange(4, -1, -1)).tolist())
    assert set(codes.tolist()) == expect
    assert np.all(np.diff(scores) <= 1e-12)
    top, _ = window_kmers(lo, 0.0, max_kmers=3)
    assert top.tolist() == (allc[np.argsort(-s)[:3]] @ 4 ** np.arange(4, -1, -1)).tolist()


def test_consensus_embedding_is_normalised_sum_of_consensus_kmer_rows():
    model, _ = planted_motif_model({"a": ["ACGTTGCAAT"]}, n_cells_per_type=3, k=4, dim=8)
    m = Motif("X", "X", np.eye(4)[[0, 1, 2, 3, 3, 2, 1, 0]] * 10 + 0.1)  # consensus ACGTTGCA
    v = embed_motifs(model, [m], method="consensus")[0]
    seq = "ACGTTGCA"
    rows = [kmer_row_table(4)[encode(seq[i : i + 4])] for i in range(5)]
    np.testing.assert_allclose(v, l2_normalize(model.kmer_vectors[rows].sum(axis=0)), atol=1e-6)


def test_ensemble_of_a_sharp_pwm_equals_consensus_and_weights_sum_to_windows():
    sharp = Motif("S", "S", np.eye(4)[[0, 1, 2, 3, 3, 2, 1, 0]] * 1000)
    rows_c, w_c = motif_kmer_weights(sharp, 4, "consensus")
    rows_e, w_e = motif_kmer_weights(sharp, 4, "ensemble", rel_threshold=0.9)
    assert set(rows_c) == set(rows_e)
    assert w_e.sum() == pytest.approx(5.0)  # 8 - 4 + 1 windows, each normalised to 1
    soft = Motif("P", "P", np.array([[8, 1, 1, 0], [0, 9, 0, 1], [1, 1, 8, 0], [0, 0, 1, 9], [5, 5, 0, 0]], float))
    rows_s, w_s = motif_kmer_weights(soft, 4, "ensemble", rel_threshold=0.7)
    assert len(rows_s) > 2 and w_s.sum() == pytest.approx(2.0)


def test_short_motif_is_embedded_through_padding():
    short = Motif("S", "S", np.eye(4)[[0, 1, 2]] * 10)
    for method in ("consensus", "ensemble"):
        rows, w = motif_kmer_weights(short, 5, method)
        assert w.sum() == pytest.approx(1.0)
        assert len(rows) >= 8


def test_zscores_are_centred_and_unit_sd_per_motif():
    x = np.random.default_rng(1).normal(size=(50, 3)) * [1, 5, 0]
    z = zscore_columns(x)
    np.testing.assert_allclose(z[:, :2].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, :2].std(0, ddof=1), 1, atol=1e-5)
    assert np.all(z[:, 2] == 0)


def test_planted_motifs_score_highest_in_their_cell_type():
    planted = {"t1": ["ACGTTGCAAT"], "t2": ["GGGACCCATT"], "t3": ["TTAGCATGCA"]}
    model, adata = planted_motif_model(planted, k=5, dim=24, noise=0.4)
    motifs = [Motif(f"M{i}", t, np.eye(4)[["ACGT".index(c) for c in s[0]]] * 20 + 1)
              for i, (t, s) in enumerate(planted.items())]
    rng = np.random.default_rng(5)
    motifs += [Motif(f"R{i}", f"rand{i}", rng.dirichlet(np.ones(4) * 0.3, size=10) * 20) for i in range(30)]
    for method in ("consensus", "ensemble"):
        s = motif_scores_for_cells(model, motifs, adata.obsm["X_cellspace"], adata.obs_names, method=method)
        assert s.shape == (adata.n_obs, 33)
        means = group_means(s.X, adata.obs["cell_type"], s.var_names)
        ranks = planted_ranks(means, {t: [t] for t in planted}, s.var["name"].astype(str).tolist())
        assert ranks["rank"].tolist() == [1, 1, 1], method


def test_planted_ranks_count_best_matrix_of_a_tf_case_insensitively():
    means = pd.DataFrame([[0.1, 0.9, 0.5]], index=["g"], columns=["a", "b", "c"])
    r = planted_ranks(means, {"g": ["GATA1", "XYZ"]}, ["Gata1", "foo", "GATA1"])
    assert r["rank"].tolist() == [2, -1]


def test_cli_motifs_writes_scores_tables_and_heatmap(tmp_path):
    import anndata as ad

    from cellspace.cli import main
    from cellspace.io import write_h5ad

    planted = {"t1": ["ACGTTGCAAT"], "t2": ["GGGACCCATT"]}
    model, adata = planted_motif_model(planted, k=5, dim=16, n_cells_per_type=30)
    model.save(tmp_path / "model.npz")
    write_h5ad(adata, tmp_path / "cells.h5ad")
    mfile = write(tmp_path, "db.jaspar", JASPAR_TEXT + format_jaspar(
        [Motif("P1", "t1", np.eye(4)[["ACGT".index(c) for c in "ACGTTGCAAT"]] * 20)]))
    out = tmp_path / "mot"
    rc = main(["motifs", "--model", str(tmp_path / "model.npz"), "--cells", str(tmp_path / "cells.h5ad"),
               "--motif-file", str(mfile), "--out", str(out), "--top", "2", "--scores-tsv"])
    assert rc == 0
    s = ad.read_h5ad(out / "motif_scores.h5ad")
    assert s.shape == (60, 3) and s.varm["embedding"].shape == (3, 16)
    assert list(s.obs_names) == list(adata.obs_names)
    top = pd.read_csv(out / "top_motifs_by_cell_type.tsv", sep="\t")
    assert top[(top.group == "t1") & (top["rank"] == 1)]["motif_id"].item() == "P1"
    tsv = pd.read_csv(out / "motif_scores.tsv", sep="\t", index_col=0)
    np.testing.assert_allclose(tsv.to_numpy(), s.X, atol=1e-3)
    assert (out / "top_motifs_by_cell_type.png").stat().st_size > 1000


def test_cli_motifs_rejects_cells_of_another_run(tmp_path, capsys):
    from cellspace.cli import main
    from cellspace.io import write_h5ad

    model, adata = planted_motif_model({"t1": ["ACGTTGCAAT"]}, k=5, dim=8, n_cells_per_type=10)
    model.save(tmp_path / "model.npz")
    adata.uns["cellspace"]["run_id"] = "another-run"
    write_h5ad(adata, tmp_path / "cells.h5ad")
    rc = main(["motifs", "--model", str(tmp_path / "model.npz"), "--cells", str(tmp_path / "cells.h5ad"),
               "--motif-file", str(write(tmp_path, "db.jaspar", JASPAR_TEXT)), "--out", str(tmp_path / "o")])
    assert rc == 1
    assert "another-run" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
