"""Bootstrap confidence intervals and pairwise tests of benchmark scores.

B resamples of the evaluated cells, with replacement and of the same size; replicate ``r``
draws its cells with ``numpy.random.default_rng([seed, r])`` so any range of replicates can be
computed on its own (chunks) and merged with results identical to a single run. Within a
replicate every method sees the same cells (paired bootstrap), is re-clustered and re-scored.

Statistics: percentile confidence intervals; for each pair of methods the score difference,
its percentile CI and a two-sided p-value by confidence-interval inversion (the smallest
alpha in [1/B, 1] whose 1 - alpha percentile CI of the difference excludes 0), adjusted with
Benjamini-Hochberg across the pairs of each score.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from cellspace.bench.metrics import (
    ALL_SCORES,
    BATCH_METRICS,
    ClusterFn,
    SharedClustering,
    score_embedding,
)
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

PER_LABEL_COLUMNS: tuple[str, ...] = ("n_cells",) + BATCH_METRICS


@dataclass(frozen=True)
class BootstrapSettings:
    """Everything a replicate depends on besides its index (chunks must share it)."""

    n_replicates: int = 1000
    seed: int = 0
    n_neighbors: int = 20
    asw_metric: str = "euclidean"
    kbet_alpha: float = 0.05
    cluster_seed: int = 0
    cluster_method: str = "leiden"

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def replicate_indices(n_cells: int, seed: int, replicate: int) -> np.ndarray:
    """Cells of bootstrap replicate ``replicate``: ``n_cells`` draws with replacement."""
    rng = np.random.default_rng([int(seed), int(replicate)])
    return np.sort(rng.integers(0, n_cells, size=n_cells))


def replicate_range(n_replicates: int, chunk: int | None = None, n_chunks: int | None = None,
                    spec: str | None = None) -> range:
    """Replicates of a chunk: ``spec`` 'a:b' (half-open) or chunk ``chunk`` of ``n_chunks``
    near-equal consecutive chunks; all replicates when neither is given."""
    if spec is not None and chunk is not None:
        raise ParameterError("give either a replicate range or a chunk, not both")
    if spec is not None:
        try:
            a_s, b_s = spec.split(":")
            a, b = int(a_s or 0), int(b_s or n_replicates)
        except ValueError:
            raise ParameterError(f"replicate range must look like 'a:b', got {spec!r}") from None
        if not 0 <= a < b <= n_replicates:
            raise ParameterError(f"replicate range {spec!r} is outside 0:{n_replicates} or empty")
        return range(a, b)
    if chunk is not None or n_chunks is not None:
        if chunk is None or n_chunks is None:
            raise ParameterError("--chunk and --n-chunks go together")
        if not (n_chunks >= 1 and 0 <= chunk < n_chunks):
            raise ParameterError(f"chunk must be in [0, {n_chunks}), got {chunk}")
        bounds = np.linspace(0, n_replicates, n_chunks + 1).round().astype(int)
        return range(int(bounds[chunk]), int(bounds[chunk + 1]))
    return range(n_replicates)


def _score_all(
    embeddings: Mapping[str, np.ndarray],
    metrics: Mapping[str, str],
    idx: np.ndarray | None,
    labels: np.ndarray,
    batches: np.ndarray | None,
    settings: BootstrapSettings,
    cluster_fns: Mapping[str, ClusterFn],
    replicate: int,
) -> tuple[list[dict], list[pd.DataFrame]]:
    rows, per = [], []
    for name, X in embeddings.items():
        sc = score_embedding(
            X, labels, batches, sample=idx, metric=metrics.get(name, "euclidean"),
            asw_metric=settings.asw_metric, n_neighbors=settings.n_neighbors,
            cluster_fn=cluster_fns[name], seed=settings.cluster_seed,
            kbet_alpha=settings.kbet_alpha,
        )
        rows.append({"replicate": replicate, "method": name, **sc.as_series().to_dict()})
        pl = sc.per_label.reset_index()
        pl.insert(0, "method", name)
        pl.insert(0, "replicate", replicate)
        per.append(pl)
    return rows, per


def bootstrap_scores(
    embeddings: Mapping[str, np.ndarray],
    labels: Sequence,
    batches: Sequence | None = None,
    *,
    replicates: Iterable[int] | None = None,
    settings: BootstrapSettings | None = None,
    metrics: Mapping[str, str] | None = None,
    cluster_fn: ClusterFn | None = None,
    observed: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score every embedding on each bootstrap replicate of the (already selected) cells.

    Returns ``(scores, per_label, observed)``: one row per (replicate, method) with every
    metric; one row per (replicate, method, cell type) with the batch metrics; and the scores
    on the original cells (replicate -1; empty when ``observed`` is False).
    """
    settings = settings or BootstrapSettings()
    metrics = dict(metrics or {})
    labels = np.asarray(labels).astype(str)
    batches = None if batches is None else np.asarray(batches).astype(str)
    embeddings = {k: np.asarray(v, dtype=np.float64) for k, v in embeddings.items()}
    n = labels.size
    for k, v in embeddings.items():
        if v.ndim != 2 or v.shape[0] != n:
            raise ParameterError(f"embedding {k!r} has shape {v.shape}, expected ({n}, d)")
    reps = list(range(settings.n_replicates) if replicates is None else replicates)
    for r in reps:
        if not 0 <= r < settings.n_replicates:
            raise ParameterError(f"replicate {r} outside 0..{settings.n_replicates - 1}")
    # one clustering per method; the replicates' resolution searches start from the
    # resolution found on the original cells (a function of the data only, so chunks agree)
    if cluster_fn is not None:
        fns: dict[str, ClusterFn] = {k: cluster_fn for k in embeddings}
    else:
        fns = {k: SharedClustering(settings.cluster_method) for k in embeddings}
    obs_rows, _ = _score_all(embeddings, metrics, None, labels, batches, settings, fns, -1)
    for f in fns.values():
        if isinstance(f, SharedClustering) and f.last_resolution is not None:
            f.start = f.last_resolution
    if not observed:
        obs_rows = []
    rows: list[dict] = []
    per: list[pd.DataFrame] = []
    for r in reps:
        idx = replicate_indices(n, settings.seed, r)
        rr, pp = _score_all(embeddings, metrics, idx, labels, batches, settings, fns, r)
        rows += rr
        per += pp
        log.debug("bootstrap replicate %d done", r)
    cols = ["replicate", "method", *ALL_SCORES]
    scores = pd.DataFrame(rows, columns=cols)
    per_label = (pd.concat(per, ignore_index=True) if per else
                 pd.DataFrame(columns=["replicate", "method", "cell_type", *PER_LABEL_COLUMNS]))
    return scores, per_label, pd.DataFrame(obs_rows, columns=cols)


# --------------------------------------------------------------------------- statistics
def percentile_ci(values: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """The alpha/2 and 1 - alpha/2 quantiles (linear interpolation) of finite ``values``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def ci_inversion_pvalue(diffs: np.ndarray, theta0: float = 0.0) -> float:
    """Two-sided p-value of theta = theta0 by percentile-CI inversion.

    The smallest alpha in [1/B, 1] such that ``theta0`` lies outside the 1 - alpha percentile
    interval [q(alpha/2), q(1 - alpha/2)] of the bootstrap distribution (quantiles with linear
    interpolation, as :func:`numpy.quantile`); 1 when even the median interval contains it.
    """
    x = np.sort(np.asarray(diffs, dtype=float))
    x = x[np.isfinite(x)]
    B = x.size
    if B == 0:
        return float("nan")
    if B == 1:
        return 1.0
    alpha_min = 1.0 / B
    cands = [np.inf]
    # lower bound above theta0: q(p) > theta0 for p > p_low
    j = int(np.searchsorted(x, theta0, side="right"))  # x[:j] <= theta0 < x[j:]
    if j == 0:
        cands.append(0.0)
    elif j < B:
        h = (j - 1) + (theta0 - x[j - 1]) / (x[j] - x[j - 1])
        cands.append(2.0 * h / (B - 1))
    # upper bound below theta0: q(p) < theta0 for p < p_up
    i = int(np.searchsorted(x, theta0, side="left"))  # x[:i] < theta0 <= x[i:]
    if i == B:
        cands.append(0.0)
    elif i > 0:
        h = (i - 1) + (theta0 - x[i - 1]) / (x[i] - x[i - 1])
        cands.append(2.0 * (1.0 - h / (B - 1)))
    return float(min(max(min(cands), alpha_min), 1.0))


def summarize(scores: pd.DataFrame, observed: pd.DataFrame | None = None,
              alpha: float = 0.05) -> pd.DataFrame:
    """Per method and score: observed value, bootstrap mean and percentile CI."""
    out = []
    methods = list(dict.fromkeys(scores["method"]))
    for m in methods:
        sub = scores[scores["method"] == m]
        ob = None
        if observed is not None and len(observed):
            ob = observed[observed["method"] == m]
        for s in ALL_SCORES:
            lo, hi = percentile_ci(sub[s].to_numpy(), alpha)
            out.append({
                "method": m, "score": s,
                "observed": float(ob[s].iloc[0]) if ob is not None and len(ob) else np.nan,
                "mean": float(np.nanmean(sub[s])) if np.isfinite(sub[s]).any() else np.nan,
                "ci_low": lo, "ci_high": hi,
                "n_replicates": int(np.isfinite(sub[s]).sum()),
            })
    return pd.DataFrame(out)


def pairwise_tests(scores: pd.DataFrame, observed: pd.DataFrame | None = None,
                   score_names: Sequence[str] = ALL_SCORES, alpha: float = 0.05) -> pd.DataFrame:
    """Every pair of methods (first - second, in table order) for each score: the paired
    bootstrap difference, its CI, the CI-inversion p-value and the BH-adjusted p-value (across
    the pairs of that score)."""
    methods = list(dict.fromkeys(scores["method"]))
    wide = {s: scores.pivot(index="replicate", columns="method", values=s) for s in score_names}
    out = []
    for s in score_names:
        w = wide[s]
        rows = []
        for a, b in itertools.combinations(methods, 2):
            d = (w[a] - w[b]).to_numpy(dtype=float)
            d = d[np.isfinite(d)]
            lo, hi = percentile_ci(d, alpha)
            obs = np.nan
            if observed is not None and len(observed):
                oa = observed.loc[observed["method"] == a, s]
                ob = observed.loc[observed["method"] == b, s]
                if len(oa) and len(ob):
                    obs = float(oa.iloc[0] - ob.iloc[0])
            rows.append({
                "score": s, "method_a": a, "method_b": b, "observed_diff": obs,
                "mean_diff": float(d.mean()) if d.size else np.nan,
                "ci_low": lo, "ci_high": hi,
                "p_value": ci_inversion_pvalue(d) if d.size else np.nan,
            })
        p = np.array([r["p_value"] for r in rows], dtype=float)
        adj = np.full(p.size, np.nan)
        ok = np.isfinite(p)
        if ok.any():
            adj[ok] = np.minimum(false_discovery_control(p[ok], method="bh"), 1.0)
        for r, q in zip(rows, adj, strict=True):
            r["p_adj"] = float(q)
        out += rows
    return pd.DataFrame(out, columns=["score", "method_a", "method_b", "observed_diff",
                                      "mean_diff", "ci_low", "ci_high", "p_value", "p_adj"])


def summarize_per_label(per_label: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per method, cell type and batch metric: bootstrap mean and percentile CI."""
    out = []
    if per_label.empty:
        return pd.DataFrame(columns=["method", "cell_type", "metric", "mean", "ci_low", "ci_high"])
    for (m, ct), sub in per_label.groupby(["method", "cell_type"], sort=False):
        for s in BATCH_METRICS:
            v = sub[s].to_numpy(dtype=float)
            lo, hi = percentile_ci(v, alpha)
            fin = np.isfinite(v)
            out.append({"method": m, "cell_type": ct, "metric": s,
                        "mean": float(v[fin].mean()) if fin.any() else np.nan,
                        "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(out)
