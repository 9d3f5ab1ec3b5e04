"""LSI + Harmony and iterative LSI + Harmony (harmonypy) batch correction."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from anndata import AnnData

from cellspace.analysis.features import iterative_lsi, lsi
from cellspace.analysis.harmony import harmonize
from cellspace.bench.methods.base import Method, batch_labels, counts_matrix

log = logging.getLogger(__name__)


class LSIHarmony(Method):
    name = "lsi_harmony"
    description = "LSI + Harmony on the batch column"
    uses_batch = True

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              n_components: int = 30, cor_cutoff: float = 0.75, **params: Any) -> np.ndarray:
        b = batch_labels(adata, batch_key, self.name)
        Z = lsi(counts_matrix(adata, binary=True), n_components, cor_cutoff, seed)
        return harmonize(Z, b, seed, **params)


class ItLSIHarmony(Method):
    name = "itlsi_harmony"
    description = "iterative LSI + Harmony on the batch column"
    uses_batch = True

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              n_features: int = 25_000, iterations: int = 2, n_components: int = 30,
              resolution: float = 0.2, cor_cutoff: float = 0.75, **params: Any) -> np.ndarray:
        b = batch_labels(adata, batch_key, self.name)
        Z = iterative_lsi(counts_matrix(adata, binary=True), n_features, iterations,
                          n_components, resolution, cor_cutoff, seed)[0]
        return harmonize(Z, b, seed, **params)


METHODS = [LSIHarmony(), ItLSIHarmony()]
