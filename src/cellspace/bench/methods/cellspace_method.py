"""CellSpace itself (the project's trainer), without and with batch-aware negative sampling."""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from cellspace.bench.methods.base import Method, batch_labels, counts_matrix, event_sequences


def _train(adata: AnnData, batch_key: str | None, seed: int, params: dict[str, Any]) -> np.ndarray:
    from cellspace.dataset import make_dataset
    from cellspace.sequences import SequenceStore
    from cellspace.steps.params import from_mapping
    from cellspace.train import TrainParams, train_datasets

    # unknown names and ill-typed values are usage errors, named before any work
    tp = from_mapping(TrainParams, {**params, "seed": seed, "batch_key": batch_key}, "CellSpace parameter")
    seqs = event_sequences(adata, "cellspace")
    names = [str(v) for v in adata.var_names]
    obs = adata.obs.copy()
    obs.index = obs.index.astype(str)
    ds = make_dataset(
        "bench", counts_matrix(adata, binary=True),
        SequenceStore.from_strings(seqs, names=names, source="bench"),
        cell_ids=list(obs.index), event_ids=names, obs=obs, batch_key=batch_key, k=tp.k,
        source="bench",
    )
    _model, cells = train_datasets([ds], tp)
    emb = np.asarray(cells.obsm["X_cellspace"], dtype=np.float64)
    order = cells.obs_names.get_indexer(obs.index)
    return emb[order] if (order >= 0).all() else emb


class CellSpace(Method):
    name = "cellspace"
    description = "CellSpace k-mer/cell co-embedding (negatives from the same dataset)"
    metric = "cosine"
    needs_sequence = True

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        return _train(adata, None, seed, params)


class CellSpaceBatch(Method):
    name = "cellspace_batch"
    description = "CellSpace with negatives drawn from the positive cell's batch"
    metric = "cosine"
    needs_sequence = True
    uses_batch = True

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        batch_labels(adata, batch_key, self.name)
        return _train(adata, batch_key, seed, params)


METHODS = [CellSpace(), CellSpaceBatch()]
