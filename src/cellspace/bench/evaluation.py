"""What the benchmark evaluates: the embeddings of several runs on the same cells, the cells kept.

:func:`collect_embeddings` gathers the ``obsm["X_<method>"]`` of several AnnData objects (one
per method run, plus the trained CellSpace cells) into one AnnData; :func:`evaluation_inputs`
picks the methods, their distance metric and the evaluated cells (labelled, not excluded, in
the subset). Both steps that score embeddings (BENCH_SCORE, BENCH_BOOTSTRAP) use them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np

from cellspace.errors import InputError, ParameterError

log = logging.getLogger(__name__)

CELLSPACE_KEY = "X_cellspace"


def collect_embeddings(runs: Sequence[tuple[str, ad.AnnData]],
                       cells: tuple[str, ad.AnnData] | None = None) -> ad.AnnData:
    """One AnnData (obs of the first run, no counts) with every ``obsm["X_*"]`` of ``runs``.

    ``runs`` are (source name, AnnData) pairs; the first gives the cells, the others must hold
    them all (matched by name). A key already collected is not overwritten. ``cells``, the
    trained cells, adds its ``X_cellspace`` when no run holds one. ``uns["bench_runs"]`` keeps
    the run records (time, memory, metric) of the collected methods.
    """
    if not runs:
        raise InputError("no embedding files given")
    first_name, first = runs[0]
    out = ad.AnnData(obs=first.obs.copy())
    methods: list[str] = []
    records: dict = {}
    for name, a in runs:
        idx = _indexer(out, a, name, first_name)
        for key in a.obsm:
            if key.startswith("X_") and key not in out.obsm:
                out.obsm[key] = np.asarray(a.obsm[key])[idx]
                methods.append(key[2:])
        records.update(dict(a.uns.get("bench_runs", {})))
    if cells is not None and CELLSPACE_KEY not in out.obsm:
        name, a = cells
        if CELLSPACE_KEY not in a.obsm:
            raise InputError(f"no obsm[{CELLSPACE_KEY!r}] (not a trained cells file)", name)
        out.obsm[CELLSPACE_KEY] = np.asarray(a.obsm[CELLSPACE_KEY])[_indexer(out, a, name, first_name)]
        methods.append("cellspace")
    out.uns["bench_runs"] = {m: records[m] for m in methods if m in records}
    return out


def _indexer(out: ad.AnnData, a: ad.AnnData, name: str, first_name: str) -> np.ndarray:
    missing = out.obs_names.difference(a.obs_names)
    if len(missing):
        raise InputError(f"{len(missing)} cells of {first_name} missing, e.g. {missing[0]}", name)
    return a.obs_names.get_indexer(out.obs_names)


@dataclass
class Evaluation:
    """Embeddings restricted to the evaluated cells, with their labels and batches."""

    embeddings: dict[str, np.ndarray]  # method -> cells x d (float64)
    metrics: dict[str, str]  # method -> "euclidean" | "cosine"
    labels: np.ndarray  # str, evaluated cells
    batches: np.ndarray | None
    n_excluded: int


def evaluation_inputs(
    adata: ad.AnnData,
    *,
    label_key: str,
    batch_key: str | None = None,
    methods: Sequence[str] = (),
    label_exclude: Sequence[str] = (),
    subset_key: str | None = None,
    subset_values: Sequence[str] = (),
    cosine: Sequence[str] = (),
    source: str = "embeddings",
) -> Evaluation:
    """The embeddings of ``methods`` (default: the runs recorded in ``uns["bench_runs"]``, plus
    cellspace when ``X_cellspace`` exists) on the cells to evaluate. A method's distance is
    cosine when listed in ``cosine``, else its run's, else its registered method's."""
    from cellspace.bench.methods import get_method
    from cellspace.bench.metrics import evaluation_mask

    for what, key in (("label", label_key), ("batch", batch_key), ("subset", subset_key)):
        if key is not None and key not in adata.obs:
            raise InputError(f"{what} column {key!r} not in obs", source)
    runs = dict(adata.uns.get("bench_runs", {}))
    chosen = list(methods)
    if not chosen:
        chosen = list(runs)
        if CELLSPACE_KEY in adata.obsm and "cellspace" not in chosen:
            chosen.insert(0, "cellspace")
    if not chosen:
        raise InputError("no embeddings to evaluate (give --methods)", source)
    emb, metric = {}, {}
    for m in chosen:
        key = f"X_{m}"
        if key not in adata.obsm:
            raise InputError(f"embedding obsm[{key!r}] not found", source)
        emb[m] = np.asarray(adata.obsm[key], dtype=np.float64)
        if m in cosine:
            metric[m] = "cosine"
        elif m in runs and "metric" in runs[m]:
            metric[m] = str(runs[m]["metric"])
        else:
            try:
                metric[m] = get_method(m).metric
            except ParameterError:
                metric[m] = "euclidean"
    labels = adata.obs[label_key].astype(object).to_numpy()
    subset = None
    if subset_key is not None:
        subset = adata.obs[subset_key].astype(str).isin(list(subset_values)).to_numpy()
    mask = evaluation_mask(labels, label_exclude, subset)
    if mask.sum() < 3:
        raise InputError(f"only {int(mask.sum())} cells left to evaluate", source)
    batches = None
    if batch_key is not None:
        batches = adata.obs[batch_key].astype(str).to_numpy()[mask]
    log.info("evaluating %d of %d cells, methods: %s", int(mask.sum()), adata.n_obs, ", ".join(chosen))
    return Evaluation({k: v[mask] for k, v in emb.items()}, metric, labels[mask].astype(str), batches,
                      int((~mask).sum()))
