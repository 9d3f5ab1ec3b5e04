"""SIMBA (Chen et al. 2024) graph embeddings re-implemented with NumPy (no torch).

SIMBA builds a graph whose nodes are cells and peaks (plus, in its sequence-aware version,
k-mers and TF motifs) with an edge for every accessible (cell, peak) pair, and embeds every node
with PyTorch-BigGraph (PBG). The SIMBA package is not on PyPI and PBG needs torch, so this
module trains the same objective directly, with SIMBA's PBG settings: dimension 50, dot
comparator, softmax loss, 50 batch negatives and 50 uniform negatives per chunk of 50 edges,
both sides of every edge corrupted, row-wise Adagrad with learning rate 0.1, 10 epochs,
batches of 1,000 edges, initial scale 0.001. The cell embedding is the cell nodes' vectors.

* ``simba``: cell-peak edges;
* ``simba_sequence``: plus peak-k-mer (canonical k-mers, k = 6) and peak-motif (JASPAR 2020
  vertebrate PWM matches) edges;
* ``simba_batch``: plus cell-cell edges between batches, each batch's cells linked to their
  mutual nearest neighbours in the first batch in a shared SVD space of the two batches'
  TF-IDF matrices (as SIMBA's ``infer_edges``).

Differences from the package: one process (no Hogwild workers, no partitions), no held-out
evaluation edges, and cell nodes of all batches form one entity type (uniform negatives are
drawn from all cells).

``engine="pbg"`` (every SIMBA method takes it) trains the same graph with PyTorch-BigGraph
itself (:mod:`.simba_pbg`, the ``[torch]`` extra), with SIMBA's PBG settings including its
worker processes and held-out evaluation edges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from cellspace.bench.methods.base import (
    Method,
    batch_labels,
    counts_matrix,
    event_sequences,
    require_modules,
)
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)


@dataclass
class Relation:
    """Edges ``lhs[i] -> rhs[i]`` between two entity types, with a loss weight."""

    lhs_type: str
    rhs_type: str
    lhs: np.ndarray
    rhs: np.ndarray
    weight: float = 1.0


def _row_adagrad(E: np.ndarray, state: np.ndarray, idx: np.ndarray, grad: np.ndarray,
                 lr: float) -> None:
    rows, inv = np.unique(idx, return_inverse=True)
    agg = sp.csr_matrix((np.ones(inv.size, dtype=grad.dtype), (inv, np.arange(inv.size))),
                        shape=(rows.size, inv.size))
    g = agg @ grad
    state[rows] += (g * g).mean(axis=1)
    E[rows] -= (lr * g / (np.sqrt(state[rows])[:, None] + 1e-10)).astype(E.dtype)


def _side_grads(A: np.ndarray, B: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, ...]:
    """Softmax loss of edges (A_i, B_i) against B's other rows of the chunk and uniform U:
    (loss, dA, dB, dU) for chunks shaped (c, b, d), (c, b, d), (c, u, d)."""
    c, b, _ = A.shape
    pos = (A * B).sum(axis=2)
    Bt = B.transpose(0, 2, 1)
    sb = A @ Bt
    sb[:, np.arange(b), np.arange(b)] = -np.inf  # the positive is not its own negative
    su = A @ U.transpose(0, 2, 1)
    logits = np.concatenate([pos[..., None], sb, su], axis=2)
    m = logits.max(axis=2, keepdims=True)
    ex = np.exp(logits - m)
    z = ex.sum(axis=2, keepdims=True)
    P = ex / z
    loss = float((np.log(z[..., 0]) + m[..., 0] - pos).sum())
    gpos = P[..., 0] - 1.0
    gsb = P[..., 1:b + 1]
    gsu = P[..., b + 1:]
    dA = gpos[..., None] * B + gsb @ B + gsu @ U
    dB = gpos[..., None] * A + gsb.transpose(0, 2, 1) @ A
    dU = gsu.transpose(0, 2, 1) @ A
    return loss, dA, dB, dU


def pbg_train(n_entities: dict[str, int], relations: list[Relation], *, dim: int = 50,
              epochs: int = 10, lr: float = 0.1, batch_negs: int = 50, uniform_negs: int = 50,
              batch_size: int = 1000, init_scale: float = 0.001,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Embeddings of every entity type trained with PBG's softmax objective (dot comparator)."""
    rng = np.random.default_rng(seed)
    # float32 as PBG
    emb = {t: rng.normal(0, init_scale, (n, dim)).astype(np.float32)
           for t, n in n_entities.items()}
    state = {t: np.zeros(n, dtype=np.float32) for t, n in n_entities.items()}
    b = batch_negs
    for ep in range(epochs):
        total, n_edges = 0.0, 0
        order = [(ri, rng.permutation(rel.lhs.size)) for ri, rel in enumerate(relations)]
        for ri, perm in order:
            rel = relations[ri]
            usable = perm[: perm.size - perm.size % b]
            for a0 in range(0, usable.size, batch_size):
                sel = usable[a0:a0 + batch_size]
                c = sel.size // b
                if c == 0:
                    continue
                li = rel.lhs[sel].reshape(c, b)
                rj = rel.rhs[sel].reshape(c, b)
                El, Er = emb[rel.lhs_type], emb[rel.rhs_type]
                ur = rng.integers(0, Er.shape[0], (c, uniform_negs))
                ul = rng.integers(0, El.shape[0], (c, uniform_negs))
                L, R = El[li], Er[rj]
                loss1, dL1, dR1, dUr = _side_grads(L, R, Er[ur])  # corrupt the rhs
                loss2, dR2, dL2, dUl = _side_grads(R, L, El[ul])  # corrupt the lhs
                w = rel.weight
                gl_idx = np.concatenate([li.ravel(), ul.ravel()])
                gl = np.float32(w) * np.concatenate([(dL1 + dL2).reshape(-1, dim),
                                                     dUl.reshape(-1, dim)])
                gr_idx = np.concatenate([rj.ravel(), ur.ravel()])
                gr = np.float32(w) * np.concatenate([(dR1 + dR2).reshape(-1, dim),
                                                     dUr.reshape(-1, dim)])
                if rel.lhs_type == rel.rhs_type:
                    _row_adagrad(El, state[rel.lhs_type], np.concatenate([gl_idx, gr_idx]),
                                 np.concatenate([gl, gr]), lr)
                else:
                    _row_adagrad(El, state[rel.lhs_type], gl_idx, gl, lr)
                    _row_adagrad(Er, state[rel.rhs_type], gr_idx, gr, lr)
                total += w * (loss1 + loss2)
                n_edges += sel.size
        log.debug("PBG epoch %d: mean loss %.4f", ep + 1, total / max(n_edges, 1))
    return emb


def _cell_peak(X: sp.csr_matrix) -> Relation:
    coo = X.tocoo()
    return Relation("cell", "peak", coo.row.astype(np.int64), coo.col.astype(np.int64))


def _mnn_edges(X: sp.csr_matrix, batches: np.ndarray, n_components: int = 15,
               k: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours between every batch and the first one, in the SVD space of
    the cross-product of the two batches' L2-normalised TF-IDF matrices."""
    from cellspace.analysis.features import tfidf

    T = tfidf(X)
    norms = np.sqrt(np.asarray(T.multiply(T).sum(axis=1)).ravel())
    T = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ T)
    names = list(dict.fromkeys(batches))
    ref = np.flatnonzero(batches == names[0])
    src, dst = [], []
    for name in names[1:]:
        q = np.flatnonzero(batches == name)
        C = (T[ref] @ T[q].T).toarray()
        nc = int(min(n_components, min(C.shape) - 1))
        if nc < 1:
            continue
        from sklearn.utils.extmath import randomized_svd

        U, S, Vt = randomized_svd(C, nc, random_state=0)
        Zr = U * np.sqrt(S)
        Zq = Vt.T * np.sqrt(S)
        Zr /= np.maximum(np.linalg.norm(Zr, axis=1, keepdims=True), 1e-12)
        Zq /= np.maximum(np.linalg.norm(Zq, axis=1, keepdims=True), 1e-12)
        sim = Zr @ Zq.T
        kk = min(k, sim.shape[1]), min(k, sim.shape[0])
        top_q = np.argpartition(-sim, kk[0] - 1, axis=1)[:, :kk[0]]  # for each ref cell
        top_r = np.argpartition(-sim.T, kk[1] - 1, axis=1)[:, :kk[1]]  # for each query cell
        a = np.zeros(sim.shape, dtype=bool)
        a[np.repeat(np.arange(sim.shape[0]), kk[0]), top_q.ravel()] = True
        bmask = np.zeros(sim.shape, dtype=bool)
        bmask[top_r.ravel(), np.repeat(np.arange(sim.shape[1]), kk[1])] = True
        r_i, q_i = np.nonzero(a & bmask)
        src.append(ref[r_i])
        dst.append(q[q_i])
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src).astype(np.int64), np.concatenate(dst).astype(np.int64)


ENGINES = ("numpy", "pbg")


def _check_engine(engine: str, method: str) -> None:
    if engine not in ENGINES:
        raise ParameterError(f"method {method!r}: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "pbg":
        require_modules(f"method {method!r} with engine 'pbg'", ("torch", "torchbiggraph"), "torch")


def simba_embed(adata: AnnData, batch: np.ndarray | None = None, sequence: bool = False,
                seed: int = 0, k: int = 6, engine: str = "numpy", **params: Any) -> np.ndarray:
    """Cell embedding of SIMBA's graph. ``engine="numpy"`` trains it with :func:`pbg_train`
    (``params``: its keywords), ``engine="pbg"`` with torchbiggraph (``params``: PBG config
    fields such as ``num_epochs``, plus ``workers``)."""
    _check_engine(engine, "simba")
    X = counts_matrix(adata, binary=True)
    n_cells, n_peaks = X.shape
    ents = {"cell": n_cells, "peak": n_peaks}
    rels = [_cell_peak(X)]
    if sequence:
        from cellspace.bench import chromvar as cv

        seqs = event_sequences(adata, "simba_sequence")
        K = cv.kmer_annotation(seqs, k)[1].tocoo()
        _names, mats = cv.jaspar_motifs()
        Mo = cv.motif_matches(seqs, mats).tocoo()
        ents["kmer"], ents["motif"] = K.shape[1], Mo.shape[1]
        rels.append(Relation("peak", "kmer", K.row.astype(np.int64), K.col.astype(np.int64)))
        rels.append(Relation("peak", "motif", Mo.row.astype(np.int64), Mo.col.astype(np.int64)))
    if batch is not None:
        s, d = _mnn_edges(X, batch)
        log.info("SIMBA: %d cell-cell edges between batches", s.size)
        if s.size:
            rels.append(Relation("cell", "cell", s, d))
    if engine == "pbg":
        from cellspace.bench.methods.simba_pbg import pbg_train_torchbiggraph

        emb = pbg_train_torchbiggraph(ents, rels, seed=seed, **params)
    else:
        emb = pbg_train(ents, rels, seed=seed, **params)
    return emb["cell"].astype(np.float64)


class Simba(Method):
    name = "simba"
    description = "SIMBA graph embedding of cells and peaks (PBG objective in NumPy)"

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        return simba_embed(adata, None, False, seed, **params)


class SimbaSequence(Method):
    name = "simba_sequence"
    description = "SIMBA with peak-k-mer and peak-motif edges"
    needs_sequence = True
    requires = ("numba", "pyjaspar")

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        return simba_embed(adata, None, True, seed, **params)


class SimbaBatch(Method):
    name = "simba_batch"
    description = "SIMBA with mutual-nearest-neighbour cell edges between batches"
    uses_batch = True

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        return simba_embed(adata, batch_labels(adata, batch_key, self.name), False, seed,
                           **params)


METHODS = [Simba(), SimbaSequence(), SimbaBatch()]
