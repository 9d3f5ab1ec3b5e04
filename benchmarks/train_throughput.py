#!/usr/bin/env python
"""Training throughput and memory of the Cython core, per phase.

Default: simulates 2,000 cells x 5,000 events x 500 bp (~3 % nonzeros) with the package
simulator, writes it as h5ad and trains from that file. ``--atlas``: 200,000 cells x 50,000
events x 500 bp at 2 % nonzeros (~200 M), generated directly as an events x cells CSR in a few
seconds (cells in contiguous blocks of ``--types`` cell types; each event opens its home type's
cells with probability 5 x density and the other cells at a rate that gives the density;
random DNA), since the full simulator is far slower at that size. ``--cells``/``--events``
change the atlas generator's size (e.g. the small size, to compare like with like).

Every thread count runs in a fresh child process with default training parameters (dim 30,
ngrams 3, k 8, bucket 2,000,000, ...), so that peaks are its own. Prints per epoch:
examples/s (wall clock), examples per CPU-second (process CPU time of the epoch: the fairer
figure when other work shares the cores) and RSS; per phase (generation or reading, dataset,
pools, corpus arrays, table, epochs): RSS and the peak so far; and the cell-type ARI.

    python benchmarks/train_throughput.py [--epochs 3] [--threads 1 2] [--json out.json]
    python benchmarks/train_throughput.py --atlas [--epochs 2] [--threads 1]
    python benchmarks/train_throughput.py --atlas --write-h5ad atlas.h5ad   # for the CLI path
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cellspace.simulate.atlas import AtlasSpec, atlas_dataset


class _PhaseLog(logging.Handler):
    """Collects the trainer's debug memory lines with the process CPU and wall time."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.phases: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        from cellspace.memory import MESSAGE

        if record.msg == MESSAGE:
            phase, rss, peak = record.args
            self.add(phase, rss, peak)

    def add(self, phase: str, rss: float, peak: float) -> None:
        self.phases.append({"phase": phase, "rss_mb": rss, "peak_mb": peak,
                            "cpu_s": time.process_time(), "wall_s": time.perf_counter()})


def _child(source: dict, threads: int, epochs: int, queue: mp.Queue) -> None:
    from cellspace.dataset import combine
    from cellspace.memory import peak_rss_mb, rss_mb
    from cellspace.train import TrainParams, run_training

    phases = _PhaseLog()
    lg = logging.getLogger("cellspace")
    lg.setLevel(logging.DEBUG)
    lg.addHandler(phases)
    phases.add("start", rss_mb(), peak_rss_mb())
    if source["kind"] == "atlas":
        ds = atlas_dataset(AtlasSpec(**source["spec"]))
        phases.add("generating the dataset", rss_mb(), peak_rss_mb())
    else:
        from cellspace.io.anndata_io import read_h5ad

        ds = read_h5ad(source["path"], name="bench")
        phases.add("reading the h5ad file", rss_mb(), peak_rss_mb())
    data = combine([ds])
    del ds
    phases.add("combining", rss_mb(), peak_rss_mb())
    n_examples = data.n_events * 20
    rates: list[float] = []
    params = TrainParams(epochs=epochs, threads=threads, seed=1)
    state = run_training(data, params, on_epoch=lambda e, n, loss, rate: rates.append(rate), progress=False)
    lg.removeHandler(phases)
    # examples per CPU-second of each epoch: CPU time between its memory line and the previous one
    epochs_out = []
    ph = phases.phases
    for i, p in enumerate(ph):
        if p["phase"].startswith("epoch "):
            cpu = p["cpu_s"] - ph[i - 1]["cpu_s"]
            epochs_out.append({"epoch": len(epochs_out) + 1, "examples_per_s": rates[len(epochs_out)],
                               "examples_per_cpu_s": n_examples / cpu, "rss_mb": p["rss_mb"]})
    queue.put({"threads": threads, "epochs": epochs_out, "phases": ph, "peak_rss_mb": peak_rss_mb(),
               "n_cells": data.n_cells, "n_events": data.n_events, "nnz": int(data.events.nnz),
               "table_mb": state.table.nbytes / 2**20, "ari": _cell_type_ari(state, data),
               "losses": state.losses})


def _cell_type_ari(state, data, max_cells: int = 20_000) -> float:
    """k-means (k = number of cell types) ARI of the L2-normalised cell rows (a fixed subsample
    of ``max_cells`` cells when there are more)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from cellspace.model import l2_normalize

    nk, nc, d = state.n_kmers, state.n_cells, state.params.dim
    x = l2_normalize(state.table[nk : nk + nc, :d])
    truth = data.obs["cell_type"].astype(str).to_numpy()
    if nc > max_cells:
        pick = np.random.default_rng(0).choice(nc, max_cells, replace=False)
        x, truth = x[pick], truth[pick]
    labels = KMeans(len(set(truth)), n_init=10, random_state=0).fit_predict(x)
    return float(adjusted_rand_score(truth, labels))


def _print_result(res: dict) -> None:
    threads = res["threads"]
    nnz = res["nnz"]
    print(f"\n{threads} thread(s), default parameters (dim 30, ngrams 3, k 8, bucket 2e6), "
          f"{res['n_cells']:,} cells x {res['n_events']:,} events, {nnz:,} nonzeros:")
    for e in res["epochs"]:
        print(f"  epoch {e['epoch']}: {e['examples_per_s']:,.0f} examples/s "
              f"({e['examples_per_s'] / threads:,.0f} per thread, "
              f"{e['examples_per_cpu_s']:,.0f} per CPU-second), RSS {e['rss_mb']:.0f} MB")
    print("  memory by phase (RSS after it / peak so far):")
    for p in res["phases"]:
        print(f"    {p['phase']:<24} {p['rss_mb']:7.0f} / {p['peak_mb']:7.0f} MB")
    peak, table = res["peak_rss_mb"], res["table_mb"]
    print(f"  peak RSS {peak:.0f} MB = table {table:.0f} MB + {(peak - table) * 2**20 / nnz:.1f} bytes "
          f"per nonzero; cell-type ARI {res['ari']:.3f}; losses {', '.join(f'{x:.4f}' for x in res['losses'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=None, help="epochs per run (default: 3, atlas 2)")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="thread counts, one child process each (default: 1 2, atlas 1)")
    ap.add_argument("--atlas", action="store_true", help="200,000 cells x 50,000 events, generated directly")
    ap.add_argument("--cells", type=int, default=AtlasSpec.n_cells, help="atlas cells")
    ap.add_argument("--events", type=int, default=AtlasSpec.n_events, help="atlas events")
    ap.add_argument("--density", type=float, default=AtlasSpec.density, help="atlas fraction of nonzeros")
    ap.add_argument("--types", type=int, default=AtlasSpec.n_types, help="atlas cell types")
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    ap.add_argument("--write-h5ad", type=Path, default=None, metavar="PATH",
                    help="with --atlas: only write the generated dataset to PATH (uncompressed h5ad, "
                    "sequences in var) for measuring `cellspace train --h5ad PATH`, and exit")
    args = ap.parse_args()
    if args.write_h5ad is not None:
        from cellspace.io.anndata_io import write_h5ad

        if not args.atlas:
            ap.error("--write-h5ad needs --atlas")
        spec = AtlasSpec(n_cells=args.cells, n_events=args.events, density=args.density, n_types=args.types)
        ds = atlas_dataset(spec)
        write_h5ad(ds, args.write_h5ad, compression=None)
        print(f"wrote {args.write_h5ad}: {ds.n_cells:,} cells x {ds.n_events:,} events, {ds.events.nnz:,} nonzeros")
        return
    epochs = args.epochs or (2 if args.atlas else 3)
    thread_counts = args.threads or ([1] if args.atlas else [1, 2])
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    ctx = mp.get_context("spawn")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.atlas:
            spec = AtlasSpec(n_cells=args.cells, n_events=args.events, density=args.density, n_types=args.types)
            source = {"kind": "atlas", "spec": asdict(spec)}
            print(f"atlas: {spec.n_cells:,} cells x {spec.n_events:,} events x {spec.event_len} bp, "
                  f"{100 * spec.density:.1f} % nonzeros, {spec.n_types} cell types (generated in each child)")
        else:
            from cellspace.io.anndata_io import write_h5ad
            from cellspace.simulate import SimulationParams, simulate

            t0 = time.perf_counter()
            sim = simulate(SimulationParams(seed=1, n_cells=2000, n_events=5000, event_len=500, density=0.03))
            ds = sim.datasets[0]
            density = ds.events.nnz / (ds.n_cells * ds.n_events)
            print(f"simulated {ds.n_cells} cells x {ds.n_events} events x 500 bp, "
                  f"{100 * density:.2f} % nonzeros in {time.perf_counter() - t0:.1f} s")
            path = str(Path(tmp) / "bench.h5ad")
            write_h5ad(ds, path)
            del sim, ds
            source = {"kind": "h5ad", "path": path}
        for threads in thread_counts:
            q: mp.Queue = ctx.Queue()
            p = ctx.Process(target=_child, args=(source, threads, epochs, q))
            p.start()
            res = q.get()
            p.join()
            results.append(res)
            _print_result(res)
    if len(results) >= 2:
        def best(r):
            return max(e["examples_per_s"] for e in r["epochs"][1:] or r["epochs"])

        r1, r2 = results[0], results[1]
        print(f"\nspeed-up {r2['threads']} vs {r1['threads']} thread(s): {best(r2) / best(r1):.2f}x "
              "(best epoch after the first)")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
