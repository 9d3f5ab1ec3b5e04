"""Tables written by steps: tab-separated, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cellspace.atomic import atomic_path


def write_tsv(df: pd.DataFrame, path: str | Path, index: bool = True, index_label: str | None = None,
              float_format: str | None = None, na_rep: str = "") -> None:
    """A tab-separated table written atomically (missing values as ``na_rep``)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index, index_label=index_label, float_format=float_format,
                  na_rep=na_rep)
