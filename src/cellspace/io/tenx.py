"""10x Genomics Cell Ranger ATAC outputs: peak x barcode matrices plus a genome FASTA.

Two layouts are read (and written, for simulated test data):

- ``filtered_peak_bc_matrix.h5``: HDF5 group ``matrix`` with ``barcodes``, ``data``,
  ``indices``, ``indptr``, ``shape`` (peaks x barcodes, CSC) and ``features/id`` (``chr1:100-600``
  or ``chr1-100-600``), ``features/name`` and ``features/feature_type``; only ``Peaks``
  features are used (Cell Ranger ARC files also hold genes).
- the ``filtered_peak_bc_matrix/`` folder: ``matrix.mtx(.gz)`` (peaks x barcodes),
  ``barcodes.tsv(.gz)`` and ``peaks.bed(.gz)`` (or ``features.tsv(.gz)`` as written by
  Cell Ranger ARC).

Peak coordinates are BED-style (0-based, half-open), as Cell Ranger writes them; event
sequences are cut from the genome with pysam.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellspace.atomic import atomic_dir, atomic_path
from cellspace.dataset import Dataset, make_dataset
from cellspace.errors import InputError
from cellspace.io.genome import cut_events
from cellspace.io.mtx import (
    check_batch_key,
    open_binary,
    prepare_obs,
    read_cell_metadata,
    read_mtx,
    unique_names,
    write_mtx,
)
from cellspace.io.regions import parse_region

_MTX_NAMES = ("matrix.mtx.gz", "matrix.mtx")
_BARCODE_NAMES = ("barcodes.tsv.gz", "barcodes.tsv")
_PEAK_NAMES = ("peaks.bed.gz", "peaks.bed", "features.tsv.gz", "features.tsv")


def _first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    for n in names:
        if (folder / n).exists():
            return folder / n
    return None


def resolve_tenx_path(path: str | Path) -> Path:
    """The .h5 file or matrix folder behind ``path`` (a Cell Ranger ``outs`` folder also works)."""
    p = Path(path)
    if not p.exists():
        raise InputError("10x input not found", p)
    if p.is_file():
        return p
    if _first_existing(p, _MTX_NAMES):
        return p
    for cand in ("filtered_peak_bc_matrix", "outs/filtered_peak_bc_matrix"):
        if (p / cand).is_dir() and _first_existing(p / cand, _MTX_NAMES):
            return p / cand
    for cand in ("filtered_peak_bc_matrix.h5", "outs/filtered_peak_bc_matrix.h5"):
        if (p / cand).is_file():
            return p / cand
    raise InputError(
        "10x folder has no matrix.mtx(.gz) (nor a filtered_peak_bc_matrix folder or .h5)", p
    )


# --------------------------------------------------------------------------- reading


def _decode(arr: np.ndarray) -> np.ndarray:
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in arr], dtype=object)


def _read_tenx_h5(path: Path) -> tuple[sp.csr_matrix, np.ndarray, list[tuple[str, int, int]], np.ndarray]:
    """-> (barcodes x peaks CSR, barcodes, peak intervals, peak ids)."""
    try:
        with h5py.File(path, "r") as f:
            if "matrix" not in f:
                raise InputError("not a 10x peak-barcode matrix: HDF5 group 'matrix' missing", path)
            g = f["matrix"]
            for key in ("barcodes", "data", "indices", "indptr", "shape"):
                if key not in g:
                    raise InputError(f"not a 10x peak-barcode matrix: 'matrix/{key}' missing", path)
            n_feat, n_bc = (int(x) for x in g["shape"][:])
            data = g["data"][:]
            indices = g["indices"][:]
            indptr = g["indptr"][:]
            barcodes = _decode(g["barcodes"][:])
            feats = g.get("features")
            if feats is not None and ("id" in feats or "name" in feats):
                ids = _decode(feats["id"][:] if "id" in feats else feats["name"][:])
                names = _decode(feats["name"][:]) if "name" in feats else ids
                ftype = _decode(feats["feature_type"][:]) if "feature_type" in feats else None
            elif "peaks" in g:  # early Cell Ranger ATAC layout
                ids = names = _decode(g["peaks"][:])
                ftype = None
            else:
                raise InputError("not a 10x peak-barcode matrix: no 'matrix/features'", path)
    except OSError as e:
        raise InputError(f"cannot read 10x HDF5 file: {e}", path) from None
    if len(barcodes) != n_bc or len(ids) != n_feat or len(indptr) != n_bc + 1:
        raise InputError(
            f"inconsistent 10x matrix: shape {n_feat} x {n_bc}, {len(ids)} features, "
            f"{len(barcodes)} barcodes, {len(indptr)} indptr entries",
            path,
        )
    # CSC of (features x barcodes) == CSR of (barcodes x features)
    m = sp.csr_matrix((data, indices, indptr), shape=(n_bc, n_feat))
    if ftype is not None:
        is_peak = np.array([t.lower() == "peaks" for t in ftype])
        if not is_peak.any():
            raise InputError("10x matrix has no features of type 'Peaks'", path)
        m = m[:, np.flatnonzero(is_peak)]
        ids, names = ids[is_peak], names[is_peak]
    intervals = []
    for fid, fname in zip(ids, names, strict=True):
        reg = parse_region(fid) or parse_region(fname)
        if reg is None:
            raise InputError(
                f"peak feature {fid!r} is not a region like 'chr1:100-600' or 'chr1-100-600'", path
            )
        intervals.append(reg)
    return m, barcodes, intervals, ids


def _read_lines(path: Path) -> list[str]:
    try:
        with open_binary(path) as fh:
            text = fh.read().decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read: {e}", path) from None
    return [ln for ln in text.splitlines() if ln.strip()]


def _read_peaks(path: Path) -> list[tuple[str, int, int]]:
    rows = [ln.split("\t") for ln in _read_lines(path) if not ln.startswith(("#", "track", "browser"))]
    out = []
    is_features = "features" in path.name
    for i, r in enumerate(rows, 1):
        try:
            if is_features:  # id, name, type, chrom, start, end  (or just a region id)
                if len(r) >= 6:
                    if r[2].lower() != "peaks":
                        out.append(("", -1, -1))
                        continue
                    out.append((r[3], int(r[4]), int(r[5])))
                else:
                    reg = parse_region(r[0])
                    if reg is None:
                        raise ValueError
                    out.append(reg)
            else:
                out.append((r[0], int(r[1]), int(r[2])))
        except (ValueError, IndexError):
            raise InputError(f"line {i}: not a BED interval (chrom, start, end): {r!r}", path) from None
    return out


def _read_tenx_dir(path: Path) -> tuple[sp.csr_matrix, np.ndarray, list[tuple[str, int, int]], Path]:
    mtx = _first_existing(path, _MTX_NAMES)
    bcs = _first_existing(path, _BARCODE_NAMES)
    peaks = _first_existing(path, _PEAK_NAMES)
    if mtx is None or bcs is None or peaks is None:
        missing = [n for n, f in (("matrix.mtx(.gz)", mtx), ("barcodes.tsv(.gz)", bcs),
                                  ("peaks.bed(.gz)", peaks)) if f is None]
        raise InputError(f"10x folder lacks {', '.join(missing)}", path)
    m = read_mtx(mtx).T.tocsr()  # barcodes x peaks
    barcodes = np.array([ln.split("\t")[0].strip() for ln in _read_lines(bcs)], dtype=object)
    intervals = _read_peaks(peaks)
    if len(barcodes) != m.shape[0]:
        raise InputError(f"{len(barcodes)} barcodes for {m.shape[0]} matrix columns in {mtx}", bcs)
    if len(intervals) != m.shape[1]:
        raise InputError(f"{len(intervals)} peaks for {m.shape[1]} matrix rows in {mtx}", peaks)
    keep = np.array([iv[1] >= 0 for iv in intervals])
    if not keep.all():
        m = m[:, np.flatnonzero(keep)]
        intervals = [iv for iv, k in zip(intervals, keep, strict=True) if k]
    return m, barcodes, intervals, peaks


def read_tenx(
    path: str | Path,
    genome: str | Path,
    *,
    name: str | None = None,
    k: int = 8,
    batch_key: str | None = None,
    obs: str | Path | pd.DataFrame | None = None,
    drop_empty_events: bool = True,
) -> Dataset:
    """Read a Cell Ranger ATAC peak-barcode matrix (.h5 or folder) and cut peaks from ``genome``.

    Barcodes become cell ids and ``chrom:start-end`` the event ids. ``obs`` is an optional cell
    metadata table (e.g. Cell Ranger's ``singlecell.csv``): rows matched by barcode, or one
    row per barcode in order.
    """
    src = resolve_tenx_path(path)
    if src.is_file():
        m, barcodes, intervals, _ = _read_tenx_h5(src)
        peaks_src = src
    else:
        m, barcodes, intervals, peaks_src = _read_tenx_dir(src)
    name = name or default_tenx_name(path)
    regions = pd.DataFrame(intervals, columns=["chrom", "start", "end"])
    store, event_ids, var = cut_events(genome, regions, peaks_path=peaks_src, k=k)
    barcodes = unique_names(barcodes, "barcode", src)
    meta = pd.DataFrame(index=pd.RangeIndex(len(barcodes)))
    if obs is not None:
        meta, _ = read_cell_metadata(obs, len(barcodes), barcodes)
    meta = prepare_obs(meta, name)
    if batch_key is not None:
        check_batch_key(meta, batch_key, obs if isinstance(obs, str | Path) else src)
    return make_dataset(
        name,
        m,
        store,
        cell_ids=barcodes,
        event_ids=event_ids,
        obs=meta,
        var=var,
        batch_key=batch_key,
        source=str(src),
        k=k,
        drop_empty_events=drop_empty_events,
    )


def default_tenx_name(path: str | Path) -> str:
    """Dataset name for a 10x input: the sample folder rather than Cell Ranger's fixed names."""
    p = Path(path).resolve() if Path(path).exists() else Path(path)
    generic = {"filtered_peak_bc_matrix", "raw_peak_bc_matrix", "outs", "filtered_peak_bc_matrix.h5",
               "raw_peak_bc_matrix.h5", "filtered_feature_bc_matrix", "filtered_feature_bc_matrix.h5"}
    while p.name in generic and p.parent != p:
        p = p.parent
    name = p.name
    for sfx in (".h5",):
        if name.endswith(sfx):
            name = name[: -len(sfx)]
    return name or "tenx"


# --------------------------------------------------------------------------- writing


def _peak_frame(peaks: Sequence[tuple[str, int, int]] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(peaks, pd.DataFrame):
        df = peaks.iloc[:, :3].copy()
    else:
        df = pd.DataFrame(list(peaks))
    df.columns = ["chrom", "start", "end"]
    df["start"] = df["start"].astype(np.int64)
    df["end"] = df["end"].astype(np.int64)
    return df


def write_tenx_h5(
    path: str | Path,
    cells_by_peaks: sp.spmatrix | np.ndarray,
    barcodes: Sequence[str],
    peaks: Sequence[tuple[str, int, int]] | pd.DataFrame,
    *,
    genome_name: str = "genome",
    feature_ids: Sequence[str] | None = None,
    feature_types: Sequence[str] | None = None,
) -> None:
    """Write a Cell Ranger ATAC style ``filtered_peak_bc_matrix.h5`` (atomically).

    ``cells_by_peaks`` has one row per barcode; ``peaks`` gives each column's BED interval.
    ``feature_ids``/``feature_types`` override the defaults (``chrom:start-end``, ``Peaks``),
    e.g. to add gene-expression features as in Cell Ranger ARC files.
    """
    m = sp.csr_matrix(cells_by_peaks)
    m.sum_duplicates()
    m.sort_indices()
    pk = _peak_frame(peaks)
    n_bc, n_feat = m.shape
    if len(barcodes) != n_bc or len(pk) != n_feat:
        raise ValueError(f"matrix {m.shape} vs {len(barcodes)} barcodes and {len(pk)} peaks")
    ids = (
        list(feature_ids)
        if feature_ids is not None
        else [f"{c}:{s}-{e}" for c, s, e in zip(pk["chrom"], pk["start"], pk["end"], strict=True)]
    )
    types = list(feature_types) if feature_types is not None else ["Peaks"] * n_feat
    s = h5py.string_dtype("ascii")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            g = f.create_group("matrix")
            g.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
            g.create_dataset("data", data=m.data.astype(np.int32), compression="gzip")
            g.create_dataset("indices", data=m.indices.astype(np.int64), compression="gzip")
            g.create_dataset("indptr", data=m.indptr.astype(np.int64))
            g.create_dataset("shape", data=np.array([n_feat, n_bc], dtype=np.int32))
            fg = g.create_group("features")
            fg.create_dataset("id", data=np.array(ids, dtype="S"))
            fg.create_dataset("name", data=np.array(ids, dtype="S"))
            fg.create_dataset("feature_type", data=np.array(types, dtype="S"))
            fg.create_dataset("genome", data=np.array([genome_name] * n_feat, dtype="S"))
            fg.create_dataset("derivation", data=np.array([""] * n_feat, dtype="S1"))
            fg.create_dataset("_all_tag_keys", data=np.array(["genome", "derivation"], dtype=s))
            f.attrs["library_ids"] = np.array(["atac"], dtype="S")
            f.attrs["filetype"] = "matrix"


def write_tenx_dir(
    folder: str | Path,
    cells_by_peaks: sp.spmatrix | np.ndarray,
    barcodes: Sequence[str],
    peaks: Sequence[tuple[str, int, int]] | pd.DataFrame,
    *,
    gzip_files: bool = True,
) -> Path:
    """Write a Cell Ranger ATAC style ``filtered_peak_bc_matrix`` folder (atomically).

    Files: ``matrix.mtx`` (peaks x barcodes), ``barcodes.tsv``, ``peaks.bed``; ``.gz`` added
    when ``gzip_files``.
    """
    m = sp.coo_matrix(cells_by_peaks)
    pk = _peak_frame(peaks)
    if len(barcodes) != m.shape[0] or len(pk) != m.shape[1]:
        raise ValueError(f"matrix {m.shape} vs {len(barcodes)} barcodes and {len(pk)} peaks")
    gz = ".gz" if gzip_files else ""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        write_mtx(tmp / f"matrix.mtx{gz}", m.T, field="integer")
        for fname, text in (
            (f"barcodes.tsv{gz}", "".join(f"{b}\n" for b in barcodes)),
            (f"peaks.bed{gz}", pk.to_csv(sep="\t", header=False, index=False, lineterminator="\n")),
        ):
            raw = text.encode()
            (tmp / fname).write_bytes(gzip.compress(raw, compresslevel=4) if gz else raw)
    return folder


__all__ = [
    "read_tenx",
    "write_tenx_h5",
    "write_tenx_dir",
    "resolve_tenx_path",
    "default_tenx_name",
]
