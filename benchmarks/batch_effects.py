"""Batch effects: does CellSpace mix donors while keeping cell types, with and without labels?

Simulations with donor-specific events (two strengths), donor-specific type compositions
(one type absent from one donor), donor-specific depth, and two datasets with disjoint atlases
(``cellspace.bench.batch.BATCH_SCENARIOS``). CellSpace without labels and with
``--batch-key donor`` at 10, 20 and 50 epochs, against LSI, LSI + Harmony and iterative LSI +
Harmony; k-means ARI, the harness's scib metrics and kNN donor entropy, per seed. Writes the
per-seed rows (TSV) and prints the mean +- sd over seeds as Markdown.

    python benchmarks/batch_effects.py --seeds 1 2 3 --out docs/results/batch_effects.tsv
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import pandas as pd

from cellspace.bench.batch import BATCH_SCENARIOS, COEMBED_SCENARIOS, run_scenario
from cellspace.train import TrainParams

METRICS = ("ari", "asw_batch", "asw_unit", "entropy", "kbet", "graph_connectivity", "overall_score")


def summary(df: pd.DataFrame, metrics: tuple[str, ...]) -> str:
    """Mean +- sd over seeds per (scenario, method, epochs), as Markdown."""
    df = df.assign(epochs=df["epochs"].fillna(-1).astype(int))
    metrics = tuple(m for m in metrics if m in df.columns)
    g = df.groupby(["scenario", "method", "epochs"], sort=False)
    mean, sd = g[list(metrics)].mean(), g[list(metrics)].std().fillna(0.0)
    head = ["scenario", "method", "epochs", "seeds", *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for key in mean.index:
        s, m, e = key
        vals = [f"{mean.loc[key, c]:.3f} ± {sd.loc[key, c]:.3f}" for c in metrics]
        lines.append("| " + " | ".join([s, m, "" if e < 0 else str(e), str(int(g.size()[key])), *vals]) + " |")
    return "\n".join(lines)


def train_overrides(items: list[str]) -> dict[str, object]:
    """``FIELD=VALUE`` strings as TrainParams keyword arguments, each value of its field's type."""
    types = {f.name: type(f.default) for f in dataclasses.fields(TrainParams)}
    out: dict[str, object] = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in types or not value:
            raise SystemExit(f"--train: expected FIELD=VALUE with a TrainParams field, got {item!r}")
        out[name] = value.lower() in ("1", "true", "yes") if types[name] is bool else types[name](value)
    return out


def main(argv: list[str] | None = None, scenarios: dict | None = None, metrics: tuple[str, ...] = METRICS,
         doc: str | None = None) -> None:
    scenarios = scenarios or BATCH_SCENARIOS
    ap = argparse.ArgumentParser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--scenarios", nargs="+", default=list(scenarios), choices=list(scenarios))
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 20, 50])
    ap.add_argument("--cellspace", nargs="+", default=["cellspace", "cellspace_batch"])
    ap.add_argument("--baselines", nargs="*", default=["lsi", "lsi_harmony", "itlsi_harmony"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--alone", action="store_true", help="also train each dataset alone (within-dataset ARI)")
    ap.add_argument("--train", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="CellSpace training parameters (TrainParams fields), e.g. bridge_weight=0.25")
    ap.add_argument("--out", type=Path, default=None, help="TSV of the per-seed rows")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    train = train_overrides(args.train)
    parts = []
    for seed in args.seeds:
        for name in args.scenarios:
            parts.append(run_scenario(scenarios[name], seed, epochs=args.epochs, cellspace=args.cellspace,
                                      baselines=args.baselines, threads=args.threads, alone=args.alone,
                                      **train))
            df = pd.concat(parts, ignore_index=True)
            if args.out is not None:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                df.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    print(summary(pd.concat(parts, ignore_index=True), metrics))


if __name__ == "__main__":
    main()


__all__ = ["main", "summary", "COEMBED_SCENARIOS"]
