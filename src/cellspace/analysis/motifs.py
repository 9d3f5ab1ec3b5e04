"""TF motif embedding and single-cell TF activity scores in the CellSpace space.

Two ways to place a motif in the latent space:

* ``consensus`` (the paper's): slide a k-bp window over the motif's consensus sequence and sum
  the rows of its ``width - k + 1`` k-mers (shorter motifs: every k-mer that contains the
  consensus, averaged).
* ``ensemble``: for every length-k window of the motif's log-odds matrix, take the k-mers
  scoring at least ``min + rel_threshold * (max - min)`` of that window (at most
  ``max_kmers_per_window`` of them, best first) and average their rows weighted by their
  probability under the window (``2^log-odds``); the windows' averages are summed. Motifs
  shorter than k are padded with uniform columns.

Either way the vector is L2-normalised. A cell's activity for a motif is the cosine of the cell
and motif vectors, z-scored across cells per motif (as ``scale()`` in R: sd with n - 1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cellspace.analysis.motif_db import Motif
from cellspace.errors import ParameterError
from cellspace.kmers import kmer_row_table
from cellspace.model import CellSpaceModel, l2_normalize

log = logging.getLogger(__name__)

EMBEDDING_METHODS = ("consensus", "ensemble")
DEFAULT_METHOD = "ensemble"
MOTIF_EMBEDDING_KEY = "embedding"
DEFAULT_REL_THRESHOLD = 0.8
DEFAULT_MAX_KMERS = 256


def window_kmers(
    lo: np.ndarray, rel_threshold: float, max_kmers: int = DEFAULT_MAX_KMERS
) -> tuple[np.ndarray, np.ndarray]:
    """k-mer codes (2 bits per base, A=0 C=1 G=2 T=3) scoring above the relative threshold
    against the (k x 4) log-odds window ``lo``, best first, and their scores.

    Branch and bound over positions: a prefix is kept while its score plus the best possible
    rest can still reach the threshold.
    """
    k = lo.shape[0]
    mx, mn = lo.max(axis=1), lo.min(axis=1)
    thr = mn.sum() + rel_threshold * (mx.sum() - mn.sum()) - 1e-9
    rest = np.concatenate([np.cumsum(mx[::-1])[::-1], [0.0]])  # best achievable from position j on
    codes = np.zeros(1, dtype=np.int64)
    scores = np.zeros(1)
    inner_cap = max(16 * max_kmers, 4096)
    for j in range(k):
        codes = (codes[:, None] * 4 + np.arange(4)).ravel()
        scores = (scores[:, None] + lo[j][None, :]).ravel()
        bound = scores + rest[j + 1]
        keep = bound >= thr
        codes, scores, bound = codes[keep], scores[keep], bound[keep]
        if len(codes) > inner_cap:
            top = np.argpartition(-bound, inner_cap - 1)[:inner_cap]
            codes, scores = codes[top], scores[top]
    order = np.lexsort((codes, -scores))[:max_kmers]
    return codes[order], scores[order]


def _padded_log_odds(motif: Motif, k: int, consensus: bool) -> np.ndarray:
    if consensus:
        lo = np.full((motif.width, 4), -1.0)
        lo[np.arange(motif.width), np.argmax(motif.counts, axis=1)] = 1.0
    else:
        lo = motif.log_odds()
    if motif.width < k:
        pad = k - motif.width
        # uniform flanks; every placement of the motif inside a k-mer is one window
        wins = []
        for left in range(pad + 1):
            wins.append(np.vstack([np.zeros((left, 4)), lo, np.zeros((pad - left, 4))]))
        return np.stack(wins)
    return np.lib.stride_tricks.sliding_window_view(lo, (k, 4))[:, 0]


def motif_kmer_weights(
    motif: Motif,
    k: int,
    method: str = DEFAULT_METHOD,
    rel_threshold: float = DEFAULT_REL_THRESHOLD,
    max_kmers_per_window: int = DEFAULT_MAX_KMERS,
) -> tuple[np.ndarray, np.ndarray]:
    """Canonical k-mer rows and weights whose weighted sum is the motif's embedding."""
    if method not in EMBEDDING_METHODS:
        raise ParameterError(f"motif embedding method must be one of {', '.join(EMBEDDING_METHODS)}, got {method!r}")
    table = kmer_row_table(k)
    consensus = method == "consensus"
    windows = _padded_log_odds(motif, k, consensus)
    short = motif.width < k
    rows_all, w_all = [], []
    for lo in windows:
        if consensus:
            # exact consensus matches only (padding positions free)
            codes, _ = window_kmers(lo, 1.0, max_kmers=4 ** min(k - motif.width, 6) if short else 1)
            w = np.full(len(codes), 1.0 / (len(windows) * len(codes)) if short else 1.0)
        else:
            codes, scores = window_kmers(lo, rel_threshold, max_kmers_per_window)
            w = np.exp2(scores - scores.max())
            w = w / w.sum()
            if short:
                w = w / len(windows)
        rows_all.append(table[codes].astype(np.int64))
        w_all.append(w)
    rows = np.concatenate(rows_all)
    weights = np.concatenate(w_all)
    uniq, inv = np.unique(rows, return_inverse=True)
    return uniq, np.bincount(inv.ravel(), weights=weights)


def embed_motifs(
    model: CellSpaceModel,
    motifs: Sequence[Motif],
    method: str = DEFAULT_METHOD,
    rel_threshold: float = DEFAULT_REL_THRESHOLD,
    max_kmers_per_window: int = DEFAULT_MAX_KMERS,
) -> np.ndarray:
    """(n_motifs, dim) L2-normalised motif vectors."""
    out = np.zeros((len(motifs), model.dim), dtype=np.float32)
    kv = model.kmer_vectors
    for i, m in enumerate(motifs):
        rows, w = motif_kmer_weights(m, model.k, method, rel_threshold, max_kmers_per_window)
        out[i] = (w[:, None] * kv[rows]).sum(axis=0)
    return l2_normalize(out)


def cosine_scores(cell_vectors: np.ndarray, motif_vectors: np.ndarray) -> np.ndarray:
    """(n_cells, n_motifs) cosine similarities."""
    return l2_normalize(np.asarray(cell_vectors, np.float32)) @ l2_normalize(np.asarray(motif_vectors, np.float32)).T


def zscore_columns(x: np.ndarray) -> np.ndarray:
    """Columns centred and scaled (sd with n - 1; constant columns become 0)."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])
    return np.divide(x - mu, sd, out=np.zeros_like(x), where=sd > 0).astype(np.float32)


def motif_scores_for_cells(
    model: CellSpaceModel,
    motifs: Sequence[Motif],
    cell_vectors: np.ndarray,
    cell_ids: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    rel_threshold: float = DEFAULT_REL_THRESHOLD,
    max_kmers_per_window: int = DEFAULT_MAX_KMERS,
):
    """AnnData cells x motifs: X = activity z-scores, layers["cosine"], var (id, name,
    consensus, width), varm["embedding"] (motif vectors), uns["motif_embedding"] (parameters)."""
    import anndata as ad

    if not motifs:
        raise ParameterError("no motifs to score")
    vecs = embed_motifs(model, motifs, method, rel_threshold, max_kmers_per_window)
    cos = cosine_scores(cell_vectors, vecs)
    z = zscore_columns(cos)
    ids = [m.id for m in motifs]
    var = pd.DataFrame(
        {
            "name": pd.Categorical([m.name for m in motifs]),
            "consensus": pd.Categorical([m.consensus for m in motifs]),
            "width": [m.width for m in motifs],
        },
        index=pd.Index(ids, name="motif_id"),
    )
    obs_index = pd.Index(
        [str(c) for c in (cell_ids if cell_ids is not None else range(cos.shape[0]))], name="cell"
    )
    out = ad.AnnData(X=z, obs=pd.DataFrame(index=obs_index), var=var)
    out.layers["cosine"] = cos.astype(np.float32)
    out.varm[MOTIF_EMBEDDING_KEY] = vecs
    out.uns["motif_embedding"] = {
        "method": method,
        "k": int(model.k),
        "rel_threshold": float(rel_threshold),
        "max_kmers_per_window": int(max_kmers_per_window),
        "run_id": model.run_id,
    }
    return out


def group_means(z: np.ndarray, groups: Sequence | np.ndarray, motif_index: Sequence[str]) -> pd.DataFrame:
    """Mean z-score per group (rows: groups, columns: motifs)."""
    g = pd.Series(np.asarray(groups).astype(str))
    df = pd.DataFrame(np.asarray(z), columns=list(motif_index))
    return df.groupby(g.to_numpy(), sort=True).mean()


def top_motifs_per_group(means: pd.DataFrame, n: int = 5, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Long table of the ``n`` best motifs of each group: group, rank, motif_id, name, mean_z."""
    rows = []
    name_of = dict(zip(means.columns, names if names is not None else means.columns, strict=True))
    for g, r in means.iterrows():
        best = r.sort_values(ascending=False).iloc[:n]
        for rank, (mid, v) in enumerate(best.items(), 1):
            rows.append({"group": g, "rank": rank, "motif_id": mid, "name": name_of[mid], "mean_z": float(v)})
    return pd.DataFrame(rows)


def planted_ranks(means: pd.DataFrame, planted: dict[str, Sequence[str]], names: Sequence[str]) -> pd.DataFrame:
    """Rank (1 = best) of each planted TF among all motifs in its group's mean scores.

    ``planted`` maps group -> TF names; a TF with several matrices counts its best one.
    """
    name_arr = np.asarray([str(n).upper() for n in names])
    rows = []
    for g, tfs in planted.items():
        if g not in means.index:
            continue
        r = means.loc[g].to_numpy()
        order = np.argsort(-r, kind="stable")
        rank_of = np.empty(len(r), dtype=int)
        rank_of[order] = np.arange(1, len(r) + 1)
        for tf in tfs:
            hit = np.flatnonzero(name_arr == str(tf).upper())
            rows.append({"group": g, "tf": tf, "rank": int(rank_of[hit].min()) if len(hit) else -1})
    return pd.DataFrame(rows, columns=["group", "tf", "rank"])
