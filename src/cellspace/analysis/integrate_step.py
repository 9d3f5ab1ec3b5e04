"""The ``integrate`` step: batch correction (anchors or Harmony) of a cells file, with optional
before/after metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from cellspace.analysis.integrate import integrate, integration_metrics
from cellspace.analysis.validate import (
    check_same_run,
    embedding_of,
    obs_column,
    read_cells,
    read_model,
)
from cellspace.atomic import atomic_path
from cellspace.errors import ParameterError
from cellspace.io import write_h5ad

log = logging.getLogger(__name__)


def run_integrate(
    cells: str | Path,
    out: str | Path,
    batch_key: str,
    reference: str | None = None,
    method: str = "anchors",
    model: str | Path | None = None,
    use_rep: str = "X_cellspace",
    key_added: str = "X_cellspace_integrated",
    k_anchor: int = 5,
    k_filter: int | None = 200,
    k_score: int = 30,
    k_weight: int = 100,
    sd: float = 1.0,
    center: bool = True,
    space: str = "raw",
    anchors_path: str | Path | None = None,
    label_key: str | None = None,
):
    """Correct the embedding of ``cells`` and write the AnnData to ``out``; returns it."""
    out = Path(out)
    if out.suffix != ".h5ad":
        raise ParameterError(f"--out must be an .h5ad file path, got {out}")
    adata = read_cells(cells, use_rep=use_rep)
    if model is not None:
        check_same_run(read_model(model), adata, model, cells)
    obs_column(adata, batch_key, "batch column (--batch-key)")
    obs_column(adata, label_key, "label column (--label-key)")
    anchor_params = dict(k_anchor=k_anchor, k_filter=k_filter, k_score=k_score, k_weight=k_weight,
                         sd=sd, center=center, space=space)
    anchors = integrate(adata, batch_key, reference, method=method, use_rep=use_rep, key_added=key_added,
                        **(anchor_params if method == "anchors" else {}))
    if label_key is not None:
        b = adata.obs[batch_key].astype(str).to_numpy()
        y = adata.obs[label_key].astype(str).to_numpy()
        before = integration_metrics(embedding_of(adata, use_rep), b, y)
        after = integration_metrics(embedding_of(adata, key_added), b, y)
        for name in before:
            log.info("%s: %.3f -> %.3f", name, before[name], after[name])
        adata.uns["integration"]["metrics"] = {"before": before, "after": after, "label_key": label_key}
    if anchors_path is not None and anchors:
        ids = adata.obs_names.to_numpy()
        batches = adata.obs[batch_key].astype(str).to_numpy()
        ref_ids = ids[batches == str(reference)]
        tables = [a.to_frame(ref_ids, ids[batches == q]).assign(query_batch=q) for q, a in anchors.items()]
        with atomic_path(anchors_path) as tmp:
            pd.concat(tables, ignore_index=True).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    write_h5ad(adata, out)
    log.info("wrote %s (obsm[%r])", out, key_added)
    return adata


__all__ = ["run_integrate"]
