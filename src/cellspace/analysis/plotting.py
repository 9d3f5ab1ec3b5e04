"""Figures of the analysis steps. Every function returns a matplotlib ``Figure`` (never shows it).

Figures are built without pyplot (no global state, no display needed); save them with
:func:`save_figure`, which writes atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cellspace.atomic import atomic_path


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if n > 10 else colormaps["tab10"]
    if n <= cmap.N:
        return [cmap(i) for i in range(n)]
    return [colormaps["gist_ncar"](i / max(n - 1, 1)) for i in range(n)]


def _point_size(n: int) -> float:
    return float(np.clip(12000 / max(n, 1), 0.5, 30))


def embedding_figure(
    coords: np.ndarray,
    color: Sequence | np.ndarray | None = None,
    title: str = "",
    categorical: bool | None = None,
    cmap: str = "viridis",
    xlabel: str = "UMAP1",
    ylabel: str = "UMAP2",
    highlight: np.ndarray | None = None,
) -> Figure:
    """Scatter plot of 2-D coordinates coloured by a categorical or continuous value."""
    coords = np.asarray(coords)
    fig = Figure(figsize=(6.5, 5.0), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    s = _point_size(len(coords))
    if color is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=s, c="0.4", linewidths=0, rasterized=True)
    else:
        values = pd.Series(np.asarray(color))
        if categorical is None:
            categorical = not pd.api.types.is_float_dtype(values)
        if categorical:
            cats = pd.Categorical(values.astype(str))
            pal = _palette(len(cats.categories))
            for i, cat in enumerate(cats.categories):
                m = np.asarray(cats == cat)
                ax.scatter(coords[m, 0], coords[m, 1], s=s, color=pal[i], label=str(cat),
                           linewidths=0, rasterized=True)
            ncol = 1 if len(cats.categories) <= 16 else 2
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
                      markerscale=max(1.0, 6 / np.sqrt(s)), fontsize=7, ncol=ncol)
        else:
            v = values.to_numpy(dtype=float)
            order = np.argsort(np.nan_to_num(v, nan=-np.inf))
            sc = ax.scatter(coords[order, 0], coords[order, 1], s=s, c=v[order], cmap=cmap,
                            linewidths=0, rasterized=True)
            fig.colorbar(sc, ax=ax, shrink=0.7)
    if highlight is not None and len(highlight):
        h = np.asarray(highlight)
        ax.scatter(coords[h, 0], coords[h, 1], s=60, facecolors="none", edgecolors="red", linewidths=1.5)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def joint_figure(
    cell_coords: np.ndarray,
    cell_labels: Sequence | np.ndarray,
    motif_coords: np.ndarray,
    motif_names: Sequence[str],
    title: str = "cells and motifs",
) -> Figure:
    """Cells coloured by label with motifs drawn as labelled black points."""
    fig = embedding_figure(cell_coords, cell_labels, title=title, categorical=True)
    ax = fig.axes[0]
    motif_coords = np.asarray(motif_coords)
    ax.scatter(motif_coords[:, 0], motif_coords[:, 1], s=18, c="black", marker="D", zorder=3)
    for (x, y), name in zip(motif_coords, motif_names, strict=True):
        ax.annotate(str(name), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6, zorder=4)
    return fig


def heatmap_figure(
    values: pd.DataFrame,
    title: str = "",
    cmap: str = "RdBu_r",
    center: float | None = 0.0,
    colorbar_label: str = "",
) -> Figure:
    """Heatmap of a DataFrame (rows x columns, labels from index/columns)."""
    data = values.to_numpy(dtype=float)
    h = max(3.0, 0.22 * data.shape[0] + 1.5)
    w = max(4.0, 0.35 * data.shape[1] + 2.5)
    fig = Figure(figsize=(w, h), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    kw = {}
    if center is not None and np.isfinite(data).any():
        lim = float(np.nanmax(np.abs(data - center))) or 1.0
        kw = {"vmin": center - lim, "vmax": center + lim}
    im = ax.imshow(data, aspect="auto", cmap=cmap, interpolation="nearest", **kw)
    ax.set_yticks(range(data.shape[0]), [str(i) for i in values.index], fontsize=6)
    ax.set_xticks(range(data.shape[1]), [str(c) for c in values.columns], fontsize=7, rotation=90)
    cb = fig.colorbar(im, ax=ax, shrink=0.6)
    cb.set_label(colorbar_label)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int | None = None) -> Path:
    """Save a figure atomically (format from the suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path


def logo_figure(result, table, max_motifs: int = 24):
    """Information-content logos of the largest de novo motifs with their best database match
    (logomaker draws about one logo per second)."""
    import logomaker
    import pandas as pd
    from matplotlib.figure import Figure

    motifs = sorted(result.motifs, key=lambda m: -len(m.lmers))[:max_motifs]
    n = max(len(motifs), 1)
    ncol = 2 if n > 1 else 1
    nrow = -(-n // ncol)
    fig = Figure(figsize=(5.2 * ncol, 1.6 * nrow), dpi=110)
    by_id = table.set_index("motif_id") if len(table) else None
    for i, m in enumerate(motifs):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        df = pd.DataFrame(m.counts, columns=list("ACGT"))
        info = logomaker.transform_matrix(df, from_type="counts", to_type="information", pseudocount=0.5)
        logomaker.Logo(info, ax=ax, color_scheme="classic")
        ax.set_ylim(0, 2)
        ax.set_xticks([])
        title = f"{m.id} ({len(m.lmers)} {len(m.lmers[0])}-mers)"
        if by_id is not None and "match1_name" in by_id.columns and pd.notna(by_id.loc[m.id, "match1_name"]):
            title += f"  ~ {by_id.loc[m.id, 'match1_name']} ({by_id.loc[m.id, 'match1_similarity']:.2f})"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)
    if not motifs:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no de novo motifs", ha="center", va="center")
        ax.set_axis_off()
    fig.tight_layout()
    return fig
