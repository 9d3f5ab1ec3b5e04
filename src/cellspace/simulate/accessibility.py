"""Opening probabilities and the sampled binary events x cells matrix.

For event e (of region r) and cell c of donor d::

    rate[e, c] = exp(baseline[r] + motif_effect * min(hits[r] . activity[c], motif_cap)
                     + donor_shift[d, r]) * depth[c] * scale
    P(open) = 1 - exp(-rate[e, c])

``scale`` is set per dataset (bisection) so that the mean opening probability equals the
target density. Each event is open in at least one cell and each cell has at least one open
event (the entry with the highest rate is switched on where needed), as after QC filtering.
Cells are processed in chunks, so memory stays bounded for large simulations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_CHUNK_ENTRIES = 1 << 22
_CALIBRATION_ENTRIES = 1 << 21


@dataclass
class RateModel:
    """Rates of one dataset's events in its cells (all arrays aligned to events / cells)."""

    baseline: np.ndarray  # (n_events,) log baseline
    hits: np.ndarray  # (n_events, n_tfs) float32 scanned hits
    donor_shift: np.ndarray  # (n_donors, n_events) log-fold
    activity: np.ndarray  # (n_cells, n_tfs) float32
    donor: np.ndarray  # (n_cells,) int
    depth: np.ndarray  # (n_cells,) library size factor
    motif_effect: float
    motif_cap: float

    @property
    def n_events(self) -> int:
        return len(self.baseline)

    @property
    def n_cells(self) -> int:
        return len(self.depth)

    def log_rate_type(self, activity: np.ndarray) -> np.ndarray:
        """(n_events, k) log rate at depth 1 without donor shifts, for k activity vectors."""
        ev = np.minimum(self.hits @ activity.T.astype(np.float32), self.motif_cap)
        return self.baseline[:, None] + self.motif_effect * ev

    def rates(self, cells: np.ndarray) -> np.ndarray:
        """Unscaled rates (n_events, len(cells)), float32."""
        ev = self.hits @ self.activity[cells].T
        np.minimum(ev, self.motif_cap, out=ev)
        ev *= np.float32(self.motif_effect)
        ev += self.baseline[:, None].astype(np.float32)
        ev += self.donor_shift[self.donor[cells]].T
        np.exp(ev, out=ev)
        ev *= self.depth[cells].astype(np.float32)[None, :]
        return ev

    def chunks(self) -> list[np.ndarray]:
        step = max(1, _CHUNK_ENTRIES // max(1, self.n_events))
        return [np.arange(i, min(i + step, self.n_cells)) for i in range(0, self.n_cells, step)]


def calibrate(model: RateModel, density: float) -> float:
    """Scale such that the mean opening probability over events x cells equals ``density``.

    Newton's method on log(scale) (the mean is increasing and concave in it), on all cells or
    an evenly spaced subset of them for large datasets.
    """
    n_sub = max(1, min(model.n_cells, _CALIBRATION_ENTRIES // max(1, model.n_events)))
    cells = np.unique(np.linspace(0, model.n_cells - 1, n_sub).round().astype(np.int64))
    r = model.rates(cells).ravel()
    x = float(np.log(density / max(float(r.mean(dtype=np.float64)), 1e-300)))
    lo, hi = -np.inf, np.inf
    for _ in range(60):
        sr = np.float32(np.exp(x)) * r
        e = np.exp(-sr)
        f = float((1.0 - e).mean(dtype=np.float64)) - density
        if abs(f) < 1e-7 * density:
            break
        if f < 0:
            lo = x
        else:
            hi = x
        grad = float((sr * e).mean(dtype=np.float64))
        step = x - f / grad if grad > 0 else np.nan
        if not np.isfinite(step) or not lo < step < hi:
            step = 0.5 * (lo + hi) if np.isfinite(lo) and np.isfinite(hi) else x + (1.0 if f < 0 else -1.0)
        x = step
    return float(np.exp(x))


def sample_matrix(model: RateModel, scale: float, rng: np.random.Generator) -> sp.csr_matrix:
    """Binary events x cells CSR matrix drawn from the opening probabilities."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    best_rate = np.full(model.n_events, -1.0, dtype=np.float32)
    best_cell = np.zeros(model.n_events, dtype=np.int64)
    cell_best_event = np.zeros(model.n_cells, dtype=np.int64)
    s = np.float32(scale)
    for cells in model.chunks():
        r = model.rates(cells)
        r *= s
        j = r.argmax(axis=1)
        v = r[np.arange(model.n_events), j]
        better = v > best_rate
        best_rate[better] = v[better]
        best_cell[better] = cells[j[better]]
        cell_best_event[cells] = r.argmax(axis=0)
        p = -np.expm1(-r)
        u = rng.random(r.shape, dtype=np.float32)
        e, c = np.nonzero(u < p)
        rows.append(e)
        cols.append(cells[c])
    e = np.concatenate(rows)
    c = np.concatenate(cols)
    m = sp.csr_matrix(
        (np.ones(len(e), dtype=np.uint8), (e, c)), shape=(model.n_events, model.n_cells)
    )
    empty_events = np.flatnonzero(np.diff(m.indptr) == 0)
    col_counts = np.bincount(c, minlength=model.n_cells)
    empty_cells = np.flatnonzero(col_counts == 0)
    if len(empty_events) or len(empty_cells):
        add_e = np.concatenate([empty_events, cell_best_event[empty_cells]])
        add_c = np.concatenate([best_cell[empty_events], empty_cells])
        extra = sp.csr_matrix(
            (np.ones(len(add_e), dtype=np.uint8), (add_e, add_c)), shape=m.shape
        )
        m = m + extra
        m.data[:] = 1
    m.sort_indices()
    return m
