"""End-to-end checks of the analysis steps on trained simulations (slow: each trains a model).

The thresholds are below the values measured in docs/benchmarks.md (several seeds), since a
single Hogwild training run varies.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from cellspace.analysis.synthetic import trained_simulation

pytestmark = pytest.mark.slow

SIM = dict(n_cells=1000, n_events=5000)


@pytest.fixture(scope="module")
def discrete():
    return trained_simulation(seed=0, epochs=30, **SIM)


def test_planted_tfs_rank_near_the_top_of_their_cell_type(discrete):
    from cellspace.analysis.motif_db import jaspar_motifs
    from cellspace.analysis.motifs import group_means, motif_scores_for_cells, planted_ranks

    sim, model, adata = discrete
    db = jaspar_motifs()
    s = motif_scores_for_cells(model, db, adata.obsm["X_cellspace"], adata.obs_names)
    means = group_means(s.X, adata.obs["cell_type"], s.var_names)
    ranks = planted_ranks(means, sim.truth.active_tfs(), s.var["name"].astype(str).tolist())["rank"]
    assert (ranks > 0).all()
    assert np.mean(ranks <= 5) >= 0.6
    assert np.median(ranks) <= 5


def test_denovo_contrast_recovers_planted_tfs(discrete):
    from cellspace.analysis.denovo import denovo_motifs, recovered_tfs
    from cellspace.analysis.motif_db import jaspar_motifs

    sim, model, adata = discrete
    res = denovo_motifs(model, adata.obsm["X_cellspace"], adata.obs["cell_type"].to_numpy(),
                        database=jaspar_motifs(), selection="contrast")
    rec = recovered_tfs(res, sorted(set(sim.truth.tfs["tf"])))
    assert np.mean(list(rec.values())) >= 0.3


def test_clusters_recover_cell_types(discrete):
    from sklearn.metrics import adjusted_rand_score

    from cellspace.analysis.clustering import cluster_embedding

    sim, _, adata = discrete
    labels = cluster_embedding(adata.obsm["X_cellspace"], n_clusters=4)
    assert adjusted_rand_score(adata.obs["cell_type"], labels) > 0.6


def test_palantir_orders_the_simulated_trajectory_and_finds_branches():
    from cellspace.analysis.trajectory import run_palantir

    sim, _, adata = trained_simulation(seed=0, epochs=30, trajectory=True, **SIM)
    cells = sim.truth.cells.set_index("cell").loc[adata.obs_names]
    res = run_palantir(adata, start_group="cell_type=root")
    assert spearmanr(res.pseudotime, cells["pseudotime"]).statistic >= 0.8
    found = set(cells.loc[res.terminal_states, "terminal_state"]) - {"root"}
    assert len(found) >= 2


def test_anchor_correction_removes_an_added_batch_shift():
    from cellspace.analysis.integrate import integrate, integration_metrics

    sim, _, adata = trained_simulation(seed=0, epochs=30, n_datasets=2, **SIM)
    adata = adata.copy()
    x = adata.obsm["X_cellspace"].astype(np.float64)
    d = np.random.default_rng(0).normal(size=x.shape[1])
    d *= np.linalg.norm(x, axis=1).mean() / np.linalg.norm(d)
    batch = adata.obs["dataset"].astype(str).to_numpy()
    names = sorted(set(batch))
    x[batch == names[1]] += d
    adata.obsm["X_shifted"] = x.astype(np.float32)
    y = adata.obs["cell_type"].astype(str).to_numpy()
    before = integration_metrics(adata.obsm["X_shifted"], batch, y)
    integrate(adata, "dataset", names[0], use_rep="X_shifted", key_added="X_int", space="raw", center=True)
    after = integration_metrics(adata.obsm["X_int"], batch, y)
    assert after["batch_asw"] >= before["batch_asw"] + 0.15
    assert after["kbet"] >= before["kbet"] + 0.1
    assert after["ari"] >= before["ari"] - 0.05
