"""The ``denovo`` step: de novo motifs of cell groups, their database matches, logos and scores."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cellspace.analysis.denovo import DenovoResult, denovo_motifs, motif_table
from cellspace.analysis.graph import knn_graph
from cellspace.analysis.motif_db import (
    DEFAULT_COLLECTION,
    DEFAULT_RELEASE,
    DEFAULT_TAXON,
    load_motifs,
    write_motifs,
)
from cellspace.analysis.motif_step import default_groups
from cellspace.analysis.motifs import MOTIF_EMBEDDING_KEY, cosine_scores, zscore_columns
from cellspace.analysis.plotting import save_figure
from cellspace.analysis.validate import (
    check_same_run,
    embedding_of,
    read_cells,
    read_model,
)
from cellspace.atomic import atomic_path
from cellspace.io import write_h5ad
from cellspace.model import l2_normalize
from cellspace.steps.tables import write_tsv

log = logging.getLogger(__name__)


def smooth_cells(x: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Each cell replaced by the mean of its ``n_neighbors`` nearest cells (itself included)."""
    xn = l2_normalize(np.asarray(x, np.float32))
    if n_neighbors <= 1:
        return xn
    knn = knn_graph(xn, n_neighbors=n_neighbors)
    return l2_normalize(xn[knn.indices].mean(axis=1))


def logo_figure(result: DenovoResult, table: pd.DataFrame, max_motifs: int = 24) -> Figure:
    """Information-content logos of the largest de novo motifs with their best database match
    (logomaker draws about one logo per second)."""
    import logomaker

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


def run_denovo(
    model: str | Path,
    cells: str | Path,
    out: str | Path,
    groupby: str | None = None,
    use_rep: str = "X_cellspace",
    length: int = 10,
    n_neighbors: int = 50,
    min_fraction: float = 0.2,
    cut: float = 0.5,
    min_members: int = 4,
    max_cells_per_group: int | None = 500,
    smooth: int = 0,
    selection: str = "contrast",
    n_top: int = 200,
    compare: bool = True,
    max_logos: int = 24,
    motif_file: str | Path | None = None,
    motif_format: str | None = None,
    release: str = DEFAULT_RELEASE,
    collection: str = DEFAULT_COLLECTION,
    taxon: str | None = DEFAULT_TAXON,
    seed: int = 0,
) -> DenovoResult:
    """De novo motifs of each cell group; writes motifs (MEME, JASPAR), tables, logos, scores."""
    out = Path(out)
    adata = read_cells(cells, use_rep=use_rep)
    cs_model = read_model(model)
    check_same_run(cs_model, adata, model, cells)
    key, groups = default_groups(adata, groupby, use_rep, seed)
    database = load_motifs(motif_file, motif_format, release, collection, taxon) if compare else None
    x = smooth_cells(embedding_of(adata, use_rep), smooth)
    log.info("de novo motifs of %d groups (%s)%s", len(np.unique(groups)), key,
             f", cells smoothed over {smooth} neighbours" if smooth > 1 else "")
    result = denovo_motifs(cs_model, x, groups, length=length, n_neighbors=n_neighbors,
                           min_fraction=min_fraction, cut=cut, min_members=min_members,
                           max_cells_per_group=max_cells_per_group, database=database,
                           selection=selection, n_top=n_top, seed=seed)
    result.params.update(groupby=key, smooth=int(smooth), use_rep=use_rep)
    table = motif_table(result)
    log.info("%d de novo motifs", len(result.motifs))

    out.mkdir(parents=True, exist_ok=True)
    write_tsv(table, out / "denovo_motifs.tsv", index=False)
    write_tsv(result.group_lmers, out / f"{length}mers_by_{key}.tsv", index=False)
    motifs = [m.as_motif() for m in result.motifs]
    write_motifs(motifs, out / "denovo_motifs.meme", "meme")
    write_motifs(motifs, out / "denovo_motifs.jaspar", "jaspar")
    with atomic_path(out / "denovo_alignments.txt") as tmp:
        tmp.write_text("".join(f">{m.id}\tgroup={m.group}\tseed={m.seed}\n" + "\n".join(m.aligned) + "\n"
                               for m in result.motifs))
    if compare and result.motifs:
        matches = pd.concat([m.matches.assign(motif_id=m.id) for m in result.motifs if m.matches is not None],
                            ignore_index=True)
        write_tsv(matches[["motif_id", "target_id", "target_name", "similarity", "offset", "strand"]],
                  out / "denovo_matches.tsv", index=False)
    if max_logos > 0:
        save_figure(logo_figure(result, table, max_logos), out / "denovo_logos.png")
    if result.motifs:
        _write_scores(adata, result, embedding_of(adata, use_rep), out / "denovo_scores.h5ad")
    log.info("wrote %s", out)
    return result


def _write_scores(adata, result: DenovoResult, x: np.ndarray, path: Path) -> None:
    """cells x de novo motifs activity z-scores, in the layout of motif_scores.h5ad."""
    import anndata as ad

    vecs = np.stack([m.embedding for m in result.motifs]).astype(np.float32)
    cos = cosine_scores(x, vecs)
    var = pd.DataFrame({"name": [m.id for m in result.motifs],
                        "group": [m.group for m in result.motifs],
                        "consensus": [m.as_motif().consensus for m in result.motifs]},
                       index=pd.Index([m.id for m in result.motifs], name="motif_id"))
    scores = ad.AnnData(X=zscore_columns(cos), obs=pd.DataFrame(index=adata.obs_names.copy()), var=var)
    scores.layers["cosine"] = cos
    scores.varm[MOTIF_EMBEDDING_KEY] = vecs
    scores.uns["denovo"] = dict(result.params)
    write_h5ad(scores, path)
