"""The `nlpt vocab` jobs as library functions: word counting, merging count files and training a
subword tokenizer, each with its checks, its log line and the summary `--json` prints.

The CLI (`nlpt.cli.vocab`) only parses options, calls one of these and prints the summary it returns
(with `--json`); this module prints nothing but log lines through `nlpt.common.progress`.
"""

from __future__ import annotations


def vocab_count(inputs: list[str], output: str, *, min_count: int, max_size: int | None, prune_limit: int | None,
                memory: float, tmp_dir: str | None, tokenizer: str | None, size: int, ropts, threads: int | None,
                quiet: bool, as_json: bool) -> dict:
    """`nlpt vocab count`: the words of `inputs` counted into `output`, or with `tokenizer` a subword
    tokenizer trained on them; returns the summary."""
    check_outputs(inputs, output, as_json)
    if tokenizer is not None:
        refuse_word_count_options(tokenizer, min_count, max_size, prune_limit)
        return train_subword_tokenizer(inputs, output, kind=tokenizer, size=size, min_count=min_count, ropts=ropts,
                                       quiet=quiet, as_json=as_json)
    return count_vocabulary(inputs, output, min_count=min_count, max_size=max_size, prune_limit=prune_limit,
                            memory=memory, tmp_dir=tmp_dir, ropts=ropts, threads=threads, quiet=quiet, as_json=as_json)


def vocab_merge(inputs: list[str], output: str, *, min_count: int, max_size: int | None, memory: float,
                tmp_dir: str | None, quiet: bool, as_json: bool) -> dict:
    """`nlpt vocab merge`: count files summed into `output`; returns the summary."""
    check_outputs(inputs, output, as_json)
    return merge_counts(inputs, output, min_count=min_count, max_size=max_size, memory=memory, tmp_dir=tmp_dir,
                        quiet=quiet, as_json=as_json)


def check_outputs(inputs: list[str], output: str, as_json: bool) -> None:
    """Before any work: `--json` needs the vocabulary in a file, and the output plan holds (the output
    can be written and is none of the inputs)."""
    from nlpt.common.errors import UsageError
    from nlpt.common.plan import OutputPlan
    from nlpt.corpus.reader import expand_inputs

    if as_json and output == "-":
        raise UsageError("--json prints the summary on stdout, so the vocabulary needs -o FILE")
    OutputPlan().read("INPUTS", *inputs, *expand_inputs(inputs)).write("--output", output).check()


def check_memory(memory: float, tmp_dir: str | None) -> None:
    import math

    from nlpt.common.errors import UsageError
    from nlpt.common.output import spill_directory

    if not (memory > 0 and math.isfinite(memory)):
        raise UsageError(f"--memory must be a positive number of GB, got {memory}")
    spill_directory(tmp_dir)


def refuse_word_count_options(tokenizer: str, min_count: int, max_size: int | None, prune_limit: int | None) -> None:
    """Options of word counting that a tokenizer would silently ignore: a usage error naming the one to use."""
    from nlpt.common.errors import UsageError

    if max_size is not None:
        raise UsageError("--max-vocab: not with --tokenizer (its size is --size)")
    if prune_limit is not None:
        raise UsageError("--prune-limit: not with --tokenizer (it prunes word counts)")
    if tokenizer.lower() == "char" and min_count != 1:
        raise UsageError("--min-count: not with --tokenizer char (every character seen is kept, up to --size)")


def _spill_line(result) -> str:
    sp = result.spill
    if not sp:
        return ""
    return (f"; counts spilled to disk: {sp['runs']} sorted run(s), {sp['bytes_written'] / 1e6:.0f} MB written, "
            f"at most {sp['peak_disk'] / 1e6:.0f} MB at once, {sp['passes']} extra merge pass(es)")


def count_vocabulary(inputs: list[str], output: str, *, min_count: int, max_size: int | None, prune_limit: int | None,
                     memory: float, tmp_dir: str | None, ropts, threads: int | None, quiet: bool, as_json: bool) -> dict:
    """`nlpt vocab count`: count the words of `inputs` and write `output`; returns the summary."""
    from nlpt.common.errors import NlptError
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling, release_freed_memory_eagerly

    check_memory(memory, tmp_dir)
    release_freed_memory_eagerly()
    load_numba_without_scipy_linalg()
    note_compiling("vocab", quiet)
    from nlpt.common.progress import Progress, log, warn
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs
    from nlpt.corpus.sizes import progress_total
    from nlpt.vocab.count import count_words, describe_prune

    paths = expand_inputs(inputs)
    with Progress("counting", total=progress_total(paths), unit="B", quiet=quiet) as bar:
        result = count_words(paths, ropts, resolve_threads(threads), prune_limit, progress=bar, memory_gb=memory,
                             min_count=min_count, tmp_dir=tmp_dir)
    try:
        result.stats.report(quiet)
        if not result.types:
            raise NlptError(f"{paths[0] if len(paths) == 1 else 'input'}: no tokens found")
        kept = result.write_vocab(output, min_count, max_size)
    finally:
        result.close()
    pruned = describe_prune(result.prune)
    if pruned:
        warn(pruned)
    st = result.stats
    if not as_json:
        mb = st.bytes / 1e6
        rate = mb / result.seconds if result.seconds > 0 else 0.0
        log(f"{result.tokens} tokens, {result.types} types in {st.files} file{'s' if st.files != 1 else ''} "
            f"({mb:.1f} MB, {result.seconds:.1f} s, {rate:.1f} MB/s); kept {kept} words with count >= {min_count}"
            + _spill_line(result), quiet)
    return {
        "output": output,
        "files": st.files,
        "bytes": st.bytes,
        "lines": st.lines,
        "tokens": result.tokens,
        "types": result.types,
        "kept": kept,
        "min_count": min_count,
        "max_size": max_size,
        "invalid_utf8": st.total_invalid,
        "pruned": {
            "times": result.prune.times,
            "types": result.prune.types_dropped,
            "tokens": result.prune.tokens_dropped,
            "threshold": result.prune.threshold,
        },
        "spilled": result.spill,
        "seconds": round(result.seconds, 3),
    }


def merge_counts(inputs: list[str], output: str, *, min_count: int, max_size: int | None, memory: float,
                 tmp_dir: str | None, quiet: bool, as_json: bool) -> dict:
    """`nlpt vocab merge`: sum `word count` files into `output`; returns the summary."""
    from nlpt.common.errors import NlptError
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling

    check_memory(memory, tmp_dir)
    load_numba_without_scipy_linalg()
    note_compiling("vocab", quiet)
    from nlpt.common.progress import Progress, log
    from nlpt.corpus.reader import expand_inputs
    from nlpt.vocab.count import merge_count_files

    paths = expand_inputs(inputs)
    with Progress("merging", total=len(paths), unit="files", quiet=quiet) as bar:
        result = merge_count_files(paths, min_count, memory_gb=memory, tmp_dir=tmp_dir, progress=bar)
    try:
        if not result.types:
            raise NlptError(f"{paths[0] if len(paths) == 1 else 'inputs'}: no counts found")
        kept = result.write_vocab(output, min_count, max_size)
    finally:
        result.close()
    summary = {
        "output": output,
        "files": len(paths),
        "tokens": result.tokens,
        "types": result.types,
        "kept": kept,
        "min_count": min_count,
        "max_size": max_size,
        "spilled": result.spill,
    }
    if not as_json:
        log(f"merged {len(paths)} count file{'s' if len(paths) != 1 else ''}: {summary['tokens']} tokens, "
            f"{summary['types']} types; kept {kept} words" + _spill_line(result), quiet)
    return summary


def train_subword_tokenizer(inputs: list[str], output: str, *, kind: str, size: int, min_count: int, ropts,
                            quiet: bool, as_json: bool) -> dict:
    """`nlpt vocab --tokenizer bpe|wordpiece|char`: train a tokenizer and save it to `output`; returns the summary."""
    import time

    from nlpt.common.progress import log, warn
    from nlpt.corpus.reader import expand_inputs
    from nlpt.tokenizer.files import save_tokenizer
    from nlpt.tokenizer.train import check_size, describe_size, train_tokenizer

    kind = check_size(kind, size)
    paths = expand_inputs(inputs)
    start = time.perf_counter()
    log(f"training a {kind} tokenizer of size {size} on {len(paths)} file{'s' if len(paths) != 1 else ''}", quiet)
    tok, stats = train_tokenizer(paths, kind, size, min_count, ropts, quiet)
    save_tokenizer(tok, output)
    stats.report(quiet)
    summary = {
        "output": output,
        "tokenizer": kind,
        "size": tok.get_vocab_size(),
        "requested_size": size,
        "bytes": stats.bytes,
        "seconds": round(time.perf_counter() - start, 3),
    }
    note = describe_size(kind, summary["size"], size, min_count)
    if note:
        warn(note)
    if not as_json:
        log(f"{kind} tokenizer with {summary['size']} entries written to {output} ({summary['seconds']:.1f} s)", quiet)
    return summary
