"""Bootstrap confidence intervals and pairwise tests of benchmark scores.

B replicates of the evaluated cells; replicate ``r`` draws its cells with
``numpy.random.default_rng([seed, r])`` so any range of replicates can be computed on its own
(chunks) and merged with results identical to a single run. Within a replicate every method
sees the same cells (paired), is re-clustered and re-scored. Two resampling schemes:

* ``"half"`` (default): half-sampling, ``n // 2`` distinct cells drawn without replacement. For
  a smooth statistic the spread of half-sample values equals the sampling spread at ``n``
  (variance sigma^2 (1/m - 1/n) = sigma^2 / n at m = n/2), and no cell is duplicated. kNN-based
  metrics still depend on the density of cells, so the replicates are centred on their mean and
  shifted to the observed value: the interval is observed + the percentiles of (replicate -
  replicate mean), and the difference of two methods is treated alike.
* ``"replacement"``: the classical bootstrap, ``n`` draws with replacement, percentile
  intervals of the raw replicate values. A duplicated cell's copies are each other's nearest
  neighbours, which biases kNN metrics (kBET, clustering ARI/NMI) away from the observed score;
  kept for comparison with the paper's numbers.

Statistics: confidence intervals as above (with the bias, replicate mean - observed); for each
pair of methods the score difference, its CI and a two-sided p-value by confidence-interval
inversion (the smallest alpha in [1/B, 1] whose 1 - alpha interval of the difference excludes
0), adjusted with Benjamini-Hochberg across the pairs of each score.
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
RESAMPLING: tuple[str, ...] = ("replacement", "half")


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
    resampling: str = "half"

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def replicate_indices(n_cells: int, seed: int, replicate: int,
                      resampling: str = "replacement") -> np.ndarray:
    """Cells of replicate ``replicate`` (sorted): ``n_cells`` draws with replacement
    (``"replacement"``) or ``n_cells // 2`` distinct cells (``"half"``)."""
    rng = np.random.default_rng([int(seed), int(replicate)])
    if resampling == "replacement":
        return np.sort(rng.integers(0, n_cells, size=n_cells))
    if resampling == "half":
        return np.sort(rng.choice(n_cells, size=n_cells // 2, replace=False))
    raise ParameterError(f"resampling must be one of {', '.join(RESAMPLING)}, got {resampling!r}")


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
        idx = replicate_indices(n, settings.seed, r, settings.resampling)
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


def interval_values(values: np.ndarray, observed: float, resampling: str) -> np.ndarray:
    """The replicate values whose percentiles are the interval: as they are (``replacement``,
    or without an observed value), or centred on their mean and shifted to ``observed``
    (``half``)."""
    v = np.asarray(values, dtype=float)
    if resampling not in RESAMPLING:
        raise ParameterError(f"resampling must be one of {', '.join(RESAMPLING)}, got {resampling!r}")
    fin = np.isfinite(v)
    if resampling == "replacement" or not np.isfinite(observed) or not fin.any():
        return v
    return observed + (v - v[fin].mean())


def summarize(scores: pd.DataFrame, observed: pd.DataFrame | None = None,
              alpha: float = 0.05, resampling: str = "half") -> pd.DataFrame:
    """Per method and score: observed value, replicate mean, bias (mean - observed) and the
    1 - alpha interval of the scheme (see the module doc)."""
    out = []
    methods = list(dict.fromkeys(scores["method"]))
    for m in methods:
        sub = scores[scores["method"] == m]
        ob = None
        if observed is not None and len(observed):
            ob = observed[observed["method"] == m]
        for s in ALL_SCORES:
            obs = float(ob[s].iloc[0]) if ob is not None and len(ob) else np.nan
            v = sub[s].to_numpy(dtype=float)
            mean = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
            lo, hi = percentile_ci(interval_values(v, obs, resampling), alpha)
            if resampling == "half":  # a shifted interval may leave the scores' range [0, 1]
                lo, hi = min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)
            out.append({
                "method": m, "score": s, "observed": obs, "mean": mean, "bias": mean - obs,
                "ci_low": lo, "ci_high": hi, "n_replicates": int(np.isfinite(v).sum()),
            })
    return pd.DataFrame(out)


def pairwise_tests(scores: pd.DataFrame, observed: pd.DataFrame | None = None,
                   score_names: Sequence[str] = ALL_SCORES, alpha: float = 0.05,
                   resampling: str = "half") -> pd.DataFrame:
    """Every pair of methods (first - second, in table order) for each score: the paired
    replicate differences, their interval (centred on the observed difference with ``half``),
    the CI-inversion p-value of that interval and the BH-adjusted p-value (across the pairs of
    that score)."""
    methods = list(dict.fromkeys(scores["method"]))
    wide = {s: scores.pivot(index="replicate", columns="method", values=s) for s in score_names}
    out = []
    for s in score_names:
        w = wide[s]
        rows = []
        for a, b in itertools.combinations(methods, 2):
            d = (w[a] - w[b]).to_numpy(dtype=float)
            d = d[np.isfinite(d)]
            obs = np.nan
            if observed is not None and len(observed):
                oa = observed.loc[observed["method"] == a, s]
                ob = observed.loc[observed["method"] == b, s]
                if len(oa) and len(ob):
                    obs = float(oa.iloc[0] - ob.iloc[0])
            dc = interval_values(d, obs, resampling)
            lo, hi = percentile_ci(dc, alpha)
            rows.append({
                "score": s, "method_a": a, "method_b": b, "observed_diff": obs,
                "mean_diff": float(d.mean()) if d.size else np.nan,
                "ci_low": lo, "ci_high": hi,
                "p_value": ci_inversion_pvalue(dc) if d.size else np.nan,
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
    """Per method, cell type and batch metric: replicate mean and percentile interval of the raw
    replicate values (not centred: per-label observed values are not kept)."""
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
