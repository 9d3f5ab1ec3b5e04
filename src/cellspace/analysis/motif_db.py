"""Motif databases: JASPAR releases bundled with pyjaspar (offline), or JASPAR/MEME/HOMER files.

A :class:`Motif` holds a position frequency matrix (width x 4, columns A, C, G, T) as counts or
probabilities. Parse errors raise :class:`~cellspace.errors.InputError` naming the file and the
line.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cellspace.atomic import atomic_path
from cellspace.errors import InputError, ParameterError

BASES = "ACGT"
FORMATS = ("jaspar", "meme", "homer")
DEFAULT_RELEASE = "JASPAR2024"
DEFAULT_COLLECTION = "CORE"
DEFAULT_TAXON = "vertebrates"
_COMP = np.array([3, 2, 1, 0])


@dataclass
class Motif:
    """A DNA motif: identifier, TF name and frequency matrix (width x 4; A, C, G, T)."""

    id: str
    name: str
    counts: np.ndarray

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.float64)
        if self.counts.ndim != 2 or self.counts.shape[1] != 4 or self.counts.shape[0] < 1:
            raise ValueError(f"motif {self.id}: matrix must be (width, 4), got {self.counts.shape}")

    @property
    def width(self) -> int:
        return int(self.counts.shape[0])

    def probabilities(self, pseudocount: float = 0.01) -> np.ndarray:
        """Position probability matrix: columns normalised, then mixed with a flat prior."""
        tot = self.counts.sum(axis=1, keepdims=True)
        p = np.divide(self.counts, tot, out=np.full_like(self.counts, 0.25), where=tot > 0)
        return (p + pseudocount * 0.25) / (1.0 + pseudocount)

    def log_odds(self, background: np.ndarray | None = None, pseudocount: float = 0.01) -> np.ndarray:
        """log2(p / background) per position and base."""
        bg = np.full(4, 0.25) if background is None else np.asarray(background, float)
        return np.log2(self.probabilities(pseudocount) / bg[None, :])

    @property
    def consensus(self) -> str:
        """Most probable base at each position (ties: first of A, C, G, T)."""
        return "".join(BASES[i] for i in np.argmax(self.counts, axis=1))

    def reverse_complement(self) -> Motif:
        return Motif(self.id, self.name, self.counts[::-1, ::-1].copy())


# ----------------------------------------------------------------------------- pyjaspar
@lru_cache(maxsize=8)
def _jaspardb(release: str):
    from pyjaspar import jaspardb

    return jaspardb(release=release)


def jaspar_releases() -> list[str]:
    """The JASPAR releases bundled with the installed pyjaspar."""
    return [str(r) for r in _jaspardb(DEFAULT_RELEASE).get_releases()]


def check_release(release: str) -> str:
    """``release`` if pyjaspar bundles it; a usage error naming the bundled ones otherwise."""
    known = jaspar_releases()
    if release not in known:
        raise ParameterError(f"--jaspar-release {release!r} is not bundled with pyjaspar (have: {', '.join(known)})")
    return release


def jaspar_db(release: str = DEFAULT_RELEASE):
    """pyjaspar's offline database of a JASPAR release: the one way the package opens JASPAR."""
    return _jaspardb(check_release(release))


def jaspar_motifs(
    release: str = DEFAULT_RELEASE,
    collection: str = DEFAULT_COLLECTION,
    taxon: str | None = DEFAULT_TAXON,
    names: Sequence[str] | None = None,
) -> list[Motif]:
    """Motifs of a JASPAR release bundled with pyjaspar (latest version of each matrix)."""
    db = jaspar_db(release)
    kwargs = {"collection": collection}
    if taxon:
        kwargs["tax_group"] = [taxon]
    raw = db.fetch_motifs(**kwargs)
    motifs = [_from_bio(m) for m in raw]
    if names is not None:
        wanted = {n.upper() for n in names}
        motifs = [m for m in motifs if m.name.upper() in wanted]
    if not motifs:
        raise ParameterError(
            f"no motifs in {release} for collection {collection!r}, taxon {taxon!r}"
            + (f", names {list(names)}" if names else "")
        )
    return motifs


def _from_bio(m) -> Motif:
    counts = np.array([m.counts[b] for b in BASES], dtype=np.float64).T
    return Motif(str(m.matrix_id), str(m.name), counts)


# ----------------------------------------------------------------------------- files
def _open_text(path: Path) -> list[str]:
    if not path.exists():
        raise InputError("file not found", path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise InputError(f"cannot read motif file ({e})", path) from None


def guess_format(lines: Sequence[str]) -> str:
    """'meme' if the file has a MEME header or MOTIF lines, 'homer' if headers are followed by
    four-column rows, else 'jaspar'."""
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.startswith("MEME version") or s.startswith("MOTIF "):
            return "meme"
        if s.startswith(">"):
            nxt = next((x.strip() for x in lines[i + 1 :] if x.strip()), "")
            if re.match(r"^[ACGT]\s*[\[:]", nxt, re.IGNORECASE):
                return "jaspar"
            if len(nxt.split()) == 4 and len(s[1:].split("\t")) >= 2:
                return "homer"
            return "jaspar"
    return "jaspar"


def _numbers(text: str, path: Path, lineno: int, what: str) -> list[float]:
    try:
        vals = [float(x) for x in text.replace("[", " ").replace("]", " ").split()]
    except ValueError:
        raise InputError(f"line {lineno}: {what}: expected numbers, got {text.strip()!r}", path) from None
    if any(not np.isfinite(v) or v < 0 for v in vals):
        raise InputError(f"line {lineno}: {what}: values must be finite and >= 0", path)
    return vals


def parse_jaspar(lines: Sequence[str], path: Path) -> list[Motif]:
    """JASPAR format: '>ID name' then four rows 'A [ ... ]' (letters optional: raw .pfm)."""
    motifs: list[Motif] = []
    header: tuple[str, str, int] | None = None
    rows: list[tuple[int, list[float]]] = []

    def flush() -> None:
        if header is None:
            return
        mid, name, hline = header
        if len(rows) != 4:
            raise InputError(f"line {hline}: motif {mid}: expected 4 rows (A, C, G, T), got {len(rows)}", path)
        widths = {len(r) for _, r in rows}
        if len(widths) != 1 or 0 in widths:
            raise InputError(
                f"line {rows[0][0]}: motif {mid}: rows have different or zero lengths {sorted(widths)}", path
            )
        motifs.append(Motif(mid, name, np.array([r for _, r in rows]).T))

    for lineno, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith(">"):
            flush()
            parts = s[1:].split(None, 1)
            if not parts:
                raise InputError(f"line {lineno}: empty motif header", path)
            mid = parts[0]
            name = parts[1].strip() if len(parts) > 1 else mid
            header, rows = (mid, name, lineno), []
            continue
        if header is None:
            raise InputError(f"line {lineno}: matrix row before any '>' motif header", path)
        m = re.match(r"^([ACGTacgt])\s*:?\s*(.*)$", s)
        if m:
            base = m.group(1).upper()
            if base != BASES[len(rows) % 4] or len(rows) >= 4:
                raise InputError(f"line {lineno}: expected row {BASES[len(rows)] if len(rows) < 4 else '(none)'}, "
                                 f"got {base}", path)
            body = m.group(2)
        else:
            if len(rows) >= 4:
                raise InputError(f"line {lineno}: motif {header[0]} has more than 4 rows", path)
            body = s
        rows.append((lineno, _numbers(body, path, lineno, f"motif {header[0]}")))
    flush()
    return motifs


def parse_meme(lines: Sequence[str], path: Path) -> list[Motif]:
    """MEME minimal format: 'MOTIF id [name]' then 'letter-probability matrix: ... w= W' rows."""
    motifs: list[Motif] = []
    i = 0
    n = len(lines)
    alphabet_ok = True
    while i < n:
        s = lines[i].strip()
        if s.startswith("ALPHABET"):
            alph = s.split("=", 1)[-1].strip().upper()
            alphabet_ok = alph.startswith("ACGT") or alph == ""
            if not alphabet_ok:
                raise InputError(f"line {i + 1}: only the DNA alphabet ACGT is supported, got {alph!r}", path)
        if s.startswith("MOTIF"):
            parts = s.split()
            if len(parts) < 2:
                raise InputError(f"line {i + 1}: MOTIF line without an identifier", path)
            mid = parts[1]
            name = parts[2] if len(parts) > 2 else mid
            hline = i + 1
            i += 1
            while i < n and not lines[i].strip().startswith("letter-probability matrix"):
                if lines[i].strip().startswith("MOTIF"):
                    raise InputError(f"line {hline}: motif {mid} has no letter-probability matrix", path)
                i += 1
            if i >= n:
                raise InputError(f"line {hline}: motif {mid} has no letter-probability matrix", path)
            mline = lines[i]
            w_match = re.search(r"\bw\s*=\s*(\d+)", mline)
            i += 1
            rows = []
            while i < n:
                t = lines[i].strip()
                if not t:
                    if rows:
                        break
                    i += 1
                    continue
                if not re.match(r"^[-+0-9.eE]", t):
                    break
                vals = _numbers(t, path, i + 1, f"motif {mid}")
                if len(vals) != 4:
                    raise InputError(f"line {i + 1}: motif {mid}: expected 4 probabilities, got {len(vals)}", path)
                rows.append(vals)
                i += 1
                if w_match and len(rows) == int(w_match.group(1)):
                    break
            if not rows:
                raise InputError(f"line {hline}: motif {mid} has an empty matrix", path)
            if w_match and len(rows) != int(w_match.group(1)):
                raise InputError(
                    f"line {hline}: motif {mid}: header says w= {w_match.group(1)} but {len(rows)} rows follow", path
                )
            motifs.append(Motif(mid, name, np.array(rows)))
            continue
        i += 1
    return motifs


def parse_homer(lines: Sequence[str], path: Path) -> list[Motif]:
    """HOMER format: '>consensus<TAB>name<TAB>log-odds threshold...' then rows of A C G T."""
    motifs: list[Motif] = []
    cur: tuple[str, str, int] | None = None
    rows: list[list[float]] = []

    def flush() -> None:
        if cur is None:
            return
        if not rows:
            raise InputError(f"line {cur[2]}: motif {cur[1]} has no matrix rows", path)
        motifs.append(Motif(cur[0], cur[1], np.array(rows)))

    for lineno, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            continue
        if s.startswith(">"):
            flush()
            fields = s[1:].split("\t")
            cons = fields[0].strip()
            name = fields[1].strip() if len(fields) > 1 and fields[1].strip() else cons
            cur, rows = (name, name.split("/")[0], lineno), []
            continue
        if cur is None:
            raise InputError(f"line {lineno}: matrix row before any '>' motif header", path)
        vals = _numbers(s, path, lineno, f"motif {cur[1]}")
        if len(vals) != 4:
            raise InputError(f"line {lineno}: motif {cur[1]}: expected 4 values (A C G T), got {len(vals)}", path)
        rows.append(vals)
    flush()
    return motifs


def read_motif_file(path: str | Path, fmt: str | None = None) -> list[Motif]:
    """Read motifs from a JASPAR, MEME or HOMER file (format guessed when ``fmt`` is None)."""
    path = Path(path)
    lines = _open_text(path)
    fmt = fmt or guess_format(lines)
    if fmt not in FORMATS:
        raise ParameterError(f"motif format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    parser = {"jaspar": parse_jaspar, "meme": parse_meme, "homer": parse_homer}[fmt]
    motifs = parser(lines, path)
    if not motifs:
        raise InputError(f"no motifs found (read as {fmt} format)", path)
    for m in motifs:
        c = m.counts
        if not np.isfinite(c).all() or (c < 0).any() or (c.sum(axis=1) <= 0).any():
            raise InputError(f"motif {m.id}: every position needs finite, non-negative counts with a "
                             "positive total (an all-zero column cannot be scored)", path)
    return unique_ids(motifs)


def unique_ids(motifs: Iterable[Motif]) -> list[Motif]:
    """Make motif ids unique by suffixing repeats with .2, .3, ..."""
    seen: dict[str, int] = {}
    out = []
    for m in motifs:
        c = seen.get(m.id, 0) + 1
        seen[m.id] = c
        out.append(m if c == 1 else Motif(f"{m.id}.{c}", m.name, m.counts))
    return out


def load_motifs(
    motif_file: str | Path | None = None,
    motif_format: str | None = None,
    release: str = DEFAULT_RELEASE,
    collection: str = DEFAULT_COLLECTION,
    taxon: str | None = DEFAULT_TAXON,
) -> list[Motif]:
    """Motifs from a file when given, else from the bundled JASPAR release."""
    if motif_file is not None:
        return read_motif_file(motif_file, motif_format)
    return jaspar_motifs(release, collection, taxon)


# ----------------------------------------------------------------------------- writers
def format_meme(motifs: Sequence[Motif]) -> str:
    """Motifs as a MEME minimal-format text."""
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
           "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for m in motifs:
        p = m.probabilities(pseudocount=0.0)
        nsites = int(round(m.counts.sum(axis=1).max())) if m.counts.sum(axis=1).max() > 1.5 else 20
        out.append(f"MOTIF {m.id} {m.name}")
        out.append(f"letter-probability matrix: alength= 4 w= {m.width} nsites= {nsites} E= 0")
        out += ["  " + "  ".join(f"{v:.6f}" for v in row) for row in p]
        out.append("")
    return "\n".join(out)


def format_jaspar(motifs: Sequence[Motif]) -> str:
    """Motifs in JASPAR format (counts as stored)."""
    out = []
    for m in motifs:
        out.append(f">{m.id}\t{m.name}")
        for b in range(4):
            out.append(f"{BASES[b]}  [ " + " ".join(f"{v:g}" for v in m.counts[:, b]) + " ]")
    return "\n".join(out) + "\n"


def write_motifs(motifs: Sequence[Motif], path: str | Path, fmt: str = "meme") -> None:
    """Write motifs atomically as MEME or JASPAR text."""
    text = {"meme": format_meme, "jaspar": format_jaspar}[fmt](motifs)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
