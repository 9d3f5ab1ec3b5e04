"""Cell graphs in the CellSpace space: cosine kNN and Seurat-style shared-nearest-neighbour graph.

The kNN of a cell includes the cell itself as its first neighbour (as Seurat's ``FindNeighbors``
does), so the SNN weight of two cells is the Jaccard index of their k-neighbour sets:
``shared / (2k - shared)``; weights below ``prune`` (Seurat's ``prune.SNN = 1/15``) are removed.

Up to :data:`EXACT_MAX_CELLS` cells the kNN is exact (brute force, O(n^2) in cells); above it,
approximate by nearest-neighbour descent (pynndescent, about O(n log n)), so that atlas-sized
embeddings never need the quadratic search. docs/benchmarks.md has the agreement of the two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

METRICS = ("cosine", "euclidean")
KNN_METHODS = ("auto", "exact", "nndescent")
DEFAULT_PRUNE = 1.0 / 15.0
# above this many cells "auto" switches from the exact search to nearest-neighbour descent
EXACT_MAX_CELLS = 50_000


@dataclass
class KNN:
    """k nearest neighbours of each row (self first), with distances."""

    indices: np.ndarray  # (n, k) int64
    distances: np.ndarray  # (n, k) float32
    metric: str
    method: str = "exact"  # "exact" or "nndescent" (approximate)

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


def _self_first(idx: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of an approximate kNN (``k`` or more columns) rearranged so that each row is the
    cell itself (distance 0) then its ``k - 1`` nearest other cells, in the order found."""
    n = idx.shape[0]
    rows = np.arange(n)[:, None]
    others = idx != rows
    # stable: keeps each row's order; a row without itself loses its farthest neighbour
    order = np.argsort(~others, axis=1, kind="stable")[:, : k - 1]
    out_idx = np.hstack([rows.astype(np.int64), np.take_along_axis(idx, order, axis=1).astype(np.int64)])
    out_dist = np.hstack([np.zeros((n, 1), np.float32),
                          np.take_along_axis(dist, order, axis=1).astype(np.float32)])
    return out_idx, out_dist


def knn_nndescent(x: np.ndarray, k: int, metric: str = "cosine", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Approximate kNN of every row among all rows by nearest-neighbour descent (pynndescent):
    ``(indices, distances)`` of shape (n, k), the row itself first."""
    import pynndescent

    n = x.shape[0]
    index = pynndescent.NNDescent(x, n_neighbors=min(k + 1, n), metric=metric, random_state=seed,
                                  low_memory=True, compressed=True)
    idx, dist = index.neighbor_graph
    return _self_first(np.asarray(idx), np.asarray(dist), k)


def knn_query_nndescent(query: np.ndarray, ref: np.ndarray, k: int, metric: str = "cosine",
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Approximate ``k`` nearest rows of ``ref`` for each row of ``query`` (a pynndescent index
    of ``ref``, searched): ``(indices, distances)`` of shape (n_query, k), nearest first.
    The approximate counterpart of :func:`knn_between`."""
    import pynndescent

    if metric not in METRICS:
        raise ParameterError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    q, r = _as_float(query), _as_float(ref)
    if r.shape[0] < 2 or k < 1:
        raise ParameterError(f"need at least 2 reference rows and k >= 1, have {r.shape[0]} rows, k = {k}")
    k = min(k, r.shape[0])
    index = pynndescent.NNDescent(r, n_neighbors=min(max(k, 15), r.shape[0] - 1), metric=metric,
                                  random_state=seed, low_memory=True)
    idx, dist = index.query(q, k=k)
    return np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=np.float32)


def knn_graph(
    x: np.ndarray,
    n_neighbors: int = 20,
    metric: str = "cosine",
    method: str = "auto",
    exact_max_cells: int = EXACT_MAX_CELLS,
    seed: int = 0,
) -> KNN:
    """kNN of every row among all rows, the row itself first (``n_neighbors`` includes it).

    ``method``: "exact" (brute force), "nndescent" (approximate) or "auto": exact up to
    ``exact_max_cells`` rows, approximate above. ``seed`` seeds the approximate search.
    """
    if method not in KNN_METHODS:
        raise ParameterError(f"kNN method must be one of {', '.join(KNN_METHODS)}, got {method!r}")
    if metric not in METRICS:
        raise ParameterError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    x = _as_float(x)
    n = x.shape[0]
    if n < 2:
        raise ParameterError(f"need at least 2 cells for a neighbour graph, have {n}")
    if n_neighbors < 2:
        raise ParameterError(f"n_neighbors must be >= 2, got {n_neighbors}")
    k = min(n_neighbors, n)
    if method == "nndescent" or (method == "auto" and n > exact_max_cells):
        log.info("approximate kNN (nearest-neighbour descent) of %d cells, k = %d", n, k)
        idx, dist = knn_nndescent(x, k, metric=metric, seed=seed)
        return KNN(indices=idx, distances=dist, metric=metric, method="nndescent")
    idx, dist = knn_between(x, x, k - 1, metric=metric, exclude_self=True)
    self_idx = np.arange(n, dtype=np.int64)[:, None]
    return KNN(
        indices=np.hstack([self_idx, idx]),
        distances=np.hstack([np.zeros((n, 1), np.float32), dist]),
        metric=metric,
    )


def neighbour_recall(approx: KNN, exact: KNN) -> float:
    """Fraction of the exact kNN's neighbours (self excluded) that ``approx`` also lists."""
    a, e = approx.indices[:, 1:], exact.indices[:, 1:]
    if a.shape != e.shape:
        raise ParameterError(f"kNN shapes differ: {approx.indices.shape} vs {exact.indices.shape}")
    # one integer per (row, neighbour) pair, so that one set test covers all rows
    off = np.arange(e.shape[0], dtype=np.int64)[:, None] * (int(max(a.max(), e.max())) + 1)
    hits = np.isin(e + off, a + off)
    return float(hits.mean())


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
