"""The interface every competing embedding method implements, and how methods are run.

A method takes an AnnData of cells x events (counts or binary; ``var["sequence"]`` holds the
event sequences for sequence-based methods; an ``obs`` batch column for batch-aware methods)
and returns a cells x d embedding. :func:`run_method` stores it in ``obsm[f"X_{name}"]`` and
records the run time and the peak memory in ``uns["bench_runs"][name]``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import resource
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from cellspace.errors import CellSpaceError, InputError, ParameterError

log = logging.getLogger(__name__)


class MissingDependencyError(CellSpaceError):
    """A method needs an optional dependency that is not installed."""


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that cannot be imported."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require_modules(what: str, modules: tuple[str, ...], extra: str | None) -> None:
    """One-line :class:`MissingDependencyError` naming the pip extra when a module is missing."""
    missing = missing_modules(modules)
    if missing:
        hint = f"pip install 'cellspace[{extra}]'" if extra else "install them"
        raise MissingDependencyError(f"{what} needs {', '.join(missing)}, not installed: {hint}")


class Method:
    """Base class: subclasses set the class attributes and implement :meth:`embed`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    metric: ClassVar[str] = "euclidean"  # distance for kNN/clustering of the embedding
    uses_batch: ClassVar[bool] = False
    needs_sequence: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules needed
    extra: ClassVar[str | None] = None  # pip extra that installs them

    def missing_dependencies(self) -> list[str]:
        return missing_modules(self.requires)

    def check_available(self) -> None:
        require_modules(f"method {self.name!r}", self.requires, self.extra)

    def embed(self, adata: AnnData, *, batch_key: str | None = None, seed: int = 0,
              **params: Any) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<method {self.name}>"


@dataclass
class MethodRun:
    """One method's result: embedding, wall time (s), peak memory (bytes) and parameters."""

    name: str
    embedding: np.ndarray
    seconds: float
    peak_memory: int
    memory_mode: str
    params: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- input helpers
def counts_matrix(adata: AnnData, binary: bool = False) -> sp.csr_matrix:
    """cells x events counts as float32 CSR (binarised when ``binary``)."""
    X = adata.X
    if X is None:
        raise InputError("AnnData has no X matrix (cells x events)")
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    X.sum_duplicates()
    if binary:
        X.data = (X.data != 0).astype(np.float32)
        X.eliminate_zeros()
    return X


def event_sequences(adata: AnnData, method: str) -> list[str]:
    """Event sequences from ``var["sequence"]`` (required by sequence-based methods)."""
    if "sequence" not in adata.var:
        raise InputError(f"method {method!r} needs event sequences in var['sequence']")
    return [str(s) for s in adata.var["sequence"].to_numpy()]


def batch_labels(adata: AnnData, batch_key: str | None, method: str) -> np.ndarray:
    if batch_key is None:
        raise ParameterError(f"method {method!r} corrects batches: give a batch column (batch_key)")
    if batch_key not in adata.obs:
        raise InputError(f"batch column {batch_key!r} not in obs (method {method!r})")
    return adata.obs[batch_key].astype(str).to_numpy()


def cluster(X: np.ndarray, *, resolution: float | None = None, n_clusters: int | None = None,
            metric: str = "euclidean", seed: int = 0, n_neighbors: int = 20) -> np.ndarray:
    """Clusters of an embedding with the project's shared clustering (Louvain on SNN)."""
    from cellspace.analysis.clustering import cluster_embedding

    return np.asarray(cluster_embedding(
        X, n_neighbors=n_neighbors, metric=metric, method="louvain", resolution=resolution,
        n_clusters=n_clusters, seed=seed,
    ))


# --------------------------------------------------------------------------- running
def _call(method: Method, adata: AnnData, batch_key: str | None, seed: int,
          params: Mapping[str, Any]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    emb = np.asarray(method.embed(adata, batch_key=batch_key, seed=seed, **dict(params)))
    return emb, time.perf_counter() - t0


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux: ``5`` into /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _proc_status_kib("VmHWM") >= 0
    except OSError:
        return False


def _proc_status_kib(field_name: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return -1


def _child(name: str, adata: AnnData, batch_key: str | None, seed: int,
           params: dict) -> tuple[np.ndarray, float, int]:
    from cellspace.bench.methods import get_method

    method = get_method(name)
    if _reset_peak_rss():  # increase over the resident size after imports and data loading
        base = _proc_status_kib("VmRSS")
        emb, secs = _call(method, adata, batch_key, seed, params)
        return emb, secs, max(0, _proc_status_kib("VmHWM") - base) * 1024
    emb, secs = _call(method, adata, batch_key, seed, params)
    return emb, secs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_COMMON = ("self", "adata", "batch_key", "seed")


def parse_method_params(items: Sequence[str]) -> dict[str, Any]:
    """{name: value} of ``name=value`` strings; a value is read as JSON when it parses (numbers,
    true/false, lists), else kept as a string."""
    out: dict[str, Any] = {}
    for it in items:
        if "=" not in it:
            raise ParameterError(f"--param must look like name=value, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def check_method_params(method: Method, params: Mapping[str, Any]) -> None:
    """Unknown or ill-typed method parameters are usage errors, raised before any work.

    The names a method takes are the keywords of its ``embed``; a method whose ``embed``
    collects the rest in ``**_`` ignores them, so those are refused here. Methods that pass
    ``**params`` on (CellSpace, SIMBA, PeakVI, scBasset) check them where they are used.
    """
    sig = inspect.signature(method.embed)
    named = {n: p for n, p in sig.parameters.items()
             if n not in _COMMON and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    rest = [p for p in sig.parameters.values() if p.kind is p.VAR_KEYWORD]
    unknown = sorted(set(params) - set(named))
    if unknown and (not rest or rest[0].name == "_"):
        known = ", ".join(sorted(named)) or "none"
        raise ParameterError(
            f"method {method.name!r} has no parameter(s) {', '.join(unknown)} (known: {known})"
        )
    for name, value in params.items():
        if name not in named:
            continue
        default = named[name].default
        if default is None or default is inspect.Parameter.empty:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise ParameterError(
                f"method {method.name!r} parameter {name}: expected {type(default).__name__}, got {value!r}"
            )


def run_method(
    adata: AnnData,
    method: Method | str,
    *,
    batch_key: str | None = None,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    memory: str = "child",
    key: str | None = None,
) -> MethodRun:
    """Run ``method`` on ``adata``; store ``obsm[key or f"X_{name}"]`` and
    ``uns["bench_runs"][name]`` (seconds, peak memory in MiB, memory mode, metric, params).

    ``memory`` (how the peak is measured):

    * "child" (default): the method runs in a fresh (spawned) process; the peak resident set
      size is reset once the data are loaded and its increase is reported. Counts every
      allocation (torch's included) and is not fooled by memory freed earlier in this process;
      costs one process start (a few seconds, not included in the run time).
    * "rss": the same in this process; fast, but memory that earlier work freed and the
      allocator kept is reused without raising the peak, so it under-reports after other work.
    * "tracemalloc": peak of Python/NumPy allocations in this process; slows Python-heavy code.

    Where the peak RSS cannot be reset (not Linux), "rss" falls back to "tracemalloc" and
    "child" reports the child's whole peak RSS."""
    from cellspace.bench.methods import get_method

    m = get_method(method) if isinstance(method, str) else method
    m.check_available()
    check_method_params(m, dict(params or {}))
    if m.uses_batch:
        batch_labels(adata, batch_key, m.name)
    if m.needs_sequence:
        event_sequences(adata, m.name)
    params = dict(params or {})
    if memory == "rss" and not _reset_peak_rss():
        memory = "tracemalloc"
    if memory == "rss":
        base = _proc_status_kib("VmRSS")
        emb, secs = _call(m, adata, batch_key, seed, params)
        peak = max(0, _proc_status_kib("VmHWM") - base) * 1024
    elif memory == "tracemalloc":
        started = tracemalloc.is_tracing()
        if not started:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            emb, secs = _call(m, adata, batch_key, seed, params)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            if not started:
                tracemalloc.stop()
    elif memory == "child":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
            emb, secs, peak = ex.submit(_child, m.name, adata, batch_key, seed, params).result()
    else:
        raise ParameterError(f"memory must be 'rss', 'tracemalloc' or 'child', got {memory!r}")
    if emb.ndim != 2 or emb.shape[0] != adata.n_obs:
        raise CellSpaceError(f"method {m.name!r} returned shape {emb.shape} for {adata.n_obs} cells")
    if not np.isfinite(emb).all():
        raise CellSpaceError(f"method {m.name!r} returned non-finite values")
    adata.obsm[key or f"X_{m.name}"] = emb.astype(np.float32)
    runs = dict(adata.uns.get("bench_runs", {}))
    runs[m.name] = {
        "seconds": float(secs), "peak_memory_mib": float(peak) / 2**20, "memory_mode": memory,
        "metric": m.metric, "batch_key": batch_key or "", "seed": int(seed),
        "params": {k: (v if isinstance(v, int | float | str | bool) else str(v))
                   for k, v in params.items()},
    }
    adata.uns["bench_runs"] = runs
    log.info("%s: %d x %d embedding in %.1f s, peak %.0f MiB (%s)", m.name, *emb.shape, secs,
             peak / 2**20, memory)
    return MethodRun(m.name, emb, float(secs), int(peak), memory, params)
