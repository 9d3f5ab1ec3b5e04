"""TRAJECTORY (``cellspace trajectory``): Palantir pseudotime, entropy and fate probabilities.

Runs Palantir on the (L2-normalised) CellSpace embedding from a start cell: given by id
(--start-cell), the cell of a group at an extreme of the diffusion space (--start-group
KEY=VALUE, as Palantir's early_cell), or else an extreme of the first diffusion component.
Writes, as a unit, DIR/cells.h5ad (obs palantir_pseudotime, palantir_entropy; obsm
palantir_fate_probabilities), trajectory.tsv, terminal_states.tsv and UMAP plots of
pseudotime, entropy and each fate.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellspace.analysis.validate import CLUSTER_COLUMNS, LABEL_COLUMNS
from cellspace.errors import ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "trajectory"
HELP = "Palantir pseudotime, entropy and fate probabilities on the embedding"
DESCRIPTION = __doc__
OUTPUTS = ("cells.h5ad", "trajectory.tsv", "terminal_states.tsv", "pseudotime.png", "entropy.png",
           "fate_*.png")


@dataclass
class TrajectoryParams:
    cells: Path = field(metadata=doc("cells.h5ad (from train or analyze)"))
    out: Path = field(metadata=doc("output folder"))
    model: Path | None = field(default=None, metadata=doc("model.npz of the same run (checked against the cells)"))
    use_rep: str = field(default="X_cellspace", metadata=doc("obsm key of the embedding"))
    start_cell: str | None = field(default=None, metadata=doc("id of the start cell"))
    start_group: str | None = field(default=None, metadata=doc(
        "KEY=VALUE: start at the cell with obs KEY == VALUE at an extreme of the diffusion space"))
    terminal_cells: list[str] | None = field(default=None, metadata=doc(
        "terminal cell ids (default: found by Palantir)"))
    n_components: int = field(default=10, metadata=doc("diffusion components"))
    n_eigs: int | None = field(default=None, metadata=doc(
        "eigenvectors of the multiscale space (default: Palantir's eigen-gap choice, searched "
        "further when it yields fewer than two terminal states)"))
    knn: int = field(default=30, metadata=doc("neighbours of Palantir's graphs"))
    num_waypoints: int = field(default=1200, metadata=doc("Palantir waypoints"))
    seed: int = field(default=0, metadata=doc("random seed"))
    plots: bool = field(default=True, metadata=doc("skip the plots (and the UMAP they need)", flag="--no-plots"))

    def validate(self) -> TrajectoryParams:
        if self.start_cell is not None and self.start_group is not None:
            raise ParameterError("give --start-cell or --start-group, not both")
        for name in ("n_components", "knn", "num_waypoints"):
            if getattr(self, name) < 2:
                raise ParameterError(f"--{name.replace('_', '-')} must be >= 2, got {getattr(self, name)}")
        if self.n_eigs is not None and not 1 <= self.n_eigs <= self.n_components:
            raise ParameterError(f"--n-eigs must be in 1..--n-components ({self.n_components}), got {self.n_eigs}")
        return self

    def check_cells(self, adata) -> None:
        n = adata.n_obs
        if self.n_components >= n:
            raise ParameterError(f"--n-components {self.n_components} must be below the {n} cells")
        if self.knn >= n:
            raise ParameterError(f"--knn {self.knn} must be below the {n} cells")
        if self.start_cell is not None and self.start_cell not in adata.obs_names:
            raise ParameterError(f"--start-cell {self.start_cell!r} is not a cell of {self.cells}")
        missing = [c for c in self.terminal_cells or () if c not in adata.obs_names]
        if missing:
            raise ParameterError(f"--terminal-cells: {missing[0]!r} is not a cell of {self.cells}")
        if self.start_group is not None:
            key, sep, _value = self.start_group.partition("=")
            if not sep:
                raise ParameterError(f"--start-group must be KEY=VALUE, got {self.start_group!r}")
            if key not in adata.obs.columns:
                raise ParameterError(f"--start-group: no obs column {key!r} in {self.cells}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, TrajectoryParams)


def trajectory(p: TrajectoryParams):
    """Run Palantir; write cells.h5ad, trajectory.tsv, terminal_states.tsv and PNGs as a unit."""
    import pandas as pd

    from cellspace.analysis.plotting import embedding_figure, save_figure
    from cellspace.analysis.trajectory import run_palantir, terminal_state_labels
    from cellspace.analysis.validate import check_same_run, read_cells, read_model
    from cellspace.atomic import atomic_dir, check_output_folder
    from cellspace.io import write_h5ad
    from cellspace.steps.resources import require_extras
    from cellspace.steps.tables import write_tsv

    p.validate()
    check_output_folder(p.out, OUTPUTS)
    require_extras(["palantir"] + (["umap"] if p.plots else []), "analysis", "trajectory")
    adata = read_cells(p.cells, use_rep=p.use_rep)
    p.check_cells(adata)
    if p.model is not None:
        check_same_run(read_model(p.model), adata, p.model, p.cells)
    res = run_palantir(adata, use_rep=p.use_rep, start_cell=p.start_cell, start_group=p.start_group,
                       terminal_states=p.terminal_cells, n_components=p.n_components, n_eigs=p.n_eigs,
                       knn=p.knn, num_waypoints=p.num_waypoints, seed=p.seed)
    label_key = next((k for k in LABEL_COLUMNS + CLUSTER_COLUMNS if k in adata.obs.columns), None)
    log.info("start %s; %d terminal states; pseudotime in [%.3g, %.3g]", res.start_cell,
             len(res.terminal_states), res.pseudotime.min(), res.pseudotime.max())
    with atomic_dir(p.out, outputs=OUTPUTS) as out:
        table = pd.DataFrame({"pseudotime": res.pseudotime, "entropy": res.entropy})
        table = table.join(res.fate_probabilities.add_prefix("fate_"))
        table.index.name = "cell"
        write_tsv(table, out / "trajectory.tsv")
        labels = adata.obs[label_key].astype(str) if label_key else pd.Series(dtype=str)
        terms = terminal_state_labels(res, labels)
        terms.insert(0, "start_cell", res.start_cell)
        write_tsv(terms, out / "terminal_states.tsv", index=False)
        if p.plots:
            coords = adata.obsm.get("X_umap")
            if coords is None:
                from cellspace.analysis.umap import umap

                coords = umap(adata, use_rep=p.use_rep, seed=p.seed)
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
    log.info("wrote %s", p.out)
    return adata, res


def run(args: argparse.Namespace) -> int:
    trajectory(from_args(TrajectoryParams, args))
    return 0
