"""Files of a bootstrap run: chunks of replicates, their merge and the final report.

A chunk folder holds ``meta.json`` (settings, methods, data fingerprint, replicate range),
``scores_replicates.tsv``, ``per_label_replicates.tsv`` and ``observed.tsv``. The report
folder holds the merged replicate tables plus ``summary.tsv`` (per method and score: observed,
replicate mean, bias, interval of the resampling scheme), ``pairwise.tsv`` (differences, their
intervals, CI-inversion p-values, BH-adjusted p-values), ``per_label_summary.tsv`` and the figures ``scores.png``, ``pvalues_<score>.png``
and ``per_label_batch.png``. Floats are written in round-trip precision so a merge of chunks
gives byte-identical tables to a single run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.atomic import atomic_dir
from cellspace.bench.bootstrap import pairwise_tests, summarize, summarize_per_label
from cellspace.bench.metrics import SUMMARY_SCORES
from cellspace.errors import InputError

SCORES_FILE = "scores_replicates.tsv"
PER_LABEL_FILE = "per_label_replicates.tsv"
OBSERVED_FILE = "observed.tsv"
META_FILE = "meta.json"
# what a report folder holds (an existing --out with anything else is refused, not replaced)
REPORT_OUTPUTS = (SCORES_FILE, PER_LABEL_FILE, OBSERVED_FILE, META_FILE, "summary.tsv", "pairwise.tsv",
                  "per_label_summary.tsv", "*.png")


def fingerprint(embeddings: Mapping[str, np.ndarray], labels: np.ndarray,
                batches: np.ndarray | None) -> str:
    """SHA-256 over the embeddings, labels and batches (chunks must agree on it)."""
    h = hashlib.sha256()
    for k in embeddings:
        h.update(k.encode())
        h.update(np.ascontiguousarray(embeddings[k], dtype=np.float64).tobytes())
    h.update("\0".join(map(str, labels)).encode())
    if batches is not None:
        h.update("\0".join(map(str, batches)).encode())
    return h.hexdigest()


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, sep="\t", index=False, na_rep="NaN")


def read_tsv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", float_precision="round_trip",
                           keep_default_na=False, na_values=["NaN"])
    except (OSError, pd.errors.ParserError) as e:
        raise InputError(f"cannot read table: {e}", path) from None


def chunk_name(replicates: range) -> str:
    """The folder name of a chunk of replicates: ``chunk_<start>-<stop>`` (zero-padded, sorts)."""
    return f"chunk_{replicates.start:06d}-{replicates.stop:06d}"


def write_chunk(folder: Path, meta: dict, scores: pd.DataFrame, per_label: pd.DataFrame,
                observed: pd.DataFrame) -> Path:
    """Write one chunk folder atomically."""
    with atomic_dir(folder) as tmp:
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        _write_tsv(scores, tmp / SCORES_FILE)
        _write_tsv(per_label, tmp / PER_LABEL_FILE)
        _write_tsv(observed, tmp / OBSERVED_FILE)
    return folder


def read_chunks(folders: Sequence[Path]) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read and check chunk folders: same settings and data, replicates 0..B-1 exactly once."""
    if not folders:
        raise InputError("no chunk folders given")
    metas, scores, per, obs = [], [], [], []
    for f in folders:
        f = Path(f)
        mp = f / META_FILE
        if not mp.is_file():
            raise InputError("not a bootstrap chunk (meta.json missing)", f)
        metas.append(json.loads(mp.read_text()))
        scores.append(read_tsv(f / SCORES_FILE))
        per.append(read_tsv(f / PER_LABEL_FILE))
        obs.append(read_tsv(f / OBSERVED_FILE))
    ref = {k: v for k, v in metas[0].items() if k != "replicates"}
    for f, m in zip(folders, metas, strict=True):
        other = {k: v for k, v in m.items() if k != "replicates"}
        if other != ref:
            diff = sorted(k for k in set(ref) | set(other) if ref.get(k) != other.get(k))
            raise InputError(f"chunk differs from {folders[0]} in: {', '.join(diff)}", f)
    B = int(ref["settings"]["n_replicates"])
    seen = np.zeros(B, dtype=int)
    for m in metas:
        a, b = m["replicates"]
        seen[a:b] += 1
    if (seen > 1).any():
        raise InputError(f"replicate {int(np.flatnonzero(seen > 1)[0])} is in more than one chunk")
    if (seen == 0).any():
        missing = np.flatnonzero(seen == 0)
        raise InputError(f"{missing.size} replicate(s) missing (first: {int(missing[0])}) of {B}")
    for f, o in zip(folders, obs, strict=True):
        if not o.equals(obs[0]):
            raise InputError("observed scores differ between chunks", f)
    order = {m: i for i, m in enumerate(ref["methods"])}
    sc = pd.concat(scores, ignore_index=True)
    sc = sc.sort_values(["replicate", "method"], key=lambda s: s.map(order) if s.name == "method"
                        else s, kind="stable").reset_index(drop=True)
    pl = pd.concat(per, ignore_index=True)
    pl = pl.sort_values(["replicate", "method"], key=lambda s: s.map(order) if s.name == "method"
                        else s, kind="stable").reset_index(drop=True)
    meta = dict(ref)
    meta["replicates"] = [0, B]
    return meta, sc, pl, obs[0]


def write_report(folder: Path, meta: dict, scores: pd.DataFrame, per_label: pd.DataFrame,
                 observed: pd.DataFrame, alpha: float = 0.05, plots: bool = True) -> list[Path]:
    """Write the merged tables, statistics and figures: the folder ``folder`` as a unit."""
    folder = Path(folder)
    resampling = meta["settings"].get("resampling", "replacement")
    summary = summarize(scores, observed, alpha, resampling)
    pairwise = pairwise_tests(scores, observed, alpha=alpha, resampling=resampling)
    pls = summarize_per_label(per_label, alpha)
    tables = {SCORES_FILE: scores, PER_LABEL_FILE: per_label, OBSERVED_FILE: observed,
              "summary.tsv": summary, "pairwise.tsv": pairwise, "per_label_summary.tsv": pls}
    names: list[str] = []
    with atomic_dir(folder, outputs=REPORT_OUTPUTS) as tmp:
        for name, df in tables.items():
            _write_tsv(df, tmp / name)
            names.append(name)
        (tmp / META_FILE).write_text(json.dumps({**meta, "alpha": alpha}, indent=2, sort_keys=True))
        names.append(META_FILE)
        if plots:
            from cellspace.bench.plots import plot_per_label, plot_pvalue_matrix, plot_scores

            figs = {"scores.png": plot_scores(summary)}
            if scores["method"].nunique() >= 2:
                for s in SUMMARY_SCORES:
                    if pairwise.loc[pairwise["score"] == s, "p_adj"].notna().any():
                        figs[f"pvalues_{s}.png"] = plot_pvalue_matrix(pairwise, s)
            if len(pls) and pls["mean"].notna().any():
                figs["per_label_batch.png"] = plot_per_label(pls)
            for name, fig in figs.items():
                fig.savefig(tmp / name, dpi=110)
                names.append(name)
    return [folder / n for n in names]
