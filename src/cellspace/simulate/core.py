"""The simulation: genome -> regions -> planted + scanned motifs -> cells -> binary matrices."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cellspace.dataset import Dataset, make_dataset
from cellspace.sequences import SequenceStore
from cellspace.simulate.accessibility import RateModel, calibrate, sample_matrix
from cellspace.simulate.motifs import JASPAR_RELEASE, Motif, load_pool, site_log_odds
from cellspace.simulate.params import SimulationParams
from cellspace.simulate.programs import assign_programs, hit_thresholds, plant_sites, scan_regions
from cellspace.simulate.regions import dataset_events, place_regions
from cellspace.simulate.sequences import SyntheticGenome, load_genome
from cellspace.simulate.trajectory import Cells, discrete_cells, tf_activity, trajectory_cells

log = logging.getLogger(__name__)

# Independent random streams per component: changing one part never shifts another's draws.
_GENOME, _REGIONS, _PROGRAMS, _PLANT, _SCAN, _BASELINE, _DATASET = range(1, 8)
_D_EVENTS, _D_CELLS, _D_DONORS, _D_DEPTH, _D_SHIFT, _D_SAMPLE, _D_COMPOSITION = range(1, 8)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


@dataclass
class SimulationTruth:
    """Ground truth of a simulation (all tables are pandas DataFrames).

    - ``cells``: cell, dataset, cell_type, donor, depth, n_open (+ pseudotime, branch,
      terminal_state for trajectories).
    - ``tfs``: one row per (cell_type, tf): matrix_id (JASPAR), consensus, width, threshold,
      n_hit_regions, n_planted.
    - ``events``: dataset, event, column, region, chrom, start, end, offset, baseline,
      hits_<TF> (scanned hits of program TFs), p_<type> (opening probability at depth 1).
    - ``regions``: region, chrom, start, end, baseline, hits_<TF>.
    - ``sites``: planted sites: site, tf, matrix_id, region, chrom, start, end, strand,
      sequence, score, rel_score, hit (reaches the scanning threshold).
    - ``donor_events``: dataset, donor, region, log_fold (donor-specific accessibility shifts).
    """

    cells: pd.DataFrame
    tfs: pd.DataFrame
    events: pd.DataFrame
    regions: pd.DataFrame
    sites: pd.DataFrame
    donor_events: pd.DataFrame

    def active_tfs(self) -> dict[str, list[str]]:
        """cell type -> names of its active TFs."""
        return {t: list(g["tf"]) for t, g in self.tfs.groupby("cell_type", sort=False)}


@dataclass
class Simulation:
    """Simulated datasets (:class:`cellspace.dataset.Dataset`) with their ground truth."""

    params: SimulationParams
    datasets: list[Dataset]
    truth: SimulationTruth
    genome: SyntheticGenome = field(repr=False)
    motifs: list[Motif] = field(repr=False)
    cell_types: list[str] = field(default_factory=list)
    scales: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        """Numbers worth recording next to the output (JSON-serialisable)."""
        return {
            "datasets": [
                {
                    "name": d.name,
                    "n_cells": d.n_cells,
                    "n_events": d.n_events,
                    "nonzeros": int(d.events.nnz),
                    "density": round(d.events.nnz / (d.n_cells * d.n_events), 6),
                    "rate_scale": float(f"{s:.6g}"),
                }
                for d, s in zip(self.datasets, self.scales, strict=True)
            ],
            "cell_types": self.truth.active_tfs(),
            "genome": {
                "source": self.genome.source,
                "chromosomes": len(self.genome.chroms),
                "bp": self.genome.total_bp,
            },
            "jaspar_release": JASPAR_RELEASE,
        }


def _type_names(p: SimulationParams) -> list[str]:
    if p.trajectory:
        return ["root"] + [f"term{b}" for b in range(1, p.n_types)]
    return [f"type{t + 1}" for t in range(p.n_types)]


def _make_cells(p: SimulationParams, d: int) -> Cells:
    rng = _rng(p.seed, _DATASET, d, _D_CELLS)
    if p.trajectory:
        return trajectory_cells(p.n_cells, p.n_types, p.branch_point, rng)
    return discrete_cells(p.n_cells, p.n_types, p.type_concentration, rng)


def _n_regions(p: SimulationParams) -> int:
    """Size of the region pool the datasets cut their events from."""
    if p.n_datasets == 1:
        return p.n_events
    if p.shared_regions is not None:
        shared = int(round(p.shared_regions * p.n_events))
        return shared + p.n_datasets * (p.n_events - shared)
    return int(math.ceil(p.n_events / p.dataset_overlap))


def _region_subset(p: SimulationParams, d: int) -> np.ndarray | None:
    """Region indices of dataset ``d`` with ``shared_regions`` (None: the default random draw)."""
    if p.n_datasets == 1 or p.shared_regions is None:
        return None
    shared = int(round(p.shared_regions * p.n_events))
    own = p.n_events - shared
    # regions are sorted by position: a seeded permutation spreads each part over the genome
    order = _rng(p.seed, _REGIONS, 1).permutation(_n_regions(p))
    return order[np.concatenate([np.arange(shared), shared + d * own + np.arange(own)])]


def _donors(p: SimulationParams, cells: Cells, rng_donor: np.random.Generator, d: int) -> np.ndarray:
    """Donor of every cell: uniform (default), or from per-donor type proportions."""
    n = p.n_cells
    if p.donor_type_concentration == 0 and not p.absent_types:
        donor = rng_donor.integers(0, p.n_donors, size=n)
        donor[rng_donor.choice(n, size=min(n, p.n_donors), replace=False)] = np.arange(min(n, p.n_donors))
        return donor
    rng = _rng(p.seed, _DATASET, d, _D_COMPOSITION)
    # P(type | donor): each donor's own proportions (or equal ones), zero where absent
    if p.donor_type_concentration > 0:
        props = rng.dirichlet(np.full(p.n_types, p.donor_type_concentration), size=p.n_donors)
    else:
        props = np.full((p.n_donors, p.n_types), 1.0 / p.n_types)
    for k, t in p.absent_types:
        props[k, t] = 0.0
    props /= props.sum(axis=1, keepdims=True)
    # donors are equally frequent a priori, so P(donor | type) is proportional to P(type | donor)
    cond = props / props.sum(axis=0, keepdims=True)
    u = rng.random(n)
    cum = np.cumsum(cond[:, cells.type_index].T, axis=1)
    donor = np.minimum((u[:, None] > cum).sum(axis=1), p.n_donors - 1)
    for k in range(p.n_donors):  # every donor keeps at least one cell of a type it has
        if not (donor == k).any():
            ok = np.flatnonzero(props[k, cells.type_index] > 0)
            donor[rng.choice(ok)] = k
    return donor


def simulate(params: SimulationParams | None = None, **overrides) -> Simulation:
    """Simulate ``params.n_datasets`` scATAC-like datasets with known TF programs.

    Deterministic: the same parameters (seed included) give identical datasets and truth.
    """
    p = params or SimulationParams()
    if overrides:
        from dataclasses import replace

        p = replace(p, **overrides)
    p.validate()
    pool = list(load_pool(None if p.tfs is None else tuple(p.tfs)))
    programs_pool = assign_programs(len(pool), p.n_types, p.tfs_per_type, _rng(p.seed, _PROGRAMS))
    used = sorted({i for prog in programs_pool for i in prog})
    remap = {old: new for new, old in enumerate(used)}
    motifs = [pool[i] for i in used]
    programs = [[remap[i] for i in prog] for prog in programs_pool]
    types = _type_names(p)
    tf_names = [m.name for m in motifs]

    multi = p.n_datasets > 1
    margin = int(p.shift_fraction * p.event_len) if multi else 0
    n_regions = _n_regions(p)
    slot = p.event_len + 2 * margin
    genome = load_genome(p.genome_fasta, p.random_dna, p.gc, int(1.5 * n_regions * slot), _rng(p.seed, _GENOME))
    regions = place_regions(genome, n_regions, p.event_len, margin, _rng(p.seed, _REGIONS))
    bg = genome.background()
    log_odds = [site_log_odds(m, bg) for m in motifs]
    thresholds = hit_thresholds(
        genome, regions, log_odds, p.rel_threshold, p.max_hit_rate, _rng(p.seed, _SCAN)
    )
    planted = plant_sites(
        genome, regions, motifs, log_odds, thresholds, p.plant_fraction, margin, _rng(p.seed, _PLANT)
    )
    evidence = scan_regions(genome, regions, log_odds, thresholds, planted)
    baseline = _rng(p.seed, _BASELINE).normal(0.0, p.baseline_sd, n_regions)
    hits = evidence.hits.astype(np.float32)

    chrom_names = np.array(genome.chrom_names, dtype=object)
    type_activity = np.zeros((len(types), len(motifs)), dtype=np.float32)
    for t, prog in enumerate(programs):
        type_activity[t, prog] = 1.0

    datasets: list[Dataset] = []
    scales: list[float] = []
    cell_tables: list[pd.DataFrame] = []
    event_tables: list[pd.DataFrame] = []
    donor_tables: list[pd.DataFrame] = []
    for d in range(p.n_datasets):
        name = f"sim{d + 1}"
        ev = dataset_events(
            regions, p.n_events, margin, n_regions == p.n_events, _rng(p.seed, _DATASET, d, _D_EVENTS),
            subset=_region_subset(p, d),
        )
        ri = ev["region_index"].to_numpy()
        cells = _make_cells(p, d)
        n = p.n_cells
        rng_donor = _rng(p.seed, _DATASET, d, _D_DONORS)
        donor = _donors(p, cells, rng_donor, d)
        donor_log_depth = (
            rng_donor.permutation(np.linspace(-p.donor_depth_spread, p.donor_depth_spread, p.n_donors))
            if p.n_donors > 1
            else np.zeros(1)
        )
        rng_depth = _rng(p.seed, _DATASET, d, _D_DEPTH)
        depth = np.exp(donor_log_depth[donor] + rng_depth.normal(0.0, p.library_sd, n))
        rng_shift = _rng(p.seed, _DATASET, d, _D_SHIFT)
        shift = np.zeros((p.n_donors, n_regions), dtype=np.float32)
        n_shift = int(round(p.donor_event_fraction * n_regions))
        for k in range(p.n_donors):
            if n_shift == 0 or p.donor_effect == 0:
                break
            sel = np.sort(rng_shift.choice(n_regions, size=n_shift, replace=False))
            sign = rng_shift.choice([-1.0, 1.0], size=n_shift) if p.donor_effect_sign == "both" else 1.0
            shift[k, sel] = sign * p.donor_effect
            donor_tables.append(
                pd.DataFrame(
                    {"dataset": name, "donor": f"donor{k + 1}", "region": regions["region"].to_numpy()[sel],
                     "log_fold": shift[k, sel]}
                )
            )
        activity = tf_activity(cells, programs, len(motifs)).astype(np.float32)
        model = RateModel(
            baseline=baseline[ri],
            hits=hits[ri],
            donor_shift=shift[:, ri],
            activity=activity,
            donor=donor,
            depth=depth,
            motif_effect=p.motif_effect,
            motif_cap=p.motif_cap,
        )
        scale = calibrate(model, p.density * p.dataset_density_ratio**d)
        matrix = sample_matrix(model, scale, _rng(p.seed, _DATASET, d, _D_SAMPLE))
        scales.append(scale)

        width = len(str(n))
        cell_ids = np.array([f"{name}_c{i + 1:0{width}d}" for i in range(n)], dtype=object)
        obs = pd.DataFrame(
            {
                "cell_type": pd.Categorical(np.array(types)[cells.type_index], categories=types),
                "donor": pd.Categorical(
                    [f"donor{k + 1}" for k in donor], categories=[f"donor{k + 1}" for k in range(p.n_donors)]
                ),
            },
            index=pd.Index(cell_ids, name="cell"),
        )
        if p.trajectory:
            assert cells.pseudotime is not None and cells.branch is not None
            branch_names = ["root"] + [f"branch{b}" for b in range(1, p.n_types)]
            obs["pseudotime"] = cells.pseudotime
            obs["branch"] = pd.Categorical(np.array(branch_names)[cells.branch], categories=branch_names)
        ev_chrom = chrom_names[ev["chrom"].to_numpy()]
        starts = ev["start"].to_numpy()
        ends = ev["end"].to_numpy()
        event_ids = np.array([f"{c}:{s}-{e}" for c, s, e in zip(ev_chrom, starts, ends, strict=True)], dtype=object)
        codes = genome.cut(ev["chrom"].to_numpy(), starts, p.event_len)
        store = SequenceStore.from_codes(list(codes))
        var = pd.DataFrame(
            {"chrom": pd.Categorical(ev_chrom.astype(str), categories=genome.chrom_names),
             "start": starts, "end": ends, "region": regions["region"].to_numpy()[ri]}
        )
        ds = make_dataset(
            name,
            matrix.T.tocsr(),
            store,
            cell_ids=cell_ids,
            event_ids=event_ids,
            obs=obs,
            var=var,
            source=f"simulated (seed {p.seed})",
            k=min(8, p.event_len),
            drop_empty_events=False,
        )
        datasets.append(ds)

        ct = pd.DataFrame(
            {"cell": cell_ids, "dataset": name, "cell_type": obs["cell_type"].astype(str).to_numpy(),
             "donor": obs["donor"].astype(str).to_numpy(), "depth": depth,
             "n_open": np.diff(ds.events.tocsc().indptr)}
        )
        if p.trajectory:
            ct["pseudotime"] = cells.pseudotime
            ct["branch"] = obs["branch"].astype(str).to_numpy()
            ct["terminal_state"] = np.array(types)[cells.branch]
        cell_tables.append(ct)

        et = pd.DataFrame(
            {"dataset": name, "event": event_ids, "column": np.arange(len(ev)),
             "region": regions["region"].to_numpy()[ri], "chrom": ev_chrom.astype(str),
             "start": starts, "end": ends, "offset": ev["offset"].to_numpy(), "baseline": baseline[ri]}
        )
        for ti, tf in enumerate(tf_names):
            et[f"hits_{tf}"] = evidence.hits[ri, ti]
        p_type = -np.expm1(-scale * np.exp(model.log_rate_type(type_activity)))
        for t, tname in enumerate(types):
            et[f"p_{tname}"] = p_type[:, t]
        event_tables.append(et)

    region_table = pd.DataFrame(
        {"region": regions["region"], "chrom": chrom_names[regions["chrom"].to_numpy()].astype(str),
         "start": regions["start"], "end": regions["end"], "baseline": baseline}
    )
    for ti, tf in enumerate(tf_names):
        region_table[f"hits_{tf}"] = evidence.hits[:, ti]

    s = evidence.sites
    sites = pd.DataFrame(
        {
            "site": [f"site{i + 1}" for i in range(len(s))],
            "tf": [tf_names[t] for t in s["tf_index"]],
            "matrix_id": [motifs[t].id for t in s["tf_index"]],
            "region": regions["region"].to_numpy()[s["region_index"].to_numpy(dtype=np.int64)],
            "chrom": chrom_names[s["chrom"].to_numpy(dtype=np.int64)].astype(str),
            "start": s["start"].to_numpy(dtype=np.int64),
            "end": s["end"].to_numpy(dtype=np.int64),
            "strand": s["strand"].to_numpy(),
            "sequence": s["sequence"].to_numpy(),
            "score": s["score"].to_numpy(dtype=np.float64),
            "rel_score": s["rel_score"].to_numpy(dtype=np.float64),
            "hit": s["hit"].to_numpy(dtype=bool),
        }
    )
    planted_per_tf = np.bincount(s["tf_index"].to_numpy(dtype=np.int64), minlength=len(motifs))
    tf_rows = []
    for t, prog in enumerate(programs):
        for ti in prog:
            m = motifs[ti]
            tf_rows.append(
                {"cell_type": types[t], "tf": m.name, "matrix_id": m.id,
                 "consensus": m.consensus, "width": m.width,
                 "threshold": round(float(evidence.thresholds[ti]), 4),
                 "n_hit_regions": int((evidence.hits[:, ti] > 0).sum()),
                 "n_planted": int(planted_per_tf[ti])}
            )
    truth = SimulationTruth(
        cells=pd.concat(cell_tables, ignore_index=True),
        tfs=pd.DataFrame(tf_rows),
        events=pd.concat(event_tables, ignore_index=True),
        regions=region_table,
        sites=sites,
        donor_events=(
            pd.concat(donor_tables, ignore_index=True)
            if donor_tables
            else pd.DataFrame(columns=["dataset", "donor", "region", "log_fold"])
        ),
    )
    return Simulation(
        params=p, datasets=datasets, truth=truth, genome=genome, motifs=motifs,
        cell_types=types, scales=scales,
    )


_SMALL_CACHE: dict[tuple, Simulation] = {}


def small_simulation(seed: int = 0, **overrides) -> Simulation:
    """A test-sized simulation (600 cells x 1,500 events x 300 bp, 3 donors, 4 cell types with
    distinct TF programs, ~3 % nonzeros), memoised per arguments: treat it as read-only."""
    key = (seed, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
    sim = _SMALL_CACHE.get(key)
    if sim is None:
        base = dict(n_cells=600, n_events=1500, event_len=300, n_types=4, n_donors=3, density=0.03)
        base.update(overrides)
        sim = simulate(SimulationParams(seed=seed, **base))
        _SMALL_CACHE[key] = sim
    return sim
