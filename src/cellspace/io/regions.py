"""Genomic intervals: BED files and ``chrom:start-end`` names (0-based, half-open).

- :func:`parse_region`: ``chr1:100-600`` or ``chr1-100-600`` -> ``("chr1", 100, 600)``.
- :func:`read_bed`: the first three columns of a BED file (plain or gzip) as a frame.
- :func:`regions_from_names`: event names that are all regions -> a frame, else None.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellspace.errors import InputError
from cellspace.io.mtx import open_binary

_REGION = re.compile(r"^(?P<chrom>.+?)[:\-](?P<start>\d+)-(?P<end>\d+)$")
_SKIP = ("#", "track", "browser")


def parse_region(text: str) -> tuple[str, int, int] | None:
    """``chr1:100-600`` or ``chr1-100-600`` -> ("chr1", 100, 600); None when not a region."""
    m = _REGION.match(str(text).strip())
    if not m:
        return None
    return m["chrom"], int(m["start"]), int(m["end"])


def regions_from_names(names: Sequence[str]) -> pd.DataFrame | None:
    """A chrom/start/end frame when every name is a region, else None."""
    parsed = [parse_region(n) for n in names]
    if not parsed or any(p is None for p in parsed):
        return None
    return pd.DataFrame(parsed, columns=["chrom", "start", "end"]).astype(
        {"start": np.int64, "end": np.int64}
    )


def read_bed(path: str | Path) -> pd.DataFrame:
    """chrom, start, end (int64) of every interval of a BED file (plain or gzip).

    Header lines (``#``, ``track``, ``browser``) and empty lines are skipped; a line without
    an integer start and end, or with end <= start, is a one-line InputError naming the line.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("BED file not found", path)
    if path.is_dir():
        raise InputError("BED file is a folder, expected a file", path)
    chroms: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    try:
        with open_binary(path) as fh:
            for i, raw in enumerate(fh, 1):
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line.strip() or line.startswith(_SKIP):
                    continue
                f = line.split("\t") if "\t" in line else line.split()
                try:
                    c, s, e = f[0], int(f[1]), int(f[2])
                except (ValueError, IndexError):
                    raise InputError(
                        f"line {i}: not a BED interval (chrom, start, end): {line[:80]!r}", path
                    ) from None
                if s < 0 or e <= s:
                    raise InputError(f"line {i}: empty or negative interval {c}:{s}-{e}", path)
                chroms.append(c)
                starts.append(s)
                ends.append(e)
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read BED file: {e}", path) from None
    if not chroms:
        raise InputError("BED file has no intervals", path)
    return pd.DataFrame(
        {"chrom": chroms, "start": np.array(starts, np.int64), "end": np.array(ends, np.int64)}
    )


__all__ = ["parse_region", "read_bed", "regions_from_names"]
