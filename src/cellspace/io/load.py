"""Input specifications and the command-line flags that build them (shared by train and prepare).

Datasets are given on the command line in any mix, and keep their order of occurrence:

    --matrix A.mtx (--fasta A.fa | --peaks A.bed --genome G.fa) [--cells A.txt] [--obs A.tsv]
    --h5ad B.h5ad [--fasta B.fa | --genome G.fa [--peaks B.bed]]
    --tenx C/filtered_peak_bc_matrix(.h5) --genome hg38.fa [--obs C/singlecell.csv]
    --fragments D.tsv.gz --genome hg38.fa [--barcodes D.txt] [--obs D.csv]
        (+ --min-fragments N instead of --barcodes, --tile-size, --blacklist)

A ``--fasta``, ``--peaks``, ``--genome``, ``--cells``, ``--barcodes`` or ``--obs`` belongs to the
nearest preceding ``--matrix``/``--h5ad``/``--tenx``/``--fragments``. An ``--h5ad`` with
``--genome`` and no ``--peaks`` takes its intervals from var chrom/start/end or from var_names
like ``chr1:100-600``. ``--dataset NAME`` (repeatable) names the datasets in order;
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
from cellspace.io.fragments import TileParams, default_fragments_name, read_fragments
from cellspace.io.mtx import read_mtx_pair, require_file, strip_suffixes
from cellspace.io.tenx import default_tenx_name, read_tenx

log = logging.getLogger(__name__)

Kind = Literal["mtx", "h5ad", "tenx", "fragments"]
MAIN_FLAG = {"mtx": "--matrix", "h5ad": "--h5ad", "tenx": "--tenx", "fragments": "--fragments"}
_NO_INPUT = (
    "no input dataset given: use --matrix X.mtx --fasta X.fa, --h5ad X.h5ad, "
    "--tenx DIR --genome G.fa or --fragments F.tsv.gz --genome G.fa"
)


@dataclass
class InputSpec:
    """One input dataset: its kind, main path and sidecar files."""

    kind: Kind
    path: Path
    fasta: Path | None = None  # mtx: event FASTA (required); h5ad: optional FASTA
    genome: Path | None = None  # tenx, fragments: genome FASTA (required); mtx, h5ad: optional
    peaks: Path | None = None  # mtx, h5ad: BED, one interval per event (with genome)
    cells: Path | None = None  # mtx: cell names
    obs: Path | None = None  # mtx, tenx, fragments: cell metadata table
    barcodes: Path | None = None  # fragments: cell barcodes (else --min-fragments)
    name: str | None = None

    def default_name(self) -> str:
        if self.kind == "mtx":
            return strip_suffixes(self.path, [".mtx.gz", ".mtx", ".mm.gz", ".mm", ".gz"])
        if self.kind == "h5ad":
            return stored_dataset_name(self.path) or strip_suffixes(self.path, [".h5ad"])
        if self.kind == "fragments":
            return default_fragments_name(self.path)
        return default_tenx_name(self.path)

    def files(self) -> list[tuple[str, Path]]:
        """(what, path) of every file this spec reads."""
        out: list[tuple[str, Path]] = []
        main = {"mtx": "matrix file", "h5ad": "AnnData file", "tenx": "10x input",
                "fragments": "fragments file"}[self.kind]
        out.append((main, self.path))
        for what, p in (("FASTA file", self.fasta), ("genome FASTA", self.genome),
                        ("peaks BED", self.peaks),
                        ("cell names file", self.cells), ("cell metadata file", self.obs),
                        ("barcode list", self.barcodes)):
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
    tiles: TileParams | None = None,
) -> list[Dataset]:
    """Read every input (in order) into a validated :class:`Dataset`.

    All files are checked for existence before anything is read, so a typo in the last path
    fails at once. ``strict_events`` turns events with no cells into an error (by default they
    are dropped with a warning). ``tiles`` sets how fragments inputs become tiles.
    """
    if not specs:
        raise ParameterError(_NO_INPUT)
    tiles = tiles or TileParams()
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
        check_spec(spec)
        if spec.kind == "mtx":
            ds = read_mtx_pair(spec.path, spec.fasta, peaks=spec.peaks, genome=spec.genome,
                               cells=spec.cells, obs=spec.obs, **common)
        elif spec.kind == "h5ad":
            ds = read_h5ad(spec.path, fasta=spec.fasta, genome=spec.genome, peaks=spec.peaks, **common)
        elif spec.kind == "tenx":
            require_file(spec.genome, "genome FASTA")
            ds = read_tenx(spec.path, spec.genome, obs=spec.obs, **common)
        elif spec.kind == "fragments":
            if (spec.barcodes is None) == (tiles.min_fragments is None):
                raise ParameterError(
                    f"--fragments {spec.path} needs either --barcodes FILE after it or "
                    "--min-fragments N (not both)"
                )
            ds = read_fragments(
                spec.path, spec.genome, barcodes=spec.barcodes, obs=spec.obs, tiles=tiles,
                name=name, k=k, batch_key=batch_key,
            )
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
        "Repeat to give several datasets; their order is kept. --fasta/--cells/--obs/--genome/"
        "--barcodes belong to the nearest preceding --matrix/--h5ad/--tenx/--fragments.",
    )
    flags = (
        ("--matrix", "mtx", "MTX", "MatrixMarket file, rows = cells, columns = events (gz ok); needs --fasta"),
        ("--fasta", "fasta", "FA", "FASTA with one record per --matrix column, in order (or the "
         "event sequences of an --h5ad, matched by var_names)"),
        ("--cells", "cells", "TXT", "cell names of the preceding --matrix, one per line"),
        ("--obs", "obs", "TSV", "cell metadata table (TSV/CSV with header) of the preceding "
         "--matrix or --tenx: one row per cell in order, or a first column of cell names"),
        ("--peaks", "peaks", "BED", "intervals of the preceding --matrix columns or --h5ad events, "
         "one per line in order, cut from --genome (instead of --fasta)"),
        ("--h5ad", "h5ad", "H5AD", "AnnData file (cells x events) with var['sequence'], a "
         "FASTA beside it (same stem + .fa/.fa.gz/.fasta/.fasta.gz), or --genome (var_names "
         "like chr1:100-600, var chrom/start/end, or --peaks)"),
        ("--tenx", "tenx", "PATH", "Cell Ranger ATAC filtered_peak_bc_matrix folder or .h5; "
         "needs --genome"),
        ("--fragments", "fragments", "TSV.GZ", "fragments file (chrom, start, end, barcode[, "
         "count]; sorted; gzip or bgzip + .tbi), binned into tiles; needs --genome and "
         "--barcodes or --min-fragments"),
        ("--barcodes", "barcodes", "TXT", "cell barcodes of the preceding --fragments, one per line"),
        ("--genome", "genome", "FA", "genome FASTA (plain or bgzip, indexed with .fai, created "
         "if missing) for the preceding --tenx, --fragments, --matrix with --peaks, or --h5ad"),
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
    d = TileParams()
    g.add_argument("--min-fragments", type=int, default=d.min_fragments, metavar="N",
                   help="--fragments inputs without --barcodes: cells are the barcodes with at "
                   "least N fragments")
    g.add_argument("--tile-size", type=int, default=d.tile_size, metavar="BP",
                   help="tile width for --fragments inputs")
    g.add_argument("--blacklist", default=None, metavar="BED",
                   help="BED of regions whose tiles are dropped (--fragments inputs)")
    return g


def tile_params_from_args(args: argparse.Namespace) -> TileParams:
    """The tiling flags of :func:`add_input_arguments` as :class:`TileParams`."""
    d = TileParams()
    bl = getattr(args, "blacklist", None)
    return TileParams(
        tile_size=getattr(args, "tile_size", d.tile_size),
        min_fragments=getattr(args, "min_fragments", d.min_fragments),
        blacklist=Path(bl) if bl else None,
    )


def check_spec(s: InputSpec) -> None:
    """The sidecar files a spec needs, and no conflicting ones (ParameterError otherwise)."""
    flag = f"{MAIN_FLAG[s.kind]} {s.path}"
    if s.kind == "mtx":
        if s.fasta is None and (s.peaks is None or s.genome is None):
            raise ParameterError(
                f"{flag} has no --fasta (nor --peaks with --genome); give them right after the matrix"
            )
    if s.kind in ("mtx", "h5ad"):
        if s.fasta is not None and (s.genome is not None or s.peaks is not None):
            raise ParameterError(f"{flag}: give either --fasta or --genome (with --peaks), not both")
        if s.peaks is not None and s.genome is None:
            raise ParameterError(f"{flag}: --peaks needs a --genome to cut the sequences from")
    if s.kind in ("tenx", "fragments") and s.genome is None:
        raise ParameterError(f"{flag} has no --genome (give it right after the {s.kind} input)")


def specs_from_args(args: argparse.Namespace) -> list[InputSpec]:
    """Input specs in command-line order, with sidecar flags paired to their dataset."""
    items: list[tuple[str, str]] = list(getattr(args, "inputs", None) or [])
    specs: list[InputSpec] = []
    owner = {"fasta": ("mtx", "h5ad"), "genome": ("tenx", "fragments", "mtx", "h5ad"),
             "peaks": ("mtx", "h5ad"), "cells": ("mtx",),
             "obs": ("mtx", "tenx", "fragments"), "barcodes": ("fragments",)}
    main_flag = MAIN_FLAG
    for kind, value in items:
        if kind in main_flag:
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
        raise ParameterError(_NO_INPUT)
    for s in specs:
        check_spec(s)
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
        tiles=tile_params_from_args(args),
    )
