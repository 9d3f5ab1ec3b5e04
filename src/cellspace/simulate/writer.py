"""Write a simulation to a folder: inputs in every supported format plus the ground truth.

Per dataset ``<name>``:

- ``<name>.mtx.gz`` (cells x events MatrixMarket), ``<name>.fa.gz`` (event sequences in
  column order), ``<name>.cells.tsv`` (cell names + metadata; usable as the ``--obs`` table);
- ``<name>.h5ad`` (AnnData cells x events, ``var["sequence"]``, obs metadata) with ``h5ad``;
- ``<name>_tenx/`` (``matrix.mtx.gz`` peaks x barcodes, ``barcodes.tsv.gz``,
  ``peaks.bed.gz``) with ``tenx``, plus one ``genome.fa`` (+ ``.fai``) that the peaks are
  cut from;
- ``<name>.fragments.tsv.gz`` (bgzip + ``.tbi``) and ``<name>.barcodes.txt`` with
  ``fragments`` (see :mod:`cellspace.simulate.fragments`), plus ``genome.fa`` and
  ``truth_fragments.tsv.gz``.

Truth: ``truth_cells.tsv``, ``truth_tfs.tsv``, ``truth_events.tsv``, ``truth_regions.tsv``,
``truth_sites.tsv``, ``truth_donor_events.tsv`` and ``simulation.json`` (parameters, seed,
package version, summary). Every file is written atomically; gzip members carry no time
stamp or name, so the same parameters give byte-identical files.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellspace._version import __version__
from cellspace.atomic import atomic_dir, atomic_path
from cellspace.dataset import Dataset
from cellspace.errors import ParameterError
from cellspace.simulate.core import Simulation

log = logging.getLogger(__name__)

FORMATS = ("mtx", "h5ad", "tenx", "fragments")
DEFAULT_FORMATS = ("mtx", "h5ad")


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """'mtx,h5ad' -> ('mtx', 'h5ad'); unknown names are a ParameterError."""
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    items = [t for t in items if t]
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise ParameterError(f"unknown output format(s) {bad or text!r}; choose from {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(items))


def _gz(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=6, mtime=0)


def _write_bytes(path: Path, raw: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(_gz(raw) if path.suffix == ".gz" else raw)


def _mtx_text(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> bytes:
    """MatrixMarket integer text; entries given 0-based, already in the desired order."""
    head = f"%%MatrixMarket matrix coordinate integer general\n{shape[0]} {shape[1]} {len(rows)}\n"
    body = pd.DataFrame({"r": rows + 1, "c": cols + 1, "v": np.ones(len(rows), dtype=np.int64)}).to_csv(
        sep=" ", header=False, index=False, lineterminator="\n"
    )
    return (head + body).encode()


def _entries(events: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(event, cell) of every nonzero, event-major with cells ascending."""
    m = events.tocsr()
    m.sort_indices()
    ev = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    return ev, m.indices.astype(np.int64)


def _fasta_text(names: Sequence[str], seqs: Iterable[str]) -> bytes:
    return "".join(f">{n}\n{s}\n" for n, s in zip(names, seqs, strict=True)).encode()


def _tsv(df: pd.DataFrame) -> bytes:
    return df.to_csv(sep="\t", index=False, lineterminator="\n", float_format="%.6g").encode()


def write_dataset_mtx(ds: Dataset, out: Path) -> list[Path]:
    """``<name>.mtx.gz`` (cells x events), ``<name>.fa.gz`` and ``<name>.cells.tsv``."""
    ev, cell = _entries(ds.events)  # column-major order of the cells x events matrix
    mtx = out / f"{ds.name}.mtx.gz"
    fa = out / f"{ds.name}.fa.gz"
    cells = out / f"{ds.name}.cells.tsv"
    _write_bytes(mtx, _mtx_text(cell, ev, (ds.n_cells, ds.n_events)))
    _write_bytes(fa, _fasta_text([str(e) for e in ds.event_ids], ds.sequences))
    obs = ds.obs.copy()
    for c in obs.columns:
        if isinstance(obs[c].dtype, pd.CategoricalDtype):
            obs[c] = obs[c].astype(str)
    obs.insert(0, "cell", [str(c) for c in ds.cell_ids])
    _write_bytes(cells, _tsv(obs))
    return [mtx, fa, cells]


def write_dataset_h5ad(ds: Dataset, out: Path) -> list[Path]:
    """``<name>.h5ad`` via :func:`cellspace.io.write_h5ad`."""
    from cellspace.io import write_h5ad

    path = out / f"{ds.name}.h5ad"
    write_h5ad(ds, path)
    return [path]


def write_dataset_tenx(ds: Dataset, out: Path) -> list[Path]:
    """``<name>_tenx/``: matrix.mtx.gz (peaks x barcodes), barcodes.tsv.gz, peaks.bed.gz."""
    folder = out / f"{ds.name}_tenx"
    ev, cell = _entries(ds.events)
    order = np.lexsort((ev, cell))  # column-major for a peaks x barcodes matrix
    var = ds.var if ds.var is not None else pd.DataFrame()
    if not {"chrom", "start", "end"} <= set(var.columns):
        raise ValueError(f"dataset {ds.name!r} has no event coordinates for a 10x folder")
    bed = var[["chrom", "start", "end"]].to_csv(sep="\t", header=False, index=False, lineterminator="\n")
    with atomic_dir(folder) as tmp:
        (tmp / "matrix.mtx.gz").write_bytes(_gz(_mtx_text(ev[order], cell[order], (ds.n_events, ds.n_cells))))
        (tmp / "barcodes.tsv.gz").write_bytes(_gz("".join(f"{c}\n" for c in ds.cell_ids).encode()))
        (tmp / "peaks.bed.gz").write_bytes(_gz(bed.encode()))
    return [folder]


def write_dataset_fragments(sim: Simulation, d: int, out: Path) -> tuple[list[Path], pd.DataFrame]:
    """``<name>.fragments.tsv.gz`` (+ ``.tbi``) and ``<name>.barcodes.txt``; returns the truth."""
    from cellspace.simulate.fragments import simulate_fragments, write_fragments_file

    ds = sim.datasets[d]
    frags = simulate_fragments(ds, sim.genome, sim.params.seed, d)
    paths = write_fragments_file(frags, out / f"{ds.name}.fragments.tsv.gz")
    bc = out / f"{ds.name}.barcodes.txt"
    _write_bytes(bc, "".join(f"{c}\n" for c in ds.cell_ids).encode())
    return paths + [bc], frags


def write_genome(sim: Simulation, out: Path) -> list[Path]:
    """``genome.fa`` (60 bp lines) and its ``.fai`` index."""
    from cellspace.io import write_genome_fasta

    path = out / "genome.fa"
    write_genome_fasta(path, sim.genome.fasta_records(), width=60)
    return [path, Path(f"{path}.fai")]


def write_truth(sim: Simulation, out: Path) -> list[Path]:
    t = sim.truth
    paths = []
    for name, df in (
        ("cells", t.cells),
        ("tfs", t.tfs),
        ("events", t.events),
        ("regions", t.regions),
        ("sites", t.sites),
        ("donor_events", t.donor_events),
    ):
        p = out / f"truth_{name}.tsv"
        _write_bytes(p, _tsv(df))
        paths.append(p)
    return paths


def write_simulation(
    sim: Simulation, out: str | Path, formats: str | Iterable[str] = DEFAULT_FORMATS
) -> list[Path]:
    """Write all datasets in ``formats`` plus the truth into ``out`` (created). Returns paths."""
    fmts = parse_formats(formats)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    fragment_truth: list[pd.DataFrame] = []
    for d, ds in enumerate(sim.datasets):
        if "mtx" in fmts:
            written += write_dataset_mtx(ds, out)
        if "h5ad" in fmts:
            written += write_dataset_h5ad(ds, out)
        if "tenx" in fmts:
            written += write_dataset_tenx(ds, out)
        if "fragments" in fmts:
            paths, frags = write_dataset_fragments(sim, d, out)
            written += paths
            fragment_truth.append(frags)
    if "tenx" in fmts or "fragments" in fmts:
        written += write_genome(sim, out)
    if fragment_truth:
        p = out / "truth_fragments.tsv.gz"
        _write_bytes(p, _tsv(pd.concat(fragment_truth, ignore_index=True)))
        written.append(p)
    written += write_truth(sim, out)
    meta = {
        "cellspace_version": __version__,
        "seed": sim.params.seed,
        "params": sim.params.to_dict(),
        "formats": list(fmts),
        "summary": sim.summary(),
        "files": sorted(p.name for p in written) + ["simulation.json"],
    }
    js = out / "simulation.json"
    _write_bytes(js, (json.dumps(meta, indent=2) + "\n").encode())
    written.append(js)
    log.info("wrote %d datasets (%s) and truth to %s", len(sim.datasets), ",".join(fmts), out)
    return written
