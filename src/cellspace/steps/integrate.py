"""INTEGRATE (``cellspace integrate``): batch correction of the CellSpace embedding.

Seurat v3 anchor integration in the CellSpace space: mutual nearest neighbours between the
reference batch and each query batch, filtered and scored by shared neighbours, give per-cell
correction vectors (Gaussian-kernel weighted over the nearest anchors) that are applied to the
query cells (reference cells unchanged). --method harmony runs Harmony (harmonypy, the [bench]
extra) on the L2-normalised vectors instead. Writes a copy of the cells AnnData with
obsm['X_cellspace_integrated'] (L2-normalised).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import OutputError, ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "integrate"
HELP = "correct batch effects with Seurat-style anchors (or Harmony) in the CellSpace space"
DESCRIPTION = __doc__


@dataclass
class IntegrateParams:
    cells: Path = field(metadata=doc("cells.h5ad with the embedding"))
    batch_key: str = field(metadata=doc("obs column with the batches (e.g. dataset, batch)"))
    out: Path = field(metadata=doc("output .h5ad path"))
    method: str = field(default="anchors", metadata=doc(
        "anchors: Seurat v3-style anchor correction towards --reference (default); harmony: Harmony "
        "on every batch (no reference; the anchor options do not apply)", choices=("anchors", "harmony")))
    reference: str | None = field(default=None, metadata=doc(
        "the reference batch (a value of --batch-key); required with anchors"))
    model: Path | None = field(default=None, metadata=doc("model.npz of the same run (only checked against the cells)"))
    use_rep: str = field(default="X_cellspace", metadata=doc("obsm key of the embedding to correct"))
    key_added: str = field(default="X_cellspace_integrated", metadata=doc("obsm key of the result"))
    k_anchor: int = field(default=5, metadata=doc("neighbours for mutual-neighbour anchors"))
    k_filter: int = field(default=200, metadata=doc("neighbours for anchor filtering (0: none)"))
    k_score: int = field(default=30, metadata=doc("neighbours for shared-neighbour anchor scores"))
    k_weight: int = field(default=300, metadata=doc("anchors per query cell in the correction"))
    sd: float = field(default=1.0, metadata=doc("bandwidth of the Gaussian anchor weighting"))
    min_score: float = field(default=0.6, metadata=doc(
        "drop anchors whose shared-neighbour score is below this fraction of the median score "
        "(anchors between different cell types score low; 0: keep all)"))
    center: bool = field(default=False, metadata=doc(
        "remove each batch's mean vector before the anchor search (helps against a global shift of "
        "the trained vectors; pairs cell types wrongly when the batches' compositions differ)"))
    space: str = field(default="unit", metadata=doc(
        "vectors the anchor differences are taken and applied in: 'unit' = L2-normalised (default), "
        "'raw' = the embedding as trained (removes an additive shift exactly)", choices=("raw", "unit")))
    anchors: Path | None = field(default=None, metadata=doc("also write the anchor table (TSV) here"))
    label_key: str | None = field(default=None, metadata=doc(
        "obs column of cell types: log batch ASW, kBET and ARI before/after (stored in "
        "uns['integration']['metrics'])"))

    def validate(self) -> IntegrateParams:
        for name in ("k_anchor", "k_score", "k_weight"):
            if getattr(self, name) < 1:
                raise ParameterError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.k_filter < 0:
            raise ParameterError(f"--k-filter must be >= 0, got {self.k_filter}")
        if not self.sd > 0:
            raise ParameterError(f"--sd must be > 0, got {self.sd}")
        if not 0 <= self.min_score < 1:
            raise ParameterError(f"--min-score must be in [0, 1), got {self.min_score}")
        if self.method == "anchors" and self.reference is None:
            raise ParameterError("--reference is required with --method anchors")
        if self.method == "harmony" and self.reference is not None:
            raise ParameterError("--reference does not apply to --method harmony (it corrects every batch)")
        if self.method == "harmony" and self.anchors is not None:
            raise ParameterError("--anchors does not apply to --method harmony (it has no anchors)")
        if self.out.suffix != ".h5ad":
            raise ParameterError(f"--out must be an .h5ad file path, got {self.out}")
        for path in (self.out, self.anchors):
            if path is not None and path.is_dir():
                raise OutputError("is a folder; give a file name", path)
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, IntegrateParams)


def integrate_cells(p: IntegrateParams):
    """Correct the embedding of ``p.cells``; write the AnnData (and the anchors); returns it."""
    import pandas as pd

    from cellspace.analysis.integrate import integrate, integration_metrics
    from cellspace.analysis.validate import (
        check_same_run,
        embedding_of,
        obs_column,
        read_cells,
        read_model,
    )
    from cellspace.io import write_h5ad
    from cellspace.steps.tables import write_tsv

    p.validate()
    if p.method == "harmony":
        from cellspace.steps.resources import require_extras

        require_extras(["harmonypy"], "bench", "integrate --method harmony")
    adata = read_cells(p.cells, use_rep=p.use_rep)
    if p.model is not None:
        check_same_run(read_model(p.model), adata, p.model, p.cells)
    obs_column(adata, p.batch_key, "batch column (--batch-key)")
    obs_column(adata, p.label_key, "label column (--label-key)")
    batches = adata.obs[p.batch_key].astype(str).to_numpy()
    if p.reference is not None and str(p.reference) not in set(batches):
        raise ParameterError(f"--reference {p.reference!r} is no value of obs[{p.batch_key!r}] "
                             f"(values: {', '.join(sorted(set(batches))[:10])})")
    anchor_params = dict(k_anchor=p.k_anchor, k_filter=p.k_filter or None, k_score=p.k_score,
                         k_weight=p.k_weight, sd=p.sd, min_score=p.min_score, center=p.center,
                         space=p.space)
    anchors = integrate(adata, p.batch_key, p.reference, method=p.method, use_rep=p.use_rep,
                        key_added=p.key_added, **(anchor_params if p.method == "anchors" else {}))
    if p.label_key is not None:
        y = adata.obs[p.label_key].astype(str).to_numpy()
        before = integration_metrics(embedding_of(adata, p.use_rep), batches, y)
        after = integration_metrics(embedding_of(adata, p.key_added), batches, y)
        for name in before:
            log.info("%s: %.3f -> %.3f", name, before[name], after[name])
        adata.uns["integration"]["metrics"] = {"before": before, "after": after, "label_key": p.label_key}
    if p.anchors is not None and anchors:
        ids = adata.obs_names.to_numpy()
        ref_ids = ids[batches == str(p.reference)]
        tables = [a.to_frame(ref_ids, ids[batches == q]).assign(query_batch=q) for q, a in anchors.items()]
        write_tsv(pd.concat(tables, ignore_index=True), p.anchors, index=False, float_format="%.6g")
    write_h5ad(adata, p.out)
    log.info("wrote %s (obsm[%r])", p.out, p.key_added)
    return adata


def run(args: argparse.Namespace) -> int:
    integrate_cells(from_args(IntegrateParams, args))
    return 0
