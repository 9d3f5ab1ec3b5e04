"""Figures of benchmark results (matplotlib; functions return figures, never show them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cellspace.bench.metrics import BATCH_METRICS, SUMMARY_SCORES


def plot_scores(summary: pd.DataFrame, scores: tuple[str, ...] = SUMMARY_SCORES) -> Figure:
    """One panel per score: each method's observed value (or bootstrap mean) with its CI."""
    methods = list(dict.fromkeys(summary["method"]))
    fig = Figure(figsize=(3.2 * len(scores), 0.45 * len(methods) + 1.6), layout="constrained")
    axes = fig.subplots(1, len(scores), sharey=True, squeeze=False)[0]
    y = np.arange(len(methods))
    for ax, s in zip(axes, scores, strict=True):
        sub = summary[summary["score"] == s].set_index("method").reindex(methods)
        centre = sub["observed"].where(sub["observed"].notna(), sub["mean"]).to_numpy(float)
        lo = sub["ci_low"].to_numpy(float)
        hi = sub["ci_high"].to_numpy(float)
        err = np.vstack([np.clip(centre - lo, 0, None), np.clip(hi - centre, 0, None)])
        ax.errorbar(centre, y, xerr=np.nan_to_num(err), fmt="o", color="black", ecolor="0.4",
                    capsize=3)
        ax.set_title(s.replace("_", " "))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, methods)
    axes[0].invert_yaxis()
    return fig


def plot_pvalue_matrix(pairwise: pd.DataFrame, score: str = "overall_score",
                       column: str = "p_adj") -> Figure:
    """Heat map of the (adjusted) pairwise p-values of one score; cells are annotated with
    the p-value and the sign of the difference (row minus column)."""
    sub = pairwise[pairwise["score"] == score]
    methods = list(dict.fromkeys(list(sub["method_a"]) + list(sub["method_b"])))
    n = len(methods)
    P = np.full((n, n), np.nan)
    S = np.zeros((n, n))
    pos = {m: i for i, m in enumerate(methods)}
    for r in sub.itertuples():
        i, j = pos[r.method_a], pos[r.method_b]
        P[i, j] = P[j, i] = getattr(r, column)
        d = r.observed_diff if np.isfinite(r.observed_diff) else r.mean_diff
        S[i, j], S[j, i] = np.sign(d), -np.sign(d)
    fig = Figure(figsize=(0.6 * n + 2.5, 0.6 * n + 1.8), layout="constrained")
    ax = fig.subplots()
    with np.errstate(divide="ignore"):
        L = -np.log10(np.clip(P, 1e-300, 1))
    im = ax.imshow(L, cmap="viridis", vmin=0)
    for i in range(n):
        for j in range(n):
            if i != j and np.isfinite(P[i, j]):
                sign = "+" if S[i, j] > 0 else ("-" if S[i, j] < 0 else "")
                ax.text(j, i, f"{sign}{P[i, j]:.2g}", ha="center", va="center", fontsize=7,
                        color="white" if L[i, j] < np.nanmax(L) / 2 else "black")
    ax.set_xticks(range(n), methods, rotation=60, ha="right")
    ax.set_yticks(range(n), methods)
    ax.set_title(f"{score.replace('_', ' ')}: {column} (sign: row - column)")
    fig.colorbar(im, ax=ax, label=f"-log10 {column}")
    return fig


def plot_per_label(per_label_summary: pd.DataFrame,
                   metrics: tuple[str, ...] = BATCH_METRICS) -> Figure:
    """Per-cell-type batch metrics: one panel per metric, methods side by side per cell type,
    bars at the bootstrap mean with percentile CIs."""
    methods = list(dict.fromkeys(per_label_summary["method"]))
    types = list(dict.fromkeys(per_label_summary["cell_type"]))
    fig = Figure(figsize=(max(5.0, 0.35 * len(types) * max(1, len(methods)) + 2), 2.6 * len(metrics)),
                 layout="constrained")
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(types))
    for ax, met in zip(axes, metrics, strict=True):
        sub = per_label_summary[per_label_summary["metric"] == met]
        for k, m in enumerate(methods):
            s = sub[sub["method"] == m].set_index("cell_type").reindex(types)
            mean = s["mean"].to_numpy(float)
            err = np.vstack([mean - s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float) - mean])
            ax.bar(x + (k - (len(methods) - 1) / 2) * width, np.nan_to_num(mean), width,
                   yerr=np.nan_to_num(np.clip(err, 0, None)), label=m, capsize=2)
        ax.set_ylabel(met.replace("_", " "))
        ax.set_ylim(0, 1.05)
    axes[-1].set_xticks(x, types, rotation=45, ha="right")
    axes[0].legend(fontsize=7, ncol=min(4, len(methods)), loc="lower right")
    return fig
