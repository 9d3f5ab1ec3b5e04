"""Genome FASTA access with pysam: cut event (peak) sequences from BED intervals.

The genome may be plain or bgzip-compressed; a ``.fai`` index (and ``.gzi`` for bgzip) is
created beside it when missing and the folder is writable. Coordinates are BED-style:
0-based, half-open. Genome sequence letters that are IUPAC ambiguity codes (R, Y, K, M, S,
W, B, D, H, V) are read as N, since assemblies legitimately contain a few of them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from cellspace.atomic import atomic_path
from cellspace.errors import InputError
from cellspace.io.mtx import check_event_sequences, unique_names
from cellspace.sequences import SequenceStore

_IUPAC_TO_N = str.maketrans("RYKMSWBDHVrykmswbdhv", "N" * 20)


def _is_gzip(path: Path) -> tuple[bool, bool]:
    """(is gzip, is bgzip) from the first bytes of the file."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return False, False
    bgzf = len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC"
    return True, bool(bgzf)


def open_genome(path: str | Path) -> pysam.FastaFile:
    """Open an indexed genome FASTA, creating the index when missing (one-line errors)."""
    path = Path(path)
    if not path.exists():
        raise InputError("genome FASTA not found", path)
    if path.is_dir():
        raise InputError("genome FASTA is a folder, expected a file", path)
    gz, bgz = _is_gzip(path)
    if gz and not bgz:
        raise InputError(
            "genome FASTA is gzip-compressed but not with bgzip; decompress it or recompress "
            "it with `bgzip` so it can be indexed",
            path,
        )
    needed = [Path(f"{path}.fai")] + ([Path(f"{path}.gzi")] if bgz else [])
    missing = [p for p in needed if not p.exists()]
    if missing and not os.access(path.parent, os.W_OK):
        raise InputError(
            f"genome FASTA has no {missing[0].suffix} index and its folder is not writable; "
            "create it with `samtools faidx`",
            path,
        )
    try:
        if missing:
            pysam.faidx(str(path))
        return pysam.FastaFile(str(path))
    except (OSError, ValueError, pysam.utils.SamtoolsError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"cannot open or index genome FASTA: {msg}", path) from None


def fetch_sequences(
    genome: pysam.FastaFile,
    chroms: Sequence[str],
    starts: Sequence[int] | np.ndarray,
    ends: Sequence[int] | np.ndarray,
    *,
    names: Sequence[str] | None = None,
    peaks_path: str | Path | None = None,
    genome_path: str | Path | None = None,
) -> list[str]:
    """Sequences of BED intervals (0-based, half-open), upper-cased, IUPAC codes as N.

    A chromosome absent from the genome or an interval outside it is an InputError naming the
    peak and the file it came from (and the genome).
    """
    lengths = dict(zip(genome.references, genome.lengths, strict=True))
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    gname = f" genome {genome_path}" if genome_path else " the genome"

    def label(i: int) -> str:
        return repr(names[i]) if names is not None else f"{chroms[i]}:{starts[i]}-{ends[i]}"

    bad = np.flatnonzero((starts < 0) | (ends <= starts))
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"peak {label(i)} has an empty or negative interval ({starts[i]}-{ends[i]})", peaks_path
        )
    chrom_len = np.array([lengths.get(c, -1) for c in chroms], dtype=np.int64)
    absent = np.flatnonzero(chrom_len < 0)
    if len(absent):
        i = int(absent[0])
        some = ", ".join(list(lengths)[:5]) + (", ..." if len(lengths) > 5 else "")
        raise InputError(
            f"peak {label(i)} is on chromosome {chroms[i]!r}, which{gname} does not have "
            f"({len(absent)} such peak(s); genome chromosomes: {some})",
            peaks_path,
        )
    beyond = np.flatnonzero(ends > chrom_len)
    if len(beyond):
        i = int(beyond[0])
        raise InputError(
            f"peak {label(i)} ends at {ends[i]}, beyond the end of {chroms[i]} "
            f"({chrom_len[i]} bp) in{gname} ({len(beyond)} such peak(s); wrong genome build?)",
            peaks_path,
        )
    out = []
    for c, s, e in zip(chroms, starts.tolist(), ends.tolist(), strict=True):
        out.append(genome.fetch(c, s, e).upper().translate(_IUPAC_TO_N))
    return out


def cut_events(
    genome: str | Path,
    regions: pd.DataFrame,
    *,
    peaks_path: str | Path | None,
    k: int = 8,
) -> tuple[SequenceStore, np.ndarray, pd.DataFrame]:
    """Sequences of the ``regions`` (chrom, start, end; one per event, in order) cut from ``genome``.

    Returns (sequences, event ids ``chrom:start-end`` made unique, var with chrom/start/end).
    Intervals outside the genome, sequences shorter than ``k`` or all N are one-line errors
    naming ``peaks_path`` (the file the intervals came from).
    """
    chroms = [str(c) for c in regions["chrom"]]
    starts = regions["start"].to_numpy(dtype=np.int64)
    ends = regions["end"].to_numpy(dtype=np.int64)
    event_ids = unique_names(
        [f"{c}:{s}-{e}" for c, s, e in zip(chroms, starts.tolist(), ends.tolist(), strict=True)],
        "peak", peaks_path,
    )
    with open_genome(genome) as fa:
        seqs = fetch_sequences(
            fa, chroms, starts, ends, names=list(event_ids), peaks_path=peaks_path, genome_path=genome
        )
    store = SequenceStore.from_strings(seqs, list(event_ids), source=str(genome))
    del seqs
    check_event_sequences(store, event_ids, k, peaks_path or genome)
    var = pd.DataFrame({"chrom": chroms, "start": starts, "end": ends})
    return store, event_ids, var


def write_genome_fasta(
    path: str | Path, records: Mapping[str, str] | Sequence[tuple[str, str]], *, width: int = 60
) -> Path:
    """Write a small genome FASTA (bgzip-compressed when the name ends in .gz) and index it.

    Used by tests and the simulator. Creates ``path.fai`` (and ``path.gzi`` for bgzip).
    """
    path = Path(path)
    items = list(records.items()) if isinstance(records, Mapping) else list(records)
    text = "".join(
        f">{name}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
        for name, seq in items
    )
    for old in (Path(f"{path}.fai"), Path(f"{path}.gzi")):
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            write_bgzip_text(text, tmp)
        else:
            tmp.write_text(text)
    pysam.faidx(str(path))
    return path


def write_bgzip_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` block-gzipped (indexable by faidx and tabix)."""
    plain = path.with_name(path.name + ".plain")
    try:
        plain.write_text(text)
        pysam.tabix_compress(str(plain), str(path), force=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            plain.unlink()
