"""Readers and writers: round trips for every format, input order, and the prepare command."""

from __future__ import annotations

import argparse
import gzip
import logging
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest_io import TOY_PEAKS, cli, count_matrix, make_pair, random_seqs, toy_genome  # noqa: F401

from cellspace.dataset import combine
from cellspace.errors import InputError, ParameterError
from cellspace.io import (
    InputSpec,
    add_input_arguments,
    dataset_to_anndata,
    load_inputs,
    read_h5ad,
    read_mtx,
    read_mtx_pair,
    read_tenx,
    specs_from_args,
    write_genome_fasta,
    write_h5ad,
    write_mtx_pair,
    write_tenx_dir,
    write_tenx_h5,
)
from cellspace.io.load import dataset_names


def binary(m: sp.spmatrix) -> np.ndarray:
    return (np.asarray(sp.csr_matrix(m).todense()) != 0).astype(np.uint8)


def events_as_cells_by_events(ds) -> np.ndarray:
    return np.asarray(ds.events.T.todense())


# --------------------------------------------------------------------------- MatrixMarket


@pytest.mark.parametrize("gz", [False, True])
def test_mtx_pair_round_trip_keeps_matrix_sequences_and_names(tmp_path: Path, gz: bool) -> None:
    mtx, fa, m, ids, seqs = make_pair(tmp_path, gz=gz, n_cells=15, n_events=25)
    if gz:
        with open(mtx, "rb") as fh:
            assert fh.read(2) == b"\x1f\x8b"
    ds = read_mtx_pair(mtx, fa, k=8)
    assert ds.name == "toy"
    assert (ds.n_cells, ds.n_events) == (15, 25)
    np.testing.assert_array_equal(events_as_cells_by_events(ds), binary(m))
    assert list(ds.event_ids) == ids
    assert list(ds.sequences) == seqs
    assert list(ds.cell_ids) == [f"toy_{i + 1}" for i in range(15)]


def test_dataset_written_as_mtx_pair_reads_back_identically(tmp_path: Path) -> None:
    mtx, fa, *_ = make_pair(tmp_path / "a", n_cells=9, n_events=14)
    ds = read_mtx_pair(mtx, fa, name="a")
    write_mtx_pair(ds, tmp_path / "b.mtx.gz", tmp_path / "b.fa", cells_path=tmp_path / "b.txt")
    back = read_mtx_pair(tmp_path / "b.mtx.gz", tmp_path / "b.fa", cells=tmp_path / "b.txt")
    assert (back.events != ds.events).nnz == 0
    assert list(back.cell_ids) == list(ds.cell_ids)
    assert list(back.sequences) == list(ds.sequences)
    assert not list(tmp_path.glob(".*tmp*"))


def _write(path: Path, text: str, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_mtx_with_comment_lines_and_real_values(tmp_path: Path) -> None:
    text = (
        "%%MatrixMarket matrix coordinate real general\n"
        "% written by hand\n%\n"
        "3 4 5\n"
        "1 1 0.5\n% a comment between entries\n2 2 1.5e0\n3 4 2.25\n1 3 0.0\n3 1 7\n"
    )
    m = read_mtx(_write(tmp_path / "x.mtx.gz", text, gz=True))
    want = np.zeros((3, 4))
    want[0, 0], want[1, 1], want[2, 3], want[2, 0] = 0.5, 1.5, 2.25, 7
    np.testing.assert_allclose(m.toarray(), want)  # the explicit 0.0 is dropped
    assert m.nnz == 4


def test_mtx_with_windows_line_ends_tabs_and_upper_case_banner(tmp_path: Path) -> None:
    raw = b"%%MatrixMarket MATRIX Coordinate Integer General\r\n% c\r\n2 2 2\r\n1\t1\t3\r\n2 2 1\r\n\r\n"
    path = tmp_path / "w.mtx"
    path.write_bytes(raw)
    np.testing.assert_array_equal(read_mtx(path).toarray(), [[3, 0], [0, 1]])


def test_mtx_pattern_field_gives_ones(tmp_path: Path) -> None:
    text = "%%MatrixMarket matrix coordinate pattern general\n2 3 3\n1 1\n2 3\n1 2\n"
    m = read_mtx(_write(tmp_path / "p.mtx", text))
    np.testing.assert_array_equal(m.toarray(), [[1, 1, 0], [0, 0, 1]])


def test_mtx_array_format_is_column_major(tmp_path: Path) -> None:
    text = "%%MatrixMarket matrix array integer general\n% c\n2 3\n1\n0\n0\n2\n3\n0\n"
    m = read_mtx(_write(tmp_path / "a.mtx", text))
    np.testing.assert_array_equal(m.toarray(), [[1, 0, 3], [0, 2, 0]])


def test_duplicate_entries_count_once(tmp_path: Path) -> None:
    text = (
        "%%MatrixMarket matrix coordinate integer general\n2 2 6\n"
        "1 1 1\n1 1 1\n1 1 3\n2 1 1\n2 2 1\n2 2 1\n"
    )
    mtx = _write(tmp_path / "d.mtx", text)
    fa = tmp_path / "d.fa"
    fa.write_text(">e1\nACGTACGTACGT\n>e2\nTTGGCCAAGGTT\n")
    ds = read_mtx_pair(mtx, fa)
    assert ds.events.nnz == 3
    assert set(np.unique(ds.events.data)) == {1}
    np.testing.assert_array_equal(ds.events.toarray(), [[1, 1], [0, 1]])


def test_cells_file_with_header_and_obs_indexed_by_name_in_another_order(tmp_path: Path) -> None:
    mtx, fa, m, *_ = make_pair(tmp_path, n_cells=6, n_events=10)
    names = [f"BC{i}" for i in range(6)]
    (tmp_path / "cells.tsv").write_text("barcode\tx\n" + "".join(f"{n}\t{i}\n" for i, n in enumerate(names)))
    meta = pd.DataFrame({"cell": names[::-1] + ["extra"], "donor": list("aabbcc") + ["z"],
                         "depth": [6, 5, 4, 3, 2, 1, 0]})
    meta.to_csv(tmp_path / "meta.csv", index=False)
    ds = read_mtx_pair(mtx, fa, cells=tmp_path / "cells.tsv", obs=tmp_path / "meta.csv",
                       batch_key="donor")
    assert list(ds.cell_ids) == names
    # BC0 is the 6th row of the table (reversed order): donor 'c', depth 1
    assert ds.obs.loc["BC0", "donor"] == "c" and ds.obs.loc["BC0", "depth"] == 1
    assert list(ds.obs["donor"]) == list("ccbbaa")
    assert ds.batch_key == "donor"


def test_obs_aligned_by_order_and_cell_id_column_used_without_cells_file(tmp_path: Path) -> None:
    mtx, fa, *_ = make_pair(tmp_path, n_cells=4, n_events=10)
    (tmp_path / "m.tsv").write_text("cell_id\tgroup\nc1\tA\nc2\tB\nc3\tA\nc4\tB\n")
    ds = read_mtx_pair(mtx, fa, obs=tmp_path / "m.tsv", batch_key="group")
    assert list(ds.cell_ids) == ["c1", "c2", "c3", "c4"]
    assert list(ds.obs.columns) == ["group"]
    (tmp_path / "n.tsv").write_text("group\tq\nA\t1\nB\t2\nA\t3\nB\t4\n")
    ds2 = read_mtx_pair(mtx, fa, obs=tmp_path / "n.tsv", cells=["w", "x", "y", "z"])
    assert list(ds2.obs["q"]) == [1, 2, 3, 4] and list(ds2.cell_ids) == ["w", "x", "y", "z"]


def test_empty_events_are_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    m = count_matrix(np.random.default_rng(3), 8, 12).tolil()
    m[:, 4] = 0
    m[:, 9] = 0
    mtx, fa, _, ids, _ = make_pair(tmp_path, matrix=m.tocsr())
    with caplog.at_level(logging.WARNING):
        ds = read_mtx_pair(mtx, fa)
    assert ds.n_events == 10
    assert "toy_peak4" not in set(ds.event_ids) and "toy_peak9" not in set(ds.event_ids)
    assert any("dropping 2 event" in r.getMessage() for r in caplog.records)


def test_reading_a_2000_by_5000_matrix_with_300k_entries(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n_cells, n_events, nnz = 2000, 5000, 300_000
    flat = rng.choice(n_cells * n_events, nnz, replace=False)
    m = sp.coo_matrix((rng.integers(1, 4, nnz), (flat // n_events, flat % n_events)),
                      shape=(n_cells, n_events))
    seqs = random_seqs(rng, n_events, 300)
    write_mtx_pair(m, tmp_path / "big.mtx.gz", tmp_path / "big.fa.gz", sequences=seqs)
    ds = read_mtx_pair(tmp_path / "big.mtx.gz", tmp_path / "big.fa.gz")
    assert ds.events.nnz == nnz
    assert ds.n_cells == n_cells


# --------------------------------------------------------------------------- AnnData


def test_h5ad_round_trip_with_sequences_in_var(tmp_path: Path) -> None:
    mtx, fa, m, ids, seqs = make_pair(tmp_path, n_cells=10, n_events=16)
    (tmp_path / "o.tsv").write_text("cell\tdonor\n" + "".join(f"c{i}\td{i % 2}\n" for i in range(10)))
    ds = read_mtx_pair(mtx, fa, obs=tmp_path / "o.tsv", batch_key="donor", name="toy")
    out = write_h5ad(ds, tmp_path / "toy_prepared.h5ad")
    adata = ad.read_h5ad(out)
    assert adata.shape == (10, 16)
    assert list(adata.var["sequence"]) == seqs
    assert list(adata.obs["dataset"].astype(str)) == ["toy"] * 10
    assert list(adata.obs["batch"].astype(str)) == [f"d{i % 2}" for i in range(10)]
    np.testing.assert_array_equal(binary(adata.X), binary(m))
    back = read_h5ad(out, batch_key="donor")
    assert back.name == "toy"  # from uns, not the file stem
    assert "dataset" not in back.obs.columns
    assert (back.events != ds.events).nnz == 0
    assert list(back.sequences) == seqs and list(back.cell_ids) == list(ds.cell_ids)
    assert list(back.obs["donor"].astype(str)) == list(ds.obs["donor"])


def _anndata_without_sequences(tmp_path: Path, names: list[str]) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(5)
    m = count_matrix(rng, 7, len(names))
    adata = ad.AnnData(X=m.astype(np.float32), obs=pd.DataFrame(index=[f"c{i}" for i in range(7)]),
                       var=pd.DataFrame(index=names))
    path = tmp_path / "noseq.h5ad"
    adata.write_h5ad(path)
    return path, binary(m)


def test_h5ad_takes_sequences_from_fasta_beside_it_matched_by_name(tmp_path: Path) -> None:
    names = [f"ev{j}" for j in range(9)]
    path, dense = _anndata_without_sequences(tmp_path, names)
    seqs = random_seqs(np.random.default_rng(2), 9)
    order = np.random.default_rng(1).permutation(9)
    with gzip.open(tmp_path / "noseq.fa.gz", "wt") as fh:
        for j in order:
            fh.write(f">{names[j]} desc\n{seqs[j]}\n")
    ds = read_h5ad(path)
    assert list(ds.event_ids) == names
    assert list(ds.sequences) == seqs
    np.testing.assert_array_equal(events_as_cells_by_events(ds), dense)


def test_h5ad_fasta_taken_in_order_when_no_name_matches(tmp_path: Path) -> None:
    path, _ = _anndata_without_sequences(tmp_path, [f"ev{j}" for j in range(5)])
    seqs = random_seqs(np.random.default_rng(2), 5)
    fa = tmp_path / "other.fasta"
    fa.write_text("".join(f">r{j}\n{s}\n" for j, s in enumerate(seqs)))
    ds = read_h5ad(path, fasta=fa)
    assert list(ds.sequences) == seqs


# --------------------------------------------------------------------------- 10x


@pytest.fixture(params=["plain", "bgzip"])
def genome(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    recs = toy_genome()
    name = "genome.fa" if request.param == "plain" else "genome.fa.gz"
    path = write_genome_fasta(tmp_path / "ref" / name, recs)
    if request.param == "bgzip":
        Path(f"{path}.fai").unlink()  # the reader re-creates a missing index
        Path(f"{path}.gzi").unlink()
    return path, recs


def _tenx_matrix() -> tuple[sp.csr_matrix, list[str]]:
    m = count_matrix(np.random.default_rng(7), 6, len(TOY_PEAKS), density=0.5)
    return m, [f"AAAC{i:04d}-1" for i in range(6)]


def test_tenx_h5_reads_peaks_from_genome_and_skips_gene_features(tmp_path: Path, genome) -> None:
    gpath, recs = genome
    m, bcs = _tenx_matrix()
    # add two gene-expression columns (as in Cell Ranger ARC files): they must be ignored
    genes = sp.csr_matrix(np.ones((6, 2), dtype=np.int64))
    full = sp.hstack([genes, m]).tocsr()
    fids = ["ENSG1", "ENSG2"] + [f"{c}-{s}-{e}" for c, s, e in TOY_PEAKS]
    ftypes = ["Gene Expression"] * 2 + ["Peaks"] * len(TOY_PEAKS)
    peaks = [("chrX", 0, 1)] * 2 + TOY_PEAKS
    h5 = tmp_path / "s1" / "outs" / "filtered_peak_bc_matrix.h5"
    write_tenx_h5(h5, full, bcs, peaks, feature_ids=fids, feature_types=ftypes)
    with h5py.File(h5) as f:
        assert list(f["matrix/shape"][:]) == [len(fids), 6]
    ds = read_tenx(h5, gpath)
    assert ds.name == "s1"  # sample folder, not Cell Ranger's fixed file name
    assert list(ds.cell_ids) == bcs
    assert list(ds.event_ids) == [f"{c}:{s}-{e}" for c, s, e in TOY_PEAKS]
    assert list(ds.sequences) == [recs[c][s:e] for c, s, e in TOY_PEAKS]
    np.testing.assert_array_equal(events_as_cells_by_events(ds), binary(m))
    assert list(ds.var["start"]) == [s for _, s, _ in TOY_PEAKS]


@pytest.mark.parametrize("gz", [True, False])
def test_tenx_folder_round_trip(tmp_path: Path, genome, gz: bool) -> None:
    gpath, recs = genome
    m, bcs = _tenx_matrix()
    folder = write_tenx_dir(tmp_path / "filtered_peak_bc_matrix", m, bcs, TOY_PEAKS, gzip_files=gz)
    assert (folder / ("matrix.mtx.gz" if gz else "matrix.mtx")).exists()
    meta = tmp_path / "singlecell.csv"
    pd.DataFrame({"barcode": ["NO_BARCODE"] + bcs[::-1], "donor": ["-"] + list("xxxyyy")}).to_csv(meta, index=False)
    ds = read_tenx(tmp_path, gpath, obs=meta, batch_key="donor", name="pbmc")
    assert ds.name == "pbmc"
    assert list(ds.cell_ids) == bcs
    assert list(ds.obs["donor"]) == list("yyyxxx")
    assert list(ds.sequences) == [recs[c][s:e] for c, s, e in TOY_PEAKS]
    np.testing.assert_array_equal(events_as_cells_by_events(ds), binary(m))


def test_genome_iupac_codes_read_as_n(tmp_path: Path) -> None:
    g = write_genome_fasta(tmp_path / "g.fa", {"chr1": "ACGTRYKMACGTACGTNNNNACGTACGT"})
    m = sp.csr_matrix(np.ones((2, 1)))
    h5 = tmp_path / "x.h5"
    write_tenx_h5(h5, m, ["a", "b"], [("chr1", 0, 16)])
    ds = read_tenx(h5, g, k=4)
    assert ds.sequences.sequence(0) == "ACGTNNNNACGTACGT"


# --------------------------------------------------------------------------- several inputs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_input_arguments(p)
    return p


def test_specs_keep_command_line_order_and_pair_sidecars(tmp_path: Path) -> None:
    args = _parser().parse_args([
        "--h5ad", "b.h5ad",
        "--matrix", "a.mtx.gz", "--cells", "a.txt", "--fasta", "a.fa", "--obs", "a.tsv",
        "--tenx", "s/outs/filtered_peak_bc_matrix", "--genome", "g.fa",
        "--matrix", "a.mtx", "--fasta", "a2.fa",
        "--batch-key", "donor", "--strict-events",
    ])
    specs = specs_from_args(args)
    assert [s.kind for s in specs] == ["h5ad", "mtx", "tenx", "mtx"]
    assert specs[1].fasta == Path("a.fa") and specs[1].cells == Path("a.txt")
    assert specs[1].obs == Path("a.tsv") and specs[3].fasta == Path("a2.fa")
    assert specs[2].genome == Path("g.fa")
    assert args.batch_key == "donor" and args.strict_events
    assert dataset_names(specs) == ["b", "a", "s", "a_2"]  # 10x: the sample folder


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--matrix", "a.mtx"], "has no --fasta"),
        (["--fasta", "a.fa", "--matrix", "a.mtx"], "must follow"),
        (["--tenx", "d"], "has no --genome"),
        (["--matrix", "a.mtx", "--genome", "g.fa"], "has no --fasta"),
        (["--matrix", "a.mtx", "--barcodes", "b.txt"], "must follow"),
        (["--h5ad", "x.h5ad", "--peaks", "p.bed"], "needs a --genome"),
        (["--matrix", "a.mtx", "--fasta", "a.fa", "--genome", "g.fa"], "not both"),
        (["--fragments", "f.tsv.gz"], "has no --genome"),
        (["--h5ad", "x.h5ad", "--cells", "c.txt"], "must follow"),
        (["--matrix", "a.mtx", "--fasta", "a.fa", "--fasta", "b.fa"], "given twice"),
        (["--h5ad", "x.h5ad", "--dataset", "one", "--dataset", "two"], "--dataset"),
        ([], "no input dataset"),
    ],
)
def test_unpaired_or_miscounted_flags_are_usage_errors(argv: list[str], msg: str) -> None:
    with pytest.raises(ParameterError, match=msg):
        specs_from_args(_parser().parse_args(argv))


def test_several_datasets_load_in_input_order_with_unique_names(tmp_path: Path) -> None:
    a = make_pair(tmp_path / "x", "toy", n_cells=5, n_events=10, seed=1)
    b = make_pair(tmp_path / "y", "toy", n_cells=7, n_events=12, seed=2)
    c = make_pair(tmp_path / "z", "zeta", n_cells=3, n_events=8, seed=3)
    h5 = write_h5ad(read_mtx_pair(c[0], c[1], name="zeta"), tmp_path / "prepared.h5ad")
    specs = [InputSpec("mtx", b[0], fasta=b[1]), InputSpec("h5ad", h5), InputSpec("mtx", a[0], fasta=a[1])]
    dss = load_inputs(specs)
    assert [d.name for d in dss] == ["toy", "zeta", "toy_2"]
    assert [d.n_cells for d in dss] == [7, 3, 5]
    td = combine(dss)
    assert list(td.obs["dataset"].iloc[[0, 7, 10]]) == ["toy", "zeta", "toy_2"]


def test_missing_file_is_reported_before_anything_is_read(tmp_path: Path) -> None:
    a = make_pair(tmp_path, n_cells=5, n_events=10)
    specs = [InputSpec("mtx", a[0], fasta=a[1]), InputSpec("h5ad", tmp_path / "nope.h5ad")]
    with pytest.raises(InputError, match="nope.h5ad: AnnData file not found"):
        load_inputs(specs)


# --------------------------------------------------------------------------- prepare


def test_prepare_writes_validated_h5ad_with_sequences_dataset_and_batch(tmp_path: Path, cli) -> None:  # noqa: F811
    mtx, fa, m, ids, seqs = make_pair(tmp_path / "in", n_cells=8, n_events=12)
    (tmp_path / "in" / "cells.txt").write_text("".join(f"cell{i}\n" for i in range(8)))
    (tmp_path / "in" / "meta.tsv").write_text("donor\n" + "".join(f"D{i % 3}\n" for i in range(8)))
    out = tmp_path / "out" / "ds1.h5ad"
    rc, _, err = cli(["prepare", "--matrix", mtx, "--fasta", fa, "--cells", tmp_path / "in" / "cells.txt",
                      "--obs", tmp_path / "in" / "meta.tsv", "--batch-key", "donor",
                      "--dataset", "ds1", "--out", out])
    assert rc == 0, err
    adata = ad.read_h5ad(out)
    assert list(adata.obs_names) == [f"cell{i}" for i in range(8)]
    assert list(adata.obs["dataset"].astype(str)) == ["ds1"] * 8
    assert list(adata.obs["batch"].astype(str)) == [f"D{i % 3}" for i in range(8)]
    assert list(adata.var_names) == ids and list(adata.var["sequence"]) == seqs
    np.testing.assert_array_equal(binary(adata.X), binary(m))
    assert sorted(p.name for p in out.parent.iterdir()) == ["ds1.h5ad"]
    again = read_h5ad(out, batch_key="donor")
    assert again.name == "ds1" and again.n_cells == 8


def test_dataset_to_anndata_keeps_var_columns(tmp_path: Path, genome) -> None:
    gpath, _ = genome
    m, bcs = _tenx_matrix()
    h5 = tmp_path / "p.h5"
    write_tenx_h5(h5, m, bcs, TOY_PEAKS)
    adata = dataset_to_anndata(read_tenx(h5, gpath))
    assert list(adata.var["chrom"]) == [c for c, _, _ in TOY_PEAKS]
    assert adata.var_names[0] == "chr1:100-400"
