"""UMAP of the CellSpace space (umap-learn, cosine), alone or jointly with motif vectors.

The cosine kNN from :mod:`cellspace.analysis.graph` (exact up to its ``EXACT_MAX_CELLS``, else
approximate; or the one already computed for the cell graphs) is handed to umap-learn, which
then skips its own neighbour search.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from cellspace.analysis.graph import KNN, knn_graph
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

DEFAULT_MIN_DIST = 0.3  # Seurat's RunUMAP default, as used for the paper's figures


def umap_coordinates(
    x: np.ndarray,
    n_neighbors: int = 20,
    metric: str = "cosine",
    min_dist: float = DEFAULT_MIN_DIST,
    seed: int = 0,
    knn: KNN | None = None,
) -> np.ndarray:
    """2-D UMAP coordinates of the rows of ``x`` (float32, shape (n, 2)).

    ``knn``: the rows' kNN (self first) when already computed with this ``n_neighbors`` and
    ``metric``; otherwise it is computed here.
    """
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    if n < 4:
        raise ParameterError(f"UMAP needs at least 4 points, have {n}")
    k = max(2, min(n_neighbors, n - 1))
    if knn is None or knn.k != k or knn.metric != metric or knn.indices.shape[0] != n:
        knn = knn_graph(x, n_neighbors=k, metric=metric, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

        reducer = umap.UMAP(
            n_neighbors=k,
            n_components=2,
            metric=metric,
            min_dist=min_dist,
            random_state=seed,
            precomputed_knn=(knn.indices, knn.distances.astype(np.float32), None),
            init="spectral" if n > 20 else "random",
            transform_mode="embedding",
        )
        emb = reducer.fit_transform(x)
    return np.asarray(emb, dtype=np.float32)


def umap(
    adata,
    use_rep: str = "X_cellspace",
    n_neighbors: int = 20,
    metric: str = "cosine",
    min_dist: float = DEFAULT_MIN_DIST,
    seed: int = 0,
    key_added: str = "X_umap",
    knn: KNN | None = None,
) -> np.ndarray:
    """UMAP of ``adata.obsm[use_rep]`` into ``obsm[key_added]`` and ``uns["umap"]["params"]``
    (``knn``: see :func:`umap_coordinates`)."""
    from cellspace.analysis.validate import embedding_of

    coords = umap_coordinates(embedding_of(adata, use_rep), n_neighbors, metric, min_dist, seed, knn=knn)
    adata.obsm[key_added] = coords
    adata.uns["umap" if key_added == "X_umap" else key_added] = {
        "params": {"use_rep": use_rep, "n_neighbors": int(n_neighbors), "metric": metric,
                   "min_dist": float(min_dist), "seed": int(seed)}
    }
    return coords


def joint_umap(
    cell_vectors: np.ndarray,
    motif_vectors: np.ndarray,
    n_neighbors: int = 20,
    metric: str = "cosine",
    min_dist: float = DEFAULT_MIN_DIST,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """UMAP of cells and motifs together (motif rows appended to the cell rows).

    Returns ``(cell_coords, motif_coords)``.
    """
    cell_vectors = np.asarray(cell_vectors, dtype=np.float32)
    motif_vectors = np.asarray(motif_vectors, dtype=np.float32)
    if motif_vectors.ndim != 2 or motif_vectors.shape[1] != cell_vectors.shape[1]:
        raise ParameterError(
            f"motif vectors have shape {motif_vectors.shape}; need (n, {cell_vectors.shape[1]})"
        )
    coords = umap_coordinates(np.vstack([cell_vectors, motif_vectors]), n_neighbors, metric, min_dist, seed)
    n = cell_vectors.shape[0]
    return coords[:n], coords[n:]
