"""Sequence sources and the synthetic genome that events are cut from.

Source records (the vendored dm3 subset, any FASTA, or random DNA) are concatenated in order
into synthetic chromosomes, so every event is a real interval ``chrom:start-end`` of a genome
that can be written out (``genome.fa``) and cut again by a 10x-style reader. Records of at
least ``CHROM_SIZE`` bp keep their own name and form a chromosome on their own.
"""

from __future__ import annotations

import gzip
import importlib.resources
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.errors import InputError
from cellspace.kmers import BYTE_CODE

ASSET = "dm3_subset.fa.gz"
CHROM_SIZE = 1_000_000
RANDOM_RECORD_LEN = 2000
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)

# Byte -> code with every letter that is not A, C, G, T (IUPAC ambiguity codes, '-', ...) as N.
_CODE = BYTE_CODE.copy()
_CODE[_CODE == 255] = 4


def _read_fasta_codes(raw: bytes, source: str) -> tuple[list[str], list[np.ndarray]]:
    names: list[str] = []
    codes: list[np.ndarray] = []
    if not raw.lstrip().startswith(b">"):
        raise InputError("not a FASTA file (no '>' header at the start)", source)
    for chunk in raw.split(b"\n>"):
        head, _, body = chunk.partition(b"\n")
        name = head.lstrip(b">").split()
        if not name:
            raise InputError("FASTA header without a name", source)
        seq = body.replace(b"\n", b"").replace(b"\r", b"").replace(b" ", b"")
        names.append(name[0].decode("ascii", errors="replace"))
        codes.append(_CODE[np.frombuffer(seq, dtype=np.uint8)])
    return names, codes


def read_source_fasta(path: str | Path) -> tuple[list[str], list[np.ndarray]]:
    """Names and base codes (0..3, N = 4) of a plain or gzipped FASTA."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read FASTA: {e.strerror}", path) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise InputError(f"cannot decompress FASTA: {e}", path) from None
    return _read_fasta_codes(raw, str(path))


@lru_cache(maxsize=2)
def _asset_codes() -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    ref = importlib.resources.files("cellspace").joinpath("assets").joinpath(ASSET)
    raw = gzip.decompress(ref.read_bytes())
    names, codes = _read_fasta_codes(raw, f"cellspace/assets/{ASSET}")
    for c in codes:
        c.setflags(write=False)
    return tuple(names), tuple(codes)


def asset_records() -> tuple[list[str], list[np.ndarray]]:
    """The vendored dm3 subset (1,500 records x 2,000 bp), cached; arrays are read-only."""
    names, codes = _asset_codes()
    return list(names), list(codes)


def random_records(total_bp: int, gc: float, rng: np.random.Generator) -> tuple[list[str], list[np.ndarray]]:
    """I.i.d. DNA with GC content ``gc`` in records of 2,000 bp."""
    n = max(1, -(-int(total_bp) // RANDOM_RECORD_LEN))
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    allc = rng.choice(4, size=n * RANDOM_RECORD_LEN, p=p).astype(np.uint8)
    codes = np.split(allc, n)
    return [f"random{i + 1}" for i in range(n)], codes


@dataclass
class SyntheticGenome:
    """Chromosomes (base codes) built from source records; ``records`` maps records to them."""

    chrom_names: list[str]
    chroms: list[np.ndarray]  # uint8 codes, writable
    records: pd.DataFrame  # record, chrom (index), start, end (0-based, half-open)
    source: str

    @classmethod
    def from_records(cls, names: list[str], codes: list[np.ndarray], source: str) -> SyntheticGenome:
        if not codes:
            raise InputError("no sequence records", source)
        chrom_names: list[str] = []
        chroms: list[np.ndarray] = []
        rec_rows: list[tuple[str, int, int, int]] = []
        pending: list[tuple[str, np.ndarray]] = []
        used = set()

        def flush() -> None:
            if not pending:
                return
            cname = f"simchr{sum(1 for c in chrom_names if c.startswith('simchr')) + 1}"
            ci = len(chroms)
            pos = 0
            for rname, c in pending:
                rec_rows.append((rname, ci, pos, pos + len(c)))
                pos += len(c)
            chrom_names.append(cname)
            chroms.append(np.concatenate([c for _, c in pending]).astype(np.uint8, copy=True))
            pending.clear()

        size = 0
        for name, c in zip(names, codes, strict=True):
            if len(c) == 0:
                continue
            if len(c) >= CHROM_SIZE and name not in used and not name.startswith("simchr"):
                flush()
                size = 0
                rec_rows.append((name, len(chroms), 0, len(c)))
                chrom_names.append(name)
                chroms.append(np.array(c, dtype=np.uint8, copy=True))
                used.add(name)
                continue
            if size + len(c) > CHROM_SIZE and pending:
                flush()
                size = 0
            pending.append((name, c))
            size += len(c)
        flush()
        if not chroms:
            raise InputError("all sequence records are empty", source)
        records = pd.DataFrame(rec_rows, columns=["record", "chrom", "start", "end"])
        return cls(chrom_names=chrom_names, chroms=chroms, records=records, source=source)

    @property
    def total_bp(self) -> int:
        return int(sum(len(c) for c in self.chroms))

    def background(self) -> np.ndarray:
        """Strand-symmetric base composition (A, C, G, T) of the genome (N ignored)."""
        counts = np.zeros(4, dtype=np.float64)
        for c in self.chroms:
            counts += np.bincount(c, minlength=5)[:4]
        counts = counts + counts[::-1]
        return counts / counts.sum()

    def cut(self, chrom: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
        """Codes of equal-length intervals: (n, length) uint8."""
        out = np.empty((len(start), length), dtype=np.uint8)
        idx = np.arange(length)
        for ci in np.unique(chrom):
            sel = np.flatnonzero(chrom == ci)
            out[sel] = self.chroms[int(ci)][start[sel, None] + idx[None, :]]
        return out

    def n_cumsum(self, ci: int) -> np.ndarray:
        c = self.chroms[ci]
        cum = np.zeros(len(c) + 1, dtype=np.int64)
        np.cumsum(c == 4, out=cum[1:])
        return cum

    def fasta_records(self) -> list[tuple[str, str]]:
        """(name, upper-case sequence) of every chromosome."""
        return [(n, _LETTERS[c].tobytes().decode()) for n, c in zip(self.chrom_names, self.chroms, strict=True)]


def codes_to_strings(codes: np.ndarray) -> list[str]:
    """Rows of a code matrix as upper-case strings."""
    letters = _LETTERS[codes]
    return [row.tobytes().decode() for row in letters]


def load_genome(
    genome_fasta: str | None, random_dna: bool, gc: float, min_bp: int, rng: np.random.Generator
) -> SyntheticGenome:
    """The synthetic genome of a simulation (records copied: planting never alters a cache)."""
    if random_dna:
        names, codes = random_records(min_bp, gc, rng)
        return SyntheticGenome.from_records(names, codes, f"random DNA (GC {gc:g})")
    if genome_fasta:
        names, codes = read_source_fasta(genome_fasta)
        return SyntheticGenome.from_records(names, codes, str(genome_fasta))
    names, codes = asset_records()
    return SyntheticGenome.from_records(names, codes, f"cellspace/assets/{ASSET}")
