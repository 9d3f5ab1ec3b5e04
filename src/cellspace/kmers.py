"""Canonical k-mers: encoding, row indexing and names compatible with the reference tool.

Bases are coded A=0, C=1, G=2, T=3 so that the complement of ``b`` is ``3 - b``. A k-mer and
its reverse complement share one embedding row. Rows are numbered exactly as the reference
tool numbers them: k-mers are enumerated in lexicographic order of the alphabet A<C<T<G and
the first member of each reverse-complement pair gets the next row. Row names are that first
member, so exported tables interoperate with the reference tool and its R package.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cellspace.errors import ParameterError

K_MIN, K_MAX = 2, 15
K_TRAIN_MAX = 13  # above it the code -> row index alone is >= 1 GiB
BASES = "ACGT"
# Position of each base (in A,C,G,T coding) in the reference tool's enumeration order A<C<T<G.
_ORDER_RANK = np.array([0, 1, 3, 2], dtype=np.int64)
# Byte -> code: ACGT (either case) -> 0..3, N/n -> 4, anything else -> 255.
BYTE_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    BYTE_CODE[ord(_b)] = _i
    BYTE_CODE[ord(_b.lower())] = _i
BYTE_CODE[ord("N")] = BYTE_CODE[ord("n")] = 4
N_CODE = 4


def check_k(k: int) -> int:
    """Return ``k`` if it is a supported k-mer length, else raise ParameterError."""
    if not isinstance(k, int | np.integer) or not K_MIN <= int(k) <= K_MAX:
        raise ParameterError(f"k must be an integer in {K_MIN}..{K_MAX}, got {k!r}")
    return int(k)


def n_kmer_rows(k: int) -> int:
    """Number of canonical k-mer rows: (4^k + 4^(k/2)) / 2 for even k, 4^k / 2 for odd k."""
    k = check_k(k)
    return (4**k + 4 ** (k // 2)) // 2 if k % 2 == 0 else 4**k // 2


def revcomp_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """Reverse-complement packed k-mer codes (2 bits per base, first base most significant)."""
    codes = np.asarray(codes, dtype=np.int64)
    rc = np.zeros_like(codes)
    x = codes.copy()
    for _ in range(k):
        rc = (rc << 2) | (3 - (x & 3))
        x >>= 2
    return rc


def _order_values(codes: np.ndarray, k: int) -> np.ndarray:
    """Value of each code read as a base-4 number in the A<C<T<G alphabet."""
    val = np.zeros_like(codes)
    for i in range(k):
        digit = (codes >> (2 * (k - 1 - i))) & 3
        val = val * 4 + _ORDER_RANK[digit]
    return val


def check_train_k(k: int) -> int:
    """``k`` if it is a k-mer length that training can index, else a ParameterError."""
    k = check_k(k)
    if k > K_TRAIN_MAX:
        raise ParameterError(
            f"k = {k} needs a {4**k * 4 / 2**30:.0f} GiB k-mer index; use k <= {K_TRAIN_MAX} for training"
        )
    return k


@lru_cache(maxsize=4)
def _tables(k: int) -> tuple[np.ndarray, np.ndarray]:
    k = check_train_k(k)
    codes = np.arange(4**k, dtype=np.int64)
    rc = revcomp_codes(codes, k)
    val_f, val_r = _order_values(codes, k), _order_values(rc, k)
    # The representative of a pair is the member that comes first in A<C<T<G order.
    rep_code = np.where(val_f <= val_r, codes, rc)
    rep_val = np.minimum(val_f, val_r)
    is_rep = val_f <= val_r
    # Rows follow enumeration order of representatives.
    order = np.argsort(np.where(is_rep, val_f, np.iinfo(np.int64).max), kind="stable")
    n_rows = int(is_rep.sum())
    row_of_code = np.empty(4**k, dtype=np.int64)
    rep_codes_sorted = codes[order[:n_rows]]
    row_of_rep = np.empty(4**k, dtype=np.int64)
    row_of_rep[rep_codes_sorted] = np.arange(n_rows)
    row_of_code[:] = row_of_rep[rep_code]
    del rep_val
    return row_of_code.astype(np.uint32), rep_codes_sorted


def kmer_row_table(k: int) -> np.ndarray:
    """uint32 array of length 4^k: the embedding row of every k-mer code (canonical pairs share)."""
    return _tables(k)[0]


def decode(code: int, k: int) -> str:
    """The k-mer string of a packed code."""
    return "".join(BASES[(code >> (2 * (k - 1 - i))) & 3] for i in range(k))


def encode(kmer: str) -> int:
    """Packed code of a k-mer string (ACGT only, case-insensitive)."""
    code = 0
    for ch in kmer:
        c = BYTE_CODE[ord(ch)] if ord(ch) < 256 else 255
        if c > 3:
            raise ValueError(f"k-mer {kmer!r} contains {ch!r}; only A, C, G, T are allowed")
        code = (code << 2) | int(c)
    return code


def kmer_names(k: int) -> np.ndarray:
    """Row names: the reference tool's canonical string of each row, in row order."""
    reps = _tables(k)[1]
    letters = np.array(list(BASES))
    digits = np.stack([(reps >> (2 * (k - 1 - i))) & 3 for i in range(k)], axis=1)
    return np.array(["".join(r) for r in letters[digits]], dtype=object)


def sequence_codes(seq: str | bytes) -> np.ndarray:
    """Per-base codes (0..3 for ACGT, 4 for N, 255 for anything else) of a sequence."""
    raw = seq.encode("ascii", errors="replace") if isinstance(seq, str) else seq
    return BYTE_CODE[np.frombuffer(raw, dtype=np.uint8)]


def kmer_rows_of(seq: str | bytes, k: int) -> np.ndarray:
    """Canonical k-mer rows of every k-bp window without N, in order (the tokenisation).

    Windows containing any base other than ACGT emit nothing.
    """
    codes = sequence_codes(seq)
    if len(codes) < k:
        return np.empty(0, dtype=np.int64)
    bad = codes > 3
    c = np.where(bad, 0, codes).astype(np.int64)
    win = np.lib.stride_tricks.sliding_window_view(c, k)
    weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    fwd = win @ weights
    valid = ~np.lib.stride_tricks.sliding_window_view(bad, k).any(axis=1)
    return kmer_row_table(k)[fwd[valid]].astype(np.int64)
