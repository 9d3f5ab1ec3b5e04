"""Harmony (harmonypy) correction of an embedding: the one wrapper used by ``cellspace integrate
--method harmony`` and by the benchmark's ``*_harmony`` methods."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def require_harmonypy(what: str) -> None:
    """One-line error naming the extra when harmonypy is not installed."""
    from cellspace.bench.methods.base import require_modules

    require_modules(what, ("harmonypy",), "bench")


def harmonize(Z: np.ndarray, batches: np.ndarray, seed: int = 0, **params: Any) -> np.ndarray:
    """Harmony-corrected embedding (cells x d) of ``Z`` for the given batch labels."""
    import harmonypy

    if np.unique(batches).size < 2:
        log.warning("Harmony: a single batch; embedding left unchanged")
        return Z
    meta = pd.DataFrame({"batch": np.asarray(batches).astype(str)})
    ho = harmonypy.run_harmony(np.asarray(Z, dtype=np.float64), meta, "batch",
                               random_state=seed, verbose=False, **params)
    out = np.asarray(ho.Z_corr)
    return np.ascontiguousarray(out if out.shape[0] == Z.shape[0] else out.T)
