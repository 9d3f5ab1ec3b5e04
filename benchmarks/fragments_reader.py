#!/usr/bin/env python
"""Wall time and peak memory of the fragments -> tiles reader on a synthetic fragments file.

Writes ``n`` uniform random fragments (50-500 bp) over 3 random-DNA chromosomes of 50 Mb,
position-sorted, bgzip + tabix, from 20,000 barcodes, and a barcode list of every 4th barcode.
Then, each in a fresh child process (so its peak RSS is its own), reads it with
``read_fragments`` (a) with the barcode list and (b) with ``--min-fragments 1`` (two passes,
all 20,000 barcodes). State the load average (printed) next to the times.

    python benchmarks/fragments_reader.py [--n-fragments 6000000] [--dir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

CHROM_LEN = 50_000_000
N_BARCODES = 20_000


def write_inputs(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path, Path]:
    import pandas as pd
    import pysam

    rng = np.random.default_rng(seed)
    chroms = ["chr1", "chr2", "chr3"]
    per = n // len(chroms)
    start = np.concatenate([np.sort(rng.integers(0, CHROM_LEN - 1000, per)) for _ in chroms])
    length = rng.integers(50, 500, len(start))
    names = np.array([f"BC{i:06d}-1" for i in range(N_BARCODES)], dtype=object)
    df = pd.DataFrame({"c": np.repeat(chroms, per), "s": start, "e": start + length,
                       "b": names[rng.integers(0, N_BARCODES, len(start))], "n": 1})
    frag = folder / "fragments.tsv.gz"
    plain = folder / "fragments.tsv"
    df.to_csv(plain, sep="\t", header=False, index=False)
    pysam.tabix_compress(str(plain), str(frag), force=True)
    plain.unlink()
    pysam.tabix_index(str(frag), preset="bed", force=True, keep_original=True)
    genome = folder / "genome.fa"
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(genome, "w") as fh:
        for c in chroms:
            fh.write(f">{c}\n{letters[rng.integers(0, 4, CHROM_LEN)].tobytes().decode()}\n")
    pysam.faidx(str(genome))
    barcodes = folder / "barcodes.txt"
    barcodes.write_text("".join(f"{b}\n" for b in names[::4]))
    return frag, genome, barcodes


def _child(frag: str, genome: str, barcodes: str | None, queue: mp.Queue) -> None:
    from cellspace.io.fragments import TileParams, read_fragments

    t0 = time.perf_counter()
    if barcodes:
        ds = read_fragments(frag, genome, barcodes=barcodes)
    else:
        ds = read_fragments(frag, genome, tiles=TileParams(min_fragments=1))
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"cells": ds.n_cells, "tiles": ds.n_events, "nonzeros": int(ds.events.nnz),
               "wall_s": round(wall, 1), "peak_rss_mb": round(peak)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-fragments", type=int, default=6_000_000)
    ap.add_argument("--dir", default=None, help="keep the inputs here (default: a temporary folder)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        frag, genome, barcodes = write_inputs(folder, args.n_fragments)
        size = frag.stat().st_size / 1e6
        results = {"n_fragments": args.n_fragments, "file_mb": round(size, 1)}
        ctx = mp.get_context("spawn")
        for label, bc in (("barcodes", str(barcodes)), ("min_fragments_1", None)):
            q: mp.Queue = ctx.Queue()
            p = ctx.Process(target=_child, args=(str(frag), str(genome), bc, q))
            p.start()
            res = q.get()
            p.join()
            res["load_average"] = round(os.getloadavg()[0], 1)
            results[label] = res
            print(label, res, flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
