"""Batch-effect and co-embedding benchmarks on simulations with known donors and atlases.

A :class:`Scenario` is a simulation (overrides of
:class:`cellspace.simulate.params.SimulationParams`) and the label to mix: ``donor`` (donors
within one dataset) or ``dataset`` (datasets with their own event atlases). :func:`run_scenario`
simulates it, embeds it with CellSpace (without and with batch labels, at several epoch counts)
and with the LSI-based competitors, and scores every embedding with :func:`score`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from cellspace.bench.metrics import score_embedding
from cellspace.bench.mixing import cross_knn_accuracy, kmeans_ari, knn_entropy, unit_batch_asw
from cellspace.errors import ParameterError
from cellspace.simulate import Simulation, SimulationParams, simulate

log = logging.getLogger(__name__)

__all__ = ["Scenario", "BATCH_SCENARIOS", "COEMBED_SCENARIOS", "scenario_simulation", "cells_table",
           "cellspace_embedding", "baseline_embedding", "score", "run_scenario"]

# the batch simulations: 6 cell types, 3 donors, donor-specific events that only open
# (independent of sequence), one dataset
_DONORS: dict[str, Any] = dict(n_cells=800, n_events=1200, event_len=300, n_types=6, n_donors=3,
                               donor_effect_sign="open", donor_event_fraction=0.2)
# the co-embedding simulations: two datasets with their own donors, 6 cell types
_DATASETS: dict[str, Any] = dict(n_cells=800, n_events=1500, event_len=500, n_types=6, n_donors=2,
                                 n_datasets=2, donor_effect_sign="open", donor_effect=1.0,
                                 donor_event_fraction=0.1)


@dataclass(frozen=True)
class Scenario:
    name: str
    key: str  # "donor" or "dataset": the label the embedding should mix
    sim: dict[str, Any] = field(default_factory=dict)
    description: str = ""


BATCH_SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("donor_events_1", "donor", {**_DONORS, "donor_effect": 1.0},
             "20 % of events open e^1 = 2.7x more in one donor"),
    Scenario("donor_events_2", "donor", {**_DONORS, "donor_effect": 2.0},
             "20 % of events open e^2 = 7.4x more in one donor"),
    Scenario("composition", "donor", {**_DONORS, "donor_effect": 1.0, "donor_type_concentration": 3.0,
                                      "absent_types": ((0, 5),)},
             "donor-specific type proportions, type6 absent from donor1, donor events e^1"),
    Scenario("depth", "donor", {**_DONORS, "donor_effect": 1.0, "donor_depth_spread": 1.0},
             "donor depth factors e^-1, 1, e^1; donor events e^1"),
    Scenario("composition_2", "donor", {**_DONORS, "donor_effect": 2.0, "donor_type_concentration": 3.0,
                                        "absent_types": ((0, 5),)},
             "donor-specific type proportions, type6 absent from donor1, donor events e^2"),
    Scenario("datasets", "dataset", {**_DATASETS, "shared_regions": 0.0},
             "two datasets with disjoint event atlases"),
]}

COEMBED_SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("rebounded", "dataset", {**_DATASETS, "shared_regions": 1.0},
             "the same regions, boundaries shifted by up to 20 % of the event"),
    Scenario("overlap_50", "dataset", {**_DATASETS, "shared_regions": 0.5},
             "half of each dataset's regions shared, boundaries shifted"),
    Scenario("disjoint", "dataset", {**_DATASETS, "shared_regions": 0.0},
             "no shared region"),
    Scenario("disjoint_depth", "dataset", {**_DATASETS, "shared_regions": 0.0, "dataset_density_ratio": 1.6,
                                           "donor_type_concentration": 4.0},
             "no shared region, the second dataset 1.6x denser, donor-specific type proportions"),
]}


def scenario_simulation(scenario: Scenario, seed: int) -> Simulation:
    return simulate(SimulationParams(seed=seed, **scenario.sim))


def cells_table(sim: Simulation) -> pd.DataFrame:
    """cell_type, dataset and donor (qualified by dataset) of every cell, in training order."""
    c = sim.truth.cells
    return pd.DataFrame({"cell_type": c["cell_type"].to_numpy(), "dataset": c["dataset"].to_numpy(),
                         "donor": (c["dataset"] + "/" + c["donor"]).to_numpy()})


def cellspace_embedding(sim: Simulation, *, key: str | None, epochs: int, seed: int,
                        threads: int = 1, **params: Any) -> np.ndarray:
    """CellSpace cell vectors; ``key`` = "donor" trains with ``--batch-key donor``."""
    from cellspace.train import TrainParams, train_datasets

    datasets = sim.datasets
    if key is not None:
        datasets = [dataclasses.replace(d, batch_key=key) for d in datasets]
    tp = TrainParams(epochs=epochs, seed=seed, threads=threads, batch_key=key, **params)
    _, cells = train_datasets(datasets, tp, progress=False)
    return np.asarray(cells.obsm["X_cellspace"], dtype=np.float64)


def union_anndata(sim: Simulation) -> AnnData:
    """cells x events AnnData over the union of all datasets' events (block diagonal)."""
    X = sp.block_diag([d.events.T for d in sim.datasets], format="csr").astype(np.float32)
    cells = cells_table(sim)
    obs = cells.set_index(pd.Index([f"c{i}" for i in range(len(cells))]))
    obs["batch"] = obs["donor"]
    return AnnData(X=X, obs=obs)


def baseline_embedding(sim: Simulation, method: str, *, key: str, seed: int) -> np.ndarray:
    """An LSI-family method of :mod:`cellspace.bench.methods` on the union matrix."""
    from cellspace.bench.methods import get_method

    adata = union_anndata(sim)
    m = get_method(method)
    return np.asarray(m.embed(adata, batch_key=key if m.uses_batch else None, seed=seed), dtype=np.float64)


def score(X: np.ndarray, cells: pd.DataFrame, key: str, metric: str, seed: int = 0) -> dict[str, float]:
    """k-means ARI, the harness's scib metrics on ``key``, kNN entropy of ``key`` and, with
    several datasets, cross-dataset kNN type accuracy and each dataset's own ARI."""
    types = cells["cell_type"].to_numpy()
    labels = cells[key].to_numpy()
    sc = score_embedding(X, types, labels, metric=metric, n_neighbors=15, seed=seed)
    out = {"ari": kmeans_ari(X, types, seed), "entropy": knn_entropy(X, labels, types),
           "asw_unit": unit_batch_asw(X, types, labels)}
    out.update({k: sc.values[k] for k in ("asw_batch", "graph_connectivity", "kbet", "batch_nmi",
                                           "bio_score", "batch_score", "overall_score")})
    ds = cells["dataset"].to_numpy()
    if np.unique(ds).size > 1:
        out["cross_acc"] = cross_knn_accuracy(X, types, ds)
        for name in np.unique(ds):
            out[f"ari_{name}"] = kmeans_ari(X[ds == name], types[ds == name], seed)
    return out


def run_scenario(scenario: Scenario, seed: int, *, epochs: Sequence[int] = (10, 20, 50),
                 cellspace: Sequence[str] = ("cellspace", "cellspace_batch"),
                 baselines: Sequence[str] = ("lsi", "lsi_harmony", "itlsi_harmony"),
                 threads: int = 1, alone: bool = False, **params: Any) -> pd.DataFrame:
    """One row per (method, epochs) with :func:`score`'s metrics and the run time.

    ``alone``: also train each dataset by itself at the largest epoch count
    (``ari_alone_<dataset>``, for the within-dataset ARI ratio of co-embedding).
    """
    sim = scenario_simulation(scenario, seed)
    cells = cells_table(sim)
    rows: list[dict[str, Any]] = []

    def add(method: str, ep: int | None, X: np.ndarray, secs: float, metric: str) -> None:
        row = {"scenario": scenario.name, "seed": seed, "method": method, "epochs": ep, "seconds": secs,
               **score(X, cells, scenario.key, metric, seed)}
        log.info("%s", row)
        rows.append(row)

    for variant in cellspace:
        if variant not in ("cellspace", "cellspace_batch"):
            raise ParameterError(f"unknown CellSpace variant {variant!r}")
        key = scenario.key if variant == "cellspace_batch" and scenario.key == "donor" else None
        if variant == "cellspace_batch" and scenario.key == "dataset":
            continue  # datasets are always their own negative groups
        for ep in epochs:
            t0 = time.perf_counter()
            X = cellspace_embedding(sim, key=key, epochs=ep, seed=seed, threads=threads, **params)
            label = variant + (" (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")
            add(label, ep, X, time.perf_counter() - t0, "cosine")
            if alone and len(sim.datasets) > 1 and ep == max(epochs):
                for d in sim.datasets:
                    one = Simulation(params=sim.params, datasets=[d], truth=sim.truth, genome=sim.genome,
                                     motifs=sim.motifs, cell_types=sim.cell_types)
                    Xa = cellspace_embedding(one, key=None, epochs=ep, seed=seed, threads=threads, **params)
                    own = cells[cells["dataset"] == d.name]
                    rows[-1][f"ari_alone_{d.name}"] = kmeans_ari(Xa, own["cell_type"].to_numpy(), seed)
    for method in baselines:
        t0 = time.perf_counter()
        X = baseline_embedding(sim, method, key="batch", seed=seed)
        add(method, None, X, time.perf_counter() - t0, "euclidean")
    return pd.DataFrame(rows)
