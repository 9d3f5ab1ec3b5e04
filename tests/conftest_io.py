"""Small simulated inputs for the I/O tests (imported by test_io.py and test_bad_input.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import cellspace.cli
from cellspace.io.mtx import write_mtx_pair


def random_seqs(rng: np.random.Generator, n: int, length: int = 60) -> list[str]:
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    return [letters[rng.integers(0, 4, length)].tobytes().decode() for _ in range(n)]


def count_matrix(
    rng: np.random.Generator, n_cells: int, n_events: int, density: float = 0.3
) -> sp.csr_matrix:
    """cells x events counts (1..4) where every event and every cell has at least one entry."""
    dense = (rng.random((n_cells, n_events)) < density) * rng.integers(1, 5, (n_cells, n_events))
    for j in range(n_events):
        if not dense[:, j].any():
            dense[rng.integers(n_cells), j] = 1
    for i in range(n_cells):
        if not dense[i].any():
            dense[i, rng.integers(n_events)] = 2
    return sp.csr_matrix(dense)


def make_pair(
    folder: Path,
    stem: str = "toy",
    *,
    n_cells: int = 12,
    n_events: int = 20,
    seed: int = 0,
    gz: bool = False,
    seqs: Sequence[str] | None = None,
    matrix: sp.spmatrix | None = None,
) -> tuple[Path, Path, sp.csr_matrix, list[str], list[str]]:
    """Write ``stem.mtx`` + ``stem.fa`` (gz when asked); returns paths, matrix, event ids, seqs."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    m = sp.csr_matrix(matrix) if matrix is not None else count_matrix(rng, n_cells, n_events)
    seqs = list(seqs) if seqs is not None else random_seqs(rng, m.shape[1])
    ids = [f"{stem}_peak{j}" for j in range(m.shape[1])]
    sfx = ".gz" if gz else ""
    mtx, fa = folder / f"{stem}.mtx{sfx}", folder / f"{stem}.fa{sfx}"
    write_mtx_pair(m, mtx, fa, sequences=seqs, event_ids=ids)
    return mtx, fa, m, ids, seqs


def toy_genome(seed: int = 1) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    return {"chr1": random_seqs(rng, 1, 3000)[0], "chr2": random_seqs(rng, 1, 1500)[0]}


TOY_PEAKS = [("chr1", 100, 400), ("chr1", 1000, 1250), ("chr2", 0, 200), ("chr2", 1300, 1500),
             ("chr1", 2500, 3000)]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``cellspace.cli.main`` with only the prepare subcommand; returns (rc, stdout, stderr)."""
    monkeypatch.setattr(cellspace.cli, "SUBCOMMANDS", ["steps.prepare_dataset"])

    def run(argv: Sequence[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = cellspace.cli.main([str(a) for a in argv])
        except SystemExit as e:  # argparse usage errors
            rc = int(e.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err

    return run
