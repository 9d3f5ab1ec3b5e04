"""Mixing and cross-dataset metrics of an embedding (beside the scib set in :mod:`.metrics`).

* :func:`kmeans_ari`: ARI of k-means (k = number of cell types) on L2-normalised vectors.
* :func:`knn_entropy`: per cell, the entropy of a label (donor, dataset) among its k nearest
  neighbours (cosine), divided by the entropy of that label's proportions among the cells of
  the cell's own type (the mix a perfectly mixed embedding would show); averaged over cells.
  1 = as mixed as the type allows, 0 = neighbours all share the cell's label.
* :func:`cross_knn_accuracy`: for the cells of each dataset, the fraction whose k nearest
  cells *of the other datasets* mostly have the cell's type (majority vote), averaged over
  datasets. Cells of a type absent from the other datasets are skipped.
* :func:`within_ari`: :func:`kmeans_ari` of each dataset's cells alone.
* :func:`unit_batch_asw`: scib's batch ASW (per type, mean of 1 - |silhouette of the batch
  labels|, averaged over types) on L2-normalised vectors, i.e. in the cosine geometry that
  CellSpace is trained and clustered in (a cell row's norm only counts its updates).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_samples
from sklearn.neighbors import NearestNeighbors

from cellspace.errors import ParameterError

__all__ = ["unit_rows", "kmeans_ari", "knn_entropy", "cross_knn_accuracy", "within_ari", "unit_batch_asw"]


def unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _codes(values: Sequence) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return codes.astype(np.int64), int(codes.max()) + 1 if len(codes) else 0


def kmeans_ari(X: np.ndarray, types: Sequence, seed: int = 0) -> float:
    t, n_types = _codes(types)
    if n_types < 2:
        raise ParameterError("kmeans_ari needs at least two cell types")
    pred = KMeans(n_clusters=n_types, n_init=10, random_state=seed).fit_predict(unit_rows(X))
    return float(adjusted_rand_score(t, pred))


def _entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)


def knn_entropy(X: np.ndarray, label: Sequence, types: Sequence, k: int = 15) -> float:
    """Mean normalised kNN entropy of ``label`` (see the module doc); cells of a type seen
    under a single label are skipped."""
    lab, n_lab = _codes(label)
    t, n_types = _codes(types)
    if len(lab) != len(X) or len(t) != len(X):
        raise ParameterError(f"{len(lab)} labels and {len(t)} types for {len(X)} cells")
    nn = NearestNeighbors(n_neighbors=min(k + 1, len(X))).fit(unit_rows(X))
    idx = nn.kneighbors(return_distance=False)[:, :k]
    counts = np.zeros((len(X), n_lab))
    np.add.at(counts, (np.repeat(np.arange(len(X)), idx.shape[1]), lab[idx].ravel()), 1.0)
    h = _entropy(counts / counts.sum(axis=1, keepdims=True))
    tab = np.zeros((n_types, n_lab))
    np.add.at(tab, (t, lab), 1.0)
    h_type = _entropy(tab / tab.sum(axis=1, keepdims=True))
    ok = h_type[t] > 0
    if not ok.any():
        raise ParameterError("knn_entropy needs a cell type present under two or more labels")
    return float(np.mean(h[ok] / h_type[t[ok]]))


def cross_knn_accuracy(X: np.ndarray, types: Sequence, dataset: Sequence, k: int = 15) -> float:
    """Mean over datasets of the fraction of cells whose k nearest other-dataset cells mostly
    have their type."""
    t, n_types = _codes(types)
    d, n_d = _codes(dataset)
    if n_d < 2:
        raise ParameterError("cross_knn_accuracy needs two or more datasets")
    U = unit_rows(X)
    accs = []
    for q in range(n_d):
        qi, ri = np.flatnonzero(d == q), np.flatnonzero(d != q)
        keep = np.isin(t[qi], np.unique(t[ri]))
        qi = qi[keep]
        if len(qi) == 0:
            continue
        idx = NearestNeighbors(n_neighbors=min(k, len(ri))).fit(U[ri]).kneighbors(U[qi], return_distance=False)
        votes = np.zeros((len(qi), n_types))
        np.add.at(votes, (np.repeat(np.arange(len(qi)), idx.shape[1]), t[ri][idx].ravel()), 1.0)
        accs.append(float(np.mean(votes.argmax(axis=1) == t[qi])))
    return float(np.mean(accs))


def within_ari(X: np.ndarray, types: Sequence, dataset: Sequence, seed: int = 0) -> dict[str, float]:
    """k-means ARI of each dataset's cells alone, by dataset name."""
    ds = np.asarray(dataset).astype(str)
    ty = np.asarray(types).astype(str)
    return {name: kmeans_ari(np.asarray(X)[ds == name], ty[ds == name], seed) for name in np.unique(ds)}


def unit_batch_asw(X: np.ndarray, types: Sequence, batches: Sequence) -> float:
    """Batch ASW on unit rows (see the module doc); types seen in one batch only are skipped."""
    U = unit_rows(X)
    t = np.asarray(types).astype(str)
    b = np.asarray(batches).astype(str)
    per = []
    for ty in np.unique(t):
        m = t == ty
        n_b = np.unique(b[m]).size
        if n_b < 2 or n_b == int(m.sum()):
            continue
        per.append(float(np.mean(1.0 - np.abs(silhouette_samples(U[m], b[m])))))
    if not per:
        raise ParameterError("unit_batch_asw needs a cell type present in two or more batches")
    return float(np.mean(per))
