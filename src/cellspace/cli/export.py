"""``cellspace export``: write a model in the reference tool's TSV format."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cellspace.model import CellSpaceModel
from cellspace.tsv import export_tsv

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        help="export a model for the reference tool's R package",
        description="Write model.npz as the reference tool's headerless TSV: canonical k-mer "
        "names and __label__C<i> cell names, one row each (n-gram buckets are not written).",
    )
    p.add_argument("--model", required=True, type=Path, help="model.npz from cellspace train")
    p.add_argument("--format", choices=("tsv",), default="tsv", help="output format")
    p.add_argument("--out", required=True, type=Path, help="output file (e.g. model.tsv)")
    p.add_argument("--precision", type=int, default=6, help="significant digits written")
    return p


def run(args: argparse.Namespace) -> int:
    model = CellSpaceModel.load(args.model, with_buckets=False)
    export_tsv(model, args.out, precision=args.precision)
    log.info("wrote %s (%d k-mers, %d cells, dim %d)", args.out, len(model.kmer_vectors), model.n_cells, model.dim)
    return 0
