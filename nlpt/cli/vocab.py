"""`nlpt vocab`: word counts, merges of shard counts, subword tokenizers."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli.defaultgroup import DefaultGroup
from nlpt.cli.options import (CJK, FORCE_BINARY, INPUTS, LOWER, NFKC, QUIET, SPLIT_PUNCT, THREADS, App, float_option,
                              int_option, reader_options)

app = App(
    cls=DefaultGroup,
    help=(
        "Vocabularies: word counts, merges of shard counts, subword tokenizers. "
        "`nlpt vocab FILES...` runs `count` (the default subcommand)."
    ),
    no_args_is_help=True,
)

OUTPUT = typer.Option("-", "--output", "-o", metavar="PATH", help="Output file, or - for stdout.")
MIN_COUNT = int_option(1, "--min-count", min=1, help="Keep words seen at least this many times.")
MAX_SIZE = int_option(None, "--max-vocab", min=1, help="Keep at most this many words (the most frequent).", show_default=False)
MAX_SIZE_OLD = int_option(None, "--max-size", min=1, hidden=True, help="Old name of --max-vocab.", show_default=False)
JSON_SUMMARY = typer.Option(False, "--json", help="Print a JSON summary on stdout (needs -o FILE).")
MEMORY = float_option(4.0, "--memory", help="Memory budget in GB: count tables beyond it are spilled to disk as sorted runs and merged (counts stay exact).")
TMP_DIR = typer.Option(None, "--tmp-dir", metavar="PATH", help="Where to spill count runs [default: $TMPDIR].", show_default=False)


def _check_json_output(as_json: bool, output: str) -> None:
    if as_json and output == "-":
        from nlpt.common.errors import UsageError

        raise UsageError("--json prints the summary on stdout, so the vocabulary needs -o FILE")

def _check_paths(inputs: List[str], output: str) -> None:
    """Before any work: the output plan (the output can be written and is none of the inputs)."""
    from nlpt.common.plan import OutputPlan
    from nlpt.corpus.reader import expand_inputs

    OutputPlan().read("INPUTS", *inputs, *expand_inputs(inputs)).write("--output", output).check()


COUNT_HELP = """Count words and write `word count` lines sorted by count.

The format is that of `word2vec -save-vocab` and GloVe's `vocab_count`;
every nlpt trainer reads it back with `--read-vocab`. Counting runs on
byte-offset shards of the input with --threads workers; memory stays bounded
within --memory: tables that outgrow it are spilled as sorted runs and merged,
so counts are exact and the same for any --threads. --prune-limit N prunes
the rarest words instead (word2vec's ReduceVocab; reported).

Subword mode: `--tokenizer bpe|wordpiece|char --size N -o tokenizer.json` trains a
byte-pair-encoding or WordPiece tokenizer (Hugging Face `tokenizers`) on the
same text instead, and saves its tokenizer.json.

Examples:

  nlpt vocab corpus/ -o vocab.txt --min-count 5

  nlpt vocab part-*.txt.gz --lower --max-vocab 100000 > vocab.txt

  nlpt vocab --tokenizer bpe --size 8000 -o tokenizer.json corpus.txt
"""


@app.command("count", help=COUNT_HELP)
def count(
    inputs: List[str] = INPUTS,
    output: str = OUTPUT,
    min_count: int = MIN_COUNT,
    max_size: Optional[int] = MAX_SIZE,
    max_size_old: Optional[int] = MAX_SIZE_OLD,
    memory: float = MEMORY,
    tmp_dir: Optional[str] = TMP_DIR,
    prune_limit: Optional[int] = int_option(
        None, "--prune-limit", min=1000, show_default=False,
        help="Instead of spilling, prune the rarest words when more than this many distinct words are held "
        "(word2vec's ReduceVocab: approximate counts, reported).",
    ),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", metavar="bpe|wordpiece|char", help="Train a subword (or character) tokenizer instead of counting words.", show_default=False
    ),
    size: int = int_option(30_000, "--size", help="Subword vocabulary size (with --tokenizer): bpe 261 or more (256 bytes + 5 special tokens), wordpiece 6 or more, char 2 or more."),
    lower: bool = LOWER,
    nfkc: bool = NFKC,
    split_punct: bool = SPLIT_PUNCT,
    cjk: bool = CJK,
    force_binary: bool = FORCE_BINARY,
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
    json: bool = JSON_SUMMARY,
) -> None:
    _check_json_output(json, output)
    _check_paths(inputs, output)
    max_size = max_size if max_size is not None else max_size_old
    opts = reader_options(lower, nfkc, split_punct, cjk, force_binary=force_binary)
    if tokenizer is not None:
        _refuse_word_count_options(tokenizer, min_count, max_size, prune_limit)
        _train_tokenizer(inputs, output, tokenizer, size, min_count, opts, quiet, json)
        return
    _check_memory(memory, tmp_dir)
    _run_count(inputs, output, min_count, max_size, prune_limit, memory, tmp_dir, opts, threads, quiet, json)


@app.command("merge")
def merge(
    inputs: List[str] = typer.Argument(..., metavar="FILE", help="Count files (`word count` lines) to sum, e.g. one per shard.", show_default=False),
    output: str = OUTPUT,
    min_count: int = MIN_COUNT,
    max_size: Optional[int] = MAX_SIZE,
    max_size_old: Optional[int] = MAX_SIZE_OLD,
    memory: float = MEMORY,
    tmp_dir: Optional[str] = TMP_DIR,
    quiet: bool = QUIET,
    json: bool = JSON_SUMMARY,
) -> None:
    """Sum count files made on shards into one vocabulary (for Slurm array jobs, say).

    Exact within --memory: counts that do not fit are spilled as sorted runs and
    merged, so a hundred shard files of millions of words each merge in a small budget.

    Example: nlpt vocab merge counts-*.txt -o vocab.txt --min-count 5
    """
    _check_json_output(json, output)
    _check_paths(inputs, output)
    _check_memory(memory, tmp_dir)
    max_size = max_size if max_size is not None else max_size_old
    _run_merge(inputs, output, min_count, max_size, memory, tmp_dir, quiet, json)


def _refuse_word_count_options(tokenizer: str, min_count: int, max_size: Optional[int], prune_limit: Optional[int]) -> None:
    """Options of word counting that a tokenizer would silently ignore: a usage error naming the one to use."""
    from nlpt.common.errors import UsageError

    if max_size is not None:
        raise UsageError("--max-vocab: not with --tokenizer (its size is --size)")
    if prune_limit is not None:
        raise UsageError("--prune-limit: not with --tokenizer (it prunes word counts)")
    if tokenizer.lower() == "char" and min_count != 1:
        raise UsageError("--min-count: not with --tokenizer char (every character seen is kept, up to --size)")


# -- the runners: call the library, print the summary ----------------------------------------


def _check_memory(memory: float, tmp_dir: Optional[str]) -> None:
    import math

    from nlpt.common.errors import UsageError
    from nlpt.common.output import spill_directory

    if not (memory > 0 and math.isfinite(memory)):
        raise UsageError(f"--memory must be a positive number of GB, got {memory}")
    spill_directory(tmp_dir)


def _summary(result, kept: int, min_count: int, max_size, output: str) -> dict:
    st = result.stats
    out = {
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
    return out


def _spill_line(result) -> str:
    sp = result.spill
    if not sp:
        return ""
    return (f"; counts spilled to disk: {sp['runs']} sorted run(s), {sp['bytes_written'] / 1e6:.0f} MB written, "
            f"at most {sp['peak_disk'] / 1e6:.0f} MB at once, {sp['passes']} extra merge pass(es)")


def _run_count(inputs, output, min_count, max_size, prune_limit, memory, tmp_dir, opts, threads, quiet, as_json) -> None:
    """`nlpt vocab count`."""
    import json

    from nlpt.common.errors import NlptError
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling, release_freed_memory_eagerly

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
        result = count_words(paths, opts, resolve_threads(threads), prune_limit, progress=bar, memory_gb=memory,
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
    if as_json:
        print(json.dumps(_summary(result, kept, min_count, max_size, output), indent=2))
    else:
        st = result.stats
        mb = st.bytes / 1e6
        rate = mb / result.seconds if result.seconds > 0 else 0.0
        log(f"{result.tokens} tokens, {result.types} types in {st.files} file{'s' if st.files != 1 else ''} "
            f"({mb:.1f} MB, {result.seconds:.1f} s, {rate:.1f} MB/s); kept {kept} words with count >= {min_count}"
            + _spill_line(result), quiet)


def _run_merge(inputs, output, min_count, max_size, memory, tmp_dir, quiet, as_json) -> None:
    """`nlpt vocab merge`: sum `word count` files."""
    import json

    from nlpt.common.errors import NlptError
    from nlpt.common.process import load_numba_without_scipy_linalg, note_compiling

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
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        log(f"merged {len(paths)} count file{'s' if len(paths) != 1 else ''}: {summary['tokens']} tokens, "
            f"{summary['types']} types; kept {kept} words" + _spill_line(result), quiet)


def _train_tokenizer(inputs, output, kind, size, min_count, opts, quiet, as_json) -> None:
    """`nlpt vocab --tokenizer bpe|wordpiece`."""
    import json
    import time

    from nlpt.common.progress import log, warn
    from nlpt.corpus.reader import expand_inputs
    from nlpt.tokenizer.files import save_tokenizer
    from nlpt.tokenizer.train import check_size, describe_size, train_tokenizer

    kind = check_size(kind, size)
    paths = expand_inputs(inputs)
    start = time.perf_counter()
    log(f"training a {kind} tokenizer of size {size} on {len(paths)} file{'s' if len(paths) != 1 else ''}", quiet)
    tok, stats = train_tokenizer(paths, kind, size, min_count, opts, quiet)
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
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        log(f"{kind} tokenizer with {summary['size']} entries written to {output} ({summary['seconds']:.1f} s)", quiet)
