"""The whole `train-glove` job as a library function: vocabulary, co-occurrence counting
(or reading saved counts), training records, AdaGrad training, vectors and their sidecar.

The CLI (`nlpt.cli.glove`) only parses options and calls `run_glove`; this module
prints nothing but log lines through `nlpt.common.progress`.
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Optional

from nlpt.common.errors import NlptError, UsageError, stop_note
from nlpt.common.output import spill_directory


@dataclass
class GloveJobResult:
    vocab_size: int
    records: int
    count_seconds: float
    train_seconds: float
    peaks: dict = field(default_factory=dict)  # stage -> peak RSS MiB
    temp_peak_bytes: int = 0  # most temporary disk held by co-occurrence runs at once
    temp_ratio: float = 0.0  # temp_peak_bytes over the final records (16 bytes each)


def run_glove(*, inputs, output, fmt, window, symmetric, distance_weighting, min_count, max_vocab, read_vocab, save_vocab,
              save_cooccur, cooccur, memory, tmp_dir, vector_size, iterations, x_max, alpha, eta, grad_clip, vectors, model,
              seed, checkpoint, save_state, resume, threads, quiet, ropts) -> GloveJobResult:
    """Train GloVe vectors on `inputs` (or on the co-occurrence files `cooccur`, a list) and write `output`.

    `vectors` is sum|main, `model` GloVe's spelling of it (2 or 1, None: not given); `checkpoint` saves the
    state after each iteration and resumes from it when it exists (`save_state`/`resume` are its old names).
    """
    if checkpoint:  # the trainers' one name: save the state there, and resume from it when it exists
        if save_state or resume:
            raise UsageError("--checkpoint saves and resumes in one file: drop --save-state/--resume (its old names)")
        import os

        save_state, resume = checkpoint, (checkpoint if os.path.exists(checkpoint) else None)
    args = dict(  # the options as the sidecar records them
        inputs=list(inputs or []), output=output, fmt=fmt, window=window, symmetric=symmetric,
        distance_weighting=distance_weighting, min_count=min_count, max_vocab=max_vocab, read_vocab=read_vocab,
        save_vocab=save_vocab, save_cooccur=save_cooccur, cooccur=list(cooccur or []), memory=memory, tmp_dir=tmp_dir,
        vector_size=vector_size, iterations=iterations, x_max=x_max, alpha=alpha, eta=eta, grad_clip=grad_clip,
        which=("main" if model == 1 else "sum") if model is not None else vectors, seed=seed,
        save_state=save_state, resume=resume, threads=threads, quiet=quiet,
    )
    return _run(**args, ropts=ropts, args=args, again=bool(checkpoint))


def _run(*, inputs, output, fmt, window, symmetric, distance_weighting, min_count, max_vocab, read_vocab, save_vocab,
         save_cooccur, cooccur, memory, tmp_dir, vector_size, iterations, x_max, alpha, eta, grad_clip, which, seed,
         save_state, resume, threads, quiet, ropts, args: dict, again: bool = False) -> GloveJobResult:
    """`again`: the same command resumes from `save_state` (--checkpoint), which a stop signal's line says."""
    from nlpt.common.process import peak_rss_mib
    from nlpt.common.progress import Progress, log
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs
    from nlpt.corpus.sizes import progress_total

    # -- arguments -------------------------------------------------------------------
    cooccur = list(cooccur or [])
    if not cooccur and not inputs:
        raise UsageError("give input files (or - for stdin), or co-occurrence files with --cooccur")
    if cooccur and inputs:
        cooccur += list(inputs)  # `--cooccur a.bin b.bin ...`: the other arguments are more count files
        inputs = []
    if cooccur and read_vocab is None:
        raise UsageError("--cooccur needs --read-vocab: the file's word ids are line numbers of that vocabulary")
    if iterations == 0 and save_cooccur is None:
        raise UsageError("--iter 0 trains nothing (the vectors would keep their random start): give --iter 1 or more, "
                         "or --save-cooccur to count only")
    if cooccur and save_cooccur is not None and len(cooccur) == 1:
        raise UsageError("--save-cooccur with one --cooccur file would only copy the file")
    for name, value in (("--x-max", x_max), ("--eta", eta), ("--grad-clip", grad_clip), ("--memory", memory)):
        if not (value > 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be a positive number, got {value}")
    if not (alpha >= 0 and math.isfinite(alpha)):
        raise UsageError(f"--alpha must be >= 0, got {alpha}")
    spill_dir = spill_directory(tmp_dir)
    threads = resolve_threads(threads)
    paths = expand_inputs(inputs) if inputs else []
    if "-" in paths and read_vocab is None:
        raise UsageError("stdin can be read only once, but GloVe reads the corpus twice: give --read-vocab (from `nlpt vocab`)")
    from nlpt.common.plan import OutputPlan

    # the checkpoint is read (when resuming) before it is replaced; nothing else may be an input
    (OutputPlan().read("INPUTS", *(inputs or []), *paths).read("--read-vocab", read_vocab).read("--cooccur", *cooccur)
     .write("--output", output, sidecar=True).write("--save-vocab", save_vocab)
     .write("--save-cooccur", save_cooccur).write("--checkpoint", save_state).check())
    from nlpt.common.process import note_compiling

    note_compiling("train-glove", quiet)
    if "-" in paths and read_vocab == "-":
        raise UsageError("standard input (-) can be read only once: give the corpus or --read-vocab another file")
    if resume is not None:
        from nlpt.embeddings.training.driver import checkpoint_meta

        meta = checkpoint_meta(resume)
        done = int(meta.get("epoch", 0))
        if meta.get("vector_size", vector_size) != vector_size:
            raise NlptError(f"{resume}: state has vector size {meta['vector_size']}, this run asks for {vector_size} "
                            "(--vector-size)")
        if done > iterations:
            raise UsageError(f"{resume}: the saved state is already at iteration {done}, past --iter {iterations}; "
                             f"give --iter {done} or more, or another --checkpoint file to start afresh")

    from nlpt.embeddings.glove import cooccur as co
    from nlpt.embeddings.glove import glove as gl
    from nlpt.embeddings.formats.sidecar import save_vectors
    from nlpt.vocab.training import trainer_vocab

    total = progress_total(paths) if paths else None  # bytes to read (uncompressed), for the progress bars
    t0 = time.perf_counter()
    # -- vocabulary --------------------------------------------------------------------
    vocab = trainer_vocab(paths, ropts, threads, min_count, max_vocab, read_vocab, in_file_order=bool(cooccur),
                          quiet=quiet, memory_gb=memory).vocab
    if save_vocab is not None:
        vocab.save(save_vocab)
    V = len(vocab)
    check_memory_for_parameters(memory, V, vector_size)
    if resume is not None:  # a checkpoint of other words or sizes fails now, not after counting co-occurrences
        gl.load_state(resume, V, vector_size, gl.vocab_hash(vocab.words))

    # -- co-occurrence records, merged straight into training records -----------------------
    from nlpt.common.output import atomic_output

    result = GloveJobResult(V, 0, 0.0, 0.0)
    peaks = result.peaks
    peaks["vocabulary"] = peak_rss_mib(reset=True)
    params_bytes = parameter_bytes(V, vector_size)
    sink = gl.AutoSink(x_max, alpha, int(memory * (1 << 30)), params_bytes, spill_dir, seed)
    try:
        with ExitStack() as stack:
            out_sink = sink
            if save_cooccur is not None:
                out_sink = co.TeeSink(stack.enter_context(atomic_output(save_cooccur, "wb")), sink)
            if cooccur:
                n_records, merge_stats = co.feed_record_files(cooccur, V, out_sink, memory_gb=memory, tmp_dir=spill_dir)
                what = cooccur[0] if len(cooccur) == 1 else f"the union of {len(cooccur)} files"
                log(f"read {n_records} co-occurrence records from {what}", quiet)
                if merge_stats is not None:
                    result.temp_peak_bytes, result.temp_ratio = merge_stats.temp_peak_bytes, merge_stats.temp_ratio
                    if merge_stats.spills:
                        log(f"merged in {_spill_summary(merge_stats)}", quiet)
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
                spill = f", {_spill_summary(stats)}" if stats.spills else ""
                log(f"co-occurrences: {stats.records} records from {stats.tokens} in-vocabulary tokens "
                    f"in {stats.seconds:.1f}s (dense block up to rank product {stats.dense_p}{spill})", quiet)
                n_records = stats.records
                result.temp_peak_bytes, result.temp_ratio = stats.temp_peak_bytes, stats.temp_ratio
            if n_records == 0:
                raise NlptError("no co-occurrences: no line has two in-vocabulary words within the window")
        records = sink.finish(seed)
        peaks["shuffle"] = peak_rss_mib(reset=True)
        if sink.on_disk:
            log(f"training records ({n_records * 16 / 1e6:.0f} MB) exceed --memory {memory:g} GB "
                f"with the parameters ({params_bytes / 1e6:.0f} MB): training from {spill_dir} on disk", quiet)
        result.records = n_records
        result.count_seconds = time.perf_counter() - t0

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

        saved = {"epoch": state.epoch if resume is not None and resume == save_state else None}

        def on_epoch(report, st):
            log(f"iter {report.epoch}/{iterations}: cost {report.cost:.6f}  ({report.seconds:.1f}s)", quiet)
            if save_state is not None:
                gl.save_state(save_state, st, config)
                saved["epoch"] = report.epoch

        def kept() -> Optional[str]:  # what a stop signal leaves: the state saved after the last whole iteration
            if saved["epoch"] is None:
                return None
            how = "rerun the same command to continue" if again else f"continue with --resume {save_state}"
            return f"checkpoint {save_state} (after iteration {saved['epoch']}/{iterations}) kept; {how}"

        todo = max(0, iterations - state.epoch)
        if todo:
            with stop_note(kept), Progress("training", total=todo * n_records, unit="rec", quiet=quiet) as prog:
                gl.train(records, state, config, progress=prog, on_epoch=on_epoch)
        elif save_state is not None:
            gl.save_state(save_state, state, config)
        result.train_seconds = time.perf_counter() - t1
    finally:
        sink.close()  # removes the temporary training records, if they went to disk

    peaks["training"] = peak_rss_mib(reset=True)
    if iterations == 0:
        log(f"--iter 0: co-occurrences counted and saved to {save_cooccur}; no vectors written", quiet)
        return result
    words, matrix = vocab.words, gl.output_matrix(state, which)
    if read_vocab is not None:
        words, matrix = _trained_only(state, words, matrix, read_vocab)
    with stop_note(kept):  # the vectors are not written, the state of the last iteration is
        save_vectors(output, words, matrix, fmt, command="train-glove", reader_options=ropts, args=args,
                     dim=args.get("vector_size"))
    peaks["output"] = peak_rss_mib()
    log(f"wrote {V} vectors of size {vector_size} to {output} "
        f"(counting {result.count_seconds:.1f}s, training {result.train_seconds:.1f}s, {n_records} records)", quiet)
    log("peak memory (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()), quiet)
    return result


def _trained_only(state, words: list, matrix, read_vocab: str):
    """The words (and rows) that training updated: a word of a vocabulary file without any co-occurrence in
    the corpus keeps its random start and AdaGrad sums of 1 in both W and W~, and is left out (with a warning)."""
    from nlpt.vocab.training import warn_untrained

    V = len(words)
    untrained = (state.G[:V] == 1).all(axis=1) & (state.G[V:] == 1).all(axis=1)
    if not untrained.any():
        return words, matrix
    warn_untrained(read_vocab, [w for w, u in zip(words, untrained.tolist()) if u], V,
                   "have no co-occurrence in the corpus")
    return [w for w, u in zip(words, untrained.tolist()) if not u], matrix[~untrained]


def parameter_bytes(vocab_size: int, vector_size: int) -> int:
    """Memory of GloVe's parameters: W and W~ with biases, their AdaGrad sums (float32), and the output matrix."""
    return 2 * (2 * vocab_size * (vector_size + 1)) * 4 + vocab_size * vector_size * 4


def check_memory_for_parameters(memory_gb: float, vocab_size: int, vector_size: int) -> None:
    """Refuse, before counting, a --memory that cannot hold the parameters (the rest of the job adapts to it)."""
    need = parameter_bytes(vocab_size, vector_size)
    if need > memory_gb * (1 << 30):
        raise UsageError(
            f"--memory {memory_gb:g} GB cannot hold GloVe's parameters for {vocab_size} words of size {vector_size} "
            f"({need / (1 << 30):.2f} GB: W, W~, their AdaGrad sums and the output): give --memory "
            f"{math.ceil(need / (1 << 30) * 10) / 10:g} or more, or fewer words (--min-count, --max-vocab) "
            "or a smaller --vector-size"
        )


def _spill_summary(stats) -> str:
    """The temporary disk of the co-occurrence runs, for the log."""
    return (f"{stats.spills} spill(s): {stats.spilled_bytes / 1e6:.0f} MB written, at most "
            f"{stats.temp_peak_bytes / 1e6:.0f} MB on disk at once = {stats.temp_ratio:.2f}x the final records, "
            f"{stats.merge_passes} merge pass(es) in {stats.partitions} partition(s)")
