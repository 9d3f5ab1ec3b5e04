"""LSI on events as a benchmark method (:func:`cellspace.analysis.features.lsi`): log(TF-IDF)
(ArchR's default LSI method) and truncated SVD, without depth-correlated components."""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from cellspace.analysis.features import lsi, tfidf
from cellspace.bench.methods.base import Method, counts_matrix

__all__ = ["LSI", "METHODS", "lsi", "tfidf"]


class LSI(Method):
    name = "lsi"
    description = "TF-IDF + truncated SVD on all events (depth-correlated components dropped)"

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              n_components: int = 30, cor_cutoff: float = 0.75, **_: Any) -> np.ndarray:
        return lsi(counts_matrix(adata, binary=True), n_components, cor_cutoff, seed)


METHODS = [LSI()]
