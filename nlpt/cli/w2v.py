"""`nlpt train-w2v`."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o
from nlpt.cli.trainer_options import corpus_kwargs, with_corpus_options

COMMAND = {"help": "Train word2vec (skip-gram/CBOW, negative sampling/hierarchical softmax)."}


@with_corpus_options
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
    seed: int = o.SEED,
    binary: bool = typer.Option(False, "--binary", help="Write word2vec binary instead of text."),
    save_context: Optional[str] = typer.Option(None, "--save-context", metavar="PATH", help="Also write the context (output) vectors of negative sampling to this file.", show_default=False),
    **corpus,
) -> None:
    from nlpt.embeddings.word2vec.pipeline import run_w2v

    run_w2v(inputs=inputs, output=output, cbow=cbow, hs=hs, negative=negative, size=size, window=window, sample=sample,
            min_count=min_count, max_vocab=max_vocab, epochs=epochs, alpha=alpha, min_alpha_ratio=min_alpha_ratio,
            cbow_mean=cbow_mean, ns_exponent=ns_exponent, seed=seed, binary=binary, save_context=save_context,
            **corpus_kwargs(corpus))
