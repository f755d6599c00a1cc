"""numba kernels of word2vec: skip-gram and CBOW, negative sampling and hierarchical softmax.

Skip-gram is batched per centre word as in Ji et al. (2016), "Parallelizing
Word2Vec in Shared and Distributed Memory": the input rows of the n context
words of a window (gathered into `inp`, n x d) meet the output rows shared by
the whole window (the centre word and its K negatives, or its Huffman path),
so each update is a small (n x m) matrix product held in L1 instead of n
separate passes over m random rows. CBOW has a single input row (the mean or
sum of the context rows), so it takes word2vec.c's route instead (`_out_row`):
per output row one dot product and one fused pass that updates both sides.

Each word's input vector is gathered through a word -> rows table (`row_starts`,
`row_ids`): the mean of its rows, and its gradient is added back to each of them.
word2vec is the identity table (one row per word, a plain copy); the subword
trainer lists a word's own row and its character n-gram rows (fastText), with
the same kernel. `out_block` only sees gathered input rows and returns their gradient.

All kernels are `nogil` and read/write the shared float32 matrices without
locks (Hogwild). `train_chunk` polls `stop[0]` between sentences and publishes
its progress every ~10,000 words in `counters[tid, 0]`, from which every
thread derives the linearly decaying learning rate, as word2vec.c does.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from nlpt.common.rng import rng_below, rng_next, rng_u32
from nlpt.embeddings.word2vec.sampling import alias_draw

MAX_EXP = 30.0  # clamp for the exact loss
SIG_MAX = 6.0  # sigmoid table range, as word2vec.c's MAX_EXP: beyond it the sigmoid is 0 or 1
SIG_SIZE = 2048
SIG_SCALE = SIG_SIZE / (2 * SIG_MAX)
# sigmoid at the centre of each of SIG_SIZE cells over [-SIG_MAX, SIG_MAX)
SIG_TABLE = (1.0 / (1.0 + np.exp(-((np.arange(SIG_SIZE) + 0.5) / SIG_SCALE - SIG_MAX)))).astype(np.float32)
PUBLISH_EVERY = 10_000
AHEAD = 2  # CBOW: negatives are drawn, and their rows prefetched, this many positions early

MODE_SG = 0
MODE_CBOW_MEAN = 1
MODE_CBOW_SUM = 2


@njit(inline="always")
def _sigmoid(f):
    if f >= SIG_MAX:
        return np.float32(1.0)
    if f <= -SIG_MAX:
        return np.float32(0.0)
    return SIG_TABLE[int((f + SIG_MAX) * SIG_SCALE)]


@njit(inline="always")
def _nll(f, lab):
    """-log P(label | f) in float64 (display only)."""
    x = min(max(float(f), -MAX_EXP), MAX_EXP)
    lp = math.log1p(math.exp(-x))
    return lp if lab > 0.5 else lp + x


# Callers pass n and nout as np.int64: literal 1s and int32 counts would each compile another
# specialisation (6 instead of 1, ~8 s more on a fresh clone's first run).
@njit(fastmath=True, nogil=True, cache=True)
def out_block(inp, n, syn1, outs, labels, nout, alpha, grad, G, with_loss):
    """Logistic-regression step of n input rows against nout output rows.

    inp[:n] (n x d) are the input vectors (not modified); outs[:nout] the rows
    of `syn1` to score, with targets labels[:nout] (1 = true word / branch).
    Adds alpha * dLogLik/d(inp) to grad[:n], updates syn1 rows in place, and
    returns the loss (negative log-likelihood) summed over the n*nout terms if
    `with_loss`, else 0.

    The three products (logits, input gradient, output update) are computed
    in 2 x 2 register tiles, so each row loaded from L1 serves two others.
    """
    d = inp.shape[1]
    loss = 0.0
    a32 = np.float32(alpha)
    # logits -> G[j, k] = alpha * (label - sigmoid(inp_j . syn1_k)), in 2 x 2 tiles
    for j0 in range(0, n, 2):
        j1 = j0 + 1 if j0 + 1 < n else j0
        for k0 in range(0, nout, 2):
            k1 = k0 + 1 if k0 + 1 < nout else k0
            o0 = outs[k0]
            o1 = outs[k1]
            f00 = np.float32(0.0)
            f01 = np.float32(0.0)
            f10 = np.float32(0.0)
            f11 = np.float32(0.0)
            for t in range(d):
                a0 = inp[j0, t]
                a1 = inp[j1, t]
                b0 = syn1[o0, t]
                b1 = syn1[o1, t]
                f00 += a0 * b0
                f01 += a0 * b1
                f10 += a1 * b0
                f11 += a1 * b1
            G[j0, k0] = (labels[k0] - _sigmoid(f00)) * a32
            G[j0, k1] = (labels[k1] - _sigmoid(f01)) * a32
            G[j1, k0] = (labels[k0] - _sigmoid(f10)) * a32
            G[j1, k1] = (labels[k1] - _sigmoid(f11)) * a32
            if with_loss:
                loss += _nll(f00, labels[k0])
                if k1 != k0:
                    loss += _nll(f01, labels[k1])
                if j1 != j0:
                    loss += _nll(f10, labels[k0])
                    if k1 != k0:
                        loss += _nll(f11, labels[k1])
    # grad[j] += sum_k G[j, k] * syn1[outs[k]]
    for j0 in range(0, n, 2):
        if j0 + 1 < n:
            j1 = j0 + 1
            for k0 in range(0, nout, 2):
                o0 = outs[k0]
                g00 = G[j0, k0]
                g10 = G[j1, k0]
                if k0 + 1 < nout:
                    o1 = outs[k0 + 1]
                    g01 = G[j0, k0 + 1]
                    g11 = G[j1, k0 + 1]
                else:
                    o1 = o0
                    g01 = np.float32(0.0)
                    g11 = np.float32(0.0)
                for t in range(d):
                    b0 = syn1[o0, t]
                    b1 = syn1[o1, t]
                    grad[j0, t] += g00 * b0 + g01 * b1
                    grad[j1, t] += g10 * b0 + g11 * b1
        else:
            for k0 in range(0, nout, 2):
                o0 = outs[k0]
                g00 = G[j0, k0]
                if k0 + 1 < nout:
                    o1 = outs[k0 + 1]
                    g01 = G[j0, k0 + 1]
                else:
                    o1 = o0
                    g01 = np.float32(0.0)
                for t in range(d):
                    grad[j0, t] += g00 * syn1[o0, t] + g01 * syn1[o1, t]
    # syn1[outs[k]] += sum_j G[j, k] * inp[j]   (four inputs at a time; output rows one by
    # one, since two negatives may be the same row)
    for k in range(nout):
        o = outs[k]
        for j0 in range(0, n, 4):
            g0 = G[j0, k]
            j1 = j0 + 1 if j0 + 1 < n else j0
            j2 = j0 + 2 if j0 + 2 < n else j0
            j3 = j0 + 3 if j0 + 3 < n else j0
            g1 = G[j1, k] if j0 + 1 < n else np.float32(0.0)
            g2 = G[j2, k] if j0 + 2 < n else np.float32(0.0)
            g3 = G[j3, k] if j0 + 3 < n else np.float32(0.0)
            for t in range(d):
                syn1[o, t] += (g0 * inp[j0, t] + g1 * inp[j1, t]) + (g2 * inp[j2, t] + g3 * inp[j3, t])
    return loss


@njit(inline="always")
def gather_rows(syn0, row_starts, row_ids, w, dst, j, d):
    """dst[j] = mean of word w's input rows (a plain copy for a single row)."""
    a = row_starts[w]
    b = row_starts[w + 1]
    if b - a == 1:
        r = row_ids[a]
        for t in range(d):
            dst[j, t] = syn0[r, t]
        return
    for t in range(d):
        dst[j, t] = 0.0
    for q in range(a, b):
        r = row_ids[q]
        for t in range(d):
            dst[j, t] += syn0[r, t]
    if b > a:
        inv = np.float32(1.0 / (b - a))
        for t in range(d):
            dst[j, t] *= inv


@njit(inline="always")
def _scatter(syn0, row_starts, row_ids, w, grad, j, d):
    """Add grad[j] to each of word w's input rows."""
    for q in range(row_starts[w], row_starts[w + 1]):
        r = row_ids[q]
        for t in range(d):
            syn0[r, t] += grad[j, t]


@intrinsic
def _prefetch(typingctx, arr, i, j):
    """Ask the CPU to start loading arr[i, j]'s cache line (`llvm.prefetch`: read, keep in all levels)."""
    if not isinstance(arr, types.Array) or arr.ndim != 2:
        return None
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):
        aryty, ity, jty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, args[1], ity, types.intp), context.cast(builder, args[2], jty, types.intp)]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, inds, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p],
                                              ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always")
def _prefetch_row(arr, r, d):
    """Prefetch row r of arr (float32, one hint per 64-byte line)."""
    for t in range(0, d, 16):
        _prefetch(arr, r, t)
    _prefetch(arr, r, d - 1)


@njit(inline="always")
def _out_row(inp, grad, syn1, outs, labels, nout, a32, d, with_loss):
    """`out_block` for one input row (CBOW's context vector), in word2vec.c's order.

    Each output row in turn: its logit (one vectorised dot), then one pass that adds
    its share to the input gradient and updates the row. The only difference from
    scoring all rows first: a negative drawn twice sees its first update.
    """
    loss = 0.0
    for k in range(nout):
        o = outs[k]
        f = np.float32(0.0)
        for t in range(d):
            f += inp[t] * syn1[o, t]
        g = (labels[k] - _sigmoid(f)) * a32
        if with_loss:
            loss += _nll(f, labels[k])
        for t in range(d):
            b = syn1[o, t]
            grad[t] += g * b
            syn1[o, t] = b + g * inp[t]
    return loss


@njit(nogil=True, cache=True)
def current_alpha(alpha0, min_ratio, counters, offset, total):
    """Linear decay from alpha0 to alpha0 * min_ratio over `total` units (all threads' counters)."""
    done = offset
    for t in range(counters.shape[0]):
        done += counters[t, 0]
    frac = done / (total + 1.0)
    if frac > 1.0:
        frac = 1.0
    return alpha0 * (1.0 - (1.0 - min_ratio) * frac)


@njit(inline="always")
def _negatives(w, negative, alias_prob, alias_idx, outs, labels, state):
    """Centre word `w` (label 1) then up to `negative` draws other than w (label 0) into outs/labels.

    Returns (number of output rows, advanced generator state).
    """
    outs[0] = w
    labels[0] = 1.0
    nout = 1
    for _ in range(negative):
        state = rng_next(state)
        neg = alias_draw(state, alias_prob, alias_idx)
        if neg != w:
            outs[nout] = neg
            labels[nout] = 0.0
            nout += 1
    return nout, state


@njit(fastmath=True, nogil=True, cache=True)
def train_chunk(ids, starts, syn0, syn1neg, syn1, codes, points, code_lens,
                alias_prob, alias_idx, keep, window, negative, use_hs, mode,
                alpha0, min_ratio, total, offset, counters, losses, tid, stop, rng, loss_every, shared_neg,
                row_starts, row_ids, centre_input, identity):
    """Train on the sentences ids[starts[i]:starts[i+1]]; returns 1 if stopped by the flag.

    `rng` is a uint64[1] holding this thread's generator state (updated).
    `keep[w]`: subsampling threshold (uint64, 2**32 = always keep).
    `mode`: 0 skip-gram, 1 CBOW with the mean of the context, 2 CBOW with the sum.
    Loss is computed for one centre word in `loss_every` (1 = all).

    Word w's input vector is the mean of the rows row_ids[row_starts[w]:row_starts[w+1]]
    of `syn0`, and its gradient is added to each of them (fastText's rule). word2vec is
    the identity table (row w only); fastText's subwords list the word's row and its
    n-gram buckets. CBOW averages all the rows of the context words. Skip-gram with
    `centre_input` takes the centre word as the input (fastText's direction: its rows
    are summed once per position) against each context word and its negatives in turn;
    without it, the context words are the inputs against the centre word and one set
    of negatives (word2vec.c's direction, batched as above). `identity` says that the
    table is word w -> row w (plain word2vec), which CBOW then reads directly.
    """
    d = syn0.shape[1]
    n_sent = starts.shape[0] - 1
    max_ctx = 2 * window
    hs_len = codes.shape[1] if use_hs else 0
    max_out = max(negative + 1, hs_len, 1)
    rows_in = max_ctx if (mode == MODE_SG and not centre_input) else 1
    inp = np.empty((rows_in, d), np.float32)
    grad = np.empty((rows_in, d), np.float32)
    gsum = np.empty((1, d), np.float32)  # centre_input: the gradient summed over the window
    G = np.empty((rows_in, max_out), np.float32)
    outs = np.empty(max_out, np.int64)
    labels = np.empty(max_out, np.float32)
    # CBOW with negative sampling draws each centre word's negatives AHEAD positions early
    # and prefetches their output rows (and the input row about to enter the window), so that
    # these random rows arrive from memory while the words before are computed. Position i's
    # draws live in slot i % (AHEAD + 1) of the ring.
    ahead = mode != MODE_SG and negative > 0
    ring_o = np.empty((AHEAD + 1, max_out), np.int64)
    ring_l = np.empty((AHEAD + 1, max_out), np.float32)
    ring_n = np.zeros(AHEAD + 1, np.int64)
    ctx = np.empty(max_ctx, np.int64)
    max_len = 0
    for s in range(n_sent):
        if starts[s + 1] - starts[s] > max_len:
            max_len = starts[s + 1] - starts[s]
    sen = np.empty(max(max_len, 1), np.int64)
    state = rng[0]
    alpha = current_alpha(alpha0, min_ratio, counters, offset, total)
    pending = 0
    loss = 0.0
    loss_terms = 0.0
    loss_tick = 0
    stopped = 0
    for s in range(n_sent):
        if stop[0] != 0:
            stopped = 1
            break
        a = starts[s]
        b = starts[s + 1]
        pending += b - a
        # subsampling of frequent words
        m = 0
        for i in range(a, b):
            w = ids[i]
            state = rng_next(state)
            if rng_u32(state) <= keep[w]:
                sen[m] = w
                m += 1
        if ahead:
            for q in range(min(m, AHEAD)):
                ring_n[q], state = _negatives(sen[q], negative, alias_prob, alias_idx, ring_o[q], ring_l[q], state)
        for i in range(m):
            w = sen[i]
            if ahead and i + AHEAD < m:
                q = (i + AHEAD) % (AHEAD + 1)
                ring_n[q], state = _negatives(sen[i + AHEAD], negative, alias_prob, alias_idx, ring_o[q], ring_l[q],
                                              state)
                for k in range(ring_n[q]):
                    _prefetch_row(syn1neg, ring_o[q, k], d)
                if identity and i + AHEAD + window < m:
                    _prefetch_row(syn0, sen[i + AHEAD + window], d)
            state = rng_next(state)
            reduced = rng_below(state, window)
            span = window - reduced
            lo = max(0, i - span)
            hi = min(m, i + span + 1)
            nctx = 0
            for c in range(lo, hi):
                if c != i:
                    ctx[nctx] = sen[c]
                    nctx += 1
            if nctx == 0:
                continue
            want_loss = False
            loss_tick += 1
            if loss_tick >= loss_every:
                loss_tick = 0
                want_loss = True
            if mode == MODE_SG and centre_input:
                # fastText's skip-gram: the centre word's rows are summed once, then each context
                # word in turn (with its own negatives or Huffman path) updates the outputs and the
                # hidden vector. Adding a gradient to every row moves their mean by that gradient,
                # so `inp` stays the mean of the updated rows without summing them again, and the
                # rows are written once at the end: fastText's sequential updates, one gather/scatter.
                gather_rows(syn0, row_starts, row_ids, w, inp, 0, d)
                for t in range(d):
                    gsum[0, t] = 0.0
                for j in range(nctx):
                    c = ctx[j]
                    for t in range(d):
                        grad[0, t] = 0.0
                    if use_hs:
                        L = code_lens[c]
                        for k in range(L):
                            outs[k] = points[c, k]
                            labels[k] = 1.0 - codes[c, k]
                        lo_ = out_block(inp, 1, syn1, outs, labels, L, alpha, grad, G, want_loss)
                        if want_loss:
                            loss += lo_
                            loss_terms += L
                    if negative > 0:
                        nout, state = _negatives(c, negative, alias_prob, alias_idx, outs, labels, state)
                        lo_ = out_block(inp, 1, syn1neg, outs, labels, nout, alpha, grad, G, want_loss)
                        if want_loss:
                            loss += lo_
                            loss_terms += nout
                    for t in range(d):
                        inp[0, t] += grad[0, t]
                        gsum[0, t] += grad[0, t]
                _scatter(syn0, row_starts, row_ids, w, gsum, 0, d)
                continue
            if mode != MODE_SG:
                # CBOW: one input row, the mean (or sum) of the context rows, against the centre
                # word's output rows; its gradient goes back to every context row.
                inp1 = inp[0]
                grad1 = grad[0]
                for t in range(d):
                    grad1[t] = 0.0
                if identity:
                    c = ctx[0]
                    for t in range(d):
                        inp1[t] = syn0[c, t]
                    for j in range(1, nctx):
                        c = ctx[j]
                        for t in range(d):
                            inp1[t] += syn0[c, t]
                    n_rows = nctx
                else:
                    for t in range(d):
                        inp1[t] = 0.0
                    n_rows = 0
                    for j in range(nctx):
                        c = ctx[j]
                        for q in range(row_starts[c], row_starts[c + 1]):
                            r = row_ids[q]
                            for t in range(d):
                                inp1[t] += syn0[r, t]
                        n_rows += row_starts[c + 1] - row_starts[c]
                if mode == MODE_CBOW_MEAN:
                    inv = np.float32(1.0 / n_rows)
                    for t in range(d):
                        inp1[t] *= inv
                a32 = np.float32(alpha)
                if use_hs:
                    L = code_lens[w]
                    for k in range(L):
                        outs[k] = points[w, k]
                        labels[k] = 1.0 - codes[w, k]
                    lo_ = _out_row(inp1, grad1, syn1, outs, labels, L, a32, d, want_loss)
                    if want_loss:
                        loss += lo_
                        loss_terms += L
                if negative > 0:  # drawn AHEAD positions early (`ahead`)
                    q = i % (AHEAD + 1)
                    nout = ring_n[q]
                    lo_ = _out_row(inp1, grad1, syn1neg, ring_o[q], ring_l[q], nout, a32, d, want_loss)
                    if want_loss:
                        loss += lo_
                        loss_terms += nout
                if mode == MODE_CBOW_SUM:
                    inv = np.float32(1.0 / n_rows)
                    for t in range(d):
                        grad1[t] *= inv
                if identity:
                    for j in range(nctx):
                        c = ctx[j]
                        for t in range(d):
                            syn0[c, t] += grad1[t]
                else:
                    for j in range(nctx):
                        _scatter(syn0, row_starts, row_ids, ctx[j], grad, 0, d)
                continue
            # skip-gram: the context words' rows against the centre word's output rows
            n_in = nctx
            for j in range(nctx):
                gather_rows(syn0, row_starts, row_ids, ctx[j], inp, j, d)
                for t in range(d):
                    grad[j, t] = 0.0
            if use_hs:
                L = code_lens[w]
                for k in range(L):
                    outs[k] = points[w, k]
                    labels[k] = 1.0 - codes[w, k]
                lo_ = out_block(inp, np.int64(n_in), syn1, outs, labels, np.int64(L), alpha, grad, G, want_loss)
                if want_loss:
                    loss += lo_
                    loss_terms += n_in * L
            if negative > 0 and not shared_neg:
                # word2vec.c / gensim: fresh negatives for every (context, centre) pair
                for j in range(n_in):
                    nout, state = _negatives(w, negative, alias_prob, alias_idx, outs, labels, state)
                    lo_ = out_block(inp[j:j + 1], np.int64(1), syn1neg, outs, labels, np.int64(nout), alpha, grad[j:j + 1], G, want_loss)
                    if want_loss:
                        loss += lo_
                        loss_terms += nout
            elif negative > 0:
                nout, state = _negatives(w, negative, alias_prob, alias_idx, outs, labels, state)
                lo_ = out_block(inp, np.int64(n_in), syn1neg, outs, labels, np.int64(nout), alpha, grad, G, want_loss)
                if want_loss:
                    loss += lo_
                    loss_terms += n_in * nout
            for j in range(nctx):
                _scatter(syn0, row_starts, row_ids, ctx[j], grad, j, d)
        if pending >= PUBLISH_EVERY:
            counters[tid, 0] += pending
            pending = 0
            losses[tid, 0] += loss
            losses[tid, 1] += loss_terms
            loss = 0.0
            loss_terms = 0.0
            alpha = current_alpha(alpha0, min_ratio, counters, offset, total)
    counters[tid, 0] += pending
    losses[tid, 0] += loss
    losses[tid, 1] += loss_terms
    rng[0] = state
    return stopped
