"""ANALYZE (``cellspace analyze``): cell graphs, clusters, UMAP, joint cells + motifs UMAP, plots.

Cosine kNN and shared-nearest-neighbour (SNN) graphs of the cell embedding, Leiden or Louvain
clustering (optionally at an exact number of clusters), UMAP, and a joint UMAP of cells and TF
motifs. Writes, as a unit, DIR/cells.h5ad (obs[<method>], obsm['X_umap'], obsp graphs),
DIR/clusters.tsv, DIR/umap.tsv and PNG plots.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellspace.analysis.validate import LABEL_COLUMNS
from cellspace.errors import InputError, ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "analyze"
HELP = "cluster cells, compute UMAPs and plots from a trained embedding"
DESCRIPTION = __doc__
# obs columns UMAPs are coloured by when --color-by is not given (those present)
DEFAULT_COLOR_KEYS = (*LABEL_COLUMNS, "batch", "dataset", "donor")
OUTPUTS = ("cells.h5ad", "clusters.tsv", "umap.tsv", "umap_*.png", "joint_umap.tsv", "joint_umap.png")


@dataclass
class AnalyzeParams:
    cells: Path = field(metadata=doc("cells.h5ad written by 'cellspace train'"))
    out: Path = field(metadata=doc("output folder"))
    model: Path | None = field(default=None, metadata=doc(
        "model.npz of the same run (checked against the cells; needed when --motifs is a motif file)"))
    motifs: Path | None = field(default=None, metadata=doc(
        "motif_scores.h5ad from 'cellspace motifs', or a motif file (JASPAR/MEME/HOMER, with "
        "--model) for the joint cells + motifs UMAP"))
    motif_format: str | None = field(default=None, metadata=doc(
        "format of a --motifs file (default: guessed from its content)", choices=("jaspar", "meme", "homer")))
    use_rep: str = field(default="X_cellspace", metadata=doc("obsm key of the embedding"))
    n_neighbors: int = field(default=20, metadata=doc("k of the kNN/SNN graphs and UMAP"))
    method: str = field(default="leiden", metadata=doc("clustering method", choices=("leiden", "louvain")))
    resolution: float | None = field(default=None, metadata=doc(
        "clustering resolution (default 0.8; start of the search with --n-clusters)"))
    n_clusters: int | None = field(default=None, metadata=doc(
        "search the resolution for exactly this many clusters (merging the smallest clusters if "
        "no resolution gives it)"))
    min_cluster_size: int | None = field(default=None, metadata=doc(
        "merge clusters with fewer cells into their most-connected neighbour"))
    color_by: list[str] | None = field(default=None, metadata=doc(
        f"obs columns to colour UMAPs by (default: those of {', '.join(DEFAULT_COLOR_KEYS)} present)",
        nargs="*"))
    joint_motifs: int = field(default=20, metadata=doc(
        "number of motifs in the joint UMAP (the most cluster-specific ones)"))
    min_dist: float = field(default=0.3, metadata=doc("UMAP min_dist"))
    umap: bool = field(default=True, metadata=doc("skip the UMAPs and plots", flag="--no-umap"))
    seed: int = field(default=0, metadata=doc("random seed of clustering and UMAP"))

    def validate(self) -> AnalyzeParams:
        from cellspace.analysis.clustering import MAX_RESOLUTION

        checks = [
            (self.n_neighbors >= 2, f"--n-neighbors must be >= 2, got {self.n_neighbors}"),
            (self.n_clusters is None or self.n_clusters >= 1, f"--n-clusters must be >= 1, got {self.n_clusters}"),
            (self.resolution is None or 0 < self.resolution <= MAX_RESOLUTION,
             f"--resolution must be in (0, {MAX_RESOLUTION:g}], got {self.resolution}"),
            (self.min_cluster_size is None or self.min_cluster_size >= 1,
             f"--min-cluster-size must be >= 1, got {self.min_cluster_size}"),
            (self.joint_motifs >= 0, f"--joint-motifs must be >= 0, got {self.joint_motifs}"),
            (0 <= self.min_dist <= 1, f"--min-dist must be in [0, 1], got {self.min_dist}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ParameterError(msg)
        return self

    def check_cells(self, adata) -> None:
        """Checks that need the cells, made before any computing."""
        n = adata.n_obs
        if self.n_neighbors >= n:
            raise ParameterError(f"--n-neighbors {self.n_neighbors} needs more cells than the {n} given")
        if self.n_clusters is not None and self.n_clusters > n:
            raise ParameterError(f"--n-clusters {self.n_clusters} is more than the {n} cells")
        color_keys(adata, self.color_by, self.method)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, AnalyzeParams)


def color_keys(adata, requested: list[str] | None, cluster_key: str) -> list[str]:
    """obs columns to colour plots by: the cluster key plus requested (or default) columns."""
    if requested is None:
        keys = [k for k in DEFAULT_COLOR_KEYS if k in adata.obs.columns and adata.obs[k].nunique() > 1]
    else:
        missing = [k for k in requested if k not in adata.obs.columns and k != cluster_key]
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
    from cellspace.analysis.validate import embedding_of, read_cells

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


def analyze(p: AnalyzeParams):
    """Run the step; returns the annotated AnnData (also written to ``p.out``)."""
    import pandas as pd

    from cellspace.analysis.clustering import cluster
    from cellspace.analysis.graph import neighbors
    from cellspace.analysis.plotting import embedding_figure, joint_figure, save_figure
    from cellspace.analysis.validate import check_same_run, embedding_of, read_cells, read_model
    from cellspace.atomic import atomic_dir, check_output_folder
    from cellspace.io import write_h5ad
    from cellspace.steps.resources import require_extras
    from cellspace.steps.tables import write_tsv

    p.validate()
    check_output_folder(p.out, OUTPUTS)
    require_extras(["igraph"] + (["louvain"] if p.method == "louvain" else [])
                   + (["umap"] if p.umap else []), "analysis", "analyze")
    adata = read_cells(p.cells, use_rep=p.use_rep)
    p.check_cells(adata)
    cs_model = None
    if p.model is not None:
        cs_model = read_model(p.model)
        check_same_run(cs_model, adata, p.model, p.cells)
    motif_table = None
    if p.motifs is not None:
        motif_table = load_motif_table(Path(p.motifs), adata, cs_model, p.motif_format, p.use_rep)

    log.info("kNN/SNN graphs of %d cells (k = %d)", adata.n_obs, p.n_neighbors)
    knn = neighbors(adata, n_neighbors=p.n_neighbors, use_rep=p.use_rep)
    labels = cluster(adata, method=p.method, resolution=p.resolution, n_clusters=p.n_clusters,
                     seed=p.seed, min_size=p.min_cluster_size)
    log.info("%s: %d clusters (resolution %.4g)", p.method, labels.max() + 1,
             adata.uns[p.method]["params"]["resolution"])
    keys = color_keys(adata, p.color_by, p.method)
    with atomic_dir(p.out, outputs=OUTPUTS) as out:
        write_tsv(pd.DataFrame({"cluster": adata.obs[p.method].astype(str)},
                               index=adata.obs_names.rename("cell")), out / "clusters.tsv")
        if p.umap:
            from cellspace.analysis.umap import joint_umap
            from cellspace.analysis.umap import umap as run_umap

            log.info("UMAP")
            coords = run_umap(adata, use_rep=p.use_rep, n_neighbors=p.n_neighbors, min_dist=p.min_dist,
                              seed=p.seed, knn=knn)
            write_tsv(pd.DataFrame(coords, index=adata.obs_names.rename("cell"), columns=["UMAP1", "UMAP2"]),
                      out / "umap.tsv")
            for key in keys:
                save_figure(embedding_figure(coords, adata.obs[key].to_numpy(), title=key),
                            out / f"umap_{key}.png")
            if motif_table is not None and p.joint_motifs > 0:
                names, vectors, z = motif_table
                sel = select_motifs(z, labels, p.joint_motifs)
                log.info("joint UMAP of cells and %d motifs", len(sel))
                cell_xy, motif_xy = joint_umap(embedding_of(adata, p.use_rep), vectors[sel],
                                               n_neighbors=p.n_neighbors, min_dist=p.min_dist, seed=p.seed)
                adata.obsm["X_umap_joint"] = cell_xy
                table = pd.concat([
                    pd.DataFrame({"id": adata.obs_names, "kind": "cell", "UMAP1": cell_xy[:, 0],
                                  "UMAP2": cell_xy[:, 1]}),
                    pd.DataFrame({"id": names[sel], "kind": "motif", "UMAP1": motif_xy[:, 0],
                                  "UMAP2": motif_xy[:, 1]}),
                ])
                write_tsv(table, out / "joint_umap.tsv", index=False)
                adata.uns["joint_umap_motifs"] = {"names": np.asarray(names[sel], dtype=str),
                                                  "coords": motif_xy}
                label_key = next((k for k in keys[1:] if k in LABEL_COLUMNS), p.method)
                fig = joint_figure(cell_xy, adata.obs[label_key].to_numpy(), motif_xy, names[sel],
                                   title=f"cells ({label_key}) and motifs")
                save_figure(fig, out / "joint_umap.png")
        write_h5ad(adata, out / "cells.h5ad")
    log.info("wrote %s", p.out)
    return adata


def run(args: argparse.Namespace) -> int:
    analyze(from_args(AnalyzeParams, args))
    return 0
