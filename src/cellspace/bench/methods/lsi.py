"""LSI on events: log(TF-IDF) (ArchR's default LSI method) and truncated SVD.

Components whose absolute Pearson correlation with log sequencing depth exceeds
``cor_cutoff`` (0.75, as ArchR) are dropped.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from sklearn.decomposition import TruncatedSVD

from cellspace.bench.methods.base import Method, counts_matrix
from cellspace.errors import InputError

log = logging.getLogger(__name__)


def tfidf(X: sp.csr_matrix, scale: float = 1e4) -> sp.csr_matrix:
    """log(1 + scale * TF * IDF) of a binary cells x events matrix (TF: per cell, IDF:
    log(1 + n_cells / cells per event))."""
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)
    depth = np.asarray(X.sum(axis=1)).ravel()
    df = np.asarray(X.sum(axis=0)).ravel()
    idf = np.log1p(X.shape[0] / np.maximum(df, 1))
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    X.data = np.log1p(scale * X.data / np.maximum(depth[rows], 1) * idf[X.indices])
    return X


def lsi(X: sp.csr_matrix, n_components: int = 30, cor_cutoff: float = 0.75,
        seed: int = 0) -> np.ndarray:
    """LSI embedding (U * S) of a binary cells x events matrix without depth-correlated
    components."""
    n, m = X.shape
    if n < 3 or m < 2:
        raise InputError(f"LSI needs at least 3 cells and 2 events, got {n} x {m}")
    depth = np.asarray(X.sum(axis=1)).ravel()
    k = int(min(n_components, min(n, m) - 1))
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=seed)
    Z = svd.fit_transform(tfidf(X))
    logd = np.log10(np.maximum(depth, 1))
    if np.std(logd) > 0:
        zc = Z - Z.mean(axis=0)
        dc = logd - logd.mean()
        denom = np.linalg.norm(zc, axis=0) * np.linalg.norm(dc)
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = np.where(denom > 0, zc.T @ dc / denom, 0.0)
        keep = np.abs(cor) <= cor_cutoff
        if not keep.any():
            keep[:] = True
        if (~keep).any():
            log.info("LSI: dropped %d component(s) correlated with depth", int((~keep).sum()))
        Z = Z[:, keep]
    return np.ascontiguousarray(Z)


class LSI(Method):
    name = "lsi"
    description = "TF-IDF + truncated SVD on all events (depth-correlated components dropped)"

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              n_components: int = 30, cor_cutoff: float = 0.75, **_: Any) -> np.ndarray:
        return lsi(counts_matrix(adata, binary=True), n_components, cor_cutoff, seed)


METHODS = [LSI()]
