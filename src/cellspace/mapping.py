"""Map new cells into a trained model: train only their rows, every k-mer and n-gram row frozen.

The table starts from the model's k-mer and n-gram bucket rows (``model.npz`` holds both);
training uses the model's parameters with ``freeze_sequence_rows``, so the sequence rows (and
therefore the space) stay bit-identical and each new cell is placed by its own accessible
events' sequences, which may come from a different peak or tile atlas.

A new cell row starts at the projection of its accessibility profile: the mean embedding of its
open events minus the mean over all events, scaled to the model's mean cell norm (the direction
the cell updates move it to: towards its open events, away from the others). Training then
refines it with a learning rate ``lr`` (default 0.0005) well below the model's: fresh cell rows
have empty AdaGrad accumulators, and at the model's rate their first steps are large enough to
undo the projection (on the test simulation the mean loss per epoch stayed at 0.149-0.158 at
0.01, and fell from 0.143 to 0.138 at 0.0005; see docs/design.md).

The loss compares cells only within a negative group (a dataset, or a batch), so a vector added
to all of a group's rows costs nothing and no loss term places the group as a whole. Joint
training keeps each group's mean on the mean of all cells; mapping keeps each new group's mean
on the mean of the model's cells, the same convention (``centre_target``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence

import numpy as np

from cellspace.dataset import Dataset, TrainingData, combine
from cellspace.errors import InputError
from cellspace.model import CellSpaceModel
from cellspace.negatives import negative_groups
from cellspace.train import (
    TrainParams,
    TrainState,
    add_cell_embedding,
    empty_cells_anndata,
    init_state,
    run_training,
    run_uns,
)

log = logging.getLogger(__name__)


MAP_LR = 0.0005


def map_params(
    model: CellSpaceModel,
    *,
    epochs: int | None = None,
    lr: float = MAP_LR,
    threads: int | None = None,
    seed: int = 0,
    batch_key: str | None = None,
) -> TrainParams:
    """The model's training parameters with the sequence rows frozen (``epochs``, ``lr``,
    ``threads``, ``seed`` and the new data's ``batch_key`` replaced)."""
    known = {f.name for f in dataclasses.fields(TrainParams) if f.init}
    values = {k: v for k, v in model.params.items() if k in known}
    values.update(seed=seed, batch_key=batch_key, freeze_sequence_rows=True, lr=lr)
    if epochs is not None:
        values["epochs"] = epochs
    if threads is not None:
        values["threads"] = threads
    else:
        values.pop("threads", None)
    return TrainParams(**values).validate()


def projected_cells(model: CellSpaceModel, data: TrainingData) -> np.ndarray:
    """Per cell: mean unit embedding of its open events minus the mean over all events, scaled
    to the model's mean cell-row norm."""
    emb = model.embed_sequences(data.sequences)  # events x dim, unit rows
    cells_by_events = data.events.T.tocsr().astype(np.float64)
    degree = np.maximum(np.asarray(cells_by_events.sum(axis=1)).ravel(), 1.0)
    proj = np.asarray(cells_by_events @ emb) / degree[:, None] - emb.mean(axis=0)
    norm = np.linalg.norm(proj, axis=1, keepdims=True)
    scale = float(np.linalg.norm(model.cell_vectors, axis=1).mean()) if model.n_cells else 1.0
    return (proj / np.where(norm > 0, norm, 1.0) * scale).astype(np.float32)


def initial_state(model: CellSpaceModel, params: TrainParams, data: TrainingData) -> TrainState:
    """A table with the model's k-mer and bucket rows and the projected rows of the new cells."""
    n_cells = data.n_cells
    state = init_state(params, n_cells)
    d, nk = params.dim, state.n_kmers
    if model.kmer_vectors.shape != (nk, d):
        raise InputError(f"model k-mer rows have shape {model.kmer_vectors.shape}, expected {(nk, d)}")
    if model.bucket_vectors.shape != (params.n_buckets, d):
        raise InputError(
            f"model has {model.bucket_vectors.shape[0]} n-gram bucket rows, expected "
            f"{params.n_buckets} (a model saved without its buckets cannot map cells)"
        )
    state.table[:nk, :d] = model.kmer_vectors
    state.table[nk + n_cells :, :d] = model.bucket_vectors
    state.table[nk : nk + n_cells, :d] = projected_cells(model, data)
    return state


def map_training(model: CellSpaceModel, data: TrainingData, params: TrainParams,
                 **kwargs) -> TrainState:
    """Train the cell rows of ``data`` against the model's frozen sequence rows."""
    if not params.freeze_sequence_rows:
        raise ValueError("mapping needs params.freeze_sequence_rows")
    state = initial_state(model, params, data)
    target = model.cell_vectors.astype(np.float64).mean(axis=0) if model.n_cells else None
    # mapped groups are always kept on the model's cell mean (params.centre is for training)
    centre = None if target is None else negative_groups(data, params.batch_key is not None)
    return run_training(data, params, initial=state, centre=centre, centre_target=target, **kwargs)


def mapped_cells(model: CellSpaceModel, state: TrainState, data: TrainingData):
    """AnnData of the mapped cells: obs = ids, dataset, batch, metadata;
    ``obsm["X_cellspace"]`` in the model's space (unit rows, as trained cells); ``uns["cellspace"]`` names the model's run."""
    adata = empty_cells_anndata(data)
    nk, d = state.n_kmers, state.params.dim
    add_cell_embedding(adata, state.table[nk : nk + state.n_cells, :d])
    adata.uns["cellspace"] = {
        **run_uns(model),
        "mapped": json.dumps({"datasets": list(data.dataset_names), "epochs": state.epoch,
                              "seed": state.params.seed, "losses": state.losses}),
    }
    return adata


def map_cells(model: CellSpaceModel, datasets: Sequence[Dataset], params: TrainParams, **kwargs):
    """Map the cells of ``datasets`` into ``model``; returns their AnnData (see :func:`mapped_cells`)."""
    data = combine(datasets)
    state = map_training(model, data, params, **kwargs)
    return mapped_cells(model, state, data)


__all__ = ["MAP_LR", "initial_state", "projected_cells", "map_cells", "map_params", "map_training", "mapped_cells"]
