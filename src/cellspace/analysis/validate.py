"""Reading and checking the inputs of the analysis steps: ``cells.h5ad`` and ``model.npz``.

A model and a cells file belong together when they carry the same run id and list the same
cells in the same order; every analysis step that reads both checks that first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellspace.errors import InputError, ParameterError
from cellspace.model import CellSpaceModel

EMBEDDING_KEY = "X_cellspace"


# obs columns that hold known cell labels, and clusterings written by ``analyze``, in order of
# preference (steps pick the first present)
LABEL_COLUMNS = ("cell_type", "celltype", "label")
CLUSTER_COLUMNS = ("leiden", "louvain")


def read_cells(path: str | Path, use_rep: str | None = EMBEDDING_KEY):
    """Read a cells AnnData; with ``use_rep``, require that embedding in ``obsm``."""
    from cellspace.io.anndata_io import read_anndata

    path = Path(path)
    adata = read_anndata(path)
    if adata.n_obs == 0:
        raise InputError("contains no cells", path)
    if use_rep is not None:
        if use_rep not in adata.obsm:
            have = ", ".join(adata.obsm.keys()) or "none"
            raise InputError(f"has no obsm[{use_rep!r}] embedding (obsm keys: {have})", path)
        x = np.asarray(adata.obsm[use_rep])
        if x.ndim != 2 or not np.isfinite(x).all():
            raise InputError(f"obsm[{use_rep!r}] is not a finite 2-D matrix", path)
    if not adata.obs_names.is_unique:
        raise InputError("cell ids (obs_names) are not unique", path)
    return adata


def read_model(path: str | Path, with_buckets: bool = False) -> CellSpaceModel:
    """Load ``model.npz`` (n-gram buckets skipped by default: analysis uses k-mer rows only)."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path)
    return CellSpaceModel.load(path, with_buckets=with_buckets)


def run_id_of(adata) -> str | None:
    info = adata.uns.get("cellspace", {})
    rid = info.get("run_id") if hasattr(info, "get") else None
    return None if rid is None else str(rid)


def check_same_run(
    model: CellSpaceModel,
    adata,
    model_path: str | Path | None = None,
    cells_path: str | Path | None = None,
) -> None:
    """Raise InputError unless model and cells come from the same training run.

    Checks the run ids (when both have one) and that the cells of the AnnData are those of the
    model, in the same order (when the model lists its cell ids), else the cell counts.
    """
    where = cells_path if cells_path is not None else model_path
    rid = run_id_of(adata)
    if model.run_id and rid and model.run_id != rid:
        raise InputError(
            f"cells come from training run {rid} but the model {model_path or ''} from run "
            f"{model.run_id}; use the cells.h5ad written with this model".replace("  ", " "),
            where,
        )
    ids = np.asarray(model.cell_ids, dtype=str)
    if len(ids):
        obs = np.asarray(adata.obs_names, dtype=str)
        if len(ids) != len(obs) or not np.array_equal(ids, obs):
            n_common = len(np.intersect1d(ids, obs))
            raise InputError(
                f"cell ids differ from the model's ({len(obs)} cells vs {len(ids)} in the model, "
                f"{n_common} in common)",
                where,
            )
    elif model.n_cells and model.n_cells != adata.n_obs:
        raise InputError(f"has {adata.n_obs} cells but the model has {model.n_cells}", where)


def embedding_of(adata, use_rep: str = EMBEDDING_KEY) -> np.ndarray:
    """The float32 embedding matrix ``adata.obsm[use_rep]`` (``"X"`` for ``adata.X``)."""
    if use_rep == "X":
        x = adata.X
    elif use_rep in adata.obsm:
        x = adata.obsm[use_rep]
    else:
        have = ", ".join(adata.obsm.keys()) or "none"
        raise ParameterError(f"no embedding obsm[{use_rep!r}] (obsm keys: {have})")
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.asarray(x, dtype=np.float32)


def obs_column(adata, key: str | None, what: str = "column") -> str | None:
    """``key`` if it is an obs column (ParameterError otherwise); None stays None."""
    if key is None:
        return None
    if key not in adata.obs.columns:
        have = ", ".join(map(str, adata.obs.columns)) or "none"
        raise ParameterError(f"no obs {what} {key!r} in the cells (obs columns: {have})")
    return key
