"""MOTIFS (``cellspace motifs``): TF motif embedding and single-cell TF activity scores.

Embeds the motifs of a database (a JASPAR release bundled offline, or a JASPAR, MEME or HOMER
file) in the model's latent space and scores every cell: cosine(cell, motif), z-scored across
cells per motif. Writes, as a unit, DIR/motif_scores.h5ad (cells x motifs; varm['embedding']
holds the motif vectors), motif_embedding.tsv, mean scores and top motifs per group (TSV), a
heatmap (PNG) and, with --scores-tsv, motif_scores.tsv.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.analysis.motif_db import DEFAULT_COLLECTION, DEFAULT_RELEASE, DEFAULT_TAXON, FORMATS
from cellspace.analysis.motifs import (
    DEFAULT_MAX_KMERS,
    DEFAULT_METHOD,
    DEFAULT_REL_THRESHOLD,
    EMBEDDING_METHODS,
)
from cellspace.errors import ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "motifs"
HELP = "embed TF motifs and score every cell's TF activity"
DESCRIPTION = __doc__
OUTPUTS = ("motif_scores.h5ad", "motif_embedding.tsv", "mean_scores_by_*.tsv", "top_motifs_by_*.tsv",
           "top_motifs_by_*.png", "motif_scores.tsv")


@dataclass
class MotifsParams:
    model: Path = field(metadata=doc("model.npz of the training run"))
    cells: Path = field(metadata=doc("cells.h5ad of the same run"))
    out: Path = field(metadata=doc("output folder"))
    jaspar_release: str = field(default=DEFAULT_RELEASE, metadata=doc("JASPAR release bundled with pyjaspar"))
    collection: str = field(default=DEFAULT_COLLECTION, metadata=doc("JASPAR collection"))
    taxon: str = field(default=DEFAULT_TAXON, metadata=doc(
        "JASPAR taxonomic group (vertebrates, insects, plants, ...; 'all' for every one)"))
    motif_file: Path | None = field(default=None, metadata=doc("motif file instead of JASPAR"))
    motif_format: str | None = field(default=None, metadata=doc(
        "format of --motif-file (default: guessed)", choices=FORMATS))
    method: str = field(default=DEFAULT_METHOD, metadata=doc(
        "motif embedding: consensus k-mers, or a PWM-weighted ensemble of high-scoring k-mers",
        choices=EMBEDDING_METHODS))
    rel_threshold: float = field(default=DEFAULT_REL_THRESHOLD, metadata=doc(
        "ensemble: k-mers scoring >= min + t * (max - min) of a motif window"))
    max_kmers_per_window: int = field(default=DEFAULT_MAX_KMERS, metadata=doc(
        "ensemble: at most this many (best) k-mers per motif window"))
    groupby: str | None = field(default=None, metadata=doc(
        "obs column to summarise scores by (default: leiden/louvain/cell_type if present, else "
        "fresh Leiden clusters)"))
    top: int = field(default=5, metadata=doc("motifs per group in the top table and heatmap"))
    use_rep: str = field(default="X_cellspace", metadata=doc("obsm key of the cell embedding"))
    scores_tsv: bool = field(default=False, metadata=doc(
        "also write the cells x motifs z-scores as TSV (large and slow for many cells)"))

    def validate(self) -> MotifsParams:
        from cellspace.analysis.motif_db import check_release

        if not 0.0 <= self.rel_threshold <= 1.0:
            raise ParameterError(f"--rel-threshold must be in [0, 1], got {self.rel_threshold}")
        if self.max_kmers_per_window < 1:
            raise ParameterError(f"--max-kmers-per-window must be >= 1, got {self.max_kmers_per_window}")
        if self.top < 1:
            raise ParameterError(f"--top must be >= 1, got {self.top}")
        if self.motif_file is None:
            check_release(self.jaspar_release)
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, MotifsParams)


def motifs(p: MotifsParams):
    """Embed motifs, score cells; write motif_scores.h5ad, TSVs and a heatmap as a unit.

    The full cells x motifs TSV (``scores_tsv``) is off by default: for 20,000 cells and 879
    motifs it is 17.6 million numbers and takes pandas about a minute to write.
    """
    import numpy as np
    import pandas as pd

    from cellspace.analysis.clustering import summary_groups
    from cellspace.analysis.motif_db import load_motifs
    from cellspace.analysis.motifs import (
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
    from cellspace.atomic import atomic_dir, check_output_folder
    from cellspace.io import write_h5ad
    from cellspace.steps.tables import write_tsv

    p.validate()
    check_output_folder(p.out, OUTPUTS)
    adata = read_cells(p.cells, use_rep=p.use_rep)
    obs_column(adata, p.groupby, "column for --groupby")
    cs_model = read_model(p.model)
    check_same_run(cs_model, adata, p.model, p.cells)
    taxon = None if p.taxon in ("all", "") else p.taxon
    database = load_motifs(p.motif_file, p.motif_format, p.jaspar_release, p.collection, taxon)
    source = str(p.motif_file) if p.motif_file is not None else f"{p.jaspar_release} {p.collection} {taxon or 'all taxa'}"
    log.info("embedding %d motifs from %s (%s)", len(database), source, p.method)
    scores = motif_scores_for_cells(
        cs_model, database, embedding_of(adata, p.use_rep), adata.obs_names,
        method=p.method, rel_threshold=p.rel_threshold, max_kmers_per_window=p.max_kmers_per_window,
    )
    scores.uns["motif_embedding"]["source"] = source
    scores.uns["motif_embedding"]["use_rep"] = p.use_rep
    key, groups = summary_groups(adata, p.groupby, p.use_rep)
    scores.obs[key] = pd.Categorical(groups)
    means = group_means(scores.X, groups, scores.var_names)
    top_table = top_motifs_per_group(means, n=p.top, names=scores.var["name"].tolist())
    top_table.insert(0, "groupby", key)
    with atomic_dir(p.out, outputs=OUTPUTS) as out:
        write_h5ad(scores, out / "motif_scores.h5ad")
        emb = pd.DataFrame(scores.varm[MOTIF_EMBEDDING_KEY], index=scores.var_names,
                           columns=[f"CS{i + 1}" for i in range(cs_model.dim)])
        emb.insert(0, "name", scores.var["name"].to_numpy())
        write_tsv(emb, out / "motif_embedding.tsv", float_format="%.6g")
        mean_df = means.T
        mean_df.insert(0, "name", scores.var["name"].to_numpy())
        write_tsv(mean_df, out / f"mean_scores_by_{key}.tsv", index_label="motif_id", float_format="%.6g")
        write_tsv(top_table, out / f"top_motifs_by_{key}.tsv", index=False, float_format="%.6g")
        if p.scores_tsv:
            df = pd.DataFrame(np.asarray(scores.X), index=scores.obs_names, columns=scores.var_names)
            write_tsv(df, out / "motif_scores.tsv", index_label="cell", float_format="%.4g")
        sel = list(dict.fromkeys(top_table["motif_id"]))
        label = {m: f"{n} ({m})" for m, n in zip(scores.var_names, scores.var["name"], strict=True)}
        heat = means[sel].T
        heat.index = [label[m] for m in heat.index]
        fig = heatmap_figure(heat, title=f"top {p.top} motifs per {key} (mean z-score)", colorbar_label="mean z")
        save_figure(fig, out / f"top_motifs_by_{key}.png")
    log.info("wrote %s", p.out)
    return scores


def run(args: argparse.Namespace) -> int:
    motifs(from_args(MotifsParams, args))
    return 0
