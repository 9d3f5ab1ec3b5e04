"""Atlas-sized simulated data in seconds: cells x events with cell types, without the simulator.

The full simulator scans and plants motifs in a synthetic genome and draws accessibility from a
rate model; at 200,000 cells x 50,000 events that takes far longer than the runs it feeds. This
generator builds the events x cells CSR directly:

- cells lie in ``n_types`` contiguous blocks of equal size (``obs["cell_type"]``);
- every event has a home type; it opens in its home type's cells with probability
  ``min(0.5, 5 * density)`` and in all other cells at the rate that gives ``density`` overall;
  open cells are drawn as geometric gaps, so indices come out sorted and unique with no sort;
- event sequences are random DNA; with ``sites_per_event > 0`` each event also carries that
  many sites of its home type's TF motif (JASPAR, sampled from the PWM, either strand), so the
  sequences explain the accessibility and an embedding can recover the cell types.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellspace.errors import ParameterError


@dataclass(frozen=True)
class AtlasSpec:
    n_cells: int = 200_000
    n_events: int = 50_000
    density: float = 0.02
    n_types: int = 10
    event_len: int = 500
    sites_per_event: int = 0
    seed: int = 1

    def validate(self) -> AtlasSpec:
        checks = [
            (self.n_types >= 1, f"n_types must be >= 1, got {self.n_types}"),
            (self.n_cells >= self.n_types, f"n_cells ({self.n_cells}) must be >= n_types ({self.n_types})"),
            (self.n_events >= 1, f"n_events must be >= 1, got {self.n_events}"),
            (0 < self.density < 0.1, f"density must be in (0, 0.1), got {self.density}"),
            (self.sites_per_event >= 0, f"sites_per_event must be >= 0, got {self.sites_per_event}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ParameterError(msg)
        return self


def atlas_cell_types(spec: AtlasSpec) -> np.ndarray:
    """Type index (0 .. n_types - 1) of every cell: contiguous blocks of equal size."""
    return np.arange(spec.n_cells) * spec.n_types // spec.n_cells


def atlas_events(spec: AtlasSpec, home: np.ndarray, rng: np.random.Generator):
    """events x cells binary CSR (uint8): each event open in its home type's block at a high
    rate and elsewhere at the rate that gives ``spec.density``."""
    import scipy.sparse as sp

    n, t = spec.n_cells, spec.n_types
    bounds = np.searchsorted(atlas_cell_types(spec), np.arange(t + 1))
    p_in = min(0.5, 5 * spec.density)
    p_out = max((spec.density - p_in / t) / (1 - 1 / t), 1e-6) if t > 1 else spec.density
    lo, hi = bounds[home], bounds[home + 1]
    seg_start = np.stack([np.zeros_like(lo), lo, hi], axis=1).ravel()
    seg_len = np.stack([lo, hi, np.full_like(lo, n)], axis=1).ravel() - seg_start
    seg_p = np.tile([p_out, p_in, p_out], spec.n_events)
    counts = np.zeros(len(seg_start), dtype=np.int64)
    parts: list[np.ndarray] = []
    chunk = 3 * 512
    for s in range(0, len(seg_start), chunk):
        st, ln, pp = seg_start[s : s + chunk], seg_len[s : s + chunk], seg_p[s : s + chunk]
        mean = ln * pp
        width = int((mean + 8 * np.sqrt(mean) + 16).max())
        pos = np.cumsum(rng.geometric(pp[:, None], size=(len(st), width)), axis=1, dtype=np.int64) - 1
        keep = pos < ln[:, None]
        if keep[:, -1].any():
            raise RuntimeError("atlas generator: gap budget exhausted (raise the margin)")
        counts[s : s + chunk] = keep.sum(axis=1)
        parts.append((pos + st[:, None])[keep].astype(np.int32))
    indices = np.concatenate(parts)
    del parts
    indptr = np.zeros(spec.n_events + 1, dtype=np.int64)
    np.cumsum(counts.reshape(-1, 3).sum(axis=1), out=indptr[1:])
    return sp.csr_matrix((np.ones(len(indices), dtype=np.uint8), indices, indptr), shape=(spec.n_events, n))


def atlas_sequences(spec: AtlasSpec, home: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """(events x event_len base codes, TF of each type) with the home type's motif planted
    ``spec.sites_per_event`` times per event (one site per equal slot of the event, so sites
    never overlap); TF names are empty without sites."""
    from cellspace.simulate.motifs import load_pool, sample_instances

    codes = rng.integers(0, 4, size=(spec.n_events, spec.event_len), dtype=np.uint8)
    s = spec.sites_per_event
    if s == 0:
        return codes, []
    pool = load_pool()
    if len(pool) < spec.n_types:
        raise ParameterError(f"{spec.n_types} cell types need {spec.n_types} TF motifs; the pool has {len(pool)}")
    motifs = pool[: spec.n_types]
    slot = spec.event_len // s
    for ti, m in enumerate(motifs):
        w = m.width
        if w > slot:
            raise ParameterError(f"{s} sites of {m.name} ({w} bp) do not fit in {spec.event_len} bp events")
        ev = np.flatnonzero(home == ti)
        if ev.size == 0:
            continue
        sites = sample_instances(m, ev.size * s, rng)
        minus = rng.random(len(sites)) < 0.5
        sites[minus] = 3 - sites[minus][:, ::-1]  # reverse complement (sites hold no N)
        start = (np.arange(s) * slot)[None, :] + rng.integers(0, slot - w + 1, size=(ev.size, s))
        rows = np.repeat(ev, s)[:, None]
        cols = start.reshape(-1, 1) + np.arange(w)[None, :]
        codes[rows, cols] = sites
    return codes, [m.name for m in motifs]


def atlas_dataset(spec: AtlasSpec, name: str = "atlas"):
    """A Dataset of ``spec``'s size (see the module docstring).

    ``obs["cell_type"]`` holds each cell's type; ``var["home_type"]`` (and ``var["tf"]`` with
    planted sites) each event's.
    """
    import pandas as pd

    from cellspace.dataset import make_dataset
    from cellspace.sequences import SequenceStore

    spec.validate()
    rng = np.random.default_rng(spec.seed)
    home = rng.integers(0, spec.n_types, spec.n_events)
    events = atlas_events(spec, home, rng)
    codes, tfs = atlas_sequences(spec, home, rng)
    store = SequenceStore.from_codes(list(codes))
    del codes
    type_names = np.array([f"type{i}" for i in range(spec.n_types)])
    obs = pd.DataFrame({"cell_type": type_names[atlas_cell_types(spec)]})
    var = pd.DataFrame({"home_type": type_names[home]})
    if tfs:
        var["tf"] = np.asarray(tfs)[home]
    # the CSC transpose view is the cells x events matrix a reader would give, without a copy
    return make_dataset(name, events.T, store, obs=obs, var=var,
                        cell_ids=[f"c{i}" for i in range(spec.n_cells)],
                        event_ids=[f"e{i}" for i in range(spec.n_events)])


__all__ = ["AtlasSpec", "atlas_cell_types", "atlas_dataset", "atlas_events", "atlas_sequences"]
