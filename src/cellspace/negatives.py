"""Negative pools: where the negatives of a training example are drawn from.

Every cell has a pool id; a pool is a discrete distribution over global cell ids. The
negatives of an example are drawn from the pool of its positive cell. Pools are stored as
Vose alias tables, all concatenated, so that one candidate costs one uniform 64-bit number
and one read of a 12-byte entry (see ``alias_entries`` in ``_core.pyx``).

The default pools (:func:`reference_pools`) reproduce the reference tool's negatives exactly:
a uniform event of the positive cell's group, then a uniform open cell of that event within
the group. Other pools (balanced across batches, mixtures, cross-dataset) are built with
:func:`build_pools` or :func:`group_pools` and passed to training as ``negatives=``.

Negatives can also depend on the event: :func:`with_shared_events` gives every cell a second
pool, used for the examples of the events flagged shared (e.g. negatives from the positive's
batch for events that differ between batches, from its whole dataset for the others).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cellspace import _core
from cellspace.dataset import TrainingData
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

__all__ = ["NegativePools", "build_pools", "group_pools", "reference_pools", "negative_groups",
           "with_shared_events"]

_SCALE = float(2**32)


@dataclass(frozen=True)
class NegativePools:
    """Concatenated alias tables of the negative pools.

    ``cell_pool[c]`` is the pool of global cell c (used when c is the positive);
    pool p's alias entries are ``entries[offsets[p]:offsets[p + 1]]``, each
    (threshold, cell, alias cell) as uint32 (see :func:`cellspace._core.alias_entries`).
    With ``shared_events`` (one flag per event), an example of a flagged event draws from
    ``shared_pool[c]`` of its positive c instead.
    """

    cell_pool: np.ndarray  # int32, one per global cell
    offsets: np.ndarray  # int64, n_pools + 1
    entries: np.ndarray  # uint32, (n_entries, 3)
    shared_pool: np.ndarray | None = None  # int32, one per global cell
    shared_events: np.ndarray | None = None  # uint8, one per event

    @property
    def n_pools(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_cells(self) -> int:
        return len(self.cell_pool)

    @property
    def nbytes(self) -> int:
        extra = sum(a.nbytes for a in (self.shared_pool, self.shared_events) if a is not None)
        return int(self.cell_pool.nbytes + self.offsets.nbytes + self.entries.nbytes + extra)

    def distribution(self, pool: int) -> tuple[np.ndarray, np.ndarray]:
        """(cells, probabilities) that pool ``pool``'s alias table draws, cells sorted.

        Exact for the stored table: entry i is picked with probability 1/n and keeps its cell
        with probability threshold / 2^32.
        """
        ent = self.entries[self.offsets[pool] : self.offsets[pool + 1]]
        n = len(ent)
        if n == 0:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64)
        keep = ent[:, 0].astype(np.float64) / _SCALE
        own, alias = ent[:, 1].astype(np.int64), ent[:, 2].astype(np.int64)
        # an entry that aliases itself keeps its cell whatever the threshold
        keep = np.where(own == alias, 1.0, keep)
        cells = np.unique(np.concatenate([own, alias]))
        prob = np.zeros(len(cells), dtype=np.float64)
        np.add.at(prob, np.searchsorted(cells, own), keep / n)
        np.add.at(prob, np.searchsorted(cells, alias), (1.0 - keep) / n)
        nz = prob > 0
        return cells[nz].astype(np.int32), prob[nz]

    def draw(self, cell: int, n: int, seed: int = 0, search_limit: int = 50, event: int = -1) -> np.ndarray:
        """``n`` negative candidates for positive cell ``cell`` in an example of ``event`` (< 0:
        none, the cell's own pool), drawn by the trainer's own code."""
        cfg = _core.TrainConfig(cell_pool=self.cell_pool, pool_offsets=self.offsets,
                                pool_entries=self.entries, shared_pool=self.shared_pool,
                                shared_events=self.shared_events, neg_search_limit=search_limit)
        return _core.draw_negatives(cfg, int(cell), int(n), int(seed), int(event))


def build_pools(
    cell_pool: ArrayLike,
    pool_cells: Sequence[ArrayLike],
    pool_weights: Sequence[ArrayLike],
) -> NegativePools:
    """Pools from the pool id of every cell and, per pool, its cells and nonnegative weights.

    ``cell_pool[c]`` (one per global cell, in ``0 .. len(pool_cells) - 1``) is the pool that
    the negatives of an example with positive cell c come from. Pool p draws cell
    ``pool_cells[p][i]`` with probability proportional to ``pool_weights[p][i]``; a cell
    listed twice gets the sum of its weights, a weight of 0 leaves it out. A pool may have no
    positive weight (examples whose positive uses it then make no update).
    """
    cp = np.asarray(cell_pool)
    if cp.ndim != 1 or not np.issubdtype(cp.dtype, np.integer):
        raise ParameterError("cell_pool must be a 1-D integer array (one pool id per cell)")
    n_cells, n_pools = len(cp), len(pool_cells)
    if len(pool_weights) != n_pools or n_pools == 0:
        raise ParameterError(f"need one weight array per pool and at least one pool, got "
                             f"{n_pools} cell arrays and {len(pool_weights)} weight arrays")
    if n_cells == 0 or cp.min() < 0 or cp.max() >= n_pools:
        raise ParameterError(f"cell_pool ids must be in 0..{n_pools - 1}")
    used = np.zeros(n_pools, dtype=bool)
    used[cp] = True
    tables: list[np.ndarray] = []
    offsets = np.zeros(n_pools + 1, dtype=np.int64)
    for p, (cells, weights) in enumerate(zip(pool_cells, pool_weights, strict=True)):
        cells = np.asarray(cells)
        weights = np.asarray(weights, dtype=np.float64)
        if cells.ndim != 1 or cells.shape != weights.shape:
            raise ParameterError(f"pool {p}: cells and weights must be 1-D arrays of equal length")
        if len(cells) and (not np.issubdtype(cells.dtype, np.integer) or cells.min() < 0 or cells.max() >= n_cells):
            raise ParameterError(f"pool {p}: cell ids must be integers in 0..{n_cells - 1}")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ParameterError(f"pool {p}: weights must be finite and nonnegative")
        keep = weights > 0
        if not keep.any():
            if used[p]:
                log.warning("negative pool %d is empty but %d cell(s) use it: examples with these "
                            "positives make no update", p, int((cp == p).sum()))
            tables.append(np.zeros((0, _core.ALIAS_ENTRY), dtype=np.uint32))
        else:
            tables.append(_core.alias_entries(np.ascontiguousarray(cells[keep], dtype=np.int32),
                                              np.ascontiguousarray(weights[keep])))
        offsets[p + 1] = offsets[p] + len(tables[-1])
    return NegativePools(
        cell_pool=np.ascontiguousarray(cp, dtype=np.int32),
        offsets=offsets,
        entries=np.ascontiguousarray(np.concatenate(tables), dtype=np.uint32),
    )


def group_pools(cell_group: ArrayLike, cell_weight: ArrayLike, n_groups: int | None = None) -> NegativePools:
    """One pool per group: group g's cells, weighted by ``cell_weight``; a cell uses its group's pool."""
    g = np.asarray(cell_group)
    w = np.asarray(cell_weight, dtype=np.float64)
    if g.shape != w.shape or g.ndim != 1:
        raise ParameterError("cell_group and cell_weight must be 1-D arrays of equal length")
    n_groups = int(g.max()) + 1 if n_groups is None else n_groups
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(n_groups + 1))
    members = [order[bounds[i] : bounds[i + 1]] for i in range(n_groups)]
    return build_pools(g, members, [w[m] for m in members])


def negative_groups(data: TrainingData, by_batch: bool) -> np.ndarray:
    """Group of every global cell: its dataset, or its (dataset, batch) with ``by_batch``."""
    if not by_batch:
        return np.ascontiguousarray(data.cell_dataset, dtype=np.int32)
    if (data.cell_batch < 0).any():
        raise ParameterError("batch-aware negatives need batch labels for every dataset")
    return np.ascontiguousarray(data.cell_batch, dtype=np.int32)


def reference_pools(data: TrainingData, by_batch: bool = False, groups: np.ndarray | None = None) -> NegativePools:
    """The reference tool's negatives: a uniform event of the group, then a uniform open cell of it.

    The group of a cell is its dataset, or (dataset, batch) with ``by_batch``, or ``groups``
    (one nonnegative id per cell) when given. Cell c of group g is drawn with probability
    sum over events e open in c of 1 / (E_g |e ∩ g|), E_g = number of events with at least one
    open cell in g.
    """
    if groups is None:
        groups = negative_groups(data, by_batch)
    groups = np.ascontiguousarray(groups, dtype=np.int32)
    if groups.shape != (data.n_cells,) or groups.min() < 0:
        raise ParameterError(f"groups needs one nonnegative id per cell ({data.n_cells})")
    n_groups = int(groups.max()) + 1
    ev = data.events
    weights, _ = _core.reference_pool_weights(
        np.ascontiguousarray(ev.indptr, dtype=np.int64), np.ascontiguousarray(ev.indices, dtype=np.int32),
        groups, n_groups,
    )
    # cells open in no event have weight 0: never drawn, and never a positive either
    return group_pools(groups, weights, n_groups)


def with_shared_events(own: NegativePools, shared: NegativePools, shared_events: ArrayLike) -> NegativePools:
    """Negatives that depend on the event: an example of an event flagged in ``shared_events``
    (one bool per event) draws from its positive cell's pool in ``shared``, any other example
    from its pool in ``own``. One table: ``own``'s pools, then ``shared``'s."""
    if own.n_cells != shared.n_cells:
        raise ParameterError(f"pools for {own.n_cells} and {shared.n_cells} cells")
    if own.shared_pool is not None or shared.shared_pool is not None:
        raise ParameterError("pools that already depend on the event cannot be combined")
    flags = np.asarray(shared_events)
    if flags.ndim != 1:
        raise ParameterError("shared_events must be a 1-D array (one flag per event)")
    return NegativePools(
        cell_pool=own.cell_pool,
        offsets=np.concatenate([own.offsets, own.offsets[-1] + shared.offsets[1:]]),
        entries=np.ascontiguousarray(np.concatenate([own.entries, shared.entries]), dtype=np.uint32),
        shared_pool=np.ascontiguousarray(shared.cell_pool + own.n_pools, dtype=np.int32),
        shared_events=np.ascontiguousarray(flags != 0, dtype=np.uint8),
    )
