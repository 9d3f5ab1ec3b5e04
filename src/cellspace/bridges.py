"""Bridges between datasets with different event atlases, from shared sequence evidence.

Two datasets whose events are different regions share no event, so no training example
compares their cells; what they share is sequence. A cell's *k-mer profile* is the mean
k-mer frequency of the events open in it, standardised within its dataset (chromVAR's
deviations with k-mers as annotations): cells of one type open events enriched for the same
motifs, whichever atlas those events come from. Single cells' profiles are noisy (a few dozen
open events), so each is averaged over the cell's nearest neighbours *of its own dataset* in
the current embedding, where cell types are already separated.

Before smoothing, the profiles are cut to the k-mers that vary most between k-means clusters of
the current embedding in every dataset (:func:`informative_kmers`, an F statistic per k-mer and
dataset): most k-mers carry no type signal and only add noise to the cosines.

Each cell's ``partners`` are its nearest cells of the other datasets by cosine of smoothed
profiles (kept when mutual, and when the two cells' clusters are matched by their mean
profiles: :func:`agreeing_partners`), and its *bridged* events are a sample of the events open in its partners:
:func:`bridged_events` adds them to the events x cells matrix, so that a cell is also trained
as a positive on the other atlas' events its sequence twins open (with negatives from its
own dataset's pool, as every positive). Only the training matrix changes; the negative
pools stay those of the original data.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from cellspace.dataset import TrainingData
from cellspace.errors import ParameterError
from cellspace.kmers import kmer_rows_of, n_kmer_rows

log = logging.getLogger(__name__)

_ACGTN = np.frombuffer(b"ACGTN", dtype=np.uint8)

__all__ = ["Bridges", "event_kmer_frequencies", "profile_k", "kmer_profiles", "cluster_within",
           "informative_kmers", "smooth_within", "cross_partners", "bridged_events"]


# sizes of the bridge construction (measured in docs/design.md, "Bridges between atlases")
PROFILE_K = 8  # k of the profiles' k-mers (at most the training k) ...
PROFILE_BYTES = 2**31  # ... and lower while the cells x k-mers profiles would take more
EXACT_MAX_CELLS = 20_000  # above this many cells in a pair of datasets, approximate partner search
N_CLUSTERS = 10  # k-means clusters per dataset that score the k-mers ...
N_INFORMATIVE = 2000  # ... and the k-mers kept: those that vary most between clusters in every dataset
SMOOTH_NEIGHBORS = 30  # own-dataset neighbours a profile is averaged over
N_PARTNERS = 15  # partners per cell in each other dataset
MUTUAL = 100  # a partner is kept if the cell is among its MUTUAL nearest


def profile_k(n_cells: int, k: int) -> int:
    """The k of the k-mer profiles: at most ``k`` and PROFILE_K, and lower (down to 4) while
    the float32 cells x k-mers profiles would exceed PROFILE_BYTES."""
    pk = min(k, PROFILE_K)
    while pk > 4 and n_cells * n_kmer_rows(pk) * 4 > PROFILE_BYTES:
        pk -= 1
    return pk


def event_kmer_frequencies(data: TrainingData, k: int) -> sp.csr_matrix:
    """(n_events, canonical k-mer rows) float32: each event's k-mer frequencies."""
    n_rows = n_kmer_rows(k)
    seqs = data.sequences
    lengths = np.zeros(data.n_events, dtype=np.int64)
    parts = []
    for i in range(data.n_events):
        r = kmer_rows_of(_ACGTN[seqs.codes(i)].tobytes(), k)
        lengths[i] = len(r)
        parts.append(r)
    cols = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    rows = np.repeat(np.arange(data.n_events), lengths)
    E = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(data.n_events, n_rows))
    E.sum_duplicates()
    return (sp.diags((1.0 / np.maximum(lengths, 1)).astype(np.float32)) @ E).tocsr()


def kmer_profiles(data: TrainingData, k: int) -> np.ndarray:
    """(n_cells, canonical k-mer rows) float32: each cell's mean k-mer frequencies over its
    open events, every k-mer standardised (z-score over cells) within the cell's dataset."""
    E = event_kmer_frequencies(data, k)
    M = data.events.T.tocsr().astype(np.float32)
    M = (sp.diags((1.0 / np.maximum(np.diff(M.indptr), 1)).astype(np.float32)) @ M).tocsr()
    out = np.empty((data.n_cells, E.shape[1]), dtype=np.float32)
    for d in range(len(data.dataset_names)):
        cells = np.flatnonzero(data.cell_dataset == d)
        P = (M[cells] @ E).toarray()
        P -= P.mean(axis=0)
        sd = P.std(axis=0)
        P *= np.where(sd > 0, 1.0 / np.maximum(sd, 1e-12), 0.0).astype(np.float32)
        out[cells] = P
    return out


def cluster_within(embedding: np.ndarray, cell_dataset: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """k-means clusters of each dataset's unit cell rows (ids unique across datasets; at most one
    cluster per 10 cells)."""
    # imported here, not at module level: scikit-learn adds ~70 MB to every training's RSS
    from sklearn.cluster import KMeans

    from cellspace.bench.mixing import unit_rows

    out = np.empty(len(embedding), dtype=np.int64)
    U = unit_rows(embedding)
    for d in np.unique(cell_dataset):
        idx = np.flatnonzero(cell_dataset == d)
        k = max(1, min(n_clusters, len(idx) // 10))
        out[idx] = KMeans(k, n_init=3, random_state=seed).fit_predict(U[idx]) + int(d) * n_clusters
    return out


def informative_kmers(profiles: np.ndarray, clusters: np.ndarray, cell_dataset: np.ndarray, n: int) -> np.ndarray:
    """Sorted columns of the ``n`` k-mers with the largest F statistic (variance of the cluster
    means over the variance within clusters) in their least informative dataset."""
    F = np.full(profiles.shape[1], np.inf)
    for d in np.unique(cell_dataset):
        idx = np.flatnonzero(cell_dataset == d)
        u, inv = np.unique(clusters[idx], return_inverse=True)
        if len(u) < 2 or len(idx) <= len(u):
            continue
        G = sp.csr_matrix((np.ones(len(idx), dtype=np.float32), (inv, np.arange(len(idx)))), shape=(len(u), len(idx)))
        size = np.asarray(G.sum(axis=1)).ravel()
        X = profiles[idx]
        means = (G @ X) / size[:, None]
        between = (size[:, None] * (means - X.mean(axis=0)) ** 2).sum(axis=0) / (len(u) - 1)
        within = ((X - means[inv]) ** 2).sum(axis=0) / (len(idx) - len(u))
        F = np.minimum(F, between / np.maximum(within, 1e-12))
    if n >= len(F):
        return np.arange(len(F))
    return np.sort(np.argpartition(-F, n - 1)[:n])


def cluster_matches(profiles: np.ndarray, clusters: np.ndarray, cell_dataset: np.ndarray) -> np.ndarray:
    """(max cluster id + 1, n datasets): for every cluster and dataset, the cluster of that
    dataset whose mean profile correlates best with the cluster's own mean (-1 where none)."""
    datasets = np.unique(cell_dataset)
    ids = np.unique(clusters)
    means = np.array([profiles[clusters == c].mean(axis=0) for c in ids])
    means -= means.mean(axis=1, keepdims=True)
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    home = np.array([cell_dataset[clusters == c][0] for c in ids])
    corr = means @ means.T
    out = np.full((int(ids.max()) + 1, int(datasets.max()) + 1), -1, dtype=np.int64)
    for o in datasets:
        theirs = np.flatnonzero(home == o)
        out[ids, o] = ids[theirs[np.argmax(corr[:, theirs], axis=1)]]
    return out


def agreeing_partners(partners: np.ndarray, clusters: np.ndarray, cell_dataset: np.ndarray,
                      matches: np.ndarray) -> np.ndarray:
    """``partners`` with -1 for every partner whose cluster is not matched with the cell's
    (in either direction, :func:`cluster_matches`)."""
    cell = np.broadcast_to(np.arange(len(partners))[:, None], partners.shape)
    p = np.maximum(partners, 0)
    ok = (matches[clusters[cell], cell_dataset[p]] == clusters[p]) | (matches[clusters[p], cell_dataset[cell]] == clusters[cell])
    return np.where((partners >= 0) & ok, partners, -1)


def smooth_within(profiles: np.ndarray, embedding: np.ndarray, cell_dataset: np.ndarray, n_neighbors: int,
                  exact_max_cells: int = EXACT_MAX_CELLS, seed: int = 0) -> np.ndarray:
    """Each cell's profile averaged over its ``n_neighbors`` nearest cells (itself included)
    of its own dataset, by cosine of ``embedding`` (exact kNN up to ``exact_max_cells`` cells
    in the dataset, approximate above)."""
    from cellspace.analysis.graph import knn_graph

    out = np.empty_like(profiles)
    for d in np.unique(cell_dataset):
        idx = np.flatnonzero(cell_dataset == d)
        k = min(n_neighbors, len(idx))
        if k < 2:
            out[idx] = profiles[idx]
            continue
        knn = knn_graph(embedding[idx], n_neighbors=k, metric="cosine", exact_max_cells=exact_max_cells,
                        seed=seed).indices
        avg = sp.csr_matrix((np.full(knn.size, 1.0 / k, dtype=np.float32), knn.ravel(),
                             np.arange(0, knn.size + 1, k)), shape=(len(idx), len(idx)))
        out[idx] = avg @ profiles[idx]
    return out


def _nearest(query: np.ndarray, ref: np.ndarray, k: int, approximate: bool, seed: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(indices into ``ref``, cosines) of the ``k`` nearest rows of ``ref`` for each row of
    ``query``, nearest first: exact, or by nearest-neighbour descent."""
    from cellspace.analysis.graph import knn_between, knn_query_nndescent

    if approximate:
        idx, dist = knn_query_nndescent(query, ref, k, metric="cosine", seed=seed)
    else:
        idx, dist = knn_between(query, ref, k, metric="cosine")
    return idx, 1.0 - dist


def cross_partners(profiles: np.ndarray, cell_dataset: np.ndarray, n_partners: int,
                   mutual: int = MUTUAL, exact_max_cells: int = EXACT_MAX_CELLS, seed: int = 0) -> np.ndarray:
    """(n_cells, n_partners * (n_datasets - 1)) global ids, -1 = none: every cell's nearest
    cells of each other dataset by cosine of ``profiles``, each kept only if the cell is also
    among that partner's ``mutual`` nearest cells of the cell's dataset. Exact up to
    ``exact_max_cells`` cells in a pair of datasets (a cells x cells product), approximate
    (nearest-neighbour descent) above."""
    datasets = np.unique(cell_dataset)
    if len(datasets) < 2:
        raise ParameterError("bridges need at least two datasets")
    out = np.full((len(profiles), n_partners * (len(datasets) - 1)), -1, dtype=np.int64)
    for col, (d, o) in enumerate((d, o) for d in datasets for o in datasets if o != d):
        col = (col % (len(datasets) - 1)) * n_partners
        mine, theirs = np.flatnonzero(cell_dataset == d), np.flatnonzero(cell_dataset == o)
        approximate = len(mine) + len(theirs) > exact_max_cells
        # the similarity a cell of ``mine`` needs to be among a partner's ``mutual`` nearest
        need = _nearest(profiles[theirs], profiles[mine], min(mutual, len(mine)), approximate, seed)[1][:, -1]
        top, top_sim = _nearest(profiles[mine], profiles[theirs], min(n_partners, len(theirs)), approximate, seed)
        out[mine, col : col + top.shape[1]] = np.where(top_sim >= need[top] - 1e-6, theirs[top], -1)
    return out


def bridged_events(events: sp.csr_matrix, partners: np.ndarray, weight: float, seed: int) -> sp.csr_matrix:
    """``events`` (events x cells) with, for every cell, ``round(weight * its open events)``
    events drawn (without repeats) from the events open in its partners, each with a
    probability proportional to the number of partners it is open in."""
    if weight <= 0:
        return events
    M = events.T.tocsr()  # cells x events
    n_open = np.diff(M.indptr)
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for c in range(M.shape[0]):
        pool = np.concatenate([M.indices[M.indptr[p] : M.indptr[p + 1]] for p in partners[c] if p >= 0]
                              or [np.empty(0, dtype=M.indices.dtype)])
        if len(pool) == 0:
            continue
        pool, counts = np.unique(pool, return_counts=True)
        take = min(len(pool), int(round(weight * n_open[c])))
        if take == 0:
            continue
        rows.append(rng.choice(pool, size=take, replace=False, p=counts / counts.sum()))
        cols.append(np.full(take, c))
    if not rows:
        return events
    extra = sp.csr_matrix((np.ones(sum(len(r) for r in rows), dtype=np.uint8),
                           (np.concatenate(rows), np.concatenate(cols))), shape=events.shape)
    out = (events.astype(np.int32) + extra.astype(np.int32)).tocsr()
    out.data[:] = 1
    out.sort_indices()
    return sp.csr_matrix((out.data.astype(np.uint8), out.indices.astype(events.indices.dtype),
                          out.indptr.astype(events.indptr.dtype)), shape=events.shape)


class Bridges:
    """Builds the bridged training matrix of ``data`` from the current cell rows."""

    def __init__(self, data: TrainingData, k: int, weight: float, seed: int,
                 n_partners: int = N_PARTNERS, smooth: int = SMOOTH_NEIGHBORS) -> None:
        if len(data.dataset_names) < 2:
            raise ParameterError("bridges need at least two datasets")
        self.data, self.weight, self.seed = data, weight, seed
        self.n_partners, self.smooth = n_partners, smooth
        self.profiles = kmer_profiles(data, profile_k(data.n_cells, k))

    def events(self, cell_rows: np.ndarray, epoch: int) -> sp.csr_matrix:
        """The events x cells matrix with every cell's bridged events added."""
        ds = self.data.cell_dataset
        clusters = cluster_within(cell_rows, ds, N_CLUSTERS, self.seed)
        keep = informative_kmers(self.profiles, clusters, ds, N_INFORMATIVE)
        smoothed = smooth_within(np.ascontiguousarray(self.profiles[:, keep]), cell_rows, ds, self.smooth,
                                 seed=self.seed)
        partners = cross_partners(smoothed, ds, self.n_partners, seed=self.seed)
        partners = agreeing_partners(partners, clusters, ds, cluster_matches(smoothed, clusters, ds))
        out = bridged_events(self.data.events, partners, self.weight, self.seed + epoch)
        log.info("epoch %d: bridges between datasets, %d bridged entries added to %d", epoch,
                 out.nnz - self.data.events.nnz, self.data.events.nnz)
        return out
