"""A small synthetic scATAC-seq AnnData for tests and timing of the benchmark harness.

Cells belong to ``n_types`` cell types and ``n_batches`` batches. Each cell type opens its
own group of events, whose sequences carry a type-specific planted motif; each batch opens a
batch-specific set of events more often and has its own depth, so batch effects exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

_BASES = np.array(list("ACGT"))


def toy_atac(n_cells: int = 300, n_events: int = 400, n_types: int = 3, n_batches: int = 2,
             seq_len: int = 300, p_open: float = 0.35, p_background: float = 0.04,
             batch_effect: float = 0.25, seed: int = 0) -> AnnData:
    """cells x events binary AnnData with obs["cell_type"], obs["batch"], var["sequence"]."""
    rng = np.random.default_rng(seed)
    cell_type = rng.integers(0, n_types, n_cells)
    batch = rng.integers(0, n_batches, n_cells)
    ev_group = rng.integers(0, n_types + 1, n_events)  # group n_types: shared events
    ev_batch = rng.integers(0, n_batches, n_events)
    batch_ev = rng.random(n_events) < 0.3
    depth = np.exp(rng.normal(0, 0.3, n_cells)) * (1 + 0.3 * batch / max(n_batches - 1, 1))
    p = np.full((n_cells, n_events), p_background)
    p[cell_type[:, None] == ev_group[None, :]] = p_open
    p += batch_effect * p_open * (batch_ev[None, :] & (batch[:, None] == ev_batch[None, :]))
    p = np.clip(p * depth[:, None], 0, 0.95)
    X = (rng.random((n_cells, n_events)) < p).astype(np.float32)
    X[np.arange(n_cells), rng.integers(0, n_events, n_cells)] = 1  # no empty cell
    X[rng.integers(0, n_cells, n_events), np.arange(n_events)] = 1  # no empty event
    motifs = ["".join(rng.choice(_BASES, 10)) for _ in range(n_types)]
    seqs = []
    for j in range(n_events):
        s = rng.choice(_BASES, seq_len)
        if ev_group[j] < n_types:
            for _ in range(3):
                a = rng.integers(0, seq_len - 10)
                s[a:a + 10] = list(motifs[ev_group[j]])
        seqs.append("".join(s))
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical([f"type{t}" for t in cell_type]),
         "batch": pd.Categorical([f"batch{b}" for b in batch])},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame({"sequence": seqs}, index=[f"event{j}" for j in range(n_events)])
    return AnnData(X=sp.csr_matrix(X), obs=obs, var=var)


def dataset_to_anndata(ds) -> AnnData:
    """A :class:`cellspace.dataset.Dataset` as the cells x events AnnData the methods take
    (binary X, obs = cell metadata, var["sequence"])."""
    seqs = [ds.sequences.sequence(i) for i in range(ds.n_events)]
    obs = ds.obs.copy()
    obs.index = obs.index.astype(str)
    var = pd.DataFrame({"sequence": seqs}, index=pd.Index([str(e) for e in ds.event_ids]))
    return AnnData(X=sp.csr_matrix(ds.events.T, dtype=np.float32), obs=obs, var=var)
