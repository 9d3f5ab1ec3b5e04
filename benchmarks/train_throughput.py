#!/usr/bin/env python
"""Training throughput and peak memory of the Cython core.

Simulates 2,000 cells x 5,000 events x 500 bp (~3 % nonzeros) with the package simulator,
then trains with default parameters (dim 30, ngrams 3, k 8, bucket 2,000,000, ...) for a few
epochs with 1 and with 2 threads, each in a fresh child process so that its peak RSS is its
own. Prints training examples/s per thread (wall clock of the epochs), examples per
CPU-second (from the second epoch on), RSS after each epoch (flat = constant memory) and peak RSS.

    python benchmarks/train_throughput.py [--epochs 3] [--threads 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(data_path: str, threads: int, epochs: int, queue: mp.Queue) -> None:
    from cellspace.dataset import combine
    from cellspace.io.anndata_io import read_h5ad
    from cellspace.train import TrainParams, run_training

    ds = read_h5ad(data_path, name="bench")
    data = combine([ds])
    del ds
    per_epoch: list[dict] = []
    marks = {"t": time.perf_counter(), "c": time.process_time()}
    n_examples = data.n_events * 20

    def on_epoch(epoch: int, total: int, loss: float, rate: float) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        # wall rate as measured by the trainer around the epoch itself; the CPU-time rate of
        # the first epoch also contains the set-up (corpus, table initialisation), so it is
        # reported from the second epoch on
        per_epoch.append({
            "epoch": epoch, "loss": loss,
            "examples_per_s": rate,
            "examples_per_cpu_s": n_examples / (cpu - marks["c"]) if epoch > 1 else float("nan"),
            "rss_mb": _rss_mb(),
        })
        marks["t"], marks["c"] = now, cpu

    params = TrainParams(epochs=epochs, threads=threads, seed=1)
    state = run_training(data, params, on_epoch=on_epoch, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"threads": threads, "epochs": per_epoch, "peak_rss_mb": peak,
               "n_cells": data.n_cells, "n_events": data.n_events, "nnz": int(data.events.nnz),
               "ari": _cell_type_ari(state, data)})


def _cell_type_ari(state, data) -> float:
    """k-means (k = number of cell types) ARI of the L2-normalised cell rows."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from cellspace.model import l2_normalize

    nk, nc, d = state.n_kmers, state.n_cells, state.params.dim
    x = l2_normalize(state.table[nk : nk + nc, :d])
    truth = data.obs["cell_type"].astype(str).to_numpy()
    labels = KMeans(len(set(truth)), n_init=10, random_state=0).fit_predict(x)
    return float(adjusted_rand_score(truth, labels))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    args = ap.parse_args()

    from cellspace.io.anndata_io import write_h5ad
    from cellspace.simulate import SimulationParams, simulate

    t0 = time.perf_counter()
    sim = simulate(SimulationParams(seed=1, n_cells=2000, n_events=5000, event_len=500, density=0.03))
    ds = sim.datasets[0]
    density = ds.events.nnz / (ds.n_cells * ds.n_events)
    print(f"simulated {ds.n_cells} cells x {ds.n_events} events x 500 bp, "
          f"{100 * density:.2f} % nonzeros in {time.perf_counter() - t0:.1f} s")
    ctx = mp.get_context("spawn")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.h5ad")
        write_h5ad(ds, path)
        del sim, ds
        for threads in args.threads:
            q: mp.Queue = ctx.Queue()
            p = ctx.Process(target=_child, args=(path, threads, args.epochs, q))
            p.start()
            res = q.get()
            p.join()
            results.append(res)
            print(f"\n{threads} thread(s), default parameters (dim 30, ngrams 3, k 8, bucket 2e6):")
            for e in res["epochs"]:
                print(f"  epoch {e['epoch']}: {e['examples_per_s']:,.0f} examples/s "
                      f"({e['examples_per_s'] / threads:,.0f} per thread, "
                      f"{e['examples_per_cpu_s']:,.0f} per CPU-second), loss {e['loss']:.4f}, "
                      f"RSS {e['rss_mb']:.0f} MB")
            print(f"  peak RSS {res['peak_rss_mb']:.0f} MB, cell-type ARI {res['ari']:.3f}")
    if len(results) >= 2:
        def best(r):
            return max(e["examples_per_s"] for e in r["epochs"][1:] or r["epochs"])

        r1, r2 = results[0], results[1]
        print(f"\nspeed-up {r2['threads']} vs {r1['threads']} thread(s): {best(r2) / best(r1):.2f}x "
              "(best epoch after the first)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
