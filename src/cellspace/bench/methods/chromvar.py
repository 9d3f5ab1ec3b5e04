"""chromVAR embeddings: deviation z-scores of JASPAR motifs or of DNA 8-mers, filtered
(|cor| > 0.9 and s.d. < 1.5 removed) and reduced by PCA, as in the CellSpace paper."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from anndata import AnnData
from sklearn.decomposition import PCA

from cellspace.analysis.motif_db import DEFAULT_RELEASE
from cellspace.bench import chromvar as cv
from cellspace.bench.methods.base import Method, counts_matrix, event_sequences
from cellspace.errors import InputError

log = logging.getLogger(__name__)


def _embed(adata: AnnData, annotation, seed: int, n_background: int, n_components: int,
           min_sd: float, max_cor: float, max_features: int, name: str) -> np.ndarray:
    X = counts_matrix(adata)
    seqs = event_sequences(adata, name)
    keep_ev = np.asarray(X.sum(axis=0)).ravel() > 0
    keep_cells = np.asarray(X.sum(axis=1)).ravel() > 0
    if not keep_cells.all():
        raise InputError(f"{name}: {int((~keep_cells).sum())} cell(s) without any count")
    X = X[:, keep_ev]
    A = annotation(np.asarray(seqs, dtype=object)[keep_ev].tolist())
    feat_ok = np.asarray(A.sum(axis=0)).ravel() > 0
    A = A[:, feat_ok]
    if A.shape[1] < 2:
        raise InputError(f"{name}: fewer than 2 features match any event")
    gc = cv.gc_content(np.asarray(seqs, dtype=object)[keep_ev].tolist())
    bg = cv.background_events(X, gc, n_iterations=n_background, seed=seed)
    Z = cv.deviation_zscores(X, A, bg)
    keep = cv.filter_features(Z, min_sd=min_sd, max_cor=max_cor, max_features=max_features)
    if keep.size < 2:
        raise InputError(f"{name}: fewer than 2 informative features after filtering")
    Zf = Z[:, keep].astype(np.float64)
    k = int(min(n_components, keep.size, Zf.shape[0] - 1))
    log.info("%s: %d features, %d kept, PCA with %d components", name, Z.shape[1], keep.size, k)
    return PCA(n_components=k, random_state=seed).fit_transform(Zf)


class ChromVARMotif(Method):
    name = "chromvar_motif"
    description = "chromVAR deviations of JASPAR 2020 CORE vertebrate motifs + PCA"
    needs_sequence = True
    requires = ("numba", "pyjaspar")

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              n_background: int = 50, n_components: int = 30, min_sd: float = 1.5,
              max_cor: float = 0.9, max_features: int = 5000, release: str = DEFAULT_RELEASE,
              pvalue: float = 5e-5, **_: Any) -> np.ndarray:
        _names, mats = cv.jaspar_motifs(release)

        def annotate(seqs):
            return cv.motif_matches(seqs, mats, pvalue=pvalue)

        return _embed(adata, annotate, seed, n_background, n_components, min_sd, max_cor,
                      max_features, self.name)


class ChromVARKmer(Method):
    name = "chromvar_kmer"
    description = "chromVAR deviations of canonical DNA 8-mers + PCA"
    needs_sequence = True

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              k: int = 8, n_background: int = 50, n_components: int = 30, min_sd: float = 1.5,
              max_cor: float = 0.9, max_features: int = 5000, **_: Any) -> np.ndarray:
        def annotate(seqs):
            return cv.kmer_annotation(seqs, k)[1]

        return _embed(adata, annotate, seed, n_background, n_components, min_sd, max_cor,
                      max_features, self.name)


METHODS = [ChromVARMotif(), ChromVARKmer()]
