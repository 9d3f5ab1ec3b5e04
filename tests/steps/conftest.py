"""Fixtures of the step tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sim_h5ads(tmp_path_factory) -> list[Path]:
    """Two small simulated datasets written as prepared .h5ad files."""
    from cellspace.io import write_h5ad
    from cellspace.simulate import small_simulation

    folder = tmp_path_factory.mktemp("sim_h5ads")
    sim = small_simulation(1, n_cells=120, n_events=250, n_datasets=2)
    paths = []
    for ds in sim.datasets:
        paths.append(write_h5ad(ds, folder / f"{ds.name}.h5ad"))
    return paths
