"""Checks of the analysis steps against simulated truth (cellspace.simulate + training).

    python benchmarks/analysis_checks.py motifs denovo trajectory integrate --seeds 0 1 2

* motifs: rank of every planted TF among all 879 JASPAR 2024 CORE vertebrate motifs by its
  cell type's mean activity z-score (consensus vs ensemble embedding).
* denovo: fraction of planted TFs that are the best or second-best database match of a de novo
  motif (paper selection vs centroid-contrast selection).
* trajectory: Spearman correlation of Palantir pseudotime with the simulated pseudotime, and the
  simulated branches of the terminal states found (start: the root group).
* integrate: a two-dataset simulation whose second dataset gets a strong added shift in the
  CellSpace space; batch ASW, kBET acceptance and cell-type ARI before and after correction.

Trained models are cached in --workdir (default: a folder in the system temp dir), so that
re-running a check does not train again. Simulations: 1,000 cells x 5,000 events per dataset,
4 types (or root + 3 branches), training 30 epochs, dim 30.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_effects import train_overrides  # noqa: E402

N_CELLS, N_EVENTS, EPOCHS = 1000, 5000, 30
TRAIN: dict[str, object] = {}  # --train: TrainParams fields other than the checks' own


def trained(workdir: Path, tag: str, seed: int, **sim_kwargs):
    """(truth, model, adata) of a simulation trained once and cached."""
    import anndata as ad

    from cellspace.model import CellSpaceModel

    base = f"{tag}{seed}" + "".join(f"_{k}{v}" for k, v in sorted(TRAIN.items()))
    path = {ext: workdir / f"{base}{ext}" for ext in (".npz", ".h5ad", ".truth.pkl")}
    if not path[".npz"].exists():
        from cellspace.simulate import simulate
        from cellspace.simulate.params import SimulationParams
        from cellspace.train import TrainParams, train_datasets

        t = time.perf_counter()
        sim = simulate(SimulationParams(seed=seed, n_cells=N_CELLS, n_events=N_EVENTS, n_types=4, **sim_kwargs))
        params = TrainParams(**{"epochs": EPOCHS, "bucket": 200_000, "dim": 30, "seed": seed, **TRAIN})
        model, adata = train_datasets(sim.datasets, params)
        model.save(path[".npz"])
        adata.write_h5ad(path[".h5ad"])
        path[".truth.pkl"].write_bytes(pickle.dumps(sim.truth))
        print(f"  trained {tag}{seed} in {time.perf_counter() - t:.0f} s", flush=True)
    return (pickle.loads(path[".truth.pkl"].read_bytes()), CellSpaceModel.load(path[".npz"]),
            ad.read_h5ad(path[".h5ad"]))


def discrete_tag(density: float | None) -> tuple[str, dict]:
    """Cache tag and simulator arguments of the discrete simulation at a cell density."""
    if density is None:
        return "discrete", {}
    return f"discrete_d{density:g}_".replace(".", "p"), {"density": density}


def check_motifs(workdir: Path, seeds: list[int], density: float | None = None,
                 thresholds: list[float] | None = None) -> None:
    from cellspace.analysis.motif_db import jaspar_motifs
    from cellspace.analysis.motifs import group_means, motif_scores_for_cells, planted_ranks

    db = jaspar_motifs()
    tag, kw_sim = discrete_tag(density)
    rows = []
    for seed in seeds:
        truth, model, adata = trained(workdir, tag, seed, **kw_sim)
        variants = [("consensus", {"method": "consensus"}), ("ensemble", {"method": "ensemble"})]
        variants += [(f"ensemble t={t:g}", {"method": "ensemble", "rel_threshold": t}) for t in thresholds or []]
        for label, kw in variants:
            s = motif_scores_for_cells(model, db, adata.obsm["X_cellspace"], adata.obs_names, **kw)
            means = group_means(s.X, adata.obs["cell_type"], s.var_names)
            r = planted_ranks(means, truth.active_tfs(), s.var["name"].astype(str).tolist())
            rows.append(r.assign(method=label, seed=seed))
    res = pd.concat(rows, ignore_index=True)
    print("\nmotifs: planted TF ranks among all motifs")
    for method, g in res.groupby("method", sort=False):
        r = g["rank"].to_numpy()
        print(f"  {method}: {len(r)} planted TFs, top-1 {np.mean(r == 1):.3f}, top-5 {np.mean(r <= 5):.3f}, "
              f"median rank {np.median(r):g}; per seed top-5 "
              f"{[round(float(np.mean(x['rank'] <= 5)), 2) for _, x in g.groupby('seed')]}")


def check_denovo(workdir: Path, seeds: list[int], density: float | None = None, n_top: int = 200) -> None:
    from cellspace.analysis.denovo import denovo_motifs, recovered_tfs
    from cellspace.analysis.motif_db import jaspar_motifs

    db = jaspar_motifs()
    tag, kw_sim = discrete_tag(density)
    print("\ndenovo: planted TFs that are a de novo motif's best or second-best match")
    for selection in ("cells", "contrast"):
        hits, total, n_motifs, shared, precise = 0, 0, [], [], 0
        for seed in seeds:
            truth, model, adata = trained(workdir, tag, seed, **kw_sim)
            groups = adata.obs["cell_type"].to_numpy()
            res = denovo_motifs(model, adata.obsm["X_cellspace"], groups,
                                database=db, selection=selection, n_top=n_top, seed=seed)
            planted = sorted(set(truth.tfs["tf"]))
            rec = recovered_tfs(res, planted)
            upper = {t.upper() for t in planted}
            precise += sum(bool(upper & {str(n).upper() for n in m.matches["target_name"].iloc[:2]})
                           for m in res.motifs)
            hits += sum(rec.values())
            total += len(rec)
            n_motifs.append(len(res.motifs))
            # selected words that every group selected: generic, not group-specific
            per_word = res.group_lmers.groupby("lmer")["group"].nunique()
            shared.append(f"{int((per_word == len(set(groups))).sum())}/{len(per_word)}")
        print(f"  {selection}: {hits}/{total} = {hits / total:.2f}; de novo motifs per seed {n_motifs}, "
              f"{precise}/{sum(n_motifs)} with a planted TF as best or second match; "
              f"selected L-mers chosen by every group, per seed {shared}")


def check_trajectory(workdir: Path, seeds: list[int]) -> None:
    from scipy.stats import spearmanr

    from cellspace.analysis.trajectory import run_palantir

    print("\ntrajectory: Palantir from the root group")
    for seed in seeds:
        truth, _, adata = trained(workdir, "trajectory", seed, trajectory=True)
        cells = truth.cells.set_index("cell").loc[adata.obs_names]
        t = time.perf_counter()
        res = run_palantir(adata, start_group="cell_type=root", seed=seed)
        rho = spearmanr(res.pseudotime, cells["pseudotime"]).statistic
        branches = sorted(cells.loc[res.terminal_states, "terminal_state"].tolist())
        print(f"  seed {seed}: Spearman {rho:.3f}; terminal states in {branches} "
              f"(simulated: {sorted(set(cells['terminal_state']) - {'root'})}); {time.perf_counter() - t:.1f} s")


def check_integrate(workdir: Path, seeds: list[int], shift: float = 1.0) -> None:
    from cellspace.analysis.integrate import integrate, integration_metrics

    print(f"\nintegrate: second dataset shifted by {shift} x the mean cell-vector norm")
    for seed in seeds:
        truth, _, adata = trained(workdir, "pair", seed, n_datasets=2)
        rng = np.random.default_rng(seed)
        x = adata.obsm["X_cellspace"].astype(np.float64)
        d = rng.normal(size=x.shape[1])
        d *= shift * np.linalg.norm(x, axis=1).mean() / np.linalg.norm(d)
        batch = adata.obs["dataset"].astype(str).to_numpy()
        second = batch == sorted(set(batch))[1]
        x[second] += d
        adata.obsm["X_shifted"] = x.astype(np.float32)
        y = adata.obs["cell_type"].astype(str).to_numpy()
        before = integration_metrics(adata.obsm["X_shifted"], batch, y)
        original = integration_metrics(adata.obsm["X_cellspace"], batch, y)
        # the settings for an added shift of the trained vectors (not the defaults)
        integrate(adata, "dataset", sorted(set(batch))[0], use_rep="X_shifted", key_added="X_int",
                  space="raw", center=True)
        after = integration_metrics(adata.obsm["X_int"], batch, y)
        fmt = lambda m: ", ".join(f"{k} {v:.3f}" for k, v in m.items())  # noqa: E731
        print(f"  seed {seed}: unshifted: {fmt(original)}\n           shifted:   {fmt(before)}\n"
              f"           corrected: {fmt(after)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checks", nargs="+", choices=("motifs", "denovo", "trajectory", "integrate"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cellspace_analysis_checks")
    ap.add_argument("--density", type=float, default=None,
                    help="motifs/denovo: fraction of open cell x event entries of the simulation "
                         "(default: the simulator's, 0.03 = ~150 open events per cell)")
    ap.add_argument("--thresholds", type=float, nargs="*", default=[],
                    help="motifs: also score the ensemble embedding at these relative thresholds")
    ap.add_argument("--n-top", type=int, default=200, help="denovo: L-mers per group (contrast selection)")
    ap.add_argument("--shift", type=float, default=1.0, help="integrate: shift norm / mean cell-vector norm")
    ap.add_argument("--train", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="CellSpace training parameters (TrainParams fields), e.g. margin=0.2; "
                         "trained models are cached per setting")
    args = ap.parse_args()
    TRAIN.update(train_overrides(args.train))
    args.workdir.mkdir(parents=True, exist_ok=True)
    for check in args.checks:
        if check == "integrate":
            check_integrate(args.workdir, args.seeds, args.shift)
        elif check == "trajectory":
            check_trajectory(args.workdir, args.seeds)
        elif check == "denovo":
            check_denovo(args.workdir, args.seeds, args.density, args.n_top)
        else:
            check_motifs(args.workdir, args.seeds, args.density, args.thresholds)


if __name__ == "__main__":
    main()
