"""EXPORT (``cellspace export``): write a model in the reference tool's TSV format.

Writes model.npz as the reference tool's headerless TSV: canonical k-mer names and
__label__C<i> cell names, one row each (n-gram buckets are not written).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.errors import ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "export"
HELP = "export a model for the reference tool's R package"
DESCRIPTION = __doc__


@dataclass
class ExportParams:
    model: Path = field(metadata=doc("model.npz from cellspace train"))
    out: Path = field(metadata=doc("output file (e.g. model.tsv)"))
    format: str = field(default="tsv", metadata=doc("output format", choices=("tsv",)))
    precision: int = field(default=6, metadata=doc("significant digits written"))

    def validate(self) -> ExportParams:
        if not 1 <= self.precision <= 9:
            raise ParameterError(f"--precision must be in 1..9, got {self.precision}")
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, ExportParams)


def run(args: argparse.Namespace) -> int:
    from cellspace.errors import OutputError
    from cellspace.model import CellSpaceModel
    from cellspace.tsv import export_tsv

    p = from_args(ExportParams, args).validate()
    if p.out.is_dir():
        raise OutputError("is a folder; give a file name", p.out)
    model = CellSpaceModel.load(p.model, with_buckets=False)
    export_tsv(model, p.out, precision=p.precision)
    log.info("wrote %s (%d k-mers, %d cells, dim %d)", p.out, len(model.kmer_vectors), model.n_cells, model.dim)
    return 0
