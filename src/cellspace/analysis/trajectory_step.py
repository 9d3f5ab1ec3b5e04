"""The ``trajectory`` step: Palantir on a cells file, with tables and plots."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.analysis.analyze import write_tsv
from cellspace.analysis.plotting import embedding_figure, save_figure
from cellspace.analysis.trajectory import run_palantir, terminal_state_labels
from cellspace.analysis.validate import check_same_run, read_cells, read_model
from cellspace.io import write_h5ad

log = logging.getLogger(__name__)

LABEL_KEYS = ("cell_type", "celltype", "label", "leiden", "louvain")


def run_trajectory(
    cells: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    use_rep: str = "X_cellspace",
    start_cell: str | None = None,
    start_group: str | None = None,
    terminal_states: Sequence[str] | None = None,
    n_components: int = 10,
    n_eigs: int | None = None,
    knn: int = 30,
    num_waypoints: int = 1200,
    seed: int = 0,
    plots: bool = True,
):
    """Run Palantir and write OUT/cells.h5ad, trajectory.tsv, terminal_states.tsv and PNGs."""
    out = Path(out)
    adata = read_cells(cells, use_rep=use_rep)
    if model is not None:
        check_same_run(read_model(model), adata, model, cells)
    res = run_palantir(adata, use_rep=use_rep, start_cell=start_cell, start_group=start_group,
                       terminal_states=terminal_states, n_components=n_components, n_eigs=n_eigs, knn=knn,
                       num_waypoints=num_waypoints, seed=seed)
    label_key = next((k for k in LABEL_KEYS if k in adata.obs.columns), None)
    log.info("start %s; %d terminal states; pseudotime in [%.3g, %.3g]", res.start_cell,
             len(res.terminal_states), res.pseudotime.min(), res.pseudotime.max())
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"pseudotime": res.pseudotime, "entropy": res.entropy})
    table = table.join(res.fate_probabilities.add_prefix("fate_"))
    table.index.name = "cell"
    write_tsv(table, out / "trajectory.tsv")
    labels = adata.obs[label_key].astype(str) if label_key else pd.Series(dtype=str)
    terms = terminal_state_labels(res, labels)
    terms.insert(0, "start_cell", res.start_cell)
    write_tsv(terms, out / "terminal_states.tsv", index=False)
    if plots:
        coords = adata.obsm.get("X_umap")
        if coords is None:
            from cellspace.analysis.umap import umap

            coords = umap(adata, use_rep=use_rep, seed=seed)
        pos = {c: i for i, c in enumerate(adata.obs_names)}
        marks = np.array([pos[res.start_cell]] + [pos[c] for c in res.terminal_states])
        save_figure(embedding_figure(coords, res.pseudotime.to_numpy(), "Palantir pseudotime",
                                     categorical=False, highlight=marks), out / "pseudotime.png")
        save_figure(embedding_figure(coords, res.entropy.to_numpy(), "Palantir entropy",
                                     categorical=False, highlight=marks), out / "entropy.png")
        for j, cell in enumerate(res.terminal_states):
            lab = f" ({labels.get(cell)})" if label_key else ""
            save_figure(embedding_figure(coords, res.fate_probabilities.iloc[:, j].to_numpy(),
                                         f"fate probability: {cell}{lab}", categorical=False,
                                         cmap="magma", highlight=np.array([pos[cell]])),
                        out / f"fate_{j + 1}.png")
    write_h5ad(adata, out / "cells.h5ad")
    log.info("wrote %s", out)
    return adata, res
