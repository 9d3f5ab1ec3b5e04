"""``cellspace trajectory``: Palantir pseudotime, entropy and fate probabilities."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "trajectory",
        help="Palantir pseudotime, entropy and fate probabilities on the embedding",
        description=(
            "Run Palantir on the (L2-normalised) CellSpace embedding from a start cell: given by id "
            "(--start-cell), the cell of a group at an extreme of the diffusion space (--start-group "
            "KEY=VALUE, as Palantir's early_cell), or else an extreme of the first diffusion component. Writes DIR/cells.h5ad (obs palantir_pseudotime, "
            "palantir_entropy; obsm palantir_fate_probabilities), trajectory.tsv, "
            "terminal_states.tsv and UMAP plots of pseudotime, entropy and each fate."
        ),
    )
    p.add_argument("--cells", required=True, type=Path, help="cells.h5ad (from train or analyze)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--model", type=Path, help="model.npz of the same run (checked against the cells)")
    p.add_argument("--use-rep", default="X_cellspace", help="obsm key of the embedding")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--start-cell", help="id of the start cell")
    start.add_argument("--start-group", help="KEY=VALUE: start at the cell with obs KEY == VALUE at an extreme of the diffusion space")
    p.add_argument("--terminal-cells", nargs="+", help="terminal cell ids (default: found by Palantir)")
    p.add_argument("--n-components", type=int, default=10, help="diffusion components")
    p.add_argument("--n-eigs", type=int, default=None,
                   help="eigenvectors of the multiscale space (default: Palantir's eigen-gap choice, "
                   "searched further when it yields fewer than two terminal states)")
    p.add_argument("--knn", type=int, default=30, help="neighbours of Palantir's graphs")
    p.add_argument("--num-waypoints", type=int, default=1200, help="Palantir waypoints")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-plots", action="store_true", help="skip the plots (and the UMAP they need)")
    return p


def run(args: argparse.Namespace) -> int:
    from cellspace.analysis.trajectory_step import run_trajectory
    from cellspace.errors import ParameterError

    for name in ("n_components", "knn", "num_waypoints"):
        if getattr(args, name) < 2:
            raise ParameterError(f"--{name.replace('_', '-')} must be >= 2, got {getattr(args, name)}")
    run_trajectory(
        cells=args.cells, out=args.out, model=args.model, use_rep=args.use_rep,
        start_cell=args.start_cell, start_group=args.start_group, terminal_states=args.terminal_cells,
        n_components=args.n_components, n_eigs=args.n_eigs, knn=args.knn, num_waypoints=args.num_waypoints,
        seed=args.seed, plots=not args.no_plots,
    )
    return 0
