"""Trajectories with Palantir on the CellSpace space: pseudotime, entropy, fate probabilities.

The cell vectors are L2-normalised (so Euclidean distances follow cosine similarity), turned
into diffusion components and a multiscale space by Palantir, and Palantir runs from a start
cell: one given by id, the cell of a given group (``key=value``) at an extreme of the diffusion space, or, when neither is
given, an extreme cell of the first diffusion component (Palantir's usual choice; give the start
when the biology says where it is). Terminal states are found by Palantir unless given.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cellspace.errors import ParameterError
from cellspace.model import l2_normalize

log = logging.getLogger(__name__)


@dataclass
class TrajectoryResult:
    start_cell: str
    pseudotime: pd.Series
    entropy: pd.Series
    fate_probabilities: pd.DataFrame  # cells x terminal cells
    terminal_states: list[str]
    diffusion: pd.DataFrame  # multiscale diffusion space
    waypoints: list[str]


def _quiet_palantir():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import palantir
    logging.getLogger("palantir").setLevel(logging.WARNING)
    return palantir


def diffusion_maps(x: np.ndarray, cell_ids: Sequence[str], n_components: int = 10, knn: int = 30,
                   seed: int = 0) -> dict:
    """Palantir's diffusion maps of L2-normalised cell vectors."""
    palantir = _quiet_palantir()
    df = pd.DataFrame(l2_normalize(np.asarray(x, np.float32)), index=pd.Index([str(c) for c in cell_ids]))
    n_components = max(3, min(n_components, len(df) - 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # exact sklearn kNN: scanpy's approximate path (used above 4,096 cells) breaks with
        # scipy >= 1.15 sparse arrays, and needs a numba compilation
        return palantir.utils.run_diffusion_maps(df, n_components=n_components, knn=min(knn, len(df) - 1),
                                                 seed=seed, kernel_backend="sklearn")


def multiscale(dm: dict, n_eigs: int | None = None) -> pd.DataFrame:
    """Multiscale space of diffusion maps (``n_eigs`` None: Palantir's eigen-gap choice)."""
    palantir = _quiet_palantir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return palantir.utils.determine_multiscale_space(dm, n_eigs=n_eigs)


def extreme_cell(ms: pd.DataFrame, mask: np.ndarray) -> int:
    """A cell of ``mask`` at an extreme of the diffusion space, as Palantir's ``early_cell``: the
    first component whose overall maximum or minimum is a cell of the group; else the group's
    cell with the most extreme standardised component value."""
    ev = ms.to_numpy()
    for d in range(ev.shape[1]):
        for i in (int(np.argmax(ev[:, d])), int(np.argmin(ev[:, d]))):
            if mask[i]:
                return i
    z = (ev - ev.mean(axis=0)) / np.where(ev.std(axis=0) > 0, ev.std(axis=0), 1.0)
    idx = np.flatnonzero(mask)
    return int(idx[np.argmax(np.abs(z[idx]).max(axis=1))])


def group_medoid(x: np.ndarray, mask: np.ndarray) -> int:
    """Index of the cell of ``mask`` with the highest mean cosine to the group's other cells."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        raise ParameterError("the start group has no cells")
    xn = l2_normalize(np.asarray(x, np.float32)[idx])
    centre = xn.mean(axis=0)
    return int(idx[np.argmax(xn @ centre)])


def choose_start(
    adata, x: np.ndarray, ms: pd.DataFrame, start_cell: str | None, start_group: str | None,
    group_start: str = "extreme",
) -> str:
    """The start cell id: explicit; for ``key=value`` the group's cell at an extreme of the
    diffusion space (``group_start="extreme"``, Palantir's rule) or its medoid ("medoid"); else
    an extreme of diffusion component 1."""
    if start_cell is not None:
        if start_cell not in adata.obs_names:
            raise ParameterError(f"start cell {start_cell!r} is not among the cells")
        return str(start_cell)
    if start_group is not None:
        if "=" not in start_group:
            raise ParameterError(f"start group must look like KEY=VALUE, got {start_group!r}")
        key, value = start_group.split("=", 1)
        if key not in adata.obs.columns:
            raise ParameterError(f"start group: no obs column {key!r}")
        mask = adata.obs[key].astype(str).to_numpy() == value
        if not mask.any():
            raise ParameterError(f"start group: no cell has {key} = {value!r}")
        if group_start == "medoid":
            return str(adata.obs_names[group_medoid(x, mask)])
        return str(adata.obs_names[extreme_cell(ms, mask)])
    dc1 = ms.iloc[:, 0].to_numpy()
    cell = str(ms.index[int(np.argmax(dc1))])
    log.warning("no start cell given: using %s, an extreme of diffusion component 1 "
                "(use --start-cell or --start-group KEY=VALUE to choose)", cell)
    return cell


def _palantir(ms: pd.DataFrame, start: str, terminal_states, knn: int, num_waypoints: int, seed: int):
    palantir = _quiet_palantir()
    # Palantir reports progress with print(): keep it off stdout, log it at debug level
    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
        warnings.simplefilter("ignore")
        res = palantir.core.run_palantir(
            ms, start, terminal_states=list(terminal_states) if terminal_states else None,
            knn=min(knn, len(ms) - 1), num_waypoints=min(num_waypoints, len(ms)), n_jobs=1, seed=seed,
        )
    log.debug("palantir: %s", " | ".join(line for line in buf.getvalue().splitlines() if line.strip()))
    return res


def run_palantir(
    adata,
    use_rep: str = "X_cellspace",
    start_cell: str | None = None,
    start_group: str | None = None,
    terminal_states: Sequence[str] | None = None,
    n_components: int = 10,
    n_eigs: int | None = None,
    knn: int = 30,
    num_waypoints: int = 1200,
    group_start: str = "extreme",
    seed: int = 0,
) -> TrajectoryResult:
    """Palantir on ``adata.obsm[use_rep]``; writes obs ``palantir_pseudotime``,
    ``palantir_entropy``, obsm ``palantir_fate_probabilities`` and ``uns["palantir"]``.

    With ``n_eigs`` None the multiscale space uses Palantir's eigen-gap choice; when Palantir
    then finds fewer than two terminal states (and none were given), every number of
    eigenvectors from 3 to ``n_components`` is tried and the run with the most terminal states
    is kept (ties: fewer eigenvectors).
    """
    from cellspace.analysis.validate import embedding_of

    x = embedding_of(adata, use_rep)
    ids = [str(c) for c in adata.obs_names]
    if len(ids) < 20:
        raise ParameterError(f"trajectory analysis needs at least 20 cells, have {len(ids)}")
    dm = diffusion_maps(x, ids, n_components, knn, seed)
    ms = multiscale(dm, n_eigs)
    start = choose_start(adata, x, ms, start_cell, start_group, group_start)
    if terminal_states:
        missing = [c for c in terminal_states if c not in ms.index]
        if missing:
            raise ParameterError(f"terminal cells not among the cells: {', '.join(missing[:5])}")
    res = _palantir(ms, start, terminal_states, knn, num_waypoints, seed)
    used_eigs = n_eigs
    if n_eigs is None and not terminal_states and res.branch_probs.shape[1] < 2:
        n_dc = dm["EigenVectors"].shape[1]
        best = (res.branch_probs.shape[1], 0, ms, res, None)
        for ne in range(3, n_dc + 1):
            ms_try = multiscale(dm, ne)
            start_try = choose_start(adata, x, ms_try, start_cell, start_group, group_start)
            r = _palantir(ms_try, start_try, None, knn, num_waypoints, seed)
            if r.branch_probs.shape[1] > best[0]:
                best = (r.branch_probs.shape[1], -ne, ms_try, r, ne)
                start = start_try
        _, _, ms, res, used_eigs = best
        log.info("Palantir found %d terminal states with %s eigenvectors", res.branch_probs.shape[1],
                 used_eigs if used_eigs else "the eigen-gap choice of")
    fates = res.branch_probs.reindex(ms.index)
    fates.columns = [str(c) for c in fates.columns]
    out = TrajectoryResult(
        start_cell=start,
        pseudotime=res.pseudotime.reindex(ms.index),
        entropy=res.entropy.reindex(ms.index),
        fate_probabilities=fates,
        terminal_states=list(fates.columns),
        diffusion=ms,
        waypoints=[str(w) for w in res.waypoints],
    )
    adata.obs["palantir_pseudotime"] = out.pseudotime.to_numpy()
    adata.obs["palantir_entropy"] = out.entropy.to_numpy()
    adata.obsm["palantir_fate_probabilities"] = fates.to_numpy(dtype=np.float32)
    adata.obsm["X_palantir_multiscale"] = ms.to_numpy(dtype=np.float32)
    adata.uns["palantir"] = {
        "start_cell": start,
        "terminal_states": np.asarray(out.terminal_states, dtype=str),
        "use_rep": use_rep,
        "n_components": int(n_components),
        "n_eigs": -1 if used_eigs is None else int(used_eigs),
        "knn": int(knn),
        "num_waypoints": int(num_waypoints),
        "seed": int(seed),
    }
    return out


def terminal_state_labels(result: TrajectoryResult, labels: pd.Series) -> pd.DataFrame:
    """Terminal cells with their label (e.g. cell type) and the number of cells they attract
    (cells whose most probable fate they are)."""
    fates = result.fate_probabilities
    winner = fates.to_numpy().argmax(axis=1)
    rows = []
    for j, cell in enumerate(fates.columns):
        rows.append({"terminal_cell": cell, "label": str(labels.get(cell, "")),
                     "n_cells_most_probable": int((winner == j).sum())})
    return pd.DataFrame(rows)
