"""In-memory datasets: binary events x cells matrices with packed event sequences.

Every reader (MatrixMarket + FASTA, AnnData, 10x Cell Ranger ATAC) produces a :class:`Dataset`;
:func:`combine` numbers cells globally across datasets, in input order, for training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellspace.errors import InputError
from cellspace.sequences import SequenceStore

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """One dataset: its own events (peaks or tiles), their sequences and its cells.

    ``events`` is a binary CSR matrix of shape (n_events, n_cells) with sorted, unique column
    indices (event -> accessible cells). ``obs`` has one row per cell (index = cell ids) and
    carries any metadata, including the batch column when ``batch_key`` is set.
    """

    name: str
    events: sp.csr_matrix
    sequences: SequenceStore
    obs: pd.DataFrame
    event_ids: np.ndarray
    source: str = ""
    batch_key: str | None = None
    var: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def n_cells(self) -> int:
        return self.events.shape[1]

    @property
    def n_events(self) -> int:
        return self.events.shape[0]

    @property
    def cell_ids(self) -> np.ndarray:
        return self.obs.index.to_numpy()


def binarize_events(matrix: sp.spmatrix, source: str = "") -> sp.csr_matrix:
    """cells x events counts -> binary events x cells CSR (duplicates count once).

    Only the sparsity structure is copied: the result has int32 indices (where they fit) and
    uint8 ones, and no temporary of the matrix's size is made besides the result (a uint8
    input is transposed as it is). A canonical CSC input (sorted, unique row indices, no
    explicit zeros) is already the transposed structure and is reused as it is.
    """
    n_cells, n_events = matrix.shape
    m = matrix if matrix.format in ("csr", "csc") else matrix.tocsr()
    if m.nnz and not (m.has_canonical_format and np.count_nonzero(m.data) == m.nnz):
        m = m.copy()
        m.sum_duplicates()
        m.eliminate_zeros()
    if m.format == "csc":  # columns = events: the arrays are already the events x cells CSR's
        return sp.csr_matrix((np.ones(m.nnz, dtype=np.uint8), m.indices, m.indptr), shape=(n_events, n_cells))
    if m.dtype != np.uint8:
        m = sp.csr_matrix((np.ones(m.nnz, dtype=np.uint8), m.indices, m.indptr), shape=(n_cells, n_events))
    # CSR -> CSC conversion is a counting sort: row indices come out sorted within each column
    events = m.tocsc()
    events.data[:] = 1
    return sp.csr_matrix((events.data, events.indices, events.indptr), shape=(n_events, n_cells))


def check_finite_values(matrix: sp.spmatrix, source: str | Path = "") -> None:
    """A one-line InputError when a sparse matrix stores NaN or infinite values.

    Accessibility is read from which entries are nonzero, so a NaN would otherwise count as
    an open event.
    """
    data = getattr(matrix, "data", None)
    if data is None or data.dtype.kind != "f" or not data.size:
        return
    bad = ~np.isfinite(data)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        first = data[np.flatnonzero(bad)[0]]
        raise InputError(f"matrix has {n_bad} non-finite value(s) (first: {float(first)}); counts must be finite", source)


def make_dataset(
    name: str,
    cells_by_events: sp.spmatrix,
    sequences: SequenceStore,
    *,
    cell_ids: Sequence[str] | None = None,
    event_ids: Sequence[str] | None = None,
    obs: pd.DataFrame | None = None,
    var: pd.DataFrame | None = None,
    batch_key: str | None = None,
    source: str = "",
    k: int = 8,
    drop_empty_events: bool = True,
    drop_empty_cells: bool = True,
) -> Dataset:
    """Validate and build a Dataset from a cells x events matrix and event sequences.

    Checks (each a one-line InputError naming ``source``): empty matrix, column count !=
    sequence count, sequences shorter than ``k`` or entirely N, unknown batch column,
    non-finite values, events accessible in no cell (dropped with a warning unless
    ``drop_empty_events`` is False) and cells with no accessible event (never a positive, so
    never trained: dropped with a warning unless ``drop_empty_cells`` is False).
    """
    n_cells, n_events = cells_by_events.shape
    if n_cells == 0 or n_events == 0 or cells_by_events.nnz == 0:
        raise InputError(
            f"empty dataset ({n_cells} cells x {n_events} events, {cells_by_events.nnz} nonzeros)",
            source,
        )
    if len(sequences) != n_events:
        raise InputError(
            f"matrix has {n_events} event columns but {len(sequences)} sequences were given",
            source,
        )
    cell_ids = (
        np.asarray(cell_ids, dtype=object)
        if cell_ids is not None
        else (obs.index.to_numpy() if obs is not None else np.array([f"{name}_{i + 1}" for i in range(n_cells)], dtype=object))
    )
    if len(cell_ids) != n_cells:
        raise InputError(f"{len(cell_ids)} cell names for {n_cells} matrix rows", source)
    event_ids = (
        np.asarray(event_ids, dtype=object)
        if event_ids is not None
        else np.array([f"{name}_event{j + 1}" for j in range(n_events)], dtype=object)
    )
    if obs is None:
        obs = pd.DataFrame(index=pd.Index(cell_ids, name="cell"))
    else:
        obs = obs.copy()
        obs.index = pd.Index(cell_ids.astype(str), name="cell")
    if batch_key is not None:
        if batch_key not in obs.columns:
            cols = ", ".join(map(str, obs.columns)) or "none"
            raise InputError(f"unknown batch column {batch_key!r} (cell metadata columns: {cols})", source)
        if obs[batch_key].isna().any():
            raise InputError(f"batch column {batch_key!r} has missing values", source)

    lengths = sequences.lengths
    nfrac = sequences.n_fraction()
    short = np.flatnonzero(lengths < k)
    if len(short):
        j = int(short[0])
        raise InputError(
            f"{len(short)} event sequence(s) shorter than k = {k} (first: {event_ids[j]!r}, {lengths[j]} bp)",
            source,
        )
    alln = np.flatnonzero(nfrac >= 1.0)
    if len(alln):
        raise InputError(
            f"{len(alln)} event sequence(s) are all N (first: {event_ids[alln[0]]!r})", source
        )

    check_finite_values(cells_by_events, source)
    events = binarize_events(cells_by_events, source)
    open_per_cell = np.bincount(events.indices, minlength=n_cells)
    silent = np.flatnonzero(open_per_cell == 0)
    if len(silent) and drop_empty_cells:
        # a cell with no accessible event is never a positive: its row would stay at its
        # random initial value and look like a real embedding
        if len(silent) == n_cells:
            raise InputError("no cell has an accessible event", source)
        log.warning(
            "%s: dropping %d cell(s) with no accessible event (first: %s)",
            source or name, len(silent), cell_ids[silent[0]],
        )
        keep_cells = np.flatnonzero(open_per_cell > 0)
        events = events[:, keep_cells].tocsr()
        cell_ids = cell_ids[keep_cells]
        obs = obs.iloc[keep_cells]
    counts = np.diff(events.indptr)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        if not drop_empty_events:
            raise InputError(
                f"{len(empty)} event(s) are accessible in no cell (first: {event_ids[empty[0]]!r})",
                source,
            )
        log.warning("%s: dropping %d event(s) accessible in no cell", source or name, len(empty))
        keep = np.flatnonzero(counts > 0)
        events = events[keep]
        sequences = sequences.subset(keep)
        event_ids = event_ids[keep]
        if var is not None:
            var = var.iloc[keep]
    if var is not None:
        var = var.copy()
        var.index = pd.Index(event_ids.astype(str))
    return Dataset(
        name=name,
        events=events,
        sequences=sequences,
        obs=obs,
        event_ids=event_ids,
        source=source,
        batch_key=batch_key,
        var=var,
    )


def subset_cells(dataset: Dataset, cells: np.ndarray, name: str | None = None) -> Dataset:
    """The dataset restricted to ``cells`` (indices or a boolean mask), its events accessible in
    none of them dropped."""
    idx = np.flatnonzero(cells) if np.asarray(cells).dtype == bool else np.asarray(cells, dtype=np.int64)
    events = dataset.events[:, idx]
    return make_dataset(
        name or dataset.name,
        events.T.tocsr(),
        dataset.sequences,
        cell_ids=dataset.cell_ids[idx],
        event_ids=dataset.event_ids,
        obs=dataset.obs.iloc[idx].reset_index(drop=True),
        var=None if dataset.var is None else dataset.var.reset_index(drop=True),
        batch_key=dataset.batch_key,
        source=dataset.source,
        k=int(dataset.sequences.lengths.min()) if len(dataset.sequences) else 1,
    )


@dataclass
class TrainingData:
    """All datasets combined: global CSR over events x global cells, plus bookkeeping."""

    events: sp.csr_matrix  # (sum events) x (sum cells), block diagonal
    sequences: SequenceStore
    event_dataset: np.ndarray  # int32 per global event
    cell_dataset: np.ndarray  # int32 per global cell
    cell_batch: np.ndarray  # int32 per global cell, -1 when no batch key
    dataset_names: list[str]
    obs: pd.DataFrame  # global cell metadata: dataset, batch, and given metadata

    @property
    def n_cells(self) -> int:
        return self.events.shape[1]

    @property
    def n_events(self) -> int:
        return self.events.shape[0]


def stack_events(blocks: Sequence[sp.csr_matrix]) -> sp.csr_matrix:
    """Block-diagonal binary events x global cells CSR of the datasets' (sorted) event matrices.

    One dataset's matrix is returned as it is (no copy); several are stacked into int32
    indices (int64 only beyond 2^31) and uint8 ones, with no intermediate COO.
    """
    if len(blocks) == 1 and blocks[0].dtype == np.uint8:
        return blocks[0]
    n_events = sum(b.shape[0] for b in blocks)
    n_cells = sum(b.shape[1] for b in blocks)
    nnz = sum(b.nnz for b in blocks)
    idx = np.int32 if max(nnz, n_cells, n_events) < 2**31 else np.int64
    indices = np.empty(nnz, dtype=idx)
    indptr = np.zeros(n_events + 1, dtype=idx)
    e0 = c0 = j0 = 0
    for b in blocks:
        indices[j0 : j0 + b.nnz] = b.indices[: b.nnz]
        indices[j0 : j0 + b.nnz] += c0
        indptr[e0 + 1 : e0 + b.shape[0] + 1] = b.indptr[1:] + j0
        e0, c0, j0 = e0 + b.shape[0], c0 + b.shape[1], j0 + b.nnz
    return sp.csr_matrix((np.ones(nnz, dtype=np.uint8), indices, indptr), shape=(n_events, n_cells))


def combine(datasets: Sequence[Dataset]) -> TrainingData:
    """Number cells globally (in input order) and stack the datasets' events block-diagonally."""
    if not datasets:
        raise InputError("no input datasets given")
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise InputError(f"dataset names must be unique, got {names}")
    blocks = stack_events([d.events for d in datasets])
    event_dataset = np.repeat(np.arange(len(datasets), dtype=np.int32), [d.n_events for d in datasets])
    cell_dataset = np.repeat(np.arange(len(datasets), dtype=np.int32), [d.n_cells for d in datasets])
    obs_parts = []
    batch_labels: list[np.ndarray] = []
    for d in datasets:
        o = d.obs.copy()
        if "dataset" in o.columns:  # an input's own column of that name is kept, renamed
            o = o.rename(columns={"dataset": "input_dataset"})
        o.insert(0, "dataset", d.name)
        if d.batch_key is not None:
            o["batch"] = o[d.batch_key].astype(str).to_numpy()
            batch_labels.append(np.array([f"{d.name}\x1f{b}" for b in o["batch"]], dtype=object))
        else:
            batch_labels.append(np.full(d.n_cells, None, dtype=object))
        obs_parts.append(o)
    obs = pd.concat(obs_parts, axis=0)
    if obs.index.duplicated().any():
        # keep ids unique across datasets
        obs.index = pd.Index([f"{ds}:{c}" for ds, c in zip(obs["dataset"], obs.index, strict=True)], name="cell")
    labels = np.concatenate(batch_labels)
    cell_batch = np.full(len(labels), -1, dtype=np.int32)
    has = np.array([lab is not None for lab in labels])
    if has.any():
        _, codes = np.unique(labels[has].astype(str), return_inverse=True)
        cell_batch[has] = codes.astype(np.int32)
    return TrainingData(
        events=blocks,
        sequences=SequenceStore.concat([d.sequences for d in datasets]),
        event_dataset=event_dataset,
        cell_dataset=cell_dataset,
        cell_batch=cell_batch,
        dataset_names=names,
        obs=obs,
    )
