"""Variable events (tiles or peaks) by iterative LSI, as ArchR and the CellSpace paper do.

- :func:`tfidf` and :func:`lsi`: log(TF-IDF) and truncated SVD, without components whose
  absolute Pearson correlation with log depth exceeds ``cor_cutoff`` (0.75, as ArchR).
- :func:`iterative_lsi`: round 1 is LSI on the ``n_features`` most accessible events; the cells
  are clustered; the events with the highest variance of log-normalised cluster-aggregated
  accessibility are the features of the next round; ``iterations`` rounds in all.
- :func:`select_variable_events`: the features of the last round. Above ``max_cells`` cells
  the rounds run on a random subsample of that many cells (the paper chose its 50,000 tiles on
  a subsample of its 720,000 cells), so the cost does not grow with the atlas.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from cellspace.errors import InputError, ParameterError

if TYPE_CHECKING:
    from anndata import AnnData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of :func:`select_variable_events` (ArchR's defaults where it has them)."""

    n_features: int = 50_000
    iterations: int = 2
    n_components: int = 30
    resolution: float = 0.2
    cor_cutoff: float = 0.75
    max_cells: int = 50_000
    seed: int = 0


def binary_matrix(adata: AnnData) -> sp.csr_matrix:
    """cells x events of ``adata.X`` as a binary float32 CSR."""
    if adata.X is None:
        raise InputError("AnnData has no X matrix (cells x events)")
    X = sp.csr_matrix(adata.X, dtype=np.float32, copy=True)
    X.sum_duplicates()
    X.data = (X.data != 0).astype(np.float32)
    X.eliminate_zeros()
    return X


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
    from sklearn.decomposition import TruncatedSVD

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


def cluster_variance(X: sp.csr_matrix, clusters: np.ndarray, scale: float = 1e4) -> np.ndarray:
    """Per event: variance across clusters of log2(1 + scale * cluster-aggregated accessibility
    normalised by the cluster's total). Sparse throughout (events may be millions of tiles)."""
    _, codes = np.unique(clusters, return_inverse=True)
    n_cl = int(codes.max()) + 1
    G = sp.csr_matrix((np.ones(codes.size), (codes, np.arange(codes.size))), shape=(n_cl, codes.size))
    agg = sp.csr_matrix(G @ X, dtype=np.float64)
    tot = np.asarray(agg.sum(axis=1)).ravel()
    rows = np.repeat(np.arange(n_cl), np.diff(agg.indptr))
    agg.data = np.log2(1 + scale * agg.data / np.maximum(tot[rows], 1))
    mean = np.asarray(agg.sum(axis=0)).ravel() / n_cl
    sq = agg.multiply(agg)
    mean_sq = np.asarray(sq.sum(axis=0)).ravel() / n_cl
    return np.maximum(mean_sq - mean * mean, 0.0)


def _cluster(Z: np.ndarray, resolution: float, seed: int) -> np.ndarray:
    from cellspace.analysis.clustering import cluster_embedding

    return np.asarray(cluster_embedding(Z, n_neighbors=20, metric="euclidean", method="louvain",
                                        resolution=resolution, seed=seed))


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
        clusters = _cluster(Z, resolution, seed)
        if np.unique(clusters).size < 2:
            log.info("itLSI round %d: one cluster; keeping the most accessible events", it + 1)
            var = acc.astype(float)
        else:
            var = cluster_variance(X, clusters)
        feats = np.sort(np.argsort(-var, kind="stable")[:nf])
        Z = lsi(X[:, feats], n_components, cor_cutoff, seed)
    return Z, feats


def select_variable_events(adata: AnnData, params: FeatureParams | None = None) -> np.ndarray:
    """Indices (sorted) of the ``params.n_features`` variable events chosen by iterative LSI.

    Above ``params.max_cells`` cells, the rounds run on that many randomly chosen cells.
    """
    p = params or FeatureParams()
    if p.max_cells < 3:
        raise ParameterError(f"max_cells must be >= 3, got {p.max_cells}")
    if adata.n_obs > p.max_cells:  # subsample before copying the matrix
        rng = np.random.default_rng(p.seed)
        rows = np.sort(rng.choice(adata.n_obs, size=p.max_cells, replace=False))
        log.info("choosing variable events on %d of %d cells", p.max_cells, adata.n_obs)
        adata = adata[rows]
    X = binary_matrix(adata)
    return iterative_lsi(X, p.n_features, p.iterations, p.n_components, p.resolution,
                         p.cor_cutoff, seed=p.seed)[1]


__all__ = ["FeatureParams", "binary_matrix", "cluster_variance", "iterative_lsi", "lsi",
           "select_variable_events", "tfidf"]
