"""The whole `train-w2v` job as a library function: options checked, the output plan, training, the
vectors (and context vectors) with their sidecars, and the summary line.

The CLI (`nlpt.cli.w2v`) only parses options and calls `run_w2v`; this module prints nothing but
log lines through `nlpt.common.progress`.
"""

from __future__ import annotations


def run_w2v(*, inputs, output, cbow, hs, negative, size, window, sample, min_count, max_vocab, epochs, alpha,
            min_alpha_ratio, cbow_mean, ns_exponent, seed, binary, save_context, read_vocab, save_vocab, checkpoint,
            ropts, threads, quiet):
    """Train word2vec on `inputs` and write `output` (and `save_context`); returns the trained `W2VModel`."""
    from dataclasses import asdict

    from nlpt.common.errors import UsageError
    from nlpt.common.plan import OutputPlan
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling, release_freed_memory_eagerly
    from nlpt.common.progress import log
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs

    if alpha is not None and not 0 < alpha <= 1:  # also NaN; larger rates diverge (the loss guard stops them)
        raise UsageError(f"--alpha must be in (0, 1], got {alpha} (word2vec uses 0.025 for skip-gram, 0.05 for CBOW)")
    if not cbow_mean and not cbow:
        raise UsageError("--cbow-sum applies to CBOW (--cbow): skip-gram has no context vectors to sum")
    if save_context and negative == 0:
        raise UsageError("--save-context needs negative sampling (--negative > 0): hierarchical softmax has no "
                         "per-word context vectors")
    paths = expand_inputs(inputs)
    # --checkpoint is read (when resuming) before it is replaced: an output only
    (OutputPlan().read("INPUTS", *inputs, *paths).read("--read-vocab", read_vocab)
     .write("--output", output, sidecar=True).write("--save-context", save_context, sidecar=True)
     .write("--save-vocab", save_vocab).write("--checkpoint", checkpoint).check())
    release_freed_memory_eagerly()  # process-wide tweaks that lower the peak RSS (see their docstrings)
    load_numba_without_scipy_linalg()
    from nlpt.embeddings.formats.sidecar import save_vectors
    from nlpt.embeddings.word2vec.w2v import W2VConfig, train

    note_compiling("train-w2v", quiet)
    if "-" in paths and read_vocab == "-":
        raise UsageError("standard input (-) can be read only once: give the corpus or --read-vocab another file")
    config = W2VConfig(
        size=size, window=window, sample=sample, negative=negative, hs=hs, cbow=cbow, cbow_mean=cbow_mean,
        min_count=min_count, max_vocab=max_vocab, epochs=epochs, alpha=alpha, min_alpha_ratio=min_alpha_ratio,
        ns_exponent=ns_exponent, threads=resolve_threads(threads), seed=seed,
    )
    model = train(paths, ropts, config, read_vocab=read_vocab, save_vocab=save_vocab, checkpoint=checkpoint, quiet=quiet,
                  keep_context=bool(save_context))
    fmt = "binary" if binary else "text"
    args = {"inputs": list(inputs), "read_vocab": read_vocab, **asdict(config), "format": fmt}
    written = {"command": "train-w2v", "reader_options": ropts, "dim": size, "args": args}
    save_vectors(output, model.vocab.words, model.syn0, fmt, **written)
    if save_context:
        save_vectors(save_context, model.vocab.words, model.syn1neg, fmt, **written,
                     extra={"matrix": "context (output) vectors"})
    st = model.stats
    log(
        f"trained {st['vocab_size']} words x {size} on {st['words_processed']} words in {st['train_seconds']:.1f}s "
        f"({st['words_per_second'] / 1000:.0f}k words/s), total {st['seconds']:.1f}s; wrote {output}",
        quiet,
    )
    return model
