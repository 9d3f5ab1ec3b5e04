#!/usr/bin/env python3
"""Collect the embeddings of several `cellspace benchmark run-method` outputs into one AnnData.

Usage: bench_collect_embeddings.py --out embeddings.h5ad [--cells cells.h5ad] METHOD.h5ad ...

The first method file gives the cells (obs) and events; every obsm['X_*'] of every method file
is copied (cells matched by name). With --cells (the trained cells.h5ad), its X_cellspace is
added for the same cells, unless a method file already holds one. uns['bench_runs'] lists the
methods of the inputs (run time, memory, metric).
"""

from __future__ import annotations

import argparse
import sys

import anndata as ad
import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--cells", default=None, help="trained cells.h5ad (adds X_cellspace)")
    p.add_argument("h5ads", nargs="+")
    args = p.parse_args(argv)

    files = sorted(args.h5ads)
    base = ad.read_h5ad(files[0])
    out = ad.AnnData(obs=base.obs.copy())
    methods: list[str] = []
    runs: dict = {}
    for f in files:
        a = base if f == files[0] else ad.read_h5ad(f)
        missing = out.obs_names.difference(a.obs_names)
        if len(missing):
            sys.exit(f"{f}: {len(missing)} cells of {files[0]} missing, e.g. {missing[0]}")
        idx = a.obs_names.get_indexer(out.obs_names)
        for key in a.obsm:
            if key.startswith("X_") and key not in out.obsm:
                out.obsm[key] = np.asarray(a.obsm[key])[idx]
                methods.append(key[2:])
        runs.update(dict(a.uns.get("bench_runs", {})))
    if args.cells and "X_cellspace" not in out.obsm:
        cells = ad.read_h5ad(args.cells)
        missing = out.obs_names.difference(cells.obs_names)
        if len(missing):
            sys.exit(f"{args.cells}: {len(missing)} benchmark cells missing, e.g. {missing[0]}")
        out.obsm["X_cellspace"] = np.asarray(cells.obsm["X_cellspace"])[
            cells.obs_names.get_indexer(out.obs_names)]
        methods.append("cellspace")
    out.uns["bench_runs"] = {m: runs[m] for m in methods if m in runs}
    out.write_h5ad(args.out)
    print(f"{args.out}: {out.n_obs} cells, methods {','.join(methods)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
