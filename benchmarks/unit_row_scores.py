"""The harness's scores of embeddings as given and on unit rows (L2-normalised vectors).

The harness computes both silhouettes (cell-type and batch ASW) with Euclidean distances on the
vectors as given; CellSpace is trained and clustered in cosine geometry, and its raw rows have
norms that vary with the cell's number of updates. Scoring ``X / |X|`` as well shows how much
of a score is the norms (docs/benchmarks.md, "CellSpace with and without batch labels").

    python benchmarks/unit_row_scores.py --h5ad emb_comp.h5ad int3.h5ad \\
        --methods cellspace cellspace_batch lsi_harmony --label-key cell_type --batch-key donor
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cellspace.bench.metrics import score_embedding
from cellspace.steps.evaluation import EvaluationParams, read_evaluation

SHOWN = ("asw_label", "asw_batch", "bio_score", "batch_score", "overall_score")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h5ad", type=Path, nargs="+", required=True)
    ap.add_argument("--methods", nargs="+", required=True)
    ap.add_argument("--label-key", required=True)
    ap.add_argument("--batch-key", required=True)
    args = ap.parse_args()
    ev = read_evaluation(EvaluationParams(h5ad=args.h5ad, methods=args.methods, label_key=args.label_key,
                                          batch_key=args.batch_key))
    print("| method | vectors | " + " | ".join(SHOWN) + " |")
    print("|---|---|" + "---|" * len(SHOWN))
    for m, X in ev.embeddings.items():
        for name, Y in (("as given", X), ("unit rows", X / np.linalg.norm(X, axis=1, keepdims=True))):
            v = score_embedding(Y, ev.labels, ev.batches, metric=ev.metrics[m]).values
            print(f"| {m} | {name} | " + " | ".join(f"{v[k]:.3f}" for k in SHOWN) + " |", flush=True)


if __name__ == "__main__":
    main()
