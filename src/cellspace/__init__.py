"""CellSpace: one latent space for DNA k-mers and single cells, learned from scATAC-seq."""

from cellspace._version import __version__

__all__ = ["__version__"]
