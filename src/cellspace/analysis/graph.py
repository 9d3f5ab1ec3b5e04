"""Cell graphs in the CellSpace space: cosine kNN and Seurat-style shared-nearest-neighbour graph.

The kNN of a cell includes the cell itself as its first neighbour (as Seurat's ``FindNeighbors``
does), so the SNN weight of two cells is the Jaccard index of their k-neighbour sets:
``shared / (2k - shared)``; weights below ``prune`` (Seurat's ``prune.SNN = 1/15``) are removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cellspace.errors import ParameterError

METRICS = ("cosine", "euclidean")
DEFAULT_PRUNE = 1.0 / 15.0


@dataclass
class KNN:
    """k nearest neighbours of each row (self first), with distances."""

    indices: np.ndarray  # (n, k) int64
    distances: np.ndarray  # (n, k) float32
    metric: str

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def adjacency(self) -> sp.csr_matrix:
        """Binary (n x n) CSR matrix with a 1 for every (cell, neighbour) pair, self included."""
        n, k = self.indices.shape
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        data = np.ones(n * k, dtype=np.float32)
        return sp.csr_matrix((data, self.indices.ravel(), indptr), shape=(n, n))

    def distance_matrix(self) -> sp.csr_matrix:
        """Sparse (n x n) distances to the k neighbours, self excluded (scanpy's ``distances``)."""
        n, k = self.indices.shape
        idx, dist = self.indices[:, 1:], self.distances[:, 1:]
        indptr = np.arange(0, n * (k - 1) + 1, k - 1, dtype=np.int64)
        m = sp.csr_matrix((dist.ravel().astype(np.float32), idx.ravel(), indptr), shape=(n, n))
        m.sort_indices()
        return m


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ParameterError(f"expected a 2-D embedding matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ParameterError("the embedding contains NaN or infinite values")
    return x


def _unit_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def knn_between(
    query: np.ndarray,
    ref: np.ndarray,
    k: int,
    metric: str = "cosine",
    exclude_self: bool = False,
    chunk: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``ref`` for each row of ``query`` (brute force, chunked).

    Returns ``(indices, distances)`` sorted by distance (ties by index). Cosine distance is
    ``1 - cos``; euclidean distances are true L2 distances. With ``exclude_self`` (query is ref)
    a row never lists itself.
    """
    if metric not in METRICS:
        raise ParameterError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    q, r = _as_float(query), _as_float(ref)
    n_ref = r.shape[0]
    k_eff = min(k, n_ref - (1 if exclude_self else 0))
    if k_eff < 1:
        raise ParameterError(f"need more than {k} reference rows for {k} neighbours, have {n_ref}")
    if metric == "cosine":
        q, r = _unit_rows(q), _unit_rows(r)
    else:
        r_sq = np.einsum("ij,ij->i", r, r)
    idx_out = np.empty((q.shape[0], k_eff), dtype=np.int64)
    dist_out = np.empty((q.shape[0], k_eff), dtype=np.float32)
    for start in range(0, q.shape[0], chunk):
        qc = q[start : start + chunk]
        # score: larger is closer
        s = qc @ r.T
        if metric == "euclidean":
            s = 2 * s - r_sq[None, :]
        if exclude_self:
            rows = np.arange(qc.shape[0])
            s[rows, start + rows] = -np.inf
        if k_eff < n_ref:
            part = np.argpartition(-s, k_eff - 1, axis=1)[:, :k_eff]
        else:
            part = np.broadcast_to(np.arange(n_ref), (qc.shape[0], n_ref)).copy()
        ps = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -ps), axis=1)  # by score, ties by index
        idx = np.take_along_axis(part, order, axis=1)
        best = np.take_along_axis(ps, order, axis=1)
        if metric == "cosine":
            d = np.clip(1.0 - best, 0.0, 2.0)
        else:
            q_sq = np.einsum("ij,ij->i", qc, qc)[:, None]
            d = np.sqrt(np.maximum(q_sq - best, 0.0))
        idx_out[start : start + chunk] = idx
        dist_out[start : start + chunk] = d
    return idx_out, dist_out


def knn_graph(x: np.ndarray, n_neighbors: int = 20, metric: str = "cosine") -> KNN:
    """kNN of every row among all rows, the row itself first (``n_neighbors`` includes it)."""
    x = _as_float(x)
    n = x.shape[0]
    if n < 2:
        raise ParameterError(f"need at least 2 cells for a neighbour graph, have {n}")
    if n_neighbors < 2:
        raise ParameterError(f"n_neighbors must be >= 2, got {n_neighbors}")
    k = min(n_neighbors, n)
    idx, dist = knn_between(x, x, k - 1, metric=metric, exclude_self=True)
    self_idx = np.arange(n, dtype=np.int64)[:, None]
    return KNN(
        indices=np.hstack([self_idx, idx]),
        distances=np.hstack([np.zeros((n, 1), np.float32), dist]),
        metric=metric,
    )


def snn_graph(knn: KNN, prune: float = DEFAULT_PRUNE) -> sp.csr_matrix:
    """Symmetric SNN graph: Jaccard index of kNN sets (self included), pruned, no diagonal."""
    a = knn.adjacency()
    shared = (a @ a.T).tocsr()
    shared.setdiag(0)
    shared.eliminate_zeros()
    k = knn.k
    shared.data = shared.data / (2.0 * k - shared.data)
    if prune > 0:
        shared.data[shared.data < prune] = 0.0
        shared.eliminate_zeros()
    shared = shared.astype(np.float32)
    shared.sort_indices()
    return shared


def neighbors(
    adata,
    n_neighbors: int = 20,
    use_rep: str = "X_cellspace",
    metric: str = "cosine",
    prune: float = DEFAULT_PRUNE,
    key_added: str | None = None,
) -> KNN:
    """Cosine kNN and SNN graphs of ``adata.obsm[use_rep]`` into ``adata.obsp``.

    Writes ``obsp["distances"]`` (kNN distances, self excluded), ``obsp["connectivities"]``
    (the SNN graph used for clustering) and ``uns["neighbors"]`` (keys and parameters), with a
    ``key_added`` prefix when given, as scanpy does. Returns the kNN.
    """
    from cellspace.analysis.validate import embedding_of

    x = embedding_of(adata, use_rep)
    knn = knn_graph(x, n_neighbors=n_neighbors, metric=metric)
    prefix = "" if key_added is None else f"{key_added}_"
    uns_key = "neighbors" if key_added is None else key_added
    adata.obsp[f"{prefix}distances"] = knn.distance_matrix()
    adata.obsp[f"{prefix}connectivities"] = snn_graph(knn, prune=prune)
    adata.uns[uns_key] = {
        "connectivities_key": f"{prefix}connectivities",
        "distances_key": f"{prefix}distances",
        "params": {
            "n_neighbors": int(knn.k),
            "method": "snn",
            "metric": metric,
            "use_rep": use_rep,
            "prune_snn": float(prune),
        },
    }
    return knn
