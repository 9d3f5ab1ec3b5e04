"""PeakVI (scvi-tools) embeddings, without and with the batch as a covariate.

Needs the ``[torch]`` extra (torch + scvi-tools); runs on the CPU. Defaults follow the paper
(scvi-tools defaults: two encoder and two decoder layers, dropout 0.1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from cellspace.bench.methods.base import Method, batch_labels, counts_matrix


def _peakvi(adata: AnnData, batch: np.ndarray | None, seed: int, max_epochs: int | None,
            n_latent: int | None, **params: Any) -> np.ndarray:
    import scvi

    scvi.settings.seed = seed
    a = AnnData(X=counts_matrix(adata, binary=True))
    a.obs_names = adata.obs_names.astype(str)
    if batch is not None:
        a.obs["batch"] = batch
    scvi.model.PEAKVI.setup_anndata(a, batch_key="batch" if batch is not None else None)
    kw = {} if n_latent is None else {"n_latent": n_latent}
    model = scvi.model.PEAKVI(a, **kw)
    model.train(max_epochs=max_epochs, accelerator="cpu", **params)
    return np.asarray(model.get_latent_representation(), dtype=np.float64)


class PeakVI(Method):
    name = "peakvi"
    description = "PeakVI (scvi-tools) latent space"
    requires = ("torch", "scvi")
    extra = "torch"

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              max_epochs: int | None = None, n_latent: int | None = None,
              **params: Any) -> np.ndarray:
        self.check_available()
        return _peakvi(adata, None, seed, max_epochs, n_latent, **params)


class PeakVIBatch(Method):
    name = "peakvi_batch"
    description = "PeakVI with the batch column as covariate"
    requires = ("torch", "scvi")
    extra = "torch"
    uses_batch = True

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              max_epochs: int | None = None, n_latent: int | None = None,
              **params: Any) -> np.ndarray:
        self.check_available()
        b = batch_labels(adata, batch_key, self.name)
        return _peakvi(adata, b, seed, max_epochs, n_latent, **params)


METHODS = [PeakVI(), PeakVIBatch()]
