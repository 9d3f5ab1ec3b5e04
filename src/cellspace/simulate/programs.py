"""TF programs of cell types, planted motif sites and scanned motif evidence of regions.

Every cell type (or trajectory state) gets 2-3 active TFs, disjoint between types while the
pool lasts. A fraction of regions per program TF receives a site sampled from the TF's PWM;
then all regions are scanned with every program TF's PWM (both strands). A window is a hit
when its score reaches ``rel_threshold`` of the way from the minimum to the maximum log-odds
score and lies in the top ``max_hit_rate`` of all scanned windows (this keeps short,
low-information motifs from hitting every region). Region x TF hit counts drive opening.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cellspace.errors import ParameterError
from cellspace.simulate.motifs import (
    Motif,
    Scanner,
    revcomp,
    sample_instances,
    score_range,
    site_score,
)
from cellspace.simulate.sequences import SyntheticGenome, codes_to_strings


def assign_programs(
    n_motifs: int, n_types: int, tfs_per_type: tuple[int, int], rng: np.random.Generator
) -> list[list[int]]:
    """Per type, the indices (into the pool) of its active TFs; programs are distinct sets."""
    lo, hi = tfs_per_type
    if n_motifs < lo:
        raise ParameterError(f"the TF pool has {n_motifs} distinct motifs; need at least {lo} per type")
    hi = min(hi, n_motifs)
    order = list(rng.permutation(n_motifs))
    programs: list[list[int]] = []
    seen: set[frozenset[int]] = set()
    for _ in range(n_types):
        size = int(rng.integers(lo, hi + 1))
        if len(order) >= size:
            prog = sorted(int(x) for x in order[:size])
            order = order[size:]
        else:  # pool exhausted: reuse TFs, keeping programs distinct
            for _try in range(1000):
                prog = sorted(int(x) for x in rng.choice(n_motifs, size=size, replace=False))
                if frozenset(prog) not in seen:
                    break
            else:
                raise ParameterError(
                    f"cannot give {n_types} cell types distinct programs from {n_motifs} TFs"
                )
        seen.add(frozenset(prog))
        programs.append(prog)
    return programs


@dataclass
class MotifEvidence:
    """Scanned hits (regions x TFs), thresholds and planted sites."""

    hits: np.ndarray  # int32 (n_regions, n_tfs)
    max_score: np.ndarray  # float32 (n_regions, n_tfs): best window score
    thresholds: np.ndarray  # float64 (n_tfs,)
    sites: pd.DataFrame


_THRESHOLD_REGIONS = 2000


def _region_codes(genome: SyntheticGenome, regions: pd.DataFrame, idx: np.ndarray | None = None) -> np.ndarray:
    rlen = int(regions["end"].iloc[0] - regions["start"].iloc[0])
    ch = regions["chrom"].to_numpy()
    st = regions["start"].to_numpy()
    if idx is not None:
        ch, st = ch[idx], st[idx]
    return genome.cut(ch, st, rlen)


def hit_thresholds(
    genome: SyntheticGenome,
    regions: pd.DataFrame,
    log_odds: list[np.ndarray],
    rel_threshold: float,
    max_hit_rate: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per TF: max(relative score threshold, score of the top ``max_hit_rate`` of windows).

    The quantile is taken over the windows of (up to 2,000 randomly chosen) regions before
    any site is planted, i.e. it measures the background rate of matches.
    """
    n = len(regions)
    idx = np.sort(rng.choice(n, size=_THRESHOLD_REGIONS, replace=False)) if n > _THRESHOLD_REGIONS else None
    scanner = Scanner(_region_codes(genome, regions, idx))
    out = np.zeros(len(log_odds))
    for ti, lo in enumerate(log_odds):
        mn, mx = score_range(lo)
        thr = mn + rel_threshold * (mx - mn)
        s = scanner.scores(lo)
        valid = s[s > -1e3]
        if valid.size and max_hit_rate < 1:
            thr = max(thr, float(np.quantile(valid, 1.0 - max_hit_rate)))
        out[ti] = min(thr, mx)
    return out


def plant_sites(
    genome: SyntheticGenome,
    regions: pd.DataFrame,
    motifs: list[Motif],
    log_odds: list[np.ndarray],
    thresholds: np.ndarray,
    fraction: float,
    margin: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Write motif instances into ``fraction`` of regions per TF (in the genome).

    Instances are sampled from the PWM, redrawing those below the TF's hit threshold. Sites lie at
    least ``margin`` bp inside the region, so every dataset's shifted event contains them;
    sites in one region never overlap. Returns one row per planted site.
    """
    n_regions = len(regions)
    rchrom = regions["chrom"].to_numpy()
    rstart = regions["start"].to_numpy()
    rlen = int(regions["end"].iloc[0] - rstart[0])
    occupied: dict[int, list[tuple[int, int]]] = {}
    rows: list[tuple] = []
    n_plant = int(round(fraction * n_regions))
    for ti, m in enumerate(motifs):
        w = m.width
        lo_pos, hi_pos = margin, rlen - margin - w
        if hi_pos < lo_pos or n_plant == 0:
            continue
        targets = rng.choice(n_regions, size=n_plant, replace=False)
        positions = rng.integers(lo_pos, hi_pos + 1, size=(n_plant, 10))
        minus = rng.random(n_plant) < 0.5
        instances = sample_instances(m, n_plant, rng, log_odds[ti], float(thresholds[ti]))
        for k, r in enumerate(targets.tolist()):
            taken = occupied.setdefault(r, [])
            for pos in positions[k].tolist():
                if all(pos + w <= a or pos >= b for a, b in taken):
                    break
            else:
                continue
            site = instances[k]
            g0 = int(rstart[r]) + pos
            genome.chroms[int(rchrom[r])][g0 : g0 + w] = revcomp(site) if minus[k] else site
            taken.append((pos, pos + w))
            rows.append((ti, r, pos, int(rchrom[r]), g0, g0 + w, "-" if minus[k] else "+", site))
    cols = ["tf_index", "region_index", "offset", "chrom", "start", "end", "strand", "site"]
    return pd.DataFrame(rows, columns=cols)


def scan_regions(
    genome: SyntheticGenome,
    regions: pd.DataFrame,
    log_odds: list[np.ndarray],
    thresholds: np.ndarray,
    sites: pd.DataFrame,
) -> MotifEvidence:
    """Count hits of every motif in every region; annotate planted sites with their score."""
    scanner = Scanner(_region_codes(genome, regions))
    n_regions, n_tfs = len(regions), len(log_odds)
    hits = np.zeros((n_regions, n_tfs), dtype=np.int32)
    best = np.full((n_regions, n_tfs), -np.inf, dtype=np.float32)
    for ti, lo in enumerate(log_odds):
        s = scanner.scores(lo)
        if s.shape[1] == 0:
            continue
        hits[:, ti] = (s >= thresholds[ti]).sum(axis=1)
        best[:, ti] = s.max(axis=1)
    sites = sites.copy()
    if len(sites):
        tfi = sites["tf_index"].to_numpy(dtype=np.int64)
        sc = np.array([site_score(log_odds[t], c) for t, c in zip(tfi, sites["site"], strict=True)])
        rng_lo = np.array([score_range(log_odds[t]) for t in tfi])
        sites["score"] = sc
        sites["rel_score"] = (sc - rng_lo[:, 0]) / (rng_lo[:, 1] - rng_lo[:, 0])
        sites["hit"] = sc >= thresholds[tfi]
        sites["sequence"] = [codes_to_strings(c[None, :])[0] for c in sites["site"]]
    else:
        for c in ("score", "rel_score", "hit", "sequence"):
            sites[c] = pd.Series(dtype=object)
    sites = sites.drop(columns=["site"])
    return MotifEvidence(hits=hits, max_score=best, thresholds=thresholds, sites=sites)
