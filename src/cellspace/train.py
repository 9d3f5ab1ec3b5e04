"""Training: turn datasets into the trainer's flat arrays and run epochs of the Cython core.

The Python side prepares everything once (packed sequences, token counts, event -> cell CSR,
negative pools, the embedding table) and fills one :class:`cellspace._core.TrainConfig`; each
epoch then runs entirely inside :func:`cellspace._core.train_range` without the GIL. Memory is
constant across epochs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellspace import _core
from cellspace._version import __version__
from cellspace.atomic import atomic_path
from cellspace.dataset import Dataset, TrainingData, combine
from cellspace.errors import InputError, ParameterError
from cellspace.kmers import check_train_k, kmer_row_table, n_kmer_rows
from cellspace.memory import log_memory, release_free_memory
from cellspace.model import CellSpaceModel, l2_normalize
from cellspace.negatives import NegativePools, negative_groups, reference_pools

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
INFERRED_BATCH_KEY = "cellspace_inferred_batch"  # obs column of the batches the pilot inferred
NORM_KEY = "cellspace_norm"  # obs column of the cell rows' norms (X_cellspace holds unit rows)


def sample_len_arg(value: str) -> int:
    """``--sample-len``: an integer, or ``given`` (0: the whole event)."""
    if value == "given":
        return 0
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'given', got {value!r}") from None


@dataclass
class TrainParams:
    """Training parameters; defaults are the reference tool's (algorithm.md, section 8)."""

    dim: int = field(default=30, metadata={"help": "embedding dimension"})
    ngrams: int = field(default=3, metadata={"help": "n-grams of consecutive k-mers (1 = k-mers only)"})
    k: int = field(default=8, metadata={"help": "k-mer length (2..15; <= 13 to train)"})
    sample_len: int = field(default=150, metadata={  # 0 = use the whole event ("given")
        "help": "length of the sequence sampled from an event per example; 'given' = whole event",
        "type": sample_len_arg, "metavar": "BP|given"})
    examples_per_event: int = field(default=20, metadata={"help": "examples per event per epoch"})
    epochs: int = field(default=50, metadata={"help": "training epochs"})
    margin: float = field(default=0.05, metadata={"help": "margin of the ranking loss"})
    bucket: int = field(default=2_000_000, metadata={"help": "n-gram hash buckets"})
    lr: float = field(default=0.01, metadata={"help": "initial learning rate (decays linearly to 0)"})
    neg_search_limit: int = field(default=50, metadata={"help": "negative candidates drawn per example"})
    max_neg_samples: int = field(default=10, metadata={"help": "most violating negatives used per example"})
    init_sd: float = field(default=0.001, metadata={"help": "s.d. of the normal initialisation"})
    batch_size: int = field(default=5, metadata={"help": "examples per mini-batch"})
    threads: int = field(default_factory=lambda: max(1, len(os.sched_getaffinity(0))),
                         metadata={"help": "training threads (default: CPUs available)"})
    seed: int = field(default=0, metadata={"help": "random seed (1 thread: bit-reproducible)"})
    # from the inputs' --batch-key
    batch_key: str | None = field(default=None, metadata={"cli": False})
    # keep each negative group's mean cell row on the mean of all cell rows during training
    # (centre_groups); off by default: it misplaces cells when groups differ in type proportions
    centre: bool = field(default=False, metadata={"help": (
        "keep each dataset's (with --batch-key: each batch's) mean cell vector on the overall mean "
        "during training (hurts when their cell-type proportions differ; see docs/design.md)")})
    # several datasets: train every cell also on events of the other atlases that its sequence
    # partners open (cellspace.bridges; docs/design.md, "Bridges between atlases")
    bridge_weight: float = field(default=0.25, metadata={"help": (
        "with several datasets: bridged events per cell, as a multiple of its own open events, "
        "drawn from the events open in its nearest cells of the other datasets by k-mer profile "
        "(0 = off; one dataset, or mapping with frozen sequence rows: never; docs/design.md)")})
    bridge_start: int = field(default=5, metadata={"help": "epoch at which the bridges are first built"})
    bridge_every: int = field(default=5, metadata={"help": "epochs between rebuilds of the bridges"})
    # a pilot of this many epochs, batches found in its embedding (cellspace.pseudo_batches),
    # then the training from scratch with negatives within them (with labels: within the labelled
    # batches but for type events, when the pilot finds batches at all; otherwise per event, below); only
    # when the pilot is at most a quarter of the training (its cost, and the types must be apart)
    batch_pilot_epochs: int = field(default=5, metadata={"help": (
        "when --epochs is at least 4 times this: train this many epochs first, infer batches from what "
        "the clusters do not explain, and if some are found train from scratch with negatives within "
        "them (with --batch-key: within the labelled batches but for type events; 0 = never; see docs/design.md)")})
    # with batch labels: this many epochs with the dataset's negatives (as without labels), then
    # the events whose openness depends on the batch within clusters of the cell rows
    # (cellspace.batch_events) draw negatives within the batch and every other event from the
    # whole dataset (docs/design.md, "Batches and datasets")
    batch_event_epochs: int = field(default=3, metadata={"help": (
        "with --batch-key: train this many epochs with negatives from the whole dataset, then only "
        "events that differ between batches within clusters of cells draw negatives from the "
        "positive's batch, the others from its whole dataset (0 = every event from the batch, "
        "throughout; see docs/design.md)")})
    # mapping new cells into a trained model: every k-mer and n-gram bucket row (and its
    # AdaGrad accumulator) stays as it is; only cell rows (positives and negatives) are trained
    freeze_sequence_rows: bool = field(default=False, metadata={"cli": False})

    def validate(self) -> TrainParams:
        check_train_k(self.k)  # before any allocation: k = 14 would build a 17 GB table first
        checks: list[tuple[bool, str]] = [
            (self.dim >= 2, f"dim must be >= 2, got {self.dim}"),
            (self.ngrams >= 1, f"ngrams must be >= 1, got {self.ngrams}"),
            (self.sample_len == 0 or self.sample_len >= self.k,
             f"sample-len must be >= k ({self.k}) or 0 for whole events, got {self.sample_len}"),
            (self.examples_per_event >= 1, f"examples-per-event must be >= 1, got {self.examples_per_event}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_pilot_epochs >= 0, f"batch-pilot-epochs must be >= 0, got {self.batch_pilot_epochs}"),
            (self.batch_event_epochs >= 0, f"batch-event-epochs must be >= 0, got {self.batch_event_epochs}"),
            (self.margin > 0, f"margin must be > 0, got {self.margin}"),
            (self.ngrams == 1 or self.bucket >= 1, f"bucket must be >= 1 with ngrams > 1, got {self.bucket}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.neg_search_limit >= 1, f"neg-search-limit must be >= 1, got {self.neg_search_limit}"),
            (self.max_neg_samples >= 1, f"max-neg-samples must be >= 1, got {self.max_neg_samples}"),
            (self.init_sd > 0, f"init-sd must be > 0, got {self.init_sd}"),
            (self.batch_size >= 1, f"batch-size must be >= 1, got {self.batch_size}"),
            (self.threads >= 1, f"threads must be >= 1, got {self.threads}"),
            (self.bridge_weight >= 0, f"bridge-weight must be >= 0, got {self.bridge_weight}"),
            (self.bridge_start >= 0, f"bridge-start must be >= 0, got {self.bridge_start}"),
            (self.bridge_every >= 1, f"bridge-every must be >= 1, got {self.bridge_every}"),
            (0 <= self.seed < 2**63, f"seed must be in 0..2^63-1, got {self.seed}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ParameterError(msg)
        return self

    @property
    def n_buckets(self) -> int:
        return self.bucket if self.ngrams > 1 else 0


# ----------------------------------------------------------------------------- corpus arrays
@dataclass
class Corpus:
    """Flat arrays the Cython core reads."""

    packed: np.ndarray
    seq_off: np.ndarray
    ntok: np.ndarray
    tokpos_off: np.ndarray
    tokpos: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray


def token_positions(data: TrainingData, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid k-mer counts per event, and explicit token start positions for events with N.

    Events without N have ``tokpos_off = -1`` (token j starts at base j); the others list the
    global base position of each k-mer window that contains no N.
    """
    seqs = data.sequences
    lengths = seqs.lengths
    ntok = np.maximum(lengths - k + 1, 0).astype(np.int64)
    tokpos_off = np.full(len(lengths), -1, dtype=np.int64)
    n_per_event = np.diff(np.searchsorted(seqs.n_positions, seqs.offsets))
    parts: list[np.ndarray] = []
    total = 0
    for e in np.flatnonzero(n_per_event > 0):
        start, stop = int(seqs.offsets[e]), int(seqs.offsets[e + 1])
        bad = np.zeros(stop - start, dtype=bool)
        lo, hi = np.searchsorted(seqs.n_positions, [start, stop])
        bad[seqs.n_positions[lo:hi] - start] = True
        if stop - start < k:
            ntok[e] = 0
            continue
        win_bad = np.lib.stride_tricks.sliding_window_view(bad, k).any(axis=1)
        pos = np.flatnonzero(~win_bad).astype(np.int64) + start
        ntok[e] = len(pos)
        tokpos_off[e] = total
        parts.append(pos)
        total += len(pos)
    tokpos = np.concatenate(parts) if parts else np.zeros(1, dtype=np.int64)
    return ntok, tokpos_off, tokpos


def build_corpus(data: TrainingData, params: TrainParams) -> Corpus:
    ntok, tokpos_off, tokpos = token_positions(data, params.k)
    empty = np.flatnonzero(ntok == 0)
    if len(empty):
        raise InputError(f"{len(empty)} event(s) have no k-mer without N (k = {params.k})")
    packed = data.sequences.packed
    if len(packed) == 0:
        packed = np.zeros(1, dtype=np.uint8)
    return Corpus(
        packed=np.ascontiguousarray(packed, dtype=np.uint8),
        seq_off=np.ascontiguousarray(data.sequences.offsets, dtype=np.int64),
        ntok=ntok,
        tokpos_off=tokpos_off,
        tokpos=np.ascontiguousarray(tokpos, dtype=np.int64),
        indptr=np.ascontiguousarray(data.events.indptr, dtype=np.int64),
        indices=np.ascontiguousarray(data.events.indices, dtype=np.int32),
    )


def default_negatives(data: TrainingData, params: TrainParams) -> NegativePools:
    """The reference tool's negatives, by dataset (or by (dataset, batch) with ``batch_key``)."""
    if params.batch_key is not None and (data.cell_batch < 0).any():
        raise InputError(f"--batch-key {params.batch_key!r} was given but some datasets have no batch labels")
    return reference_pools(data, by_batch=params.batch_key is not None)


def window_sizes(corpus: Corpus, params: TrainParams) -> tuple[int, int]:
    """(tokens per window, most LHS rows of one example)."""
    longest = int(corpus.ntok.max())
    window = (params.sample_len - params.k + 1) if params.sample_len > 0 else longest
    window = max(1, min(window, longest))
    max_lhs = sum(max(0, window - g + 1) for g in range(1, params.ngrams + 1))
    return window, max_lhs


def core_config(
    state: TrainState,
    corpus: Corpus,
    pools: NegativePools,
    stats: np.ndarray,
) -> _core.TrainConfig:
    """The core's configuration, filled once per run; it holds every array it points at."""
    p = state.params
    window, max_lhs = window_sizes(corpus, p)
    n_examples = len(corpus.ntok) * p.examples_per_event
    return _core.TrainConfig(
        table=state.table, dim=p.dim,
        packed=corpus.packed, seq_off=corpus.seq_off, ntok=corpus.ntok, tokpos_off=corpus.tokpos_off,
        tokpos=corpus.tokpos, row_of_code=kmer_row_table(p.k), k=p.k, ngrams=p.ngrams,
        n_buckets=p.n_buckets, bucket_offset=state.n_kmers + state.n_cells,
        indptr=corpus.indptr, indices=corpus.indices, cell_offset=state.n_kmers,
        cell_pool=pools.cell_pool, pool_offsets=pools.offsets, pool_entries=pools.entries,
        shared_pool=pools.shared_pool, shared_events=pools.shared_events,
        examples_per_event=p.examples_per_event, window_tokens=window, max_lhs=max_lhs,
        total_steps=n_examples * p.epochs, lr=p.lr, margin=p.margin,
        neg_search_limit=p.neg_search_limit, max_neg=p.max_neg_samples, batch_size=p.batch_size,
        n_threads=p.threads, freeze_lhs=p.freeze_sequence_rows,
        rng_states=state.rng_states, stats=stats,
    )  # fmt: skip


# ----------------------------------------------------------------------------- the table
def row_stride(dim: int) -> int:
    """Floats per table row: dim values + the AdaGrad accumulator, padded to 64 bytes."""
    return int(math.ceil((dim + 1) / 16) * 16)


def aligned_table(n_rows: int, stride: int) -> np.ndarray:
    """A C-contiguous float32 (n_rows, stride) array whose rows start on 64-byte boundaries."""
    raw = np.empty(n_rows * stride + 16, dtype=np.float32)
    shift = (-(raw.ctypes.data // 4)) % 16
    return raw[shift : shift + n_rows * stride].reshape(n_rows, stride)


@dataclass
class TrainState:
    """Everything needed to continue training: table (with accumulators), epoch, RNG states."""

    table: np.ndarray
    epoch: int
    rng_states: np.ndarray
    params: TrainParams
    n_kmers: int
    n_cells: int
    losses: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # examples/s (wall clock) per epoch
    batch_pilot: str = ""  # the batch pilot's decision ("" when it did not run)
    inferred_batches: np.ndarray | None = None  # its batch of every cell, when it accepted one


def init_state(params: TrainParams, n_cells: int) -> TrainState:
    n_k = n_kmer_rows(params.k)
    n_rows = n_k + n_cells + params.n_buckets
    stride = row_stride(params.dim)
    table = aligned_table(n_rows, stride)
    rng = np.random.default_rng(params.seed)
    # fill in slices to keep the temporary small
    chunk = 1 << 18
    for s in range(0, n_rows, chunk):
        e = min(n_rows, s + chunk)
        table[s:e, : params.dim] = rng.standard_normal((e - s, params.dim), dtype=np.float32) * np.float32(
            params.init_sd
        )
        table[s:e, params.dim :] = 0.0
    return TrainState(table=table, epoch=0, rng_states=thread_rng_states(params.threads, params.seed),
                      params=params, n_kmers=n_k, n_cells=n_cells)


def thread_rng_states(threads: int, *seed: int) -> np.ndarray:
    """Seeded RNG states, one per thread, each on its own cache line (``_core.LINE`` apart)."""
    states = np.zeros(threads * _core.LINE, dtype=np.uint64)
    states[:: _core.LINE] = np.random.SeedSequence(list(seed)).generate_state(threads, dtype=np.uint64)
    return states


def epoch_key(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 0xC5]).generate_state(1, dtype=np.uint64)[0])


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(state: TrainState, path: str | Path, fingerprint: str) -> None:
    """Full state: all rows incl. buckets and AdaGrad accumulators, epoch, RNG states."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            checkpoint_version=np.int64(CHECKPOINT_VERSION),
            table=state.table,
            epoch=np.int64(state.epoch),
            rng_states=state.rng_states,
            params_json=np.array(json.dumps(asdict(state.params), sort_keys=True)),
            n_kmers=np.int64(state.n_kmers),
            n_cells=np.int64(state.n_cells),
            losses=np.asarray(state.losses, dtype=np.float64),
            rates=np.asarray(state.rates, dtype=np.float64),
            fingerprint=np.array(fingerprint),
        )


def load_checkpoint(path: str | Path, params: TrainParams, fingerprint: str) -> TrainState:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            saved = json.loads(str(z["params_json"]))
            if str(z["fingerprint"]) != fingerprint:
                raise InputError("checkpoint was made from different input data", path)
            ignore = {"epochs", "threads"}
            now, defaults = asdict(params), asdict(TrainParams())
            diff = sorted(k for k in now if k not in ignore and now[k] != saved.get(k, defaults[k]))
            if diff:
                raise InputError(f"checkpoint parameters differ from this run: {', '.join(diff)}", path)
            stride = row_stride(params.dim)
            table = aligned_table(*z["table"].shape)
            table[:] = z["table"]
            if table.shape[1] != stride:
                raise InputError("checkpoint table layout does not match", path)
            rng_states = z["rng_states"].astype(np.uint64)
            if len(rng_states) != params.threads * _core.LINE:
                # re-derive per-thread streams for a different thread count (still seeded)
                rng_states = thread_rng_states(params.threads, params.seed, int(z["epoch"]))
            return TrainState(
                table=table,
                epoch=int(z["epoch"]),
                rng_states=rng_states,
                params=params,
                n_kmers=int(z["n_kmers"]),
                n_cells=int(z["n_cells"]),
                losses=[float(x) for x in z["losses"]],
                # checkpoints written before rates were recorded: unknown (NaN)
                rates=[float(x) for x in z["rates"]] if "rates" in z.files
                else [float("nan")] * len(z["losses"]),
            )
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot read checkpoint ({e})", path) from None


def data_fingerprint(data: TrainingData) -> str:
    h = hashlib.sha256()
    for arr in (data.events.indptr, data.events.indices, data.sequences.packed, data.sequences.offsets):
        h.update(np.ascontiguousarray(arr).view(np.uint8))
    h.update("\x1f".join(map(str, data.obs.index)).encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- the loop
ProgressCallback = Callable[[int, int, float, float], None]


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="ex", unit_scale=True, smoothing=0.1, file=sys.stderr, leave=False)


def run_training(
    data: TrainingData,
    params: TrainParams,
    *,
    negatives: NegativePools | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    progress: bool | None = None,
    on_epoch: ProgressCallback | None = None,
    centre: np.ndarray | None = None,
    centre_target: np.ndarray | None = None,
    initial: TrainState | None = None,
    on_state: Callable[[TrainState], None] | None = None,
    until: int | None = None,
) -> TrainState:
    """Train from scratch (or resume from ``checkpoint``) for ``params.epochs`` epochs (or stop
    after epoch ``until`` of that schedule).

    ``negatives`` replaces the default negative pools (:func:`default_negatives`); see
    :mod:`cellspace.negatives` for building others. ``centre`` (a group id per cell; default
    with ``params.centre``: :func:`cellspace.negatives.negative_groups`) moves each group's
    mean cell row onto the mean of all cell rows after every chunk of examples
    (:func:`centre_groups`), or onto ``centre_target`` when given. ``initial`` replaces the
    random table (e.g. a trained model's k-mer and bucket rows, with
    ``params.freeze_sequence_rows`` to map new cells). ``on_state`` is called with the state
    after every epoch (e.g. to keep snapshots of the cell rows).
    """
    params.validate()
    inferred = None  # the batch pilot's outcome, when it runs
    per_event_at = None  # the epoch at which negatives become per event (batch events)
    if negatives is None:
        negatives = default_negatives(data, params)
        log_memory(log, "negative pools")
        # schedules that restart or change negatives apply only to a fresh table (not to mapping)
        fresh_table = not params.freeze_sequence_rows and initial is None
        per_event = params.batch_key is not None and fresh_table and 0 < params.batch_event_epochs < params.epochs
        if per_event:
            # the first epochs as without labels (the dataset's negatives), then per event
            per_event_at, own_batch = params.batch_event_epochs, negatives
            negatives = reference_pools(data)
        # the pilot: not with frozen rows, nor with labels and own-batch negatives throughout
        pilot_fits = 0 < 4 * params.batch_pilot_epochs <= params.epochs
        if (params.batch_key is None or per_event) and fresh_table and pilot_fits:
            inferred = pilot_batches(data, params, negatives, progress=progress)
            # no batches found: the defaults (with labels: the per-event schedule) stay
            if inferred.groups is not None and params.batch_key is None:
                negatives = found_batch_negatives(data, params, inferred_pools(data, inferred.groups),
                                                  inferred.cells, inferred.groups)
            elif inferred.groups is not None:
                # batches strong enough to be found without labels: a donor offset from the
                # first epochs would stay (docs/design.md), so train from scratch within the
                # labelled batches (but for the type events)
                from sklearn.metrics import adjusted_rand_score  # the pilot has imported it already

                agreement = adjusted_rand_score(data.cell_batch, inferred.groups)
                inferred.reason += (f"; with --batch-key: negatives within the labelled batches but for type "
                                    f"events (ARI {agreement:.2f} with the inferred groups)")
                log.info("batch pilot with labels: negatives within the labelled batches but for type events "
                         "(ARI %.2f with the inferred groups)", agreement)
                negatives = found_batch_negatives(data, params, own_batch, inferred.cells, data.cell_batch)
                per_event_at = None
    elif negatives.n_cells != data.n_cells:
        raise ParameterError(f"negative pools are for {negatives.n_cells} cells, the data have {data.n_cells}")
    if negatives.shared_events is not None and len(negatives.shared_events) != data.n_events:
        raise ParameterError(f"negative pools have {len(negatives.shared_events)} event flags, need one flag per "
                             f"event ({data.n_events})")
    if centre is None and params.centre:
        centre = negative_groups(data, params.batch_key is not None)
    if centre is not None:
        centre = np.asarray(centre, dtype=np.int64)
        if centre.shape != (data.n_cells,) or centre.min() < 0:
            raise ParameterError(f"centre needs one nonnegative group id per cell ({data.n_cells})")
        if int(centre.max()) == 0 and centre_target is None:
            centre = None  # one group: nothing to centre
    corpus = build_corpus(data, params)
    log_memory(log, "corpus arrays")
    # hashing the event matrix costs seconds at atlas scale: only when checkpoints are used
    uses_checkpoint = checkpoint is not None and (resume or checkpoint_every > 0)
    fingerprint = data_fingerprint(data) if uses_checkpoint else ""
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, params, fingerprint)
        if state.epoch > params.epochs:
            raise ParameterError(f"--resume: {checkpoint} is at epoch {state.epoch}, beyond --epochs "
                                 f"{params.epochs}; raise --epochs or train into a new --out")
        log.info("resuming from %s at epoch %d", checkpoint, state.epoch)
    elif initial is not None:
        if initial.n_cells != data.n_cells or initial.params is not params:
            raise ParameterError("the initial state is for other data or parameters")
        state = initial
    else:
        release_free_memory()  # what reading the inputs freed, before the largest allocation
        state = init_state(params, data.n_cells)
    if inferred is not None:
        state.batch_pilot, state.inferred_batches = inferred.reason, inferred.groups
    log_memory(log, "table")
    n_events = data.n_events
    n_examples = n_events * params.examples_per_event
    stats = np.zeros((params.threads, _core.LINE), dtype=np.float64)
    config = core_config(state, corpus, negatives, stats)
    if progress is None:
        progress = sys.stderr.isatty()
    chunk = max(params.batch_size * 256, n_examples // 50)
    chunk -= chunk % params.batch_size
    log.info(
        "training %d cells x %d events (%d datasets, %d negative pools): %d examples/epoch, "
        "%d epochs, dim %d, k %d, ngrams %d, %d thread(s)%s",
        data.n_cells, n_events, len(data.dataset_names), negatives.n_pools, n_examples,
        params.epochs, params.dim, params.k, params.ngrams, params.threads,
        ", k-mer and bucket rows frozen" if params.freeze_sequence_rows else "",
    )
    bridges = None
    if (params.bridge_weight > 0 and len(data.dataset_names) > 1 and not params.freeze_sequence_rows
            and (until is None or until > params.bridge_start)):
        from cellspace.bridges import Bridges  # only with bridges: it imports scikit-learn

        bridges = Bridges(data, params.k, params.bridge_weight, params.seed)
    bridged = False
    for epoch in range(state.epoch, params.epochs if until is None else min(until, params.epochs)):
        if per_event_at is not None and epoch >= per_event_at:
            negatives = batch_event_negatives(
                data, params, own_batch, np.array(state.table[state.n_kmers : state.n_kmers + state.n_cells, : params.dim]),
                dataset_pools=negatives)
            config = core_config(state, corpus, negatives, stats)
            per_event_at = None
        if bridges is not None and epoch >= params.bridge_start and (
            not bridged or (epoch - params.bridge_start) % params.bridge_every == 0
        ):
            events = bridges.events(state.table[state.n_kmers : state.n_kmers + state.n_cells, : params.dim], epoch)
            corpus.indptr = np.ascontiguousarray(events.indptr, dtype=np.int64)
            corpus.indices = np.ascontiguousarray(events.indices, dtype=np.int32)
            config = core_config(state, corpus, negatives, stats)
            bridged = True
        stats[:] = 0.0
        key = epoch_key(params.seed, epoch)
        bar = _progress_bar(n_examples, progress)
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, n_examples, chunk):
            stop = min(n_examples, start + chunk)
            _core.train_range(config, key, start, stop, epoch * n_examples)
            if centre is not None:
                centre_groups(state.table[state.n_kmers : state.n_kmers + state.n_cells, : params.dim], centre,
                              centre_target)
            if bar is not None:
                bar.update(stop - start)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if bar is not None:
            bar.close()
        tot = stats.sum(axis=0)
        mean_loss = float(tot[0] / max(tot[1], 1))
        rate = n_examples / elapsed if elapsed > 0 else float("inf")
        state.epoch = epoch + 1
        state.losses.append(mean_loss)
        state.rates.append(rate)
        log.info(
            "epoch %d/%d: mean loss %.5f, %.0f examples/s (%.0f per thread), "
            "%.0f examples per CPU-second, %.1f%% examples updated, %.2f negatives per update",
            epoch + 1, params.epochs, mean_loss, rate, rate / params.threads,
            n_examples / cpu if cpu > 0 else float("inf"), 100.0 * tot[2] / max(tot[1], 1),
            tot[3] / max(tot[2], 1),
        )
        log_memory(log, f"epoch {epoch + 1}")
        if on_epoch is not None:
            on_epoch(epoch + 1, params.epochs, mean_loss, rate)
        if on_state is not None:
            on_state(state)
        if checkpoint is not None and checkpoint_every > 0 and (
            state.epoch % checkpoint_every == 0 or state.epoch == params.epochs
        ):
            save_checkpoint(state, checkpoint, fingerprint)
    return state


def batch_event_negatives(data: TrainingData, params: TrainParams, own: NegativePools, cells: np.ndarray,
                          groups: np.ndarray | None = None, dataset_pools: NegativePools | None = None
                          ) -> NegativePools:
    """Negatives per event: the batch events (:func:`cellspace.batch_events.find_batch_events`:
    clusters of the cell rows ``cells``, batches ``groups`` or the labels) draw from ``own``
    (the positive's batch), every other event from the positive's whole dataset
    (``dataset_pools``, default :func:`cellspace.negatives.reference_pools`)."""
    from cellspace.batch_events import find_batch_events
    from cellspace.negatives import with_shared_events

    found = find_batch_events(data.events, cells, data.cell_batch if groups is None else groups, seed=params.seed)
    log.info("negatives per event: %d batch events within the batch, %d others from the whole dataset",
             found.n_batch_events, data.n_events - found.n_batch_events)
    return with_shared_events(own, reference_pools(data) if dataset_pools is None else dataset_pools,
                              ~found.batch_event)


def found_batch_negatives(data: TrainingData, params: TrainParams, own: NegativePools, cells: np.ndarray,
                          batches: np.ndarray) -> NegativePools:
    """Negatives when the pilot found batches (labelled ``batches`` or its own groups): from the
    positive's batch (``own``), except for the type events that are not batch events
    (:func:`cellspace.batch_events.shared_type_events` on the pilot's cell rows ``cells``),
    which draw from its whole dataset, so that a batch lacking a type is still a negative of
    that type's events (docs/design.md, "Batches and datasets", point 6)."""
    from cellspace.batch_events import shared_type_events
    from cellspace.negatives import with_shared_events

    shared = shared_type_events(data.events, cells, batches, seed=params.seed)
    return with_shared_events(own, reference_pools(data), shared)


@dataclass
class PilotOutcome:
    """What the batch pilot found: the inferred batch of every cell (None when no grouping was
    accepted), why, and the pilot's cell rows."""

    groups: np.ndarray | None
    reason: str
    cells: np.ndarray


def pilot_batches(data: TrainingData, params: TrainParams, defaults: NegativePools,
                  progress: bool | None = None) -> PilotOutcome:
    """The batches inferred (:func:`cellspace.pseudo_batches.infer_batches`) from the cell rows
    after the first ``params.batch_pilot_epochs`` epochs of a training with the default
    negatives ``defaults``; no groups when no batch is found. The training itself then starts
    over from a fresh table (:func:`inferred_pools` for the negatives within the groups)."""
    from cellspace.pseudo_batches import infer_batches

    log.info("pilot training: the first %d of %d epochs, to infer batches", params.batch_pilot_epochs,
             params.epochs)
    pilot = run_training(data, replace(params, batch_pilot_epochs=0), negatives=defaults, progress=progress,
                         until=params.batch_pilot_epochs)
    cells = np.array(pilot.table[pilot.n_kmers : pilot.n_kmers + pilot.n_cells, : params.dim])
    del pilot
    found = infer_batches(data.events, cells, seed=params.seed)
    groups = None if found.groups is None else np.asarray(found.groups, dtype=np.int32)
    return PilotOutcome(groups, found.reason, cells)


def inferred_pools(data: TrainingData, groups: np.ndarray) -> NegativePools:
    """Reference negatives within (dataset, inferred batch ``groups``)."""
    n = int(groups.max()) + 1
    _, within = np.unique(np.asarray(data.cell_dataset, dtype=np.int64) * n + groups, return_inverse=True)
    return reference_pools(data, groups=within)


def centre_groups(cells: np.ndarray, groups: np.ndarray, target: np.ndarray | None = None) -> None:
    """In place: shift each group's cell rows so that its mean is the mean over all cells
    (or ``target``).

    Within a negative group the loss only compares cells of that group, so a vector added
    to all of a group's rows costs (to first order) nothing: no loss term holds it (docs/design.md,
    "Batches and datasets").
    """
    n = int(groups.max()) + 1
    counts = np.bincount(groups, minlength=n).astype(np.float64)
    onehot = sp.csr_matrix((np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(n, len(groups)))
    sums = np.asarray(onehot @ cells.astype(np.float64))
    means = sums / np.maximum(counts, 1.0)[:, None]
    overall = sums.sum(axis=0) / max(counts.sum(), 1.0) if target is None else np.asarray(target, np.float64)
    cells -= (means - overall).astype(np.float32)[groups]


# ----------------------------------------------------------------------------- results
def state_to_model(state: TrainState, data: TrainingData) -> CellSpaceModel:
    """The model of a trained state; its k-mer, cell and bucket rows are views of the table.

    No copy is made (the bucket rows alone are as large as the rest of the process), so the
    model shares the state's table: train the state further only after saving the model.
    """
    p = state.params
    d = p.dim
    nk, nc = state.n_kmers, state.n_cells
    params = asdict(p)
    params.pop("threads")
    run_id = hashlib.sha256(
        (data_fingerprint(data) + json.dumps(params, sort_keys=True) + str(state.epoch)).encode()
        + np.ascontiguousarray(state.table[nk : nk + nc, :d]).tobytes()
    ).hexdigest()[:20]
    params.update(epochs_trained=state.epoch, cellspace_version=__version__, losses=state.losses)
    if state.batch_pilot:
        params.update(batch_pilot_result=state.batch_pilot)
    return CellSpaceModel(
        kmer_vectors=state.table[:nk, :d],
        cell_vectors=state.table[nk : nk + nc, :d],
        bucket_vectors=state.table[nk + nc :, :d],
        params=params,
        cell_ids=data.obs.index.to_numpy(dtype=object),
        dataset_names=list(data.dataset_names),
        run_id=run_id,
        inferred_batches=(np.empty(0, np.int32) if state.inferred_batches is None else state.inferred_batches),
    )


def empty_cells_anndata(data: TrainingData):
    """AnnData with the cells' obs (ids, dataset, batch, metadata; object columns as str) and an
    empty X, for the embedding to be added to."""
    import anndata as ad

    obs = data.obs.copy()
    for col in obs.columns:
        if obs[col].dtype == object:
            obs[col] = obs[col].astype(str)
    obs.index = obs.index.astype(str)
    return ad.AnnData(X=sp.csr_matrix((len(obs), 0), dtype=np.float32), obs=obs)


def run_uns(model: CellSpaceModel) -> dict:
    """``uns["cellspace"]`` of cells embedded in ``model``: its run id, parameters, datasets and
    the package version."""
    params = {k: v for k, v in model.params.items() if v is not None}
    return {
        "run_id": model.run_id,
        "params": json.dumps(params, sort_keys=True),
        "dataset_names": list(model.dataset_names),
        "version": __version__,
    }


def add_cell_embedding(adata, cell_rows: np.ndarray) -> None:
    """``obsm["X_cellspace"]`` = the cell rows scaled to unit length, ``obs["cellspace_norm"]``
    = their lengths.

    CellSpace compares sequences and cells by cosine similarity, so a row's direction is all
    the model says about a cell. Its length counts the row's updates and follows the cell's
    depth (docs/design.md, "Batches and datasets", point 4): a technical covariate that
    Euclidean tools (silhouettes, Harmony, PCA, neighbours by default) would read as a
    difference between cells. The model file keeps the rows as trained."""
    rows = np.asarray(cell_rows, dtype=np.float32)
    adata.obsm["X_cellspace"] = l2_normalize(rows)
    adata.obs[NORM_KEY] = np.linalg.norm(rows, axis=1)


def cells_anndata(model: CellSpaceModel, data: TrainingData):
    """AnnData of cells: obs = ids, dataset, batch, metadata, row norms; obsm["X_cellspace"]
    (unit rows, :func:`add_cell_embedding`)."""
    adata = empty_cells_anndata(data)
    add_cell_embedding(adata, model.cell_vectors)
    adata.uns["cellspace"] = run_uns(model)
    if len(model.inferred_batches):
        # the batches the pilot inferred without labels (usable as a batch key downstream)
        adata.obs[INFERRED_BATCH_KEY] = pd.Categorical([f"inferred_{g + 1}" for g in model.inferred_batches])
    if "batch_pilot_result" in model.params:
        adata.uns["cellspace"]["batch_pilot"] = str(model.params["batch_pilot_result"])
    return adata


def train_datasets(
    datasets: Sequence[Dataset],
    params: TrainParams | None = None,
    **kwargs,
):
    """Train on one or more datasets; returns (CellSpaceModel, cells AnnData)."""
    params = (params or TrainParams()).validate()
    data = combine(datasets)
    state = run_training(data, params, **kwargs)
    model = state_to_model(state, data)
    return model, cells_anndata(model, data)


def training_log(state: TrainState) -> pd.DataFrame:
    """One row per trained epoch: mean loss and examples/s (wall clock of the epoch)."""
    n = len(state.losses)
    rates = list(state.rates) + [float("nan")] * (n - len(state.rates))
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "loss": state.losses,
                         "examples_per_s": rates[:n]})


TRAINING_LOG = "training_log.tsv"


def write_outputs(model: CellSpaceModel, adata, out_dir: str | Path,
                  state: TrainState | None = None) -> tuple[Path, Path]:
    """Write ``cells.h5ad`` and ``model.npz`` atomically into ``out_dir``; with ``state``,
    also the per-epoch ``training_log.tsv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path, cells_path = out / "model.npz", out / "cells.h5ad"
    model.save(model_path)
    with atomic_path(cells_path) as tmp:
        adata.write_h5ad(tmp)
    if state is not None:
        with atomic_path(out / TRAINING_LOG) as tmp:
            training_log(state).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return cells_path, model_path


__all__ = [
    "TrainParams",
    "default_negatives",
    "train_datasets",
    "run_training",
    "write_outputs",
    "training_log",
    "cells_anndata",
    "state_to_model",
    "centre_groups",
]

