"""kBET acceptance rate (Büttner et al. 2018), the one implementation of the project.

For every cell, the batch composition of its neighbourhood (the given kNN indices) is compared
with the batch frequencies of all cells by a chi-square test with ``n_batches - 1`` degrees of
freedom; the acceptance rate is the fraction of cells with p >= ``alpha`` (1 = well mixed).
This is scib-metrics' ``kbet`` (0.5) in NumPy/SciPy: the same statistic, the same neighbours
(whatever the caller passes, the cell itself included or not), and the same p-values up to
floating-point rounding, without its JAX compilation.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from cellspace.errors import ParameterError


def kbet_pvalues(indices: np.ndarray, batches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chi-square statistics, p-values) of every cell's neighbourhood batch composition."""
    indices = np.asarray(indices)
    _, codes = np.unique(np.asarray(batches).astype(str), return_inverse=True)
    n, k = indices.shape
    if codes.size != n:
        raise ParameterError(f"{codes.size} batch labels for {n} cells' neighbourhoods")
    nb = int(codes.max()) + 1 if n else 0
    counts = np.zeros((n, nb))
    np.add.at(counts, (np.repeat(np.arange(n), k), codes[indices].ravel()), 1.0)
    expected = np.bincount(codes, minlength=nb) / n * k
    chi2 = ((counts - expected) ** 2 / expected).sum(axis=1)
    return chi2, stats.chi2.sf(chi2, df=max(nb - 1, 1))


def kbet(indices: np.ndarray, batches: np.ndarray, alpha: float = 0.05) -> tuple[float, np.ndarray]:
    """(acceptance rate, per-cell acceptance p >= alpha); NaN and an all-NaN array with fewer
    than two batches."""
    batches = np.asarray(batches)
    if np.unique(batches.astype(str)).size < 2:
        return float("nan"), np.full(batches.size, np.nan)
    _, p = kbet_pvalues(indices, batches)
    accepted = p >= alpha
    return float(accepted.mean()), accepted
