"""Batch events: events whose openness depends on the batch within clusters of cells.

With negatives from the positive cell's own batch, a batch that lacks a cell type is never a
negative of that type's events, and drifts towards them (docs/design.md, "Batches and
datasets", point 6). With negatives from the whole dataset, events private to a batch push the
batches apart (point 1). So the negatives are chosen per event: batch events (open more in
some batches than in others among cells of the same cluster) draw from the positive's batch,
every other event from its whole dataset.

The test is within clusters, because raw openness also differs between batches when their
cell-type proportions differ. Clusters: k-means on the unit cell rows
(:func:`cellspace.pseudo_batches.choose_clusters`). Under the null hypothesis a cell c of cluster
k opens event e at a rate r_ke times its depth d_c (its number of open events), whatever its
batch; so, given the O_ke openings of e in cluster k, they fall on batch b with probability
s_kb = (depth of b's cells in k) / (depth of k's cells), a multinomial. Summed over the
clusters, U_b = sum_k (O_kbe - O_ke s_kb) has covariance V = sum_k O_ke (diag(s_k) - s_k s_k^T),
and X^2 = U^T V^+ U is chi-square with rank(V) (at most B - 1) degrees of freedom: a
Cochran-Mantel-Haenszel test stratified by cluster, with the depth in the expected counts. It
pools the evidence of all clusters in one direction, as a batch effect is (the same batch opens
the event more in every cluster), which keeps its power on sparse data (a few openings per
event and cluster). The multinomial is the Poisson limit of binary openings: for events open in
a large share of a cluster its variance is too large and the test conservative. Events are
called batch events at a Benjamini-Hochberg false discovery rate ``fdr``, in two rounds: the
depth of the second is counted over the events the first did not call (a batch's own events
inflate its cells' depth, which makes every other event look depleted in that batch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

from cellspace.bench.mixing import unit_rows
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

__all__ = ["BatchEvents", "batch_event_test", "call_batch_events", "call_type_events", "find_batch_events",
           "benjamini_hochberg", "shared_type_events"]

# Events of batches the pilot found (shared_type_events): type events called at this FDR, batch
# events at a looser one, since a missed batch event pushes the batches apart while a type event
# wrongly kept within the batch costs only where a batch lacks that type (docs/design.md)
TYPE_EVENT_FDR = 0.05
SHARED_BATCH_FDR = 0.25


@dataclass
class BatchEvents:
    batch_event: np.ndarray  # bool per event: its openness depends on the batch within clusters
    pvalues: np.ndarray  # per event (1.0 where nothing could be tested)
    clusters: np.ndarray  # int per cell: the clusters the test was stratified by
    fdr: float

    @property
    def n_batch_events(self) -> int:
        return int(self.batch_event.sum())


def benjamini_hochberg(p: np.ndarray, fdr: float) -> np.ndarray:
    """Boolean mask of the p-values called at false discovery rate ``fdr`` (Benjamini-Hochberg)."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    below = p[order] <= fdr * np.arange(1, m + 1) / m
    called = np.zeros(m, dtype=bool)
    if below.any():
        called[order[: int(np.flatnonzero(below).max()) + 1]] = True
    return called


def batch_event_test(events: sp.spmatrix, clusters: np.ndarray, batches: np.ndarray,
                     depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X^2, degrees of freedom, p-value) per event of the binary events x cells matrix
    ``events``: the stratified test of the module doc, clusters and batches one id per cell,
    ``depth`` per cell (default: its number of open events)."""
    A = sp.csr_matrix(events, dtype=np.float64)  # events x cells
    A.data[:] = 1.0
    n_events, n_cells = A.shape
    clusters, batches = np.asarray(clusters), np.asarray(batches)
    if clusters.shape != (n_cells,) or batches.shape != (n_cells,):
        raise ParameterError(f"clusters and batches need one id per cell ({n_cells})")
    _, b = np.unique(batches, return_inverse=True)
    _, k = np.unique(clusters, return_inverse=True)
    n_b, n_k = int(b.max()) + 1, int(k.max()) + 1
    if depth is None:
        depth = np.asarray(A.sum(axis=0)).ravel()
    stratum = k * n_b + b
    S = sp.csr_matrix((np.ones(n_cells), (np.arange(n_cells), stratum)), shape=(n_cells, n_k * n_b))
    observed = np.asarray((A @ S).todense()).reshape(n_events, n_k, n_b)  # openings per cluster, batch
    share = np.bincount(stratum, weights=depth, minlength=n_k * n_b).reshape(n_k, n_b)
    share /= np.maximum(share.sum(axis=1, keepdims=True), 1e-300)
    total = observed.sum(axis=2)  # events x clusters
    U = (observed - total[:, :, None] * share[None]).sum(axis=1)  # events x batches
    M = np.stack([np.diag(s) - np.outer(s, s) for s in share])  # clusters x B x B
    V = np.einsum("ek,kij->eij", total, M)
    x2 = np.einsum("ei,eij,ej->e", U, np.linalg.pinv(V, hermitian=True), U)
    df = np.linalg.matrix_rank(V, hermitian=True).astype(np.float64)
    p = np.ones(n_events)
    has = df > 0
    p[has] = stats.chi2.sf(np.maximum(x2[has], 0.0), df[has])
    return x2, df, p


def call_batch_events(events: sp.spmatrix, clusters: np.ndarray, batches: np.ndarray, fdr: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(called, p-values): :func:`batch_event_test` at false discovery rate ``fdr``, twice: the
    second time with the depth counted over the events the first did not call, since a batch's
    own events inflate its cells' depth and would make the other events look depleted there."""
    A = sp.csr_matrix(events)
    _, _, p = batch_event_test(A, clusters, batches)
    called = benjamini_hochberg(p, fdr)
    if called.any() and not called.all():
        depth = np.asarray(A[~called].sum(axis=0)).ravel()
        _, _, p = batch_event_test(A, clusters, batches, depth=depth)
        called = benjamini_hochberg(p, fdr)
    return called, p


def call_type_events(events: sp.spmatrix, clusters: np.ndarray, fdr: float) -> tuple[np.ndarray, np.ndarray]:
    """(called, p-values): events whose openness differs between the clusters, the test of
    :func:`batch_event_test` with the clusters in the place of the batches and one stratum (the
    openings of an event fall on the clusters in proportion to their cells' depth under the
    null hypothesis), at false discovery rate ``fdr``."""
    clusters = np.asarray(clusters)
    _, _, p = batch_event_test(events, np.zeros(len(clusters), dtype=np.int64), clusters)
    return benjamini_hochberg(p, fdr), p


def shared_type_events(events: sp.spmatrix, cells: np.ndarray, batches: np.ndarray, *, seed: int = 0
                       ) -> np.ndarray:
    """Bool per event: the events whose negatives may span batches when the batches are strong
    enough to be found without labels. Type events (:func:`call_type_events`, clusters of the
    cell rows ``cells``) that are not batch events (:func:`find_batch_events` at the looser
    ``SHARED_BATCH_FDR``): a batch that lacks a type is then a negative of that type's events,
    and every event with any evidence of a batch effect stays within the batch."""
    found = find_batch_events(events, cells, batches, seed=seed, fdr=SHARED_BATCH_FDR)
    typed, _ = call_type_events(events, found.clusters, TYPE_EVENT_FDR)
    shared = typed & ~found.batch_event
    log.info("type events: %d of %d differ between the clusters, %d of them not by batch (negatives across "
             "batches)", int(typed.sum()), len(typed), int(shared.sum()))
    return shared


def find_batch_events(events: sp.spmatrix, cells: np.ndarray, batches: np.ndarray, *, seed: int = 0,
                      fdr: float = 0.05, clusters: np.ndarray | None = None,
                      max_cells: int = 20_000) -> BatchEvents:
    """Batch events of the binary events x cells matrix ``events`` (module doc), the clusters
    from the cell vectors ``cells`` (k-means on unit rows, k by the cosine silhouette; above
    ``max_cells`` cells fitted on a sample of that many, the others joining their nearest
    cluster) unless ``clusters`` is given."""
    from cellspace.pseudo_batches import choose_clusters  # scikit-learn: only when asked for

    n_cells = events.shape[1]
    if clusters is None:
        if len(cells) != n_cells:
            raise ParameterError(f"{len(cells)} cell vectors for {n_cells} cells")
        X = np.asarray(cells)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n_cells, size=max_cells, replace=False)) if n_cells > max_cells else None
        model = choose_clusters(X if sample is None else X[sample], seed)
        clusters = model.labels_ if sample is None else model.predict(unit_rows(X))
    clusters = np.asarray(clusters, dtype=np.int64)
    called, p = call_batch_events(events, clusters, batches, fdr)
    log.info("batch events: %d of %d events depend on the batch within %d clusters (FDR %.2f)",
             int(called.sum()), len(called), int(np.unique(clusters).size), fdr)
    return BatchEvents(batch_event=called, pvalues=p, clusters=clusters, fdr=fdr)
