"""De novo motifs from the CellSpace space (after the paper's Methods).

1. Every L-mer (L = 10; an L-mer and its reverse complement are one vertex) is embedded as the
   mean of its ``L - k + 1`` k-mer rows.
2. Per cell group, the L-mers that characterise it. Default (``contrast``): the 200 L-mers
   with the largest cosine to the group's centroid minus their largest cosine to another
   group's centroid. The paper's (``cells``): a bipartite cosine kNN from cells to L-mers
   (K = 50), keeping the L-mers that are neighbours of at least 20 % of the group's cells.
3. Those L-mers are clustered by sequence: ungapped alignment distance (best strand and shift;
   unaligned overhangs count as mismatches), average-linkage tree cut at 0.5.
4. Each cluster with more than 3 members is aligned to its medoid and turned into a count
   matrix (columns covered by fewer than half of the members are trimmed); its embedding is the
   mean of its L-mer vectors.
5. De novo motifs are compared with a known-motif database by Tomtom-like column correlation
   (best offset and strand, mean Pearson correlation over the overlap).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cellspace.analysis.motif_db import Motif
from cellspace.errors import ParameterError
from cellspace.kmers import kmer_row_table, revcomp_codes
from cellspace.model import CellSpaceModel, l2_normalize

log = logging.getLogger(__name__)

BASES = np.array(list("ACGT"))
SELECTIONS = ("cells", "contrast")


# ----------------------------------------------------------------------------- L-mers
def canonical_lmers(length: int) -> np.ndarray:
    """Codes of the canonical L-mers (the smaller code of each reverse-complement pair)."""
    if not 4 <= length <= 12:
        raise ParameterError(f"L-mer length must be in 4..12, got {length}")
    codes = np.arange(4**length, dtype=np.int64)
    return codes[codes <= revcomp_codes(codes, length)]


def decode_many(codes: np.ndarray, length: int) -> np.ndarray:
    """Sequences (str array) of packed codes."""
    digits = (np.asarray(codes, np.int64)[:, None] >> (2 * np.arange(length - 1, -1, -1))) & 3
    return np.array(["".join(r) for r in BASES[digits]], dtype=object)


def embed_lmers(model: CellSpaceModel, codes: np.ndarray, length: int, chunk: int = 1 << 17) -> np.ndarray:
    """(n, dim) mean k-mer vectors of L-mers (not normalised)."""
    k = model.k
    if k > length:
        raise ParameterError(f"L-mer length {length} is shorter than the model's k = {k}")
    table = kmer_row_table(k)
    mask = (1 << (2 * k)) - 1
    n_sub = length - k + 1
    out = np.empty((len(codes), model.dim), dtype=np.float32)
    kv = model.kmer_vectors
    for s in range(0, len(codes), chunk):
        c = codes[s : s + chunk]
        acc = np.zeros((len(c), model.dim), dtype=np.float32)
        for o in range(n_sub):
            acc += kv[table[(c >> (2 * (length - k - o))) & mask]]
        out[s : s + chunk] = acc / n_sub
    return out


def topk_columns(sim: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row (unordered), exactly, without a full
    argpartition: block maxima give a threshold that only a few hundred entries pass."""
    n, m = sim.shape
    if k >= m:
        return np.broadcast_to(np.arange(m), (n, m)).copy()
    n_blocks = -(-m // block)
    if n_blocks <= k:
        return np.argpartition(-sim, k - 1, axis=1)[:, :k]
    pad = n_blocks * block - m
    padded = np.pad(sim, ((0, 0), (0, pad)), constant_values=-np.inf) if pad else sim
    bmax = padded.reshape(n, n_blocks, block).max(axis=2)
    # the k-th largest block maximum is <= the k-th largest entry
    thr = np.partition(bmax, n_blocks - k, axis=1)[:, n_blocks - k]
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        cand = np.flatnonzero(sim[i] >= thr[i])
        if len(cand) > k:
            cand = cand[np.argpartition(-sim[i, cand], k - 1)[:k]]
        out[i] = cand
    return out


def contrast_selection(
    cell_vectors: np.ndarray, groups: np.ndarray, lmer_vectors: np.ndarray, n_top: int = 200
) -> dict[str, np.ndarray]:
    """Per group: the ``n_top`` L-mers with the largest cosine to the group's centroid minus their
    largest cosine to any other group's centroid (indices into the L-mers)."""
    lv = l2_normalize(lmer_vectors)
    cv = l2_normalize(np.asarray(cell_vectors, np.float32))
    groups = np.asarray(groups).astype(str)
    names = list(pd.unique(groups))
    cents = np.stack([l2_normalize(cv[groups == g].mean(axis=0, keepdims=True))[0] for g in names])
    sim = lv @ cents.T
    out = {}
    for j, g in enumerate(names):
        other = np.delete(sim, j, axis=1).max(axis=1) if len(names) > 1 else 0.0
        contrast = sim[:, j] - other
        top = np.argpartition(-contrast, n_top - 1)[:n_top]
        out[g] = top[np.argsort(-contrast[top], kind="stable")]
    return out


def lmer_neighbour_counts(
    cell_vectors: np.ndarray,
    groups: np.ndarray,
    lmer_vectors: np.ndarray,
    n_neighbors: int = 50,
    max_cells_per_group: int | None = 500,
    seed: int = 0,
    chunk: int = 128,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per group: how many of its (sampled) cells have each L-mer among their K nearest.

    Returns ({group: (L-mer index, count) pairs as an (m, 2) array}, {group: cells used}).
    Groups larger than ``max_cells_per_group`` are represented by a random sample of that
    size (None: all cells).
    """
    rng = np.random.default_rng(seed)
    lv = l2_normalize(lmer_vectors)
    cv = l2_normalize(np.asarray(cell_vectors, np.float32))
    groups = np.asarray(groups).astype(str)
    counts: dict[str, np.ndarray] = {}
    used: dict[str, int] = {}
    for g in pd.unique(groups):
        idx = np.flatnonzero(groups == g)
        if max_cells_per_group and len(idx) > max_cells_per_group:
            idx = np.sort(rng.choice(idx, max_cells_per_group, replace=False))
        hits = []
        for s in range(0, len(idx), chunk):
            sim = cv[idx[s : s + chunk]] @ lv.T
            hits.append(topk_columns(sim, n_neighbors).ravel())
        allhits = np.concatenate(hits)
        u, c = np.unique(allhits, return_counts=True)
        counts[str(g)] = np.column_stack([u, c])
        used[str(g)] = len(idx)
    return counts, used


# ----------------------------------------------------------------------------- sequence clustering
def _alignment_table(digits: np.ndarray, max_shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise best ungapped alignment of equal-length sequences over both strands.

    Returns (distance, shift, strand): distance = 1 - matches / L; ``shift`` is the offset of
    the second sequence (in the chosen orientation) relative to the first.
    """
    n, length = digits.shape
    rc = 3 - digits[:, ::-1]
    best = np.full((n, n), np.inf)
    best_shift = np.zeros((n, n), dtype=np.int64)
    best_strand = np.zeros((n, n), dtype=np.int8)
    for strand, other in ((0, digits), (1, rc)):
        for s in range(-max_shift, max_shift + 1):
            # position i of a aligns with position i - s of b
            lo, hi = max(0, s), min(length, length + s)
            a_part = digits[:, lo:hi]
            b_part = other[:, lo - s : hi - s]
            matches = (a_part[:, None, :] == b_part[None, :, :]).sum(axis=2)
            d = 1.0 - matches / length
            better = d < best - 1e-12
            best = np.where(better, d, best)
            best_shift = np.where(better, s, best_shift)
            best_strand = np.where(better, strand, best_strand)
    return best, best_shift, best_strand


def cluster_lmers(
    seqs: Sequence[str], cut: float = 0.5, max_shift: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Average-linkage clusters of sequences by alignment distance, tree cut at ``cut``.

    Returns (labels, distance, shift, strand) with the pairwise alignment tables.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    digits = np.array([[ "ACGT".index(c) for c in s] for s in seqs], dtype=np.int8)
    dist, shift, strand = _alignment_table(digits, max_shift)
    if len(seqs) == 1:
        return np.zeros(1, dtype=np.int64), dist, shift, strand
    d = np.minimum(dist, dist.T)
    np.fill_diagonal(d, 0.0)
    z = linkage(squareform(d, checks=False), method="average")
    labels = fcluster(z, t=cut, criterion="distance") - 1
    return labels.astype(np.int64), dist, shift, strand


def align_to_seed(
    seqs: Sequence[str], members: np.ndarray, shift: np.ndarray, strand: np.ndarray, dist: np.ndarray,
    min_coverage: float = 0.5,
) -> tuple[np.ndarray, str, list[str]]:
    """Count matrix (width x 4) of ``members`` aligned to their medoid; columns covered by fewer
    than ``min_coverage`` of the members are trimmed. Returns (counts, seed, aligned rows)."""
    sub = dist[np.ix_(members, members)]
    seed = members[int(np.argmin(sub.sum(axis=1)))]
    length = len(seqs[seed])
    oriented = []
    for m in members:
        s = seqs[m]
        if m != seed and strand[seed, m] == 1:
            s = s[::-1].translate(str.maketrans("ACGT", "TGCA"))
        oriented.append(s)
    # seed position i aligns with member position i - shift: member base j sits in seed column j + shift
    offsets = [int(shift[seed, m]) if m != seed else 0 for m in members]
    start = min(offsets)
    width = max(offsets) + length - start
    counts = np.zeros((width, 4))
    rows = []
    for s, off in zip(oriented, offsets, strict=True):
        col0 = off - start
        row = ["-"] * width
        for j, c in enumerate(s):
            counts[col0 + j, "ACGT".index(c)] += 1
            row[col0 + j] = c
        rows.append("".join(row))
    cover = counts.sum(axis=1)
    keep = np.flatnonzero(cover >= min_coverage * len(members))
    counts = counts[keep.min() : keep.max() + 1] if len(keep) else counts
    return counts, seqs[seed], rows


# ----------------------------------------------------------------------------- comparison
def _standardise(ppm: np.ndarray) -> np.ndarray:
    x = ppm - ppm.mean(axis=1, keepdims=True)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 1e-12)


def compare_motifs(query: Motif, targets: Sequence[Motif], min_overlap: int = 5) -> pd.DataFrame:
    """Tomtom-like similarity of ``query`` to each target: the best over offsets and strands of
    the column Pearson correlations summed over the overlap and divided by the query's width (the
    share of the query that the target explains; a partial overlap scores lower). Returns target
    id, name, similarity, offset (target column = query column - offset) and strand."""
    q = _standardise(query.probabilities())
    lq = q.shape[0]
    diag_index: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for t in targets:
        tp = t.probabilities()
        lt = tp.shape[0]
        if lt not in diag_index:
            i, j = np.meshgrid(np.arange(lq), np.arange(lt), indexing="ij")
            idx = (i - j + lt - 1).ravel()  # offset (i - j) shifted to be >= 0
            diag_index[lt] = (idx, np.bincount(idx, minlength=lq + lt - 1))
        idx, overlap = diag_index[lt]
        valid = overlap >= min(min_overlap, lq, lt)
        best = (-np.inf, 0, "+")
        for strand, tm in (("+", _standardise(tp)), ("-", _standardise(tp[::-1, ::-1]))):
            sums = np.bincount(idx, weights=(q @ tm.T).ravel(), minlength=lq + lt - 1) / lq
            sums[~valid] = -np.inf
            k = int(np.argmax(sums))
            if sums[k] > best[0]:
                best = (float(sums[k]), k - (lt - 1), strand)
        rows.append({"target_id": t.id, "target_name": t.name, "similarity": best[0],
                     "offset": int(best[1]), "strand": best[2]})
    return pd.DataFrame(rows).sort_values("similarity", ascending=False, kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- driver
@dataclass
class DenovoMotif:
    """A de novo motif: its count matrix, member L-mers, group and embedding."""

    id: str
    group: str
    counts: np.ndarray
    lmers: list[str]
    seed: str
    embedding: np.ndarray
    aligned: list[str] = field(default_factory=list)
    matches: pd.DataFrame | None = None

    def as_motif(self) -> Motif:
        return Motif(self.id, self.id, self.counts)


@dataclass
class DenovoResult:
    motifs: list[DenovoMotif]
    group_lmers: pd.DataFrame  # group, lmer, n_cells, fraction, cluster
    params: dict


def denovo_motifs(
    model: CellSpaceModel,
    cell_vectors: np.ndarray,
    groups: Sequence | np.ndarray,
    length: int = 10,
    n_neighbors: int = 50,
    min_fraction: float = 0.2,
    cut: float = 0.5,
    min_members: int = 4,
    max_shift: int = 3,
    max_cells_per_group: int | None = 500,
    database: Sequence[Motif] | None = None,
    n_matches: int = 3,
    selection: str = "contrast",
    n_top: int = 200,
    seed: int = 0,
) -> DenovoResult:
    """Run the whole de novo motif procedure; see the module docstring.

    ``selection="contrast"`` (default) takes the ``n_top`` L-mers closest to the group's centroid
    relative to the other groups' centroids (the "n_cells"/"fraction" columns then hold the
    contrast rank). ``selection="cells"`` is the paper's: L-mers among the ``n_neighbors``
    nearest of at least ``min_fraction`` of a group's cells; on simulated data it finds no
    motifs when cells are sparse and generic, shared-by-all-groups words when they are deep
    (docs/benchmarks.md), so it is not the default.
    """
    if not 0 < min_fraction <= 1:
        raise ParameterError(f"min_fraction must be in (0, 1], got {min_fraction}")
    if selection not in SELECTIONS:
        raise ParameterError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    codes = canonical_lmers(length)
    log.info("embedding %d canonical %d-mers", len(codes), length)
    lvec = embed_lmers(model, codes, length)
    selected: dict[str, np.ndarray] = {}
    if selection == "cells":
        counts, used = lmer_neighbour_counts(cell_vectors, np.asarray(groups), lvec, n_neighbors,
                                             max_cells_per_group, seed)
        for g, gc in counts.items():
            keep = gc[gc[:, 1] / used[g] >= min_fraction]
            selected[g] = keep[np.argsort(-keep[:, 1], kind="stable")]
    else:
        for g, top in contrast_selection(cell_vectors, np.asarray(groups), lvec, n_top).items():
            selected[g] = np.column_stack([top, np.arange(len(top), 0, -1)])
        used = {g: len(v) for g, v in selected.items()}
    motifs: list[DenovoMotif] = []
    table = []
    for g, sel in selected.items():
        if len(sel) == 0:
            log.info("group %s: no %d-mer is a neighbour of >= %.0f%% of its cells", g, length, 100 * min_fraction)
            continue
        seqs = list(decode_many(codes[sel[:, 0]], length))
        labels, dist, shift, strand = cluster_lmers(seqs, cut=cut, max_shift=max_shift)
        for lm, c, lab in zip(seqs, sel[:, 1], labels, strict=True):
            table.append({"group": g, "lmer": lm, "n_cells": int(c), "fraction": float(c / used[g]),
                          "cluster": int(lab)})
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            if len(members) < min_members:
                continue
            cm, seed_seq, rows = align_to_seed(seqs, members, shift, strand, dist)
            emb = l2_normalize(lvec[sel[members, 0]].mean(axis=0, keepdims=True))[0]
            mid = f"denovo_{g}_{len([m for m in motifs if m.group == g]) + 1}"
            motifs.append(DenovoMotif(mid, g, cm, [seqs[i] for i in members], seed_seq, emb, rows))
        log.info("group %s: %d %d-mers in %d sequence clusters, %d motifs", g, len(sel), length,
                 len(np.unique(labels)), sum(m.group == g for m in motifs))
    if database:
        for m in motifs:
            m.matches = compare_motifs(m.as_motif(), database).head(n_matches)
    params = {"length": length, "n_neighbors": n_neighbors, "min_fraction": min_fraction, "cut": cut,
              "min_members": min_members, "max_shift": max_shift,
              "max_cells_per_group": -1 if not max_cells_per_group else int(max_cells_per_group),
              "selection": selection, "n_top": int(n_top), "k": model.k, "seed": seed}
    return DenovoResult(motifs, pd.DataFrame(table, columns=["group", "lmer", "n_cells", "fraction", "cluster"]),
                        params)


def motif_table(result: DenovoResult, n_matches: int = 3) -> pd.DataFrame:
    """One row per de novo motif: group, size, consensus, width and its best database matches."""
    rows = []
    for m in result.motifs:
        r = {"motif_id": m.id, "group": m.group, "n_lmers": len(m.lmers), "consensus": m.as_motif().consensus,
             "width": int(m.counts.shape[0]), "seed": m.seed}
        if m.matches is not None:
            for i in range(n_matches):
                if i < len(m.matches):
                    mt = m.matches.iloc[i]
                    r[f"match{i + 1}_id"] = mt["target_id"]
                    r[f"match{i + 1}_name"] = mt["target_name"]
                    r[f"match{i + 1}_similarity"] = round(float(mt["similarity"]), 4)
                    r[f"match{i + 1}_offset"] = int(mt["offset"])
                    r[f"match{i + 1}_strand"] = mt["strand"]
        rows.append(r)
    return pd.DataFrame(rows)


def recovered_tfs(result: DenovoResult, planted: Sequence[str], top: int = 2) -> dict[str, bool]:
    """For each planted TF name: is it the best or (``top``) next-best match of a de novo motif?"""
    names = set()
    for m in result.motifs:
        if m.matches is not None:
            names |= {str(n).upper() for n in m.matches["target_name"].iloc[:top]}
    return {tf: tf.upper() in names for tf in planted}


def smooth_cells(x: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Each cell replaced by the mean of its ``n_neighbors`` nearest cells (itself included)."""
    from cellspace.analysis.graph import knn_graph
    from cellspace.model import l2_normalize

    xn = l2_normalize(np.asarray(x, np.float32))
    if n_neighbors <= 1:
        return xn
    knn = knn_graph(xn, n_neighbors=n_neighbors)
    return l2_normalize(xn[knn.indices].mean(axis=1))


def denovo_scores(adata, result: DenovoResult, x: np.ndarray):
    """AnnData of cells x de novo motifs activity z-scores, in the layout of motif_scores.h5ad."""
    import anndata as ad
    import pandas as pd

    from cellspace.analysis.motifs import MOTIF_EMBEDDING_KEY, cosine_scores, zscore_columns

    vecs = np.stack([m.embedding for m in result.motifs]).astype(np.float32)
    cos = cosine_scores(x, vecs)
    var = pd.DataFrame({"name": [m.id for m in result.motifs],
                        "group": [m.group for m in result.motifs],
                        "consensus": [m.as_motif().consensus for m in result.motifs]},
                       index=pd.Index([m.id for m in result.motifs], name="motif_id"))
    scores = ad.AnnData(X=zscore_columns(cos), obs=pd.DataFrame(index=adata.obs_names.copy()), var=var)
    scores.layers["cosine"] = cos
    scores.varm[MOTIF_EMBEDDING_KEY] = vecs
    scores.uns["denovo"] = dict(result.params)
    return scores
