"""A trained CellSpace model: k-mer, n-gram bucket and cell rows of one latent space.

Saved as ``model.npz`` (format version 1) with the rows, the training parameters and a run id
that ``cells.h5ad`` carries too, so downstream steps can check that the two belong together.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.atomic import atomic_path
from cellspace.errors import InputError
from cellspace.kmers import kmer_names, kmer_rows_of, n_kmer_rows

FORMAT_VERSION = 1


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


@dataclass
class CellSpaceModel:
    """Embedding rows of a trained model plus its parameters."""

    kmer_vectors: np.ndarray  # (n_kmer_rows(k), dim) float32, rows in the reference order
    cell_vectors: np.ndarray  # (n_cells, dim) float32, global cell order
    bucket_vectors: np.ndarray  # (bucket, dim) float32; empty when ngrams == 1
    params: dict
    cell_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    dataset_names: list[str] = field(default_factory=list)
    run_id: str = ""
    # the batch of every cell that the batch pilot inferred without labels; empty when none was
    inferred_batches: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))

    @property
    def k(self) -> int:
        return int(self.params["k"])

    @property
    def dim(self) -> int:
        return int(self.kmer_vectors.shape[1])

    @property
    def n_cells(self) -> int:
        return int(self.cell_vectors.shape[0])

    # ------------------------------------------------------------------ embedding
    def kmer_embedding(self) -> pd.DataFrame:
        """k-mer rows as a DataFrame indexed by the canonical k-mer names."""
        return pd.DataFrame(self.kmer_vectors, index=pd.Index(kmer_names(self.k), name="kmer"))

    def embed_sequences(self, seqs: Iterable[str], normalize: bool = True) -> np.ndarray:
        """Embed DNA sequences as the sum of their canonical k-mer rows, L2-normalised.

        Windows with N are skipped; a sequence with no valid k-mer gets a zero vector.
        """
        out = []
        for s in seqs:
            rows = kmer_rows_of(s, self.k)
            out.append(self.kmer_vectors[rows].sum(axis=0) if len(rows) else np.zeros(self.dim, np.float32))
        mat = np.asarray(out, dtype=np.float32).reshape(-1, self.dim)
        return l2_normalize(mat) if normalize else mat

    def embed_kmers(self, kmers: Sequence[str]) -> np.ndarray:
        """Rows of the given k-mers (any strand); shape (len(kmers), dim)."""
        from cellspace.kmers import encode, kmer_row_table

        table = kmer_row_table(self.k)
        idx = [int(table[encode(km)]) for km in kmers]
        return self.kmer_vectors[idx]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write ``model.npz`` atomically."""
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    format_version=np.int64(FORMAT_VERSION),
                    kmer_vectors=self.kmer_vectors.astype(np.float32, copy=False),
                    cell_vectors=self.cell_vectors.astype(np.float32, copy=False),
                    bucket_vectors=self.bucket_vectors.astype(np.float32, copy=False),
                    params_json=np.array(json.dumps(self.params, sort_keys=True)),
                    cell_ids=np.asarray(self.cell_ids, dtype=str),
                    dataset_names=np.asarray(self.dataset_names, dtype=str),
                    run_id=np.array(self.run_id),
                    inferred_batches=np.asarray(self.inferred_batches, dtype=np.int32),
                )

    @classmethod
    def load(cls, path: str | Path, *, with_buckets: bool = True) -> CellSpaceModel:
        """Read a ``model.npz`` written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                version = int(z["format_version"])
                if version > FORMAT_VERSION:
                    raise InputError(
                        f"model format version {version} is newer than this cellspace ({FORMAT_VERSION})",
                        path,
                    )
                params = json.loads(str(z["params_json"]))
                kmer_vectors = z["kmer_vectors"]
                model = cls(
                    kmer_vectors=kmer_vectors,
                    cell_vectors=z["cell_vectors"],
                    bucket_vectors=(
                        z["bucket_vectors"] if with_buckets else np.empty((0, kmer_vectors.shape[1]), np.float32)
                    ),
                    params=params,
                    cell_ids=z["cell_ids"].astype(object),
                    dataset_names=[str(x) for x in z["dataset_names"]],
                    run_id=str(z["run_id"]),
                    inferred_batches=(z["inferred_batches"].astype(np.int32) if "inferred_batches" in z.files
                                      else np.empty(0, np.int32)),
                )
        except (OSError, zipfile.BadZipFile, ValueError) as e:
            raise InputError(f"not a CellSpace model file ({e})", path) from None
        except KeyError as e:
            raise InputError(f"not a CellSpace model file (missing {e})", path) from None
        for what, vectors in (("k-mer", model.kmer_vectors), ("cell", model.cell_vectors)):
            bad = int((~np.isfinite(vectors)).any(axis=1).sum())
            if bad:
                raise InputError(f"{bad} {what} vector(s) hold NaN or infinite values", path)
        if model.kmer_vectors.shape[0] != n_kmer_rows(model.k):
            raise InputError(
                f"model has {model.kmer_vectors.shape[0]} k-mer rows, expected {n_kmer_rows(model.k)} for k = {model.k}",
                path,
            )
        return model
