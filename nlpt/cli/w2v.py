"""`nlpt train-w2v`."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o

COMMAND = {"help": "Train word2vec (skip-gram/CBOW, negative sampling/hierarchical softmax)."}


def train_w2v(
    inputs: List[str] = o.INPUTS,
    output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="Where to write the word vectors (word2vec text, or binary with --binary).", show_default=False),
    cbow: bool = o.CBOW,
    hs: bool = typer.Option(False, "--hs", help="Use hierarchical softmax (combine with --negative 0 for HS only)."),
    negative: int = o.int_option(5, "--negative", min=0, help="Negative samples per word (0 = no negative sampling)."),
    size: int = o.SIZE,
    window: int = o.int_option(5, "--window", min=1, help="Maximum context window (randomly shrunk per word)."),
    sample: float = o.float_option(1e-3, "--sample", min=0.0, help="Subsampling threshold for frequent words (0 = off)."),
    min_count: int = o.MIN_COUNT,
    max_vocab: Optional[int] = o.MAX_VOCAB,
    epochs: int = o.int_option(5, "--epochs", "--iter", min=1, help="Passes over the corpus."),
    alpha: Optional[float] = o.float_option(None, "--alpha", help="Start learning rate, more than 0 and at most 1 [default: 0.025 skip-gram, 0.05 CBOW].", show_default=False),
    min_alpha_ratio: float = o.float_option(1e-4, "--min-alpha-ratio", min=0.0, max=1.0, help="The learning rate decays linearly to alpha times this."),
    cbow_mean: bool = typer.Option(True, "--cbow-mean/--cbow-sum", help="CBOW: average the context vectors (or sum them)."),
    ns_exponent: float = o.float_option(0.75, "--ns-exponent", help="Negative sampling from unigram counts raised to this power."),
    seed: int = o.int_option(1, "--seed", min=0, max=2**32 - 1, help="Random seed (with --threads 1, the same seed gives identical vectors)."),
    binary: bool = typer.Option(False, "--binary", help="Write word2vec binary instead of text."),
    save_context: Optional[str] = typer.Option(None, "--save-context", metavar="PATH", help="Also write the context (output) vectors of negative sampling to this file.", show_default=False),
    read_vocab: Optional[str] = o.READ_VOCAB,
    save_vocab: Optional[str] = o.SAVE_VOCAB,
    checkpoint: Optional[str] = o.CHECKPOINT,
    lower: bool = o.LOWER,
    nfkc: bool = o.NFKC,
    split_punct: bool = o.SPLIT_PUNCT,
    cjk: bool = o.CJK,
    max_sentence_length: int = o.MAX_SENTENCE,
    force_binary: bool = o.FORCE_BINARY,
    threads: Optional[int] = o.THREADS,
    quiet: bool = o.QUIET,
) -> None:
    from nlpt.common.errors import UsageError
    from nlpt.common.plan import OutputPlan
    from nlpt.common.progress import log
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling, release_freed_memory_eagerly

    if alpha is not None and not 0 < alpha <= 1:  # also NaN; larger rates diverge (the loss guard stops them)
        raise UsageError(f"--alpha must be in (0, 1], got {alpha} (word2vec uses 0.025 for skip-gram, 0.05 for CBOW)")
    if not cbow_mean and not cbow:
        raise UsageError("--cbow-sum applies to CBOW (--cbow): skip-gram has no context vectors to sum")
    o.check_trainable_sentences(max_sentence_length)
    if save_context and negative == 0:
        raise UsageError("--save-context needs negative sampling (--negative > 0): hierarchical softmax has no per-word context vectors")
    paths = expand_inputs(inputs)
    # --checkpoint is read (when resuming) before it is replaced: an output only
    (OutputPlan().read("INPUTS", *inputs, *paths).read("--read-vocab", read_vocab)
     .write("--output", output, sidecar=True).write("--save-context", save_context, sidecar=True)
     .write("--save-vocab", save_vocab).write("--checkpoint", checkpoint).check())
    release_freed_memory_eagerly()  # process-wide tweaks that lower the peak RSS (see their docstrings)
    load_numba_without_scipy_linalg()
    from nlpt.embeddings.formats.vectors import Vectors
    from nlpt.embeddings.word2vec.w2v import W2VConfig, train

    note_compiling("train-w2v", quiet)
    if "-" in paths and read_vocab == "-":
        raise UsageError("standard input (-) can be read only once: give the corpus or --read-vocab another file")
    opts = o.reader_options(lower, nfkc, split_punct, cjk, max_sentence_length, force_binary)
    config = W2VConfig(
        size=size, window=window, sample=sample, negative=negative, hs=hs, cbow=cbow, cbow_mean=cbow_mean,
        min_count=min_count, max_vocab=max_vocab, epochs=epochs, alpha=alpha, min_alpha_ratio=min_alpha_ratio,
        ns_exponent=ns_exponent, threads=resolve_threads(threads), seed=seed,
    )
    model = train(paths, opts, config, read_vocab=read_vocab, save_vocab=save_vocab, checkpoint=checkpoint, quiet=quiet,
                  keep_context=bool(save_context))
    fmt = "binary" if binary else "text"
    from dataclasses import asdict

    from nlpt.embeddings.formats.sidecar import write_sidecar

    args = {"inputs": list(inputs), "read_vocab": read_vocab, **asdict(config), "format": fmt}
    Vectors(model.vocab.words, model.syn0).save(output, fmt)
    write_sidecar(output, command="train-w2v", reader_options=opts, vocab_size=len(model.vocab), dim=size, args=args)
    if save_context:
        Vectors(model.vocab.words, model.syn1neg).save(save_context, fmt)
        write_sidecar(save_context, command="train-w2v", reader_options=opts, vocab_size=len(model.vocab), dim=size,
                      args=args, extra={"matrix": "context (output) vectors"})
    st = model.stats
    log(
        f"trained {st['vocab_size']} words x {size} on {st['words_processed']} words in {st['train_seconds']:.1f}s "
        f"({st['words_per_second'] / 1000:.0f}k words/s), total {st['seconds']:.1f}s; wrote {output}",
        quiet,
    )
