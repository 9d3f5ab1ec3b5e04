"""Cells: discrete cell types, or positions on a branching tree with TF activity along pseudotime.

Discrete mode: each cell has one type; its program's TFs have activity 1, all others 0.

Trajectory mode: state 0 is the root, states 1.. are terminal states, one per branch.
Pseudotime is uniform on [0, 1]; cells before ``branch_point`` are on the root segment,
later cells on one branch (chosen uniformly). Along a branch, with progress
q = (t - branch_point) / (1 - branch_point), the root program fades (weight 1 - q) while the
branch's terminal program rises (weight q). A cell's ``cell_type`` is its dominant state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Cells:
    """Cell-level design of one dataset."""

    type_index: np.ndarray  # int, dominant state / type of each cell
    state_weights: np.ndarray  # float (n_cells, n_types): program weights
    pseudotime: np.ndarray | None = None
    branch: np.ndarray | None = None  # int: 0 = root segment, b = branch b (1-based)


def discrete_cells(n_cells: int, n_types: int, concentration: float, rng: np.random.Generator) -> Cells:
    props = rng.dirichlet(np.full(n_types, concentration))
    t = rng.choice(n_types, size=n_cells, p=props)
    # every type present: the first n_types cells (in random positions) take each type once
    if n_cells >= n_types:
        slots = rng.choice(n_cells, size=n_types, replace=False)
        t[slots] = np.arange(n_types)
    w = np.zeros((n_cells, n_types))
    w[np.arange(n_cells), t] = 1.0
    return Cells(type_index=t, state_weights=w)


def trajectory_cells(n_cells: int, n_types: int, branch_point: float, rng: np.random.Generator) -> Cells:
    n_branches = n_types - 1
    t = np.sort(rng.random(n_cells))
    branch = np.where(t < branch_point, 0, rng.integers(1, n_branches + 1, size=n_cells))
    q = np.clip((t - branch_point) / (1.0 - branch_point), 0.0, 1.0)
    w = np.zeros((n_cells, n_types))
    w[:, 0] = np.where(branch == 0, 1.0, 1.0 - q)
    on = branch > 0
    w[np.flatnonzero(on), branch[on]] = q[on]
    dominant = np.where(on & (q >= 0.5), branch, 0)
    perm = rng.permutation(n_cells)  # cells in random order, not sorted by pseudotime
    return Cells(type_index=dominant[perm], state_weights=w[perm], pseudotime=t[perm], branch=branch[perm])


def tf_activity(cells: Cells, programs: list[list[int]], n_tfs: int) -> np.ndarray:
    """(n_cells, n_tfs) activity in [0, 1]: sum of state weights of programs containing the TF."""
    member = np.zeros((len(programs), n_tfs))
    for s, prog in enumerate(programs):
        member[s, prog] = 1.0
    return np.clip(cells.state_weights @ member, 0.0, 1.0)
