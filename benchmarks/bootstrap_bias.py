"""Bias of bootstrap resampling schemes on the benchmark's kNN-based metrics.

    PYTHONPATH=src python benchmarks/bootstrap_bias.py --n-cells 2000 --replicates 30
    PYTHONPATH=src python benchmarks/bootstrap_bias.py --n-cells 10000 --n-events 5000 --replicates 20

For the LSI embedding (and optionally ``--methods``) of a simulated data set (6 cell types,
3 donors), every metric is computed on the original cells (observed) and on replicates drawn by
each resampling scheme of :mod:`cellspace.bench.bootstrap`. Printed per scheme and metric: the
observed value, the replicate mean, the bias (mean - observed), the replicate s.d., the 95 %
interval the scheme reports (:func:`cellspace.bench.bootstrap.summarize`) and whether it contains
the observed value.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from cellspace.bench.bootstrap import RESAMPLING, BootstrapSettings, bootstrap_scores, summarize
from cellspace.bench.methods import run_method
from cellspace.bench.toydata import dataset_to_anndata
from cellspace.simulate.core import SimulationParams, simulate

SHOWN = ("asw_label", "nmi", "ari", "asw_batch", "graph_connectivity", "kbet", "batch_nmi",
         "overall_score")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-cells", type=int, default=2000)
    ap.add_argument("--n-events", type=int, default=3000)
    ap.add_argument("--density", type=float, default=0.03, help="fraction of open cell x event entries")
    ap.add_argument("--replicates", type=int, default=30)
    ap.add_argument("--methods", default="lsi")
    ap.add_argument("--schemes", default=",".join(RESAMPLING))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    sim = simulate(SimulationParams(seed=args.seed, n_cells=args.n_cells, n_events=args.n_events,
                                    n_types=6, n_donors=3, density=args.density))
    adata = dataset_to_anndata(sim.datasets[0])
    emb = {m: run_method(adata, m).embedding for m in args.methods.split(",")}
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    batches = adata.obs["donor"].astype(str).to_numpy()
    rows = []
    for scheme in args.schemes.split(","):
        t = time.perf_counter()
        st = BootstrapSettings(n_replicates=args.replicates, seed=args.seed, resampling=scheme)
        scores, _, observed = bootstrap_scores(emb, labels, batches, settings=st)
        summ = summarize(scores, observed, resampling=scheme)
        sd = scores.groupby("method")[list(SHOWN)].std()
        for _, r in summ[summ["score"].isin(SHOWN)].iterrows():
            rows.append({"scheme": scheme, "method": r["method"], "score": r["score"],
                         "observed": r["observed"], "mean": r["mean"],
                         "bias": r["mean"] - r["observed"], "sd": sd.loc[r["method"], r["score"]],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "covers": bool(r["ci_low"] <= r["observed"] <= r["ci_high"])})
        print(f"{scheme}: {args.replicates} replicates in {time.perf_counter() - t:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(f"\n{args.n_cells} cells x {args.n_events} events, density {args.density}, seed {args.seed}")
        print(df.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
