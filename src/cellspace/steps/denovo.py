"""DENOVO (``cellspace denovo``): de novo motifs from the L-mer neighbours of cell groups.

Embeds every 10-mer (mean of its k-mer rows), finds each cell's 50 nearest 10-mers, keeps per
cell group the 10-mers near >= 20% of its cells, clusters them by sequence, aligns each cluster
of more than 3 into a PWM and compares it with a motif database. Writes, as a unit,
DIR/denovo_motifs.{tsv,meme,jaspar}, denovo_matches.tsv, denovo_alignments.txt, the selected
10-mers, denovo_logos.png and denovo_scores.h5ad (cells x motifs).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.analysis.motif_db import DEFAULT_COLLECTION, DEFAULT_RELEASE, DEFAULT_TAXON, FORMATS
from cellspace.errors import ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "denovo"
HELP = "discover de novo motifs from the embedding and match them to known motifs"
DESCRIPTION = __doc__
OUTPUTS = ("denovo_motifs.tsv", "denovo_motifs.meme", "denovo_motifs.jaspar", "denovo_matches.tsv",
           "denovo_alignments.txt", "*mers_by_*.tsv", "denovo_logos.png", "denovo_scores.h5ad")


@dataclass
class DenovoParams:
    model: Path = field(metadata=doc("model.npz of the training run"))
    cells: Path = field(metadata=doc("cells.h5ad of the same run"))
    out: Path = field(metadata=doc("output folder"))
    groupby: str | None = field(default=None, metadata=doc(
        "obs column of cell groups (default: leiden/louvain/cell_type if present, else fresh Leiden clusters)"))
    use_rep: str = field(default="X_cellspace", metadata=doc("obsm key of the cell embedding"))
    length: int = field(default=10, metadata=doc("length of the candidate words (L-mers)"))
    n_neighbors: int = field(default=50, metadata=doc("nearest L-mers per cell (K)"))
    min_fraction: float = field(default=0.2, metadata=doc(
        "keep L-mers among the neighbours of at least this fraction of a group's cells"))
    cut: float = field(default=0.5, metadata=doc("height at which the L-mer tree is cut"))
    min_members: int = field(default=4, metadata=doc("smallest L-mer cluster turned into a motif"))
    max_cells_per_group: int = field(default=500, metadata=doc(
        "estimate each group's fractions from at most this many random cells (0: all)"))
    smooth: int = field(default=0, metadata=doc(
        "average each cell with its nearest cells (this many, itself included) before the cell -> "
        "L-mer search; 0 = off, as the paper"))
    selection: str = field(default="contrast", metadata=doc(
        "how a group's L-mers are chosen: 'contrast' (default) = the --n-top L-mers closest to the "
        "group's centroid relative to the other groups' centroids; 'cells' = the paper's, neighbours "
        "of >= --min-fraction of the group's cells (finds no or generic motifs when single cells are "
        "noisy, see docs/benchmarks.md)", choices=("cells", "contrast")))
    n_top: int = field(default=200, metadata=doc("L-mers per group with --selection contrast"))
    max_logos: int = field(default=24, metadata=doc("logos drawn (largest motifs first; 0: none)"))
    compare: bool = field(default=True, metadata=doc("skip the database comparison", flag="--no-compare"))
    jaspar_release: str = field(default=DEFAULT_RELEASE, metadata=doc("JASPAR release for the comparison"))
    collection: str = field(default=DEFAULT_COLLECTION, metadata=doc("JASPAR collection"))
    taxon: str = field(default=DEFAULT_TAXON, metadata=doc("JASPAR taxonomic group ('all': every one)"))
    motif_file: Path | None = field(default=None, metadata=doc(
        "compare with the motifs of this file instead of JASPAR"))
    motif_format: str | None = field(default=None, metadata=doc(
        "format of --motif-file (default: guessed)", choices=FORMATS))
    seed: int = field(default=0, metadata=doc("random seed (cell sampling, clustering)"))

    def validate(self) -> DenovoParams:
        from cellspace.analysis.motif_db import check_release

        checks = [
            (0 < self.min_fraction <= 1, f"--min-fraction must be in (0, 1], got {self.min_fraction}"),
            (self.n_neighbors >= 1, f"--n-neighbors must be >= 1, got {self.n_neighbors}"),
            (self.min_members >= 1, f"--min-members must be >= 1, got {self.min_members}"),
            (0 < self.cut <= 1, f"--cut must be in (0, 1], got {self.cut}"),
            (self.max_cells_per_group >= 0, f"--max-cells-per-group must be >= 0, got {self.max_cells_per_group}"),
            (self.smooth >= 0, f"--smooth must be >= 0, got {self.smooth}"),
            (self.n_top >= 1, f"--n-top must be >= 1, got {self.n_top}"),
            (self.max_logos >= 0, f"--max-logos must be >= 0, got {self.max_logos}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ParameterError(msg)
        if self.compare and self.motif_file is None:
            check_release(self.jaspar_release)
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, DenovoParams)


def denovo(p: DenovoParams):
    """De novo motifs of each cell group; writes motifs (MEME, JASPAR), tables, logos, scores."""
    import numpy as np

    from cellspace.analysis.clustering import summary_groups
    from cellspace.analysis.denovo import denovo_motifs, denovo_scores, motif_table, smooth_cells
    from cellspace.analysis.motif_db import load_motifs, write_motifs
    from cellspace.analysis.plotting import logo_figure, save_figure
    from cellspace.analysis.validate import (
        check_same_run,
        embedding_of,
        obs_column,
        read_cells,
        read_model,
    )
    from cellspace.atomic import atomic_dir, check_output_folder
    from cellspace.io import write_h5ad
    from cellspace.steps.resources import require_extras
    from cellspace.steps.tables import write_tsv

    p.validate()
    check_output_folder(p.out, OUTPUTS)
    if p.max_logos > 0:
        require_extras(["logomaker"], "analysis", "denovo logos (--max-logos 0 draws none)")
    adata = read_cells(p.cells, use_rep=p.use_rep)
    obs_column(adata, p.groupby, "column for --groupby")
    cs_model = read_model(p.model)
    check_same_run(cs_model, adata, p.model, p.cells)
    key, groups = summary_groups(adata, p.groupby, p.use_rep, p.seed)
    taxon = None if p.taxon in ("all", "") else p.taxon
    database = load_motifs(p.motif_file, p.motif_format, p.jaspar_release, p.collection, taxon) if p.compare else None
    x = smooth_cells(embedding_of(adata, p.use_rep), p.smooth)
    log.info("de novo motifs of %d groups (%s)%s", len(np.unique(groups)), key,
             f", cells smoothed over {p.smooth} neighbours" if p.smooth > 1 else "")
    result = denovo_motifs(cs_model, x, groups, length=p.length, n_neighbors=p.n_neighbors,
                           min_fraction=p.min_fraction, cut=p.cut, min_members=p.min_members,
                           max_cells_per_group=p.max_cells_per_group or None, database=database,
                           selection=p.selection, n_top=p.n_top, seed=p.seed)
    result.params.update(groupby=key, smooth=int(p.smooth), use_rep=p.use_rep)
    table = motif_table(result)
    log.info("%d de novo motifs", len(result.motifs))
    with atomic_dir(p.out, outputs=OUTPUTS) as out:
        write_tsv(table, out / "denovo_motifs.tsv", index=False)
        write_tsv(result.group_lmers, out / f"{p.length}mers_by_{key}.tsv", index=False)
        found = [m.as_motif() for m in result.motifs]
        write_motifs(found, out / "denovo_motifs.meme", "meme")
        write_motifs(found, out / "denovo_motifs.jaspar", "jaspar")
        (out / "denovo_alignments.txt").write_text(
            "".join(f">{m.id}\tgroup={m.group}\tseed={m.seed}\n" + "\n".join(m.aligned) + "\n"
                    for m in result.motifs))
        if p.compare and result.motifs:
            import pandas as pd

            matches = pd.concat([m.matches.assign(motif_id=m.id) for m in result.motifs
                                 if m.matches is not None], ignore_index=True)
            write_tsv(matches[["motif_id", "target_id", "target_name", "similarity", "offset", "strand"]],
                      out / "denovo_matches.tsv", index=False)
        if p.max_logos > 0:
            save_figure(logo_figure(result, table, p.max_logos), out / "denovo_logos.png")
        if result.motifs:
            write_h5ad(denovo_scores(adata, result, embedding_of(adata, p.use_rep)), out / "denovo_scores.h5ad")
    log.info("wrote %s", p.out)
    return result


def run(args: argparse.Namespace) -> int:
    denovo(from_args(DenovoParams, args))
    return 0
