"""TRAIN_CELLSPACE (``cellspace train``): learn the joint k-mer and cell embedding.

Reads one or more datasets, trains one latent space of DNA k-mers and cells, and writes
OUT/cells.h5ad (obsm['X_cellspace']) and OUT/model.npz as a unit (with OUT/checkpoint.npz
carried over when checkpoints are on).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.atomic import atomic_dir, check_output_folder, check_room, remove_stale
from cellspace.errors import ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args
from cellspace.steps.resources import check_memory
from cellspace.train import TrainParams, row_stride

log = logging.getLogger(__name__)

COMMAND = "train"
HELP = "train a CellSpace embedding"
DESCRIPTION = (
    "Train one latent space of DNA k-mers and cells (StarSpace-style margin ranking, cosine "
    "similarity, K-negative sampling) on one or more scATAC-seq datasets. Writes "
    "OUT/cells.h5ad (obsm['X_cellspace']) and OUT/model.npz."
)
CHECKPOINT = "checkpoint.npz"
OUTPUTS = ("cells.h5ad", "model.npz", "training_log.tsv")


@dataclass
class RunOptions:
    """Options of the run itself (not of the model)."""

    out: Path = field(metadata=doc("output folder", metavar="DIR"))
    checkpoint_every: int = field(default=0, metadata=doc(
        "save the full training state to OUT/checkpoint.npz every N epochs (0 = never)", metavar="N"))
    resume: bool = field(default=False, metadata=doc(
        "continue from OUT/checkpoint.npz if it exists (same data and parameters; --epochs may be raised)"))
    progress: str = field(default="auto", metadata=doc(
        "progress bar (auto: only on a terminal)", choices=("auto", "yes", "no")))

    def validate(self) -> RunOptions:
        if self.checkpoint_every < 0:
            raise ParameterError(f"--checkpoint-every must be >= 0, got {self.checkpoint_every}")
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cellspace.io.load import add_input_arguments

    add_input_arguments(p)
    add_param_arguments(p, RunOptions, exclude=("checkpoint_every", "resume", "progress"))
    add_param_arguments(p.add_argument_group("model and training"), TrainParams)
    add_param_arguments(p.add_argument_group("checkpoints"), RunOptions, exclude=("out", "progress"))
    add_param_arguments(p, RunOptions, exclude=("out", "checkpoint_every", "resume"))


def table_bytes(params: TrainParams, n_cells: int = 0) -> int:
    """Bytes of the training table (vectors + AdaGrad accumulators) for these parameters."""
    from cellspace.kmers import n_kmer_rows

    return (n_kmer_rows(params.k) + n_cells + params.n_buckets) * row_stride(params.dim) * 4


def output_bytes(params: TrainParams, n_cells: int) -> int:
    """About the size of model.npz + cells.h5ad."""
    from cellspace.kmers import n_kmer_rows

    rows = n_kmer_rows(params.k) + 2 * n_cells + params.n_buckets
    return rows * params.dim * 4 + n_cells * 256 + (1 << 20)


def run(args: argparse.Namespace) -> int:
    from cellspace.dataset import combine
    from cellspace.io.load import datasets_from_args
    from cellspace.memory import log_memory
    from cellspace.train import cells_anndata, run_training, state_to_model, write_outputs

    params = from_args(TrainParams, args, batch_key=args.batch_key).validate()
    opts = from_args(RunOptions, args).validate()
    check_memory(table_bytes(params), "the training table (--k, --dim, --bucket)")
    out = opts.out
    remove_stale(out / CHECKPOINT)  # temp files of a checkpoint write that was killed
    check_output_folder(out, (*OUTPUTS, CHECKPOINT))
    datasets = datasets_from_args(args, k=params.k)
    log_memory(log, "reading the inputs")
    data = combine(datasets)
    del datasets  # the combined data hold everything training needs
    log_memory(log, "combining the datasets")
    check_memory(table_bytes(params, data.n_cells), "the training table (--k, --dim, --bucket)")
    check_room(out.parent if not out.exists() else out, output_bytes(params, data.n_cells), out)
    progress = {"auto": None, "yes": True, "no": False}[opts.progress]
    state = run_training(
        data, params,
        checkpoint=out / CHECKPOINT,
        checkpoint_every=opts.checkpoint_every,
        resume=opts.resume,
        progress=progress,
    )
    model = state_to_model(state, data)
    log_memory(log, "the model")
    with atomic_dir(out, n_bytes=output_bytes(params, data.n_cells), keep=(CHECKPOINT,),
                    outputs=OUTPUTS) as tmp:
        write_outputs(model, cells_anndata(model, data), tmp, state)
    log_memory(log, "writing the outputs")
    log.info("wrote %s and %s", out / "cells.h5ad", out / "model.npz")
    return 0
