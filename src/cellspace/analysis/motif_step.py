"""The ``motifs`` step: embed a motif database and score every cell, with tables and a heatmap."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.analysis.motif_db import (
    DEFAULT_COLLECTION,
    DEFAULT_RELEASE,
    DEFAULT_TAXON,
    load_motifs,
)
from cellspace.analysis.motifs import (
    DEFAULT_MAX_KMERS,
    DEFAULT_METHOD,
    DEFAULT_REL_THRESHOLD,
    MOTIF_EMBEDDING_KEY,
    group_means,
    motif_scores_for_cells,
    top_motifs_per_group,
)
from cellspace.analysis.plotting import heatmap_figure, save_figure
from cellspace.analysis.validate import (
    check_same_run,
    embedding_of,
    obs_column,
    read_cells,
    read_model,
)
from cellspace.atomic import atomic_path
from cellspace.io import write_h5ad

log = logging.getLogger(__name__)

GROUP_KEYS = ("leiden", "louvain", "cell_type", "celltype", "label")


def default_groups(adata, groupby: str | None, use_rep: str, seed: int = 0) -> tuple[str, np.ndarray]:
    """The grouping of cells for per-group summaries: ``groupby``, a known obs column, or
    fresh Leiden clusters of the embedding."""
    if groupby is not None:
        obs_column(adata, groupby, "column for --groupby")
        return groupby, adata.obs[groupby].astype(str).to_numpy()
    for key in GROUP_KEYS:
        if key in adata.obs.columns:
            return key, adata.obs[key].astype(str).to_numpy()
    from cellspace.analysis.clustering import cluster_embedding

    labels = cluster_embedding(embedding_of(adata, use_rep), seed=seed)
    return "leiden", labels.astype(str)


def write_score_tsv(scores, path: Path) -> None:
    """cells x motifs z-scores as TSV (cell ids in the first column, motif ids as header)."""
    df = pd.DataFrame(np.asarray(scores.X), index=scores.obs_names, columns=scores.var_names)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", float_format="%.4g", index_label="cell")


def run_motifs(
    model: str | Path,
    cells: str | Path,
    out: str | Path,
    motif_file: str | Path | None = None,
    motif_format: str | None = None,
    release: str = DEFAULT_RELEASE,
    collection: str = DEFAULT_COLLECTION,
    taxon: str | None = DEFAULT_TAXON,
    method: str = DEFAULT_METHOD,
    rel_threshold: float = DEFAULT_REL_THRESHOLD,
    max_kmers_per_window: int = DEFAULT_MAX_KMERS,
    use_rep: str = "X_cellspace",
    groupby: str | None = None,
    top: int = 5,
    scores_tsv: bool = False,
):
    """Embed motifs, score cells, write OUT/motif_scores.h5ad, TSVs and a heatmap.

    The full cells x motifs TSV (``scores_tsv``) is off by default: for 20,000 cells and 879
    motifs it is 17.6 million numbers and takes pandas about a minute to write.
    """
    out = Path(out)
    adata = read_cells(cells, use_rep=use_rep)
    cs_model = read_model(model)
    check_same_run(cs_model, adata, model, cells)
    motifs = load_motifs(motif_file, motif_format, release, collection, taxon)
    source = str(motif_file) if motif_file is not None else f"{release} {collection} {taxon or 'all taxa'}"
    log.info("embedding %d motifs from %s (%s)", len(motifs), source, method)
    scores = motif_scores_for_cells(
        cs_model, motifs, embedding_of(adata, use_rep), adata.obs_names,
        method=method, rel_threshold=rel_threshold, max_kmers_per_window=max_kmers_per_window,
    )
    scores.uns["motif_embedding"]["source"] = source
    scores.uns["motif_embedding"]["use_rep"] = use_rep
    key, groups = default_groups(adata, groupby, use_rep)
    scores.obs[key] = pd.Categorical(groups)
    means = group_means(scores.X, groups, scores.var_names)
    top_table = top_motifs_per_group(means, n=top, names=scores.var["name"].tolist())
    top_table.insert(0, "groupby", key)

    out.mkdir(parents=True, exist_ok=True)
    write_h5ad(scores, out / "motif_scores.h5ad")
    emb = pd.DataFrame(scores.varm[MOTIF_EMBEDDING_KEY], index=scores.var_names,
                       columns=[f"CS{i + 1}" for i in range(cs_model.dim)])
    emb.insert(0, "name", scores.var["name"].to_numpy())
    _tsv(emb, out / "motif_embedding.tsv")
    mean_df = means.T
    mean_df.insert(0, "name", scores.var["name"].to_numpy())
    _tsv(mean_df, out / f"mean_scores_by_{key}.tsv", index_label="motif_id")
    _tsv(top_table, out / f"top_motifs_by_{key}.tsv", index=False)
    if scores_tsv:
        write_score_tsv(scores, out / "motif_scores.tsv")
    sel = list(dict.fromkeys(top_table["motif_id"]))
    label = {m: f"{n} ({m})" for m, n in zip(scores.var_names, scores.var["name"], strict=True)}
    heat = means[sel].T
    heat.index = [label[m] for m in heat.index]
    fig = heatmap_figure(heat, title=f"top {top} motifs per {key} (mean z-score)", colorbar_label="mean z")
    save_figure(fig, out / f"top_motifs_by_{key}.png")
    log.info("wrote %s", out)
    return scores


def _tsv(df: pd.DataFrame, path: Path, index: bool = True, index_label: str | None = None) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index, index_label=index_label, float_format="%.6g")
