"""`nlpt train-subword`."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o
from nlpt.cli.trainer_options import corpus_kwargs, with_corpus_options

COMMAND = {"help": "Train fastText-style subword embeddings (character n-grams; vectors for unseen words; fastText .bin)."}


@with_corpus_options
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
    seed: int = o.SEED,
    **corpus,
) -> None:
    from nlpt.embeddings.subword.pipeline import run_subword

    run_subword(inputs=inputs, output=output, vec=vec, cbow=cbow, loss=loss, negative=negative, size=size,
                window=window, sample=sample, min_count=min_count, max_vocab=max_vocab, epochs=epochs, alpha=alpha,
                min_alpha_ratio=min_alpha_ratio, minn=minn, maxn=maxn, bucket=bucket, ns_exponent=ns_exponent,
                init=init, seed=seed, **corpus_kwargs(corpus))
