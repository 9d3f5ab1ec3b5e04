"""Iterative LSI (ArchR style) and variable-event selection.

Round 1: LSI on the ``n_features`` most accessible events; cluster the cells; the events with
the highest variance of log-normalised cluster-aggregated accessibility become the features of
the next LSI; repeat for ``iterations`` rounds in all. The last LSI is the embedding and its
features are the variable events (used by ``cellspace select-features``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from cellspace.bench.methods import base
from cellspace.bench.methods.base import Method, counts_matrix
from cellspace.bench.methods.lsi import lsi
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)


def cluster_variance(X: sp.csr_matrix, clusters: np.ndarray, scale: float = 1e4) -> np.ndarray:
    """Per event: variance across clusters of log2(1 + scale * cluster-aggregated accessibility
    normalised by the cluster's total)."""
    _, codes = np.unique(clusters, return_inverse=True)
    G = sp.csr_matrix((np.ones(codes.size), (codes, np.arange(codes.size))),
                      shape=(codes.max() + 1, codes.size))
    agg = np.asarray((G @ X).todense(), dtype=np.float64)
    tot = agg.sum(axis=1, keepdims=True)
    norm = np.log2(1 + scale * agg / np.maximum(tot, 1))
    return norm.var(axis=0)


def iterative_lsi(
    X: sp.csr_matrix,
    n_features: int = 25_000,
    iterations: int = 2,
    n_components: int = 30,
    resolution: float = 0.2,
    cor_cutoff: float = 0.75,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(embedding, indices of the features of the last round) of a binary cells x events matrix."""
    if iterations < 1:
        raise ParameterError(f"iterations must be >= 1, got {iterations}")
    if n_features < 2:
        raise ParameterError(f"n_features must be >= 2, got {n_features}")
    m = X.shape[1]
    nf = min(n_features, m)
    acc = np.asarray(X.sum(axis=0)).ravel()
    feats = np.sort(np.argsort(-acc, kind="stable")[:nf])
    Z = lsi(X[:, feats], n_components, cor_cutoff, seed)
    for it in range(1, iterations):
        clusters = base.cluster(Z, resolution=resolution, seed=seed)
        n_cl = np.unique(clusters).size
        if n_cl < 2:
            log.info("itLSI round %d: one cluster; keeping the most accessible events", it + 1)
            var = acc.astype(float)
        else:
            var = cluster_variance(X, clusters)
        feats = np.sort(np.argsort(-var, kind="stable")[:nf])
        Z = lsi(X[:, feats], n_components, cor_cutoff, seed)
    return Z, feats


def select_variable_events(adata: AnnData, n: int, *, iterations: int = 2,
                           n_components: int = 30, resolution: float = 0.2,
                           seed: int = 0) -> np.ndarray:
    """Indices (sorted) of the ``n`` variable events chosen by iterative LSI."""
    X = counts_matrix(adata, binary=True)
    return iterative_lsi(X, n, iterations, n_components, resolution, seed=seed)[1]


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
