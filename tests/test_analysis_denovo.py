"""De novo motifs: L-mer embedding, exact top-K, sequence clustering, alignment, comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellspace.analysis.denovo import (
    _alignment_table,
    align_to_seed,
    canonical_lmers,
    cluster_lmers,
    compare_motifs,
    decode_many,
    denovo_motifs,
    embed_lmers,
    recovered_tfs,
    topk_columns,
)
from cellspace.analysis.motif_db import Motif
from cellspace.analysis.synthetic import planted_motif_model
from cellspace.kmers import encode, kmer_row_table

PLANTED = {"t1": ["ACGTTGCAATCC"], "t2": ["GGGACCCATTAG"], "t3": ["TTAGCATGCATA"]}


def onehot_motif(name: str, seq: str) -> Motif:
    return Motif(name, name, np.eye(4)[["ACGT".index(c) for c in seq]] * 20 + 1)


def test_canonical_lmers_are_one_per_reverse_complement_pair():
    codes = canonical_lmers(6)
    assert len(codes) == (4**6 + 4**3) // 2
    seqs = set(decode_many(codes, 6))
    assert "AAAAAA" in seqs and "TTTTTT" not in seqs


def test_lmer_embedding_is_mean_of_its_kmer_rows():
    model, _ = planted_motif_model(PLANTED, k=6, dim=8, n_cells_per_type=2)
    seq = "ACGTTGCAAT"
    v = embed_lmers(model, np.array([encode(seq)]), 10)[0]
    rows = [kmer_row_table(6)[encode(seq[i : i + 6])] for i in range(5)]
    np.testing.assert_allclose(v, model.kmer_vectors[rows].mean(axis=0), atol=1e-6)


def test_topk_columns_is_exact():
    x = np.random.default_rng(0).normal(size=(40, 20000)).astype(np.float32)
    got = np.sort(topk_columns(x, 50), axis=1)
    want = np.sort(np.argsort(-x, axis=1)[:, :50], axis=1)
    assert np.array_equal(got, want)


def test_alignment_distance_finds_shift_and_reverse_strand():
    seqs = ["ACGTTGCAAT", "CGTTGCAATG", "ATTGCAACGT"]  # 2nd: shifted by 1; 3rd: reverse complement
    digits = np.array([["ACGT".index(c) for c in s] for s in seqs])
    dist, shift, strand = _alignment_table(digits, 3)
    assert dist[0, 1] == pytest.approx(0.1) and shift[0, 1] == 1 and strand[0, 1] == 0
    assert dist[0, 2] == pytest.approx(0.0) and strand[0, 2] == 1


def test_cluster_and_align_group_similar_words_into_a_pwm():
    words = ["ACGTTGCAAT", "CGTTGCAATG", "ATTGCAACGT", "ACGTTGCAAA", "GGGGGCCCCC", "CCCCCCCCCC"]
    labels, dist, shift, strand = cluster_lmers(words, cut=0.5)
    assert len(set(labels[:4])) == 1 and labels[4] != labels[0] and labels[5] != labels[0]
    members = np.flatnonzero(labels == labels[0])
    counts, seed, rows = align_to_seed(words, members, shift, strand, dist)
    assert counts.sum(axis=1).max() == 4
    assert "GTTGCAA" in Motif("x", "x", counts).consensus
    assert all(len(r) == len(rows[0]) for r in rows)


def test_compare_motifs_finds_the_embedded_motif_with_offset_and_strand():
    target = onehot_motif("T", "GATTACAGGC")
    decoy = onehot_motif("D", "CCCCGGGGAA")
    q = onehot_motif("Q", "TTACAGG")  # target columns 2..8
    res = compare_motifs(q, [decoy, target])
    assert res.loc[0, "target_id"] == "T" and res.loc[0, "strand"] == "+" and res.loc[0, "offset"] == -2
    q_rc = onehot_motif("Q", "CCTGTAA")
    res = compare_motifs(q_rc, [decoy, target])
    assert res.loc[0, "target_id"] == "T" and res.loc[0, "strand"] == "-"
    assert res.loc[0, "similarity"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("selection", ["cells", "contrast"])
def test_denovo_recovers_planted_motifs_of_a_synthetic_embedding(selection):
    model, adata = planted_motif_model(PLANTED, k=6, dim=24, noise=0.3, n_cells_per_type=60)
    rng = np.random.default_rng(1)
    db = [onehot_motif(t, s[0]) for t, s in PLANTED.items()]
    db += [Motif(f"r{i}", f"r{i}", rng.dirichlet(np.ones(4) * 0.3, size=10) * 20) for i in range(40)]
    res = denovo_motifs(model, adata.obsm["X_cellspace"], adata.obs["cell_type"].to_numpy(), database=db,
                        selection=selection)
    assert all(recovered_tfs(res, list(PLANTED), top=1).values())
    assert set(res.group_lmers["group"]) == set(PLANTED)
    for m in res.motifs:
        assert len(m.lmers) >= 4 and m.counts.shape[1] == 4
        assert np.linalg.norm(m.embedding) == pytest.approx(1.0, abs=1e-5)


def test_cli_denovo_writes_motifs_tables_logos_and_scores(tmp_path):
    import anndata as ad

    from cellspace.analysis.motif_db import format_jaspar, read_motif_file
    from cellspace.cli import main
    from cellspace.io import write_h5ad

    model, adata = planted_motif_model(PLANTED, k=6, dim=24, noise=0.3, n_cells_per_type=40)
    model.save(tmp_path / "model.npz")
    write_h5ad(adata, tmp_path / "cells.h5ad")
    dbfile = tmp_path / "db.jaspar"
    dbfile.write_text(format_jaspar([onehot_motif(t, s[0]) for t, s in PLANTED.items()]))
    out = tmp_path / "dn"
    rc = main(["denovo", "--model", str(tmp_path / "model.npz"), "--cells", str(tmp_path / "cells.h5ad"),
               "--out", str(out), "--motif-file", str(dbfile), "--groupby", "cell_type", "--max-logos", "2"])
    assert rc == 0
    table = pd.read_csv(out / "denovo_motifs.tsv", sep="\t")
    assert set(PLANTED) <= set(table["match1_name"])
    motifs = read_motif_file(out / "denovo_motifs.meme")
    assert [m.id for m in motifs] == list(table["motif_id"])
    scores = ad.read_h5ad(out / "denovo_scores.h5ad")
    assert scores.shape == (120, len(table)) and scores.varm["embedding"].shape[1] == 24
    assert (out / "denovo_logos.png").stat().st_size > 2000
    assert (out / "10mers_by_cell_type.tsv").exists() and (out / "denovo_alignments.txt").exists()
