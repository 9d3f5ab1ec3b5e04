# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""CellSpace training core: StarSpace-style margin ranking with cosine similarity.

One float32 table holds every row (k-mers, cells, n-gram buckets). Each row is ``stride``
floats: ``dim`` embedding values, then the row's AdaGrad accumulator at index ``dim``, then
padding, so one row (vector + accumulator) sits in the same aligned cache lines.

Examples are processed in mini-batches by OpenMP threads (``prange``) that update the shared
table without locks (Hogwild). Each thread owns a 64-bit RNG state and scratch buffers that
are allocated once per call. Nothing inside the loop touches Python objects or allocates.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY, sqrtf
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from *:
    """
    #include <stdint.h>
    #define CS_PREFETCH(p) __builtin_prefetch((const void*)(p), 1, 1)
    #define CS_PREFETCH_READ(p) __builtin_prefetch((const void*)(p), 0, 3)
    static inline uint64_t cs_mulhi(uint64_t a, uint64_t b) {
        return (uint64_t)(((unsigned __int128)a * b) >> 64);
    }
    """
    void CS_PREFETCH(const void* p) noexcept nogil
    void CS_PREFETCH_READ(const void* p) noexcept nogil
    uint64_t cs_mulhi(uint64_t a, uint64_t b) noexcept nogil


# --------------------------------------------------------------------------- random numbers
cdef inline uint64_t splitmix64(uint64_t* state) noexcept nogil:
    """Next value of a splitmix64 generator (fast, full period 2^64, good statistical quality)."""
    state[0] += <uint64_t>0x9E3779B97F4A7C15ULL
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline int64_t rand_below(uint64_t* state, int64_t n) noexcept nogil:
    """Uniform integer in [0, n) (n >= 1), by 64x64 -> high 64 multiply (Lemire)."""
    return <int64_t>cs_mulhi(splitmix64(state), <uint64_t>n)


# --------------------------------------------------------------------------- example order
cdef inline uint64_t feistel(uint64_t x, int half_bits, uint64_t half_mask, uint64_t key) noexcept nogil:
    cdef uint64_t left = x >> half_bits
    cdef uint64_t right = x & half_mask
    cdef uint64_t tmp
    cdef int r
    for r in range(4):
        tmp = right
        right = left ^ (mix64(right ^ (key + <uint64_t>r * <uint64_t>0x9E3779B97F4A7C15ULL)) & half_mask)
        left = tmp
    return (left << half_bits) | right


cdef inline int64_t permute(int64_t i, int64_t n, int half_bits, uint64_t half_mask, uint64_t key) noexcept nogil:
    """A bijection of [0, n): a 4-round Feistel network on 2*half_bits bits, cycle-walked."""
    cdef uint64_t y = feistel(<uint64_t>i, half_bits, half_mask, key)
    while y >= <uint64_t>n:
        y = feistel(y, half_bits, half_mask, key)
    return <int64_t>y


def permutation_params(int64_t n):
    """(half_bits, half_mask) of the Feistel permutation of [0, n)."""
    cdef int bits = 1
    while (<int64_t>1 << bits) < n:
        bits += 1
    cdef int half = (bits + 1) // 2
    return half, (<uint64_t>1 << half) - 1


def permutation(int64_t n, uint64_t key):
    """The full permutation of [0, n) used for one epoch with this key (for tests)."""
    half, mask = permutation_params(n)
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef int64_t i
    for i in range(n):
        o[i] = permute(i, n, half, mask, key)
    return out


# --------------------------------------------------------------------------- tokens and n-grams
cdef inline uint64_t ngram_hash(const int32_t* toks, int g) noexcept nogil:
    """Hash of g consecutive token ids: 64-bit FNV-1a over (id + 1), then a splitmix64 finaliser.

    The bucket is the high 64 bits of hash * n_buckets (uniform, no division).
    """
    cdef uint64_t h = <uint64_t>0xCBF29CE484222325ULL ^ <uint64_t>g
    cdef int j
    for j in range(g):
        h = (h ^ <uint64_t>(toks[j] + 1)) * <uint64_t>0x100000001B3ULL
    return mix64(h)


cdef inline int base_at(const uint8_t* packed, int64_t pos) noexcept nogil:
    return (packed[pos >> 2] >> (6 - 2 * (pos & 3))) & 3


cdef struct Corpus:
    const uint8_t* packed       # 2-bit packed bases of all events
    const int64_t* seq_off      # base offset of each event
    const int64_t* ntok         # valid k-mer count of each event
    const int64_t* tokpos_off   # -1: event has no N (token j starts at base j); else offset into tokpos
    const int64_t* tokpos       # global base position of each token of events with N
    const uint32_t* row_of_code # k-mer code -> canonical k-mer row
    int k
    uint64_t kmask
    int ngrams
    int64_t n_buckets
    int64_t bucket_offset
    const float* table          # rows are prefetched as soon as their ids are known (NULL: no prefetch)
    int stride


cdef inline void prefetch_row(const Corpus* c, int32_t row) noexcept nogil:
    if c.table != NULL:
        CS_PREFETCH(c.table + <int64_t>row * c.stride)
        CS_PREFETCH(c.table + <int64_t>row * c.stride + 16)


cdef inline int event_tokens(const Corpus* c, int64_t e, int64_t start, int64_t w, int32_t* out) noexcept nogil:
    """Canonical k-mer rows of tokens [start, start + w) of event e into out; returns w."""
    cdef int64_t j, p, base
    cdef uint64_t code = 0
    cdef int q
    cdef int k = c.k
    if c.tokpos_off[e] < 0:
        base = c.seq_off[e] + start
        for q in range(k - 1):
            code = (code << 2) | <uint64_t>base_at(c.packed, base + q)
        for j in range(w):
            code = ((code << 2) | <uint64_t>base_at(c.packed, base + j + k - 1)) & c.kmask
            out[j] = <int32_t>c.row_of_code[code]
            prefetch_row(c, out[j])
    else:
        for j in range(w):
            p = c.tokpos[c.tokpos_off[e] + start + j]
            code = 0
            for q in range(k):
                code = (code << 2) | <uint64_t>base_at(c.packed, p + q)
            out[j] = <int32_t>c.row_of_code[code]
            prefetch_row(c, out[j])
    return <int>w


cdef inline int add_ngrams(const Corpus* c, int32_t* rows, int w) noexcept nogil:
    """Append the n-gram bucket rows of the w tokens in rows[0:w]; returns the total row count."""
    cdef int n = w
    cdef int g, i
    for g in range(2, c.ngrams + 1):
        for i in range(w - g + 1):
            rows[n] = <int32_t>(c.bucket_offset + <int64_t>cs_mulhi(ngram_hash(rows + i, g), <uint64_t>c.n_buckets))
            prefetch_row(c, rows[n])
            n += 1
    return n


# --------------------------------------------------------------------------- negative pools
# A pool is a discrete distribution over global cell ids, stored as a Vose alias table of n
# entries. Entry i is three uint32: (threshold, cell, alias cell). A draw takes ONE 64-bit
# random number r: the entry is the high word of r * n (Lemire's multiply-shift), and the low
# word of the same product, uniform and independent of the entry, is compared with the
# threshold: below it the entry's own cell, else its alias cell. All pools are concatenated;
# pool p is entries [offsets[p], offsets[p + 1]). Every cell has a pool id (that of the
# positive cell decides where its negatives come from). Optionally every cell has a second
# pool id, for the events flagged "shared" (one uint8 per event): an example of a flagged
# event draws from its positive's second pool (e.g. its dataset instead of its batch).
cdef enum:
    CS_ENTRY = 3
ALIAS_ENTRY = CS_ENTRY


cdef struct Pools:
    const int32_t* cell_pool    # pool id of every global cell
    const int64_t* offsets      # n_pools + 1 entry offsets
    const uint32_t* entries     # CS_ENTRY uint32 per entry
    int64_t n_pools
    int64_t n_cells
    const int32_t* shared_pool  # per cell, the pool of flagged events' examples (NULL: none)
    const uint8_t* shared_events  # per event, 1 = draw from the positive's shared pool (NULL: none)
    int64_t n_flagged_events


cdef inline int32_t pool_draw(const Pools* p, int64_t lo, uint64_t n, uint64_t* rng) noexcept nogil:
    """One draw (a global cell id) from the pool whose entries are [lo, lo + n), n >= 1."""
    cdef uint64_t r = splitmix64(rng)
    cdef const uint32_t* ent = p.entries + CS_ENTRY * (lo + <int64_t>cs_mulhi(r, n))
    if <uint32_t>((r * n) >> 32) < ent[0]:
        return <int32_t>ent[1]
    return <int32_t>ent[2]


def alias_entries(const int32_t[::1] cells, const double[::1] weights):
    """Vose's alias table of one pool: a (n, 3) uint32 array (threshold, cell, alias cell).

    ``weights`` are nonnegative with a positive sum (not necessarily normalised). Entry i is
    chosen with probability 1/n, then keeps its own cell with probability threshold / 2^32 and
    takes its alias cell otherwise. Entries whose scaled weight is 1 (up to rounding) alias
    themselves, so the 2^32 - 1 cap of the threshold loses nothing.
    """
    cdef int64_t n = cells.shape[0]
    if weights.shape[0] != n or n == 0:
        raise ValueError("alias_entries needs as many weights as cells, at least one")
    cdef double total = 0.0
    cdef int64_t i
    for i in range(n):
        if not (weights[i] >= 0.0 and weights[i] < INFINITY):
            raise ValueError("weights must be finite and nonnegative")
        total += weights[i]
    if not total > 0.0:
        raise ValueError("weights must have a positive sum")
    out = np.empty((n, CS_ENTRY), dtype=np.uint32)
    scaled_arr = np.empty(n, dtype=np.float64)
    stack_arr = np.empty(n, dtype=np.int64)
    cdef uint32_t[:, ::1] o = out
    cdef double[::1] q = scaled_arr
    cdef int64_t[::1] stack = stack_arr
    cdef int64_t n_small = 0, n_large = n  # small indices grow from 0, large ones down from n
    cdef int64_t s, l
    cdef double t
    cdef double scale = <double>n / total
    with nogil:
        for i in range(n):
            q[i] = weights[i] * scale
            o[i, 1] = <uint32_t>cells[i]
            o[i, 2] = <uint32_t>cells[i]
            if q[i] < 1.0:
                stack[n_small] = i
                n_small += 1
            else:
                n_large -= 1
                stack[n_large] = i
        while n_small > 0 and n_large < n:
            n_small -= 1
            s = stack[n_small]
            l = stack[n_large]
            n_large += 1
            t = q[s] * 4294967296.0 + 0.5
            o[s, 0] = <uint32_t>t if t < 4294967295.0 else <uint32_t>4294967295U
            o[s, 2] = <uint32_t>cells[l]
            q[l] = (q[l] + q[s]) - 1.0
            if q[l] < 1.0:
                stack[n_small] = l
                n_small += 1
            else:
                n_large -= 1
                stack[n_large] = l
        # what is left has scaled weight 1 up to rounding: it keeps its own cell
        while n_small > 0:
            n_small -= 1
            o[stack[n_small], 0] = <uint32_t>4294967295U
        while n_large < n:
            o[stack[n_large], 0] = <uint32_t>4294967295U
            n_large += 1
    return out


def reference_pool_weights(const int64_t[::1] indptr, const int32_t[::1] indices,
                           const int32_t[::1] cell_group, int64_t n_groups):
    """The reference tool's negative distribution, per group, as unnormalised cell weights.

    The reference draws a negative of group g as a uniform event among the E_g events with at
    least one open cell in g, then a uniform open cell of that event within g. Returns
    ``(weights, n_events)``: weights[c] = sum over events e open in c of 1 / |e ∩ g(c)|, and
    n_events[g] = E_g, so that P(c) = weights[c] / E_g(c) (and the weights of g sum to E_g).
    One pass over the event -> cells CSR, no temporary of the matrix's size.
    """
    cdef int64_t n_ev = indptr.shape[0] - 1
    cdef int64_t n_cells = cell_group.shape[0]
    weights = np.zeros(n_cells, dtype=np.float64)
    n_events = np.zeros(n_groups, dtype=np.int64)
    counts_arr = np.zeros(max(n_groups, 1), dtype=np.int64)
    cdef double[::1] w = weights
    cdef int64_t[::1] ne = n_events
    cdef int64_t[::1] counts = counts_arr
    cdef int64_t e, j, g
    cdef int32_t c
    for j in range(indptr[n_ev]):
        c = indices[j]
        if c < 0 or c >= n_cells or cell_group[c] < 0 or cell_group[c] >= n_groups:
            raise ValueError("cell ids and groups must be in range")
    with nogil:
        for e in range(n_ev):
            for j in range(indptr[e], indptr[e + 1]):
                counts[cell_group[indices[j]]] += 1
            for j in range(indptr[e], indptr[e + 1]):
                c = indices[j]
                w[c] += 1.0 / <double>counts[cell_group[c]]
            for j in range(indptr[e], indptr[e + 1]):
                g = cell_group[indices[j]]
                if counts[g] != 0:
                    ne[g] += 1
                    counts[g] = 0
    return weights, n_events


cdef int check_pools(const int32_t[::1] cell_pool, const int64_t[::1] offsets,
                     const uint32_t[:, ::1] entries) except -1:
    """Pool ids in range, offsets nondecreasing from 0, entry cells in range."""
    cdef int64_t n_pools = offsets.shape[0] - 1
    cdef int64_t n_cells = cell_pool.shape[0]
    cdef int64_t i
    cdef int bad = 0
    if n_pools < 1 or offsets[0] != 0:
        raise ValueError("pool offsets must start at 0 and describe at least one pool")
    with nogil:
        for i in range(n_pools):
            if offsets[i + 1] < offsets[i]:
                bad = 1
        for i in range(n_cells):
            if cell_pool[i] < 0 or cell_pool[i] >= n_pools:
                bad = 2
        for i in range(entries.shape[0]):
            if entries[i, 1] >= <uint64_t>n_cells or entries[i, 2] >= <uint64_t>n_cells:
                bad = 3
    if bad:
        raise ValueError(("pool offsets must be nondecreasing", "cell pool ids out of range",
                          "pool entries name cells out of range")[bad - 1])
    return 0


# --------------------------------------------------------------------------- configuration
# per-thread values are spaced by one 64-byte cache line (8 x 8 bytes): no false sharing
cdef enum:
    CS_LINE = 8
LINE = CS_LINE


cdef struct Config:
    # the table: rows of `stride` floats, `dim` values then the AdaGrad accumulator
    float* table
    int stride
    int dim
    # sequences (LHS)
    Corpus corpus
    # events -> cells (global cell ids) for the positive draw; pools for the negatives
    const int64_t* indptr
    const int32_t* indices
    int64_t n_events
    int64_t cell_offset         # table row of global cell 0
    Pools pools
    # schedule
    int64_t examples_per_event
    int64_t window_tokens
    int64_t max_lhs
    int64_t total_steps
    # hyper-parameters
    float lr
    float margin
    int neg_search_limit
    int max_neg
    int batch_size
    int n_threads
    bint freeze_lhs             # leave every k-mer and bucket row (and accumulator) untouched
    # per-thread state, CS_LINE apart
    uint64_t* rng_states
    double* stats


cdef class TrainConfig:
    """Everything ``train_range`` and the test hooks read, filled once (cf. gensim's Word2VecConfig).

    The arrays are held by this object for as long as it lives, and the C struct points into
    them; every array must already have the dtype and C-contiguity asked for (nothing is
    copied). Parts a caller does not need may be left out (None): a hook that needs a missing
    part raises ValueError.
    """

    cdef Config c
    cdef readonly dict arrays
    cdef readonly bint has_table, has_corpus, has_events, has_pools

    def __init__(
        self,
        *,
        float[:, ::1] table=None,
        int dim=0,
        const uint8_t[::1] packed=None,
        const int64_t[::1] seq_off=None,
        const int64_t[::1] ntok=None,
        const int64_t[::1] tokpos_off=None,
        const int64_t[::1] tokpos=None,
        const uint32_t[::1] row_of_code=None,
        int k=0,
        int ngrams=1,
        int64_t n_buckets=0,
        int64_t bucket_offset=0,
        const int64_t[::1] indptr=None,
        const int32_t[::1] indices=None,
        int64_t cell_offset=0,
        const int32_t[::1] cell_pool=None,
        const int64_t[::1] pool_offsets=None,
        const uint32_t[:, ::1] pool_entries=None,
        const int32_t[::1] shared_pool=None,
        const uint8_t[::1] shared_events=None,
        int64_t examples_per_event=1,
        int64_t window_tokens=1,
        int64_t max_lhs=1,
        int64_t total_steps=1,
        float lr=0.0,
        float margin=0.0,
        int neg_search_limit=1,
        int max_neg=1,
        int batch_size=1,
        int n_threads=1,
        bint freeze_lhs=False,
        uint64_t[::1] rng_states=None,
        double[:, ::1] stats=None,
    ):
        self.arrays = {}
        memset(&self.c, 0, sizeof(Config))
        if dim < 0 or max_neg < 1 or neg_search_limit < 1 or batch_size < 1 or n_threads < 1:
            raise ValueError("dim, max_neg, neg_search_limit, batch_size and n_threads must be positive")
        self.c.dim = dim
        self.has_table = table is not None
        if self.has_table:
            if table.shape[1] < dim + 1:
                raise ValueError("table rows need dim values and an accumulator")
            self.c.table = &table[0, 0]
            self.c.stride = <int>table.shape[1]
            self.arrays["table"] = table.base
        self.has_corpus = packed is not None
        if self.has_corpus:
            if seq_off is None or ntok is None or tokpos_off is None or tokpos is None or row_of_code is None:
                raise ValueError("a corpus needs packed, seq_off, ntok, tokpos_off, tokpos and row_of_code")
            if ntok.shape[0] + 1 != seq_off.shape[0] or tokpos_off.shape[0] != ntok.shape[0]:
                raise ValueError("corpus arrays disagree on the number of events")
            if row_of_code.shape[0] != (<int64_t>1 << (2 * k)):
                raise ValueError("row_of_code must have 4^k entries")
            self.c.corpus.packed = &packed[0]
            self.c.corpus.seq_off = &seq_off[0]
            self.c.corpus.ntok = &ntok[0]
            self.c.corpus.tokpos_off = &tokpos_off[0]
            self.c.corpus.tokpos = &tokpos[0]
            self.c.corpus.row_of_code = &row_of_code[0]
            self.c.corpus.k = k
            self.c.corpus.kmask = (<uint64_t>1 << (2 * k)) - 1
            self.c.corpus.ngrams = ngrams
            self.c.corpus.n_buckets = n_buckets
            self.c.corpus.bucket_offset = bucket_offset
            self.c.corpus.table = self.c.table
            self.c.corpus.stride = self.c.stride
            self.c.n_events = ntok.shape[0]
            self.arrays.update(packed=packed.base, seq_off=seq_off.base, ntok=ntok.base,
                               tokpos_off=tokpos_off.base, tokpos=tokpos.base, row_of_code=row_of_code.base)
        self.has_events = indptr is not None
        if self.has_events:
            if indices is None or (self.has_corpus and indptr.shape[0] != self.c.n_events + 1):
                raise ValueError("indptr needs indices and one entry per event + 1")
            self.c.indptr = &indptr[0]
            self.c.indices = &indices[0]
            self.c.n_events = indptr.shape[0] - 1
            self.arrays.update(indptr=indptr.base, indices=indices.base)
        self.c.cell_offset = cell_offset
        self.has_pools = cell_pool is not None
        if self.has_pools:
            if pool_offsets is None or pool_entries is None or pool_entries.shape[1] != CS_ENTRY:
                raise ValueError("pools need cell_pool, pool_offsets and (n, 3) pool_entries")
            if pool_offsets[pool_offsets.shape[0] - 1] != pool_entries.shape[0]:
                raise ValueError("pool offsets do not end at the number of entries")
            self.c.pools.cell_pool = &cell_pool[0]
            self.c.pools.offsets = &pool_offsets[0]
            self.c.pools.entries = &pool_entries[0, 0] if pool_entries.shape[0] > 0 else NULL
            self.c.pools.n_pools = pool_offsets.shape[0] - 1
            self.c.pools.n_cells = cell_pool.shape[0]
            check_pools(cell_pool, pool_offsets, pool_entries)
            self.arrays.update(cell_pool=cell_pool.base, pool_offsets=pool_offsets.base,
                               pool_entries=pool_entries.base)
            if (shared_pool is None) != (shared_events is None):
                raise ValueError("shared pools need both shared_pool and shared_events")
            if shared_pool is not None:
                if shared_pool.shape[0] != cell_pool.shape[0]:
                    raise ValueError("shared_pool needs one pool id per cell")
                if self.has_events and shared_events.shape[0] != self.c.n_events:
                    raise ValueError("shared_events needs one flag per event")
                check_pools(shared_pool, pool_offsets, pool_entries)
                self.c.pools.shared_pool = &shared_pool[0]
                self.c.pools.shared_events = &shared_events[0] if shared_events.shape[0] > 0 else NULL
                self.c.pools.n_flagged_events = shared_events.shape[0]
                self.arrays.update(shared_pool=shared_pool.base, shared_events=shared_events.base)
        self.c.examples_per_event = examples_per_event
        self.c.window_tokens = window_tokens
        self.c.max_lhs = max_lhs
        self.c.total_steps = total_steps
        self.c.lr = lr
        self.c.margin = margin
        self.c.neg_search_limit = neg_search_limit
        self.c.max_neg = max_neg
        self.c.batch_size = batch_size
        self.c.n_threads = n_threads
        self.c.freeze_lhs = freeze_lhs
        if rng_states is not None:
            if rng_states.shape[0] < n_threads * CS_LINE:
                raise ValueError("rng_states needs LINE entries per thread")
            self.c.rng_states = &rng_states[0]
            self.arrays["rng_states"] = rng_states.base
        if stats is not None:
            if stats.shape[0] < n_threads or stats.shape[1] != CS_LINE:
                raise ValueError("stats needs one LINE-wide row per thread")
            self.c.stats = &stats[0, 0]
            self.arrays["stats"] = stats.base

    @property
    def n_events(self) -> int:
        return self.c.n_events

    @property
    def dim(self) -> int:
        return self.c.dim

    @property
    def freeze_lhs(self) -> bool:
        return self.c.freeze_lhs


# --------------------------------------------------------------------------- vector kernels
cdef inline float dot(const float* a, const float* b, int d) noexcept nogil:
    cdef float s = 0.0
    cdef int i
    for i in range(d):
        s += a[i] * b[i]
    return s


cdef inline void adagrad_step(float* row, const float* direction, float sign_scale, float dir_sq,
                              float rate, int d) noexcept nogil:
    """row += sign_scale * step * direction, step = rate / sqrt(A + 1e-6) after A += w / d.

    ``w`` (``dir_sq``) is the row's AdaGrad weight (see :func:`apply_update`). The accumulator
    A lives at row[d]. The row is clipped to L2 norm <= 1 in the same pass.
    """
    cdef int i
    cdef float v, n2 = 0.0
    row[d] += dir_sq / d
    cdef float a = sign_scale * (rate / sqrtf(row[d] + <float>1e-6))
    for i in range(d):
        v = row[i] + a * direction[i]
        row[i] = v
        n2 += v * v
    if n2 > 1.0:
        a = <float>1.0 / sqrtf(n2)
        for i in range(d):
            row[i] *= a


cdef inline float cosine_to_row(const float* unit, const float* row, int d) noexcept nogil:
    cdef float n2 = dot(row, row, d)
    if n2 <= 0.0:
        return 0.0
    return dot(unit, row, d) / sqrtf(n2)


cdef inline float forward_lhs(float* table, int stride, int d, const int32_t* rows, int n,
                              float* lhs) noexcept nogil:
    """lhs = normalised sum of the rows; returns the norm before normalisation."""
    cdef int i, j
    cdef const float* r
    for j in range(d):
        lhs[j] = 0.0
    for i in range(n):
        r = table + <int64_t>rows[i] * stride
        for j in range(d):
            lhs[j] += r[j]
    cdef float nrm = sqrtf(dot(lhs, lhs, d))
    cdef float inv
    if nrm > 0.0:
        inv = 1.0 / nrm
        for j in range(d):
            lhs[j] *= inv
    return nrm


cdef inline void apply_update(float* table, int stride, int d, const int32_t* rows, int n_rows,
                              const float* lhs, const float* grad, int32_t pos,
                              const int32_t* negs, int n_negs, float rate, bint freeze_lhs) noexcept nogil:
    """Move LHS rows by -step*grad, the positive row by +step*lhs, each negative by -step/n*lhs.

    AdaGrad weights are the reference's (``EmbedModel::backward``): |grad|^2 for LHS rows and
    |lhs|^2 for the positive AND every negative cell row; a negative's 1/n scales its step only.
    With ``freeze_lhs`` the LHS (k-mer and bucket) rows and their accumulators are not touched.
    """
    cdef int i
    cdef float gsq = dot(grad, grad, d)
    cdef float lsq = dot(lhs, lhs, d)
    if not freeze_lhs:
        for i in range(n_rows):
            if i + 6 < n_rows:
                CS_PREFETCH(table + <int64_t>rows[i + 6] * stride)
                CS_PREFETCH(table + <int64_t>rows[i + 6] * stride + 16)
            adagrad_step(table + <int64_t>rows[i] * stride, grad, -1.0, gsq, rate, d)
    adagrad_step(table + <int64_t>pos * stride, lhs, 1.0, lsq, rate, d)
    cdef float inv = 1.0 / n_negs
    for i in range(n_negs):
        adagrad_step(table + <int64_t>negs[i] * stride, lhs, -inv, lsq, rate, d)


# candidate cell rows are prefetched this many candidates ahead of the one being scored
cdef enum:
    CS_CAND_AHEAD = 16


cdef inline void prefetch_table_row(const float* table, int stride, int32_t row) noexcept nogil:
    CS_PREFETCH(table + <int64_t>row * stride)
    CS_PREFETCH(table + <int64_t>row * stride + 16)


cdef inline float select_negatives(float* table, int stride, int d, const float* lhs, int32_t pos,
                                   float pos_sim, float margin, const int32_t* candidates, int n_cand,
                                   int max_neg, int32_t* negs, int* n_negs, float* grad) noexcept nogil:
    """Keep the first max_neg candidates violating the margin; grad = mean(neg unit) - pos unit.

    Returns the summed hinge loss of the kept negatives.
    """
    cdef int c, j, kept = 0
    cdef float sim, nrm, loss = 0.0
    cdef const float* row
    for j in range(d):
        grad[j] = 0.0
    for c in range(n_cand):
        if kept >= max_neg:
            break
        if c + CS_CAND_AHEAD < n_cand:
            prefetch_table_row(table, stride, candidates[c + CS_CAND_AHEAD])
        if candidates[c] == pos:
            continue
        row = table + <int64_t>candidates[c] * stride
        sim = cosine_to_row(lhs, row, d)
        if margin - pos_sim + sim > 0.0:
            loss += margin - pos_sim + sim
            negs[kept] = candidates[c]
            kept += 1
            nrm = sqrtf(dot(row, row, d))
            if nrm > 0.0:
                for j in range(d):
                    grad[j] += row[j] / nrm
    n_negs[0] = kept
    if kept > 0:
        row = table + <int64_t>pos * stride
        nrm = sqrtf(dot(row, row, d))
        for j in range(d):
            grad[j] = grad[j] / kept - (row[j] / nrm if nrm > 0.0 else 0.0)
    return loss


# --------------------------------------------------------------------------- training
cdef inline int draw_candidates(const Config* cfg, int32_t cell, int64_t event, uint64_t* rng,
                                int32_t* cands) noexcept nogil:
    """neg_search_limit candidate table rows from the pool of global cell ``cell`` (its shared
    pool when ``event`` is flagged shared; ``event`` < 0: never); returns the count.

    The rows of the first CS_CAND_AHEAD candidates are prefetched (``select_negatives`` keeps
    prefetching that far ahead). An empty pool gives no candidates (no update then).
    """
    cdef int32_t pool = cfg.pools.cell_pool[cell]
    if cfg.pools.shared_events != NULL and 0 <= event < cfg.pools.n_flagged_events \
            and cfg.pools.shared_events[event]:
        pool = cfg.pools.shared_pool[cell]
    cdef int64_t lo = cfg.pools.offsets[pool]
    cdef uint64_t n = <uint64_t>(cfg.pools.offsets[pool + 1] - lo)
    cdef int c
    if n == 0:
        return 0
    for c in range(cfg.neg_search_limit):
        cands[c] = <int32_t>(cfg.cell_offset + pool_draw(&cfg.pools, lo, n, rng))
        if c < CS_CAND_AHEAD and cfg.table != NULL:
            prefetch_table_row(cfg.table, cfg.stride, cands[c])
    return cfg.neg_search_limit


cdef int check_config(TrainConfig config) except -1:
    if not (config.has_table and config.has_corpus and config.has_events and config.has_pools):
        raise ValueError("training needs the table, the corpus, the event CSR and the pools")
    if config.c.rng_states == NULL or config.c.stats == NULL:
        raise ValueError("training needs rng_states and stats")
    if config.c.max_lhs < config.c.window_tokens:
        raise ValueError("max_lhs must hold a window's rows")
    return 0


def train_range(TrainConfig config, uint64_t epoch_key, int64_t start, int64_t stop, int64_t step_offset):
    """Train on examples [start, stop) of one epoch (positions in the epoch's permutation).

    ``step_offset`` is the global index of the epoch's first example (learning-rate decay).
    Thread t accumulates (loss, examples, updated examples, negatives) in row t of the
    config's ``stats`` and draws from ``rng_states[t * LINE]``; rows and states are a cache
    line apart, so no two threads write to the same line.
    """
    check_config(config)
    cdef Config* cfg = &config.c
    cdef int dim = cfg.dim
    cdef int stride = cfg.stride
    cdef float* tab = cfg.table
    cdef int64_t max_lhs = cfg.max_lhs
    cdef int max_neg = cfg.max_neg
    cdef int batch_size = cfg.batch_size
    cdef int64_t n_events = cfg.n_events
    cdef int64_t n_examples = n_events * cfg.examples_per_event
    half, mask = permutation_params(n_examples)
    cdef int half_bits = half
    cdef uint64_t half_mask = mask
    cdef int64_t n_batches = (stop - start + batch_size - 1) // batch_size
    if n_batches <= 0:
        return
    if start < 0 or stop > n_examples:
        raise ValueError("example range outside the epoch")

    cdef int64_t b, pos_in_epoch, ex, e, w, s0, j
    cdef int slot, nb, t
    cdef int n_search = cfg.neg_search_limit
    cdef int32_t cell
    cdef float rate, pos_sim, loss
    cdef double* st
    # per-thread scratch (assigned inside the parallel block, hence thread-private)
    cdef int32_t* sc_rows      # batch_size x max_lhs row ids
    cdef int* sc_n_rows        # per slot
    cdef float* sc_lhs         # batch_size x dim, normalised LHS
    cdef float* sc_grad        # batch_size x dim, gradient of the LHS side
    cdef int32_t* sc_pos       # per slot positive table row
    cdef int32_t* sc_negs      # batch_size x max_neg rows of violating negatives
    cdef int* sc_n_negs        # per slot
    cdef int64_t* sc_event     # per slot event
    cdef int64_t* sc_open      # per slot position of the positive in the event CSR's indices
    cdef int32_t* sc_cands     # batch_size x neg_search_limit candidate rows
    cdef int* sc_n_cand        # per slot
    cdef uint64_t* rng

    with nogil, parallel(num_threads=cfg.n_threads):
        t = threadid()
        rng = cfg.rng_states + t * CS_LINE
        st = cfg.stats + t * CS_LINE
        sc_rows = <int32_t*>malloc(sizeof(int32_t) * batch_size * max_lhs)
        sc_n_rows = <int*>malloc(sizeof(int) * batch_size)
        sc_lhs = <float*>malloc(sizeof(float) * batch_size * dim)
        sc_grad = <float*>malloc(sizeof(float) * batch_size * dim)
        sc_pos = <int32_t*>malloc(sizeof(int32_t) * batch_size)
        sc_negs = <int32_t*>malloc(sizeof(int32_t) * batch_size * max_neg)
        sc_n_negs = <int*>malloc(sizeof(int) * batch_size)
        sc_event = <int64_t*>malloc(sizeof(int64_t) * batch_size)
        sc_open = <int64_t*>malloc(sizeof(int64_t) * batch_size)
        sc_cands = <int32_t*>malloc(sizeof(int32_t) * batch_size * n_search)
        sc_n_cand = <int*>malloc(sizeof(int) * batch_size)
        for b in prange(n_batches, schedule="dynamic", chunksize=16):
            nb = batch_size
            if start + (b + 1) * batch_size > stop:
                nb = <int>(stop - start - b * batch_size)
            # ---- every memory address of the mini-batch's examples is computed before any
            # of them is used and its fetch started at once, so that the fetches overlap the
            # hashing of later examples: the positive's place in the event CSR (a random read
            # of a large array at atlas scale), the LHS rows, then the positive and candidate
            # cell rows
            for slot in range(nb):
                pos_in_epoch = start + b * batch_size + slot
                ex = permute(pos_in_epoch, n_examples, half_bits, half_mask, epoch_key)
                e = ex % n_events
                sc_event[slot] = e
                j = cfg.indptr[e] + rand_below(rng, cfg.indptr[e + 1] - cfg.indptr[e])
                sc_open[slot] = j
                CS_PREFETCH_READ(cfg.indices + j)
                w = cfg.window_tokens
                if w > cfg.corpus.ntok[e]:
                    w = cfg.corpus.ntok[e]
                s0 = rand_below(rng, cfg.corpus.ntok[e] - w + 1)
                event_tokens(&cfg.corpus, e, s0, w, sc_rows + slot * max_lhs)
                sc_n_rows[slot] = add_ngrams(&cfg.corpus, sc_rows + slot * max_lhs, <int>w)
            for slot in range(nb):
                cell = cfg.indices[sc_open[slot]]
                sc_pos[slot] = <int32_t>(cfg.cell_offset + cell)
                prefetch_table_row(tab, stride, sc_pos[slot])
                sc_n_cand[slot] = draw_candidates(cfg, cell, sc_event[slot], rng, sc_cands + slot * n_search)
            # ---- forward pass: LHS vectors, positives, negatives
            for slot in range(nb):
                forward_lhs(tab, stride, dim, sc_rows + slot * max_lhs, sc_n_rows[slot], sc_lhs + slot * dim)
                pos_sim = cosine_to_row(sc_lhs + slot * dim, tab + <int64_t>sc_pos[slot] * stride, dim)
                loss = select_negatives(tab, stride, dim, sc_lhs + slot * dim, sc_pos[slot], pos_sim,
                                        cfg.margin, sc_cands + slot * n_search, sc_n_cand[slot], max_neg,
                                        sc_negs + slot * max_neg, sc_n_negs + slot, sc_grad + slot * dim)
                st[0] += loss / max_neg
                st[1] += 1.0
                if sc_n_negs[slot] > 0:
                    st[2] += 1.0
                    st[3] += sc_n_negs[slot]
            # ---- updates
            for slot in range(nb):
                if sc_n_negs[slot] == 0:
                    continue
                pos_in_epoch = start + b * batch_size + slot
                rate = cfg.lr * (1.0 - <float>(step_offset + pos_in_epoch) / <float>cfg.total_steps)
                if rate < 0.0:
                    rate = 0.0
                apply_update(tab, stride, dim, sc_rows + slot * max_lhs, sc_n_rows[slot],
                             sc_lhs + slot * dim, sc_grad + slot * dim, sc_pos[slot],
                             sc_negs + slot * max_neg, sc_n_negs[slot], rate, cfg.freeze_lhs)
        free(sc_rows)
        free(sc_n_rows)
        free(sc_lhs)
        free(sc_grad)
        free(sc_pos)
        free(sc_negs)
        free(sc_n_negs)
        free(sc_event)
        free(sc_open)
        free(sc_cands)
        free(sc_n_cand)


# --------------------------------------------------------------------------- test hooks
def example_rows(TrainConfig config, int64_t event, int64_t start, int64_t w):
    """The LHS rows (k-mer rows then n-gram rows) the trainer uses for a window of an event."""
    if not config.has_corpus:
        raise ValueError("the config has no corpus")
    cdef Corpus corpus = config.c.corpus
    corpus.table = NULL  # no prefetching
    if event < 0 or event >= config.c.n_events:
        raise ValueError("event out of range")
    if start < 0 or w < 0 or start + w > corpus.ntok[event]:
        raise ValueError("window out of the event's token range")
    out = np.empty(w * corpus.ngrams + 1, dtype=np.int32)
    cdef int32_t[::1] o = out
    event_tokens(&corpus, event, start, w, &o[0])
    n = add_ngrams(&corpus, &o[0], <int>w)
    return out[:n].copy()


def ngram_bucket(const int32_t[::1] toks, int64_t n_buckets):
    """Bucket index (before the bucket offset) of one n-gram of token ids."""
    return <int64_t>cs_mulhi(ngram_hash(&toks[0], <int>toks.shape[0]), <uint64_t>n_buckets)


def update_step(TrainConfig config, const int32_t[::1] rows, int32_t pos, const int32_t[::1] candidates,
                float rate):
    """One forward + update of a single example with given candidate rows (the trainer's kernels).

    Uses the config's table, margin, max_neg and freeze flag. Returns (positive similarity,
    number of violating negatives kept, summed hinge loss).
    """
    if not config.has_table:
        raise ValueError("the config has no table")
    cdef Config* cfg = &config.c
    cdef int dim = cfg.dim
    lhs = np.empty(dim, dtype=np.float32)
    grad = np.empty(dim, dtype=np.float32)
    negs = np.empty(cfg.max_neg, dtype=np.int32)
    cdef float[::1] lv = lhs
    cdef float[::1] gv = grad
    cdef int32_t[::1] nv = negs
    cdef int n_negs = 0
    forward_lhs(cfg.table, cfg.stride, dim, &rows[0], rows.shape[0], &lv[0])
    cdef float pos_sim = cosine_to_row(&lv[0], cfg.table + <int64_t>pos * cfg.stride, dim)
    loss = select_negatives(cfg.table, cfg.stride, dim, &lv[0], pos, pos_sim, cfg.margin, &candidates[0],
                            candidates.shape[0], cfg.max_neg, &nv[0], &n_negs, &gv[0])
    if n_negs > 0:
        apply_update(cfg.table, cfg.stride, dim, &rows[0], rows.shape[0], &lv[0], &gv[0], pos, &nv[0],
                     n_negs, rate, cfg.freeze_lhs)
    return pos_sim, n_negs, loss


def draw_negatives(TrainConfig config, int32_t cell, int64_t n, uint64_t seed, int64_t event=-1):
    """``n`` negative candidates (global cell ids) for positive global cell ``cell`` in an
    example of ``event`` (< 0: no event, the cell's own pool).

    Drawn by the trainer's own pool code and RNG (splitmix64 started at ``seed``), in batches
    of ``neg_search_limit`` as in training. An empty pool gives an empty array.
    """
    if not config.has_pools:
        raise ValueError("the config has no pools")
    cdef Config c = config.c
    if cell < 0 or cell >= c.pools.n_cells:
        raise ValueError("cell out of range")
    if c.pools.shared_pool != NULL and event >= c.pools.n_flagged_events:
        raise ValueError("event out of range")
    c.cell_offset = 0
    cdef uint64_t state = seed
    out = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] o = out
    cands_arr = np.empty(c.neg_search_limit, dtype=np.int32)
    cdef int32_t[::1] cands = cands_arr
    cdef int64_t got = 0
    cdef int m, j
    with nogil:
        while got < n:
            m = draw_candidates(&c, cell, event, &state, &cands[0])
            if m == 0:
                break
            for j in range(m):
                if got < n:
                    o[got] = cands[j]
                    got += 1
    return out[:got].copy()
