"""Input and output: every reader returns a validated :class:`cellspace.dataset.Dataset`.

- :func:`read_mtx_pair` / :func:`write_mtx_pair`: MatrixMarket (cells x events) + FASTA.
- :func:`read_h5ad` / :func:`write_h5ad` / :func:`dataset_to_anndata`: AnnData files.
- :func:`read_tenx` / :func:`write_tenx_h5` / :func:`write_tenx_dir`: Cell Ranger ATAC
  peak-barcode matrices with a genome FASTA (:func:`write_genome_fasta` for test genomes).
- :func:`load_inputs`, :class:`InputSpec`, :func:`add_input_arguments`,
  :func:`specs_from_args`: the command-line input flags shared by ``train`` and ``prepare``.
"""

from cellspace.io.anndata_io import dataset_to_anndata, read_h5ad, write_h5ad
from cellspace.io.genome import fetch_sequences, open_genome, write_genome_fasta
from cellspace.io.load import (
    InputSpec,
    add_input_arguments,
    datasets_from_args,
    load_inputs,
    specs_from_args,
)
from cellspace.io.mtx import (
    read_cell_metadata,
    read_cell_names,
    read_mtx,
    read_mtx_pair,
    write_mtx,
    write_mtx_pair,
)
from cellspace.io.tenx import read_tenx, write_tenx_dir, write_tenx_h5

__all__ = [
    "InputSpec",
    "add_input_arguments",
    "dataset_to_anndata",
    "datasets_from_args",
    "fetch_sequences",
    "load_inputs",
    "open_genome",
    "read_cell_metadata",
    "read_cell_names",
    "read_h5ad",
    "read_mtx",
    "read_mtx_pair",
    "read_tenx",
    "specs_from_args",
    "write_genome_fasta",
    "write_h5ad",
    "write_mtx",
    "write_mtx_pair",
    "write_tenx_dir",
    "write_tenx_h5",
]
