"""Analysis of a trained CellSpace embedding.

Submodules (imported on demand, so that ``import cellspace.analysis`` stays cheap):

* :mod:`~cellspace.analysis.graph` — cosine kNN and SNN graphs
* :mod:`~cellspace.analysis.clustering` — Leiden/Louvain, resolution search, small-cluster merging
* :mod:`~cellspace.analysis.umap` — UMAP of cells, and of cells with motifs
* :mod:`~cellspace.analysis.motif_db` — motif databases (JASPAR via pyjaspar, JASPAR/MEME/HOMER files)
* :mod:`~cellspace.analysis.motifs` — motif embedding and TF activity scores
* :mod:`~cellspace.analysis.denovo` — de novo motifs from 10-mer neighbours of cell clusters
* :mod:`~cellspace.analysis.integrate` — anchor-based batch correction in the CellSpace space
* :mod:`~cellspace.analysis.trajectory` — Palantir pseudotime and fates
* :mod:`~cellspace.analysis.plotting` — figures
* :mod:`~cellspace.analysis.validate` — input reading and model/cells consistency checks
"""
