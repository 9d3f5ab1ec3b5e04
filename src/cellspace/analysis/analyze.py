"""The ``analyze`` step: graph, clusters, UMAP, joint cells + motifs UMAP and their plots."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.analysis.clustering import cluster
from cellspace.analysis.graph import neighbors
from cellspace.analysis.plotting import embedding_figure, joint_figure, save_figure
from cellspace.analysis.validate import (
    check_same_run,
    embedding_of,
    read_cells,
    read_model,
)
from cellspace.atomic import atomic_path
from cellspace.errors import InputError, ParameterError
from cellspace.io import write_h5ad

log = logging.getLogger(__name__)

DEFAULT_COLOR_KEYS = ("cell_type", "celltype", "label", "batch", "dataset", "donor")


def write_tsv(df: pd.DataFrame, path: str | Path, index: bool = True) -> None:
    """Tab-separated table written atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index)


def color_keys(adata, requested: Sequence[str] | None, cluster_key: str) -> list[str]:
    """obs columns to colour plots by: the cluster key plus requested (or default) columns."""
    if requested is None:
        keys = [k for k in DEFAULT_COLOR_KEYS if k in adata.obs.columns and adata.obs[k].nunique() > 1]
    else:
        missing = [k for k in requested if k not in adata.obs.columns]
        if missing:
            raise ParameterError(
                f"--color-by: no obs column {', '.join(map(repr, missing))} "
                f"(have: {', '.join(map(str, adata.obs.columns))})"
            )
        keys = list(requested)
    return [cluster_key] + [k for k in keys if k != cluster_key]


def select_motifs(z: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` motifs with the highest mean z-score in any cluster."""
    cl = np.unique(labels)
    means = np.stack([z[labels == c].mean(axis=0) for c in cl])
    best = means.max(axis=0)
    return np.argsort(-best, kind="stable")[: min(n, z.shape[1])]


def load_motif_table(motifs: Path, adata, model, motif_format: str | None, use_rep: str):
    """(names, vectors, z-scores) of motifs from motif_scores.h5ad or a motif file."""
    from cellspace.analysis.motifs import MOTIF_EMBEDDING_KEY, motif_scores_for_cells

    if motifs.suffix == ".h5ad":
        ms = read_cells(motifs, use_rep=None)
        if MOTIF_EMBEDDING_KEY not in ms.varm:
            raise InputError(f"has no varm[{MOTIF_EMBEDDING_KEY!r}] motif embedding; "
                             "is it the motif_scores.h5ad of 'cellspace motifs'?", motifs)
        if not np.array_equal(np.asarray(ms.obs_names), np.asarray(adata.obs_names)):
            raise InputError("its cells differ from those of --cells", motifs)
        names = ms.var["name"].astype(str).to_numpy() if "name" in ms.var else ms.var_names.to_numpy()
        z = np.asarray(ms.X.toarray() if hasattr(ms.X, "toarray") else ms.X, dtype=np.float32)
        return names, np.asarray(ms.varm[MOTIF_EMBEDDING_KEY], dtype=np.float32), z
    if model is None:
        raise ParameterError("--motifs with a motif file needs --model to embed the motifs")
    from cellspace.analysis.motif_db import read_motif_file

    mlist = read_motif_file(motifs, motif_format)
    scores = motif_scores_for_cells(model, mlist, embedding_of(adata, use_rep), cell_ids=adata.obs_names)
    return (scores.var["name"].astype(str).to_numpy(), np.asarray(scores.varm[MOTIF_EMBEDDING_KEY]),
            np.asarray(scores.X, dtype=np.float32))


def analyze_cells(
    cells: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    motifs: str | Path | None = None,
    motif_format: str | None = None,
    use_rep: str = "X_cellspace",
    n_neighbors: int = 20,
    method: str = "leiden",
    resolution: float | None = None,
    n_clusters: int | None = None,
    min_cluster_size: int | None = None,
    color_by: Sequence[str] | None = None,
    joint_motifs: int = 20,
    min_dist: float = 0.3,
    umap: bool = True,
    seed: int = 0,
):
    """Run the analyze step on files; returns the annotated AnnData (also written to OUT)."""
    out = Path(out)
    cells = Path(cells)
    adata = read_cells(cells, use_rep=use_rep)
    cs_model = None
    if model is not None:
        cs_model = read_model(model)
        check_same_run(cs_model, adata, model, cells)
    if n_neighbors < 2:
        raise ParameterError(f"--n-neighbors must be >= 2, got {n_neighbors}")
    if n_clusters is not None and n_clusters < 1:
        raise ParameterError(f"--n-clusters must be >= 1, got {n_clusters}")
    motif_table = None
    if motifs is not None:
        motif_table = load_motif_table(Path(motifs), adata, cs_model, motif_format, use_rep)

    log.info("kNN/SNN graphs of %d cells (k = %d)", adata.n_obs, n_neighbors)
    neighbors(adata, n_neighbors=n_neighbors, use_rep=use_rep)
    labels = cluster(adata, method=method, resolution=resolution, n_clusters=n_clusters,
                     seed=seed, min_size=min_cluster_size)
    log.info("%s: %d clusters (resolution %.4g)", method, labels.max() + 1,
             adata.uns[method]["params"]["resolution"])
    out.mkdir(parents=True, exist_ok=True)
    write_tsv(pd.DataFrame({"cluster": adata.obs[method].astype(str)}, index=adata.obs_names.rename("cell")),
              out / "clusters.tsv")

    if umap:
        from cellspace.analysis.umap import joint_umap
        from cellspace.analysis.umap import umap as run_umap

        log.info("UMAP")
        coords = run_umap(adata, use_rep=use_rep, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
        write_tsv(pd.DataFrame(coords, index=adata.obs_names.rename("cell"), columns=["UMAP1", "UMAP2"]),
                  out / "umap.tsv")
        for key in color_keys(adata, color_by, method):
            fig = embedding_figure(coords, adata.obs[key].to_numpy(), title=key)
            save_figure(fig, out / f"umap_{key}.png")
        if motif_table is not None and joint_motifs > 0:
            names, vectors, z = motif_table
            sel = select_motifs(z, labels, joint_motifs)
            log.info("joint UMAP of cells and %d motifs", len(sel))
            cell_xy, motif_xy = joint_umap(embedding_of(adata, use_rep), vectors[sel],
                                           n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
            adata.obsm["X_umap_joint"] = cell_xy
            table = pd.concat([
                pd.DataFrame({"id": adata.obs_names, "kind": "cell", "UMAP1": cell_xy[:, 0], "UMAP2": cell_xy[:, 1]}),
                pd.DataFrame({"id": names[sel], "kind": "motif", "UMAP1": motif_xy[:, 0], "UMAP2": motif_xy[:, 1]}),
            ])
            write_tsv(table, out / "joint_umap.tsv", index=False)
            adata.uns["joint_umap_motifs"] = {"names": np.asarray(names[sel], dtype=str),
                                              "coords": motif_xy}
            label_key = next((k for k in color_keys(adata, color_by, method)[1:]
                              if k in ("cell_type", "celltype", "label")), method)
            fig = joint_figure(cell_xy, adata.obs[label_key].to_numpy(), motif_xy, names[sel],
                               title=f"cells ({label_key}) and motifs")
            save_figure(fig, out / "joint_umap.png")
    write_h5ad(adata, out / "cells.h5ad")
    log.info("wrote %s", out)
    return adata
