"""The report's sections, each built from the files one pipeline step wrote.

A section whose step did not run says so instead of disappearing, so that every report has the
same headings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.errors import InputError
from cellspace.report.page import Section, note, png_figure, svg_figure, table

LABEL_KEYS = ("cell_type", "celltype", "label")
BATCH_KEYS = ("batch", "donor", "dataset")


def _read_tsv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the table ({e})", path) from None


# ------------------------------------------------------------------------------------ inputs
def _nonzeros(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        x = f["X"]
        if isinstance(x, h5py.Group):  # sparse: data array
            return int(x["data"].shape[0])
        return int(np.count_nonzero(x[()]))


def dataset_summary(path: Path) -> dict[str, object]:
    """Cells, events, nonzeros and the number of donors/batches and cell types of an h5ad."""
    import anndata as ad

    try:
        a = ad.read_h5ad(path, backed="r")
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot read the AnnData file ({e})", path) from None
    try:
        n_cells, n_events = int(a.n_obs), int(a.n_vars)
        row: dict[str, object] = {
            "dataset": str(a.obs["dataset"].iloc[0]) if "dataset" in a.obs and n_cells else path.stem,
            "cells": n_cells, "events": n_events,
        }
        nnz = _nonzeros(path)
        row["nonzeros"] = nnz
        row["density"] = nnz / max(n_cells * n_events, 1)
        for key, column in (("donor", "donors"), ("batch", "batches"), ("cell_type", "cell types")):
            if key in a.obs:
                row[column] = int(a.obs[key].nunique())
    finally:
        if a.file is not None:
            a.file.close()
    return row


def inputs_section(prepared: Sequence[Path], cells: Path | None = None) -> Section:
    """Each prepared dataset: cells, events, nonzeros, donors/batches, cell types."""
    if not prepared:
        return Section("inputs", "Inputs", note("no prepared datasets were given"))
    rows = pd.DataFrame([dataset_summary(Path(p)) for p in prepared]).sort_values("dataset")
    total = {"dataset": "all", "cells": int(rows["cells"].sum()), "events": int(rows["events"].sum()),
             "nonzeros": int(rows["nonzeros"].sum())}
    total["density"] = float("nan")
    rows = pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
    for col in rows.columns:
        if col not in ("dataset", "density"):
            rows[col] = rows[col].map(lambda v: "" if pd.isna(v) else int(v)).astype(object)
    body = table(rows, digits=4)
    if cells is not None:
        body += f"<p>Trained cells: {_trained_cells(cells):,} (all datasets in one embedding).</p>"
    return Section("inputs", "Inputs", body)


def _trained_cells(cells: Path) -> int:
    import anndata as ad

    a = ad.read_h5ad(cells, backed="r")
    try:
        return int(a.n_obs)
    finally:
        if a.file is not None:
            a.file.close()


# ---------------------------------------------------------------------------------- training
def training_params(cells: Path) -> dict[str, object]:
    """The training parameters stored in ``uns["cellspace"]["params"]`` of a trained cells.h5ad."""
    import h5py

    with h5py.File(cells, "r") as f:
        node = f.get("uns/cellspace/params")
        if node is None:
            return {}
        raw = node[()]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    params = json.loads(text)
    params.pop("losses", None)
    return params


def training_figure(log: pd.DataFrame):
    """Loss and examples/s per epoch, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(log["epoch"], log["loss"], marker="o", ms=3, color="#243b53")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("mean loss")
    ax1.set_title("training loss")
    ax2.plot(log["epoch"], log["examples_per_s"], marker="o", ms=3, color="#d64545")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("examples / s")
    ax2.set_title("throughput")
    ax2.set_ylim(bottom=0)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def training_section(train_dir: Path | None) -> Section:
    """The per-epoch training curve (training_log.tsv) and the training parameters."""
    from cellspace.train import TRAINING_LOG

    if train_dir is None:
        return Section("training", "Training", note("no training folder was given"))
    parts = []
    log_path = Path(train_dir) / TRAINING_LOG
    if log_path.is_file():
        log = _read_tsv(log_path)
        missing = {"epoch", "loss", "examples_per_s"} - set(log.columns)
        if missing:
            raise InputError(f"lacks the column(s) {', '.join(sorted(missing))}", log_path)
        parts.append(svg_figure(training_figure(log), f"{len(log)} epochs"))
        last = log.iloc[-1]
        parts.append(f"<p>Final mean loss {last['loss']:.4f}; median throughput "
                     f"{np.nanmedian(log['examples_per_s']):,.0f} examples/s.</p>")
    else:
        parts.append(note(f"no {TRAINING_LOG} in {train_dir}"))
    cells = Path(train_dir) / "cells.h5ad"
    if cells.is_file():
        params = training_params(cells)
        if params:
            df = pd.DataFrame({"parameter": list(params), "value": [str(v) for v in params.values()]})
            parts.append("<h3>Parameters</h3>" + table(df))
    return Section("training", "Training", "".join(parts))


# ------------------------------------------------------------------------------------- UMAPs
def _umap_order(key: str) -> tuple[int, str]:
    if key in ("leiden", "louvain"):
        return (0, key)
    if key in LABEL_KEYS:
        return (1, key)
    if key in BATCH_KEYS:
        return (2, key)
    return (3, key)


def umap_section(analyze_dir: Path | None) -> Section:
    """UMAPs of the cells coloured by cluster, cell type and batch, and the joint cells + motifs UMAP."""
    if analyze_dir is None:
        return Section("umap", "UMAP", note("the analysis step did not run"))
    pngs = {p.stem[len("umap_"):]: p for p in Path(analyze_dir).glob("umap_*.png")}
    parts = []
    for key in sorted(pngs, key=_umap_order):
        what = "cluster" if key in ("leiden", "louvain") else key
        parts.append(png_figure(pngs[key], f"cells by {what} ({key})"))
    joint = Path(analyze_dir) / "joint_umap.png"
    if joint.is_file():
        parts.append("<h3>Cells and motifs in one UMAP</h3>")
        parts.append(png_figure(joint, "joint UMAP of cells and the top motifs"))
    if not parts:
        parts.append(note("no UMAP images (the analysis ran without UMAP)"))
    return Section("umap", "UMAP", "".join(parts))


# ------------------------------------------------------------------------------------ motifs
def motifs_section(motifs_dir: Path | None, n_rows: int = 15) -> Section:
    """Heatmap of the top motifs per group and their table."""
    if motifs_dir is None:
        return Section("motifs", "TF motifs", note("the motif step did not run"))
    parts = []
    for png in sorted(Path(motifs_dir).glob("top_motifs_by_*.png")):
        key = png.stem[len("top_motifs_by_"):]
        parts.append(png_figure(png, f"motif activity z-scores by {key}", wide=True))
        tsv = png.with_suffix(".tsv")
        if tsv.is_file():
            parts.append(f"<h3>Top motifs by {key}</h3>" + table(_read_tsv(tsv).head(n_rows)))
    if not parts:
        parts.append(note(f"no motif heatmap in {motifs_dir}"))
    return Section("motifs", "TF motifs", "".join(parts))


def denovo_section(denovo_dir: Path | None, n_rows: int = 15) -> Section:
    """De novo motif logos and their best database matches."""
    if denovo_dir is None:
        return Section("denovo", "De novo motifs", note("the de novo step did not run"))
    d = Path(denovo_dir)
    parts = []
    if (d / "denovo_logos.png").is_file():
        parts.append(png_figure(d / "denovo_logos.png", "de novo motifs", wide=True))
    for name, title in (("denovo_matches.tsv", "Best database matches"),
                        ("denovo_motifs.tsv", "De novo motifs")):
        if (d / name).is_file():
            parts.append(f"<h3>{title}</h3>" + table(_read_tsv(d / name).head(n_rows)))
            break
    if not parts:
        parts.append(note(f"no de novo motifs in {denovo_dir}"))
    return Section("denovo", "De novo motifs", "".join(parts))


# --------------------------------------------------------------------------------- benchmark
def benchmark_table(summary: pd.DataFrame) -> pd.DataFrame:
    """methods x scores, each cell "observed [95% CI low, high]"."""
    need = {"method", "score", "observed", "ci_low", "ci_high"}
    if need - set(summary.columns):
        raise InputError(f"benchmark summary lacks {', '.join(sorted(need - set(summary.columns)))}")

    def fmt(r) -> str:
        if pd.isna(r["observed"]):
            return ""
        ci = "" if pd.isna(r["ci_low"]) else f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        return f"{r['observed']:.3f}{ci}"

    s = summary.assign(text=summary.apply(fmt, axis=1))
    wide = s.pivot(index="method", columns="score", values="text")
    order = [c for c in dict.fromkeys(summary["score"]) if c in wide.columns]
    return wide[order].reset_index()


def benchmark_section(bench_dirs: Sequence[Path]) -> Section:
    """Per dataset: every method's scores with bootstrap 95% CIs, and the scores figure."""
    if not bench_dirs:
        return Section("benchmark", "Benchmark", note("the benchmark did not run (--benchmark)"))
    parts = ['<p>Observed score and 95% bootstrap percentile interval; every method is '
             "scored on the same resamples of the same cells.</p>"]
    for d in sorted(Path(p) for p in bench_dirs):
        parts.append(f"<h3>{d.name}</h3>")
        summary = d / "summary.tsv"
        if summary.is_file():
            try:
                parts.append(table(benchmark_table(_read_tsv(summary))))
            except InputError as e:
                raise InputError(str(e), summary) from None
        else:
            parts.append(note(f"no summary.tsv in {d}"))
        if (d / "scores.png").is_file():
            parts.append(png_figure(d / "scores.png", f"{d.name}: scores", wide=True))
    return Section("benchmark", "Benchmark", "".join(parts))


# ---------------------------------------------------------------------------------- versions
def read_versions(path: Path) -> pd.DataFrame:
    """software_versions.yml ('"PROCESS":' then indented 'tool: "version"') as a table."""
    rows = []
    process = None
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            process = line.strip().rstrip(":").strip('"')
        elif process is not None and ":" in line:
            tool, _, version = line.strip().partition(":")
            rows.append({"process": process, "tool": tool.strip(),
                         "version": version.strip().strip('"')})
    return pd.DataFrame(rows, columns=["process", "tool", "version"])


def versions_section(versions: Path | None) -> Section:
    """Software versions: one row per tool and version, with the processes that used it."""
    if versions is None:
        return Section("versions", "Software versions", note("no versions file was given"))
    df = read_versions(Path(versions))
    if df.empty:
        return Section("versions", "Software versions", note(f"{versions} lists no versions"))
    grouped = (df.groupby(["tool", "version"], sort=True)["process"]
               .agg(lambda s: ", ".join(sorted(set(s)))).reset_index())
    return Section("versions", "Software versions", table(grouped))
