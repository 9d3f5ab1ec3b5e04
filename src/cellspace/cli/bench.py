"""``cellspace benchmark``: run competing methods, score embeddings, bootstrap statistics.

Actions:
  list             registered methods and whether their dependencies are installed
  run-method       embed an h5ad (cells x events, var["sequence"]) with one or more methods
  score            the eight benchmark metrics and summary scores of embeddings
  bootstrap        bootstrap CIs and pairwise tests (whole run, or one chunk of replicates)
  bootstrap-merge  merge chunk folders into the report of a whole run
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.errors import InputError, ParameterError

log = logging.getLogger(__name__)


def _read_h5ad(path: str):
    from cellspace.io.anndata_io import read_anndata

    return read_anndata(path)


def parse_params(items: list[str]) -> dict:
    """{name: value} of ``name=value`` strings; a value is read as JSON when it parses (numbers,
    true/false, lists), else kept as a string."""
    out: dict = {}
    for it in items or []:
        if "=" not in it:
            raise ParameterError(f"--param must look like name=value, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _csv(s: str | None) -> list[str]:
    return [x for x in (s or "").split(",") if x]


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--h5ad", required=True, help="AnnData with obsm['X_<method>'] embeddings")
    p.add_argument("--methods", default=None,
                   help="comma-separated methods (obsm keys without 'X_'); default: methods "
                        "recorded in uns['bench_runs'] plus cellspace when X_cellspace exists")
    p.add_argument("--label-key", required=True, help="obs column of cell types")
    p.add_argument("--batch-key", default=None, help="obs column of batches (batch metrics)")
    p.add_argument("--label-exclude", default="",
                   help="comma-separated cell-type labels excluded from evaluation (e.g. unknown)")
    p.add_argument("--subset-key", default=None, help="obs column restricting evaluated cells")
    p.add_argument("--subset-values", default="",
                   help="comma-separated values of --subset-key to keep")
    p.add_argument("--cosine", default="",
                   help="comma-separated methods clustered with cosine distance (default: "
                        "each method's own setting; cellspace methods use cosine)")
    p.add_argument("--n-neighbors", type=int, default=20, help="k of the kNN graph")
    p.add_argument("--cluster-method", choices=["leiden", "louvain"], default="leiden",
                   help="community detection for the clusters")
    p.add_argument("--seed", type=int, default=0, help="random seed")


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("benchmark", help="benchmark competing methods (run, score, bootstrap)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    fmt = argparse.ArgumentDefaultsHelpFormatter

    sub.add_parser("list", help="list methods", formatter_class=fmt)

    r = sub.add_parser("run-method", help="embed cells with competing methods", formatter_class=fmt)
    r.add_argument("--h5ad", required=True, help="cells x events AnnData (var['sequence'] for "
                   "sequence-based methods)")
    r.add_argument("--out", required=True, help="output h5ad (input plus obsm['X_<method>'])")
    r.add_argument("--method", action="append", required=True, help="method name (repeatable)")
    r.add_argument("--batch-key", default=None, help="obs batch column (batch-aware methods)")
    r.add_argument("--param", action="append", default=[],
                   help="method parameter name=value (JSON value), for every method given")
    r.add_argument("--memory", choices=["child", "rss", "tracemalloc"], default="child",
                   help="peak memory: peak RSS increase of the method in a fresh child process, "
                        "the same in this process (under-reports after earlier work), or traced "
                        "Python/NumPy allocations")
    r.add_argument("--seed", type=int, default=0, help="random seed")
    r.add_argument("--timings", default=None, help="also write run time and memory to this TSV")

    s = sub.add_parser("score", help="score embeddings (8 metrics + summaries)", formatter_class=fmt)
    _add_eval_args(s)
    s.add_argument("--out", required=True, help="TSV of scores (one row per method)")
    s.add_argument("--per-label", default=None, help="TSV of per-cell-type batch metrics")

    b = sub.add_parser("bootstrap", help="bootstrap CIs and pairwise tests", formatter_class=fmt)
    _add_eval_args(b)
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("-B", "--n-replicates", type=int, default=1000, help="bootstrap replicates")
    b.add_argument("--resampling", choices=["half", "replacement"], default="half",
                   help="half: n/2 distinct cells per replicate, intervals centred on the observed "
                   "score (default); replacement: n draws with replacement, raw percentile "
                   "intervals (duplicated cells bias kNN metrics)")
    b.add_argument("--replicates", default=None, help="compute only replicates a:b (a chunk)")
    b.add_argument("--chunk", type=int, default=None, help="compute only chunk i of --n-chunks")
    b.add_argument("--n-chunks", type=int, default=None, help="number of chunks")
    b.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level")
    b.add_argument("--no-plots", action="store_true", help="tables only")

    m = sub.add_parser("bootstrap-merge", help="merge bootstrap chunks into a report",
                       formatter_class=fmt)
    m.add_argument("--out", required=True, help="report folder")
    m.add_argument("chunks", nargs="+", help="chunk folders (written by bootstrap --chunk)")
    m.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level")
    m.add_argument("--no-plots", action="store_true", help="tables only")
    return p


# --------------------------------------------------------------------------- actions
def _list(_args) -> int:
    from cellspace.bench.methods import MISSING, get_method, list_methods

    for n in list_methods():
        m = get_method(n)
        miss = m.missing_dependencies()
        state = "ok" if not miss else f"needs {', '.join(miss)} (pip install 'cellspace[{m.extra}]')"
        print(f"{n}\t{state}\t{m.description}")
    for n, why in MISSING.items():
        print(f"{n}\tmissing\t{why}")
    return 0


def _run_method(args) -> int:
    from cellspace.atomic import atomic_path
    from cellspace.bench.methods import get_method, run_method

    adata = _read_h5ad(args.h5ad)
    methods = [get_method(n) for n in args.method]  # unknown names fail before any work
    params = parse_params(args.param)
    rows = []
    for m in methods:
        run = run_method(adata, m, batch_key=args.batch_key, seed=args.seed, params=params,
                         memory=args.memory)
        rows.append({"method": m.name, "seconds": run.seconds,
                     "peak_memory_mib": run.peak_memory / 2**20, "memory_mode": run.memory_mode,
                     "n_cells": adata.n_obs, "dims": run.embedding.shape[1]})
    with atomic_path(args.out) as tmp:
        adata.write_h5ad(tmp)
    if args.timings:
        with atomic_path(args.timings) as tmp:
            pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
    return 0


def _evaluation_inputs(args):
    """(embeddings on evaluated cells, metrics per method, labels, batches, n excluded)."""
    from cellspace.bench.methods import get_method
    from cellspace.bench.metrics import evaluation_mask

    adata = _read_h5ad(args.h5ad)
    if args.label_key not in adata.obs:
        raise InputError(f"label column {args.label_key!r} not in obs", args.h5ad)
    if args.batch_key is not None and args.batch_key not in adata.obs:
        raise InputError(f"batch column {args.batch_key!r} not in obs", args.h5ad)
    runs = dict(adata.uns.get("bench_runs", {}))
    methods = _csv(args.methods)
    if not methods:
        methods = list(runs)
        if "X_cellspace" in adata.obsm and "cellspace" not in methods:
            methods.insert(0, "cellspace")
    if not methods:
        raise InputError("no embeddings to evaluate (give --methods)", args.h5ad)
    cos = set(_csv(args.cosine))
    emb, metric = {}, {}
    for m in methods:
        key = f"X_{m}"
        if key not in adata.obsm:
            raise InputError(f"embedding obsm[{key!r}] not found", args.h5ad)
        emb[m] = np.asarray(adata.obsm[key], dtype=np.float64)
        if m in cos:
            metric[m] = "cosine"
        elif m in runs and "metric" in runs[m]:
            metric[m] = str(runs[m]["metric"])
        else:
            try:
                metric[m] = get_method(m).metric
            except ParameterError:
                metric[m] = "euclidean"
    labels = adata.obs[args.label_key].astype(object).to_numpy()
    subset = None
    if args.subset_key is not None:
        if args.subset_key not in adata.obs:
            raise InputError(f"subset column {args.subset_key!r} not in obs", args.h5ad)
        vals = set(_csv(args.subset_values))
        if not vals:
            raise ParameterError("--subset-key needs --subset-values")
        subset = adata.obs[args.subset_key].astype(str).isin(vals).to_numpy()
    mask = evaluation_mask(labels, _csv(args.label_exclude), subset)
    if mask.sum() < 3:
        raise InputError(f"only {int(mask.sum())} cells left to evaluate", args.h5ad)
    batches = None
    if args.batch_key is not None:
        batches = adata.obs[args.batch_key].astype(str).to_numpy()[mask]
    emb = {k: v[mask] for k, v in emb.items()}
    log.info("evaluating %d of %d cells, methods: %s", int(mask.sum()), adata.n_obs,
             ", ".join(methods))
    return emb, metric, labels[mask].astype(str), batches, int((~mask).sum())


def _score(args) -> int:
    from cellspace.atomic import atomic_path
    from cellspace.bench.metrics import SharedClustering, score_embedding

    emb, metric, labels, batches, _ = _evaluation_inputs(args)
    rows, per = [], []
    for m, X in emb.items():
        sc = score_embedding(X, labels, batches, metric=metric[m], n_neighbors=args.n_neighbors,
                             cluster_fn=SharedClustering(args.cluster_method), seed=args.seed)
        rows.append({"method": m, **sc.as_series().to_dict()})
        pl = sc.per_label.reset_index()
        pl.insert(0, "method", m)
        per.append(pl)
    with atomic_path(args.out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False, na_rep="NaN")
    if args.per_label:
        with atomic_path(args.per_label) as tmp:
            pd.concat(per).to_csv(tmp, sep="\t", index=False, na_rep="NaN")
    return 0


def _bootstrap(args) -> int:
    from cellspace.bench.bootstrap import BootstrapSettings, bootstrap_scores, replicate_range
    from cellspace.bench.bootstrap_io import fingerprint, write_chunk, write_report

    if args.n_replicates < 2:
        raise ParameterError(f"--n-replicates must be >= 2, got {args.n_replicates}")
    reps = replicate_range(args.n_replicates, args.chunk, args.n_chunks, args.replicates)
    emb, metric, labels, batches, n_excl = _evaluation_inputs(args)
    settings = BootstrapSettings(n_replicates=args.n_replicates, seed=args.seed,
                                 n_neighbors=args.n_neighbors, cluster_seed=args.seed,
                                 cluster_method=args.cluster_method, resampling=args.resampling)
    scores, per, observed = bootstrap_scores(emb, labels, batches, replicates=reps,
                                             settings=settings, metrics=metric)
    meta = {
        "settings": settings.as_dict(), "methods": list(emb), "metrics": metric,
        "label_key": args.label_key, "batch_key": args.batch_key,
        "label_exclude": _csv(args.label_exclude), "subset_key": args.subset_key,
        "subset_values": _csv(args.subset_values), "n_cells": int(labels.size),
        "n_excluded": n_excl, "fingerprint": fingerprint(emb, labels, batches),
        "replicates": [reps.start, reps.stop],
    }
    out = Path(args.out)
    if len(reps) == args.n_replicates:
        write_report(out, meta, scores, per, observed, args.alpha, plots=not args.no_plots)
        log.info("bootstrap report written to %s", out)
    else:
        folder = out / f"chunk_{reps.start:06d}-{reps.stop:06d}"
        write_chunk(folder, meta, scores, per, observed)
        log.info("bootstrap chunk %d:%d written to %s", reps.start, reps.stop, folder)
    return 0


def _merge(args) -> int:
    from cellspace.bench.bootstrap_io import read_chunks, write_report

    meta, scores, per, observed = read_chunks([Path(c) for c in args.chunks])
    write_report(Path(args.out), meta, scores, per, observed, args.alpha, plots=not args.no_plots)
    return 0


_ACTIONS = {"list": _list, "run-method": _run_method, "score": _score,
            "bootstrap": _bootstrap, "bootstrap-merge": _merge}


def run(args) -> int:
    return _ACTIONS[args.action](args)
