"""PREPARE_DATASET (``cellspace prepare``): validate one dataset and write it as one .h5ad.

The output holds the binary cells x events matrix in X, event sequences in
``var["sequence"]`` and cell metadata in obs (with ``dataset``, and ``batch`` when
``--batch-key`` is given), so later steps need only this one file.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import OutputError, ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "prepare"
HELP = "validate one dataset and write it as .h5ad (matrix + sequences + metadata)"
DESCRIPTION = __doc__


@dataclass
class PrepareParams:
    out: Path = field(metadata=doc("output AnnData file (.h5ad)", metavar="H5AD"))
    k: int = field(default=8, metadata=doc(
        "k-mer length the dataset will be trained with (sequences shorter than k are rejected)",
        metavar="K"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cellspace.io.load import add_input_arguments

    add_input_arguments(p)
    add_param_arguments(p, PrepareParams)


def run(args: argparse.Namespace) -> int:
    from cellspace.io.anndata_io import write_h5ad
    from cellspace.io.load import load_inputs, specs_from_args, tile_params_from_args
    from cellspace.kmers import check_k

    params = from_args(PrepareParams, args)
    k = check_k(params.k)
    specs = specs_from_args(args)
    if len(specs) != 1:
        raise ParameterError(f"prepare takes exactly one input dataset, got {len(specs)}")
    out = params.out
    if out.is_dir():
        raise OutputError("is a folder; give a .h5ad file name", out)
    (ds,) = load_inputs(specs, k=k, batch_key=args.batch_key, strict_events=args.strict_events,
                        tiles=tile_params_from_args(args))
    write_h5ad(ds, out)
    log.info("wrote %s: %d cells x %d events", out, ds.n_cells, ds.n_events)
    return 0
