"""Fragments -> binary cells x tiles, checked against the simulator's fragment truth."""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest_io import cli  # noqa: F401

from cellspace.io import write_genome_fasta
from cellspace.io.fragments import TileParams, read_fragments
from cellspace.simulate import small_simulation
from cellspace.simulate.writer import write_simulation

TILE = 500
CHROM_LENGTHS: dict[str, int] = {}


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fragsim")
    write_simulation(small_simulation(), out, ("fragments",))
    for line in (out / "genome.fa.fai").read_text().splitlines():
        name, length = line.split("\t")[:2]
        CHROM_LENGTHS[name] = int(length)
    return out


def truth_pairs(truth: pd.DataFrame, cells: set[str], tile: int = TILE) -> set[tuple[str, str]]:
    """(barcode, tile name) for every insertion of a kept cell, computed fragment by fragment."""
    lengths = CHROM_LENGTHS
    out = set()
    for c, s, e, b in zip(truth["chrom"], truth["start"], truth["end"], truth["barcode"], strict=True):
        if b not in cells:
            continue
        for pos in (s, e - 1):
            t0 = pos // tile * tile
            out.add((b, f"{c}:{t0}-{min(t0 + tile, lengths[c])}"))
    return out


def observed_pairs(ds) -> set[tuple[str, str]]:
    m = ds.events.tocoo()  # events x cells
    return {(str(ds.cell_ids[j]), str(ds.event_ids[i])) for i, j in zip(m.row, m.col, strict=True)}


def _truth(sim_dir: Path) -> pd.DataFrame:
    return pd.read_csv(sim_dir / "truth_fragments.tsv.gz", sep="\t", keep_default_na=False)


def _plain_gzip(src: Path, dst: Path) -> Path:
    dst.write_bytes(gzip.compress(gzip.decompress(src.read_bytes())))
    return dst


@pytest.mark.parametrize("compression", ["bgzip", "gzip"])
def test_tiles_equal_direct_computation_from_truth(sim_dir: Path, tmp_path: Path, compression: str) -> None:
    frag = sim_dir / "sim1.fragments.tsv.gz"
    if compression == "gzip":
        frag = _plain_gzip(frag, tmp_path / "plain.tsv.gz")
        assert not Path(f"{frag}.tbi").exists()
    truth = _truth(sim_dir)
    cells = set(truth.loc[truth["is_cell"].astype(str) == "True", "barcode"])
    # small chunks: the sort check and the de-duplication must hold across chunk boundaries
    ds = read_fragments(frag, sim_dir / "genome.fa", barcodes=sim_dir / "sim1.barcodes.txt", chunk_size=997)
    assert set(ds.cell_ids) == cells
    assert observed_pairs(ds) == truth_pairs(truth, cells)
    assert ds.events.data.max() == 1
    n_frag = truth[truth["barcode"].isin(cells)].groupby("barcode").size()
    assert (ds.obs["n_fragments"] == n_frag.reindex(ds.obs.index)).all()
    # every tile's sequence is the genome slice named by its id
    genome = dict(zip(*_read_genome(sim_dir / "genome.fa"), strict=True))
    for j in (0, ds.n_events // 2, ds.n_events - 1):
        c, rng = str(ds.event_ids[j]).split(":")
        s, e = map(int, rng.split("-"))
        assert ds.sequences.sequence(j) == genome[c][s:e]


def _read_genome(path: Path) -> tuple[list[str], list[str]]:
    from cellspace.sequences import read_fasta

    return read_fasta(path)


def test_min_fragments_keeps_the_barcodes_with_that_many_fragments(sim_dir: Path) -> None:
    truth = _truth(sim_dir)
    counts = truth.groupby("barcode").size()
    ds = read_fragments(sim_dir / "sim1.fragments.tsv.gz", sim_dir / "genome.fa",
                        tiles=TileParams(min_fragments=10))
    expected = set(counts.index[counts >= 10])
    assert set(ds.cell_ids) == expected
    assert not any(b.startswith("sim1_bg") for b in ds.cell_ids)  # background droplets have <= 5
    assert observed_pairs(ds) == truth_pairs(truth, expected)


def test_n_only_and_blacklisted_tiles_are_dropped(sim_dir: Path, tmp_path: Path) -> None:
    truth = _truth(sim_dir)
    cells = set(truth.loc[truth["is_cell"].astype(str) == "True", "barcode"])
    expected = truth_pairs(truth, cells)
    tiles = sorted({t for _, t in expected})
    n_tile, bl_tile = tiles[0], tiles[len(tiles) // 2]
    names, seqs = _read_genome(sim_dir / "genome.fa")
    c, rng = n_tile.split(":")
    s, e = map(int, rng.split("-"))
    i = names.index(c)
    seqs[i] = seqs[i][:s] + "N" * (e - s) + seqs[i][e:]
    genome = write_genome_fasta(tmp_path / "masked.fa", list(zip(names, seqs, strict=True)))
    bc, rng = bl_tile.split(":")
    bs, be = map(int, rng.split("-"))
    bed = tmp_path / "blacklist.bed"
    bed.write_text(f"{bc}\t{bs + 10}\t{bs + 20}\nchrUn_absent\t0\t100\n")
    ds = read_fragments(sim_dir / "sim1.fragments.tsv.gz", genome, barcodes=sim_dir / "sim1.barcodes.txt",
                        tiles=TileParams(blacklist=bed))
    got = observed_pairs(ds)
    assert got == {p for p in expected if p[1] not in (n_tile, bl_tile)}
    assert n_tile not in set(ds.event_ids) and bl_tile not in set(ds.event_ids)


def test_prepare_writes_tile_h5ad(sim_dir: Path, tmp_path: Path, cli) -> None:  # noqa: F811
    out = tmp_path / "tiles.h5ad"
    rc, _, err = cli(["prepare", "--fragments", sim_dir / "sim1.fragments.tsv.gz", "--genome",
                      sim_dir / "genome.fa", "--barcodes", sim_dir / "sim1.barcodes.txt",
                      "--tile-size", 1000, "--out", out])
    assert rc == 0, err
    a = ad.read_h5ad(out)
    starts = a.var["start"].to_numpy()
    assert (starts % 1000 == 0).all()
    assert list(a.var_names[:2]) == [f"{c}:{s}-{e}" for c, s, e in
                                     zip(a.var["chrom"][:2], a.var["start"][:2], a.var["end"][:2], strict=True)]
    assert a.var["sequence"].str.len().max() == 1000
    assert set(np.unique(a.X.data)) == {1.0}
    assert a.obs["dataset"].iloc[0] == "sim1"


def _error_case(sim_dir: Path, tmp_path: Path, which: str) -> tuple[list[object], Path, str]:
    frag = sim_dir / "sim1.fragments.tsv.gz"
    lines = gzip.decompress(frag.read_bytes()).decode().splitlines(keepends=True)
    genome = sim_dir / "genome.fa"
    if which == "unsorted":
        bad = tmp_path / "unsorted.tsv.gz"
        bad.write_bytes(gzip.compress("".join(lines[:50] + [lines[10]] + lines[50:]).encode()))
        return ["--fragments", bad, "--genome", genome, "--min-fragments", 3], bad, "not sorted"
    if which == "chromosome":
        bad = tmp_path / "chrom.tsv.gz"
        text = "".join(lines).replace("simchr3\t", "chr3\t")
        bad.write_bytes(gzip.compress(text.encode()))
        return ["--fragments", bad, "--genome", genome, "--min-fragments", 3], bad, "'chr3'"
    if which == "no_barcodes":
        bc = tmp_path / "barcodes.txt"
        bc.write_text("\n\n")
        return ["--fragments", frag, "--genome", genome, "--barcodes", bc], bc, "barcode list is empty"
    if which == "beyond_end":
        bad = tmp_path / "beyond.tsv.gz"
        bad.write_bytes(gzip.compress(("".join(lines) + "simchr3\t999990\t1000100\tx\t1\n").encode()))
        return ["--fragments", bad, "--genome", genome, "--min-fragments", 3], bad, "beyond the end"
    raise AssertionError(which)


@pytest.mark.parametrize("which", ["unsorted", "chromosome", "no_barcodes", "beyond_end"])
def test_bad_fragments_inputs_fail_with_one_line(sim_dir: Path, tmp_path: Path, cli, which: str) -> None:  # noqa: F811
    args, named, words = _error_case(sim_dir, tmp_path, which)
    out = tmp_path / "out.h5ad"
    rc, _, err = cli(["prepare", *args, "--out", out])
    assert rc == 1
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and str(named) in lines[0] and words in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_chromosome_absent_from_the_genome_is_named(sim_dir: Path, tmp_path: Path) -> None:
    names, seqs = _read_genome(sim_dir / "genome.fa")
    genome = write_genome_fasta(tmp_path / "two.fa", list(zip(names[:2], seqs[:2], strict=True)))
    from cellspace.errors import InputError

    with pytest.raises(InputError, match=r"chromosome 'simchr3'"):
        read_fragments(sim_dir / "sim1.fragments.tsv.gz", genome, tiles=TileParams(min_fragments=1))
