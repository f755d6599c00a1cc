"""word2vec training: skip-gram / CBOW with negative sampling and/or hierarchical softmax.

Defaults are word2vec.c's (`-size 100 -window 5 -sample 1e-3 -negative 5
-hs 0 -min-count 5 -iter 5`, alpha 0.025 for skip-gram and 0.05 for CBOW,
decayed linearly to alpha * 1e-4 over the whole run).

Pipeline: count the words (`nlpt.vocab.count.count_vocab`, parallel, the engine
of `nlpt vocab`) or read a vocabulary file, build the sampling tables, then
each of `threads` workers reads its own byte range of the input once per
epoch, encodes it in numba and trains on it with the nogil kernels of
`w2v_kernels`, sharing the matrices (Hogwild). While training, the words are
held only as UTF-8 bytes in the encoder's table (peak memory: the matrices
plus ~10 MB). See `driver` for threading, progress, interruption and checkpoints.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.process import trim_heap
from nlpt.common.progress import log
from nlpt.corpus.reader import ReaderOptions, ReadStats, compression_of
from nlpt.vocab.vocab import Vocab

CHECKPOINT_VERSION = 1


@dataclass
class W2VConfig:
    size: int = 100
    window: int = 5
    sample: float = 1e-3
    negative: int = 5
    hs: bool = False
    cbow: bool = False
    cbow_mean: bool = True
    min_count: int = 5
    max_vocab: int | None = None
    epochs: int = 5
    alpha: float | None = None  # None: 0.025 skip-gram, 0.05 CBOW
    min_alpha_ratio: float = 1e-4
    ns_exponent: float = 0.75
    threads: int = 1
    seed: int = 1
    loss_every: int = 4  # compute the loss for one centre word in this many (display only)
    shared_negatives: bool = True  # skip-gram: one set of negatives per window (Ji et al. 2016)

    @property
    def start_alpha(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return 0.05 if self.cbow else 0.025

    @property
    def mode(self) -> int:
        from nlpt.embeddings.w2v_kernels import MODE_CBOW_MEAN, MODE_CBOW_SUM, MODE_SG

        if not self.cbow:
            return MODE_SG
        return MODE_CBOW_MEAN if self.cbow_mean else MODE_CBOW_SUM

    def validate(self) -> None:
        if self.size < 1:
            raise UsageError("--size must be at least 1")
        if self.window < 1:
            raise UsageError("--window must be at least 1")
        if self.negative < 0:
            raise UsageError("--negative must be >= 0")
        if self.negative == 0 and not self.hs:
            raise UsageError("nothing to train: use --negative N (N > 0) and/or --hs")
        if self.epochs < 1:
            raise UsageError("--epochs must be at least 1")
        if self.start_alpha <= 0:
            raise UsageError("--alpha must be positive")
        if self.sample < 0:
            raise UsageError("--sample must be >= 0")


@dataclass
class W2VModel:
    vocab: Vocab
    syn0: np.ndarray  # input vectors (the word vectors)
    syn1neg: np.ndarray | None  # output vectors for negative sampling (the context vectors)
    syn1: np.ndarray | None  # inner nodes of the Huffman tree
    config: W2VConfig
    stats: dict = field(default_factory=dict)


def build_vocab(stream, opts: ReaderOptions, config: W2VConfig, read_vocab: str | None, quiet: bool,
                threads: int) -> tuple[Vocab, ReadStats | None, float]:
    """The training vocabulary: counted from the corpus (`stream.paths`) or read from a file.

    Counted by `nlpt.vocab.count.count_vocab` (the engine of `nlpt vocab`), whose
    words are exactly the tokens `stream` encodes; only the kept words become
    Python strings and the count table is freed before this returns.
    """
    t0 = time.perf_counter()
    if read_vocab:
        vocab = Vocab.load(read_vocab, config.min_count, config.max_vocab)
        if len(vocab) == 0:
            raise NlptError(f"{read_vocab}: no word with count >= {config.min_count} (--min-count)")
        return vocab, None, time.perf_counter() - t0
    from nlpt.common.progress import Progress
    from nlpt.vocab.count import count_vocab, describe_prune

    paths = stream.paths
    size = sum(os.path.getsize(p) for p in paths)
    total = None if any(compression_of(p) for p in paths) else size  # compressed: bytes read are not the file sizes
    # small inputs are counted in a blink: no progress line (errors stay one line)
    with Progress("counting words", total=total, unit="B", quiet=quiet or size < (64 << 20)) as progress:
        counted = count_vocab(paths, opts, threads, config.min_count, config.max_vocab, progress=progress)
    vocab, n_tokens, n_types = counted.vocab, counted.tokens, counted.types
    if n_tokens == 0:
        raise NlptError(f"{paths[0] if len(paths) == 1 else 'input'}: empty corpus (no tokens)")
    if len(vocab) == 0:
        raise NlptError(
            f"no word occurs at least {config.min_count} times (--min-count) in {n_tokens} tokens; "
            "lower --min-count or give a larger corpus"
        )
    pruned = describe_prune(counted.prune)
    if pruned:  # a warning: shown even with --quiet, as `nlpt vocab` does
        print(f"nlpt: warning: {pruned}", file=sys.stderr, flush=True)
    log(f"vocabulary: {len(vocab)} words of {n_types} types, {n_tokens} tokens "
        f"({time.perf_counter() - t0:.1f}s)", quiet)
    return vocab, counted.stats, time.perf_counter() - t0


def init_model(vocab: Vocab, config: W2VConfig) -> W2VModel:
    """Fresh matrices for `vocab` (only its length is used) as word2vec.c initialises them."""
    rng = np.random.default_rng(config.seed)
    v, d = len(vocab), config.size
    syn0 = rng.random((v, d), dtype=np.float32)
    syn0 -= 0.5
    syn0 /= d
    syn1neg = np.zeros((v, d), np.float32) if config.negative > 0 else None
    syn1 = np.zeros((max(v - 1, 1), d), np.float32) if config.hs else None
    return W2VModel(vocab, syn0, syn1neg, syn1, config)


def _model_arrays(model: W2VModel, counts: np.ndarray) -> dict:
    arrays = {"syn0": model.syn0, "counts": counts}
    if model.syn1neg is not None:
        arrays["syn1neg"] = model.syn1neg
    if model.syn1 is not None:
        arrays["syn1"] = model.syn1
    return arrays


def train(
    paths: list[str],
    opts: ReaderOptions,
    config: W2VConfig,
    read_vocab: str | None = None,
    save_vocab: str | None = None,
    checkpoint: str | None = None,
    quiet: bool = False,
    keep_context: bool = True,
) -> W2VModel:
    """Train word2vec on `paths`; raises KeyboardInterrupt (after writing `checkpoint`, if given) when interrupted.

    `keep_context=False` drops the context vectors (`syn1neg`, `syn1`) from the
    returned model, freeing their memory before the vocabulary is rebuilt.
    """
    from nlpt.embeddings import driver

    config.validate()
    t_start = time.perf_counter()
    n_threads = max(1, config.threads)

    # 256 KB blocks: per thread ~1.5 MB of reading/encoding buffers instead of ~6 MB with 1 MB blocks
    stream = driver.CorpusStream(paths, [], opts, n_threads, block_bytes=min(opts.chunk_bytes, 1 << 18))
    try:
        return _train(stream, t_start, paths, opts, config, read_vocab, save_vocab, checkpoint, quiet, keep_context)
    finally:
        stream.close()


def _train(stream, t_start, paths, opts, config, read_vocab, save_vocab, checkpoint, quiet, keep_context) -> W2VModel:
    from nlpt.embeddings import driver
    from nlpt.embeddings.huffman import Huffman
    from nlpt.embeddings.sampling import AliasTable, seed_state, subsample_thresholds
    from nlpt.embeddings.w2v_kernels import current_alpha, train_chunk

    n_threads = max(1, config.threads)
    resume = None
    if checkpoint and os.path.exists(checkpoint):
        resume = _load_resume(checkpoint, config)
    if resume is not None:
        model, start_epoch, positions, done_offset, rng_states = resume
        vocab = model.vocab
        log(f"resuming from {checkpoint}: epoch {start_epoch + 1}/{config.epochs}", quiet)
        read_stats = None
        vocab_seconds = 0.0
    else:
        vocab, read_stats, vocab_seconds = build_vocab(stream, opts, config, read_vocab, quiet, n_threads)
        model = None
        start_epoch, positions, done_offset, rng_states = 0, None, 0, None
    if save_vocab:
        vocab.save(save_vocab)

    counts = vocab.counts_array()
    n_words = len(vocab)
    # While training, the words live only as UTF-8 bytes in the encoder's table
    # (fast path): the list of str and its index would be ~20 MB on top of the
    # matrices. The `Vocab` is rebuilt from that table for the model returned.
    stream.set_words(vocab.words)
    if stream.fast:
        vocab = None
        if model is not None:
            model.vocab = None
    train_words = int(counts.sum())
    keep = subsample_thresholds(counts, config.sample)
    if config.negative > 0:
        table = AliasTable(counts, config.ns_exponent)
        alias_prob, alias_idx = table.prob, table.alias
    else:
        alias_prob, alias_idx = np.ones(1, np.uint64), np.zeros(1, np.int32)
    if config.hs:
        tree = Huffman.build(counts)
        codes, points, code_lens = tree.codes, tree.points, tree.lengths
    else:
        codes, points, code_lens = np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.int32), np.zeros(1, np.int32)

    total = float(train_words) * config.epochs
    shared = driver.Shared(n_threads, total)
    shared.offset = done_offset
    if rng_states is None or len(rng_states) != n_threads:
        rng_states = [np.array([seed_state(config.seed, t)], dtype=np.uint64) for t in range(n_threads)]
    else:
        rng_states = [np.array([s], dtype=np.uint64) for s in rng_states]
    if resume is not None and len(stream.shards) != len(positions or [None] * n_threads):
        positions = None
    alpha0 = config.start_alpha
    mode = config.mode
    epoch_state = {"epoch": start_epoch, "positions": list(positions) if positions else [None] * n_threads}

    def run_kernel(ids, starts, syn0, syn1neg, syn1, tid: int) -> int:
        return train_chunk(
            ids, starts, syn0, syn1neg, syn1, codes, points, code_lens,
            alias_prob, alias_idx, keep, config.window, config.negative, config.hs, mode,
            alpha0, config.min_alpha_ratio, total, shared.offset, shared.counters, shared.losses,
            tid, shared.stop, rng_states[tid], config.loss_every, config.shared_negatives,
        )

    # Load the compiled kernels now, on empty input, while the matrices are not
    # allocated yet: loading them costs some transient memory.
    tiny = np.zeros((1, config.size), np.float32)
    run_kernel(np.empty(0, np.int32), np.zeros(1, np.int64), tiny, tiny, tiny, 0)
    current_alpha(alpha0, config.min_alpha_ratio, shared.counters, shared.offset, total)  # called by `fields` below
    stream.warm_up()
    del tiny
    trim_heap()

    if model is None:
        model = init_model(range(n_words), config)
        model.vocab = vocab
    syn1neg = model.syn1neg if model.syn1neg is not None else np.zeros((1, config.size), np.float32)
    syn1 = model.syn1 if model.syn1 is not None else np.zeros((1, config.size), np.float32)

    def work(tid: int) -> None:
        pos = epoch_state["positions"][tid]
        for chunk in stream.chunks(tid, resume=pos, stop=shared.stop):
            if len(chunk.ids):
                if run_kernel(chunk.ids, chunk.starts, model.syn0, syn1neg, syn1, tid):
                    return  # stopped
            epoch_state["positions"][tid] = chunk.position

    def fields() -> dict:
        # the rate the kernels use now
        return {"alpha": current_alpha(alpha0, config.min_alpha_ratio, shared.counters, shared.offset, total)}

    desc = "train-w2v " + ("cbow" if config.cbow else "skip-gram")
    train_seconds = 0.0
    try:
        with driver.TrainProgress(shared, desc, "words", quiet, fields) as progress:
            for epoch in range(start_epoch, config.epochs):
                epoch_state["epoch"] = epoch
                t0 = time.perf_counter()
                driver.run_threads(n_threads, work, shared, progress.poll)
                train_seconds += time.perf_counter() - t0
                epoch_state["positions"] = [None] * n_threads
                if checkpoint and epoch + 1 < config.epochs:
                    _save_resume(checkpoint, model, stream, counts, epoch + 1, None, shared, rng_states)
    except KeyboardInterrupt:
        if checkpoint:
            _save_resume(checkpoint, model, stream, counts, epoch_state["epoch"], epoch_state["positions"], shared,
                         rng_states)
            log(f"interrupted; training state saved to {checkpoint} (run the same command to resume)", quiet)
        raise
    if not keep_context:
        model.syn1neg = model.syn1 = syn1neg = syn1 = None
    trim_heap()
    if model.vocab is None:
        model.vocab = Vocab(stream.word_list(), counts.tolist())
    stats = ReadStats()
    for s in stream.stats:
        stats.merge(s)
    if read_stats is not None:
        read_stats.report(quiet)
    elif stats.total_invalid:
        stats.report(quiet)
    done = shared.done() - done_offset
    model.stats = {
        "vocab_size": n_words,
        "train_words": train_words,
        "words_processed": done,
        "vocab_seconds": vocab_seconds,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - t_start,
        "words_per_second": done / train_seconds if train_seconds > 0 else 0.0,
        "loss": shared.loss(),
    }
    if checkpoint and os.path.exists(checkpoint):
        os.unlink(checkpoint)  # finished: the state is no longer needed
    return model


def _config_key(config: W2VConfig) -> dict:
    d = asdict(config)
    d.pop("threads")
    d.pop("loss_every")
    return d


def _save_resume(path, model: W2VModel, stream, counts, epoch, positions, shared, rng_states) -> None:
    from nlpt.embeddings.driver import save_checkpoint

    arrays = _model_arrays(model, counts)
    arrays["rng"] = np.array([r[0] for r in rng_states], dtype=np.uint64)
    meta = {
        "kind": "nlpt-w2v-checkpoint",
        "version": CHECKPOINT_VERSION,
        "config": _config_key(model.config),
        "words": stream.word_list(),
        "epoch": epoch,
        "positions": [list(p) if p else None for p in positions] if positions else None,
        "done": shared.done() if positions else int(round(shared.total * epoch / model.config.epochs)),
    }
    save_checkpoint(path, arrays, meta)


def _load_resume(path: str, config: W2VConfig):
    from nlpt.embeddings.driver import load_checkpoint

    arrays, meta = load_checkpoint(path)
    if meta.get("kind") != "nlpt-w2v-checkpoint":
        raise NlptError(f"{path}: not a train-w2v checkpoint")
    if meta["config"] != _config_key(config):
        diff = sorted(k for k in meta["config"] if meta["config"][k] != _config_key(config).get(k))
        raise NlptError(f"{path}: checkpoint was made with different settings ({', '.join(diff)}); "
                        "use the same options or remove the checkpoint")
    vocab = Vocab(list(meta["words"]), [int(c) for c in arrays["counts"]])
    model = W2VModel(vocab, arrays["syn0"].astype(np.float32), arrays.get("syn1neg"), arrays.get("syn1"), config)
    positions = meta.get("positions")
    positions = [tuple(p) if p else None for p in positions] if positions else None
    rng = [np.uint64(x) for x in arrays["rng"]] if "rng" in arrays else None
    return model, int(meta["epoch"]), positions, int(meta["done"]), rng
