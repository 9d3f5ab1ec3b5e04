#!/usr/bin/env python
"""Atlas scale end to end: a simulated atlas through the whole Nextflow pipeline, per step.

1. Generates ``--cells`` x ``--events`` (default 200,000 x 60,000, 2 % nonzeros, 10 cell types,
   4 sites of the home type's TF motif per 500-bp event; :mod:`cellspace.simulate.atlas`) and
   writes DIR/atlas.h5ad (cells x events, ``var["sequence"]``, ``obs["cell_type"]``) with
   DIR/samplesheet.csv. Skipped when DIR/atlas.h5ad exists.
2. Runs ``nextflow run <repo> -profile local`` on it with the default steps (prepare,
   select-features to ``--n-features`` events by iterative LSI, train ``--epochs`` epochs,
   export, motifs, analyze with UMAP, denovo, report) and ``-with-trace``, in DIR (work/ and
   results/ there), logging the load average every 30 s. ``--resume`` adds ``-resume``.
3. Prints (and writes to DIR/atlas_steps.md) one row per task from the trace: wall (realtime),
   CPU time (realtime x %cpu), peak RSS; the run's wall clock and load average; and the
   cell-type ARI of the Leiden clusters of ANALYZE and of k-means on the embedding.

    python benchmarks/atlas.py --out scratch/atlas                 # generate + run + table
    python benchmarks/atlas.py --out scratch/atlas --resume        # after a fix: rerun what changed
    python benchmarks/atlas.py --out scratch/atlas --table-only    # the table of the last run
    python benchmarks/atlas.py --out scratch/small --cells 5000 --events 3000 --n-features 2000 --epochs 5
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from cellspace.simulate.atlas import AtlasSpec, atlas_dataset

ROOT = Path(__file__).resolve().parents[1]
NXF = ROOT / ".nextflow-bin" / "nextflow"
TRACE_FIELDS = "task_id,hash,process,tag,name,status,exit,cpus,memory,realtime,duration,%cpu,peak_rss,peak_vmem,rchar,wchar"


def generate(out: Path, spec: AtlasSpec) -> dict:
    from cellspace.io import write_h5ad

    t0, c0 = time.perf_counter(), time.process_time()
    ds = atlas_dataset(spec)
    h5ad = out / "atlas.h5ad"
    write_h5ad(ds, h5ad, compression=None)
    info = {"n_cells": ds.n_cells, "n_events": ds.n_events, "nnz": int(ds.events.nnz),
            "density": ds.events.nnz / (ds.n_cells * ds.n_events),
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "spec": spec.__dict__}
    (out / "samplesheet.csv").write_text(f"dataset,format,h5ad\natlas,h5ad,{h5ad.resolve()}\n")
    (out / "generate.json").write_text(json.dumps(info, indent=1))
    return info


class LoadLog(threading.Thread):
    """Appends ``time<TAB>1-min load average`` to a file every ``every`` seconds."""

    def __init__(self, path: Path, every: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.path, self.every, self.stop = path, every, threading.Event()

    def run(self) -> None:
        with open(self.path, "a") as fh:
            while not self.stop.is_set():
                fh.write(f"{time.time():.0f}\t{os.getloadavg()[0]:.2f}\n")
                fh.flush()
                self.stop.wait(self.every)


def run_pipeline(out: Path, args: argparse.Namespace) -> dict:
    (out / "trace.config").write_text(f"trace {{\n    raw = true\n    fields = '{TRACE_FIELDS}'\n}}\n")
    trace = out / "trace.txt"
    cmd = [str(NXF), "run", str(ROOT), "-profile", "local", "-c", str(out / "trace.config"),
           "--input", str((out / "samplesheet.csv").resolve()), "--outdir", str((out / "results").resolve()),
           "--n_features", str(args.n_features), "--epochs", str(args.epochs),
           "-with-trace", str(trace.resolve())] + (["-resume"] if args.resume else []) + args.nextflow_args
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NXF_ANSI_LOG"] = "false"
    print("command (in " + str(out) + "): " + " ".join(cmd), flush=True)
    load = LoadLog(out / "load.tsv")
    load.start()
    t0 = time.time()
    up0 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with open(out / "nextflow.log", "a") as log:
        rc = subprocess.run(cmd, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.time() - t0
    up1 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load.stop.set()
    run = {"command": " ".join(cmd), "rc": rc, "start": t0, "wall_s": wall, "uptime_start": up0,
           "uptime_end": up1}
    with open(out / "runs.jsonl", "a") as fh:
        fh.write(json.dumps(run) + "\n")
    return run


def _num(x: str) -> float:
    try:
        return float(x.rstrip("%"))
    except ValueError:
        return float("nan")


def read_trace(path: Path) -> list[dict]:
    """Rows of a raw trace (realtime in ms, peak_rss in bytes), the last attempt of each task."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = []
    for r in rows:
        realtime = _num(r["realtime"]) / 1000
        cpu_pct = _num(r["%cpu"])
        out.append({"name": r["name"], "process": r["process"].split(":")[-1], "status": r["status"],
                    "cpus": r["cpus"], "memory": r["memory"], "wall_s": realtime,
                    "cpu_s": realtime * cpu_pct / 100, "peak_rss_gb": _num(r["peak_rss"]) / 2**30})
    return out


def load_summary(path: Path, start: float, end: float) -> str:
    if not path.exists():
        return "n/a"
    vals = [float(v) for t, v in (line.split("\t") for line in path.read_text().splitlines())
            if start - 1 <= float(t) <= end + 31]
    if not vals:
        return "n/a"
    return f"{min(vals):.1f}-{max(vals):.1f} (median {float(np.median(vals)):.1f}, {len(vals)} samples)"


def check_embedding(out: Path, max_cells: int = 20_000) -> dict:
    """Cell-type ARI of ANALYZE's Leiden clusters (all cells) and of k-means (k = number of types)
    on the L2-normalised embedding (a fixed subsample of ``max_cells`` cells)."""
    import anndata as ad
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    res: dict = {}
    analyzed = out / "results" / "analyze" / "cellspace" / "cells.h5ad"
    trained = out / "results" / "cellspace" / "cellspace" / "cells.h5ad"
    src = analyzed if analyzed.exists() else trained
    if not src.exists():
        return res
    a = ad.read_h5ad(src)
    truth = a.obs["cell_type"].astype(str).to_numpy()
    if "leiden" in a.obs:
        res["leiden_ari"] = float(adjusted_rand_score(truth, a.obs["leiden"].astype(str)))
        res["leiden_clusters"] = int(a.obs["leiden"].nunique())
    x = np.asarray(a.obsm["X_cellspace"], dtype=np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if len(x) > max_cells:
        pick = np.random.default_rng(0).choice(len(x), max_cells, replace=False)
        x, truth = x[pick], truth[pick]
    km = KMeans(len(set(truth)), n_init=10, random_state=0).fit_predict(x)
    res["kmeans_ari"] = float(adjusted_rand_score(truth, km))
    return res


def table(out: Path) -> str:
    rows = read_trace(out / "trace.txt")
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()] if (out / "runs.jsonl").exists() else []
    lines = ["| task | status | cpus / memory requested | wall | CPU time | peak RSS |", "|---|---|---|---|---|---|"]
    for r in rows:
        mem = f"{_num(r['memory']) / 2**30:.0f} GiB" if r["memory"] not in ("", "-") else "-"
        lines.append(f"| {r['name']} | {r['status']} | {r['cpus']} / {mem} | {r['wall_s'] / 60:.1f} min "
                     f"| {r['cpu_s'] / 60:.1f} min | {r['peak_rss_gb']:.2f} GiB |")
    done = [r for r in rows if r["status"] in ("COMPLETED", "CACHED")]
    lines.append("")
    lines.append(f"Sum of task walls: {sum(r['wall_s'] for r in done) / 60:.1f} min; largest peak RSS: "
                 f"{max((r['peak_rss_gb'] for r in done), default=float('nan')):.2f} GiB.")
    for run in runs:
        lines.append(f"Run (exit {run['rc']}): {run['wall_s'] / 60:.1f} min wall; load average (1 min) "
                     f"{load_summary(out / 'load.tsv', run['start'], run['start'] + run['wall_s'])}; "
                     f"`uptime` at start: {run['uptime_start']}; at end: {run['uptime_end']}")
    gen = out / "generate.json"
    if gen.exists():
        g = json.loads(gen.read_text())
        lines.append(f"Generation: {g['n_cells']:,} cells x {g['n_events']:,} events, {g['nnz']:,} nonzeros "
                     f"({100 * g['density']:.2f} %), {g['wall_s']:.0f} s wall, {g['cpu_s']:.0f} s CPU, "
                     f"peak RSS {g['peak_rss_mb'] / 1024:.2f} GiB.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="run folder (atlas.h5ad, work/, results/, trace)")
    ap.add_argument("--cells", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=60_000, help="events in the input (before selection)")
    ap.add_argument("--n-features", type=int, default=50_000, help="events kept by SELECT_FEATURES")
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--types", type=int, default=10)
    ap.add_argument("--sites", type=int, default=4, help="motif sites of the home type per event")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--resume", action="store_true", help="nextflow -resume")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--table-only", action="store_true", help="only print the table of DIR's last run")
    ap.add_argument("--nextflow-args", nargs=argparse.REMAINDER, default=[],
                    help="further arguments for nextflow run (last)")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        if not (out / "atlas.h5ad").exists():
            spec = AtlasSpec(n_cells=args.cells, n_events=args.events, density=args.density,
                             n_types=args.types, sites_per_event=args.sites, seed=args.seed)
            g = generate(out, spec)
            print(f"generated {g['n_cells']:,} x {g['n_events']:,} ({g['nnz']:,} nonzeros) in {g['wall_s']:.0f} s",
                  flush=True)
        if args.generate_only:
            return
        if not NXF.exists():
            sys.exit(f"{NXF}: Nextflow not installed (bash scripts/install-nextflow)")
        run = run_pipeline(out, args)
        print(f"nextflow exit {run['rc']} after {run['wall_s'] / 60:.1f} min", flush=True)
    if not (out / "trace.txt").exists():
        sys.exit(f"{out / 'trace.txt'}: no trace (see {out / 'nextflow.log'})")
    text = table(out)
    checks = check_embedding(out)
    if checks:
        text += "\nCell types: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in checks.items())
    (out / "atlas_steps.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
