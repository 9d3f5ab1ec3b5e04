"""REPORT (``cellspace report``): one self-contained HTML page summarising a pipeline run.

Reads what the other steps wrote (prepared datasets, the training folder with its per-epoch
log, the analysis, motif, de novo and benchmark folders, software_versions.yml) and writes
OUT (report.html) atomically. Images are embedded (PNG data URIs, SVG), so the page needs no
network and no neighbouring files. Every input but --out is optional: the section of a step
that did not run says so.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cellspace._version import __version__
from cellspace.atomic import atomic_path
from cellspace.errors import InputError
from cellspace.steps.params import add_arguments as add_param_arguments
from cellspace.steps.params import doc, from_args

log = logging.getLogger(__name__)

COMMAND = "report"
HELP = "write the HTML report of a pipeline run"
DESCRIPTION = (
    "Write one self-contained HTML page (inline images, no network) with the inputs and their "
    "cell/event counts, the training curve, the UMAPs, the motif heatmap, the de novo logos, "
    "the benchmark scores with bootstrap CIs and the software versions of a run."
)


@dataclass
class ReportParams:
    """Inputs and output of the report step."""

    out: Path = field(metadata=doc("the report to write", metavar="HTML"))
    prepared: list[Path] = field(default_factory=list, metadata=doc(
        "prepared datasets (cells, events, donors, cell types)", metavar="H5AD", nargs="*"))
    train: Path | None = field(default=None, metadata=doc(
        "training folder (cells.h5ad, training_log.tsv)", metavar="DIR"))
    analyze: Path | None = field(default=None, metadata=doc(
        "analysis folder (umap_*.png, joint_umap.png)", metavar="DIR"))
    motifs: Path | None = field(default=None, metadata=doc(
        "motif folder (top_motifs_by_*.png and .tsv)", metavar="DIR"))
    denovo: Path | None = field(default=None, metadata=doc(
        "de novo folder (denovo_logos.png, denovo_matches.tsv)", metavar="DIR"))
    benchmark: list[Path] = field(default_factory=list, metadata=doc(
        "merged bootstrap folders, one per dataset (summary.tsv, scores.png)", metavar="DIR",
        nargs="*"))
    versions: Path | None = field(default=None, metadata=doc(
        "software_versions.yml of the run", metavar="YML"))
    title: str = field(default="CellSpace run report", metadata=doc("page title"))

    def validate(self) -> ReportParams:
        for p in self.prepared:
            if not Path(p).is_file():
                raise InputError("prepared dataset not found", p)
        for p in (self.train, self.analyze, self.motifs, self.denovo, *self.benchmark):
            if p is not None and not Path(p).is_dir():
                raise InputError("folder not found", p)
        if self.versions is not None and not Path(self.versions).is_file():
            raise InputError("versions file not found", self.versions)
        return self


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_param_arguments(p, ReportParams)


def build_report(params: ReportParams) -> str:
    """The HTML text of the report."""
    from cellspace.report import (
        benchmark_section,
        denovo_section,
        inputs_section,
        motifs_section,
        render_page,
        training_section,
        umap_section,
        versions_section,
    )

    cells = params.train / "cells.h5ad" if params.train is not None else None
    sections = [
        inputs_section(params.prepared, cells if cells is not None and cells.is_file() else None),
        training_section(params.train),
        umap_section(params.analyze),
        motifs_section(params.motifs),
        denovo_section(params.denovo),
        benchmark_section(params.benchmark),
        versions_section(params.versions),
    ]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    n = len(params.prepared)
    subtitle = f"{n} dataset{'s' if n != 1 else ''}; written {now}"
    return render_page(params.title, subtitle, sections, footer=f"cellspace {__version__}")


def write_report(params: ReportParams) -> Path:
    """Build the report and write it atomically to ``params.out``."""
    text = build_report(params)
    out = Path(params.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return out


def run(args: argparse.Namespace) -> int:
    params = from_args(ReportParams, args).validate()
    out = write_report(params)
    log.info("wrote %s (%.1f kB)", out, out.stat().st_size / 1e3)
    return 0

