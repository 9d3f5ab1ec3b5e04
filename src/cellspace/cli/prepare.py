"""``cellspace prepare``: validate one input dataset and write it as a self-contained .h5ad.

The output holds the binary cells x events matrix in X, event sequences in
``var["sequence"]`` and cell metadata in obs (with ``dataset``, and ``batch`` when
``--batch-key`` is given), so later steps need only this one file.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from cellspace.errors import ParameterError
from cellspace.io.anndata_io import write_h5ad
from cellspace.io.load import (
    add_input_arguments,
    load_inputs,
    specs_from_args,
    tile_params_from_args,
)
from cellspace.kmers import check_k

log = logging.getLogger(__name__)


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare",
        help="validate one dataset and write it as .h5ad (matrix + sequences + metadata)",
        description=__doc__,
    )
    add_input_arguments(p)
    p.add_argument("--out", required=True, metavar="H5AD", help="output AnnData file (.h5ad)")
    p.add_argument("--k", type=int, default=8, metavar="K",
                   help="k-mer length the dataset will be trained with (sequences shorter "
                   "than k are rejected)")
    return p


def run(args: argparse.Namespace) -> int:
    k = check_k(args.k)
    specs = specs_from_args(args)
    if len(specs) != 1:
        raise ParameterError(f"prepare takes exactly one input dataset, got {len(specs)}")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise ParameterError(f"--out {out} is a folder; give a .h5ad file name")
    (ds,) = load_inputs(
        specs, k=k, batch_key=args.batch_key, strict_events=args.strict_events,
        tiles=tile_params_from_args(args),
    )
    write_h5ad(ds, out)
    log.info("wrote %s: %d cells x %d events", out, ds.n_cells, ds.n_events)
    return 0
