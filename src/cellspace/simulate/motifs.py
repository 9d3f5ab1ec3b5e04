"""Transcription factor motifs from JASPAR (offline, via pyjaspar): load, score, sample, scan.

The default pool is a set of well-known, distinctive vertebrate TFs pinned to JASPAR 2024
matrix ids, so simulations do not change when pyjaspar adds releases. Near-identical motifs
are removed (a TF whose PWM aligns to an earlier one with mean column correlation above
``max_similarity`` is dropped) so that every TF program has its own sequence signal.

Scanning uses log-odds scores on both strands. Scores of a window are sums of per-block
lookups in tables indexed by 6-mer codes, so a motif of width w costs ceil(w / 6) vectorised
gathers per strand instead of w.
"""

from __future__ import annotations

import logging
import warnings
from functools import lru_cache

import numpy as np

from cellspace.analysis.motif_db import Motif, jaspar_db
from cellspace.errors import ParameterError

log = logging.getLogger(__name__)

JASPAR_RELEASE = "JASPAR2024"

# Well-known TFs with distinctive motifs: name -> JASPAR 2024 CORE vertebrate matrix id.
DEFAULT_TF_POOL: dict[str, str] = {
    "GATA1": "MA0035.5",
    "CEBPB": "MA0466.4",
    "SPI1": "MA0080.7",
    "PAX5": "MA0014.4",
    "IRF1": "MA0050.4",
    "HNF4A": "MA0114.5",
    "FOXA2": "MA0047.4",
    "SOX2": "MA0143.5",
    "POU5F1": "MA1115.2",
    "CTCF": "MA0139.2",
    "REST": "MA0138.3",
    "MEF2C": "MA0497.2",
    "NEUROD1": "MA1109.2",
    "TP53": "MA0106.3",
    "NFE2": "MA0841.2",
    "RUNX1": "MA0002.3",
    "ETS1": "MA0098.4",
    "EBF1": "MA0154.5",
    "KLF4": "MA0039.5",
    "HOXA9": "MA0594.3",
}

_BLOCK = 6  # bases per lookup block when scanning
_NEG = np.float32(-1e4)


def site_probabilities(motif: Motif) -> np.ndarray:
    """Column probabilities (4 x width) used to sample sites: a pseudocount of sqrt(sites) is
    spread evenly over the four bases (more than :meth:`Motif.probabilities`, so planted
    sites vary as real binding sites do)."""
    counts = motif.counts.T
    n = counts.sum(axis=0, keepdims=True)
    c = counts + np.sqrt(n) / 4.0
    return c / c.sum(axis=0, keepdims=True)


def site_log_odds(motif: Motif, background: np.ndarray | None = None) -> np.ndarray:
    """log2(p / background) of :func:`site_probabilities`, shape (4, width)."""
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    return np.log2(site_probabilities(motif) / bg[:, None])


def _jaspar():
    return jaspar_db(JASPAR_RELEASE)


def _to_motif(m, name: str | None = None) -> Motif:
    counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64).T
    return Motif(id=str(m.matrix_id), name=(name or str(m.name)).upper(), counts=counts)


@lru_cache(maxsize=64)
def load_motif(name: str) -> Motif:
    """One TF's motif: the pinned id for pool TFs, else the CORE vertebrate matrix by name.

    Among several vertebrate matrices for a name, the first (lowest id) is used. Raises
    ParameterError for a name JASPAR does not know as a vertebrate CORE TF.
    """
    key = name.upper()
    jdb = _jaspar()
    if key in DEFAULT_TF_POOL:
        m = jdb.fetch_motif_by_id(DEFAULT_TF_POOL[key])
        return _to_motif(m, key)
    with warnings.catch_warnings():  # pyjaspar warns when a name matches nothing
        warnings.simplefilter("ignore")
        found = jdb.fetch_motifs_by_name(name)
    hits = [
        m
        for m in found
        if str(getattr(m, "tax_group", "")).lower() == "vertebrates" and m.collection == "CORE"
    ]
    if not hits:
        raise ParameterError(
            f"TF {name!r} has no CORE vertebrate motif in {JASPAR_RELEASE} (check the name)"
        )
    hits.sort(key=lambda m: m.matrix_id)
    return _to_motif(hits[0], key)


def motif_similarity(a: Motif, b: Motif, min_overlap: int = 6) -> float:
    """Best mean column Pearson correlation of two PWMs over gapless alignments, both strands."""
    x = site_probabilities(a) - 0.25
    x = x / np.maximum(np.linalg.norm(x, axis=0, keepdims=True), 1e-12)
    best = -1.0
    pb = site_probabilities(b)
    for yb in (pb, pb[::-1, ::-1]):
        y = yb - 0.25
        y = y / np.maximum(np.linalg.norm(y, axis=0, keepdims=True), 1e-12)
        corr = x.T @ y  # (wa, wb) column correlations
        wa, wb = corr.shape
        need = min(min_overlap, wa, wb)
        for off in range(-(wa - need), wb - need + 1):
            dg = np.diagonal(corr, offset=off)
            if len(dg) >= need:
                best = max(best, float(dg.mean()))
    return best


@lru_cache(maxsize=16)
def load_pool(names: tuple[str, ...] | None = None, max_similarity: float = 0.85) -> tuple[Motif, ...]:
    """The TF pool (default: :data:`DEFAULT_TF_POOL`) without near-duplicate motifs.

    Cached per process; loading the default pool reads ~20 matrices from pyjaspar's bundled
    SQLite file (no network).
    """
    names = tuple(DEFAULT_TF_POOL) if names is None else tuple(n.upper() for n in names)
    if len(set(names)) != len(names):
        raise ParameterError(f"duplicate TF names in {list(names)}")
    kept: list[Motif] = []
    for n in names:
        m = load_motif(n)
        dup = next((k for k in kept if motif_similarity(m, k) > max_similarity), None)
        if dup is not None:
            log.debug("TF %s dropped: motif too similar to %s", n, dup.name)
            continue
        kept.append(m)
    return tuple(kept)


def sample_instances(
    motif: Motif,
    n: int,
    rng: np.random.Generator,
    log_odds: np.ndarray | None = None,
    min_score: float = -np.inf,
    rounds: int = 20,
) -> np.ndarray:
    """``n`` + strand sites (codes 0..3, shape (n, width)) sampled from the motif's columns.

    With ``log_odds``, draws scoring below ``min_score`` are rejected and redrawn (up to
    ``rounds`` batches; any still missing become the consensus), so planted sites are matches.
    """
    cum = np.cumsum(site_probabilities(motif), axis=0)
    w = motif.width
    out = np.empty((n, w), dtype=np.uint8)
    got = 0
    for _ in range(rounds if log_odds is not None else 1):
        need = n - got
        if need <= 0:
            break
        batch = max(2 * need, 16) if log_odds is not None else need
        u = rng.random((batch, w))
        draws = (u[:, None, :] > cum[None, :, :]).sum(axis=1).clip(0, 3).astype(np.uint8)
        if log_odds is not None:
            scores = log_odds[draws, np.arange(w)[None, :]].sum(axis=1)
            draws = draws[scores >= min_score]
        take = draws[:need]
        out[got : got + len(take)] = take
        got += len(take)
    if got < n:
        out[got:] = np.argmax(motif.counts.T if log_odds is None else log_odds, axis=0).astype(np.uint8)
    return out


def revcomp(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of base codes (N = 4 stays N)."""
    out = np.where(codes < 4, 3 - codes.astype(np.int16), 4).astype(np.uint8)
    return out[::-1]


class Scanner:
    """Scores every window of equal-length sequences (rows of a code matrix) on both strands."""

    def __init__(self, codes: np.ndarray) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2:
            raise ValueError("codes must be a 2-D (sequences x positions) array")
        self.n, self.length = codes.shape
        is_n = codes > 3
        c = np.where(is_n, 0, codes).astype(np.int32)
        pad = np.zeros((self.n, _BLOCK - 1), dtype=np.int32)
        cp = np.concatenate([c, pad], axis=1)
        block = np.zeros((self.n, self.length), dtype=np.int32)
        for j in range(_BLOCK):
            block = (block << 2) | cp[:, j : j + self.length]
        self._block = block  # 6-mer code starting at each position (right-padded with A)
        cum = np.zeros((self.n, self.length + 1), dtype=np.int32)
        np.cumsum(is_n, axis=1, out=cum[:, 1:])
        self._cum_n = cum

    @staticmethod
    def _block_tables(lo: np.ndarray) -> list[np.ndarray]:
        """Per-block 4^6 score tables of a (4 x w) log-odds matrix (zero beyond w)."""
        w = lo.shape[1]
        codes = np.arange(4**_BLOCK)
        digits = np.stack([(codes >> (2 * (_BLOCK - 1 - i))) & 3 for i in range(_BLOCK)])
        tables = []
        for b0 in range(0, w, _BLOCK):
            t = np.zeros(4**_BLOCK, dtype=np.float64)
            for i in range(min(_BLOCK, w - b0)):
                t += lo[digits[i], b0 + i]
            tables.append(t.astype(np.float32))
        return tables

    def scores(self, log_odds: np.ndarray) -> np.ndarray:
        """Best-strand log-odds score of every window: (n, length - w + 1) float32.

        Windows containing N score far below any threshold.
        """
        w = log_odds.shape[1]
        n_win = self.length - w + 1
        if n_win <= 0:
            return np.full((self.n, 0), _NEG, dtype=np.float32)
        best = None
        rc = log_odds[::-1, ::-1]
        for lo in (log_odds, rc):
            s = np.zeros((self.n, n_win), dtype=np.float32)
            for b, t in enumerate(self._block_tables(lo)):
                s += t[self._block[:, b * _BLOCK : b * _BLOCK + n_win]]
            best = s if best is None else np.maximum(best, s)
        has_n = (self._cum_n[:, w:] - self._cum_n[:, :n_win]) > 0
        best[has_n] = _NEG
        return best


def score_range(log_odds: np.ndarray) -> tuple[float, float]:
    """(minimum, maximum) attainable log-odds score of a (4 x w) matrix."""
    return float(log_odds.min(axis=0).sum()), float(log_odds.max(axis=0).sum())


def site_score(log_odds: np.ndarray, codes: np.ndarray) -> float:
    """Log-odds score of one + strand site (codes 0..3)."""
    return float(log_odds[codes, np.arange(len(codes))].sum())
