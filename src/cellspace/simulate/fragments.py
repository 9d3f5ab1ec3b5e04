"""Fragments files from a simulation, with the truth of every fragment.

Each accessible (cell, event) of a dataset gives one fragment, and a second with probability
``p_second``; its length is uniform in [40, event length] bp and it lies inside the event, so
both insertions fall in the event. Every cell also gets Poisson(``off_peak``) fragments at
uniform genome positions, and ``background_fraction`` x n_cells extra barcodes (droplets
without a cell) get 1 to ``max_background`` such fragments each.

Files per dataset: ``<name>.fragments.tsv.gz`` (bgzip, sorted by chromosome in genome order
then start, with a tabix ``.tbi``) and ``<name>.barcodes.txt`` (the cells' barcodes = cell
ids). ``truth_fragments.tsv.gz`` lists every fragment with its dataset, barcode, event (empty
for off-peak and background fragments) and whether the barcode is a cell.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from cellspace.atomic import atomic_path
from cellspace.dataset import Dataset
from cellspace.io.genome import write_bgzip_text
from cellspace.simulate.sequences import SyntheticGenome

_FRAGMENTS_STREAM = 8  # random stream of the fragments (core.py uses 1..7)
MIN_LENGTH = 40


def simulate_fragments(
    ds: Dataset,
    genome: SyntheticGenome,
    seed: int,
    dataset_index: int,
    *,
    p_second: float = 0.3,
    off_peak: float = 2.0,
    background_fraction: float = 0.5,
    max_background: int = 5,
) -> pd.DataFrame:
    """Fragments of one dataset: chrom, start, end, barcode, event, is_cell (genome-sorted)."""
    rng = np.random.default_rng([seed, _FRAGMENTS_STREAM, dataset_index])
    var = ds.var
    if var is None or not {"chrom", "start", "end"} <= set(var.columns):
        raise ValueError(f"dataset {ds.name!r} has no event coordinates for fragments")
    chrom_index = {c: i for i, c in enumerate(genome.chrom_names)}
    ev_chrom = np.array([chrom_index[str(c)] for c in var["chrom"]], dtype=np.int64)
    ev_start = var["start"].to_numpy(dtype=np.int64)
    ev_end = var["end"].to_numpy(dtype=np.int64)
    m = ds.events.tocoo()
    ev = np.asarray(m.row, dtype=np.int64)
    cell = np.asarray(m.col, dtype=np.int64)
    extra = rng.random(len(ev)) < p_second
    ev = np.concatenate([ev, ev[extra]])
    cell = np.concatenate([cell, cell[extra]])
    width = ev_end[ev] - ev_start[ev]
    length = MIN_LENGTH + (rng.random(len(ev)) * (np.maximum(width, MIN_LENGTH) - MIN_LENGTH + 1)).astype(np.int64)
    length = np.minimum(length, width)
    start = ev_start[ev] + (rng.random(len(ev)) * (width - length + 1)).astype(np.int64)
    barcodes = np.asarray([str(c) for c in ds.cell_ids], dtype=object)
    peak = pd.DataFrame({"chrom": ev_chrom[ev], "start": start, "end": start + length,
                         "barcode": barcodes[cell], "event": ds.event_ids[ev].astype(str), "is_cell": True})

    n_off = rng.poisson(off_peak, size=ds.n_cells)
    n_bg = int(round(background_fraction * ds.n_cells))
    bg_names = np.array([f"{ds.name}_bg{i + 1}" for i in range(n_bg)], dtype=object)
    n_bg_frag = rng.integers(1, max_background + 1, size=n_bg)
    owners = np.concatenate([np.repeat(barcodes, n_off), np.repeat(bg_names, n_bg_frag)])
    is_cell = np.concatenate([np.ones(n_off.sum(), bool), np.zeros(n_bg_frag.sum(), bool)])
    lengths = np.array([len(c) for c in genome.chroms], dtype=np.int64)
    oc = rng.choice(len(lengths), size=len(owners), p=lengths / lengths.sum())
    olen = rng.integers(MIN_LENGTH, 300, size=len(owners))
    ostart = (rng.random(len(owners)) * (lengths[oc] - olen)).astype(np.int64)
    off = pd.DataFrame({"chrom": oc, "start": ostart, "end": ostart + olen, "barcode": owners,
                        "event": "", "is_cell": is_cell})
    frags = pd.concat([peak, off], ignore_index=True)
    frags = frags.sort_values(["chrom", "start", "end", "barcode"], kind="stable", ignore_index=True)
    frags["chrom"] = np.asarray(genome.chrom_names, dtype=object)[frags["chrom"].to_numpy()]
    frags.insert(0, "dataset", ds.name)
    return frags


def write_fragments_file(frags: pd.DataFrame, path: str | Path) -> list[Path]:
    """``path`` (bgzip, 5 columns: chrom, start, end, barcode, count) and its tabix ``.tbi``."""
    path = Path(path)
    text = frags[["chrom", "start", "end", "barcode"]].assign(count=1).to_csv(
        sep="\t", header=False, index=False, lineterminator="\n"
    )
    tbi = Path(f"{path}.tbi")
    with contextlib.suppress(FileNotFoundError):
        tbi.unlink()
    with atomic_path(path) as tmp:
        write_bgzip_text(text, tmp)
    pysam.tabix_index(str(path), preset="bed", force=True, keep_original=True)
    return [path, tbi]


__all__ = ["simulate_fragments", "write_fragments_file"]
