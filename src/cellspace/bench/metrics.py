"""Benchmark metrics of an embedding: biological conservation and batch mixing.

The metric set follows the CellSpace paper (scib definitions):

* biological conservation: cell-type ASW ((silhouette + 1) / 2), NMI and ARI of clusters
  against cell types (clusters from :func:`cellspace.analysis.clustering.cluster_embedding`
  with as many clusters as cell types) and homogeneity (scikit-learn);
* batch mixing: batch ASW (per cell type, mean of 1 - |silhouette of batch labels|, averaged
  over cell types), graph connectivity (per cell type, fraction of cells in the largest
  connected component of the kNN graph restricted to that type, averaged), kBET acceptance
  rate (:mod:`cellspace.analysis.kbet`, as scib-metrics' ``kbet``, on the same kNN graph) and batch NMI (1 - NMI(cluster, batch)
  within each cell type, averaged);
* bio score = mean of the four biological metrics, batch score = mean of the four batch
  metrics, overall = 0.6 bio + 0.4 batch.

For speed, one pass over row blocks of the distance matrix yields both the kNN graph (reused
by clustering, graph connectivity and kBET) and, through one matrix product with the one-hot
(cell type, batch) indicator, every silhouette needed by both ASW metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

BIO_METRICS: tuple[str, ...] = ("asw_label", "nmi", "ari", "homogeneity")
BATCH_METRICS: tuple[str, ...] = ("asw_batch", "graph_connectivity", "kbet", "batch_nmi")
SUMMARY_SCORES: tuple[str, ...] = ("bio_score", "batch_score", "overall_score")
ALL_SCORES: tuple[str, ...] = BIO_METRICS + BATCH_METRICS + SUMMARY_SCORES
BIO_WEIGHT = 0.6

# A clustering function: (embedding, neighbours, n_clusters, metric, seed) -> labels
ClusterFn = Callable[[np.ndarray, "Neighbors", int, str, int], np.ndarray]

_BLOCK_ELEMENTS = 1 << 23  # distance-matrix entries per row block (64 MiB of float64)


@dataclass
class Neighbors:
    """k nearest neighbours of every cell, the cell itself included (first column)."""

    indices: np.ndarray  # (n, k) int64
    distances: np.ndarray  # (n, k) float64, ascending per row

    @property
    def n_neighbors(self) -> int:
        return int(self.indices.shape[1])

    def adjacency(self) -> sp.csr_matrix:
        """Directed kNN graph with unit weights (self loops kept; they do not change components)."""
        n, k = self.indices.shape
        data = np.ones(n * k, dtype=np.float32)
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        return sp.csr_matrix((data, self.indices.ravel(), indptr), shape=(n, n))


@dataclass
class Scores:
    """Metric values of one embedding (``values``) and per-cell-type batch metrics."""

    values: dict[str, float]
    per_label: pd.DataFrame = field(default_factory=pd.DataFrame)
    clusters: np.ndarray | None = None

    def as_series(self) -> pd.Series:
        return pd.Series({k: self.values.get(k, np.nan) for k in ALL_SCORES}, dtype=float)


# --------------------------------------------------------------------------- distances
def _prepare(X: np.ndarray, metric: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return X / norms
    if metric != "euclidean":
        raise ParameterError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    return X


def _block_distances(Xa: np.ndarray, Xb: np.ndarray, sq_b: np.ndarray, metric: str) -> np.ndarray:
    """Distances between rows of ``Xa`` and ``Xb`` (both already prepared for ``metric``)."""
    D = Xa @ Xb.T
    if metric == "cosine":
        np.subtract(1.0, D, out=D)
    else:
        D *= -2.0
        D += np.einsum("ij,ij->i", Xa, Xa)[:, None]
        D += sq_b[None, :]
        np.maximum(D, 0.0, out=D)
        np.sqrt(D, out=D)
    np.maximum(D, 0.0, out=D)
    return D


def _distance_pass(
    X: np.ndarray,
    metric: str,
    n_neighbors: int,
    group_codes: np.ndarray | None,
    n_groups: int,
    asw_metric: str,
    sample: np.ndarray | None = None,
) -> tuple[Neighbors, np.ndarray | None]:
    """kNN (self first) under ``metric`` and, when ``group_codes`` is given, the sums of
    ``asw_metric`` distances from every cell to every group: an (n, n_groups) array.

    With ``sample`` (indices into the rows of ``X``, repeats allowed: a bootstrap resample) the
    cells are ``X[sample]``; distances are computed once per distinct row and expanded exactly
    (copies of a cell are at distance 0). ``group_codes`` are then per sampled cell.
    """
    X = np.asarray(X)
    if sample is None:
        sample = np.arange(X.shape[0])
    order = np.argsort(sample, kind="stable")
    uniq, first, inv_sorted, mult = np.unique(
        sample[order], return_index=True, return_inverse=True, return_counts=True)
    n = sample.size
    nu = uniq.size
    k = min(n_neighbors, n)
    Xu = X[uniq]
    Xm = _prepare(Xu, metric)
    sq = np.einsum("ij,ij->i", Xm, Xm)
    same = asw_metric == metric
    if group_codes is not None and not same:
        Xa = _prepare(Xu, asw_metric)
        sqa = np.einsum("ij,ij->i", Xa, Xa)
    # position (in sample order) of each sampled cell's distinct row, and the copies of each
    # distinct row in the sorted sample: positions order[first[u]:first[u] + mult[u]]
    u_of = np.empty(n, dtype=np.int64)
    u_of[order] = inv_sorted.ravel()
    w_onehot = None
    sums = None
    if group_codes is not None:
        gu = np.asarray(group_codes)[order[first]]
        w_onehot = np.zeros((nu, n_groups))
        w_onehot[np.arange(nu), gu] = mult
        sums_u = np.empty((nu, n_groups))
    kk = min(k, nu)
    nbr = np.empty((nu, kk), dtype=np.int64)
    nd = np.empty((nu, kk))
    step = max(1, _BLOCK_ELEMENTS // max(nu, 1))
    rows = np.arange(nu)
    for start in range(0, nu, step):
        stop = min(nu, start + step)
        r = np.arange(stop - start)
        D = _block_distances(Xm[start:stop], Xm, sq, metric)
        D[r, rows[start:stop]] = -1.0  # the cell itself first
        part = (np.argpartition(D, kk - 1, axis=1)[:, :kk] if kk < nu
                else np.tile(rows, (stop - start, 1)))
        pd_ = np.take_along_axis(D, part, axis=1)
        o = np.argsort(pd_, axis=1, kind="stable")
        nbr[start:stop] = np.take_along_axis(part, o, axis=1)
        nd[start:stop] = np.take_along_axis(pd_, o, axis=1)
        D[r, rows[start:stop]] = 0.0
        if w_onehot is not None:
            if not same:
                D = _block_distances(Xa[start:stop], Xa, sqa, asw_metric)
                D[r, rows[start:stop]] = 0.0
            sums_u[start:stop] = D @ w_onehot
    nd[:, 0] = 0.0
    # expand distinct neighbours by their multiplicities into k slots
    M = mult[nbr]  # (nu, kk)
    cum = np.cumsum(M, axis=1)
    slots = np.arange(k)
    j = (cum[:, :, None] <= slots[None, None, :]).sum(axis=1)  # (nu, k) neighbour rank
    prev = np.take_along_axis(cum - M, j, axis=1)
    v = np.take_along_axis(nbr, j, axis=1)
    pos_sorted = first[v] + (slots[None, :] - prev)  # index into the sorted sample
    base_idx = order[pos_sorted]
    base_dist = np.take_along_axis(nd, j, axis=1)
    idx = base_idx[u_of].copy()
    dist = base_dist[u_of].copy()
    # put each cell itself first (its slot among its own copies, or slot 0)
    me = np.arange(n)
    hit = idx == me[:, None]
    has = hit.any(axis=1)
    c = np.where(has, hit.argmax(axis=1), 0)
    idx[me, c] = idx[:, 0]
    idx[:, 0] = me
    dist[:, 0] = 0.0
    sums = sums_u[u_of] if w_onehot is not None else None
    return Neighbors(idx, dist), sums


def compute_neighbors(X: np.ndarray, n_neighbors: int = 20, metric: str = "euclidean",
                      sample: np.ndarray | None = None) -> Neighbors:
    """Exact kNN of every row of ``X`` (or of ``X[sample]``), the row itself first."""
    return _distance_pass(np.asarray(X), metric, n_neighbors, None, 0, metric, sample)[0]


# --------------------------------------------------------------------------- silhouettes
def _silhouette_from_sums(sums: np.ndarray, own: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Silhouette of every cell from its distance sums to each group (columns of ``sums``).

    ``own`` is each cell's group column; ``counts`` the group sizes. Follows scikit-learn's
    conventions: 0 for cells alone in their group, NaN (0/0) mapped to 0.
    """
    n = sums.shape[0]
    r = np.arange(n)
    own_count = counts[own]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = sums[r, own] / np.maximum(own_count - 1, 1)
        means = sums / counts[None, :]
    means[r, own] = np.inf
    means[:, counts == 0] = np.inf
    b = means.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b - a) / np.maximum(a, b)
    s[own_count == 1] = 0.0
    return np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


# --------------------------------------------------------------------------- partitions
def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Contingency table of two integer-coded partitions (rows: a, columns: b)."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    na, nb_ = int(a.max()) + 1, int(b.max()) + 1
    return np.bincount(a * nb_ + b, minlength=na * nb_).reshape(na, nb_).astype(np.float64)


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _mutual_info(c: np.ndarray) -> float:
    n = c.sum()
    pa = c.sum(axis=1, keepdims=True)
    pb = c.sum(axis=0, keepdims=True)
    nz = c > 0
    return float(max((c[nz] / n * (np.log(c[nz] * n) - np.log((pa @ pb)[nz]))).sum(), 0.0))


def partition_scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """(NMI with arithmetic mean normalisation, ARI, homogeneity of ``pred`` w.r.t. ``truth``),
    equal to scikit-learn's ``normalized_mutual_info_score``, ``adjusted_rand_score`` and
    ``homogeneity_score`` but from one contingency table."""
    c = _contingency(np.asarray(truth), np.asarray(pred))
    n = c.sum()
    ht, hp = _entropy(c.sum(axis=1)), _entropy(c.sum(axis=0))
    mi = _mutual_info(c)
    if (c.shape[0] == c.shape[1] == 1) or (c.shape[0] == c.shape[1] == 0):
        nmi = 1.0
    else:
        denom = (ht + hp) / 2.0
        nmi = 0.0 if mi == 0 else mi / max(denom, np.finfo(float).eps)
    homog = 1.0 if ht == 0 else mi / ht
    sum_comb = (c * (c - 1) / 2).sum()
    a = c.sum(axis=1)
    b = c.sum(axis=0)
    sa = (a * (a - 1) / 2).sum()
    sb = (b * (b - 1) / 2).sum()
    tot = n * (n - 1) / 2
    expected = sa * sb / tot if tot > 0 else 0.0
    maxi = (sa + sb) / 2
    if maxi == expected:  # both partitions trivial or identical-trivial: sklearn returns 1
        ari = 1.0
    else:
        ari = (sum_comb - expected) / (maxi - expected)
    return float(min(nmi, 1.0)), float(ari), float(min(homog, 1.0))


# --------------------------------------------------------------------------- single metrics
def graph_connectivity(neighbors: Neighbors, labels: np.ndarray) -> tuple[float, pd.Series]:
    """scib graph connectivity: per label, largest connected component fraction of the
    (symmetrised) kNN graph restricted to that label's cells; mean over labels."""
    A = neighbors.adjacency()
    labels = np.asarray(labels)
    out = {}
    for lab in pd.unique(labels):
        m = np.flatnonzero(labels == lab)
        sub = A[m][:, m]
        _, comp = connected_components(sub, directed=True, connection="weak")
        out[lab] = np.bincount(comp).max() / m.size
    per = pd.Series(out, dtype=float)
    return float(per.mean()), per


def kbet(neighbors: Neighbors, batches: np.ndarray, alpha: float = 0.05) -> tuple[float, np.ndarray]:
    """kBET acceptance rate and the per-cell acceptance (p >= alpha) on the kNN graph
    (:func:`cellspace.analysis.kbet.kbet`, equal to scib-metrics 0.5 ``kbet``)."""
    from cellspace.analysis.kbet import kbet as kbet_rate

    return kbet_rate(neighbors.indices, batches, alpha)


def batch_nmi(clusters: np.ndarray, labels: np.ndarray, batches: np.ndarray) -> tuple[float, pd.Series]:
    """1 - NMI(cluster, batch) within each cell type with at least two batches; mean over types."""
    clusters, labels, batches = map(np.asarray, (clusters, labels, batches))
    out = {}
    for lab in pd.unique(labels):
        m = labels == lab
        if pd.unique(batches[m]).size < 2:
            continue
        out[lab] = 1.0 - partition_scores(batches[m], clusters[m])[0]
    per = pd.Series(out, dtype=float)
    return (float(per.mean()) if len(per) else float("nan")), per


# --------------------------------------------------------------------------- clustering
class SharedClustering:
    """Clustering with the project's shared clustering functions on the already computed kNN:
    Seurat-style SNN graph, resolution searched (from ``start``) for exactly ``n_clusters``,
    the smallest clusters merged into their best-connected neighbours when no resolution gives
    it. ``method``: "leiden" (igraph, fast; default for benchmarking) or "louvain" (as the
    paper's Seurat clustering; several times slower). ``last_resolution`` holds the resolution
    of the latest call, e.g. to start the bootstrap replicates' searches from the observed one.
    """

    def __init__(self, method: str = "leiden", start: float = 1.0) -> None:
        self.method = method
        self.start = start
        self.last_resolution: float | None = None

    def __call__(self, X: np.ndarray, neighbors: Neighbors, n_clusters: int, metric: str,
                 seed: int) -> np.ndarray:
        from cellspace.analysis.clustering import merge_small_clusters, resolution_search
        from cellspace.analysis.graph import KNN, snn_graph

        knn = KNN(indices=neighbors.indices, distances=neighbors.distances.astype(np.float32),
                  metric=metric)
        snn = snn_graph(knn)
        res = resolution_search(snn, n_clusters, method=self.method, seed=seed, start=self.start)
        labels = res.labels
        if not res.exact and res.n_clusters > n_clusters:
            labels = merge_small_clusters(labels, snn, n_clusters=n_clusters)
        self.last_resolution = float(res.resolution)
        return np.asarray(labels)


def default_cluster_fn(
    X: np.ndarray, neighbors: Neighbors, n_clusters: int, metric: str, seed: int
) -> np.ndarray:
    """:class:`SharedClustering` with Leiden, searching from resolution 1."""
    return SharedClustering()(X, neighbors, n_clusters, metric, seed)


# --------------------------------------------------------------------------- all metrics
def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return codes.astype(np.int64), uniq


def evaluation_mask(
    labels: Sequence, label_exclude: Sequence[str] = (), subset: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask of the cells to evaluate: labelled, not in ``label_exclude``, in ``subset``."""
    lab = pd.Series(np.asarray(labels, dtype=object))
    mask = lab.notna().to_numpy()
    mask &= ~lab.astype(str).isin([str(x) for x in label_exclude]).to_numpy()
    if subset is not None:
        subset = np.asarray(subset)
        if subset.dtype == bool:
            if subset.size != mask.size:
                raise ParameterError("subset mask length differs from the number of cells")
            mask &= subset
        else:
            keep = np.zeros_like(mask)
            keep[subset] = True
            mask &= keep
    return mask


def score_embedding(
    X: np.ndarray,
    labels: Sequence,
    batches: Sequence | None = None,
    *,
    sample: np.ndarray | None = None,
    metric: str = "euclidean",
    asw_metric: str = "euclidean",
    n_neighbors: int = 20,
    clusters: np.ndarray | None = None,
    cluster_fn: ClusterFn | None = None,
    seed: int = 0,
    kbet_alpha: float = 0.05,
) -> Scores:
    """All eight metrics and the three summary scores of one embedding on the given cells
    (or on the resample ``X[sample]`` of them, labels and batches resampled alike).

    ``metric`` is the kNN/clustering distance (cosine for CellSpace, euclidean otherwise);
    ``asw_metric`` the silhouette distance (scib default: euclidean). Clusters are computed
    with ``cluster_fn`` (default: the shared clustering) with as many clusters as cell types,
    unless given. Without ``batches`` the batch metrics and the batch/overall scores are NaN.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if labels.shape[0] != X.shape[0]:
        raise ParameterError(f"{labels.shape[0]} labels for {X.shape[0]} cells")
    if batches is not None:
        batches = np.asarray(batches).astype(str)
        if batches.shape[0] != X.shape[0]:
            raise ParameterError(f"{batches.shape[0]} batch labels for {X.shape[0]} cells")
    if sample is not None:
        sample = np.asarray(sample, dtype=np.int64)
        labels = labels[sample]
        batches = None if batches is None else batches[sample]
    n = labels.shape[0]
    lab_codes, lab_names = _codes(labels)
    n_lab = lab_names.size
    if batches is not None:
        bat_codes, bat_names = _codes(batches)
        n_bat = bat_names.size
    else:
        bat_codes, n_bat = np.zeros(n, dtype=np.int64), 1
    group = lab_codes * n_bat + bat_codes
    nb, sums = _distance_pass(X, metric, n_neighbors, group, n_lab * n_bat, asw_metric, sample)
    assert sums is not None
    gcounts = np.bincount(group, minlength=n_lab * n_bat).astype(float)

    v: dict[str, float] = {}
    # cell-type ASW: sums over batches of each label
    lab_sums = sums.reshape(n, n_lab, n_bat).sum(axis=2)
    lab_counts = gcounts.reshape(n_lab, n_bat).sum(axis=1)
    if 2 <= n_lab <= n - 1:
        sil = _silhouette_from_sums(lab_sums, lab_codes, lab_counts)
        v["asw_label"] = (float(sil.mean()) + 1.0) / 2.0
    else:
        v["asw_label"] = float("nan")

    if clusters is None:
        fn = cluster_fn or default_cluster_fn
        clusters = np.asarray(fn(X if sample is None else X[sample], nb, n_lab, metric, seed))
    clusters = np.asarray(clusters)
    v["nmi"], v["ari"], v["homogeneity"] = partition_scores(lab_codes, clusters)

    gc, gc_per = graph_connectivity(nb, lab_codes)
    per = pd.DataFrame(index=pd.Index(lab_names, name="cell_type"))
    per["n_cells"] = lab_counts.astype(int)
    per["graph_connectivity"] = gc_per.reindex(np.arange(n_lab)).to_numpy()
    if batches is not None and n_bat >= 2:
        # batch ASW per label: silhouettes of batch labels among that label's cells
        bsum = sums.reshape(n, n_lab, n_bat)[np.arange(n), lab_codes]  # (n, n_bat)
        bcount = gcounts.reshape(n_lab, n_bat)
        asw_per = np.full(n_lab, np.nan)
        for li in range(n_lab):
            m = lab_codes == li
            nb_here = int((bcount[li] > 0).sum())
            if nb_here < 2 or nb_here == int(m.sum()):
                continue
            s = _silhouette_from_sums(bsum[m], bat_codes[m], bcount[li])
            asw_per[li] = float(np.mean(1.0 - np.abs(s)))
        v["asw_batch"] = float(np.nanmean(asw_per)) if np.isfinite(asw_per).any() else float("nan")
        per["asw_batch"] = asw_per
        v["graph_connectivity"] = gc
        rate, accepted = kbet(nb, bat_codes, kbet_alpha)
        v["kbet"] = rate
        per["kbet"] = pd.Series(accepted.astype(float)).groupby(lab_codes).mean().reindex(
            np.arange(n_lab)).to_numpy()
        bn, bn_per = batch_nmi(clusters, lab_codes, bat_codes)
        v["batch_nmi"] = bn
        per["batch_nmi"] = bn_per.reindex(np.arange(n_lab)).to_numpy()
    else:
        v["graph_connectivity"] = gc
        for m_ in ("asw_batch", "kbet", "batch_nmi"):
            v[m_] = float("nan")
            per[m_] = np.nan
    v["bio_score"] = float(np.mean([v[m_] for m_ in BIO_METRICS]))
    v["batch_score"] = float(np.mean([v[m_] for m_ in BATCH_METRICS]))
    v["overall_score"] = BIO_WEIGHT * v["bio_score"] + (1 - BIO_WEIGHT) * v["batch_score"]
    return Scores(values=v, per_label=per, clusters=clusters)


def score_anndata(
    adata,
    methods: Sequence[str],
    label_key: str,
    batch_key: str | None = None,
    *,
    label_exclude: Sequence[str] = (),
    subset: np.ndarray | None = None,
    metrics: dict[str, str] | None = None,
    cluster_method: str = "leiden",
    n_neighbors: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Scores of ``adata.obsm[f"X_{m}"]`` for each method ``m`` (one row per method) on the
    cells left after ``label_exclude`` and ``subset``; writes them to
    ``adata.uns["bench_scores"]`` too. ``metrics`` maps methods to "cosine" (default
    euclidean)."""
    labels = adata.obs[label_key].astype(object).to_numpy()
    mask = evaluation_mask(labels, label_exclude, subset)
    batches = None if batch_key is None else adata.obs[batch_key].astype(str).to_numpy()[mask]
    rows = []
    for m in methods:
        X = np.asarray(adata.obsm[f"X_{m}"])[mask]
        sc = score_embedding(X, labels[mask].astype(str), batches,
                             metric=(metrics or {}).get(m, "euclidean"), n_neighbors=n_neighbors,
                             cluster_fn=SharedClustering(cluster_method), seed=seed)
        rows.append({"method": m, **sc.as_series().to_dict()})
    df = pd.DataFrame(rows).set_index("method")
    adata.uns["bench_scores"] = df.reset_index().to_dict(orient="list")
    return df
