"""Co-embedding: do cells of the same type meet across datasets with different atlases?

Two datasets of one simulation with their own donors and their own event atlases: the same
regions under shifted boundaries, half of the regions shared, none shared, and none shared
with different depth and type proportions (``cellspace.bench.batch.COEMBED_SCENARIOS``).
CellSpace at 10, 20 and 50 epochs (each dataset also trained alone, for the within-dataset
ARI ratio) against LSI, LSI + Harmony and iterative LSI + Harmony on the union of the atlases.
Metrics: cross-dataset kNN type accuracy, kNN dataset entropy within types, ARI on the
union and within each dataset.

    python benchmarks/coembedding.py --seeds 1 2 3 --alone --out docs/results/coembedding.tsv
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_effects import main  # noqa: E402

from cellspace.bench.batch import COEMBED_SCENARIOS  # noqa: E402

METRICS = ("cross_acc", "entropy", "ari", "ari_sim1", "ari_sim2", "ari_alone_sim1", "ari_alone_sim2", "asw_batch")

if __name__ == "__main__":
    main(scenarios=COEMBED_SCENARIOS, metrics=METRICS, doc=__doc__)
