"""`nlpt train-glove`."""

from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer

from nlpt.cli.options import (CJK, FORCE_BINARY, LOWER, MAX_SENTENCE, NFKC, QUIET, SPLIT_PUNCT, THREADS, float_option,
                              int_option, memory_option)

COMMAND = {
    "help": (
        "Train GloVe vectors: count word co-occurrences (streamed, within --memory) and fit them "
        "with weighted least squares and AdaGrad. Counts can be saved and loaded in Stanford GloVe's "
        "binary layout (--save-cooccur / --cooccur)."
    ),
    "no_args_is_help": True,
}


class VectorFormat(str, Enum):
    glove = "glove"
    text = "text"
    binary = "binary"


class WhichVectors(str, Enum):
    sum = "sum"
    main = "main"


def train_glove(
    inputs: Optional[List[str]] = typer.Argument(
        None, metavar="FILE", help="Input files, globs, directories or - (stdin; needs --read-vocab). With --cooccur: more co-occurrence files (their union is trained on).", show_default=False
    ),
    output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="Vectors file to write.", show_default=False),
    fmt: VectorFormat = typer.Option(VectorFormat.glove, "--format", metavar="glove|text|binary", help="glove: GloVe text (no header); text/binary: word2vec formats."),
    window: int = int_option(10, "--window", min=1, help="Context window (words on each side, or on the left with --left-only)."),
    symmetric: bool = typer.Option(True, "--symmetric/--left-only", help="Count context on both sides, or only on the left (GloVe -symmetric 0)."),
    distance_weighting: bool = typer.Option(True, "--distance-weighting/--no-distance-weighting", help="Add 1/distance per co-occurrence, or 1."),
    min_count: int = int_option(5, "--min-count", min=1, help="Ignore words rarer than this."),
    max_vocab: Optional[int] = int_option(None, "--max-vocab", min=1, help="Keep at most this many of the most frequent words.", show_default=False),
    read_vocab: Optional[str] = typer.Option(None, "--read-vocab", metavar="PATH", help="Use this vocabulary file ('word count' lines) instead of counting; with --cooccur it is used as is (ids = line numbers).", show_default=False),
    save_vocab: Optional[str] = typer.Option(None, "--save-vocab", metavar="PATH", help="Write the vocabulary used ('word count' lines; word ids = line numbers).", show_default=False),
    save_cooccur: Optional[str] = typer.Option(None, "--save-cooccur", metavar="PATH", help="Write the co-occurrence records (Stanford GloVe binary layout).", show_default=False),
    cooccur: Optional[List[str]] = typer.Option(None, "--cooccur", metavar="PATH", help="Train on co-occurrence files (ours or Stanford's) instead of counting: `--cooccur a.bin b.bin ...` trains on their union (counts summed); needs --read-vocab.", show_default=False),
    memory: float = memory_option("Memory budget for the whole job, in GB (more than 0): co-occurrence runs beyond it are spilled to disk, and training records that do not fit are trained from a file on disk; the parameters must fit in it."),
    tmp_dir: Optional[str] = typer.Option(None, "--tmp-dir", metavar="PATH", help="Where to spill runs and training records [default: $TMPDIR].", show_default=False),
    vector_size: int = int_option(100, "--vector-size", "--size", min=1, help="Dimension of the vectors."),
    iterations: int = int_option(15, "--iter", min=0, help="Training iterations (passes over the records; 0 with --save-cooccur: count only, no vectors)."),
    x_max: float = float_option(100.0, "--x-max", help="Cutoff of the weighting function f(x) = min(1, (x/x_max)^alpha)."),
    alpha: float = float_option(0.75, "--alpha", help="Exponent of the weighting function."),
    eta: float = float_option(0.05, "--eta", help="Initial AdaGrad learning rate."),
    grad_clip: float = float_option(100.0, "--grad-clip", help="Clip each gradient component to [-c, c]."),
    vectors: WhichVectors = typer.Option(WhichVectors.sum, "--vectors", metavar="sum|main", help="sum: W + W~ (GloVe -model 2); main: W only (-model 1)."),
    model: Optional[int] = int_option(None, "--model", min=1, max=2, help="GloVe's spelling: 2 = --vectors sum, 1 = --vectors main.", show_default=False),
    seed: int = int_option(1, "--seed", min=0, max=2**32 - 1, help="Random seed (initialisation and shuffling)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", metavar="PATH", help="Save parameters and AdaGrad state here after each iteration; if the file exists, continue from it (up to --iter iterations in all).", show_default=False),
    save_state: Optional[str] = typer.Option(None, "--save-state", metavar="PATH", hidden=True, help="Old name: save the state here (see --checkpoint).", show_default=False),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="PATH", hidden=True, help="Old name: continue from this state (see --checkpoint).", show_default=False),
    lower: bool = LOWER,
    nfkc: bool = NFKC,
    split_punct: bool = SPLIT_PUNCT,
    cjk: bool = CJK,
    max_sentence_length: int = MAX_SENTENCE,
    force_binary: bool = FORCE_BINARY,
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
) -> None:
    from nlpt.cli.options import check_trainable_sentences, reader_options
    from nlpt.embeddings.glove.pipeline import run_glove

    check_trainable_sentences(max_sentence_length)
    run_glove(inputs=inputs, output=output, fmt=fmt.value, window=window, symmetric=symmetric,
              distance_weighting=distance_weighting, min_count=min_count, max_vocab=max_vocab, read_vocab=read_vocab,
              save_vocab=save_vocab, save_cooccur=save_cooccur, cooccur=cooccur, memory=memory, tmp_dir=tmp_dir,
              vector_size=vector_size, iterations=iterations, x_max=x_max, alpha=alpha, eta=eta, grad_clip=grad_clip,
              vectors=vectors.value, model=model, seed=seed, checkpoint=checkpoint, save_state=save_state,
              resume=resume, threads=threads, quiet=quiet,
              ropts=reader_options(lower, nfkc, split_punct, cjk, max_sentence_length, force_binary))
