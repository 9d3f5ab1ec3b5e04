"""Simulated scATAC-seq with known TF programs: the test bed of the project.

Events are cut from real fly regulatory DNA (a vendored dm3 subset), any FASTA, or random DNA.
Each cell type (or trajectory state) has 2-3 active JASPAR TFs; an event's opening
probability in a cell rises with PWM hits (scanned on both strands, plus planted sites) of
the TFs active in that cell, on top of a baseline, per-cell library size and donor effects.

>>> from cellspace.simulate import SimulationParams, simulate
>>> sim = simulate(SimulationParams(seed=1, n_cells=200, n_events=500))  # doctest: +SKIP
>>> sim.datasets[0].obs["cell_type"].value_counts()  # doctest: +SKIP
>>> sim.truth.tfs  # cell type -> active TFs with JASPAR matrix ids  # doctest: +SKIP
"""

from cellspace.simulate.core import Simulation, SimulationTruth, simulate, small_simulation
from cellspace.simulate.params import SimulationParams
from cellspace.simulate.writer import write_simulation

__all__ = [
    "Simulation",
    "SimulationParams",
    "SimulationTruth",
    "simulate",
    "small_simulation",
    "write_simulation",
]
