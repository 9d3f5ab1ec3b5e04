"""Input specifications and the command-line flags that build them (shared by train and prepare).

Datasets are given on the command line in any mix, and keep their order of occurrence:

    --matrix A.mtx --fasta A.fa [--cells A-cells.txt] [--obs A-meta.tsv]
    --h5ad B.h5ad [--fasta B.fa]
    --tenx C/filtered_peak_bc_matrix(.h5) --genome hg38.fa [--obs C/singlecell.csv]

A ``--fasta``, ``--genome``, ``--cells`` or ``--obs`` belongs to the nearest preceding
``--matrix``/``--h5ad``/``--tenx``. ``--dataset NAME`` (repeatable) names the datasets in order;
default names are file stems, made unique.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cellspace.dataset import Dataset
from cellspace.errors import InputError, ParameterError
from cellspace.io.anndata_io import read_h5ad, stored_dataset_name
from cellspace.io.mtx import read_mtx_pair, require_file, strip_suffixes
from cellspace.io.tenx import default_tenx_name, read_tenx

log = logging.getLogger(__name__)

Kind = Literal["mtx", "h5ad", "tenx"]


@dataclass
class InputSpec:
    """One input dataset: its kind, main path and sidecar files."""

    kind: Kind
    path: Path
    fasta: Path | None = None  # mtx: event FASTA (required); h5ad: optional FASTA
    genome: Path | None = None  # tenx: genome FASTA (required)
    cells: Path | None = None  # mtx: cell names
    obs: Path | None = None  # mtx, tenx: cell metadata table
    name: str | None = None

    def default_name(self) -> str:
        if self.kind == "mtx":
            return strip_suffixes(self.path, [".mtx.gz", ".mtx", ".mm.gz", ".mm", ".gz"])
        if self.kind == "h5ad":
            return stored_dataset_name(self.path) or strip_suffixes(self.path, [".h5ad"])
        return default_tenx_name(self.path)

    def files(self) -> list[tuple[str, Path]]:
        """(what, path) of every file this spec reads."""
        out: list[tuple[str, Path]] = []
        main = {"mtx": "matrix file", "h5ad": "AnnData file", "tenx": "10x input"}[self.kind]
        out.append((main, self.path))
        for what, p in (("FASTA file", self.fasta), ("genome FASTA", self.genome),
                        ("cell names file", self.cells), ("cell metadata file", self.obs)):
            if p is not None:
                out.append((what, p))
        return out


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            cand = f"{n}_{seen[n]}"
            while cand in seen:
                seen[n] += 1
                cand = f"{n}_{seen[n]}"
            seen[cand] = 1
            out.append(cand)
        else:
            seen[n] = 1
            out.append(n)
    return out


def dataset_names(specs: Sequence[InputSpec]) -> list[str]:
    """Each spec's name: the given one, else its file stem, made unique in input order."""
    given = [s.name for s in specs if s.name]
    if len(set(given)) != len(given):
        raise ParameterError(f"dataset names must be unique, got {given}")
    defaults = _unique([s.default_name() for s in specs])
    taken = set(given)
    out = []
    for s, d in zip(specs, defaults, strict=True):
        if s.name:
            out.append(s.name)
            continue
        cand, i = d, 1
        while cand in taken:
            i += 1
            cand = f"{d}_{i}"
        taken.add(cand)
        out.append(cand)
    return out


def load_inputs(
    specs: Sequence[InputSpec],
    *,
    k: int = 8,
    batch_key: str | None = None,
    strict_events: bool = False,
) -> list[Dataset]:
    """Read every input (in order) into a validated :class:`Dataset`.

    All files are checked for existence before anything is read, so a typo in the last path
    fails at once. ``strict_events`` turns events with no cells into an error (by default they
    are dropped with a warning).
    """
    if not specs:
        raise ParameterError(
            "no input dataset given: use --matrix X.mtx --fasta X.fa, --h5ad X.h5ad "
            "or --tenx DIR --genome G.fa"
        )
    for spec in specs:
        for what, p in spec.files():
            if not Path(p).exists():
                raise InputError(f"{what} not found", p)
    names = dataset_names(specs)
    out: list[Dataset] = []
    for spec, name in zip(specs, names, strict=True):
        common: dict[str, Any] = dict(
            name=name, k=k, batch_key=batch_key, drop_empty_events=not strict_events
        )
        if spec.kind == "mtx":
            if spec.fasta is None:
                raise ParameterError(f"--matrix {spec.path} needs a --fasta")
            ds = read_mtx_pair(spec.path, spec.fasta, cells=spec.cells, obs=spec.obs, **common)
        elif spec.kind == "h5ad":
            ds = read_h5ad(spec.path, fasta=spec.fasta, **common)
        elif spec.kind == "tenx":
            if spec.genome is None:
                raise ParameterError(f"--tenx {spec.path} needs a --genome")
            require_file(spec.genome, "genome FASTA")
            ds = read_tenx(spec.path, spec.genome, obs=spec.obs, **common)
        else:  # pragma: no cover - guarded by the Literal type
            raise ParameterError(f"unknown input kind {spec.kind!r}")
        log.info("dataset %s: %d cells x %d events (%s)", ds.name, ds.n_cells, ds.n_events, spec.path)
        out.append(ds)
    return out


# --------------------------------------------------------------------------- argparse


class _InputAction(argparse.Action):
    """Appends (flag kind, value) to one shared ``args.inputs`` list, keeping flag order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((self.const, values))
        setattr(namespace, self.dest, items)


def add_input_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the dataset input flags (shared by ``cellspace train`` and ``cellspace prepare``)."""
    g = parser.add_argument_group(
        "input datasets",
        "Repeat to give several datasets; their order is kept. --fasta/--cells/--obs/--genome "
        "belong to the nearest preceding --matrix/--h5ad/--tenx.",
    )
    flags = (
        ("--matrix", "mtx", "MTX", "MatrixMarket file, rows = cells, columns = events (gz ok); needs --fasta"),
        ("--fasta", "fasta", "FA", "FASTA with one record per --matrix column, in order (or the "
         "event sequences of an --h5ad, matched by var_names)"),
        ("--cells", "cells", "TXT", "cell names of the preceding --matrix, one per line"),
        ("--obs", "obs", "TSV", "cell metadata table (TSV/CSV with header) of the preceding "
         "--matrix or --tenx: one row per cell in order, or a first column of cell names"),
        ("--h5ad", "h5ad", "H5AD", "AnnData file (cells x events) with var['sequence'] or a "
         "FASTA beside it (same stem + .fa/.fa.gz/.fasta/.fasta.gz)"),
        ("--tenx", "tenx", "PATH", "Cell Ranger ATAC filtered_peak_bc_matrix folder or .h5; "
         "needs --genome"),
        ("--genome", "genome", "FA", "genome FASTA (plain or bgzip, indexed with .fai, created "
         "if missing) for the preceding --tenx"),
    )
    for flag, kind, metavar, help_ in flags:
        g.add_argument(flag, dest="inputs", action=_InputAction, const=kind, metavar=metavar,
                       default=argparse.SUPPRESS, help=help_)
    g.add_argument("--dataset", dest="dataset_names", action="append", metavar="NAME",
                   default=argparse.SUPPRESS, help="dataset name, one per dataset in input order "
                   "(default: file stems)")
    g.add_argument("--batch-key", default=None, metavar="COL",
                   help="cell metadata column holding the batch (e.g. donor) of each cell")
    g.add_argument("--strict-events", action="store_true",
                   help="fail on events accessible in no cell instead of dropping them")
    return g


def specs_from_args(args: argparse.Namespace) -> list[InputSpec]:
    """Input specs in command-line order, with sidecar flags paired to their dataset."""
    items: list[tuple[str, str]] = list(getattr(args, "inputs", None) or [])
    specs: list[InputSpec] = []
    owner = {"fasta": ("mtx", "h5ad"), "genome": ("tenx",), "cells": ("mtx",), "obs": ("mtx", "tenx")}
    main_flag = {"mtx": "--matrix", "h5ad": "--h5ad", "tenx": "--tenx"}
    for kind, value in items:
        if kind in ("mtx", "h5ad", "tenx"):
            specs.append(InputSpec(kind=kind, path=Path(value)))  # type: ignore[arg-type]
            continue
        cur = specs[-1] if specs else None
        allowed = " or ".join(main_flag[o] for o in owner[kind])
        if cur is None or cur.kind not in owner[kind]:
            raise ParameterError(f"--{kind} {value} must follow the {allowed} it belongs to")
        if getattr(cur, kind) is not None:
            raise ParameterError(
                f"--{kind} given twice for {main_flag[cur.kind]} {cur.path} "
                f"({getattr(cur, kind)} and {value})"
            )
        setattr(cur, kind, Path(value))
    if not specs:
        raise ParameterError(
            "no input dataset given: use --matrix X.mtx --fasta X.fa, --h5ad X.h5ad "
            "or --tenx DIR --genome G.fa"
        )
    for s in specs:
        if s.kind == "mtx" and s.fasta is None:
            raise ParameterError(f"--matrix {s.path} has no --fasta (give it right after the matrix)")
        if s.kind == "tenx" and s.genome is None:
            raise ParameterError(f"--tenx {s.path} has no --genome (give it right after the 10x input)")
    names = getattr(args, "dataset_names", None)
    if names:
        if len(names) != len(specs):
            raise ParameterError(
                f"{len(names)} --dataset name(s) for {len(specs)} input dataset(s); "
                "give one per dataset, in order"
            )
        for s, n in zip(specs, names, strict=True):
            s.name = n
    return specs


def datasets_from_args(args: argparse.Namespace, *, k: int = 8) -> list[Dataset]:
    """``load_inputs(specs_from_args(args), ...)`` with the shared flags applied."""
    return load_inputs(
        specs_from_args(args),
        k=k,
        batch_key=getattr(args, "batch_key", None),
        strict_events=bool(getattr(args, "strict_events", False)),
    )
