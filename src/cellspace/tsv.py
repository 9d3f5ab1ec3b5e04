"""The reference tool's model TSV: one headerless row per k-mer and per cell.

Each line is a name then ``dim`` tab-separated values. k-mers are named by their canonical
string (the first of the reverse-complement pair in A<C<T<G order) and cells by
``__label__C<i>`` (1-based global index); n-gram buckets are not written. This is the file the
reference tool's R package reads, so models move between the two.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.atomic import atomic_path
from cellspace.errors import InputError
from cellspace.kmers import BYTE_CODE, kmer_names, kmer_row_table, n_kmer_rows
from cellspace.model import CellSpaceModel

CELL_PREFIX = "__label__C"
_CELL_RE = re.compile(r"^__label__C(\d+)$")


def export_tsv(model: CellSpaceModel, path: str | Path, *, precision: int = 6) -> None:
    """Write the model as the reference tool's TSV (k-mer rows, then cell rows)."""
    names = np.concatenate(
        [kmer_names(model.k), np.array([f"{CELL_PREFIX}{i + 1}" for i in range(model.n_cells)], dtype=object)]
    )
    values = np.vstack([model.kmer_vectors, model.cell_vectors])
    df = pd.DataFrame(values, index=names)
    n_bytes = (model.kmer_vectors.shape[0] + model.n_cells) * (model.dim * (precision + 8) + 24)
    with atomic_path(path, n_bytes=n_bytes) as tmp:
        df.to_csv(tmp, sep="\t", header=False, float_format=f"%.{precision}g")


def import_tsv(path: str | Path, *, k: int | None = None, cell_ids: list[str] | None = None) -> CellSpaceModel:
    """Read a reference-tool TSV into a model (k-mer rows in our order; no n-gram buckets).

    k-mer names on either strand are accepted; k is inferred from the names unless given.
    k-mers missing from the file get zero rows (and are reported in ``params['missing_kmers']``).
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", header=None, index_col=0, dtype={0: str}, engine="c")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise InputError(f"cannot read model TSV ({str(e).splitlines()[0]})", path) from None
    if df.shape[1] < 2:
        raise InputError(f"model TSV needs a name and >= 2 values per line, found {df.shape[1]} value column(s)", path)
    try:
        values = df.to_numpy(dtype=np.float32)
    except ValueError:
        raise InputError("model TSV has non-numeric values", path) from None
    if not np.isfinite(values).all():
        raise InputError("model TSV has non-finite values", path)
    names = df.index.astype(str).to_numpy()
    cell_match = [(_CELL_RE.match(n)) for n in names]
    is_cell = np.array([m is not None for m in cell_match])
    kmer_idx = np.flatnonzero(~is_cell)
    if len(kmer_idx) == 0:
        raise InputError("model TSV has no k-mer rows", path)
    lengths = {len(names[i]) for i in kmer_idx}
    if k is None:
        if len(lengths) != 1:
            raise InputError(f"k-mer names have several lengths {sorted(lengths)}", path)
        k = lengths.pop()
    table = kmer_row_table(k)
    dim = values.shape[1]
    kmer_vectors = np.zeros((n_kmer_rows(k), dim), dtype=np.float32)
    seen = np.zeros(n_kmer_rows(k), dtype=bool)
    weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    for i in kmer_idx:
        name = names[i]
        codes = BYTE_CODE[np.frombuffer(name.encode("ascii", "replace"), dtype=np.uint8)]
        if len(codes) != k or (codes > 3).any():
            raise InputError(f"line {i + 1}: {name!r} is neither a {k}-mer nor {CELL_PREFIX}<i>", path)
        row = int(table[int(codes.astype(np.int64) @ weights)])
        if seen[row]:
            raise InputError(f"line {i + 1}: k-mer {name!r} (or its reverse complement) is listed twice", path)
        kmer_vectors[row] = values[i]
        seen[row] = True
    cell_nums = np.array([int(m.group(1)) for m in cell_match if m is not None], dtype=np.int64)
    cell_vectors = values[is_cell]
    if len(cell_nums):
        order = np.argsort(cell_nums)
        cell_nums, cell_vectors = cell_nums[order], cell_vectors[order]
        if not np.array_equal(cell_nums, np.arange(1, len(cell_nums) + 1)):
            raise InputError("cell rows must be __label__C1..__label__Cn without gaps", path)
    if cell_ids is not None and len(cell_ids) != len(cell_vectors):
        raise InputError(f"{len(cell_ids)} cell names for {len(cell_vectors)} cell rows", path)
    ids = np.asarray(cell_ids if cell_ids is not None else [f"C{i}" for i in cell_nums], dtype=object)
    return CellSpaceModel(
        kmer_vectors=kmer_vectors,
        cell_vectors=np.ascontiguousarray(cell_vectors, dtype=np.float32),
        bucket_vectors=np.empty((0, dim), dtype=np.float32),
        params={"k": k, "dim": dim, "ngrams": 1, "imported_from": str(path.name),
                "missing_kmers": int((~seen).sum())},
        cell_ids=ids,
        dataset_names=[],
        run_id="imported:" + path.name,
    )
