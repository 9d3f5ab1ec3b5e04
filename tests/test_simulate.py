"""The simulator: determinism, realism (density, depth, donors), TF programs, datasets, files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import skew

from cellspace.errors import ParameterError
from cellspace.simulate import SimulationParams, simulate, small_simulation, write_simulation
from cellspace.simulate.motifs import DEFAULT_TF_POOL, load_pool, motif_similarity

TINY = dict(n_cells=150, n_events=300, event_len=200)


def _dense(ds) -> np.ndarray:
    return ds.events.toarray().astype(np.float64)  # events x cells


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tmp_path):
    params = SimulationParams(seed=7, n_datasets=2, **TINY)
    write_simulation(simulate(params), tmp_path / "a", "mtx,h5ad,tenx")
    write_simulation(simulate(params), tmp_path / "b", "mtx,h5ad,tenx")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(a) >= 20 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    other = simulate(SimulationParams(seed=8, n_datasets=2, **TINY))
    first = simulate(params)
    assert (other.datasets[0].events != first.datasets[0].events).nnz > 0


def test_small_simulation_is_memoised_per_arguments():
    assert small_simulation(0) is small_simulation(0)
    other = small_simulation(0, n_cells=100)
    assert other is not small_simulation(0) and other.datasets[0].n_cells == 100


# --------------------------------------------------------------------------- realism


def test_density_is_near_target_and_within_1_to_5_percent():
    ds = small_simulation(0).datasets[0]
    density = ds.events.nnz / (ds.n_cells * ds.n_events)
    assert 0.01 <= density <= 0.05
    assert abs(density - 0.03) < 0.003
    low = simulate(SimulationParams(seed=1, density=0.015)).datasets[0]
    assert abs(low.events.nnz / (low.n_cells * low.n_events) - 0.015) < 0.002


def test_every_event_and_every_cell_has_an_open_entry():
    ds = small_simulation(0).datasets[0]
    assert (np.diff(ds.events.indptr) > 0).all()
    assert (np.bincount(ds.events.indices, minlength=ds.n_cells) > 0).all()


def test_library_sizes_are_log_normal_like():
    ds = small_simulation(0).datasets[0]
    nnz = np.bincount(ds.events.indices, minlength=ds.n_cells)
    assert skew(nnz) > 0.8  # counts are right-skewed ...
    assert abs(skew(np.log(nnz))) < 0.5  # ... and roughly symmetric on the log scale
    truth = small_simulation(0).truth.cells
    assert np.corrcoef(np.log(truth["depth"]), np.log(truth["n_open"]))[0, 1] > 0.8


def test_events_with_a_types_motifs_are_more_open_in_that_type():
    sim = small_simulation(0)
    ds = sim.datasets[0]
    x = _dense(ds)
    ct = ds.obs["cell_type"].astype(str).to_numpy()
    ev = sim.truth.events
    programs = sim.truth.active_tfs()
    assert len(programs) == 4 and all(2 <= len(v) <= 3 for v in programs.values())
    has = {t: (ev[[f"hits_{f}" for f in tfs]].sum(axis=1) > 0).to_numpy() for t, tfs in programs.items()}
    for t in programs:
        specific = has[t] & ~np.any([has[o] for o in programs if o != t], axis=0)
        assert specific.sum() > 50
        ratio = x[specific][:, ct == t].mean() / x[specific][:, ct != t].mean()
        assert ratio > 4.0, (t, ratio)
        # the truth's expected probabilities say the same
        p_in = ev.loc[specific, f"p_{t}"].mean()
        p_out = ev.loc[specific, [f"p_{o}" for o in programs if o != t]].to_numpy().mean()
        assert p_in > 4 * p_out


def test_cell_type_programs_are_distinct_jaspar_tfs():
    tfs = small_simulation(0).truth.tfs
    assert tfs["matrix_id"].str.match(r"^MA\d{4}\.\d+$").all()
    sets = [frozenset(g["tf"]) for _, g in tfs.groupby("cell_type")]
    assert len(set(sets)) == len(sets) == 4
    assert (tfs["n_planted"] > 0).all() and (tfs["n_hit_regions"] >= tfs["n_planted"] * 0.9).all()


def test_scanned_hits_exist_beyond_planted_sites():
    sim = small_simulation(0)
    planted = sim.truth.sites.groupby("tf")["region"].apply(set)
    reg = sim.truth.regions
    extra = 0
    for tf, regions in planted.items():
        hit_regions = set(reg.loc[reg[f"hits_{tf}"] > 0, "region"])
        extra += len(hit_regions - regions)
    assert extra > 30


def test_planted_sites_are_in_the_event_sequences():
    sim = small_simulation(0)
    ds = sim.datasets[0]
    ev = sim.truth.events.set_index("region")
    sites = sim.truth.sites
    assert len(sites) > 500 and sites["hit"].all()
    for row in sites.head(100).itertuples():
        e = ev.loc[row.region]
        seq = ds.sequences.sequence(int(e["column"]))
        s = seq[row.start - e["start"] : row.end - e["start"]]
        rc = s[::-1].translate(str.maketrans("ACGT", "TGCA"))
        assert (s if row.strand == "+" else rc) == row.sequence


def test_donors_differ_in_depth_and_shift_their_own_events():
    sim = small_simulation(0)
    ds = sim.datasets[0]
    x = _dense(ds)
    nnz = x.sum(axis=0)
    donor = ds.obs["donor"].astype(str).to_numpy()
    means = pd.Series(nnz).groupby(donor).mean()
    assert len(means) == 3 and means.max() / means.min() > 1.5
    col = dict(zip(sim.truth.events["region"], sim.truth.events["column"], strict=True))
    norm = x / nnz[None, :]
    for (d, lf), g in sim.truth.donor_events.groupby(["donor", "log_fold"]):
        cols = [col[r] for r in g["region"]]
        ratio = norm[cols][:, donor == d].mean() / norm[cols][:, donor != d].mean()
        assert (ratio > 1.5) if lf > 0 else (ratio < 0.67), (d, lf, ratio)


# --------------------------------------------------------------------------- datasets


def test_datasets_have_different_but_overlapping_events():
    sim = simulate(SimulationParams(seed=3, n_datasets=3, **TINY))
    assert [d.name for d in sim.datasets] == ["sim1", "sim2", "sim3"]
    regions = [set(d.var["region"]) for d in sim.datasets]
    ids = [set(d.event_ids) for d in sim.datasets]
    for i in range(3):
        assert sim.datasets[i].n_events == 300 and sim.datasets[i].n_cells == 150
        for j in range(i + 1, 3):
            shared = len(regions[i] & regions[j]) / 300
            assert 0.4 < shared < 0.95
            assert len(ids[i] & ids[j]) < 0.2 * len(regions[i] & regions[j])  # boundaries shifted
    # a shared region's events overlap in sequence
    a, b = sim.datasets[0], sim.datasets[1]
    r = sorted(regions[0] & regions[1])[0]
    ia = int(np.flatnonzero(a.var["region"].to_numpy() == r)[0])
    ib = int(np.flatnonzero(b.var["region"].to_numpy() == r)[0])
    d = int(b.var["start"].iloc[ib] - a.var["start"].iloc[ia])
    sa, sb = a.sequences.sequence(ia), b.sequences.sequence(ib)
    assert (sa[d:] == sb[: len(sb) - d]) if d >= 0 else (sb[-d:] == sa[: len(sa) + d])
    assert set(sim.truth.cells["dataset"]) == {"sim1", "sim2", "sim3"}


def test_trajectory_has_pseudotime_branches_and_terminal_states():
    sim = simulate(SimulationParams(seed=2, trajectory=True, n_types=4, n_cells=400, n_events=800))
    obs = sim.datasets[0].obs
    t = obs["pseudotime"].to_numpy()
    assert t.min() >= 0 and t.max() <= 1 and t.max() - t.min() > 0.9
    assert set(obs["branch"].astype(str)) == {"root", "branch1", "branch2", "branch3"}
    assert (t[obs["branch"].astype(str) == "root"] < 0.3).all()
    truth = sim.truth.cells
    late = truth[truth["pseudotime"] > 0.8]
    assert (late["cell_type"] == late["terminal_state"]).all()
    assert set(late["terminal_state"]) == {"term1", "term2", "term3"}
    # term1's events open more along branch1 as pseudotime grows
    x = _dense(sim.datasets[0])
    ev = sim.truth.events
    tfs = sim.truth.active_tfs()["term1"]
    rows = (ev[[f"hits_{f}" for f in tfs]].sum(axis=1) > 0).to_numpy()
    br = obs["branch"].astype(str).to_numpy()
    norm = x / x.sum(axis=0)[None, :]
    end = norm[rows][:, (br == "branch1") & (t > 0.75)].mean()
    start = norm[rows][:, t < 0.3].mean()
    assert end > 1.5 * start


# --------------------------------------------------------------------------- sources


def test_random_dna_has_requested_gc():
    sim = simulate(SimulationParams(seed=4, random_dna=True, gc=0.6, **TINY))
    seqs = "".join(sim.datasets[0].sequences)
    gc = (seqs.count("G") + seqs.count("C")) / len(seqs)
    assert abs(gc - 0.6) < 0.03
    assert sim.genome.chrom_names[0] == "simchr1"


def test_events_are_cut_from_a_given_fasta(tmp_path):
    rng = np.random.default_rng(0)
    recs = {f"contig{i}": "".join(rng.choice(list("ACGT"), 5000)) for i in range(8)}
    fa = tmp_path / "g.fa"
    fa.write_text("".join(f">{k} some description\n{v}\n" for k, v in recs.items()))
    sim = simulate(SimulationParams(seed=0, genome_fasta=str(fa), n_cells=100, n_events=100, event_len=100))
    genome = "".join(recs.values())  # records are concatenated in order into simchr1
    ds = sim.datasets[0]
    for i in range(0, 100, 10):
        start, end = int(ds.var["start"].iloc[i]), int(ds.var["end"].iloc[i])
        seq = ds.sequences.sequence(i)
        planted = sim.truth.sites[(sim.truth.sites["start"] < end) & (sim.truth.sites["end"] > start)]
        if planted.empty:
            assert seq == genome[start:end]
    rec = sim.genome.records
    assert list(rec["record"]) == list(recs) and (rec["end"] - rec["start"] == 5000).all()


def test_default_tf_pool_loads_offline_without_near_duplicates():
    load_pool.cache_clear()
    pool = load_pool()
    assert len(pool) >= 15 and {m.name for m in pool} <= set(DEFAULT_TF_POOL)
    assert {m.id for m in pool} <= set(DEFAULT_TF_POOL.values())
    sims = [motif_similarity(a, b) for i, a in enumerate(pool) for b in pool[i + 1 :]]
    assert max(sims) <= 0.85
    assert motif_similarity(pool[0], pool[0]) > 0.99


def test_invalid_parameters_are_parameter_errors():
    with pytest.raises(ParameterError, match="n_types >= 3"):
        simulate(SimulationParams(trajectory=True, n_types=2))
    with pytest.raises(ParameterError, match="density"):
        simulate(SimulationParams(density=0.9))
    with pytest.raises(ParameterError, match="NOT_A_TF"):
        simulate(SimulationParams(tfs=("GATA1", "NOT_A_TF"), **TINY))


# --------------------------------------------------------------------------- files


def test_written_files_read_back_identically(tmp_path):
    from cellspace.io import read_h5ad, read_mtx_pair, read_tenx

    sim = simulate(SimulationParams(seed=5, n_datasets=2, trajectory=True, **TINY))
    write_simulation(sim, tmp_path / "out", "mtx,h5ad,tenx")
    o = tmp_path / "out"
    for ds in sim.datasets:
        n = ds.name
        readers = [
            read_mtx_pair(o / f"{n}.mtx.gz", o / f"{n}.fa.gz", obs=o / f"{n}.cells.tsv"),
            read_h5ad(o / f"{n}.h5ad"),
            read_tenx(o / f"{n}_tenx", o / "genome.fa", obs=o / f"{n}.cells.tsv"),
        ]
        for back in readers:
            assert (back.events != ds.events).nnz == 0
            assert list(back.sequences) == list(ds.sequences)
            assert list(back.event_ids) == list(ds.event_ids)
            assert list(back.cell_ids) == list(ds.cell_ids)
            assert list(back.obs["cell_type"].astype(str)) == list(ds.obs["cell_type"].astype(str))
            assert np.allclose(back.obs["pseudotime"].astype(float), ds.obs["pseudotime"], atol=1e-5)
    meta = json.loads((o / "simulation.json").read_text())
    assert meta["seed"] == 5 and meta["params"]["n_datasets"] == 2 and meta["cellspace_version"]
    assert all((o / f).exists() for f in meta["files"])
    tfs = pd.read_csv(o / "truth_tfs.tsv", sep="\t")
    assert set(tfs["cell_type"]) == {"root", "term1", "term2", "term3"}
    cells = pd.read_csv(o / "truth_cells.tsv", sep="\t")
    assert len(cells) == 300 and {"pseudotime", "branch", "terminal_state", "depth"} <= set(cells.columns)
    with gzip.open(o / "sim1_tenx" / "matrix.mtx.gz", "rt") as fh:
        fh.readline()
        assert fh.readline().split()[:2] == ["300", "150"]  # peaks x barcodes


def test_cli_simulate_writes_requested_formats(tmp_path):
    from cellspace.cli import main

    out = tmp_path / "cli"
    rc = main(["simulate", "--out", str(out), "--seed", "3", "--n-cells", "100", "--n-events", "200",
               "--event-len", "150", "--n-types", "3", "--n-donors", "2", "--formats", "mtx,tenx"])
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    assert {"sim1.mtx.gz", "sim1.fa.gz", "sim1.cells.tsv", "sim1_tenx", "genome.fa", "genome.fa.fai",
            "truth_cells.tsv", "truth_tfs.tsv", "truth_events.tsv", "truth_sites.tsv",
            "simulation.json"} <= names
    assert "sim1.h5ad" not in names
    assert main(["simulate", "--out", str(out), "--formats", "loom"]) == 2


def test_donor_compositions_absent_type_and_opening_only_events():
    sim = simulate(SimulationParams(seed=2, n_cells=400, n_events=400, n_types=4, n_donors=3,
                                    donor_effect_sign="open", donor_effect=2.0, donor_type_concentration=2.0,
                                    absent_types=((0, 3), (2, 1))))
    tab = pd.crosstab(sim.truth.cells["donor"], sim.truth.cells["cell_type"])
    assert tab.loc["donor1", "type4"] == 0 and tab.loc["donor3", "type2"] == 0
    assert (tab.sum(axis=1) > 0).all() and (tab.sum(axis=0) > 0).all()
    de = sim.truth.donor_events
    assert len(de) and (de["log_fold"] == 2.0).all()
    with pytest.raises(ParameterError, match="every donor"):
        SimulationParams(n_donors=2, absent_types=((0, 1), (1, 1))).validate()


@pytest.mark.parametrize("shared", [0.0, 0.5, 1.0])
def test_shared_regions_give_disjoint_partial_or_identical_atlases(shared):
    sim = simulate(SimulationParams(seed=3, n_cells=100, n_events=300, n_datasets=2, shared_regions=shared,
                                    dataset_density_ratio=1.5))
    ev = sim.truth.events
    a, b = (set(ev.loc[ev["dataset"] == n, "region"]) for n in ("sim1", "sim2"))
    assert len(a) == len(b) == 300
    assert len(a & b) == round(shared * 300)
    dens = [d.events.nnz / (d.n_cells * d.n_events) for d in sim.datasets]
    assert dens[1] / dens[0] == pytest.approx(1.5, rel=0.1)


def test_atlas_generator_has_type_blocks_home_events_and_their_motif_sites():
    from cellspace.simulate.atlas import AtlasSpec, atlas_dataset
    from cellspace.simulate.motifs import Scanner, site_log_odds

    spec = AtlasSpec(n_cells=1000, n_events=1500, density=0.02, n_types=5, sites_per_event=3, seed=2)
    ds = atlas_dataset(spec)
    assert (ds.n_cells, ds.n_events) == (1000, 1500)
    assert abs(ds.events.nnz / (1000 * 1500) - 0.02) < 0.002
    types = ds.obs["cell_type"].to_numpy()
    assert (pd.Series(types).value_counts() == 200).all()
    home = ds.var["home_type"].to_numpy()
    X = ds.events.tocsr()  # events x cells
    for t in ("type0", "type3"):
        ev = X[home == t]
        inside = ev[:, types == t].mean()
        outside = ev[:, types != t].mean()
        assert inside > 5 * outside
    # each event carries its home type's TF: that motif scores higher in them than in the others
    tf0 = ds.var["tf"].to_numpy()[home == "type0"][0]
    assert set(ds.var.loc[home == "type0", "tf"]) == {tf0}
    motif = next(m for m in load_pool() if m.name == tf0)
    codes = np.stack([ds.sequences.codes(i) for i in range(ds.n_events)])
    best = Scanner(codes).scores(site_log_odds(motif)).max(axis=1)
    assert np.median(best[home == "type0"]) > np.quantile(best[home != "type0"], 0.9)
    # same seed, same data; no sites, no TF column
    again = atlas_dataset(spec)
    assert (again.events != ds.events).nnz == 0
    assert "tf" not in atlas_dataset(AtlasSpec(n_cells=200, n_events=300, n_types=5)).var
    with pytest.raises(ParameterError, match="density"):
        AtlasSpec(density=0.5).validate()
