"""scBasset (Yuan & Kelley 2022) in PyTorch on the CPU, with and without batch correction.

The published architecture: one-hot sequence (``seq_len`` = 1344 bp, event centred, padded
with N) -> stochastic reverse complement and shift (+-3 bp) -> GELU/conv(288, 17)/BN/maxpool 3
-> conv tower of 6 blocks (GELU/conv(k=5)/BN/maxpool 2, filters x1.122 per block from 288)
-> GELU/conv(256, 1)/BN -> flatten -> GELU/dense(32 bottleneck)/BN/dropout 0.2 -> GELU ->
dense to every cell (per-cell weights and intercept) -> sigmoid; binary cross-entropy,
Adam(lr 0.01, betas 0.95/0.9995). scBasset-BC adds a dense layer from the bottleneck to the
batches whose output reaches each cell through its batch's one-hot before the sigmoid. The
cell embedding is the per-cell weight matrix of the final layer (cells x 32).

Needs the ``[torch]`` extra. Defaults are the published ones (1000 epochs); use small
``epochs``/``seq_len``/``width`` for quick runs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from anndata import AnnData

from cellspace.bench.methods.base import (
    Method,
    batch_labels,
    counts_matrix,
    event_sequences,
)

log = logging.getLogger(__name__)

_LUT = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    _LUT[_b] = _i
    _LUT[ord(chr(_b).lower())] = _i


def one_hot(seqs: list[str], seq_len: int) -> np.ndarray:
    """(n, 4, seq_len) float32 one-hot, each sequence centred (cropped or N-padded)."""
    out = np.zeros((len(seqs), 4, seq_len), dtype=np.float32)
    for i, s in enumerate(seqs):
        codes = _LUT[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)]
        if codes.size > seq_len:
            a = (codes.size - seq_len) // 2
            codes = codes[a:a + seq_len]
        off = (seq_len - codes.size) // 2
        pos = np.flatnonzero(codes < 4)
        out[i, codes[pos], off + pos] = 1.0
    return out


def build_model(n_cells: int, n_batches: int = 0, seq_len: int = 1344, bottleneck: int = 32,
                width: float = 1.0, n_tower: int = 6):
    """The scBasset network as a ``torch.nn.Module`` (forward(x, batch_onehot=None))."""
    import torch
    from torch import nn

    def conv_block(cin: int, cout: int, k: int, pool: int) -> nn.Sequential:
        layers: list[nn.Module] = [nn.GELU(approximate="tanh"),
                                   nn.Conv1d(cin, cout, k, padding=k // 2, bias=False),
                                   nn.BatchNorm1d(cout, momentum=0.1)]
        if pool > 1:
            layers.append(nn.MaxPool1d(pool, ceil_mode=True))
        return nn.Sequential(*layers)

    class ScBasset(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            f0 = max(4, round(288 * width))
            blocks = [conv_block(4, f0, 17, 3)]
            length = -(-seq_len // 3)
            f = float(f0)
            cin = f0
            for _ in range(n_tower):
                f *= 1.122
                cout = int(round(f))
                blocks.append(conv_block(cin, cout, 5, 2))
                cin = cout
                length = -(-length // 2)
            c1 = max(4, round(256 * width))
            blocks.append(conv_block(cin, c1, 1, 1))
            self.tower = nn.Sequential(*blocks)
            self.bottleneck = nn.Sequential(
                nn.GELU(approximate="tanh"), nn.Flatten(),
                nn.Linear(c1 * length, bottleneck, bias=False),
                nn.BatchNorm1d(bottleneck, momentum=0.1), nn.Dropout(0.2),
                nn.GELU(approximate="tanh"),
            )
            self.final = nn.Linear(bottleneck, n_cells)
            self.batch = nn.Linear(bottleneck, n_batches) if n_batches > 0 else None

        def forward(self, x: torch.Tensor, batch_onehot: torch.Tensor | None = None) -> torch.Tensor:
            h = self.bottleneck(self.tower(x))
            out = self.final(h)
            if self.batch is not None and batch_onehot is not None:
                out = out + self.batch(h) @ batch_onehot.T
            return out  # logits (sigmoid in the loss)

    return ScBasset()


def _augment(x, shift: int, gen):
    import torch

    if gen is not None and torch.rand(1, generator=gen).item() < 0.5:
        x = torch.flip(x, dims=(1, 2))  # reverse complement: ACGT -> TGCA and reverse
    if shift > 0:
        s = int(torch.randint(-shift, shift + 1, (1,), generator=gen).item())
        if s != 0:
            x = torch.roll(x, s, dims=2)
            if s > 0:
                x[:, :, :s] = 0
            else:
                x[:, :, s:] = 0
    return x


def train_scbasset(adata: AnnData, batch: np.ndarray | None, seed: int = 0, *,
                   epochs: int = 1000, batch_size: int = 128, lr: float = 0.01,
                   seq_len: int = 1344, bottleneck: int = 32, width: float = 1.0,
                   n_tower: int = 6, threads: int | None = None) -> np.ndarray:
    """Train scBasset(-BC) on events x cells accessibility; return the cells x bottleneck
    embedding."""
    import torch

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(int(threads))
    gen = torch.Generator().manual_seed(seed)
    X = counts_matrix(adata, binary=True).T.tocsr()  # events x cells
    seqs = torch.from_numpy(one_hot(event_sequences(adata, "scbasset"), seq_len))
    n_ev, n_cells = X.shape
    bo = None
    n_b = 0
    if batch is not None:
        _, codes = np.unique(batch, return_inverse=True)
        n_b = int(codes.max()) + 1
        bo = torch.nn.functional.one_hot(torch.from_numpy(codes), n_b).float()
    model = build_model(n_cells, n_b, seq_len, bottleneck, width, n_tower)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.95, 0.9995))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for ep in range(epochs):
        perm = torch.randperm(n_ev, generator=gen).numpy()
        tot = 0.0
        for a in range(0, n_ev, batch_size):
            idx = perm[a:a + batch_size]
            if idx.size < 2:
                continue  # batch norm needs two examples
            xb = _augment(seqs[idx].clone(), 3, gen)
            yb = torch.from_numpy(X[idx].toarray().astype(np.float32))
            opt.zero_grad()
            loss = loss_fn(model(xb, bo), yb)
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * idx.size
        log.debug("scBasset epoch %d loss %.4f", ep + 1, tot / max(n_ev, 1))
    return model.final.weight.detach().numpy().astype(np.float64)  # (n_cells, bottleneck)


class ScBasset(Method):
    name = "scbasset"
    description = "scBasset sequence CNN (32-d bottleneck, per-cell weights as embedding)"
    needs_sequence = True
    requires = ("torch",)
    extra = "torch"

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        self.check_available()
        return train_scbasset(adata, None, seed, **params)


class ScBassetBatch(Method):
    name = "scbasset_batch"
    description = "scBasset-BC: batch-specific contribution before the final sigmoid"
    needs_sequence = True
    uses_batch = True
    requires = ("torch",)
    extra = "torch"

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        self.check_available()
        return train_scbasset(adata, batch_labels(adata, batch_key, self.name), seed, **params)


METHODS = [ScBasset(), ScBassetBatch()]
