"""Run time and peak memory of every competing method on simulated cells, plus their scores.

    PYTHONPATH=src python benchmarks/methods_timing.py --n-cells 5000 --out methods_timing.tsv

Cells come from ``cellspace.simulate.simulate`` (cell types, donors as batches); each method
runs through ``cellspace.bench.methods.run_method`` in a fresh child process (peak memory:
increase of the child's peak RSS once the data are loaded). Torch-based methods (scBasset, PeakVI) are skipped unless ``--with-torch``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import pandas as pd

from cellspace.bench.methods import get_method, list_methods, parse_method_params, run_method
from cellspace.bench.metrics import SharedClustering, score_embedding
from cellspace.bench.toydata import dataset_to_anndata
from cellspace.simulate.core import SimulationParams, simulate

TORCH = {"scbasset", "scbasset_batch", "peakvi", "peakvi_batch"}


def method_params(items: list[str]) -> dict[str, dict]:
    """{method: {key: value}} of METHOD.KEY=VALUE strings (values read as by the CLI's --param)."""
    grouped: dict[str, list[str]] = {}
    for item in items:
        method, dot, rest = item.partition(".")
        if not dot or not method or "=" not in rest:
            raise SystemExit(f"--param {item!r}: expected METHOD.KEY=VALUE")
        grouped.setdefault(method, []).append(rest)
    return {method: parse_method_params(kvs) for method, kvs in grouped.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-cells", type=int, default=5000)
    ap.add_argument("--n-events", type=int, default=5000)
    ap.add_argument("--event-len", type=int, default=300)
    ap.add_argument("--methods", default=None, help="comma-separated (default: all but torch ones)")
    ap.add_argument("--with-torch", action="store_true")
    ap.add_argument("--cellspace-epochs", type=int, default=None, help="override CellSpace epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                    help="extra method parameter, e.g. scbasset.epochs=10 (repeatable; the value is read "
                         "as JSON when it parses, else as a string, as `cellspace benchmark run-method --param`)")
    ap.add_argument("--out", default="methods_timing.tsv")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    warnings.filterwarnings("ignore", category=UserWarning)

    t0 = time.perf_counter()
    sim = simulate(SimulationParams(seed=args.seed, n_cells=args.n_cells, n_events=args.n_events,
                                    event_len=args.event_len, n_types=6, n_donors=3))
    adata = dataset_to_anndata(sim.datasets[0])
    t_sim = time.perf_counter() - t0
    logging.info("simulated %d cells x %d events in %.1f s", adata.n_obs, adata.n_vars, t_sim)
    names = args.methods.split(",") if args.methods else [
        n for n in list_methods() if args.with_torch or n not in TORCH]
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    batches = adata.obs["donor"].astype(str).to_numpy()
    extra = method_params(args.param)
    rows = []
    total = 0.0
    for n in names:
        params = dict(extra.get(n, {}))
        if n.startswith("cellspace"):
            params["threads"] = os.cpu_count() or 1
            if args.cellspace_epochs:
                params["epochs"] = args.cellspace_epochs
        run = run_method(adata, n, batch_key="donor", seed=args.seed, params=params)
        total += run.seconds
        sc = score_embedding(run.embedding, labels, batches, metric=get_method(n).metric,
                             cluster_fn=SharedClustering())
        rows.append({"method": n, "seconds": round(run.seconds, 2),
                     "peak_memory_mib": round(run.peak_memory / 2**20, 1),
                     "dims": run.embedding.shape[1],
                     **{k: round(v, 4) for k, v in sc.values.items()}})
        logging.info("%s: %.1f s, %.0f MiB, overall %.3f", n, run.seconds,
                     run.peak_memory / 2**20, sc.values["overall_score"])
    df = pd.DataFrame(rows)
    df.to_csv(args.out, sep="\t", index=False)
    print(df.to_string(index=False))
    print(f"cells {adata.n_obs}, events {adata.n_vars}; methods total {total:.1f} s "
          f"(simulation {t_sim:.1f} s); cores {os.cpu_count()}")


if __name__ == "__main__":
    main()
