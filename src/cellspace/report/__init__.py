"""The run report: one self-contained HTML page (inline images, no network) of a pipeline run."""

from cellspace.report.page import Section, render_page
from cellspace.report.sections import (
    benchmark_section,
    denovo_section,
    inputs_section,
    motifs_section,
    training_section,
    umap_section,
    versions_section,
)

__all__ = [
    "Section",
    "render_page",
    "inputs_section",
    "training_section",
    "umap_section",
    "motifs_section",
    "denovo_section",
    "benchmark_section",
    "versions_section",
]
