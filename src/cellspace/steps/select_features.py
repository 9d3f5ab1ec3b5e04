"""SELECT_FEATURES (``cellspace select-features``): keep the N most variable events (iterative LSI).

Selects variable events (peaks or tiles) as ArchR's iterative LSI does: LSI on the most
accessible events, clustering, then the events with the highest variance of
cluster-aggregated accessibility; the h5ad subset is written atomically.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cellspace.analysis.features import FeatureParams
from cellspace.errors import InputError, OutputError, ParameterError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "select-features"
HELP = "subset an h5ad to the N most variable events (iterative LSI)"
DESCRIPTION = __doc__


@dataclass
class SelectFeaturesParams:
    h5ad: Path = field(metadata=doc("input cells x events h5ad"))
    out: Path = field(metadata=doc("output h5ad with the selected events"))
    n_features: int = field(metadata=doc("number of events to keep"))
    iterations: int = field(default=FeatureParams.iterations, metadata=doc("LSI rounds (ArchR default 2)"))
    n_components: int = field(default=FeatureParams.n_components, metadata=doc("LSI components"))
    resolution: float = field(default=FeatureParams.resolution, metadata=doc("clustering resolution between rounds"))
    max_cells: int = field(default=FeatureParams.max_cells, metadata=doc(
        "above this many cells, choose the events on a random subsample of them"))
    seed: int = field(default=0, metadata=doc("random seed"))

    def validate(self) -> SelectFeaturesParams:
        checks = [
            (self.n_features >= 2, f"--n-features must be >= 2, got {self.n_features}"),
            (self.iterations >= 1, f"--iterations must be >= 1, got {self.iterations}"),
            (self.n_components >= 2, f"--n-components must be >= 2, got {self.n_components}"),
            (self.resolution > 0, f"--resolution must be > 0, got {self.resolution}"),
            (self.max_cells >= 3, f"--max-cells must be >= 3, got {self.max_cells}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ParameterError(msg)
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, SelectFeaturesParams)


def run(args: argparse.Namespace) -> int:
    from cellspace.analysis.features import select_variable_events
    from cellspace.io import write_h5ad
    from cellspace.io.anndata_io import read_anndata

    p = from_args(SelectFeaturesParams, args).validate()
    if p.out.is_dir():
        raise OutputError("is a folder; give a .h5ad file name", p.out)
    adata = read_anndata(p.h5ad)
    if adata.n_obs < 3 or adata.n_vars < 2:
        raise InputError(f"too small to select features ({adata.n_obs} x {adata.n_vars})", p.h5ad)
    if p.n_components >= min(adata.n_obs, adata.n_vars):
        raise ParameterError(f"--n-components {p.n_components} must be below the {adata.n_obs} cells "
                             f"and {adata.n_vars} events")
    if p.n_features >= adata.n_vars:
        log.warning("--n-features %d >= %d events: keeping all", p.n_features, adata.n_vars)
        keep = slice(None)
        n = adata.n_vars
    else:
        keep = select_variable_events(adata, FeatureParams(
            n_features=p.n_features, iterations=p.iterations, n_components=p.n_components,
            resolution=p.resolution, max_cells=p.max_cells, seed=p.seed))
        n = len(keep)
    sub = adata[:, keep].copy()
    sub.uns["select_features"] = {"method": "iterative_lsi", "n_features": int(n),
                                  "iterations": int(p.iterations), "seed": int(p.seed),
                                  "max_cells": int(p.max_cells)}
    write_h5ad(sub, p.out)
    log.info("kept %d of %d events -> %s", n, adata.n_vars, p.out)
    return 0
