"""`nlpt train-subword`."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o

COMMAND = {"help": "Train fastText-style subword embeddings (character n-grams; vectors for unseen words; fastText .bin)."}


def train_subword(
    inputs: List[str] = o.INPUTS,
    output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="Where to write the model as a fastText .bin (vectors for any word; `nlpt query`, fastText and gensim read it).", show_default=False),
    vec: Optional[str] = typer.Option(None, "--vec", metavar="PATH", help="Also write the vocabulary words' vectors as word2vec text (fastText's .vec).", show_default=False),
    cbow: bool = o.CBOW,
    loss: str = typer.Option("ns", "--loss", metavar="TEXT", help="ns (negative sampling) or hs (hierarchical softmax)."),
    negative: int = o.int_option(5, "--negative", "--neg", min=1, help="Negative samples per target word (--loss ns)."),
    size: int = o.SIZE,
    window: int = o.int_option(5, "--window", "--ws", min=1, help="Maximum context window (randomly shrunk per word)."),
    sample: float = o.float_option(1e-4, "--sample", min=0.0, help="Subsampling threshold for frequent words (fastText's -t; 0 = off)."),
    min_count: int = o.MIN_COUNT,
    max_vocab: Optional[int] = o.MAX_VOCAB,
    epochs: int = o.int_option(5, "--epochs", "--epoch", min=1, help="Passes over the corpus."),
    alpha: float = o.float_option(0.05, "--alpha", "--lr", min=0.0, help="Start learning rate."),
    min_alpha_ratio: float = o.float_option(0.0, "--min-alpha-ratio", min=0.0, max=1.0, help="The learning rate decays linearly to alpha times this."),
    minn: int = o.int_option(3, "--minn", min=0, help="Shortest character n-gram (0 with --maxn 0: no subwords, plain word2vec)."),
    maxn: int = o.int_option(6, "--maxn", min=0, help="Longest character n-gram."),
    bucket: int = o.int_option(2_000_000, "--bucket", min=0, help="Rows the n-grams are hashed into."),
    ns_exponent: float = o.float_option(0.5, "--ns-exponent", help="Negative sampling from unigram counts raised to this power (fastText: 0.5)."),
    init: Optional[str] = typer.Option(None, "--init", metavar="PATH", help="Continue training this .bin model (fastText's or nlpt's): its vocabulary and vectors.", show_default=False),
    seed: int = o.int_option(1, "--seed", help="Random seed (with --threads 1, the same seed gives identical vectors)."),
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

    if loss not in ("ns", "hs"):
        raise UsageError(f"--loss must be ns or hs, not {loss!r}")
    if output == "-":
        raise UsageError("--output: a .bin model cannot be written to standard output; give a file name")
    o.check_trainable_sentences(max_sentence_length)
    if init and read_vocab:
        raise UsageError("--init takes the vocabulary from the model: --read-vocab cannot be used with it")
    from nlpt.embeddings.subword.subword import validate_subwords

    validate_subwords(minn, maxn, bucket)
    paths = expand_inputs(inputs)
    (OutputPlan().read("INPUTS", *inputs, *paths).read("--read-vocab", read_vocab).read("--init", init)
     .write("--output", output).write("--vec", vec).write("--save-vocab", save_vocab)
     .write("--checkpoint", checkpoint).check())
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling, release_freed_memory_eagerly

    release_freed_memory_eagerly()
    load_numba_without_scipy_linalg()
    note_compiling("train-subword", quiet)
    from nlpt.embeddings.subword import subword
    from nlpt.embeddings.formats.vectors import Vectors
    from nlpt.embeddings.word2vec.w2v import W2VConfig

    opts = o.reader_options(lower, nfkc, split_punct, cjk, max_sentence_length, force_binary)
    hs = loss == "hs"
    config = W2VConfig(
        size=size, window=window, sample=sample, negative=0 if hs else negative, hs=hs, cbow=cbow, cbow_mean=True,
        min_count=min_count, max_vocab=max_vocab, epochs=epochs, alpha=alpha, min_alpha_ratio=min_alpha_ratio,
        ns_exponent=ns_exponent, threads=resolve_threads(threads), seed=seed, centre_input=True,
        epoch_all_tokens=True,
    )
    rows = subword.SubwordRows(minn, maxn, bucket)
    model, st = subword.train(paths, opts, config, rows, init=init, read_vocab=read_vocab, save_vocab=save_vocab,
                              checkpoint=checkpoint, quiet=quiet)
    subword.save_bin(output, model)
    if vec:
        Vectors(model.words, model.word_vectors()).save(vec, "text")
    log(
        f"trained {st['vocab_size']} words + {model.bucket} n-gram buckets x {size} on {st['words_processed']} words "
        f"in {st['train_seconds']:.1f}s ({st['words_per_second'] / 1000:.0f}k words/s), total {st['seconds']:.1f}s; "
        f"wrote {output}" + (f" and {vec}" if vec else ""),
        quiet,
    )
