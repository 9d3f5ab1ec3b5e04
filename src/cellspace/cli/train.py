"""``cellspace train``: learn the joint k-mer and cell embedding from one or more datasets."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cellspace.dataset import combine
from cellspace.errors import ParameterError
from cellspace.io.load import add_input_arguments, datasets_from_args
from cellspace.memory import log_memory
from cellspace.train import TrainParams, cells_anndata, run_training, state_to_model, write_outputs

log = logging.getLogger(__name__)


def _sample_len(value: str) -> int:
    if value == "given":
        return 0
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'given', got {value!r}") from None


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = TrainParams()
    p = sub.add_parser(
        "train",
        help="train a CellSpace embedding",
        description=(
            "Train one latent space of DNA k-mers and cells (StarSpace-style margin ranking, "
            "cosine similarity, K-negative sampling) on one or more scATAC-seq datasets. "
            "Writes OUT/cells.h5ad (obsm['X_cellspace']) and OUT/model.npz."
        ),
    )
    add_input_arguments(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    h = p.add_argument_group("model and training")
    h.add_argument("--dim", type=int, default=d.dim, help="embedding dimension")
    h.add_argument("--ngrams", type=int, default=d.ngrams, help="n-grams of consecutive k-mers (1 = k-mers only)")
    h.add_argument("--k", type=int, default=d.k, help="k-mer length (2..15; <= 13 to train)")
    h.add_argument("--sample-len", type=_sample_len, default=d.sample_len, metavar="BP|given",
                   help="length of the sequence sampled from an event per example; 'given' = whole event")
    h.add_argument("--examples-per-event", type=int, default=d.examples_per_event, help="examples per event per epoch")
    h.add_argument("--epochs", type=int, default=d.epochs, help="training epochs")
    h.add_argument("--margin", type=float, default=d.margin, help="margin of the ranking loss")
    h.add_argument("--bucket", type=int, default=d.bucket, help="n-gram hash buckets")
    h.add_argument("--lr", type=float, default=d.lr, help="initial learning rate (decays linearly to 0)")
    h.add_argument("--neg-search-limit", type=int, default=d.neg_search_limit, help="negative candidates drawn per example")
    h.add_argument("--max-neg-samples", type=int, default=d.max_neg_samples, help="most violating negatives used per example")
    h.add_argument("--init-sd", type=float, default=d.init_sd, help="s.d. of the normal initialisation")
    h.add_argument("--batch-size", type=int, default=d.batch_size, help="examples per mini-batch")
    h.add_argument("--threads", type=int, default=d.threads, help="training threads (default: CPUs available)")
    h.add_argument("--seed", type=int, default=d.seed, help="random seed (1 thread: bit-reproducible)")
    c = p.add_argument_group("checkpoints")
    c.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="save the full training state to OUT/checkpoint.npz every N epochs (0 = never)")
    c.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz if it exists (same data and parameters; "
                   "--epochs may be raised)")
    p.add_argument("--progress", choices=("auto", "yes", "no"), default="auto",
                   help="progress bar (auto: only on a terminal)")
    return p


def params_from_args(args: argparse.Namespace) -> TrainParams:
    return TrainParams(
        dim=args.dim, ngrams=args.ngrams, k=args.k, sample_len=args.sample_len,
        examples_per_event=args.examples_per_event, epochs=args.epochs, margin=args.margin,
        bucket=args.bucket, lr=args.lr, neg_search_limit=args.neg_search_limit,
        max_neg_samples=args.max_neg_samples, init_sd=args.init_sd, batch_size=args.batch_size,
        threads=args.threads, seed=args.seed, batch_key=args.batch_key,
    ).validate()


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)  # parameter errors before any reading
    if args.checkpoint_every < 0:
        raise ParameterError(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    datasets = datasets_from_args(args, k=params.k)
    log_memory(log, "reading the inputs")
    data = combine(datasets)
    del datasets  # the combined data hold everything training needs
    log_memory(log, "combining the datasets")
    progress = {"auto": None, "yes": True, "no": False}[args.progress]
    state = run_training(
        data, params,
        checkpoint=args.out / "checkpoint.npz",
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        progress=progress,
    )
    model = state_to_model(state, data)
    log_memory(log, "the model")
    cells_path, model_path = write_outputs(model, cells_anndata(model, data), args.out)
    log_memory(log, "writing the outputs")
    log.info("wrote %s and %s", cells_path, model_path)
    return 0
