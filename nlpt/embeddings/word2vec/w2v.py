"""word2vec training: skip-gram / CBOW with negative sampling and/or hierarchical softmax.

Defaults are word2vec.c's (`-size 100 -window 5 -sample 1e-3 -negative 5
-hs 0 -min-count 5 -iter 5`, alpha 0.025 for skip-gram and 0.05 for CBOW,
decayed linearly to alpha * 1e-4 over the whole run).

Pipeline: count the words (`nlpt.vocab.count.count_vocab`, parallel, the engine
of `nlpt vocab`) or read a vocabulary file, build the sampling tables, then
each of `threads` workers reads its own byte range of the input once per
epoch, encodes it in numba and trains on it with the nogil kernels of
`word2vec.kernels`, sharing the matrices (Hogwild). While training, the words are
held only as UTF-8 bytes in the encoder's table (peak memory: the matrices
plus ~10 MB). See `driver` for threading, progress, interruption and checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from nlpt.common.errors import NlptError, UsageError, stop_note
from nlpt.common.process import trim_heap
from nlpt.common.progress import log
from nlpt.corpus.reader import ReaderOptions, ReadStats
from nlpt.vocab.vocab import Vocab

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
    loss_every: int = 16  # compute the loss for one centre word in this many (display and the divergence guard)
    shared_negatives: bool = True  # skip-gram: one set of negatives per window (Ji et al. 2016)
    centre_input: bool = False  # skip-gram: the centre word is the input (fastText) instead of the context words
    # fastText's epoch: as many vocabulary tokens as the corpus has tokens, those below --min-count included
    # (see `epoch_tokens`); word2vec.c's (False): one pass, the vocabulary's tokens
    epoch_all_tokens: bool = False

    @property
    def start_alpha(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return 0.05 if self.cbow else 0.025

    @property
    def mode(self) -> int:
        from nlpt.embeddings.word2vec.kernels import MODE_CBOW_MEAN, MODE_CBOW_SUM, MODE_SG

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
                threads: int) -> tuple[Vocab, ReadStats | None, float, int | None]:
    """The training vocabulary: counted from the corpus (`stream.paths`) or read from a file,
    with the reader stats, the seconds taken and the corpus's token count (None when read).

    Counted by `nlpt.vocab.count.count_vocab` (the engine of `nlpt vocab`), whose
    words are exactly the tokens `stream` encodes; only the kept words become
    Python strings and the count table is freed before this returns.
    """
    from nlpt.vocab.training import trainer_vocab

    # small inputs are counted in a blink: no progress line (errors stay one line)
    tv = trainer_vocab(stream.paths, opts, threads, config.min_count, config.max_vocab, read_vocab or None, quiet=quiet,
                       progress_min_bytes=64 << 20)
    return tv.vocab, tv.stats, tv.seconds, tv.tokens


def epoch_tokens(config: W2VConfig, vocab_tokens: int, corpus_tokens: int | None) -> int:
    """Vocabulary tokens that make one epoch: the learning rate decays over `epochs` times this.

    word2vec.c's epoch is one pass: the vocabulary's tokens. fastText's (`epoch_all_tokens`)
    is the corpus's token count, words below --min-count included, while its progress counts
    only the vocabulary's tokens (`Dictionary::ntokens` against `getLine`'s count): so after
    one pass its learning rate is still lr * (rare tokens / all tokens) and it reads on from
    the start of each thread's part until the count is reached (~6% more on enwiki at
    --min-count 5). Training on that budget rather than one pass gave the subword trainer
    +2.6 analogy points on a 5M-token enwiki slice (19.5 vs 16.9%, 1 thread) and +0.9 on the
    whole 16M (49.3 vs 48.4%, two seeds). With a vocabulary read from a file (or a model
    continued) the corpus was not counted: one pass.
    """
    if config.epoch_all_tokens and corpus_tokens:
        return max(int(corpus_tokens), vocab_tokens)
    return vocab_tokens


def init_model(vocab: Vocab, config: W2VConfig, inputs: "InputRows | None" = None) -> W2VModel:
    """Fresh matrices for `vocab` (only its length is used): the input matrix as `inputs`
    initialises it (word2vec.c's way by default), the output matrices zero."""
    v, d = len(vocab), config.size
    syn0 = (inputs or InputRows()).init_input(v, config)
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
    inputs: "InputRows | None" = None,
    start: W2VModel | None = None,
    drop_unseen: bool = True,
) -> W2VModel:
    """Train word2vec on `paths`; raises KeyboardInterrupt (after writing `checkpoint`, if given) when interrupted.

    `keep_context=False` drops the context vectors (`syn1neg`, `syn1`) from the
    returned model, freeing their memory before the vocabulary is rebuilt.
    `inputs` maps each word to its input rows (default: row w for word w, plain
    word2vec; the subword trainer passes its n-gram table). `start` continues
    training a model (its vocabulary and matrices) instead of starting afresh.
    `drop_unseen`: words of `read_vocab` that the corpus never has are left out of the model (and named).
    """
    from nlpt.embeddings.training import driver

    config.validate()
    t_start = time.perf_counter()
    n_threads = max(1, config.threads)

    # 256 KB blocks: per thread ~1.5 MB of reading/encoding buffers instead of ~6 MB with 1 MB blocks
    stream = driver.CorpusStream(paths, [], opts, n_threads, block_bytes=min(opts.chunk_bytes, 1 << 18))
    try:
        return _train(stream, t_start, opts, config, read_vocab, save_vocab, checkpoint, quiet, keep_context,
                      inputs or InputRows(), start, drop_unseen)
    finally:
        stream.close()


class InputRows:
    """Which rows of the input matrix make up each word's input vector (their mean).

    This base is word2vec's identity: word w is row w, and the matrix has one row
    per word. The subword trainer (`nlpt.embeddings.subword.subword`) subclasses it with the
    word's row plus its character n-gram buckets.
    """

    trainer = "w2v"

    def settings(self) -> dict:
        """What a checkpoint must match (the subword trainer's n-gram options)."""
        return {}

    def extra_rows(self) -> int:
        """Rows of the input matrix beyond one per word."""
        return 0

    def table(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row_starts int64[V+1], row_ids int32): word w's rows are row_ids[row_starts[w]:row_starts[w+1]]."""
        n = len(words)
        return np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int32)

    def init_input(self, n_words: int, config: W2VConfig) -> np.ndarray:
        """The fresh input matrix (word2vec.c's: uniform in [-0.5/d, 0.5/d))."""
        rng = np.random.default_rng(config.seed)
        syn0 = rng.random((n_words + self.extra_rows(), config.size), dtype=np.float32)
        syn0 -= 0.5
        syn0 /= config.size
        return syn0


def _train(stream, t_start, opts, config, read_vocab, save_vocab, checkpoint, quiet, keep_context,
           inputs: InputRows, start: W2VModel | None, drop_unseen: bool = True) -> W2VModel:
    from nlpt.embeddings.training import driver
    from nlpt.embeddings.word2vec.huffman import Huffman
    from nlpt.common.rng import seed_state
    from nlpt.embeddings.word2vec.sampling import AliasTable, subsample_thresholds
    from nlpt.embeddings.word2vec.kernels import current_alpha, train_chunk

    n_threads = max(1, config.threads)
    saver = None
    if checkpoint:
        saver = driver.Checkpoint(checkpoint, inputs.trainer,
                                  {"config": _config_key(config), "reader": driver.reader_settings(opts),
                                   "inputs": stream.fingerprint(), "rows": inputs.settings()})
    resume = saver.load() if saver else None
    read_stats = None
    vocab_seconds = 0.0
    corpus_tokens = None
    start_epoch, positions, done_offset, rng_states = 0, None, 0, None
    if resume is not None:
        arrays = resume["arrays"]
        vocab = Vocab(resume["words"], [int(c) for c in arrays["counts"]])
        model = W2VModel(vocab, arrays["syn0"].astype(np.float32), arrays.get("syn1neg"), arrays.get("syn1"), config)
        _check_resumed(checkpoint, model, inputs)
        start_epoch, positions, done_offset = resume["epoch"], resume["positions"], resume["done"]
        rng_states = [np.uint64(x) for x in arrays["rng"]] if "rng" in arrays else None
        corpus_tokens = int(arrays["corpus_tokens"][0]) if "corpus_tokens" in arrays else None
        where = (f"epoch {start_epoch + 1}/{config.epochs}" if start_epoch < config.epochs
                 else "the pass that completes fastText's token budget")
        log(f"resuming from {checkpoint}: {where}", quiet)
    elif start is not None:
        model, vocab = start, start.vocab
    else:
        vocab, read_stats, vocab_seconds, corpus_tokens = build_vocab(stream, opts, config, read_vocab, quiet,
                                                                      n_threads)
        model = None
    if save_vocab:
        vocab.save(save_vocab)

    counts = vocab.counts_array()
    n_words = len(vocab)
    row_starts, row_ids = inputs.table(vocab.words)
    # word w -> row w (plain word2vec): the kernel then reads the rows directly
    identity = (len(row_ids) == n_words and np.array_equal(row_starts, np.arange(n_words + 1))
                and np.array_equal(row_ids, np.arange(n_words)))
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

    total = float(epoch_tokens(config, train_words, corpus_tokens)) * config.epochs
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

    def run_kernel(ids, starts, syn0, syn1neg, syn1, tid: int, rows=(row_starts, row_ids, identity)) -> int:
        return train_chunk(
            ids, starts, syn0, syn1neg, syn1, codes, points, code_lens,
            alias_prob, alias_idx, keep, config.window, config.negative, config.hs, mode,
            alpha0, config.min_alpha_ratio, total, shared.offset, shared.counters, shared.losses,
            tid, shared.stop, rng_states[tid], config.loss_every, config.shared_negatives,
            rows[0], rows[1], config.centre_input, rows[2],
        )

    # Load the compiled kernels now, on empty input, while the matrices are not
    # allocated yet: loading them costs some transient memory.
    tiny = np.zeros((1, config.size), np.float32)
    run_kernel(np.empty(0, np.int32), np.zeros(1, np.int64), tiny, tiny, tiny, 0,
               (np.zeros(2, np.int64), np.zeros(1, np.int32), identity))
    current_alpha(alpha0, config.min_alpha_ratio, shared.counters, shared.offset, total)  # called by `fields` below
    stream.warm_up()
    del tiny
    trim_heap()

    if model is None:
        model = init_model(range(n_words), config, inputs)
        model.vocab = vocab
    syn1neg = model.syn1neg if model.syn1neg is not None else np.zeros((1, config.size), np.float32)
    syn1 = model.syn1 if model.syn1 is not None else np.zeros((1, config.size), np.float32)
    # a vocabulary file may list words the corpus never has: their vectors would stay random (see _drop_unseen)
    seen = np.zeros(n_words, bool) if drop_unseen and read_vocab and resume is None and start is None else None

    def step(chunk, tid: int) -> int:
        if seen is not None:
            seen[chunk.ids] = True
        return run_kernel(chunk.ids, chunk.starts, model.syn0, syn1neg, syn1, tid)

    def fields() -> dict:
        # the rate the kernels use now
        return {"alpha": current_alpha(alpha0, config.min_alpha_ratio, shared.counters, shared.offset, total)}

    def save(epoch: int, positions: list | None) -> None:
        arrays = _model_arrays(model, counts)
        arrays["rng"] = np.array([r[0] for r in rng_states], dtype=np.uint64)
        if corpus_tokens:
            arrays["corpus_tokens"] = np.array([corpus_tokens], dtype=np.int64)
        # (after a pass of fastText's budget fewer than total * epoch / epochs units are done)
        exact = positions or config.epoch_all_tokens
        done = shared.done() if exact else int(round(shared.total * epoch / config.epochs))
        saver.save(arrays, stream.word_list(), epoch, positions, done)
        if positions is not None:  # a stop signal: its one line says so (`stop_note` below)
            stopped["saved"] = True

    stopped = {"saved": False}

    def kept() -> str | None:
        return f"training state saved to {checkpoint}; rerun the same command to resume" if stopped["saved"] else None

    desc = f"train-{inputs.trainer} " + ("cbow" if config.cbow else "skip-gram")
    with stop_note(kept):
        train_seconds = driver.train_epochs(stream, shared, config.epochs, step, desc, quiet, fields,
                                            start_epoch=start_epoch, positions=positions,
                                            save=save if saver else None,
                                            # (a vocabulary file's counts may come from another corpus: no reading on)
                                            until_total=bool(config.epoch_all_tokens and corpus_tokens))
    if not keep_context:
        model.syn1neg = model.syn1 = syn1neg = syn1 = None
    trim_heap()
    if model.vocab is None:
        model.vocab = Vocab(stream.word_list(), counts.tolist())
    if seen is not None and not shared.stop[0]:
        _drop_unseen(model, seen, read_vocab, n_words)
    stats = ReadStats()
    for s in stream.stats:
        stats.merge(s)
    if read_stats is not None:
        read_stats.report(quiet)
    elif stats.total_invalid:
        stats.report(quiet)
    done = shared.done() - done_offset
    model.stats = {
        "vocab_size": len(model.vocab),
        "train_words": train_words,
        "words_processed": done,
        "vocab_seconds": vocab_seconds,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - t_start,
        "words_per_second": done / train_seconds if train_seconds > 0 else 0.0,
        "loss": shared.loss(),
    }
    if saver:
        saver.remove()  # finished: the state is no longer needed
    return model


def _drop_unseen(model: W2VModel, seen: np.ndarray, read_vocab: str, n_words: int) -> None:
    """Leave out the words of a vocabulary file that the corpus never had (said in a warning): their rows
    were never trained, and random vectors must not pass for learnt ones. Rows past the words (subword
    n-gram buckets) stay, after the kept words' rows."""
    from nlpt.vocab.training import warn_untrained

    if seen.all():
        return
    words, counts = model.vocab.words, model.vocab.counts
    warn_untrained(read_vocab, [words[i] for i in np.flatnonzero(~seen)], n_words, "never occur in the corpus")
    keep = np.flatnonzero(seen)
    model.vocab = Vocab([words[i] for i in keep], [counts[i] for i in keep])
    model.syn0 = np.concatenate([model.syn0[keep], model.syn0[n_words:]])
    if model.syn1neg is not None:
        model.syn1neg = np.ascontiguousarray(model.syn1neg[keep])


def _check_resumed(path: str, model: W2VModel, inputs: InputRows) -> None:
    """The matrices of a checkpoint fit its vocabulary and settings (the kernels do not check bounds)."""
    v, d, c = len(model.vocab), model.config.size, model.config
    expected = {"syn0": (v + inputs.extra_rows(), d), "syn1neg": (v, d) if c.negative > 0 else None,
                "syn1": (max(v - 1, 1), d) if c.hs else None}
    for name, shape in expected.items():
        got = getattr(model, name)
        if (got is None) != (shape is None) or (got is not None and got.shape != shape):
            raise NlptError(f"{path}: damaged checkpoint ({name} is {None if got is None else got.shape}, "
                            f"expected {shape}); remove it to start again")


def _config_key(config: W2VConfig) -> dict:
    d = asdict(config)
    d.pop("threads")
    d.pop("loss_every")
    if not d["epoch_all_tokens"]:
        d.pop("epoch_all_tokens")  # word2vec checkpoints keep their key
    return d
