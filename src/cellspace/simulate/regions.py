"""Underlying regulatory regions and each dataset's events (its own peak atlas).

Regions are ``event_len`` bp intervals inside source records, with ``margin`` bp of room on
each side. When the genome has room, regions are disjoint (one per tile of
``event_len + 2 * margin`` bp); otherwise they may overlap. A dataset uses a random subset of
the regions and shifts each event's boundaries by up to ``margin`` bp, like independently
called peak sets of the same tissue.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cellspace.errors import InputError
from cellspace.simulate.sequences import SyntheticGenome

log = logging.getLogger(__name__)


def _slots(genome: SyntheticGenome, slot_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(chrom, start) of every N-free tile of ``slot_len`` bp, records tiled from the centre."""
    rec = genome.records
    rc = rec["chrom"].to_numpy(dtype=np.int64)
    rs = rec["start"].to_numpy(dtype=np.int64)
    rlen = rec["end"].to_numpy(dtype=np.int64) - rs
    k = rlen // slot_len
    first = rs + (rlen - k * slot_len) // 2
    rec_of = np.repeat(np.arange(len(rec)), k)
    within = np.arange(len(rec_of)) - np.repeat(np.cumsum(k) - k, k)
    chrom = rc[rec_of]
    start = first[rec_of] + within * slot_len
    ok = np.ones(len(start), dtype=bool)
    for ci in np.unique(chrom):
        sel = np.flatnonzero(chrom == ci)
        cum = genome.n_cumsum(int(ci))
        ok[sel] = cum[start[sel] + slot_len] - cum[start[sel]] == 0
    return chrom[ok], start[ok]


def _random_positions(
    genome: SyntheticGenome, n: int, slot_len: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct N-free ``slot_len`` windows at uniform positions (windows may overlap)."""
    rec = genome.records
    room = (rec["end"] - rec["start"] - slot_len + 1).clip(lower=0).to_numpy(dtype=np.float64)
    if room.sum() <= 0:
        raise InputError(f"no sequence record is long enough for {slot_len} bp events", genome.source)
    cums = [genome.n_cumsum(ci) for ci in range(len(genome.chroms))]
    prob = room / room.sum()
    seen: set[tuple[int, int]] = set()
    out_c: list[int] = []
    out_s: list[int] = []
    for _ in range(50):
        need = n - len(out_c)
        if need <= 0:
            break
        r = rng.choice(len(rec), size=2 * need, p=prob)
        off = (rng.random(2 * need) * room[r]).astype(np.int64)
        ch = rec["chrom"].to_numpy()[r]
        st = rec["start"].to_numpy()[r] + off
        for c, s in zip(ch.tolist(), st.tolist(), strict=True):
            cum = cums[c]
            if (c, s) in seen or cum[s + slot_len] - cum[s] > 0:
                continue
            seen.add((c, s))
            out_c.append(c)
            out_s.append(s)
            if len(out_c) == n:
                break
    if len(out_c) < n:
        raise InputError(
            f"cannot place {n} events of {slot_len} bp: too little N-free sequence", genome.source
        )
    return np.array(out_c, dtype=np.int64), np.array(out_s, dtype=np.int64)


def place_regions(
    genome: SyntheticGenome, n_regions: int, event_len: int, margin: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Regions sorted by position: region, chrom (index), start, end, overlapping (bool)."""
    slot_len = event_len + 2 * margin
    ch, st = _slots(genome, slot_len)
    if len(ch) >= n_regions:
        pick = np.sort(rng.choice(len(ch), size=n_regions, replace=False))
        ch, st = ch[pick], st[pick]
        overlapping = False
    else:
        log.info(
            "genome has room for %d disjoint regions of %d bp; placing %d regions that may overlap",
            len(ch), slot_len, n_regions,
        )
        ch, st = _random_positions(genome, n_regions, slot_len, rng)
        overlapping = True
    start = st + margin
    order = np.lexsort((start, ch))
    ch, start = ch[order], start[order]
    return pd.DataFrame(
        {
            "region": [f"region{i + 1}" for i in range(n_regions)],
            "chrom": ch,
            "start": start,
            "end": start + event_len,
            "overlapping": overlapping,
        }
    )


def dataset_events(
    regions: pd.DataFrame,
    n_events: int,
    margin: int,
    use_all: bool,
    rng: np.random.Generator,
    subset: np.ndarray | None = None,
) -> pd.DataFrame:
    """One dataset's events: region index, chrom, start, end, offset; sorted by position.

    The regions are ``subset`` when given, else all (``use_all``) or ``n_events`` at random.
    """
    n_regions = len(regions)
    if subset is not None:
        idx = np.sort(np.asarray(subset, dtype=np.int64))
    else:
        idx = np.arange(n_regions) if use_all else np.sort(rng.choice(n_regions, size=n_events, replace=False))
    offset = rng.integers(-margin, margin + 1, size=len(idx)) if margin > 0 else np.zeros(len(idx), np.int64)
    chrom = regions["chrom"].to_numpy()[idx]
    start = regions["start"].to_numpy()[idx] + offset
    # identical intervals can only arise from overlapping regions: nudge them apart
    for _ in range(100):
        key = pd.DataFrame({"c": chrom, "s": start})
        dup = key.duplicated().to_numpy()
        if not dup.any():
            break
        step = np.where(offset[dup] < margin, 1, -1)
        offset[dup] += step
        start[dup] += step
    width = int(regions["end"].iloc[0] - regions["start"].iloc[0])
    order = np.lexsort((start, chrom))
    return pd.DataFrame(
        {
            "region_index": idx[order],
            "chrom": chrom[order],
            "start": start[order],
            "end": start[order] + width,
            "offset": offset[order],
        }
    )
