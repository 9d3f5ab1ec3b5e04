"""Event sequences stored 2 bits per base, with N positions kept aside.

A :class:`SequenceStore` holds the DNA of every event of a dataset in one packed ``uint8``
array (4 bases per byte, A=0 C=1 G=2 T=3) plus a sorted array of the global positions of N
bases (stored as A in the packed array). This is ~16x smaller than one byte per base and is
what the trainer reads: it tokenises windows on the fly, never materialising token lists.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellspace.errors import InputError
from cellspace.kmers import BASES, BYTE_CODE, N_CODE

_PACK_SHIFTS = np.array([6, 4, 2, 0], dtype=np.uint8)


@dataclass
class SequenceStore:
    """Packed sequences of ``n`` events: ``offsets[i]:offsets[i+1]`` are event i's bases."""

    packed: np.ndarray  # uint8, 4 bases per byte, first base in the high bits
    offsets: np.ndarray  # int64, length n + 1, base offsets
    n_positions: np.ndarray  # int64, sorted global base positions holding N

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def total_bases(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def from_strings(
        cls, seqs: Iterable[str | bytes], names: Sequence[str] | None = None, source: str | None = None
    ) -> SequenceStore:
        """Pack sequences; letters other than A, C, G, T, N (any case) are an input error."""
        codes_list: list[np.ndarray] = []
        for i, s in enumerate(seqs):
            raw = s.encode("ascii", errors="replace") if isinstance(s, str) else bytes(s)
            codes = BYTE_CODE[np.frombuffer(raw, dtype=np.uint8)]
            if (codes == 255).any():
                pos = int(np.flatnonzero(codes == 255)[0])
                name = names[i] if names is not None else f"#{i + 1}"
                raise InputError(
                    f"sequence {name!r} has a non-ACGTN letter {chr(raw[pos])!r} at position {pos + 1}",
                    source,
                )
            codes_list.append(codes)
        return cls.from_codes(codes_list)

    @classmethod
    def from_codes(cls, codes_list: Sequence[np.ndarray]) -> SequenceStore:
        lengths = np.fromiter((len(c) for c in codes_list), dtype=np.int64, count=len(codes_list))
        offsets = np.zeros(len(codes_list) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        allc = np.concatenate(codes_list) if codes_list else np.empty(0, dtype=np.uint8)
        n_positions = np.flatnonzero(allc == N_CODE).astype(np.int64)
        twobit = np.where(allc == N_CODE, 0, allc).astype(np.uint8)
        pad = (-len(twobit)) % 4
        if pad:
            twobit = np.concatenate([twobit, np.zeros(pad, dtype=np.uint8)])
        quads = twobit.reshape(-1, 4)
        packed = np.bitwise_or.reduce(quads << _PACK_SHIFTS, axis=1).astype(np.uint8)
        return cls(packed=packed, offsets=offsets, n_positions=n_positions)

    def codes(self, i: int) -> np.ndarray:
        """Per-base codes of event ``i`` (0..3, N = 4)."""
        start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
        return self._codes_range(start, stop)

    def _codes_range(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.empty(0, dtype=np.uint8)
        b0, b1 = start // 4, (stop + 3) // 4
        quads = (self.packed[b0:b1, None] >> _PACK_SHIFTS) & 3
        out = quads.reshape(-1)[start - 4 * b0 : stop - 4 * b0].astype(np.uint8)
        lo, hi = np.searchsorted(self.n_positions, [start, stop])
        out[self.n_positions[lo:hi] - start] = N_CODE
        return out

    def sequence(self, i: int) -> str:
        """Event ``i`` as an upper-case string."""
        return (np.frombuffer(b"ACGTN", dtype=np.uint8)[self.codes(i)]).tobytes().decode()

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self)):
            yield self.sequence(i)

    def subset(self, idx: np.ndarray) -> SequenceStore:
        """A new store with events ``idx`` in that order."""
        return SequenceStore.from_codes([self.codes(int(i)) for i in idx])

    @staticmethod
    def concat(stores: Sequence[SequenceStore]) -> SequenceStore:
        """Concatenate stores (events in order)."""
        packed_parts: list[np.ndarray] = []
        offsets = [np.zeros(1, dtype=np.int64)]
        npos: list[np.ndarray] = []
        base = 0
        for st in stores:
            if base % 4 == 0:
                packed_parts.append(st.packed[: (st.total_bases + 3) // 4])
            else:  # unaligned: repack (rare; stores are usually concatenated from 0)
                return SequenceStore.from_codes([s.codes(i) for s in stores for i in range(len(s))])
            offsets.append(st.offsets[1:] + base)
            npos.append(st.n_positions + base)
            base += st.total_bases
            # keep alignment to a byte boundary by padding each store to a multiple of 4 bases
            pad = (-base) % 4
            if pad and st is not stores[-1]:
                return SequenceStore.from_codes([s.codes(i) for s in stores for i in range(len(s))])
        return SequenceStore(
            packed=np.concatenate(packed_parts) if packed_parts else np.empty(0, np.uint8),
            offsets=np.concatenate(offsets),
            n_positions=np.concatenate(npos) if npos else np.empty(0, np.int64),
        )

    def n_fraction(self) -> np.ndarray:
        """Fraction of N bases per event."""
        counts = np.diff(np.searchsorted(self.n_positions, self.offsets))
        lengths = self.lengths
        return np.divide(counts, lengths, out=np.ones(len(lengths)), where=lengths > 0)


def read_fasta(path: str | Path) -> tuple[list[str], list[str]]:
    """Read a (optionally gzipped) multi-FASTA; returns (names, sequences).

    Names are the first word of each header line. Raises InputError for a file that is not
    FASTA or has an empty record.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except OSError as e:
        raise InputError(f"cannot read FASTA: {e.strerror}", path) from None
    opener = gzip.open if magic == b"\x1f\x8b" else open
    names: list[str] = []
    seqs: list[str] = []
    chunks: list[str] = []
    try:
        with opener(path, "rt") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                if line.startswith(">"):
                    if names:
                        seqs.append("".join(chunks))
                    header = line[1:].split()
                    if not header:
                        raise InputError(f"line {lineno}: FASTA header without a name", path)
                    names.append(header[0])
                    chunks = []
                elif line.startswith(";"):
                    continue
                else:
                    if not names:
                        raise InputError(
                            f"line {lineno}: sequence before the first '>' header (not FASTA?)", path
                        )
                    chunks.append(line)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read FASTA: {e}", path) from None
    if names:
        seqs.append("".join(chunks))
    if not names:
        raise InputError("no FASTA records found", path)
    return names, seqs


def write_fasta(path: str | Path, names: Sequence[str], seqs: Iterable[str], width: int = 0) -> None:
    """Write a FASTA (gzipped when the name ends in .gz), atomically."""
    from cellspace.atomic import atomic_path

    path = Path(path)
    parts: list[str] = []
    for name, s in zip(names, seqs, strict=True):
        parts.append(f">{name}\n")
        if width:
            parts.extend(s[j : j + width] + "\n" for j in range(0, len(s), width))
        else:
            parts.append(s + "\n")
    raw = "".join(parts).encode()
    with atomic_path(path) as tmp:
        # gzip without a file name or time stamp: the same records give the same bytes
        tmp.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)


__all__ = ["SequenceStore", "read_fasta", "write_fasta", "BASES"]
