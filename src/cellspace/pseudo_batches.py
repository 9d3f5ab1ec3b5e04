"""Batches inferred without labels, from structure the embedding's clusters do not explain.

A batch (donor, sample) that opens its own events shows in the binary cells x events matrix as
excess openings that fall on the same cells (the batch's) for many events and in every cluster
of cell types. :func:`infer_batches`

1. clusters the unit cell rows with k-means, the number of clusters chosen by the cosine
   silhouette (cell types, once training has separated them);
2. forms the Pearson residuals of the matrix against the cell's cluster's openness of the event
   times the cell's depth, ``(a - p) / sqrt(p)``;
3. keeps the residual's singular components above the noise edge ``sqrt(n) + sqrt(p)`` (the
   largest singular value of an n x p matrix of unit-variance noise): structure shared by many
   events and many cells that the clusters do not explain;
4. groups the cells by k-means on their scores on those components (2 to r + 1 groups for r
   components, chosen by the silhouette), and accepts the grouping only if it cuts across the
   clusters (adjusted mutual information with them below ``max_ami``) and no group is tiny.

The trainer then draws each cell's negatives from its inferred batch (as with ``--batch-key``),
so events private to a batch no longer push the batches apart (docs/design.md, "Batches and
datasets").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, svds
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score, silhouette_score

from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

__all__ = ["InferredBatches", "infer_batches", "choose_clusters", "residual_components"]


@dataclass
class InferredBatches:
    groups: np.ndarray | None  # int32 group per cell, or None when no batch structure was accepted
    clusters: np.ndarray  # the k-means clusters the residuals are taken against
    singular_values: np.ndarray  # of the residual, largest first
    edge: float  # noise edge sqrt(n) + sqrt(p)
    n_components: int  # components above the edge
    ami: float  # adjusted mutual information of the groups with the clusters (nan without groups)
    reason: str  # why the groups were accepted or not


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _kmeans_by_silhouette(X: np.ndarray, ks: range, seed: int, metric: str, sample: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sub = rng.choice(len(X), size=min(len(X), sample), replace=False)
    best, best_labels = -np.inf, np.zeros(len(X), dtype=np.int64)
    for k in ks:
        if k >= len(X):
            break
        labels = KMeans(k, n_init=3, random_state=seed).fit_predict(X)
        if np.unique(labels[sub]).size < 2:
            continue
        s = silhouette_score(X[sub], labels[sub], metric=metric)
        if s > best:
            best, best_labels = s, labels.astype(np.int64)
    return best_labels


def choose_clusters(cells: np.ndarray, seed: int, max_clusters: int = 20) -> np.ndarray:
    """k-means labels of the unit cell rows, k in 2..max_clusters chosen by the cosine silhouette."""
    return _kmeans_by_silhouette(_unit(cells), range(2, max(3, min(max_clusters, len(cells) // 20) + 1)),
                                 seed, "cosine")


def residual_components(A: sp.csr_matrix, clusters: np.ndarray, k: int, seed: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, s, vt) of the top ``k`` singular components of the Pearson residuals of the binary
    cells x events matrix ``A`` against cluster openness times cell depth, largest first."""
    n, p = A.shape
    K = int(clusters.max()) + 1
    C = sp.csr_matrix((np.ones(n), (np.arange(n), clusters)), shape=(n, K))
    size = np.maximum(np.asarray(C.sum(axis=0)).ravel(), 1.0)
    M = np.asarray((C.T @ A).todense()) / size[:, None]
    M = np.maximum(M, 0.5 / size[:, None])  # an event never open in a cluster: half an opening
    depth = np.asarray(A.sum(axis=1)).ravel()
    sd = np.sqrt(np.maximum(depth / max(depth.mean(), 1e-12), 1e-3))
    sM = np.sqrt(M)
    # residual R = S - L with S = A / sqrt(P) on A's nonzeros and L = sqrt(P) = sd[c] * sM[cluster[c]]
    coo = A.tocoo()
    S = sp.csr_matrix((1.0 / (sd[coo.row] * sM[clusters[coo.row], coo.col]), (coo.row, coo.col)), shape=(n, p))
    St = S.T.tocsr()

    def mv(x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x).reshape(p, -1)
        out = S @ x2 - sd[:, None] * (sM @ x2)[clusters]
        return out.ravel() if np.ndim(x) == 1 else out

    def rmv(y: np.ndarray) -> np.ndarray:
        y2 = np.asarray(y).reshape(n, -1)
        out = St @ y2 - sM.T @ (C.T @ (sd[:, None] * y2))
        return out.ravel() if np.ndim(y) == 1 else out

    op = LinearOperator((n, p), matvec=mv, rmatvec=rmv, matmat=mv, rmatmat=rmv, dtype=np.float64)
    u, s, vt = svds(op, k=k, random_state=seed)
    order = np.argsort(s)[::-1]
    return u[:, order], s[order], vt[order]


def infer_batches(events: sp.spmatrix, cells: np.ndarray, *, seed: int = 0, max_components: int = 10,
                  max_ami: float = 0.1, max_share: float = 0.6, min_fraction: float = 0.02) -> InferredBatches:
    """Batches of the cells (see the module doc) from the binary events x cells matrix ``events``
    and the current cell vectors ``cells`` (one row per cell). A grouping is accepted when its
    adjusted mutual information with the clusters is at most ``max_ami``, no group has more
    than ``max_share`` of its cells in one cluster, and every group has at least
    ``min_fraction`` of the cells."""
    A = sp.csr_matrix(events.T, dtype=np.float64)  # cells x events
    A.data[:] = 1.0
    n, p = A.shape
    if len(cells) != n:
        raise ParameterError(f"{len(cells)} cell vectors for {n} cells")
    clusters = choose_clusters(cells, seed)
    n_clusters = int(clusters.max()) + 1
    u, s, vt = residual_components(A, clusters, int(min(max_components, min(n, p) - 1)), seed)
    edge = float(np.sqrt(n) + np.sqrt(p))
    r = int((s > edge).sum())

    def result(groups: np.ndarray | None, ami: float, reason: str) -> InferredBatches:
        reason += (f" ({n_clusters} clusters, {r} residual component(s) above the noise edge {edge:.1f}, "
                   f"largest {s[0]:.1f})")
        log.info("inferred batches: %s", reason)
        return InferredBatches(groups=groups, clusters=clusters, singular_values=s, edge=edge, n_components=r,
                               ami=ami, reason=reason)

    if r == 0:
        return result(None, float("nan"), "none: no residual structure above noise")
    groups = _kmeans_by_silhouette(u[:, :r] * s[:r], range(2, r + 2), seed, "euclidean").astype(np.int32)
    ami = float(adjusted_mutual_info_score(clusters, groups))
    table = np.zeros((int(groups.max()) + 1, n_clusters))
    np.add.at(table, (groups, clusters), 1.0)
    sizes = table.sum(axis=1)
    share = float((table.max(axis=1) / np.maximum(sizes, 1.0)).max())
    if ami > max_ami:
        return result(None, ami, f"rejected: the groups follow the clusters (AMI {ami:.2f} > {max_ami})")
    if share > max_share:
        return result(None, ami, f"rejected: a group has {share:.0%} of its cells in one cluster")
    if sizes.min() < min_fraction * n:
        return result(None, ami, f"rejected: a group of {int(sizes.min())} cells")
    return result(groups, ami, f"{len(sizes)} groups of {', '.join(str(int(x)) for x in sizes)} cells "
                               f"(AMI with the clusters {ami:.2f})")
