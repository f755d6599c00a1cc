"""`nlpt train-glove`."""

from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer

from nlpt.cli.options import CJK, FORCE_BINARY, LOWER, MAX_SENTENCE, NFKC, QUIET, SPLIT_PUNCT, THREADS

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
        None, help="Input files, globs, directories or - (stdin; needs --read-vocab). Not needed with --cooccur.", show_default=False
    ),
    output: str = typer.Option(..., "--output", "-o", help="Vectors file to write.", show_default=False),
    fmt: VectorFormat = typer.Option(VectorFormat.glove, "--format", help="glove: GloVe text (no header); text/binary: word2vec formats."),
    window: int = typer.Option(10, "--window", min=1, help="Context window (words on each side, or on the left with --left-only)."),
    symmetric: bool = typer.Option(True, "--symmetric/--left-only", help="Count context on both sides, or only on the left (GloVe -symmetric 0)."),
    distance_weighting: bool = typer.Option(True, "--distance-weighting/--no-distance-weighting", help="Add 1/distance per co-occurrence, or 1."),
    min_count: int = typer.Option(5, "--min-count", min=1, help="Ignore words rarer than this."),
    max_vocab: Optional[int] = typer.Option(None, "--max-vocab", min=1, help="Keep at most this many of the most frequent words.", show_default=False),
    read_vocab: Optional[str] = typer.Option(None, "--read-vocab", help="Use this vocabulary file ('word count' lines) instead of counting; with --cooccur it is used as is (ids = line numbers).", show_default=False),
    save_vocab: Optional[str] = typer.Option(None, "--save-vocab", help="Write the vocabulary used ('word count' lines; word ids = line numbers).", show_default=False),
    save_cooccur: Optional[str] = typer.Option(None, "--save-cooccur", help="Write the co-occurrence records (Stanford GloVe binary layout).", show_default=False),
    cooccur: Optional[str] = typer.Option(None, "--cooccur", help="Train on this co-occurrence file (ours or Stanford's) instead of counting; needs --read-vocab.", show_default=False),
    memory: float = typer.Option(4.0, "--memory", min=0.0, help="Memory budget for the whole job, in GB: co-occurrence runs beyond it are spilled to disk, and training records that do not fit are trained from a file on disk."),
    tmp_dir: Optional[str] = typer.Option(None, "--tmp-dir", help="Where to spill runs and training records [default: the output's directory].", show_default=False),
    vector_size: int = typer.Option(100, "--vector-size", "--size", min=1, help="Dimension of the vectors."),
    iterations: int = typer.Option(15, "--iter", min=0, help="Training iterations (passes over the records)."),
    x_max: float = typer.Option(100.0, "--x-max", help="Cutoff of the weighting function f(x) = min(1, (x/x_max)^alpha)."),
    alpha: float = typer.Option(0.75, "--alpha", help="Exponent of the weighting function."),
    eta: float = typer.Option(0.05, "--eta", help="Initial AdaGrad learning rate."),
    grad_clip: float = typer.Option(100.0, "--grad-clip", help="Clip each gradient component to [-c, c]."),
    vectors: WhichVectors = typer.Option(WhichVectors.sum, "--vectors", help="sum: W + W~ (GloVe -model 2); main: W only (-model 1)."),
    model: Optional[int] = typer.Option(None, "--model", min=1, max=2, help="GloVe's spelling: 2 = --vectors sum, 1 = --vectors main.", show_default=False),
    seed: int = typer.Option(1, "--seed", help="Random seed (initialisation and shuffling)."),
    save_state: Optional[str] = typer.Option(None, "--save-state", help="Save parameters and AdaGrad state after each iteration (for --resume).", show_default=False),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue from a --save-state file up to --iter iterations in all.", show_default=False),
    lower: bool = LOWER,
    nfkc: bool = NFKC,
    split_punct: bool = SPLIT_PUNCT,
    cjk: bool = CJK,
    max_sentence_length: int = MAX_SENTENCE,
    force_binary: bool = FORCE_BINARY,
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
) -> None:
    from nlpt.cli.options import reader_options

    _run(
        inputs=list(inputs or []), output=output, fmt=fmt.value, window=window, symmetric=symmetric,
        distance_weighting=distance_weighting, min_count=min_count, max_vocab=max_vocab, read_vocab=read_vocab,
        save_vocab=save_vocab, save_cooccur=save_cooccur, cooccur=cooccur, memory=memory, tmp_dir=tmp_dir,
        vector_size=vector_size, iterations=iterations, x_max=x_max, alpha=alpha, eta=eta, grad_clip=grad_clip,
        which=("main" if model == 1 else "sum") if model is not None else vectors.value, seed=seed,
        save_state=save_state, resume=resume, threads=threads, quiet=quiet,
        ropts=reader_options(lower, nfkc, split_punct, cjk, max_sentence_length, force_binary),
    )


def _load_vocab_in_file_order(path: str):
    """A vocabulary exactly as listed (ids = line numbers), as co-occurrence files refer to it."""
    from nlpt.vocab.vocab import Vocab, read_counts

    counts = read_counts(path)
    return Vocab(list(counts.keys()), list(counts.values()))


def _run(*, inputs, output, fmt, window, symmetric, distance_weighting, min_count, max_vocab, read_vocab, save_vocab,
         save_cooccur, cooccur, memory, tmp_dir, vector_size, iterations, x_max, alpha, eta, grad_clip, which, seed,
         save_state, resume, threads, quiet, ropts) -> None:
    import math
    import os
    import time

    from nlpt.common.errors import NlptError, UsageError
    from nlpt.common.output import check_writable
    from nlpt.common.process import peak_rss_mib
    from nlpt.common.progress import Progress, log
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs
    from nlpt.vocab.vocab import Vocab

    # -- arguments -------------------------------------------------------------------
    if cooccur is None and not inputs:
        raise UsageError("give input files (or - for stdin), or a co-occurrence file with --cooccur")
    if cooccur is not None and inputs:
        raise UsageError("--cooccur trains on a co-occurrence file: give no input files with it")
    if cooccur is not None and read_vocab is None:
        raise UsageError("--cooccur needs --read-vocab: the file's word ids are line numbers of that vocabulary")
    if cooccur is not None and save_cooccur is not None:
        raise UsageError("--save-cooccur with --cooccur would only copy the file")
    for name, value in (("--x-max", x_max), ("--eta", eta), ("--grad-clip", grad_clip), ("--memory", memory)):
        if not (value > 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be a positive number, got {value}")
    if not (alpha >= 0 and math.isfinite(alpha)):
        raise UsageError(f"--alpha must be >= 0, got {alpha}")
    for path in (output, save_vocab, save_cooccur, save_state):
        if path is not None:
            check_writable(path)
    if tmp_dir is not None and not os.path.isdir(tmp_dir):
        raise NlptError(f"{tmp_dir}: --tmp-dir is not a directory")
    threads = resolve_threads(threads)
    paths = expand_inputs(inputs) if inputs else []
    if "-" in paths and read_vocab is None:
        raise UsageError("stdin can be read only once, but GloVe reads the corpus twice: give --read-vocab (from `nlpt vocab`)")

    from nlpt.embeddings import cooccur as co
    from nlpt.embeddings import glove as gl
    from nlpt.embeddings.vectors import Vectors

    total = sum(os.path.getsize(p) for p in paths if p != "-") or None  # bytes to read, for the progress bars
    t0 = time.perf_counter()
    # -- vocabulary --------------------------------------------------------------------
    if read_vocab is not None:
        if cooccur is not None:
            vocab = _load_vocab_in_file_order(read_vocab)
        else:
            vocab = Vocab.load(read_vocab, min_count, max_vocab)
        if len(vocab) == 0:
            raise NlptError(f"{read_vocab}: no word in the vocabulary file has count >= {min_count}")
    else:
        import sys

        from nlpt.vocab.count import count_vocab, describe_prune

        # min-count and max-vocab are applied inside the count table: only the kept words become Python strings
        with Progress("counting words", total=total, unit="B", quiet=quiet) as prog:
            counted = count_vocab(paths, ropts, threads, min_count, max_vocab, progress=prog)
        counted.stats.report(quiet)
        if not counted.tokens:
            raise NlptError(f"{', '.join(inputs)}: empty corpus (no tokens)")
        vocab = counted.vocab
        if len(vocab) == 0:
            raise NlptError(
                f"no word occurs at least {min_count} times ({counted.tokens} tokens, {counted.types} distinct); "
                "lower --min-count"
            )
        pruned = describe_prune(counted.prune)
        if pruned:  # a warning: shown even with --quiet, as `nlpt vocab` and train-w2v do
            print(f"nlpt: warning: {pruned}", file=sys.stderr, flush=True)
        log(f"vocabulary: {len(vocab)} words with count >= {min_count} (of {counted.types} distinct, {counted.tokens} tokens)", quiet)
        del counted
    if save_vocab is not None:
        vocab.save(save_vocab)
    V = len(vocab)

    # -- co-occurrence records, merged straight into training records -----------------------
    from contextlib import ExitStack

    from nlpt.common.output import atomic_output

    peaks = {}
    peaks["vocabulary"] = peak_rss_mib(reset=True)
    spill_dir = tmp_dir or os.path.dirname(os.path.abspath(output))
    params_bytes = 2 * (2 * V * (vector_size + 1)) * 4  # W and G
    sink = gl.AutoSink(x_max, alpha, int(memory * (1 << 30)), params_bytes, spill_dir, seed)
    try:
        with ExitStack() as stack:
            out_sink = sink
            if save_cooccur is not None:
                out_sink = co.TeeSink(stack.enter_context(atomic_output(save_cooccur, "wb")), sink)
            if cooccur is not None:
                n_records = co.feed_record_file(cooccur, V, out_sink)
                log(f"read {n_records} co-occurrence records from {cooccur}", quiet)
                peaks["reading"] = peak_rss_mib(reset=True)
            else:
                opts = co.CooccurOptions(window=window, symmetric=symmetric, distance_weighting=distance_weighting,
                                         memory_gb=memory, threads=threads, tmp_dir=spill_dir)

                def on_merge():
                    peaks["counting"] = peak_rss_mib(reset=True)

                with Progress("counting co-occurrences", total=total, unit="B", quiet=quiet) as prog:
                    _, stats = co.count_cooccurrences(paths, vocab.words, opts, ropts, progress=prog, sink=out_sink,
                                                      on_merge=on_merge)
                peaks["merge"] = peak_rss_mib(reset=True)
                stats.read_stats.report(quiet)
                spill = f", {stats.spills} spill(s), {stats.spilled_bytes / 1e6:.0f} MB on disk" if stats.spills else ""
                log(f"co-occurrences: {stats.records} records from {stats.tokens} in-vocabulary tokens "
                    f"in {stats.seconds:.1f}s (dense block up to rank product {stats.dense_p}{spill})", quiet)
                n_records = stats.records
            if n_records == 0:
                raise NlptError("no co-occurrences: no line has two in-vocabulary words within the window")
        records = sink.finish(seed)
        peaks["shuffle"] = peak_rss_mib(reset=True)
        if sink.on_disk:
            log(f"training records ({n_records * 16 / 1e6:.0f} MB) exceed --memory {memory:g} GB "
                f"with the parameters ({params_bytes / 1e6:.0f} MB): training from {spill_dir} on disk", quiet)
        t_count = time.perf_counter() - t0

        # -- training -------------------------------------------------------------------------
        t1 = time.perf_counter()
        config = gl.GloveConfig(vector_size=vector_size, iterations=iterations, x_max=x_max, alpha=alpha, eta=eta,
                                grad_clip=grad_clip, threads=threads, seed=seed)
        words_hash = gl.vocab_hash(vocab.words)
        if resume is not None:
            state = gl.load_state(resume, V, vector_size, words_hash)
            log(f"resuming from {resume} after iteration {state.epoch}", quiet)
        else:
            state = gl.init_state(V, vector_size, seed, words_hash)

        def on_epoch(report, st):
            log(f"iter {report.epoch}/{iterations}: cost {report.cost:.6f}  ({report.seconds:.1f}s)", quiet)
            if save_state is not None:
                gl.save_state(save_state, st, config)

        todo = max(0, iterations - state.epoch)
        if todo:
            with Progress("training", total=todo * n_records, unit="rec", quiet=quiet) as prog:
                gl.train(records, state, config, progress=prog, on_epoch=on_epoch)
        elif save_state is not None:
            gl.save_state(save_state, state, config)
        t_train = time.perf_counter() - t1
        peaks["training"] = peak_rss_mib()
    finally:
        sink.close()  # removes the temporary training records, if they went to disk

    Vectors(vocab.words, gl.output_matrix(state, which)).save(output, fmt)
    log(f"wrote {V} vectors of size {vector_size} to {output} "
        f"(counting {t_count:.1f}s, training {t_train:.1f}s, {n_records} records)", quiet)
    log("peak memory (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()), quiet)
