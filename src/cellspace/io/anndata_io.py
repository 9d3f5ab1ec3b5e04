"""AnnData (.h5ad, cells x events) input and output.

Reading: the matrix is ``X`` (or ``layers[layer]``); event sequences come from
``var[sequence_key]`` or, when that column is absent, from a FASTA (given, or found beside
the file: same stem + ``.fa``, ``.fa.gz``, ``.fasta`` or ``.fasta.gz``). FASTA records are
matched to events by ``var_names``. Only when *no* var name is a FASTA record name and the
record count equals the event count are they taken in order (as in the MatrixMarket + FASTA
pair, with a warning); a partial match is an error that names the missing events.

Writing: ``X`` holds the binary accessibility matrix, ``var["sequence"]`` the sequences,
``obs`` the cell metadata plus ``dataset`` (and ``batch`` when the dataset has a batch key).
``uns["cellspace_input"]`` records the dataset name and batch key.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellspace.atomic import atomic_path
from cellspace.dataset import Dataset, check_finite_values, make_dataset
from cellspace.errors import InputError
from cellspace.io.genome import cut_events
from cellspace.io.mtx import (
    check_batch_key,
    check_event_sequences,
    prepare_obs,
    require_file,
    strip_suffixes,
    unique_names,
)
from cellspace.io.regions import parse_region, read_bed, regions_from_names
from cellspace.sequences import SequenceStore, read_fasta

log = logging.getLogger(__name__)

FASTA_SUFFIXES = (".fa", ".fa.gz", ".fasta", ".fasta.gz")
PROBE_SECONDS = 20.0  # time limit of the HDF5 probe, plus 1 s per 100 MB of file
UNS_KEY = "cellspace_input"


def fasta_beside(path: str | Path) -> Path | None:
    """The FASTA next to ``path`` with the same stem, if any."""
    path = Path(path)
    stem = strip_suffixes(path, [".h5ad"])
    for sfx in FASTA_SUFFIXES:
        cand = path.with_name(stem + sfx)
        if cand.exists():
            return cand
    return None


def stored_dataset_name(path: str | Path) -> str | None:
    """The dataset name recorded by :func:`write_h5ad` in ``uns``, without loading the file."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            node = f.get(f"uns/{UNS_KEY}/dataset")
            if node is None:
                return None
            val = node[()]
            return (val.decode() if isinstance(val, bytes) else str(val)) or None
    except (OSError, KeyError, TypeError, ValueError):
        return None


# Reads every string dataset and attribute of an HDF5 file: a corrupt global heap (e.g. zeroed
# bytes) makes HDF5 loop forever on variable-length strings, where no signal can stop it.
_PROBE = r"""
import sys
import h5py

def visit(name, obj):
    for key in obj.attrs:
        obj.attrs[key]
    if isinstance(obj, h5py.Dataset) and (
        obj.dtype.kind in "OSU" or h5py.check_string_dtype(obj.dtype) is not None
        or h5py.check_vlen_dtype(obj.dtype) is not None
    ):
        obj[()]

with h5py.File(sys.argv[1], "r") as f:
    visit("/", f)
    f.visititems(visit)
"""


def probe_hdf5(path: str | Path) -> None:
    """Fail within seconds, as a one-line InputError, on an HDF5 file that HDF5 would hang on.

    The file's strings and attributes are read in a child process with a time limit of 20 s
    plus 1 s per 100 MB (numeric arrays are not read: a damaged chunk of those is an error,
    not a hang).
    """
    path = Path(path)
    limit = PROBE_SECONDS + path.stat().st_size / 100e6
    try:
        run = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=limit
        )
    except subprocess.TimeoutExpired:
        raise InputError(
            f"cannot read AnnData file: its HDF5 strings could not be read in {limit:.0f} s (corrupt file?)",
            path,
        ) from None
    if run.returncode != 0:
        lines = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
        msg = " ".join(lines[-1].split())[:200] if lines else f"exit status {run.returncode}"
        raise InputError(f"cannot read AnnData file: {msg}", path)


def read_anndata(path: str | Path) -> ad.AnnData:
    """The one h5ad reader of every step: a missing, corrupt or unreadable file is a one-line
    InputError naming it (never a traceback, never a hang)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    probe_hdf5(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ad.read_h5ad(path)
    except Exception as e:  # h5py/anndata raise many types for a broken file
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise InputError(f"cannot read AnnData file: {msg}", path) from None




def _matrix(adata: ad.AnnData, layer: str | None, path: Path) -> sp.csr_matrix:
    if layer is not None:
        if layer not in adata.layers:
            have = ", ".join(adata.layers.keys()) or "none"
            raise InputError(f"AnnData has no layer {layer!r} (layers: {have})", path)
        x = adata.layers[layer]
    else:
        x = adata.X
    if x is None:
        raise InputError("AnnData has no X matrix (use a layer)", path)
    m = sp.csr_matrix(x)
    if m.dtype.kind not in "biuf":
        raise InputError(f"AnnData matrix has non-numeric dtype {m.dtype}", path)
    check_finite_values(m, path)
    if m.nnz and m.data.min() < 0:
        raise InputError(f"AnnData matrix has negative values (min {m.data.min():g})", path)
    m.eliminate_zeros()
    return m


def _sequences_from_fasta(var_names: np.ndarray, fasta: Path, path: Path) -> list[str]:
    names, seqs = read_fasta(fasta)
    index = {n: i for i, n in enumerate(names)}
    hits = np.array([v in index for v in var_names])
    if hits.all():
        return [seqs[index[v]] for v in var_names]
    if not hits.any() and len(names) == len(var_names):
        log.warning(
            "%s: no event name is a record of %s; taking the %d records in order",
            path, fasta, len(names),
        )
        return seqs
    missing = var_names[~hits]
    shown = ", ".join(repr(str(x)) for x in missing[:3]) + (", ..." if len(missing) > 3 else "")
    raise InputError(
        f"{len(missing)} of {len(var_names)} events have no record in FASTA {fasta} ({shown})", path
    )


def _stored_sequences(
    adata: ad.AnnData, var_names: np.ndarray, fasta: str | Path | None, sequence_key: str,
    path: Path, k: int,
) -> SequenceStore:
    """Event sequences from ``var[sequence_key]``, else a FASTA (given or beside the file)."""
    if sequence_key in adata.var.columns:
        col = adata.var[sequence_key]
        if col.isna().any():
            j = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise InputError(f"var[{sequence_key!r}] is missing for event {var_names[j]!r}", path)
        seqs = [str(s) for s in col]
        seq_src: Path = path
    else:
        fa = Path(fasta) if fasta is not None else fasta_beside(path)
        if fa is None:
            tried = ", ".join(strip_suffixes(path, [".h5ad"]) + s for s in FASTA_SUFFIXES)
            raise InputError(
                f"no event sequences: var has no {sequence_key!r} column and no FASTA was given "
                f"or found beside the file (tried {tried}); or give --genome to cut them from",
                path,
            )
        fa = require_file(fa, "FASTA file")
        seqs = _sequences_from_fasta(np.asarray(adata.var_names, dtype=object), fa, path)
        seq_src = fa
    store = SequenceStore.from_strings(seqs, list(var_names), source=str(seq_src))
    del seqs
    check_event_sequences(store, var_names, k, seq_src)
    return store


def _event_regions(adata: ad.AnnData, peaks: str | Path | None, path: Path) -> tuple[pd.DataFrame, Path]:
    """(chrom/start/end per event, the file they came from) for cutting from a genome."""
    n = adata.n_vars
    if peaks is not None:
        regions = read_bed(peaks)
        if len(regions) != n:
            raise InputError(
                f"AnnData has {n} events but BED {peaks} has {len(regions)} intervals "
                "(one per event expected, in var order)",
                path,
            )
        return regions, Path(peaks)
    var = adata.var
    if {"chrom", "start", "end"} <= set(var.columns):
        try:
            return pd.DataFrame({"chrom": var["chrom"].astype(str).to_numpy(),
                                 "start": var["start"].to_numpy(dtype=np.int64),
                                 "end": var["end"].to_numpy(dtype=np.int64)}), path
        except (ValueError, TypeError):
            raise InputError("var chrom/start/end columns are not integer coordinates", path) from None
    regions = regions_from_names([str(v) for v in adata.var_names])
    if regions is None:
        bad = next(str(v) for v in adata.var_names if parse_region(str(v)) is None)
        raise InputError(
            f"var_names are not genomic regions like 'chr1:100-600' (e.g. {bad!r}) and var has no "
            "chrom/start/end columns; give a peaks BED with one interval per event",
            path,
        )
    return regions, path


def read_h5ad(
    path: str | Path,
    *,
    name: str | None = None,
    k: int = 8,
    batch_key: str | None = None,
    fasta: str | Path | None = None,
    genome: str | Path | None = None,
    peaks: str | Path | None = None,
    sequence_key: str = "sequence",
    layer: str | None = None,
    drop_empty_events: bool = True,
) -> Dataset:
    """Read an AnnData file (cells x events) with event sequences as a :class:`Dataset`.

    With ``genome``, event sequences are cut from it at the intervals of a ``peaks`` BED (one
    line per event, in order), else of ``var`` chrom/start/end columns, else of ``var_names``
    of the form ``chrom:start-end`` (SnapATAC2, ArchR and Signac exports); event ids become
    ``chrom:start-end``. Without it they come from ``var[sequence_key]`` or a FASTA.
    """
    path = require_file(path, "AnnData file")
    if peaks is not None and genome is None:
        raise ValueError("peaks need a genome to cut the sequences from")
    adata = read_anndata(path)
    uns = adata.uns.get(UNS_KEY, {}) if isinstance(adata.uns.get(UNS_KEY), dict) else {}
    name = name or str(uns.get("dataset") or "") or strip_suffixes(path, [".h5ad"])
    m = _matrix(adata, layer, path)
    # only which entries are nonzero is used: keep the structure, free the values (and the
    # AnnData's hold on them) before the events matrix is built
    m = sp.csr_matrix((np.ones(m.nnz, dtype=np.uint8), m.indices, m.indptr), shape=m.shape)
    if layer is None:
        adata.X = None
    else:
        del adata.layers[layer]
    var_names = unique_names(adata.var_names, "event", path)
    var = adata.var.copy()
    if genome is not None:
        regions, where = _event_regions(adata, peaks, path)
        store, var_names, coords = cut_events(genome, regions, peaks_path=where, k=k)
        var = var.drop(columns=[c for c in (sequence_key, "chrom", "start", "end") if c in var.columns])
        var = pd.concat([coords, var.reset_index(drop=True)], axis=1)
    else:
        store = _stored_sequences(adata, var_names, fasta, sequence_key, path, k)
        var = var.drop(columns=[sequence_key], errors="ignore")
    obs = adata.obs.copy()
    if uns.get("dataset") and "dataset" in obs.columns:  # written by write_h5ad
        obs = prepare_obs(obs, str(uns["dataset"]))
    obs = prepare_obs(obs, name)
    cell_ids = unique_names(adata.obs_names, "cell", path)
    if batch_key is not None:
        check_batch_key(obs, batch_key, path)
    obs = obs.reset_index(drop=True)
    return make_dataset(
        name,
        m,
        store,
        cell_ids=cell_ids,
        event_ids=var_names,
        obs=obs,
        var=var.reset_index(drop=True),
        batch_key=batch_key,
        source=str(path),
        k=k,
        drop_empty_events=drop_empty_events,
    )


def _writable_frame(df: pd.DataFrame, categorical: bool = False) -> pd.DataFrame:
    """Object columns with mixed value types become strings, so h5ad can store them.

    With ``categorical``, string columns with repeated values become categoricals (what
    anndata would do on writing, without its log message per column).
    """
    df = df.copy()
    for c in df.columns:
        col = df[c]
        if col.dtype == object and not all(isinstance(v, str) for v in col):
            col = df[c] = col.astype(str)
        if categorical and col.dtype == object and col.nunique() < len(col):
            df[c] = pd.Categorical(col)
    df.columns = [str(c) for c in df.columns]
    return df


def dataset_to_anndata(dataset: Dataset, *, dtype: type = np.float32) -> ad.AnnData:
    """An AnnData of one dataset: binary X (cells x events), sequences in ``var["sequence"]``."""
    x = dataset.events.T.tocsr().astype(dtype)
    x.sort_indices()
    obs = dataset.obs.copy()
    if "dataset" in obs.columns:
        obs = obs.drop(columns=["dataset"])
    obs.insert(0, "dataset", dataset.name)
    if dataset.batch_key is not None:
        obs["batch"] = obs[dataset.batch_key].astype(str).to_numpy()
    obs.index = pd.Index([str(c) for c in dataset.cell_ids], name=None)
    var = (
        dataset.var.copy()
        if dataset.var is not None
        else pd.DataFrame(index=pd.RangeIndex(dataset.n_events))
    )
    var.index = pd.Index([str(e) for e in dataset.event_ids], name=None)
    var["sequence"] = list(dataset.sequences)
    uns = {UNS_KEY: {"dataset": dataset.name, "source": dataset.source}}
    if dataset.batch_key is not None:
        uns[UNS_KEY]["batch_key"] = dataset.batch_key
    return ad.AnnData(X=x, obs=_writable_frame(obs, categorical=True), var=_writable_frame(var), uns=uns)


def h5ad_bytes(adata: ad.AnnData) -> int:
    """About the uncompressed size of an AnnData's arrays (an upper bound of its .h5ad)."""

    def size(a) -> int:
        if sp.issparse(a):
            return int(a.data.nbytes + a.indices.nbytes + a.indptr.nbytes)
        if isinstance(a, pd.DataFrame):
            return int(a.memory_usage(index=True, deep=True).sum())
        return int(getattr(a, "nbytes", 0))

    total = size(adata.X) if adata.X is not None else 0
    total += size(adata.obs) + size(adata.var)
    for store in (adata.obsm, adata.varm, adata.layers, adata.obsp, adata.varp):
        total += sum(size(v) for v in store.values())
    return total + (1 << 16)


def write_h5ad(data: Dataset | ad.AnnData, path: str | Path, *, compression: str | None = "gzip") -> Path:
    """Write a Dataset (via :func:`dataset_to_anndata`) or an AnnData to ``path``, atomically.

    The one .h5ad writer: gzip level 1 by default (nearly the size of the default level, twice
    as fast; ``compression=None`` writes uncompressed);
    ``None`` values in ``uns`` (which h5ad cannot store) are dropped; the free space and the
    file-size limit are checked against the expected size before h5py writes anything.
    """
    adata = dataset_to_anndata(data) if isinstance(data, Dataset) else data
    _drop_none(adata.uns)
    path = Path(path)
    with atomic_path(path, suffix=".h5ad", n_bytes=h5ad_bytes(adata)) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if compression == "gzip":
            adata.write_h5ad(tmp, compression="gzip", compression_opts=1)
        else:
            adata.write_h5ad(tmp, compression=compression)
    return path


def _drop_none(d) -> None:
    """h5ad cannot store None values in uns: drop them (recursively)."""
    for key in list(d.keys()):
        v = d[key]
        if v is None:
            del d[key]
        elif isinstance(v, dict):
            _drop_none(v)
