"""Batches inferred without labels, from structure the embedding's clusters do not explain.

A batch (donor, sample) that opens its own events shows in the binary cells x events matrix as
excess openings that fall on the same cells (the batch's) for many events and in every cluster
of cell types. :func:`infer_batches`

1. clusters the unit cell rows with k-means, the number of clusters chosen by the cosine
   silhouette (cell types, once training has separated them), then moves every cell to the
   cluster under whose openness its own openings are most likely (a few rounds): early rows
   place some cells among another type's, and their openings still say their type;
2. forms the Pearson residuals of the matrix against the cell's cluster's openness of the event
   times the cell's depth relative to the cluster's mean depth, ``(a - p) / sqrt(p)``;
3. keeps the residual's singular components above the noise edge ``sqrt(n) + sqrt(p)`` (the
   largest singular value of an n x p matrix of unit-variance noise): structure shared by many
   events and many cells that the clusters do not explain. A component held by one cluster
   (most of its squared scores in that cluster's cells) is two types the clusters merged, not
   a batch, which spreads over every cluster: that cluster is split in two along it, the
   clusters refined again and the residual taken anew, until no cluster holds a component
   (or a cut is undone by the refinement);
4. groups the cells by k-means on their scores on those components (2 to r + 1 groups for r
   components, chosen by the silhouette), and accepts the grouping only if it cuts across the
   clusters (adjusted mutual information with them below ``max_ami``), no group is tiny, and
5. it replicates: a batch opens many events of its own, so two disjoint random halves of the
   events, decomposed and grouped the same way, must find the same cells (the lowest adjusted
   Rand index between the halves' groupings over a few splits at least ``min_replication``);
   a component made of noise, a few extreme cells or a handful of events does not.

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
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, silhouette_score

from cellspace.bench.mixing import unit_rows
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

__all__ = ["InferredBatches", "infer_batches", "choose_clusters", "refine_clusters", "assign_clusters",
           "residual_components", "held_component", "split_half_agreement"]


@dataclass
class InferredBatches:
    groups: np.ndarray | None  # int32 group per cell, or None when no batch structure was accepted
    clusters: np.ndarray  # the clusters the residuals are taken against (of the sampled cells)
    singular_values: np.ndarray  # of the residual, largest first
    edge: float  # noise edge sqrt(n) + sqrt(p)
    n_components: int  # components above the edge
    n_splits: int  # clusters split because a residual component lay within one of them
    ami: float  # adjusted mutual information of the groups with the clusters (nan without groups)
    replication: float  # lowest ARI between the groupings of two halves of the events (nan: not tested)
    reason: str  # why the groups were accepted or not


def _kmeans_by_silhouette(X: np.ndarray, ks: range, seed: int, metric: str, sample: int = 2000) -> KMeans:
    """The fitted k-means whose k (in ``ks``) has the best silhouette on a sample of ``X``."""
    rng = np.random.default_rng(seed)
    sub = rng.choice(len(X), size=min(len(X), sample), replace=False)
    best, best_model = -np.inf, None
    for k in ks:
        if k >= len(X):
            break
        model = KMeans(k, n_init=3, random_state=seed).fit(X)
        if np.unique(model.labels_[sub]).size < 2:
            continue
        s = silhouette_score(X[sub], model.labels_[sub], metric=metric)
        if s > best:
            best, best_model = s, model
    if best_model is None:
        raise ParameterError("too few distinct cells to cluster")
    return best_model


def choose_clusters(cells: np.ndarray, seed: int, max_clusters: int = 20) -> KMeans:
    """k-means of the unit cell rows, k in 2..max_clusters chosen by the cosine silhouette."""
    return _kmeans_by_silhouette(unit_rows(cells), range(2, max(3, min(max_clusters, len(cells) // 20) + 1)),
                                 seed, "cosine")


def residual_components(A: sp.csr_matrix, clusters: np.ndarray, k: int, seed: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(u, s, vt, sqrt(cluster openness), the clusters' mean depths): the top ``k`` singular
    components of the Pearson residuals of the binary cells x events matrix ``A`` against the
    cluster's openness times the cell's depth relative to its cluster's mean depth, largest
    first. (Relative to the mean depth of all cells, a cluster deeper than average would be
    over-predicted on every event: an offset per cluster that shows as type structure.)"""
    n, p = A.shape
    C = _membership(clusters, int(clusters.max()) + 1)
    M, mean_depth = _cluster_profiles(A, C)
    depth = np.asarray(A.sum(axis=1)).ravel()
    # the cluster's openness already holds its cells' mean depth: scale by depth relative to it
    sd = np.sqrt(np.maximum(depth / mean_depth[clusters], 1e-3))
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
    return u[:, order], s[order], vt[order], sM, mean_depth


def _membership(clusters: np.ndarray, n_clusters: int) -> sp.csr_matrix:
    """cells x clusters indicator matrix."""
    n = len(clusters)
    return sp.csr_matrix((np.ones(n), (np.arange(n), clusters)), shape=(n, n_clusters))


def _cluster_profiles(A: sp.csr_matrix, C: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(openness of every event in every cluster, the clusters' mean depths) of the binary cells x
    events matrix ``A`` and the membership ``C`` (:func:`_membership`)."""
    size = np.maximum(np.asarray(C.sum(axis=0)).ravel(), 1.0)
    openness = np.asarray((C.T @ A).todense()) / size[:, None]
    openness = np.maximum(openness, 0.5 / size[:, None])  # an event never open in a cluster: half an opening
    depth = np.asarray(A.sum(axis=1)).ravel()
    mean_depth = np.maximum(np.asarray(C.T @ depth).ravel() / size, 1e-12)
    return openness, mean_depth


def _cluster_rates(A: sp.csr_matrix, clusters: np.ndarray) -> np.ndarray:
    """Openings per unit of depth of every event in every cluster (clusters x events)."""
    openness, mean_depth = _cluster_profiles(A, _membership(clusters, int(clusters.max()) + 1))
    return openness / mean_depth[:, None]


def assign_clusters(A: sp.csr_matrix, rates: np.ndarray) -> np.ndarray:
    """The cluster under whose ``rates`` (:func:`_cluster_rates`) each cell's openings (rows of
    ``A``) are most likely, as Poisson counts scaled by the cell's depth."""
    depth = np.asarray(A.sum(axis=1)).ravel()
    loglik = np.asarray(A @ np.log(rates).T) - depth[:, None] * rates.sum(axis=1)[None, :]
    return loglik.argmax(axis=1).astype(np.int64)


def refine_clusters(A: sp.csr_matrix, clusters: np.ndarray, iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Clusters of the embedding corrected by the cells' own openings: every cell moves to the
    cluster under whose openness it is most likely (:func:`assign_clusters`), ``iterations``
    times or until none moves; empty clusters are dropped. Returns the clusters and their rates.

    Early in training the embedding places some cells among another type's cells; their
    openings, unlike their rows, still say their type, and left in the wrong cluster they
    form residual structure that follows the types and hides a batch."""
    labels = np.unique(np.asarray(clusters), return_inverse=True)[1].astype(np.int64)
    rates = _cluster_rates(A, labels)
    for _ in range(iterations):
        moved = assign_clusters(A, rates)
        if (moved == labels).all():
            break
        labels = np.unique(moved, return_inverse=True)[1].astype(np.int64)
        rates = _cluster_rates(A, labels)
    return labels, rates


def _residual_scores(A: sp.csr_matrix, clusters: np.ndarray, W: np.ndarray, sM: np.ndarray, mean_depth: np.ndarray,
                     chunk: int = 20_000) -> np.ndarray:
    """Rows of the residual (as in :func:`residual_components`) times ``W`` (events x r), for
    cells not in the decomposition, in chunks of cells."""
    out = np.zeros((A.shape[0], W.shape[1]))
    for k in range(len(sM)):
        Wk, base = W / sM[k][:, None], sM[k] @ W
        idx = np.flatnonzero(clusters == k)
        for start in range(0, len(idx), chunk):
            rows = idx[start : start + chunk]
            Ak = A[rows]
            sd = np.sqrt(np.maximum(np.asarray(Ak.sum(axis=1)).ravel() / mean_depth[k], 1e-3))
            out[rows] = (Ak @ Wk) / sd[:, None] - sd[:, None] * base
    return out


def held_component(u: np.ndarray, clusters: np.ndarray, max_outside: float = 0.5) -> tuple[int, np.ndarray] | None:
    """(cluster, unit direction ``w``) such that the component ``u @ w`` (``u``: the unit left
    singular vectors of the residual above the edge, largest first) is held by that cluster: the
    cells outside it carry less than ``max_outside`` times the share of its squared scores that
    an even spread would give them (their share of the cells); None if there is none.

    A component held by one cluster is structure inside it (two types the clusters merged); a
    batch opens its events in every cluster, and its component's squared scores spread over the
    clusters about as their sizes do. The components themselves are tried first, largest first;
    then, for each cluster, the combination most concentrated in its cells (top eigenvector of
    ``u_c.T @ u_c`` over the cluster's rows ``u_c``), lowest ratio first: two merged pairs of types
    in two clusters give components of similar size that the decomposition mixes, so that no
    single one is held."""
    n, r = u.shape
    if r == 0:
        return None
    n_clusters = int(clusters.max()) + 1
    counts = np.bincount(clusters, minlength=n_clusters)
    outside_cells = np.maximum(1.0 - counts / n, 1e-12)
    splittable = counts >= 2
    for j in range(r):
        inside = np.bincount(clusters, weights=u[:, j] ** 2, minlength=n_clusters) / max(float(u[:, j] @ u[:, j]), 1e-300)
        ratio = np.where(splittable, (1.0 - inside) / outside_cells, np.inf)
        c = int(ratio.argmin())
        if ratio[c] < max_outside:
            return c, np.eye(r)[j]
    best, best_ratio = None, max_outside
    for c in np.flatnonzero(splittable):
        uc = u[clusters == c]
        values, vectors = np.linalg.eigh(uc.T @ uc)
        ratio = (1.0 - values[-1]) / outside_cells[c]
        if ratio < best_ratio:
            best, best_ratio = (int(c), vectors[:, -1]), ratio
    return best


def _split_cluster(clusters: np.ndarray, scores: np.ndarray, cluster: int, seed: int) -> np.ndarray:
    """``clusters`` with ``cluster`` cut in two by 2-means of its cells' ``scores`` (one column)."""
    idx = np.flatnonzero(clusters == cluster)
    halves = KMeans(2, n_init=3, random_state=seed).fit_predict(scores[idx].reshape(-1, 1))
    out = clusters.copy()
    out[idx[halves == 1]] = int(clusters.max()) + 1
    return out


def split_half_agreement(A: sp.csr_matrix, clusters: np.ndarray, n_components: int, n_groups: int, seed: int,
                         splits: int = 3) -> np.ndarray:
    """Adjusted Rand index between the groupings of two disjoint random halves of the events,
    per split: each half's residual (:func:`residual_components`, same clusters) gives the
    cells' scores on its top ``n_components`` components, grouped by k-means into ``n_groups``."""
    rng = np.random.default_rng(seed)
    p = A.shape[1]
    out = np.empty(splits)
    for i in range(splits):
        order = rng.permutation(p)
        found = []
        for half in (order[: p // 2], order[p // 2 :]):
            Ah = A[:, np.sort(half)].tocsr()
            u, s, _, _, _ = residual_components(Ah, clusters, int(min(n_components, min(Ah.shape) - 1)), seed)
            scores = u[:, :n_components] * s[:n_components]
            found.append(KMeans(n_groups, n_init=3, random_state=seed).fit_predict(scores))
        out[i] = adjusted_rand_score(found[0], found[1])
    return out


def infer_batches(events: sp.spmatrix, cells: np.ndarray, *, seed: int = 0, max_components: int = 10,
                  max_ami: float = 0.1, max_share: float = 0.6, min_fraction: float = 0.02,
                  min_replication: float = 0.1, max_cells: int = 20_000, max_splits: int = 20) -> InferredBatches:
    """Batches of the cells (see the module doc) from the binary events x cells matrix ``events``
    and the current cell vectors ``cells`` (one row per cell). A grouping is accepted when its
    adjusted mutual information with the clusters is at most ``max_ami``, no group has more
    than ``max_share`` of its cells in one cluster, every group has at least ``min_fraction``
    of the cells, and two halves of the events find the same groups (adjusted Rand index at
    least ``min_replication`` in each of 3 splits, :func:`split_half_agreement`). Up to
    ``max_splits`` times, a cluster that holds a residual component above the edge
    (:func:`held_component`) is split along it first. With more than ``max_cells`` cells, clusters, residual
    components and groups are found on a random sample of that many, and every other cell
    joins the nearest cluster and the nearest group of its residual scores."""
    n_all = events.shape[1]
    if len(cells) != n_all:
        raise ParameterError(f"{len(cells)} cell vectors for {n_all} cells")
    A_all = sp.csr_matrix(sp.csr_matrix(events).T, dtype=np.float64)  # cells x events
    A_all.data[:] = 1.0
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n_all, size=max_cells, replace=False)) if n_all > max_cells else np.arange(n_all)
    A = A_all[sample]
    n, p = A.shape
    clusters, rates = refine_clusters(A, choose_clusters(np.asarray(cells)[sample], seed).labels_)
    edge = float(np.sqrt(n) + np.sqrt(p))
    n_splits = 0
    while True:
        u, s, vt, sM, mean_depth = residual_components(A, clusters, int(min(max_components, min(n, p) - 1)), seed)
        r = int((s > edge).sum())
        held = held_component(u[:, :r], clusters) if n_splits < max_splits else None
        if held is None:
            break
        split, split_rates = refine_clusters(A, _split_cluster(clusters, u[:, :r] @ held[1], held[0], seed))
        if split.max() <= clusters.max():  # the cells' openings undo the cut: no second type there
            break
        clusters, rates = split, split_rates
        n_splits += 1
    n_clusters = int(clusters.max()) + 1

    def result(groups: np.ndarray | None, ami: float, reason: str, replication: float = float("nan")
               ) -> InferredBatches:
        split = f", {n_splits} split along a residual component" if n_splits else ""
        reason += (f" ({n_clusters} clusters{split}, {r} residual component(s) above the noise edge {edge:.1f}, "
                   f"largest {s[0]:.1f})")
        log.info("inferred batches: %s", reason)
        return InferredBatches(groups=groups, clusters=clusters, singular_values=s, edge=edge, n_components=r,
                               n_splits=n_splits, ami=ami, replication=replication, reason=reason)

    if r == 0:
        return result(None, float("nan"), "none: no residual structure above noise")
    group_model = _kmeans_by_silhouette(u[:, :r] * s[:r], range(2, r + 2), seed, "euclidean")
    groups = group_model.labels_.astype(np.int32)
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
    replication = float(split_half_agreement(A, clusters, r, len(sizes), seed).min())
    if replication < min_replication:
        return result(None, ami, f"rejected: two halves of the events find other groups (ARI {replication:.2f} "
                                 f"< {min_replication})", replication)
    if n < n_all:  # the cells outside the sample: nearest cluster, then nearest group of their scores
        rest = np.setdiff1d(np.arange(n_all), sample)
        all_groups = np.empty(n_all, dtype=np.int32)
        all_groups[sample] = groups
        rest_clusters = assign_clusters(A_all[rest], rates)
        scores = _residual_scores(A_all[rest], rest_clusters, vt[:r].T, sM, mean_depth)
        all_groups[rest] = group_model.predict(scores).astype(np.int32)
        groups = all_groups
    return result(groups, ami, f"{len(sizes)} groups of {', '.join(str(int(x)) for x in sizes)} cells "
                               f"(AMI with the clusters {ami:.2f}, halves of the events agree at ARI "
                               f">= {replication:.2f})", replication)
