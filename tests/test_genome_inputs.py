"""Event sequences cut from a genome: mtx + peaks BED, h5ad with chr:start-end var_names or a BED."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from conftest_io import cli  # noqa: F401

from cellspace.io import dataset_to_anndata, read_h5ad, read_mtx_pair, write_mtx
from cellspace.simulate import small_simulation
from cellspace.simulate.writer import write_genome


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    """The simulated dataset, its genome.fa and a BED of its events (columns in order)."""
    out = tmp_path_factory.mktemp("genome_inputs")
    s = small_simulation()
    write_genome(s, out)
    ds = s.datasets[0]
    bed = out / "peaks.bed"
    bed.write_text("".join(f"{c}\t{a}\t{b}\tpeak{i}\n" for i, (c, a, b) in
                           enumerate(zip(ds.var["chrom"], ds.var["start"], ds.var["end"], strict=True))))
    mtx = out / "sim1.mtx"
    write_mtx(mtx, ds.events.T.tocoo(), field="integer")
    return ds, out / "genome.fa", bed, mtx


def _regions(ds) -> list[str]:
    return [f"{c}:{a}-{b}" for c, a, b in zip(ds.var["chrom"], ds.var["start"], ds.var["end"], strict=True)]


def test_mtx_with_peaks_and_genome_cuts_the_simulated_sequences(sim) -> None:
    ds, genome, bed, mtx = sim
    got = read_mtx_pair(mtx, peaks=bed, genome=genome)
    assert list(got.event_ids) == _regions(ds)
    assert list(got.sequences) == list(ds.sequences)
    assert (got.events != ds.events).nnz == 0
    assert list(got.var["start"]) == list(ds.var["start"])


@pytest.mark.parametrize("style", ["colon", "dash", "columns", "bed"])
def test_h5ad_with_genome_cuts_sequences_at_its_regions(sim, tmp_path: Path, style: str) -> None:
    ds, genome, bed, _ = sim
    a = dataset_to_anndata(ds)
    del a.var["sequence"]
    names = _regions(ds)
    if style == "dash":
        names = [n.replace(":", "-") for n in names]
    if style in ("colon", "dash", "bed"):
        a.var = a.var.drop(columns=["chrom", "start", "end"])
    if style in ("columns", "bed"):
        names = [f"feature{i}" for i in range(len(names))]
    a.var_names = names
    path = tmp_path / "x.h5ad"
    a.write_h5ad(path)
    got = read_h5ad(path, genome=genome, peaks=bed if style == "bed" else None)
    assert list(got.event_ids) == _regions(ds)
    assert list(got.sequences) == list(ds.sequences)
    assert (got.events != ds.events).nnz == 0


def test_h5ad_without_regions_names_the_problem(sim, tmp_path: Path, cli) -> None:  # noqa: F811
    ds, genome, _, _ = sim
    a = dataset_to_anndata(ds)
    a.var = a.var.drop(columns=["sequence", "chrom", "start", "end"])
    a.var_names = [f"feature{i}" for i in range(a.n_vars)]
    path = tmp_path / "x.h5ad"
    a.write_h5ad(path)
    rc, _, err = cli(["prepare", "--h5ad", path, "--genome", genome, "--out", tmp_path / "o.h5ad"])
    assert rc == 1 and str(path) in err and "'feature0'" in err and "peaks BED" in err


@pytest.mark.parametrize("kind", ["mtx", "h5ad"])
def test_bed_past_chromosome_end_is_a_one_line_error(sim, tmp_path: Path, cli, kind: str) -> None:  # noqa: F811
    ds, genome, bed, mtx = sim
    lines = bed.read_text().splitlines(keepends=True)
    c = lines[-1].split("\t")[0]
    length = int(next(ln.split("\t")[1] for ln in Path(f"{genome}.fai").read_text().splitlines()
                      if ln.startswith(f"{c}\t")))
    lines[-1] = f"{c}\t{length - 100}\t{length + 200}\n"
    bad = tmp_path / "bad.bed"
    bad.write_text("".join(lines))
    if kind == "mtx":
        args = ["--matrix", mtx, "--peaks", bad, "--genome", genome]
    else:
        path = tmp_path / "x.h5ad"
        dataset_to_anndata(ds).write_h5ad(path)
        args = ["--h5ad", path, "--genome", genome, "--peaks", bad]
    out = tmp_path / "o.h5ad"
    rc, _, err = cli(["prepare", *args, "--out", out])
    assert rc == 1
    errs = [ln for ln in err.splitlines() if "error" in ln]
    assert len(errs) == 1 and str(bad) in errs[0] and f"beyond the end of {c}" in errs[0], err
    assert not out.exists()


def test_prepare_mtx_with_peaks_writes_coordinates(sim, tmp_path: Path, cli) -> None:  # noqa: F811
    ds, genome, bed, mtx = sim
    out = tmp_path / "o.h5ad"
    rc, _, err = cli(["prepare", "--matrix", mtx, "--peaks", bed, "--genome", genome, "--out", out])
    assert rc == 0, err
    a = ad.read_h5ad(out)
    assert list(a.var_names) == _regions(ds)
    assert list(a.var["sequence"]) == list(ds.sequences)
    np.testing.assert_array_equal(a.var["end"].to_numpy(), ds.var["end"].to_numpy())
