"""Every bad input fails through ``cellspace prepare`` with one line naming the file, no output."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest_io import TOY_PEAKS, cli, count_matrix, make_pair, random_seqs, toy_genome  # noqa: F401

from cellspace.io import write_genome_fasta, write_tenx_h5

# A case builds inputs under the given folder and returns (prepare arguments, file that the
# message must name, words the message must contain, expected exit code).
Case = tuple[list[object], Path, str, int]


def _pair_args(mtx: Path, fa: Path, *extra: object) -> list[object]:
    return ["--matrix", mtx, "--fasta", fa, *extra]


def garbage_header(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    mtx.write_text("this is not a matrix\n1 2 3\n")
    return _pair_args(mtx, fa), mtx, "invalid MatrixMarket header", 1


def binary_header(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d, gz=True)
    mtx.write_bytes(gzip.compress(bytes(range(256)) * 4))
    return _pair_args(mtx, fa), mtx, "invalid MatrixMarket header", 1


def empty_matrix_file(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    mtx.write_text("")
    return _pair_args(mtx, fa), mtx, "invalid MatrixMarket header", 1


def corrupt_gzip(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d, gz=True)
    mtx.write_bytes(mtx.read_bytes()[:30])
    return _pair_args(mtx, fa), mtx, "cannot read MatrixMarket file", 1


def symmetric_header(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    mtx.write_text(mtx.read_text().replace("general", "symmetric", 1))
    return _pair_args(mtx, fa), mtx, "symmetry 'symmetric' is not supported", 1


def truncated_matrix(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    lines = mtx.read_text().splitlines(keepends=True)
    mtx.write_text("".join(lines[:-3]))
    return _pair_args(mtx, fa), mtx, "entries but", 1


def index_out_of_range(d: Path) -> Case:
    mtx, fa, m, *_ = make_pair(d)
    mtx.write_text(mtx.read_text() .rstrip("\n").rsplit("\n", 1)[0] + f"\n1 {m.shape[1] + 5} 1\n")
    return _pair_args(mtx, fa), mtx, "column index", 1


def malformed_entry(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    mtx.write_text(mtx.read_text().rstrip("\n").rsplit("\n", 1)[0] + "\n1 x 1\n")
    return _pair_args(mtx, fa), mtx, "malformed MatrixMarket data", 1


def entry_with_extra_field(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    head, rest = mtx.read_text().split("\n", 1)
    size, first, rest = rest.split("\n", 2)
    mtx.write_text(f"{head}\n{size}\n{first} 7\n{rest}")
    return _pair_args(mtx, fa), mtx, "more than the 3 expected numbers", 1


def entry_with_missing_field(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    head, rest = mtx.read_text().split("\n", 1)
    size, first, rest = rest.split("\n", 2)
    mtx.write_text(f"{head}\n{size}\n{first.rsplit(' ', 1)[0]}\n{rest}")
    return _pair_args(mtx, fa), mtx, "entry 1 has 2 of 3 expected numbers", 1


def fraction_in_integer_matrix(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    head, rest = mtx.read_text().split("\n", 1)
    size, first, rest = rest.split("\n", 2)
    mtx.write_text(f"{head}\n{size}\n{first.rsplit(' ', 1)[0]} 2.5\n{rest}")
    return _pair_args(mtx, fa), mtx, "field is 'integer' but entry 1 has the value 2.5", 1


def infinite_value_in_matrix(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    head, rest = mtx.read_text().split("\n", 1)
    size, first, rest = rest.split("\n", 2)
    head = head.replace("integer", "real")
    mtx.write_text(f"{head}\n{size}\n{first.rsplit(' ', 1)[0]} inf\n{rest}")
    return _pair_args(mtx, fa), mtx, "value of entry 1 is inf; counts must be finite", 1


def nan_in_h5ad(d: Path) -> Case:
    path = d / "x.h5ad"
    x = count_matrix(np.random.default_rng(0), 5, 6).astype(np.float32)
    x.data[0] = np.nan
    var = pd.DataFrame({"sequence": random_seqs(np.random.default_rng(1), 6)}, index=[f"e{j}" for j in range(6)])
    ad.AnnData(X=x, var=var).write_h5ad(path)
    return ["--h5ad", path], path, "1 non-finite value(s) (first: nan)", 1


def bad_size_line(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    head, _size, rest = mtx.read_text().split("\n", 2)
    mtx.write_text(f"{head}\n12 twenty 30\n{rest}")
    return _pair_args(mtx, fa), mtx, "size line", 1


def columns_differ_from_fasta(d: Path) -> Case:
    mtx, fa, m, ids, seqs = make_pair(d)
    fa.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids[:-2], seqs[:-2], strict=True)))
    return _pair_args(mtx, fa), mtx, f"{m.shape[1]} event columns but FASTA {fa} has {m.shape[1] - 2}", 1


def events_without_cells_strict(d: Path) -> Case:
    m = count_matrix(np.random.default_rng(0), 10, 15).tolil()
    m[:, 3] = 0
    mtx, fa, *_ = make_pair(d, matrix=m.tocsr())
    return _pair_args(mtx, fa, "--strict-events"), mtx, "1 event(s) are accessible in no cell", 1


def sequence_shorter_than_k(d: Path) -> Case:
    seqs = random_seqs(np.random.default_rng(0), 20)
    seqs[5] = "ACGTA"
    mtx, fa, *_ = make_pair(d, seqs=seqs)
    return _pair_args(mtx, fa), fa, "shorter than k = 8 (first: 'toy_peak5', 5 bp)", 1


def sequence_all_n(d: Path) -> Case:
    seqs = random_seqs(np.random.default_rng(0), 20)
    seqs[7] = "N" * 60
    mtx, fa, *_ = make_pair(d, seqs=seqs)
    return _pair_args(mtx, fa), fa, "all N (first: 'toy_peak7')", 1


def non_acgt_letter(d: Path) -> Case:
    seqs = random_seqs(np.random.default_rng(0), 20)
    seqs[2] = seqs[2][:10] + "X" + seqs[2][11:]
    mtx, fa, *_ = make_pair(d, seqs=seqs)
    return _pair_args(mtx, fa), fa, "non-ACGTN letter 'X' at position 11", 1


def unknown_batch_column(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    meta = d / "meta.tsv"
    meta.write_text("donor\n" + "d1\n" * 12)
    return _pair_args(mtx, fa, "--obs", meta, "--batch-key", "sample"), meta, "unknown batch column 'sample'", 1


def batch_key_without_metadata(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    return _pair_args(mtx, fa, "--batch-key", "donor"), mtx, "unknown batch column 'donor'", 1


def metadata_row_count(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    meta = d / "meta.tsv"
    meta.write_text("donor\n" + "d1\n" * 5)
    return _pair_args(mtx, fa, "--obs", meta), meta, "5 rows for 12 cells", 1


def cell_names_count(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    cells = d / "cells.txt"
    cells.write_text("a\nb\nc\n")
    return _pair_args(mtx, fa, "--cells", cells), cells, "3 cell names for 12 matrix rows", 1


def empty_dataset(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    mtx.write_text("%%MatrixMarket matrix coordinate integer general\n12 20 0\n")
    return _pair_args(mtx, fa), mtx, "empty dataset", 1


def missing_matrix(d: Path) -> Case:
    _, fa, *_ = make_pair(d)
    return _pair_args(d / "absent.mtx", fa), d / "absent.mtx", "matrix file not found", 1


def missing_fasta(d: Path) -> Case:
    mtx, *_ = make_pair(d)
    return _pair_args(mtx, d / "absent.fa"), d / "absent.fa", "FASTA file not found", 1


def not_fasta(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    fa.write_text("ACGT\n")
    return _pair_args(mtx, fa), fa, "not FASTA", 1


def h5ad_without_sequences(d: Path) -> Case:
    path = d / "x.h5ad"
    ad.AnnData(X=count_matrix(np.random.default_rng(0), 5, 6).astype(np.float32)).write_h5ad(path)
    return ["--h5ad", path], path, "no event sequences", 1


def h5ad_events_missing_from_fasta(d: Path) -> Case:
    path = d / "x.h5ad"
    var = pd.DataFrame(index=[f"e{j}" for j in range(6)])
    ad.AnnData(X=count_matrix(np.random.default_rng(0), 5, 6).astype(np.float32), var=var).write_h5ad(path)
    seqs = random_seqs(np.random.default_rng(1), 6)
    (d / "x.fa").write_text("".join(f">e{j}\n{s}\n" for j, s in enumerate(seqs) if j != 4))
    return ["--h5ad", path], path, "1 of 6 events have no record in FASTA", 1


def zeroed_bytes_in_h5ad(d: Path) -> Case:
    # zeroed bytes in the middle of the file damage HDF5's string heap: HDF5 would loop forever
    path = d / "x.h5ad"
    var = pd.DataFrame({"sequence": random_seqs(np.random.default_rng(1), 200, 300)},
                       index=[f"e{j}" for j in range(200)])
    x = sp.random(300, 200, density=0.1, format="csr", random_state=0, dtype=np.float32)
    x.data[:] = 1
    ad.AnnData(X=x, var=var).write_h5ad(path)
    raw = bytearray(path.read_bytes())
    start = len(raw) // 2
    raw[start:start + 4096] = bytes(4096)
    path.write_bytes(bytes(raw))
    return ["--h5ad", path], path, "cannot read AnnData file: its HDF5 strings could not be read", 1


def not_an_h5ad(d: Path) -> Case:
    path = d / "x.h5ad"
    path.write_text("hello")
    return ["--h5ad", path], path, "cannot read AnnData file", 1


def _tenx(d: Path, peaks: list[tuple[str, int, int]], gz_genome: str = "bgzip") -> tuple[Path, Path]:
    recs = toy_genome()
    if gz_genome == "plain-gzip":
        g = d / "g.fa.gz"
        with gzip.open(g, "wt") as fh:
            fh.write("".join(f">{n}\n{s}\n" for n, s in recs.items()))
    else:
        g = write_genome_fasta(d / "g.fa.gz", recs)
    h5 = d / "filtered_peak_bc_matrix.h5"
    m = sp.csr_matrix(np.ones((3, len(peaks))))
    write_tenx_h5(h5, m, ["a-1", "b-1", "c-1"], peaks)
    return h5, g


def tenx_unknown_chromosome(d: Path) -> Case:
    h5, g = _tenx(d, [*TOY_PEAKS, ("chr7", 10, 300)])
    return ["--tenx", h5, "--genome", g], h5, "peak 'chr7:10-300' is on chromosome 'chr7'", 1


def tenx_peak_beyond_chromosome_end(d: Path) -> Case:
    h5, g = _tenx(d, [*TOY_PEAKS, ("chr2", 1400, 1600)])
    return ["--tenx", h5, "--genome", g], h5, "peak 'chr2:1400-1600' ends at 1600, beyond the end of chr2 (1500 bp)", 1


def tenx_genome_not_bgzipped(d: Path) -> Case:
    h5, g = _tenx(d, TOY_PEAKS, gz_genome="plain-gzip")
    return ["--tenx", h5, "--genome", g], g, "not with bgzip", 1


def tenx_missing_genome(d: Path) -> Case:
    h5, _ = _tenx(d, TOY_PEAKS)
    return ["--tenx", h5, "--genome", d / "hg38.fa"], d / "hg38.fa", "genome FASTA not found", 1


def tenx_folder_without_matrix(d: Path) -> Case:
    folder = d / "sample"
    folder.mkdir()
    (folder / "barcodes.tsv").write_text("a-1\n")
    _, g = _tenx(d, TOY_PEAKS)
    return ["--tenx", folder, "--genome", g], folder, "no matrix.mtx", 1


def matrix_without_fasta(d: Path) -> Case:
    mtx, *_ = make_pair(d)
    return ["--matrix", mtx], mtx, "has no --fasta", 2


def two_datasets(d: Path) -> Case:
    mtx, fa, *_ = make_pair(d)
    return _pair_args(mtx, fa, "--matrix", mtx, "--fasta", fa), Path("prepare"), "exactly one input dataset", 2


CASES: list[Callable[[Path], Case]] = [
    garbage_header, binary_header, empty_matrix_file, corrupt_gzip, symmetric_header,
    truncated_matrix, index_out_of_range, malformed_entry, entry_with_extra_field,
    entry_with_missing_field, bad_size_line, fraction_in_integer_matrix, infinite_value_in_matrix,
    nan_in_h5ad,
    columns_differ_from_fasta, events_without_cells_strict, sequence_shorter_than_k,
    sequence_all_n, non_acgt_letter, unknown_batch_column, batch_key_without_metadata,
    metadata_row_count, cell_names_count, empty_dataset, missing_matrix, missing_fasta,
    not_fasta, h5ad_without_sequences, h5ad_events_missing_from_fasta, not_an_h5ad, zeroed_bytes_in_h5ad,
    tenx_unknown_chromosome, tenx_peak_beyond_chromosome_end, tenx_genome_not_bgzipped,
    tenx_missing_genome, tenx_folder_without_matrix, matrix_without_fasta, two_datasets,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_fails_with_one_line_naming_file_and_leaves_no_output(
    case: Callable[[Path], Case], tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setattr("cellspace.io.anndata_io.PROBE_SECONDS", 3.0)
    d = tmp_path / "in"
    d.mkdir()
    argv, named, words, code = case(d)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, _, err = cli(["prepare", *argv, "--out", out_dir / "data.h5ad"])
    lines = err.strip().splitlines()
    assert rc == code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("cellspace prepare: error: ")
    assert str(named) in lines[0]
    assert words in lines[0]
    assert "Traceback" not in err
    assert list(out_dir.iterdir()) == []  # no output, no temporary file


def test_events_without_cells_are_dropped_by_default_and_prepare_succeeds(tmp_path: Path, cli) -> None:  # noqa: F811
    m = count_matrix(np.random.default_rng(0), 10, 15).tolil()
    m[:, 3] = 0
    mtx, fa, *_ = make_pair(tmp_path, matrix=m.tocsr())
    out = tmp_path / "o.h5ad"
    rc, _, err = cli(["prepare", "--matrix", mtx, "--fasta", fa, "--out", out])
    assert rc == 0, err
    assert ad.read_h5ad(out).n_vars == 14


def test_k_outside_supported_range_is_a_usage_error(tmp_path: Path, cli) -> None:  # noqa: F811
    mtx, fa, *_ = make_pair(tmp_path)
    rc, _, err = cli(["prepare", "--matrix", mtx, "--fasta", fa, "--k", "16", "--out", tmp_path / "o.h5ad"])
    assert rc == 2 and "k must be an integer in 2..15" in err
    assert not (tmp_path / "o.h5ad").exists()


def test_genome_without_index_in_read_only_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cellspace.errors import InputError
    from cellspace.io import open_genome

    g = write_genome_fasta(tmp_path / "g.fa", toy_genome())
    Path(f"{g}.fai").unlink()
    monkeypatch.setattr("cellspace.io.genome.os.access", lambda path, mode: False)
    with pytest.raises(InputError, match=r"g\.fa: genome FASTA has no \.fai index and its folder is not writable"):
        open_genome(g)


def test_cells_without_events_are_dropped_with_a_warning(tmp_path: Path, cli, caplog) -> None:  # noqa: F811
    m = count_matrix(np.random.default_rng(0), 10, 15).tolil()
    m[4, :] = 0
    mtx, fa, *_ = make_pair(tmp_path, matrix=m.tocsr())
    out = tmp_path / "o.h5ad"
    with caplog.at_level("WARNING"):
        rc, _, err = cli(["prepare", "--matrix", mtx, "--fasta", fa, "--out", out])
    assert rc == 0, err
    assert ad.read_h5ad(out).n_obs == 9
    assert any("dropping 1 cell(s) with no accessible event" in r.getMessage() for r in caplog.records)
