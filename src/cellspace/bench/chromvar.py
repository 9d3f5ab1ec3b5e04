"""chromVAR (Schep et al. 2017) deviations in Python: PWM motif matching, GC- and
accessibility-matched background events, bias-corrected deviation z-scores.

Follows chromVAR 1.16 defaults: background events drawn in whitened (log10 accessibility,
GC) space over a 50 x 50 grid with Gaussian bin weights (w = 0.1), 50 background iterations;
motif matches by PWM log-odds (pseudocount 0.8, background = base composition of the events)
above the p < 5e-5 score threshold (as motifmatchr), on either strand.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from cellspace.analysis.motif_db import DEFAULT_COLLECTION, DEFAULT_RELEASE, DEFAULT_TAXON
from cellspace.errors import InputError

log = logging.getLogger(__name__)

_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
    _CODE[ord(chr(_b).lower())] = _i


def encode_sequences(seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated base codes (A,C,G,T = 0..3, other = 4) and start offsets (n + 1)."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    starts = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    joined = "".join(seqs).encode("ascii", errors="replace")
    return _CODE[np.frombuffer(joined, dtype=np.uint8)], starts


def gc_content(seqs: Sequence[str]) -> np.ndarray:
    codes, starts = encode_sequences(seqs)
    gc = np.add.reduceat(((codes == 1) | (codes == 2)).astype(np.float64), starts[:-1]) \
        if codes.size else np.zeros(len(seqs))
    acgt = np.add.reduceat((codes < 4).astype(np.float64), starts[:-1]) if codes.size else gc
    empty = np.diff(starts) == 0
    gc[empty] = 0
    acgt[empty] = 1
    return gc / np.maximum(acgt, 1)


# --------------------------------------------------------------------------- PWM matching
def log_odds(counts: np.ndarray, bg: np.ndarray, pseudocount: float = 0.8) -> np.ndarray:
    """(w, 4) natural-log odds of a (w, 4) count matrix against background ``bg``."""
    counts = np.asarray(counts, dtype=np.float64)
    probs = (counts + pseudocount * bg[None, :]) / (counts.sum(axis=1, keepdims=True) + pseudocount)
    return np.log(probs / bg[None, :])


def score_threshold(int_mat: np.ndarray, bg: np.ndarray, pvalue: float) -> int:
    """Smallest integer score s with P(score >= s) <= ``pvalue`` under i.i.d. ``bg`` bases."""
    lo = int(int_mat.min(axis=1).sum())
    dist = np.ones(1)
    off = 0
    for row in int_mat:
        rmin = int(row.min())
        width = int(row.max()) - rmin
        new = np.zeros(dist.size + width)
        for b in range(4):
            s = int(row[b]) - rmin
            new[s:s + dist.size] += bg[b] * dist
        dist = new
        off += rmin
    assert off == lo
    tail = np.cumsum(dist[::-1])[::-1]  # tail[i] = P(score >= lo + i)
    ok = np.flatnonzero(tail <= pvalue)
    return lo + int(ok[0]) if ok.size else lo + dist.size  # unreachable when none


def _scan_kernel():
    from numba import njit, prange

    @njit(cache=True, nogil=True, parallel=True)
    def scan(codes, starts, mats, rem_f, rem_r, widths, offsets, thresholds,
             out):  # pragma: no cover - jit
        # rem_f[o + j] / rem_r[o + j]: best score still reachable after position j on the
        # forward / reverse strand; a window is abandoned as soon as it cannot reach thr. The two
        # strands are written out: one inline helper for both measured ~10 % slower.
        n_seq = starts.size - 1
        n_mot = widths.size
        for s in prange(n_seq):
            a = starts[s]
            L = starts[s + 1] - a
            for mi in range(n_mot):
                w = widths[mi]
                o = offsets[mi]
                thr = thresholds[mi]
                for t in range(L - w + 1):
                    sf = 0
                    hit = True
                    for j in range(w):
                        c = codes[a + t + j]
                        if c > 3:
                            hit = False
                            break
                        sf += mats[o + j, c]
                        if sf + rem_f[o + j] < thr:
                            hit = False
                            break
                    if not hit:
                        sr = 0
                        hit = True
                        for j in range(w):
                            c = codes[a + t + j]
                            if c > 3:
                                hit = False
                                break
                            sr += mats[o + w - 1 - j, 3 - c]
                            if sr + rem_r[o + j] < thr:
                                hit = False
                                break
                    if hit:
                        out[s, mi] = 1
                        break
        return out

    return scan


def _reachable_after(best: np.ndarray) -> np.ndarray:
    """[sum(best[j + 1:]) for each j]: the most a window can still gain after position j."""
    return np.concatenate([np.cumsum(best[::-1])[::-1][1:], [0]])


def _cat(xs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(xs).astype(np.int64) if xs else np.zeros(0, np.int64)


def motif_matches(seqs: Sequence[str], motifs: Sequence[np.ndarray], pvalue: float = 5e-5,
                  pseudocount: float = 0.8, scale: float = 100.0) -> sp.csr_matrix:
    """Binary events x motifs matrix: a match of the motif (count matrix (w, 4), ACGT) on
    either strand with log-odds score above the ``pvalue`` threshold."""
    codes, starts = encode_sequences(seqs)
    valid = codes[codes < 4]
    bg = (np.bincount(valid, minlength=4) + 1.0) / (valid.size + 4.0)
    bg = (bg + bg[::-1]) / 2  # both strands
    mats, widths, thr = [], [], []
    for m in motifs:
        im = np.round(log_odds(m, bg, pseudocount) * scale).astype(np.int64)
        mats.append(im)
        widths.append(im.shape[0])
        thr.append(score_threshold(im, bg, pvalue))
    offsets = np.zeros(len(mats), dtype=np.int64)
    if mats:
        offsets[1:] = np.cumsum(widths)[:-1]
    allm = np.concatenate(mats).astype(np.int64) if mats else np.zeros((0, 4), np.int64)
    out = np.zeros((len(seqs), len(mats)), dtype=np.uint8)
    rem_f, rem_r = [], []
    for im in mats:
        best = im.max(axis=1)
        rem_f.append(_reachable_after(best))
        rem_r.append(_reachable_after(best[::-1]))  # reverse strand visits rows w-1, w-2, ...
    _scan_kernel()(codes, starts, allm, _cat(rem_f), _cat(rem_r), np.asarray(widths, np.int64),
                   offsets, np.asarray(thr, np.int64), out)
    return sp.csr_matrix(out)


def jaspar_motifs(release: str = DEFAULT_RELEASE, collection: str = DEFAULT_COLLECTION,
                  tax_group: str = DEFAULT_TAXON) -> tuple[list[str], list[np.ndarray]]:
    """Names ("ID_name") and (w, 4) count matrices of the latest versions of a JASPAR
    collection (:func:`cellspace.analysis.motif_db.jaspar_motifs`, offline)."""
    from cellspace.analysis.motif_db import jaspar_motifs as load

    ms = load(release, collection, tax_group)
    return [f"{m.id}_{m.name}" for m in ms], [m.counts for m in ms]


def kmer_annotation(seqs: Sequence[str], k: int = 8) -> tuple[list[str], sp.csr_matrix]:
    """Binary events x canonical k-mers presence matrix and the k-mer names."""
    from cellspace.kmers import kmer_names, kmer_rows_of, n_kmer_rows

    rows, cols = [], []
    for i, s in enumerate(seqs):
        r = np.unique(np.asarray(kmer_rows_of(s, k)))
        rows.append(np.full(r.size, i, dtype=np.int64))
        cols.append(r.astype(np.int64))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    A = sp.csr_matrix((np.ones(r.size, np.float32), (r, c)), shape=(len(seqs), n_kmer_rows(k)))
    return list(kmer_names(k)), A


# --------------------------------------------------------------------------- background
def background_events(counts: sp.csr_matrix, gc: np.ndarray, n_iterations: int = 50,
                      n_bins: int = 50, w: float = 0.1, seed: int = 0) -> np.ndarray:
    """(n_events, n_iterations) background event indices matched on GC content and mean
    accessibility (chromVAR ``getBackgroundPeaks``)."""
    rng = np.random.default_rng(seed)
    acc = np.asarray(counts.sum(axis=0)).ravel()
    if (acc <= 0).any():
        raise InputError("chromVAR: every event needs at least one count (drop empty events)")
    norm = np.column_stack([np.log10(acc), gc])
    cov = np.cov(norm, rowvar=False) + np.eye(2) * 1e-12
    L = np.linalg.cholesky(cov)
    trans = np.linalg.solve(L, norm.T).T
    grids = [np.linspace(trans[:, d].min(), trans[:, d].max(), n_bins) for d in range(2)]
    gx, gy = np.meshgrid(grids[0], grids[1], indexing="ij")
    centers = np.column_stack([gx.ravel(), gy.ravel()])
    d2 = ((trans[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    member = d2.argmin(axis=1)
    density = np.bincount(member, minlength=centers.shape[0]).astype(np.float64)
    out = np.empty((acc.size, n_iterations), dtype=np.int64)
    for b in np.unique(member):
        bd = np.sqrt(((centers[member] - centers[b]) ** 2).sum(axis=1))
        p = np.exp(-0.5 * (bd / w) ** 2) / density[member]
        p /= p.sum()
        idx = np.flatnonzero(member == b)
        out[idx] = rng.choice(acc.size, size=(idx.size, n_iterations), replace=True, p=p)
    return out


# --------------------------------------------------------------------------- deviations
def _deviation_kernel():
    from numba import njit, prange

    @njit(parallel=True, cache=True)
    def kernel(x_ptr, x_idx, x_val, a_ptr, a_idx, a_val, inv_e0, inv_ptr, inv_idx, inv_e,
               out):  # pragma: no cover - jit
        n_cells = x_ptr.size - 1
        n_feat = out.shape[1]
        n_it = inv_e.shape[0]
        for c in prange(n_cells):
            raw = np.zeros(n_feat)
            s1 = np.zeros(n_feat)
            s2 = np.zeros(n_feat)
            buf = np.zeros(n_feat)
            for jj in range(x_ptr[c], x_ptr[c + 1]):
                p = x_idx[jj]
                x = x_val[jj]
                for kk in range(a_ptr[p], a_ptr[p + 1]):
                    raw[a_idx[kk]] += x * a_val[kk]
            for it in range(n_it):
                buf[:] = 0.0
                for jj in range(x_ptr[c], x_ptr[c + 1]):
                    q = x_idx[jj]
                    x = x_val[jj]
                    for t in range(inv_ptr[it, q], inv_ptr[it, q + 1]):
                        p = inv_idx[it, t]
                        for kk in range(a_ptr[p], a_ptr[p + 1]):
                            buf[a_idx[kk]] += x * a_val[kk]
                for f in range(n_feat):
                    r = buf[f] * inv_e[it, f]
                    s1[f] += r
                    s2[f] += r * r
            for f in range(n_feat):
                m = s1[f] / n_it
                var = (s2[f] - n_it * m * m) / max(n_it - 1, 1)
                z = 0.0
                if var > 0:
                    z = (raw[f] * inv_e0[f] - m) / np.sqrt(var)
                out[c, f] = z
        return out

    return kernel


def _inverse(e: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(e > 0, 1.0 / np.where(e > 0, e, 1.0), 0.0)


def deviation_zscores(counts: sp.csr_matrix, annotation: sp.csr_matrix, background: np.ndarray,
                      block: int = 2048, threads: int | None = None,
                      engine: str = "numba") -> np.ndarray:
    """cells x features bias-corrected deviation z-scores (chromVAR ``computeDeviations``).

    ``engine`` "numba": one fused parallel pass per cell over all background iterations
    (default); "scipy": sparse products per feature block and iteration, the iterations shared
    by ``threads`` threads (default: the CPUs this process may use)."""
    if engine == "numba":
        return _deviation_zscores_numba(counts, annotation, background)
    n_threads = max(1, threads or len(os.sched_getaffinity(0)))
    X = sp.csr_matrix(counts, dtype=np.float64)
    A = sp.csr_matrix(annotation, dtype=np.float64)
    depth = np.asarray(X.sum(axis=1)).ravel()
    if (depth <= 0).any():
        raise InputError("chromVAR: every cell needs at least one count (drop empty cells)")
    E = np.asarray(X.sum(axis=0)).ravel()
    E = E / E.sum()
    n_cells, n_feat = X.shape[0], A.shape[1]
    Z = np.zeros((n_cells, n_feat), dtype=np.float32)
    n_it = background.shape[1]
    # deviation = observed / expected - 1 with expected = depth * (E . a): scale the rows of X
    # by 1 / depth and the columns of each annotation by 1 / (E . a), so one sparse product
    # gives the ratio r = deviation + 1 (mean shifts by 1, variance unchanged)
    Xs = sp.csr_matrix(sp.diags(1.0 / depth) @ X)

    def ratio(Ab: sp.csr_matrix) -> np.ndarray:
        e = np.asarray(Ab.T @ E).ravel()
        with np.errstate(divide="ignore"):
            inv = np.where(e > 0, 1.0 / e, 0.0)
        return (Xs @ sp.csr_matrix(Ab @ sp.diags(inv))).toarray()

    # background annotation of iteration i: each annotated event p replaced by its background
    # event bg_i(p), i.e. S_i^T A with S_i[p, bg_i(p)] = 1
    n_ev = X.shape[1]
    ones = np.ones(n_ev)
    moves = [sp.csr_matrix((ones, (background[:, i], np.arange(n_ev))), shape=(n_ev, n_ev))
             for i in range(n_it)]
    for f0 in range(0, n_feat, block):
        Ab = A[:, f0:f0 + block]
        raw = ratio(Ab)

        def accumulate(its: range, Ab: sp.csr_matrix = Ab,
                       shape: tuple[int, ...] = raw.shape) -> tuple[np.ndarray, np.ndarray]:
            s1 = np.zeros(shape)
            s2 = np.zeros(shape)
            for i in its:
                r = ratio(moves[i] @ Ab)
                s1 += r
                r *= r
                s2 += r
            return s1, s2

        # background iterations split over threads (SciPy's sparse products release the GIL);
        # partial sums are added in a fixed order, so results do not depend on scheduling
        parts = [range(i, n_it, n_threads) for i in range(min(n_threads, n_it))]
        if len(parts) > 1:
            with ThreadPoolExecutor(len(parts)) as ex:
                sums = list(ex.map(accumulate, parts))
        else:
            sums = [accumulate(range(n_it))]
        s1, s2 = sums[0]
        for a, b in sums[1:]:
            s1 += a
            s2 += b
        s1 /= n_it  # mean
        s2 -= n_it * s1 * s1
        s2 /= max(n_it - 1, 1)  # variance
        np.maximum(s2, 0, out=s2)
        np.sqrt(s2, out=s2)
        raw -= s1
        with np.errstate(divide="ignore", invalid="ignore"):
            raw /= s2
        Z[:, f0:f0 + block] = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
    return Z


def _deviation_zscores_numba(counts: sp.csr_matrix, annotation: sp.csr_matrix,
                             background: np.ndarray) -> np.ndarray:
    X = sp.csr_matrix(counts, dtype=np.float64)
    A = sp.csr_matrix(annotation, dtype=np.float64)
    A.sort_indices()
    depth = np.asarray(X.sum(axis=1)).ravel()
    if (depth <= 0).any():
        raise InputError("chromVAR: every cell needs at least one count (drop empty cells)")
    E = np.asarray(X.sum(axis=0)).ravel()
    E = E / E.sum()
    Xs = sp.csr_matrix(sp.diags(1.0 / depth) @ X)
    Xs.sort_indices()
    n_ev, n_it = background.shape
    AT = sp.csr_matrix(A.T)
    # iteration i replaces each annotated event p by bg_i(p): expectation A^T E[bg_i], and the
    # events p with bg_i(p) = q are listed (CSR-like) for every open event q of a cell
    inv_e = np.vstack([_inverse(AT @ E[background[:, i]]) for i in range(n_it)])
    inv_idx = np.argsort(background, axis=0, kind="stable").T.copy()
    inv_ptr = np.vstack([np.searchsorted(background[inv_idx[i], i], np.arange(n_ev + 1))
                         for i in range(n_it)]).astype(np.int64)
    out = np.zeros((X.shape[0], A.shape[1]), dtype=np.float32)
    _deviation_kernel()(Xs.indptr.astype(np.int64), Xs.indices.astype(np.int64), Xs.data,
                        A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data,
                        _inverse(AT @ E), inv_ptr, inv_idx.astype(np.int64), inv_e, out)
    return out


def filter_features(Z: np.ndarray, min_sd: float = 1.5, max_cor: float = 0.9,
                    max_features: int = 5000, min_keep: int = 10) -> np.ndarray:
    """Indices of features kept: s.d. >= ``min_sd`` (at least ``min_keep`` highest-s.d.
    features), then greedily by decreasing s.d., dropping any with |correlation| > ``max_cor``
    to a kept one; at most ``max_features`` candidates are considered."""
    sd = Z.std(axis=0, ddof=1) if Z.shape[0] > 1 else np.zeros(Z.shape[1])
    order = np.argsort(-sd, kind="stable")
    cand = order[sd[order] >= min_sd]
    if cand.size < min_keep:
        cand = order[: min(min_keep, order.size)]
        cand = cand[sd[cand] > 0]
        log.info("chromVAR: fewer than %d features with s.d. >= %.2f; using the top %d",
                 min_keep, min_sd, cand.size)
    cand = cand[:max_features]
    if cand.size == 0:
        return cand
    S = Z[:, cand].astype(np.float64)
    S -= S.mean(axis=0)
    S /= np.linalg.norm(S, axis=0)
    C = np.abs(S.T @ S)
    dropped = np.zeros(cand.size, dtype=bool)
    kept: list[int] = []
    for j in range(cand.size):
        if dropped[j]:
            continue
        kept.append(j)
        dropped |= C[j] > max_cor
    return cand[np.asarray(kept, dtype=np.int64)]
