"""MatrixMarket (cells x events) + FASTA (one record per event column): the reference format.

The header line is parsed and validated here (so a broken file gives a one-line error naming
it); the data lines are parsed with pandas' C reader, which is fast enough for hundreds of
millions of entries. Plain or gzipped files, ``%`` comment lines, ``integer``, ``real`` and
``pattern`` fields, and ``coordinate`` or ``array`` formats are accepted; only ``general``
symmetry makes sense for a cells x events matrix.

The optional sidecar files of the reference workflow are read here as well: a cell names file
(one name per line, e.g. ``cell-names.txt``; or a TSV/CSV whose first column is the name) and a
cell metadata table whose columns become ``obs`` columns (so ``batch_key`` can name one).
"""

from __future__ import annotations

import gzip
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellspace.atomic import atomic_path
from cellspace.dataset import Dataset, make_dataset
from cellspace.errors import InputError
from cellspace.sequences import SequenceStore, read_fasta, write_fasta

log = logging.getLogger(__name__)

_FORMATS = ("coordinate", "array")
_FIELDS = ("integer", "real", "double", "pattern")
_EXPECTED = "'%%MatrixMarket matrix coordinate integer|real|pattern general'"
# Column headers that mark the first column of a metadata table as the cell names.
_CELL_ID_HEADERS = {"", "cell", "cells", "cell_id", "cell_ids", "cellid", "cell_name",
                    "cell_names", "barcode", "barcodes", "name", "obs_names", "index"}


# --------------------------------------------------------------------------- file helpers


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a plain or gzipped file for binary reading (gzip detected by its magic bytes)."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path) from None
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def strip_suffixes(path: str | Path, suffixes: Sequence[str]) -> str:
    """File name without any of ``suffixes`` (tried longest first; case-insensitive)."""
    name = Path(path).name
    for sfx in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(sfx) and len(name) > len(sfx):
            return name[: -len(sfx)]
    return name


def require_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path if it is an existing file, else a one-line InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found", p)
    if p.is_dir():
        raise InputError(f"{what} is a folder, expected a file", p)
    return p


# --------------------------------------------------------------------------- MatrixMarket


@dataclass(frozen=True)
class MMHeader:
    """The validated banner of a MatrixMarket file."""

    format: str  # coordinate | array
    field: str  # integer | real | pattern
    symmetry: str  # general


def parse_mm_header(line: bytes | str, path: str | Path) -> MMHeader:
    """Validate a ``%%MatrixMarket matrix <format> <field> <symmetry>`` banner."""
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    text = text.strip()
    shown = text if len(text) <= 80 else text[:77] + "..."
    tokens = text.split()
    if not tokens or tokens[0] != "%%MatrixMarket":
        got = repr(shown) if text else "an empty first line"
        raise InputError(f"invalid MatrixMarket header: expected {_EXPECTED}, got {got}", path)
    if len(tokens) != 5:
        raise InputError(
            f"invalid MatrixMarket header: expected 5 words ({_EXPECTED}), got {shown!r}", path
        )
    obj, fmt, field, sym = (t.lower() for t in tokens[1:])
    if obj != "matrix":
        raise InputError(f"invalid MatrixMarket header: object {obj!r} is not 'matrix'", path)
    if fmt not in _FORMATS:
        raise InputError(
            f"invalid MatrixMarket header: format {fmt!r} is not 'coordinate' or 'array'", path
        )
    if field not in _FIELDS:
        raise InputError(
            f"invalid MatrixMarket header: field {field!r} is not supported "
            "(use integer, real or pattern)",
            path,
        )
    if sym != "general":
        raise InputError(
            f"invalid MatrixMarket header: symmetry {sym!r} is not supported for a cells x events "
            "matrix (use general)",
            path,
        )
    if fmt == "array" and field == "pattern":
        raise InputError("invalid MatrixMarket header: an array matrix cannot be 'pattern'", path)
    return MMHeader(format=fmt, field="real" if field == "double" else field, symmetry=sym)


def read_mtx(path: str | Path) -> sp.coo_matrix:
    """Read a MatrixMarket file (plain or gzipped) as a COO matrix with explicit zeros removed.

    Entries are kept as given (duplicates are summed by later conversion); values are float64
    (``pattern`` entries are 1). Every problem is a one-line :class:`InputError`.
    """
    path = require_file(path, "matrix file")
    try:
        with open_binary(path) as fh:
            first = fh.readline()
            if not first:
                raise InputError("invalid MatrixMarket header: the file is empty", path)
            header = parse_mm_header(first, path)
            size_line = b""
            lineno = 1
            for raw in fh:
                lineno += 1
                s = raw.strip()
                if not s or s.startswith(b"%"):
                    continue
                size_line = s
                break
            shape, nnz = _parse_size_line(size_line, header, path, lineno)
            rest = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read MatrixMarket file: {e}", path) from None
    if header.format == "array":
        return _parse_array(rest, shape, path, header.field)
    return _parse_coordinate(rest, header, shape, nnz, path)


def _parse_size_line(
    line: bytes, header: MMHeader, path: Path, lineno: int
) -> tuple[tuple[int, int], int]:
    want = 3 if header.format == "coordinate" else 2
    words = line.split()
    try:
        nums = [int(w) for w in words]
    except ValueError:
        nums = []
    if len(nums) != want or min(nums) < 0:
        what = "'rows columns entries'" if want == 3 else "'rows columns'"
        got = line.decode("utf-8", errors="replace")[:60] if line else "end of file"
        raise InputError(
            f"invalid MatrixMarket size line {lineno}: expected {what}, got {got!r}", path
        )
    nnz = nums[2] if want == 3 else nums[0] * nums[1]
    return (nums[0], nums[1]), nnz


def _read_table(data: bytes, ncols: int, path: Path) -> np.ndarray:
    """Whitespace-separated numeric table -> float64 array (n, ncols); '%' lines skipped."""
    if not data.strip():
        return np.empty((0, ncols), dtype=np.float64)
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops data) when a line has too many fields
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                io.BytesIO(data),
                sep=r"\s+",
                header=None,
                comment="%",
                engine="c",
                dtype=np.float64,
                names=list(range(ncols)),
                index_col=False,
            )
    except pd.errors.ParserWarning:
        raise InputError(
            f"malformed MatrixMarket data: an entry has more than the {ncols} expected numbers", path
        ) from None
    except (ValueError, pd.errors.ParserError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise InputError(f"malformed MatrixMarket data: {msg}", path) from None
    arr = df.to_numpy(dtype=np.float64, copy=False)
    if np.isnan(arr).any():
        bad = int(np.flatnonzero(np.isnan(arr).any(axis=1))[0])
        raise InputError(
            f"malformed MatrixMarket data: entry {bad + 1} has {int((~np.isnan(arr[bad])).sum())} "
            f"of {ncols} expected numbers",
            path,
        )
    return arr


def _parse_coordinate(
    data: bytes, header: MMHeader, shape: tuple[int, int], nnz: int, path: Path
) -> sp.coo_matrix:
    ncols = 2 if header.field == "pattern" else 3
    arr = _read_table(data, ncols, path)
    if len(arr) != nnz:
        raise InputError(
            f"MatrixMarket size line declares {nnz} entries but {len(arr)} were read "
            "(truncated or corrupt file?)",
            path,
        )
    rows, cols = arr[:, 0], arr[:, 1]
    vals = np.ones(len(arr)) if header.field == "pattern" else arr[:, 2]
    if len(arr):
        if (rows != np.floor(rows)).any() or (cols != np.floor(cols)).any():
            raise InputError("MatrixMarket entry indices must be integers", path)
        for idx, n, what in ((rows, shape[0], "row"), (cols, shape[1], "column")):
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 1 or hi > n:
                bad = lo if lo < 1 else hi
                raise InputError(
                    f"MatrixMarket {what} index {bad} is outside 1..{n} (declared size "
                    f"{shape[0]} x {shape[1]})",
                    path,
                )
        _check_values(vals, header.field, path)
    keep = vals != 0
    r = rows[keep].astype(np.int64) - 1
    c = cols[keep].astype(np.int64) - 1
    return sp.coo_matrix((vals[keep], (r, c)), shape=shape)


def _check_values(vals: np.ndarray, field: str, path: Path) -> None:
    """Values must be finite, non-negative and, in an ``integer`` file, whole numbers."""
    if not len(vals):
        return
    finite = np.isfinite(vals)
    if not finite.all():
        j = int(np.flatnonzero(~finite)[0])
        raise InputError(f"MatrixMarket value of entry {j + 1} is {float(vals[j])}; counts must be finite", path)
    if (vals < 0).any():
        raise InputError(f"MatrixMarket values must be non-negative counts, found {vals.min():g}", path)
    if field == "integer":
        frac = np.flatnonzero(vals != np.floor(vals))
        if len(frac):
            j = int(frac[0])
            raise InputError(
                f"MatrixMarket field is 'integer' but entry {j + 1} has the value {vals[j]:g}", path
            )


def _parse_array(data: bytes, shape: tuple[int, int], path: Path, field: str) -> sp.coo_matrix:
    arr = _read_table(data, 1, path)[:, 0]
    if len(arr) != shape[0] * shape[1]:
        raise InputError(
            f"MatrixMarket array declares {shape[0]} x {shape[1]} values but {len(arr)} were read",
            path,
        )
    _check_values(arr, field, path)
    dense = arr.reshape(shape[1], shape[0]).T  # column-major
    return sp.coo_matrix(dense)


def write_mtx(
    path: str | Path,
    matrix: sp.spmatrix | np.ndarray,
    *,
    field: str | None = None,
    comment: str | None = None,
) -> None:
    """Write ``matrix`` as MatrixMarket ``coordinate <field> general`` (gzipped for .gz), atomically.

    ``field`` defaults to ``integer`` when all values are whole numbers, else ``real``;
    ``pattern`` writes positions only.
    """
    path = Path(path)
    m = sp.coo_matrix(matrix)
    m.sum_duplicates()
    m.eliminate_zeros()
    if field is None:
        field = "integer" if np.all(np.equal(np.mod(m.data, 1), 0)) else "real"
    if field not in ("integer", "real", "pattern"):
        raise ValueError(f"field must be integer, real or pattern, got {field!r}")
    order = np.lexsort((m.row, m.col))  # column-major, like R's writeMM
    cols = {"r": m.row[order] + 1, "c": m.col[order] + 1}
    if field == "integer":
        cols["v"] = np.rint(m.data[order]).astype(np.int64)
    elif field == "real":
        cols["v"] = m.data[order].astype(np.float64)
    df = pd.DataFrame(cols)
    head = f"%%MatrixMarket matrix coordinate {field} general\n"
    if comment:
        head += "".join(f"%{line}\n" for line in comment.splitlines())
    head += f"{m.shape[0]} {m.shape[1]} {m.nnz}\n"
    body = df.to_csv(sep=" ", header=False, index=False, lineterminator="\n")
    raw = (head + body).encode()
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(raw, compresslevel=4) if path.suffix == ".gz" else raw)


# --------------------------------------------------------------------------- sidecar files


def read_cell_names(path: str | Path, n_cells: int | None = None) -> np.ndarray:
    """Cell names: one per line, or the first column of a TSV/CSV (gz ok).

    When the file has exactly one line more than ``n_cells``, the first line is a header.
    Names must be unique and, when ``n_cells`` is given, one per matrix row.
    """
    path = require_file(path, "cell names file")
    try:
        with open_binary(path) as fh:
            text = fh.read().decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read cell names: {e}", path) from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    names = []
    for ln in lines:
        for sep in ("\t", ","):
            if sep in ln:
                ln = ln.split(sep, 1)[0]
                break
        names.append(ln.strip().strip('"'))
    if n_cells is not None and len(names) == n_cells + 1:
        names = names[1:]
    if not names:
        raise InputError("cell names file is empty", path)
    if n_cells is not None and len(names) != n_cells:
        raise InputError(f"{len(names)} cell names for {n_cells} matrix rows", path)
    arr = np.asarray(names, dtype=object)
    dup = pd.Index(arr).duplicated()
    if dup.any():
        raise InputError(f"duplicate cell name {arr[np.flatnonzero(dup)[0]]!r}", path)
    return arr


def _sniff_sep(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return ","
    if name.endswith((".tsv", ".tsv.gz", ".tab", ".txt", ".txt.gz")):
        with open_binary(path) as fh:
            first = fh.readline()
        return "\t" if b"\t" in first or b"," not in first else ","
    with open_binary(path) as fh:
        first = fh.readline()
    return "," if first.count(b",") > first.count(b"\t") else "\t"


def read_cell_metadata(
    source: str | Path | pd.DataFrame,
    n_cells: int,
    cell_ids: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Cell metadata aligned with the matrix rows; returns (table, cell ids found in it or None).

    A table (TSV or CSV with a header line, gz ok; or a DataFrame) either has one row per
    matrix row, in order, or is indexed by cell name: when ``cell_ids`` are known and its
    first column (or index) contains all of them, rows are matched by name (extra rows are
    ignored). Without ``cell_ids``, a first column headed like a cell name column (``cell``,
    ``barcode``, an empty header, ...) supplies the cell ids.
    """
    path: Path | None = None
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        if not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
    else:
        path = require_file(source, "cell metadata file")
        try:
            df = pd.read_csv(path, sep=_sniff_sep(path), dtype={0: str}, keep_default_na=True)
        except (ValueError, OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise InputError(f"cannot read cell metadata table: {msg}", path) from None
    if df.shape[1] == 0 or len(df) == 0:
        raise InputError("cell metadata table has no rows or no columns", path)
    first = df.columns[0]
    first_vals = df[first].astype(str).str.strip().to_numpy(dtype=object)
    if cell_ids is not None:
        ids = pd.Index(np.asarray(cell_ids, dtype=object).astype(str))
        key = pd.Index(first_vals)
        if key.is_unique and ids.isin(key).all():
            pos = key.get_indexer(ids)
            out = df.iloc[pos].drop(columns=[first]).reset_index(drop=True)
            return _clean_columns(out), None
    if len(df) != n_cells:
        hint = " and its first column does not contain every cell name" if cell_ids is not None else ""
        raise InputError(f"cell metadata table has {len(df)} rows for {n_cells} cells{hint}", path)
    found: np.ndarray | None = None
    if cell_ids is None and str(first).strip().lower() in _CELL_ID_HEADERS | {"unnamed: 0"}:
        if pd.Index(first_vals).is_unique:
            found = first_vals
            df = df.drop(columns=[first])
    return _clean_columns(df.reset_index(drop=True)), found


def _clean_columns(df: pd.DataFrame) -> pd.DataFrame:
    df.columns = [str(c) for c in df.columns]
    return df


def check_event_sequences(store: SequenceStore, event_ids: Sequence[str], k: int, path: str | Path) -> None:
    """Sequences shorter than ``k`` or entirely N: a one-line InputError naming ``path``."""
    lengths = store.lengths
    short = np.flatnonzero(lengths < k)
    if len(short):
        j = int(short[0])
        raise InputError(
            f"{len(short)} event sequence(s) shorter than k = {k} "
            f"(first: {event_ids[j]!r}, {lengths[j]} bp)",
            path,
        )
    alln = np.flatnonzero(store.n_fraction() >= 1.0)
    if len(alln):
        raise InputError(
            f"{len(alln)} event sequence(s) are all N (first: {event_ids[int(alln[0])]!r})", path
        )


def unique_names(names: Sequence[str], what: str, path: str | Path | None = None) -> np.ndarray:
    """Make names unique by appending ``-1``, ``-2``, ... to repeats (with a warning)."""
    arr = np.asarray([str(n) for n in names], dtype=object)
    if pd.Index(arr).is_unique:
        return arr
    seen: dict[str, int] = {}
    out = []
    for n in arr:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}-{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    log.warning("%s: %s names are not unique; repeats get a -1, -2, ... suffix", path or "", what)
    return np.asarray(out, dtype=object)


def check_batch_key(obs: pd.DataFrame, batch_key: str, path: str | Path) -> None:
    """An unknown batch column is a one-line InputError naming the metadata source."""
    if batch_key not in obs.columns:
        cols = ", ".join(map(str, obs.columns)) or "none; give a cell metadata table"
        raise InputError(f"unknown batch column {batch_key!r} (cell metadata columns: {cols})", path)


def prepare_obs(obs: pd.DataFrame, name: str) -> pd.DataFrame:
    """Reserve the ``dataset`` column: drop it when it only repeats the dataset name, else rename."""
    if "dataset" in obs.columns:
        vals = obs["dataset"].astype(str)
        if (vals == name).all():
            obs = obs.drop(columns=["dataset"])
        else:
            obs = obs.rename(columns={"dataset": "input_dataset"})
    return obs


# --------------------------------------------------------------------------- the pair


def read_mtx_pair(
    matrix: str | Path,
    fasta: str | Path | None = None,
    *,
    peaks: str | Path | None = None,
    genome: str | Path | None = None,
    name: str | None = None,
    k: int = 8,
    batch_key: str | None = None,
    cells: str | Path | Sequence[str] | None = None,
    obs: str | Path | pd.DataFrame | None = None,
    drop_empty_events: bool = True,
) -> Dataset:
    """Read a cells x events MatrixMarket file and the sequences of its event columns.

    The sequences come from a FASTA (record names become event ids; FASTA order = column
    order) or are cut from a ``genome`` FASTA at the intervals of a ``peaks`` BED (one line per
    column, in order; event ids ``chrom:start-end``, coordinates kept in ``var``). ``cells`` is a cell
    names file (or a list of names); ``obs`` a cell metadata table (see
    :func:`read_cell_metadata`) whose columns are carried into ``Dataset.obs``.
    """
    matrix = require_file(matrix, "matrix file")
    if (fasta is None) == (peaks is None or genome is None) or (fasta is not None and peaks is not None):
        raise ValueError("give either fasta or both peaks and genome")
    name = name or strip_suffixes(matrix, [".mtx.gz", ".mtx", ".mm.gz", ".mm", ".gz"])
    coo = read_mtx(matrix)
    n_cells, n_events = coo.shape
    var: pd.DataFrame | None = None
    if fasta is not None:
        fasta = require_file(fasta, "FASTA file")
        ev_names, seqs = read_fasta(fasta)
        if len(seqs) != n_events:
            raise InputError(
                f"matrix has {n_events} event columns but FASTA {fasta} has {len(seqs)} records "
                "(one record per column expected, in column order)",
                matrix,
            )
        event_ids = unique_names(ev_names, "event", fasta)
        store = SequenceStore.from_strings(seqs, list(event_ids), source=str(fasta))
        del seqs
        check_event_sequences(store, event_ids, k, fasta)
    else:
        from cellspace.io.genome import cut_events
        from cellspace.io.regions import read_bed

        assert peaks is not None and genome is not None
        regions = read_bed(peaks)
        if len(regions) != n_events:
            raise InputError(
                f"matrix has {n_events} event columns but BED {peaks} has {len(regions)} "
                "intervals (one per column expected, in column order)",
                matrix,
            )
        store, event_ids, var = cut_events(genome, regions, peaks_path=peaks, k=k)

    cell_ids: np.ndarray | None = None
    if cells is not None:
        if isinstance(cells, str | Path):
            cell_ids = read_cell_names(cells, n_cells)
        else:
            cell_ids = np.asarray(list(cells), dtype=object)
            if len(cell_ids) != n_cells:
                raise InputError(f"{len(cell_ids)} cell names for {n_cells} matrix rows", matrix)
    meta: pd.DataFrame | None = None
    if obs is not None:
        meta, found = read_cell_metadata(obs, n_cells, cell_ids)
        if cell_ids is None and found is not None:
            cell_ids = found
    if cell_ids is None:
        cell_ids = np.array([f"{name}_{i + 1}" for i in range(n_cells)], dtype=object)
    if meta is None:
        meta = pd.DataFrame(index=pd.RangeIndex(n_cells))
    meta = prepare_obs(meta, name)
    if batch_key is not None:
        check_batch_key(meta, batch_key, obs if isinstance(obs, str | Path) else matrix)
    return make_dataset(
        name,
        coo,
        store,
        cell_ids=cell_ids,
        event_ids=event_ids,
        obs=meta,
        var=var,
        batch_key=batch_key,
        source=str(matrix),
        k=k,
        drop_empty_events=drop_empty_events,
    )


def write_mtx_pair(
    data: Dataset | sp.spmatrix | np.ndarray,
    matrix_path: str | Path,
    fasta_path: str | Path,
    *,
    sequences: Sequence[str] | SequenceStore | None = None,
    event_ids: Sequence[str] | None = None,
    cells_path: str | Path | None = None,
    cell_ids: Sequence[str] | None = None,
    field: str = "integer",
) -> None:
    """Write a cells x events MatrixMarket file and the FASTA of its columns (both atomic).

    ``data`` is a :class:`Dataset` (binary matrix, its sequences and event ids) or a cells x
    events matrix together with ``sequences`` (and optional ``event_ids``). ``cells_path``
    also writes the cell names, one per line.
    """
    if isinstance(data, Dataset):
        matrix = data.events.T.tocoo()
        seqs: Sequence[str] | SequenceStore = data.sequences
        ids = [str(e) for e in data.event_ids]
        cids = [str(c) for c in data.cell_ids]
    else:
        if sequences is None:
            raise ValueError("sequences are required when writing a bare matrix")
        matrix = sp.coo_matrix(data)
        seqs = sequences
        n = matrix.shape[1]
        ids = [str(e) for e in event_ids] if event_ids is not None else [f"event{j + 1}" for j in range(n)]
        cids = [str(c) for c in cell_ids] if cell_ids is not None else []
    if len(seqs) != matrix.shape[1] or len(ids) != matrix.shape[1]:
        raise ValueError(
            f"{matrix.shape[1]} matrix columns but {len(seqs)} sequences / {len(ids)} event ids"
        )
    write_mtx(matrix_path, matrix, field=field)
    write_fasta(fasta_path, ids, iter(seqs))
    if cells_path is not None:
        if not cids:
            cids = [f"cell{i + 1}" for i in range(matrix.shape[0])]
        from cellspace.atomic import write_text_atomic

        write_text_atomic(cells_path, "".join(f"{c}\n" for c in cids))
