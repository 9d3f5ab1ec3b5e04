"""The inputs and options shared by the steps that evaluate embeddings (BENCH_SCORE, BENCH_BOOTSTRAP).

Both read one or more embedding files (``bench_run_method`` outputs, or any h5ad with
``obsm["X_<method>"]``) and optionally the trained cells (which add ``X_cellspace``), collect
their embeddings (:func:`cellspace.bench.evaluation.collect_embeddings`) and keep the cells to
evaluate (:func:`cellspace.bench.evaluation.evaluation_inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cellspace.bench.evaluation import Evaluation
from cellspace.steps.params import doc


@dataclass(kw_only=True)
class EvaluationParams:
    h5ad: list[Path] = field(metadata=doc(
        "AnnData file(s) with obsm['X_<method>'] embeddings of the same cells (the first gives the cells)",
        action="extend"))
    cells: Path | None = field(default=None, metadata=doc(
        "trained cells.h5ad: adds its X_cellspace when no embedding file holds one"))
    methods: list[str] = field(default_factory=list, metadata=doc(
        "methods to evaluate (obsm keys without 'X_'); default: the methods recorded in "
        "uns['bench_runs'] plus cellspace when X_cellspace exists", action="extend"))
    label_key: str = field(metadata=doc("obs column of cell types"))
    batch_key: str | None = field(default=None, metadata=doc("obs column of batches (batch metrics)"))
    label_exclude: list[str] = field(default_factory=list, metadata=doc(
        "cell-type labels excluded from evaluation (e.g. unknown)", action="extend"))
    subset_key: str | None = field(default=None, metadata=doc("obs column restricting the evaluated cells"))
    subset_values: list[str] = field(default_factory=list, metadata=doc(
        "values of --subset-key to keep", action="extend"))
    cosine: list[str] = field(default_factory=list, metadata=doc(
        "methods clustered with cosine distance (default: each method's own setting; "
        "cellspace methods use cosine)", action="extend"))
    n_neighbors: int = field(default=20, metadata=doc("k of the kNN graph"))
    cluster_method: str = field(default="leiden", metadata=doc(
        "community detection for the clusters", choices=("leiden", "louvain")))
    seed: int = field(default=0, metadata=doc("random seed"))

    def check(self) -> None:
        from cellspace.errors import ParameterError

        if self.n_neighbors < 2:
            raise ParameterError(f"--n-neighbors must be >= 2, got {self.n_neighbors}")
        if self.subset_key is not None and not self.subset_values:
            raise ParameterError("--subset-key needs --subset-values")


def read_evaluation(p: EvaluationParams) -> Evaluation:
    """Read the embedding files (and the trained cells), collect them, keep the evaluated cells."""
    from cellspace.bench.evaluation import collect_embeddings, evaluation_inputs
    from cellspace.io.anndata_io import read_anndata

    runs = [(str(f), read_anndata(f)) for f in p.h5ad]
    cells = (str(p.cells), read_anndata(p.cells)) if p.cells is not None else None
    collected = collect_embeddings(runs, cells)
    source = str(p.h5ad[0]) + (f" (and {len(p.h5ad) - 1} other file(s))" if len(p.h5ad) > 1 else "")
    return evaluation_inputs(collected, label_key=p.label_key, batch_key=p.batch_key, methods=p.methods,
                             label_exclude=p.label_exclude, subset_key=p.subset_key,
                             subset_values=p.subset_values, cosine=p.cosine, source=source)
