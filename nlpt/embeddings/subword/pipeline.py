"""The whole `train-subword` job as a library function: options checked, the output plan, training
(or continuing a `.bin` model), the model and its `.vec` vectors, and the summary line.

The CLI (`nlpt.cli.subword`) only parses options and calls `run_subword`; this module prints nothing
but log lines through `nlpt.common.progress`.
"""

from __future__ import annotations


def run_subword(*, inputs, output, vec, cbow, loss, negative, size, window, sample, min_count, max_vocab, epochs,
                alpha, min_alpha_ratio, minn, maxn, bucket, ns_exponent, init, seed, read_vocab, save_vocab,
                checkpoint, ropts, threads, quiet):
    """Train subword vectors on `inputs` and write the fastText model `output` (and `vec`); returns the model."""
    from nlpt.common.errors import UsageError
    from nlpt.common.plan import OutputPlan
    from nlpt.common.progress import log
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs

    if loss not in ("ns", "hs"):
        raise UsageError(f"--loss must be ns or hs, not {loss!r}")
    if output == "-":
        raise UsageError("--output: a .bin model cannot be written to standard output; give a file name")
    if init and read_vocab:
        raise UsageError("--init takes the vocabulary from the model: --read-vocab cannot be used with it")
    from nlpt.embeddings.subword.subword import validate_subwords

    validate_subwords(minn, maxn, bucket, {"--size": size, "--window": window, "--epochs": epochs,
                                           "--min-count": min_count, "--negative": negative})
    paths = expand_inputs(inputs)
    (OutputPlan().read("INPUTS", *inputs, *paths).read("--read-vocab", read_vocab).read("--init", init)
     .write("--output", output).write("--vec", vec).write("--save-vocab", save_vocab)
     .write("--checkpoint", checkpoint).check())
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling, release_freed_memory_eagerly

    release_freed_memory_eagerly()
    load_numba_without_scipy_linalg()
    note_compiling("train-subword", quiet)
    from nlpt.embeddings.formats.vectors import Vectors
    from nlpt.embeddings.subword import subword
    from nlpt.embeddings.word2vec.w2v import W2VConfig

    hs = loss == "hs"
    config = W2VConfig(
        size=size, window=window, sample=sample, negative=0 if hs else negative, hs=hs, cbow=cbow, cbow_mean=True,
        min_count=min_count, max_vocab=max_vocab, epochs=epochs, alpha=alpha, min_alpha_ratio=min_alpha_ratio,
        ns_exponent=ns_exponent, threads=resolve_threads(threads), seed=seed, centre_input=True,
        epoch_all_tokens=True,
    )
    rows = subword.SubwordRows(minn, maxn, bucket)
    model, st = subword.train(paths, ropts, config, rows, init=init, read_vocab=read_vocab, save_vocab=save_vocab,
                              checkpoint=checkpoint, quiet=quiet)
    subword.save_bin(output, model)
    if vec:  # fastText's .vec: the vocabulary's vectors as word2vec text (the .bin records the settings)
        Vectors(model.words, model.word_vectors()).save(vec, "text")
    log(
        f"trained {st['vocab_size']} words + {model.bucket} n-gram buckets x {size} on {st['words_processed']} words "
        f"in {st['train_seconds']:.1f}s ({st['words_per_second'] / 1000:.0f}k words/s), total {st['seconds']:.1f}s; "
        f"wrote {output}" + (f" and {vec}" if vec else ""),
        quiet,
    )
    return model
