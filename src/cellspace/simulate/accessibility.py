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
_CALIBRATION_ENTRIES = 1 << 22
_CALIBRATION_CELLS = 1024


def _spread(n: int, k: int) -> np.ndarray:
    """All of range(n) when n <= k, else k evenly spaced indices."""
    return np.arange(n) if n <= k else np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


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

    def rates(self, cells: np.ndarray, events: np.ndarray | None = None) -> np.ndarray:
        """Unscaled rates, cell-major: (len(cells), n_events or len(events)) float32."""
        hits = self.hits if events is None else self.hits[events]
        x = self.activity[cells] @ hits.T
        np.minimum(x, np.float32(self.motif_cap), out=x)
        x *= np.float32(self.motif_effect)
        x += (self.baseline if events is None else self.baseline[events]).astype(np.float32)[None, :]
        d = self.donor[cells]
        shift = self.donor_shift if events is None else self.donor_shift[:, events]
        if len(d) and (d == d[0]).all():
            x += shift[d[0]][None, :]
        else:
            x += shift[d]
        np.exp(x, out=x)
        x *= self.depth[cells].astype(np.float32)[:, None]
        return x

    def chunks(self) -> list[np.ndarray]:
        """Cell index chunks of bounded size, each from a single donor."""
        step = max(1, _CHUNK_ENTRIES // max(1, self.n_events))
        out = []
        for k in np.unique(self.donor):
            cells = np.flatnonzero(self.donor == k)
            out += [cells[i : i + step] for i in range(0, len(cells), step)]
        return out


def calibrate(model: RateModel, density: float) -> float:
    """Scale such that the mean opening probability over events x cells equals ``density``.

    Newton's method on log(scale), on all entries or, for large datasets, on evenly spaced
    subsets of cells (cells are in random order) and events.
    """
    cells = _spread(model.n_cells, _CALIBRATION_CELLS)
    events = _spread(model.n_events, max(1, _CALIBRATION_ENTRIES // len(cells)))
    r = model.rates(cells, events).ravel()
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
    """Binary events x cells CSR matrix drawn from the opening probabilities.

    An entry is open when an Exp(1) draw is below its rate, i.e. with probability
    1 - exp(-rate).
    """
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    s = np.float32(scale)
    for cells in model.chunks():
        r = model.rates(cells)
        r *= s
        c, e = np.nonzero(r > rng.standard_exponential(r.shape, dtype=np.float32))
        rows.append(e)
        cols.append(cells[c])
    e = np.concatenate(rows)
    c = np.concatenate(cols)
    m = sp.csr_matrix(
        (np.ones(len(e), dtype=np.uint8), (e, c)), shape=(model.n_events, model.n_cells)
    )
    empty_events = np.flatnonzero(np.diff(m.indptr) == 0)
    empty_cells = np.flatnonzero(np.bincount(c, minlength=model.n_cells) == 0)
    if len(empty_events) or len(empty_cells):
        add_e: list[np.ndarray] = []
        add_c: list[np.ndarray] = []
        if len(empty_events):  # the cell with the highest rate for each empty event
            best = np.full(len(empty_events), -1.0, dtype=np.float32)
            arg = np.zeros(len(empty_events), dtype=np.int64)
            for cells in model.chunks():
                r = model.rates(cells, empty_events)
                j = r.argmax(axis=0)
                v = r[j, np.arange(len(empty_events))]
                better = v > best
                best[better], arg[better] = v[better], cells[j[better]]
            add_e.append(empty_events)
            add_c.append(arg)
        if len(empty_cells):  # the event with the highest rate for each empty cell
            add_e.append(model.rates(empty_cells).argmax(axis=1))
            add_c.append(empty_cells)
        ae, ac = np.concatenate(add_e), np.concatenate(add_c)
        m = m + sp.csr_matrix((np.ones(len(ae), dtype=np.uint8), (ae, ac)), shape=m.shape)
        m.data[:] = 1
    m.sort_indices()
    return m
