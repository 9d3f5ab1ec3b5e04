"""Fragments files -> binary cells x genomic tiles, streamed in chunks.

A fragments file (Cell Ranger ATAC, ArchR, SnapATAC2, sinto) is a tab-separated table of
``chrom, start, end, barcode[, count]`` lines, 0-based half-open, sorted by chromosome and
start, gzip- or bgzip-compressed (a ``.tbi`` beside a bgzip file is used to check its
chromosomes before reading). Lines starting with ``#`` are skipped.

Each fragment has two Tn5 insertions, at ``start`` and at ``end - 1``. The genome is cut into
``tile_size`` bp tiles from position 0 of every chromosome (the last tile of a chromosome is
shorter); a tile is 1 in a cell when any insertion of that cell falls in it.

The file is read with pandas' C parser ``chunk_size`` lines at a time; only the de-duplicated
(cell, tile) pairs of the kept cells are held, never the file. Cells are the barcodes of a
list, or the barcodes with at least ``min_fragments`` fragments (then the file is read twice:
counting, then tiling). Tiles open in no kept cell, tiles overlapping a blacklist interval,
tiles whose genome sequence is all N and tiles shorter than k are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import scipy.sparse as sp

from cellspace.dataset import Dataset, make_dataset
from cellspace.errors import InputError, ParameterError
from cellspace.io.genome import _IUPAC_TO_N, open_genome
from cellspace.io.mtx import (
    check_batch_key,
    open_binary,
    prepare_obs,
    read_cell_metadata,
    strip_suffixes,
)
from cellspace.io.regions import read_bed
from cellspace.kmers import BYTE_CODE, N_CODE
from cellspace.sequences import SequenceStore

log = logging.getLogger(__name__)

FRAGMENT_SUFFIXES = (".fragments.tsv.gz", "_fragments.tsv.gz", ".tsv.gz", ".tsv.bgz", ".bed.gz", ".gz")
_SORT_HINT = "sort it with `sort -k1,1 -k2,2n` (then bgzip and tabix -p bed)"


@dataclass(frozen=True)
class TileParams:
    """How fragments become tiles: width, cell calling without a barcode list, blacklist."""

    tile_size: int = 500
    min_fragments: int | None = None
    blacklist: Path | None = None


@dataclass(frozen=True)
class TileGrid:
    """Fixed-width tiles over a genome's chromosomes; tile ids are global and position-ordered."""

    chroms: tuple[str, ...]
    lengths: np.ndarray  # int64 per chromosome
    tile_size: int

    @property
    def offsets(self) -> np.ndarray:
        """First global tile id of each chromosome (length n_chroms + 1)."""
        n = -(-self.lengths // self.tile_size)
        return np.concatenate([[0], np.cumsum(n)]).astype(np.int64)

    @property
    def n_tiles(self) -> int:
        return int(self.offsets[-1])

    def tile_of(self, chrom: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return self.offsets[chrom] + pos // self.tile_size

    def coords(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chromosome index, start, end) of global tile ids."""
        off = self.offsets
        chrom = np.searchsorted(off, tiles, side="right") - 1
        start = (tiles - off[chrom]) * self.tile_size
        end = np.minimum(start + self.tile_size, self.lengths[chrom])
        return chrom, start, end


def read_barcodes(path: str | Path) -> np.ndarray:
    """Barcodes, one per line (first tab/comma field; gzip ok); empty list -> InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError("barcode list not found", path)
    try:
        with open_binary(path) as fh:
            text = fh.read().decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read barcode list: {e}", path) from None
    out = []
    for line in text.splitlines():
        f = line.replace(",", "\t").split("\t")[0].strip()
        if f and not f.startswith("#"):
            out.append(f)
    if out and out[0].lower() in ("barcode", "barcodes", "cell", "cell_id"):
        out = out[1:]
    if not out:
        raise InputError("barcode list is empty: give one cell barcode per line", path)
    uniq = list(dict.fromkeys(out))
    if len(uniq) < len(out):
        log.warning("%s: %d repeated barcode(s) ignored", path, len(out) - len(uniq))
    return np.array(uniq, dtype=object)


def _check_tabix_contigs(path: Path, grid: TileGrid, genome_path: Path) -> None:
    """With a .tbi beside the file: chromosomes absent from the genome fail before reading."""
    if not Path(f"{path}.tbi").exists():
        return
    try:
        with pysam.TabixFile(str(path)) as tbx:
            contigs = list(tbx.contigs)
    except (OSError, ValueError):
        return
    absent = [c for c in contigs if c not in set(grid.chroms)]
    if absent:
        raise InputError(_absent_message(absent[0], len(absent), grid, genome_path), path)


def _absent_message(chrom: str, n: int, grid: TileGrid, genome_path: Path) -> str:
    some = ", ".join(grid.chroms[:5]) + (", ..." if len(grid.chroms) > 5 else "")
    return (
        f"fragments on chromosome {chrom!r}, which genome {genome_path} does not have "
        f"({n} such chromosome(s); genome chromosomes: {some}); use the genome the reads were "
        "aligned to, or drop those lines"
    )


@dataclass
class _Chunk:
    chrom: np.ndarray  # genome chromosome index per fragment
    start: np.ndarray
    end: np.ndarray
    barcode: pd.Categorical


class _SortState:
    """Checks, across chunks, that fragments come in contiguous chromosome blocks by start."""

    def __init__(self) -> None:
        self.done: set[int] = set()
        self.last_chrom = -1
        self.last_start = -1
        self.n_seen = 0

    def check(self, ch: _Chunk, grid: TileGrid, path: Path) -> None:
        c, s = ch.chrom, ch.start
        prev_c = np.concatenate([[self.last_chrom], c[:-1]])
        prev_s = np.concatenate([[self.last_start], s[:-1]])
        back = np.flatnonzero((c == prev_c) & (s < prev_s))
        if len(back):
            i = int(back[0])
            name = grid.chroms[c[i]]
            raise InputError(
                f"fragments are not sorted: fragment {self.n_seen + i + 1} ({name}:{s[i]}) comes "
                f"after {name}:{prev_s[i]}; {_SORT_HINT}",
                path,
            )
        for i in np.flatnonzero(c != prev_c).tolist():
            if self.last_chrom >= 0 or i > 0:
                self.done.add(int(prev_c[i]))
            if int(c[i]) in self.done:
                raise InputError(
                    f"fragments are not sorted: chromosome {grid.chroms[c[i]]!r} appears again at "
                    f"fragment {self.n_seen + i + 1} after other chromosomes; {_SORT_HINT}",
                    path,
                )
        self.last_chrom, self.last_start = int(c[-1]), int(s[-1])
        self.n_seen += len(c)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _chunks(path: Path, grid: TileGrid, genome_path: Path, chunk_size: int) -> Iterator[_Chunk]:
    """Validated fragments, ``chunk_size`` lines at a time."""
    index = {c: i for i, c in enumerate(grid.chroms)}
    state = _SortState()
    try:
        reader = pd.read_csv(
            path,
            sep="\t",
            header=None,
            comment="#",
            usecols=[0, 1, 2, 3],
            names=["chrom", "start", "end", "barcode"],
            dtype={"chrom": "category", "start": np.int64, "end": np.int64, "barcode": "category"},
            chunksize=chunk_size,
            compression="gzip" if _is_gzip(path) else None,
        )
        for df in reader:
            if df.empty:
                continue
            if df.isna().to_numpy().any():
                i = int(np.flatnonzero(df.isna().to_numpy().any(axis=1))[0])
                raise InputError(
                    f"fragment {state.n_seen + i + 1}: fewer than 4 columns (chrom, start, end, "
                    "barcode); is this a fragments file?",
                    path,
                )
            cats = df["chrom"].cat.categories
            cmap = np.array([index.get(str(x), -1) for x in cats], dtype=np.int64)
            if (cmap < 0).any():
                absent = [str(x) for x, m in zip(cats, cmap, strict=True) if m < 0]
                raise InputError(_absent_message(absent[0], len(absent), grid, genome_path), path)
            chunk = _Chunk(
                chrom=cmap[df["chrom"].cat.codes.to_numpy()],
                start=df["start"].to_numpy(),
                end=df["end"].to_numpy(),
                barcode=df["barcode"].array,
            )
            _check_bounds(chunk, grid, state.n_seen, path, genome_path)
            state.check(chunk, grid, path)
            yield chunk
    except InputError:
        raise
    except (ValueError, TypeError, OSError, EOFError, pd.errors.ParserError) as e:
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise InputError(f"cannot read fragments file (chrom, start, end, barcode lines): {msg}", path) from None
    if state.n_seen == 0:
        raise InputError("fragments file has no fragments", path)


def _check_bounds(ch: _Chunk, grid: TileGrid, n_before: int, path: Path, genome_path: Path) -> None:
    bad = np.flatnonzero((ch.start < 0) | (ch.end <= ch.start))
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"fragment {n_before + i + 1} ({grid.chroms[ch.chrom[i]]}:{ch.start[i]}-{ch.end[i]}) "
            "is empty or negative",
            path,
        )
    beyond = np.flatnonzero(ch.end > grid.lengths[ch.chrom])
    if len(beyond):
        i = int(beyond[0])
        c = grid.chroms[ch.chrom[i]]
        raise InputError(
            f"fragment {n_before + i + 1} ({c}:{ch.start[i]}-{ch.end[i]}) ends beyond the end of "
            f"{c} ({grid.lengths[ch.chrom[i]]} bp) in genome {genome_path}; wrong genome build?",
            path,
        )


def _cell_codes(barcodes: pd.Categorical, cells: pd.Index) -> np.ndarray:
    """Index of each fragment's barcode in ``cells`` (-1 when not a kept cell)."""
    lookup = cells.get_indexer(barcodes.categories)
    return lookup[barcodes.codes]


def count_fragments(
    path: str | Path, grid: TileGrid, genome_path: Path, *, chunk_size: int = 2_000_000
) -> pd.Series:
    """Fragments per barcode over the whole file (validating it on the way)."""
    totals: dict[str, int] = {}
    for ch in _chunks(Path(path), grid, genome_path, chunk_size):
        counts = np.bincount(ch.barcode.codes, minlength=len(ch.barcode.categories))
        for bc, n in zip(ch.barcode.categories, counts.tolist(), strict=True):
            if n:
                totals[bc] = totals.get(bc, 0) + n
    return pd.Series(totals, dtype=np.int64)


def tile_pairs(
    path: str | Path, grid: TileGrid, cells: pd.Index, genome_path: Path, *, chunk_size: int = 2_000_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell, tile) of every distinct pair with an insertion, and fragments per cell."""
    n = len(cells)
    keys: list[np.ndarray] = []
    n_frag = np.zeros(n, dtype=np.int64)
    for ch in _chunks(Path(path), grid, genome_path, chunk_size):
        cell = _cell_codes(ch.barcode, cells)
        keep = cell >= 0
        if not keep.any():
            continue
        cell, c = cell[keep], ch.chrom[keep]
        n_frag += np.bincount(cell, minlength=n)
        t1 = grid.tile_of(c, ch.start[keep])
        t2 = grid.tile_of(c, ch.end[keep] - 1)
        k = np.concatenate([t1 * n + cell, t2 * n + cell])
        keys.append(_sorted_unique(k))
    allk = _sorted_unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
    return (allk % n).astype(np.int64), allk // n, n_frag


def _blacklisted(tiles: np.ndarray, grid: TileGrid, blacklist: Path) -> np.ndarray:
    """Mask of tiles overlapping any blacklist interval (intervals on other chromosomes ignored)."""
    bed = read_bed(blacklist)
    index = {c: i for i, c in enumerate(grid.chroms)}
    ci = bed["chrom"].map(index)
    on = ci.notna().to_numpy()
    if (~on).any():
        log.info("%s: %d blacklist interval(s) on chromosomes not in the genome ignored", blacklist, int((~on).sum()))
    ci = ci[on].to_numpy(dtype=np.int64)
    s = bed["start"].to_numpy()[on]
    e = np.minimum(bed["end"].to_numpy()[on], grid.lengths[ci])
    ok = e > s
    first = grid.tile_of(ci[ok], s[ok])
    last = grid.tile_of(ci[ok], e[ok] - 1)
    diff = np.zeros(grid.n_tiles + 1, dtype=np.int64)
    np.add.at(diff, first, 1)
    np.add.at(diff, last + 1, -1)
    covered = np.cumsum(diff[:-1]) > 0
    return covered[tiles]


def _tile_codes(
    genome: pysam.FastaFile, grid: TileGrid, tiles: np.ndarray, keep: np.ndarray, k: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-base codes (A C G T N = 0..4) of the kept tiles that are not all N nor shorter than k.

    One chromosome is in memory at a time. Returns the codes and the updated ``keep`` mask.
    """
    chrom, start, end = grid.coords(tiles)
    keep = keep & (end - start >= k)
    out: list[np.ndarray] = []
    n_all_n = 0
    for ci in np.unique(chrom[keep]).tolist():
        seq = genome.fetch(grid.chroms[ci]).upper().translate(_IUPAC_TO_N)
        codes = BYTE_CODE[np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)]
        codes[codes == 255] = N_CODE
        sel = np.flatnonzero((chrom == ci) & keep)
        is_n = np.concatenate([codes == N_CODE, [False]])
        bounds = np.column_stack([start[sel], end[sel]]).ravel()  # tiles are disjoint and sorted
        n_count = np.add.reduceat(is_n, bounds, dtype=np.int64)[::2]
        all_n = n_count == end[sel] - start[sel]
        keep[sel[all_n]] = False
        n_all_n += int(all_n.sum())
        sel = sel[~all_n]
        out.extend(codes[s:e] for s, e in zip(start[sel].tolist(), end[sel].tolist(), strict=True))
    if n_all_n:
        log.info("%d tile(s) whose genome sequence is all N dropped", n_all_n)
    return out, keep


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Distinct values of ``keys``, sorted (in place; fast on the nearly sorted keys here)."""
    keys.sort(kind="stable")
    if len(keys) == 0:
        return keys
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])]


def default_fragments_name(path: str | Path) -> str:
    return strip_suffixes(path, FRAGMENT_SUFFIXES)


def read_fragments(
    path: str | Path,
    genome: str | Path,
    *,
    barcodes: str | Path | Sequence[str] | None = None,
    tiles: TileParams | None = None,
    name: str | None = None,
    k: int = 8,
    batch_key: str | None = None,
    obs: str | Path | pd.DataFrame | None = None,
    chunk_size: int = 2_000_000,
) -> Dataset:
    """A fragments file as a binary cells x tiles :class:`Dataset` (see the module docstring).

    Exactly one of ``barcodes`` (a file, one per line, or a list) and ``tiles.min_fragments``
    picks the cells. Event ids are ``chrom:start-end``; ``var`` holds chrom/start/end and ``obs``
    ``n_fragments`` per cell (plus the columns of an ``obs`` table matched by barcode).
    """
    path = Path(path)
    genome_path = Path(genome)
    tiles = tiles or TileParams()
    min_fragments, tile_size, blacklist = tiles.min_fragments, tiles.tile_size, tiles.blacklist
    if not path.exists():
        raise InputError("fragments file not found", path)
    if path.is_dir():
        raise InputError("fragments file is a folder, expected a file", path)
    if (barcodes is None) == (min_fragments is None):
        raise ParameterError("give exactly one of --barcodes FILE and --min-fragments N")
    if tile_size < 1:
        raise ParameterError(f"--tile-size must be a positive number of bp, got {tile_size}")
    if min_fragments is not None and min_fragments < 1:
        raise ParameterError(f"--min-fragments must be at least 1, got {min_fragments}")
    name = name or default_fragments_name(path)
    with open_genome(genome_path) as fa:
        grid = TileGrid(tuple(fa.references), np.asarray(fa.lengths, dtype=np.int64), int(tile_size))
        _check_tabix_contigs(path, grid, genome_path)
        if barcodes is not None:
            bcs = read_barcodes(barcodes) if isinstance(barcodes, str | Path) else np.asarray(list(barcodes), dtype=object)
            if len(bcs) == 0:
                raise InputError("barcode list is empty", path)
            src = f"barcode list {barcodes}" if isinstance(barcodes, str | Path) else "the barcode list"
        else:
            counts = count_fragments(path, grid, genome_path, chunk_size=chunk_size)
            bcs = np.array(sorted(counts.index[counts.to_numpy() >= min_fragments]), dtype=object)
            if len(bcs) == 0:
                raise InputError(
                    f"no barcode has at least {min_fragments} fragments (the most is {int(counts.max())}); "
                    "lower --min-fragments",
                    path,
                )
            src = f"--min-fragments {min_fragments}"
            log.info("%s: %d of %d barcodes have >= %d fragments", path, len(bcs), len(counts), min_fragments)
        cells = pd.Index(bcs)
        cell, tile, n_frag = tile_pairs(path, grid, cells, genome_path, chunk_size=chunk_size)
        present = n_frag > 0
        if not present.any():
            raise InputError(f"none of the {len(cells)} barcodes of {src} occurs in the fragments file", path)
        if not present.all():
            log.warning("%s: %d barcode(s) of %s have no fragment and are left out", path, int((~present).sum()), src)
        used, col = np.unique(tile, return_inverse=True)
        keep = np.ones(len(used), dtype=bool)
        if blacklist is not None:
            bl = _blacklisted(used, grid, Path(blacklist))
            log.info("%s: %d tile(s) overlap the blacklist", path, int(bl.sum()))
            keep &= ~bl
        codes, keep = _tile_codes(fa, grid, used, keep, k)
    if not keep.any():
        raise InputError("no tile is left (all are blacklisted, all N or shorter than k)", path)
    new_col = np.cumsum(keep) - 1
    on = keep[col] & present[cell]
    cell_index = np.cumsum(present) - 1
    kept_tiles = used[keep]
    m = sp.csr_matrix(
        (np.ones(int(on.sum()), dtype=np.uint8), (cell_index[cell[on]], new_col[col[on]])),
        shape=(int(present.sum()), len(kept_tiles)),
    )
    chrom, start, end = grid.coords(kept_tiles)
    chrom_names = np.asarray(grid.chroms, dtype=object)[chrom]
    event_ids = np.array([f"{c}:{s}-{e}" for c, s, e in zip(chrom_names, start.tolist(), end.tolist(), strict=True)], dtype=object)
    store = SequenceStore.from_codes(codes)
    del codes
    cell_ids = np.asarray(bcs, dtype=object)[present]
    meta = pd.DataFrame({"n_fragments": n_frag[present]})
    if obs is not None:
        extra, _ = read_cell_metadata(obs, len(cell_ids), cell_ids)
        extra = extra.reset_index(drop=True)
        meta = pd.concat([extra, meta], axis=1)
    meta = prepare_obs(meta, name)
    if batch_key is not None:
        check_batch_key(meta, batch_key, obs if isinstance(obs, str | Path) else path)
    var = pd.DataFrame({"chrom": pd.Categorical(chrom_names.astype(str), categories=list(grid.chroms)),
                        "start": start, "end": end})
    return make_dataset(
        name,
        m,
        store,
        cell_ids=cell_ids,
        event_ids=event_ids,
        obs=meta,
        var=var,
        batch_key=batch_key,
        source=str(path),
        k=k,
    )


__all__ = ["TileGrid", "TileParams", "read_barcodes", "read_fragments", "count_fragments", "tile_pairs"]
