"""MAP_CELLS (``cellspace map``): place new cells in a trained model's space.

Reads a model (``model.npz`` of ``cellspace train``) and one or more new datasets, trains only
the new cells' rows with every k-mer and n-gram row of the model frozen (bit-identical), and
writes OUT/cells.h5ad with ``obsm["X_cellspace"]`` in the model's space. The new datasets' events
may be another atlas (peaks or tiles): cells are placed through their events' sequences.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import ParameterError
from cellspace.mapping import MAP_LR
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "map"
HELP = "map new cells into a trained model (k-mer and n-gram rows frozen)"
DESCRIPTION = __doc__
OUTPUTS = ("cells.h5ad",)


@dataclass
class MapOptions:
    model: Path = field(metadata=doc("trained model (model.npz of cellspace train)", metavar="NPZ"))
    out: Path = field(metadata=doc("output folder (cells.h5ad)", metavar="DIR"))
    epochs: int | None = field(default=None, metadata=doc(
        "training epochs of the new cell rows (default: the model's)", metavar="N"))
    lr: float = field(default=MAP_LR, metadata=doc(
        "learning rate of the new cell rows (they start at the projection of their events)"))
    threads: int = field(default_factory=lambda: max(1, len(os.sched_getaffinity(0))),
                         metadata=doc("training threads (default: CPUs available)"))
    seed: int = field(default=0, metadata=doc("random seed"))
    progress: str = field(default="auto", metadata=doc(
        "progress bar (auto: only on a terminal)", choices=("auto", "yes", "no")))

    def validate(self) -> MapOptions:
        if self.epochs is not None and self.epochs < 1:
            raise ParameterError(f"--epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise ParameterError(f"--lr must be > 0, got {self.lr}")
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cellspace.io.load import add_input_arguments

    add_param_arguments(p, MapOptions)
    add_input_arguments(p)


def run(args: argparse.Namespace) -> int:
    from cellspace.atomic import atomic_dir, check_output_folder
    from cellspace.dataset import combine
    from cellspace.io.load import datasets_from_args
    from cellspace.mapping import map_params, map_training, mapped_cells
    from cellspace.model import CellSpaceModel

    opts = from_args(MapOptions, args).validate()
    check_output_folder(opts.out, OUTPUTS)
    model = CellSpaceModel.load(opts.model)
    params = map_params(model, epochs=opts.epochs, lr=opts.lr, threads=opts.threads,
                        seed=opts.seed, batch_key=args.batch_key)
    data = combine(datasets_from_args(args, k=params.k))
    progress = {"auto": None, "yes": True, "no": False}[opts.progress]
    state = map_training(model, data, params, progress=progress)
    adata = mapped_cells(model, state, data)
    with atomic_dir(opts.out, outputs=OUTPUTS) as tmp:
        adata.write_h5ad(tmp / "cells.h5ad")
    log.info("mapped %d cells into %s -> %s", data.n_cells, opts.model, opts.out / "cells.h5ad")
    return 0
