"""Iterative LSI (ArchR style) as a benchmark method: the embedding of the last round of
:func:`cellspace.analysis.features.iterative_lsi`."""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from cellspace.analysis.features import iterative_lsi
from cellspace.bench.methods.base import Method, counts_matrix

__all__ = ["IterativeLSI", "METHODS", "iterative_lsi"]


class IterativeLSI(Method):
    name = "itlsi"
    description = "ArchR-style iterative LSI (top accessible -> clusters -> variable events)"

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              n_features: int = 25_000, iterations: int = 2, n_components: int = 30,
              resolution: float = 0.2, cor_cutoff: float = 0.75, **_: Any) -> np.ndarray:
        X = counts_matrix(adata, binary=True)
        return iterative_lsi(X, n_features, iterations, n_components, resolution, cor_cutoff,
                             seed)[0]


METHODS = [IterativeLSI()]
