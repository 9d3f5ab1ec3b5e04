"""Anchor-based batch correction in the CellSpace space (Seurat v3 integration, as the paper).

The CellSpace embedding takes the place of CCA and PCA: all neighbour searches run on
L2-normalised cell vectors (Euclidean distance there is a monotone function of cosine), by
default after removing each batch's mean vector (the "anchor space", which like CCA keeps a
global shift between batches from biasing the pairs); the correction vectors are differences
of the vectors as trained (``space="raw"``, default) or of the normalised ones (``"unit"``). For each query batch, against the
reference batch:

1. anchors: mutual nearest neighbours, ``k_anchor`` each way;
2. filtering: an anchor is kept when its query cell is among the ``k_filter`` nearest query
   cells of its reference cell (Seurat does this in the original feature space; here there is
   one space, so the filter only matters when ``k_filter`` is small);
3. scoring: shared-neighbour overlap of the two cells' ``k_score`` neighbourhoods (within and
   across batches), rescaled between its 1 % and 90 % quantiles to [0, 1];
4. weights: each query cell takes its ``k_weight`` nearest anchors (by its distance to their
   query cells); ``d' = 1 - d / d_max``, ``w = 1 - exp(-d' * score / (2 / sd)^2)``, normalised
   to sum 1;
5. correction: query cell minus the weighted mean of its anchors' (query - reference)
   differences.

The reference batch is left unchanged. :func:`integration_metrics` judges the result with the
benchmark's metrics.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import pandas as pd

from cellspace.analysis.graph import knn_between
from cellspace.errors import ParameterError
from cellspace.model import l2_normalize

log = logging.getLogger(__name__)

INTEGRATED_KEY = "X_cellspace_integrated"
SPACES = ("raw", "unit")
METHODS = ("anchors", "harmony")


@dataclass
class Anchors:
    """Anchor pairs between a reference and a query batch (indices within each batch)."""

    ref: np.ndarray
    query: np.ndarray
    score: np.ndarray
    raw_score: np.ndarray

    def __len__(self) -> int:
        return len(self.ref)

    def to_frame(self, ref_ids=None, query_ids=None) -> pd.DataFrame:
        df = pd.DataFrame({"ref": self.ref, "query": self.query, "raw_score": self.raw_score, "score": self.score})
        if ref_ids is not None:
            df["ref_cell"] = np.asarray(ref_ids)[self.ref]
        if query_ids is not None:
            df["query_cell"] = np.asarray(query_ids)[self.query]
        return df


def find_anchors(
    ref: np.ndarray,
    query: np.ndarray,
    k_anchor: int = 5,
    k_filter: int | None = 200,
    k_score: int = 30,
    ref_filter: np.ndarray | None = None,
    query_filter: np.ndarray | None = None,
    min_score: float = 0.0,
) -> Anchors:
    """Mutual-nearest-neighbour anchors between ``ref`` and ``query`` (unit-norm rows), filtered
    and scored as Seurat's ``FindIntegrationAnchors``; anchors whose shared-neighbour score is
    below ``min_score`` times the median score are dropped before the scores are rescaled."""
    n_r, n_q = len(ref), len(query)
    ka = min(k_anchor, n_r, n_q)
    r2q, _ = knn_between(ref, query, ka, metric="euclidean")
    q2r, _ = knn_between(query, ref, ka, metric="euclidean")
    # mutual pairs
    pairs_r = np.repeat(np.arange(n_r), ka)
    pairs_q = r2q.ravel()
    is_mutual = (q2r[pairs_q] == pairs_r[:, None]).any(axis=1)
    a_r, a_q = pairs_r[is_mutual], pairs_q[is_mutual]
    log.debug("%d mutual-neighbour anchors", len(a_r))
    if k_filter is not None and k_filter > 0 and len(a_r):
        rf = ref if ref_filter is None else ref_filter
        qf = query if query_filter is None else query_filter
        kf = min(k_filter, n_q)
        nn_f, _ = knn_between(rf[a_r], qf, kf, metric="euclidean")
        keep = (nn_f == a_q[:, None]).any(axis=1)
        a_r, a_q = a_r[keep], a_q[keep]
        log.debug("%d anchors after filtering (k_filter = %d)", len(a_r), kf)
    raw = _shared_neighbour_scores(ref, query, a_r, a_q, k_score)
    if min_score > 0 and len(raw):
        keep = raw >= min_score * np.median(raw)
        a_r, a_q, raw = a_r[keep], a_q[keep], raw[keep]
        log.debug("%d anchors with a score >= %.2f x the median", len(a_r), min_score)
    return Anchors(ref=a_r, query=a_q, score=_rescale(raw), raw_score=raw)


def _shared_neighbour_scores(ref, query, a_r, a_q, k_score: int) -> np.ndarray:
    if len(a_r) == 0:
        return np.zeros(0)
    n_r, n_q = len(ref), len(query)
    ks_r, ks_q = min(k_score, n_r), min(k_score, n_q)
    # neighbourhoods in the combined index space: reference cells 0..n_r-1, query n_r..
    rr, _ = knn_between(ref[a_r], ref, ks_r, metric="euclidean")
    rq, _ = knn_between(ref[a_r], query, ks_q, metric="euclidean")
    qr, _ = knn_between(query[a_q], ref, ks_r, metric="euclidean")
    qq, _ = knn_between(query[a_q], query, ks_q, metric="euclidean")
    left = np.hstack([rr, rq + n_r])
    right = np.hstack([qr, qq + n_r])
    both = np.concatenate([np.sort(left, axis=1), np.sort(right, axis=1)], axis=1)
    both.sort(axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1).astype(float)


def _rescale(raw: np.ndarray) -> np.ndarray:
    if len(raw) == 0:
        return raw
    lo, hi = np.quantile(raw, 0.01), np.quantile(raw, 0.90)
    if hi <= lo:
        return np.ones_like(raw)
    return np.clip((raw - lo) / (hi - lo), 0.0, 1.0)


def anchor_weights(
    query: np.ndarray, anchors: Anchors, k_weight: int = 100, sd: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(indices into anchors, weights) of each query cell's ``k_weight`` nearest anchors."""
    n_a = len(anchors)
    k = min(k_weight, n_a)
    if k < 1:
        raise ParameterError("no anchors between the batches: nothing to correct with")
    idx, dist = knn_between(query, query[anchors.query], k, metric="euclidean")
    dmax = dist[:, -1:]
    rel = np.divide(dist, dmax, out=np.zeros_like(dist), where=dmax > 0)
    dw = (1.0 - rel) * anchors.score[idx]
    w = 1.0 - np.exp(-dw / (2.0 / sd) ** 2)
    tot = w.sum(axis=1, keepdims=True)
    # a cell whose anchors all score 0 (or all lie at the same distance) averages them equally
    w = np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 1.0 / k)
    return idx, w


def correct_query(ref: np.ndarray, query: np.ndarray, anchors: Anchors, k_weight: int = 100,
                  sd: float = 1.0, query_space: np.ndarray | None = None) -> np.ndarray:
    """Query vectors minus the weighted anchor (query - reference) differences; the anchor
    neighbourhoods of query cells are found in ``query_space`` (default: the query vectors)."""
    diff = query[anchors.query] - ref[anchors.ref]
    idx, w = anchor_weights(query if query_space is None else query_space, anchors, k_weight, sd)
    return query - np.einsum("ij,ijd->id", w, diff[idx])


@dataclass(frozen=True)
class AnchorParams:
    """Parameters of the anchor correction (defaults measured in ``docs/benchmarks.md``)."""

    k_anchor: int = 5  # neighbours each way for mutual-neighbour anchors
    k_filter: int | None = 200  # anchor filter neighbourhood (None or 0: no filter)
    k_score: int = 30  # neighbourhoods of the shared-neighbour anchor score
    k_weight: int = 300  # anchors per query cell in the correction
    sd: float = 1.0  # bandwidth of the Gaussian anchor weighting
    min_score: float = 0.6  # drop anchors scoring below this fraction of the median score
    center: bool = False  # remove each batch's mean vector before the anchor search
    space: str = "unit"  # correction on L2-normalised ("unit") or trained ("raw") vectors

    def validate(self) -> AnchorParams:
        for name in ("k_anchor", "k_score", "k_weight"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.k_filter is not None and self.k_filter < 0:
            raise ParameterError(f"k_filter must be >= 0, got {self.k_filter}")
        if self.sd <= 0:
            raise ParameterError(f"sd must be > 0, got {self.sd}")
        if not 0 <= self.min_score < 1:
            raise ParameterError(f"min_score must be in [0, 1), got {self.min_score}")
        if self.space not in SPACES:
            raise ParameterError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")
        return self


def anchor_params(params: AnchorParams | None = None, **overrides) -> AnchorParams:
    """``params`` (default :class:`AnchorParams`) with ``overrides``, checked."""
    unknown = sorted(set(overrides) - {f.name for f in fields(AnchorParams)})
    if unknown:
        raise ParameterError(f"unknown anchor parameter(s): {', '.join(unknown)}")
    return replace(params or AnchorParams(), **overrides).validate()


def integrate_embedding(
    x: np.ndarray,
    batches: np.ndarray,
    reference: str,
    params: AnchorParams | None = None,
    **overrides,
) -> tuple[np.ndarray, dict[str, Anchors]]:
    """Correct every non-reference batch towards the reference; returns (vectors, anchors).

    ``overrides`` replace fields of ``params`` (default :class:`AnchorParams`). Anchors and
    anchor neighbourhoods are searched on L2-normalised vectors, after removing each batch's
    mean vector with ``center`` (off by default: with batches of different cell-type
    compositions the means differ by composition, and centring then pairs cells of different
    types). The correction (anchor differences, their weighted mean, its subtraction) works on
    the L2-normalised vectors (``space="unit"``, default: cell-vector norms vary several-fold
    and carry no cell type, so differences of trained vectors pull short vectors across types)
    or on the vectors as trained (``"raw"``, which removes an additive shift of the trained
    vectors exactly). The output is L2-normalised.
    """
    p = anchor_params(params, **overrides)
    k_anchor, k_filter, k_score, k_weight, sd = p.k_anchor, p.k_filter or None, p.k_score, p.k_weight, p.sd
    center, space = p.center, p.space
    batches = np.asarray(batches).astype(str)
    names = list(pd.unique(batches))
    if reference not in names:
        raise ParameterError(f"reference batch {reference!r} not found (batches: {', '.join(names)})")
    if len(names) < 2:
        raise ParameterError("only one batch: nothing to integrate")
    if space == "raw":
        base = np.asarray(x, dtype=np.float64)
    else:
        base = l2_normalize(np.asarray(x, dtype=np.float32)).astype(np.float64)
    out = base.copy()
    ref_idx = np.flatnonzero(batches == reference)
    ref = base[ref_idx]
    ref_space = _anchor_space(ref, center)
    all_anchors = {}
    for b in names:
        if b == reference:
            continue
        q_idx = np.flatnonzero(batches == b)
        q = base[q_idx]
        q_space = _anchor_space(q, center)
        anchors = find_anchors(ref_space, q_space, k_anchor, k_filter, k_score, min_score=p.min_score)
        log.info("batch %s: %d cells, %d anchors with %s", b, len(q_idx), len(anchors), reference)
        if len(anchors) == 0:
            raise ParameterError(f"no anchors between batch {b!r} and the reference {reference!r}")
        out[q_idx] = correct_query(ref, q, anchors, k_weight, sd, query_space=q_space)
        all_anchors[str(b)] = anchors
    return l2_normalize(out.astype(np.float32)), all_anchors


def _anchor_space(x: np.ndarray, center: bool) -> np.ndarray:
    y = x - x.mean(axis=0) if center else x
    return l2_normalize(y.astype(np.float32)).astype(np.float64)


def harmony_embedding(x: np.ndarray, batches: np.ndarray, seed: int = 0) -> np.ndarray:
    """Harmony (harmonypy) on the L2-normalised vectors; the output is L2-normalised."""
    from cellspace.analysis.harmony import harmonize, require_harmonypy

    require_harmonypy("integrate --method harmony")
    unit = l2_normalize(np.asarray(x, dtype=np.float32)).astype(np.float64)
    return l2_normalize(harmonize(unit, np.asarray(batches).astype(str), seed).astype(np.float32))


def integrate(
    adata,
    batch_key: str,
    reference: str | None = None,
    method: str = "anchors",
    use_rep: str = "X_cellspace",
    key_added: str = INTEGRATED_KEY,
    seed: int = 0,
    **kwargs,
) -> dict[str, Anchors]:
    """Batch correction of ``adata.obsm[use_rep]`` into ``obsm[key_added]`` (+ uns params):
    Seurat-style anchors towards ``reference`` (``method="anchors"``; ``params=AnchorParams``
    and/or its fields as keyword arguments) or Harmony (``"harmony"``, no reference); returns the anchors
    (empty for Harmony)."""
    from cellspace.analysis.validate import embedding_of, obs_column

    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    obs_column(adata, batch_key, "batch column")
    x = embedding_of(adata, use_rep)
    batches = adata.obs[batch_key].astype(str).to_numpy()
    if method == "harmony":
        if kwargs:
            raise ParameterError(f"anchor parameters do not apply to Harmony: {', '.join(kwargs)}")
        if np.unique(batches).size < 2:
            raise ParameterError("only one batch: nothing to integrate")
        adata.obsm[key_added] = harmony_embedding(x, batches, seed)
        anchors: dict[str, Anchors] = {}
        info = {"method": "harmony", "seed": seed}
    else:
        if reference is None:
            raise ParameterError("anchor integration needs a reference batch")
        params = anchor_params(kwargs.pop("params", None), **kwargs)
        adata.obsm[key_added], anchors = integrate_embedding(x, batches, str(reference), params)
        info = {"method": "anchors (Seurat v3 style)", "reference": str(reference),
                "n_anchors": {str(b): int(len(a)) for b, a in anchors.items()},
                **{k: (-1 if v is None else v) for k, v in asdict(params).items()}}
    adata.uns["integration"] = {"use_rep": use_rep, "batch_key": batch_key, **info}
    return anchors


# ----------------------------------------------------------------------------- metrics
def integration_metrics(x: np.ndarray, batches, labels, seed: int = 0) -> dict:
    """Batch ASW, kBET acceptance and cell-type ARI of ``x`` (L2-normalised first), computed by
    the benchmark's scorer (:func:`cellspace.bench.metrics.score_embedding`, cosine kNN as for
    CellSpace there), so that these numbers and the benchmark's are the same metrics."""
    from cellspace.bench.metrics import score_embedding

    v = score_embedding(l2_normalize(np.asarray(x, dtype=np.float32)), np.asarray(labels).astype(str),
                        np.asarray(batches).astype(str), metric="cosine", seed=seed).values
    return {"batch_asw": v["asw_batch"], "kbet": v["kbet"], "ari": v["ari"]}
