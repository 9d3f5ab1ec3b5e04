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
from libc.math cimport sqrtf
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from *:
    """
    #include <stdint.h>
    #define CS_PREFETCH(p) __builtin_prefetch((const void*)(p), 1, 1)
    static inline uint64_t cs_mulhi(uint64_t a, uint64_t b) {
        return (uint64_t)(((unsigned __int128)a * b) >> 64);
    }
    """
    void CS_PREFETCH(const void* p) noexcept nogil
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
    const float* table          # rows are prefetched as soon as their ids are known
    int stride


cdef Corpus make_corpus(
    const uint8_t[::1] packed,
    const int64_t[::1] seq_off,
    const int64_t[::1] ntok,
    const int64_t[::1] tokpos_off,
    const int64_t[::1] tokpos,
    const uint32_t[::1] row_of_code,
    int k,
    int ngrams,
    int64_t n_buckets,
    int64_t bucket_offset,
    const float* table,
    int stride,
):
    """The corpus view the kernels read (``table`` NULL: no prefetching)."""
    cdef Corpus corpus
    corpus.packed = &packed[0]
    corpus.seq_off = &seq_off[0]
    corpus.ntok = &ntok[0]
    corpus.tokpos_off = &tokpos_off[0]
    corpus.tokpos = &tokpos[0]
    corpus.row_of_code = &row_of_code[0]
    corpus.k = k
    corpus.kmask = (<uint64_t>1 << (2 * k)) - 1
    corpus.ngrams = ngrams
    corpus.n_buckets = n_buckets
    corpus.bucket_offset = bucket_offset
    corpus.table = table
    corpus.stride = stride
    return corpus


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
                              const int32_t* negs, int n_negs, float rate) noexcept nogil:
    """Move LHS rows by -step*grad, the positive row by +step*lhs, each negative by -step/n*lhs.

    AdaGrad weights are the reference's (``EmbedModel::backward``): |grad|^2 for LHS rows and
    |lhs|^2 for the positive AND every negative cell row; a negative's 1/n scales its step only.
    """
    cdef int i
    cdef float gsq = dot(grad, grad, d)
    cdef float lsq = dot(lhs, lhs, d)
    for i in range(n_rows):
        if i + 6 < n_rows:
            CS_PREFETCH(table + <int64_t>rows[i + 6] * stride)
            CS_PREFETCH(table + <int64_t>rows[i + 6] * stride + 16)
        adagrad_step(table + <int64_t>rows[i] * stride, grad, -1.0, gsq, rate, d)
    adagrad_step(table + <int64_t>pos * stride, lhs, 1.0, lsq, rate, d)
    cdef float inv = 1.0 / n_negs
    for i in range(n_negs):
        adagrad_step(table + <int64_t>negs[i] * stride, lhs, -inv, lsq, rate, d)


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
# per-thread values are spaced by one 64-byte cache line (8 x 8 bytes): no false sharing
cdef enum:
    CS_LINE = 8
LINE = CS_LINE


def train_range(
    float[:, ::1] table,
    int dim,
    # corpus
    const uint8_t[::1] packed,
    const int64_t[::1] seq_off,
    const int64_t[::1] ntok,
    const int64_t[::1] tokpos_off,
    const int64_t[::1] tokpos,
    const uint32_t[::1] row_of_code,
    int k,
    int ngrams,
    int64_t n_buckets,
    int64_t bucket_offset,
    # events -> cells (global cell ids) and negative sampling groups
    const int64_t[::1] indptr,
    const int32_t[::1] indices,
    int64_t cell_offset,
    const int32_t[::1] cell_group,
    const int64_t[::1] group_row_start,
    const int64_t[::1] gindptr,
    const int32_t[::1] gindices,
    # schedule
    int64_t n_events,
    int64_t examples_per_event,
    int64_t window_tokens,
    int64_t max_lhs,
    uint64_t epoch_key,
    int64_t start,
    int64_t stop,
    int64_t step_offset,
    int64_t total_steps,
    # hyper-parameters
    float lr,
    float margin,
    int neg_search_limit,
    int max_neg,
    int batch_size,
    int n_threads,
    uint64_t[::1] rng_states,
    double[:, ::1] stats,
):
    """Train on examples [start, stop) of one epoch (positions in the epoch's permutation).

    ``stats[t]`` accumulates (loss, examples, updated examples, negatives) of thread t. The RNG
    state of thread t is ``rng_states[t * LINE]`` and stats rows are LINE doubles wide, so that
    no two threads write to the same cache line.
    """
    cdef int stride = table.shape[1]
    cdef float* tab = &table[0, 0]
    cdef Corpus corpus = make_corpus(packed, seq_off, ntok, tokpos_off, tokpos, row_of_code, k, ngrams,
                                     n_buckets, bucket_offset, tab, stride)
    cdef int64_t n_examples = n_events * examples_per_event
    half, mask = permutation_params(n_examples)
    cdef int half_bits = half
    cdef uint64_t half_mask = mask
    cdef int64_t n_batches = (stop - start + batch_size - 1) // batch_size
    if n_batches <= 0:
        return
    if rng_states.shape[0] < n_threads * CS_LINE or stats.shape[0] < n_threads or stats.shape[1] < CS_LINE:
        raise ValueError("rng_states needs LINE entries and stats one LINE-wide row per thread")

    cdef int64_t b, i, pos_in_epoch, ex, e, w, s0, cnt, r0, r1, grow
    cdef int slot, nb, t, c, n_cand, n
    cdef int32_t cell
    cdef float rate, pos_sim, loss
    # per-thread scratch (assigned inside the parallel block, hence thread-private)
    cdef int32_t* sc_rows      # batch_size x max_lhs row ids
    cdef int* sc_n_rows        # per slot
    cdef float* sc_lhs         # batch_size x dim, normalised LHS
    cdef float* sc_grad        # batch_size x dim, gradient of the LHS side
    cdef int32_t* sc_pos       # per slot positive table row
    cdef int32_t* sc_negs      # batch_size x max_neg rows of violating negatives
    cdef int* sc_n_negs        # per slot
    cdef int64_t* sc_event     # per slot event
    cdef int32_t* cands
    cdef uint64_t* rng

    with nogil, parallel(num_threads=n_threads):
        t = threadid()
        rng = &rng_states[t * CS_LINE]
        sc_rows = <int32_t*>malloc(sizeof(int32_t) * batch_size * max_lhs)
        sc_n_rows = <int*>malloc(sizeof(int) * batch_size)
        sc_lhs = <float*>malloc(sizeof(float) * batch_size * dim)
        sc_grad = <float*>malloc(sizeof(float) * batch_size * dim)
        sc_pos = <int32_t*>malloc(sizeof(int32_t) * batch_size)
        sc_negs = <int32_t*>malloc(sizeof(int32_t) * batch_size * max_neg)
        sc_n_negs = <int*>malloc(sizeof(int) * batch_size)
        sc_event = <int64_t*>malloc(sizeof(int64_t) * batch_size)
        cands = <int32_t*>malloc(sizeof(int32_t) * neg_search_limit)
        for b in prange(n_batches, schedule="dynamic", chunksize=16):
            nb = batch_size
            if start + (b + 1) * batch_size > stop:
                nb = <int>(stop - start - b * batch_size)
            # ---- rows of every example of the mini-batch; their table rows are prefetched as
            # they are computed, so the memory fetches overlap the hashing of later examples
            for slot in range(nb):
                pos_in_epoch = start + b * batch_size + slot
                ex = permute(pos_in_epoch, n_examples, half_bits, half_mask, epoch_key)
                e = ex % n_events
                sc_event[slot] = e
                w = window_tokens
                if w > corpus.ntok[e]:
                    w = corpus.ntok[e]
                s0 = rand_below(rng, corpus.ntok[e] - w + 1)
                event_tokens(&corpus, e, s0, w, sc_rows + slot * max_lhs)
                sc_n_rows[slot] = add_ngrams(&corpus, sc_rows + slot * max_lhs, <int>w)
            # ---- forward pass: LHS vectors, positives, negatives
            for slot in range(nb):
                e = sc_event[slot]
                forward_lhs(tab, stride, dim, sc_rows + slot * max_lhs, sc_n_rows[slot], sc_lhs + slot * dim)
                cnt = indptr[e + 1] - indptr[e]
                cell = indices[indptr[e] + rand_below(rng, cnt)]
                sc_pos[slot] = <int32_t>(cell_offset + cell)
                pos_sim = cosine_to_row(sc_lhs + slot * dim, tab + <int64_t>sc_pos[slot] * stride, dim)
                # negative candidates: random event row of the group, then a random cell of it
                grow = cell_group[cell]
                r0 = group_row_start[grow]
                r1 = group_row_start[grow + 1]
                n_cand = 0
                for c in range(neg_search_limit):
                    i = r0 + rand_below(rng, r1 - r0)
                    cands[n_cand] = <int32_t>(cell_offset + gindices[gindptr[i] + rand_below(rng, gindptr[i + 1] - gindptr[i])])
                    n_cand = n_cand + 1
                loss = select_negatives(tab, stride, dim, sc_lhs + slot * dim, sc_pos[slot], pos_sim,
                                        margin, cands, n_cand, max_neg, sc_negs + slot * max_neg,
                                        sc_n_negs + slot, sc_grad + slot * dim)
                stats[t, 0] += loss / max_neg
                stats[t, 1] += 1.0
                if sc_n_negs[slot] > 0:
                    stats[t, 2] += 1.0
                    stats[t, 3] += sc_n_negs[slot]
            # ---- updates
            for slot in range(nb):
                if sc_n_negs[slot] == 0:
                    continue
                pos_in_epoch = start + b * batch_size + slot
                rate = lr * (1.0 - <float>(step_offset + pos_in_epoch) / <float>total_steps)
                if rate < 0.0:
                    rate = 0.0
                apply_update(tab, stride, dim, sc_rows + slot * max_lhs, sc_n_rows[slot],
                             sc_lhs + slot * dim, sc_grad + slot * dim, sc_pos[slot],
                             sc_negs + slot * max_neg, sc_n_negs[slot], rate)
        free(sc_rows)
        free(sc_n_rows)
        free(sc_lhs)
        free(sc_grad)
        free(sc_pos)
        free(sc_negs)
        free(sc_n_negs)
        free(sc_event)
        free(cands)


# --------------------------------------------------------------------------- test hooks
def example_rows(
    const uint8_t[::1] packed,
    const int64_t[::1] seq_off,
    const int64_t[::1] ntok,
    const int64_t[::1] tokpos_off,
    const int64_t[::1] tokpos,
    const uint32_t[::1] row_of_code,
    int k,
    int ngrams,
    int64_t n_buckets,
    int64_t bucket_offset,
    int64_t event,
    int64_t start,
    int64_t w,
):
    """The LHS rows (k-mer rows then n-gram rows) the trainer uses for a window of an event."""
    cdef Corpus corpus = make_corpus(packed, seq_off, ntok, tokpos_off, tokpos, row_of_code, k, ngrams,
                                     n_buckets, bucket_offset, NULL, 0)
    if start < 0 or w < 0 or start + w > ntok[event]:
        raise ValueError("window out of the event's token range")
    out = np.empty(w * ngrams + 1, dtype=np.int32)
    cdef int32_t[::1] o = out
    event_tokens(&corpus, event, start, w, &o[0])
    n = add_ngrams(&corpus, &o[0], <int>w)
    return out[:n].copy()


def ngram_bucket(const int32_t[::1] toks, int64_t n_buckets):
    """Bucket index (before the bucket offset) of one n-gram of token ids."""
    return <int64_t>cs_mulhi(ngram_hash(&toks[0], <int>toks.shape[0]), <uint64_t>n_buckets)


def update_step(float[:, ::1] table, int dim, const int32_t[::1] rows, int32_t pos,
                const int32_t[::1] candidates, float margin, int max_neg, float rate):
    """One forward + update of a single example with given candidates (the trainer's kernels).

    Returns (positive similarity, number of violating negatives kept, summed hinge loss).
    """
    cdef int stride = table.shape[1]
    cdef float* tab = &table[0, 0]
    lhs = np.empty(dim, dtype=np.float32)
    grad = np.empty(dim, dtype=np.float32)
    negs = np.empty(max(max_neg, 1), dtype=np.int32)
    cdef float[::1] lv = lhs
    cdef float[::1] gv = grad
    cdef int32_t[::1] nv = negs
    cdef int n_negs = 0
    forward_lhs(tab, stride, dim, &rows[0], rows.shape[0], &lv[0])
    cdef float pos_sim = cosine_to_row(&lv[0], tab + <int64_t>pos * stride, dim)
    loss = select_negatives(tab, stride, dim, &lv[0], pos, pos_sim, margin, &candidates[0],
                            candidates.shape[0], max_neg, &nv[0], &n_negs, &gv[0])
    if n_negs > 0:
        apply_update(tab, stride, dim, &rows[0], rows.shape[0], &lv[0], &gv[0], pos, &nv[0],
                     n_negs, rate)
    return pos_sim, n_negs, loss
