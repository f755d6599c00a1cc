"""`nlpt corpus`: read, clean, tokenize, count, shard and download corpora."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli.options import (
    CJK,
    FORCE_BINARY,
    INPUTS,
    JSON,
    LOWER,
    MAX_SENTENCE,
    NFKC,
    QUIET,
    SPLIT_PUNCT,
    THREADS,
    App,
    int_option,
    reader_options,
)
from nlpt.common import jsontext

app = App(help="Read, clean, tokenize, count, shard and download text corpora.", no_args_is_help=True)


@app.command("stats")
def stats(
    inputs: List[str] = INPUTS,
    top: int = int_option(10, "--top", "-k", min=0, help="Show the k most frequent words."),
    vocab: Optional[str] = typer.Option(None, "--vocab", metavar="PATH", help="A `word count` file: report the out-of-vocabulary rate against it.", show_default=False),
    lower: bool = LOWER,
    nfkc: bool = NFKC,
    split_punct: bool = SPLIT_PUNCT,
    cjk: bool = CJK,
    force_binary: bool = FORCE_BINARY,
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
    json: bool = JSON,
) -> None:
    """Bytes, lines, tokens, types, type/token ratio, top-k words and OOV rate (a table, or --json).

    Example: nlpt corpus stats ptb.train.txt --vocab vocab.txt --top 20
    """
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs
    from nlpt.vocab.stats import corpus_stats, format_stats

    paths = expand_inputs(inputs)
    if vocab == "-" and "-" in paths:
        from nlpt.common.errors import UsageError

        raise UsageError("standard input (-) can be read only once: give the corpus or --vocab another file")
    opts = reader_options(lower, nfkc, split_punct, cjk, force_binary=force_binary)
    from nlpt.common.process import note_compiling

    note_compiling("vocab", quiet)  # the counting kernels of `nlpt vocab`
    result = corpus_stats(paths, opts, resolve_threads(threads), top, vocab, quiet)
    if json:
        print(jsontext.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_stats(result))


@app.command("tokenize")
def tokenize(
    inputs: List[str] = INPUTS,
    output: str = typer.Option("-", "--output", "-o", metavar="PATH", help="Output file, or - for stdout."),
    lower: bool = LOWER,
    nfkc: bool = NFKC,
    split_punct: bool = SPLIT_PUNCT,
    cjk: bool = CJK,
    max_sentence_length: int = MAX_SENTENCE,
    force_binary: bool = FORCE_BINARY,
    quiet: bool = QUIET,
) -> None:
    """Write each input line normalised and space-separated (for pipelines).

    A line is a sentence in nlpt's convention: no sentence splitting is done; empty lines are dropped
    and lines longer than --max-sentence-length tokens are cut into several.

    Example: nlpt corpus tokenize --lower --split-punct raw/ | gzip > clean.txt.gz
    """
    from nlpt.common.plan import OutputPlan
    from nlpt.corpus.reader import expand_inputs, write_sentences

    paths = expand_inputs(inputs)
    OutputPlan().read("INPUTS", *inputs, *paths).write("--output", output).check()
    opts = reader_options(lower, nfkc, split_punct, cjk, max_sentence_length, force_binary)
    write_sentences(paths, opts, output, quiet).report(quiet)


@app.command("shard")
def shard(
    inputs: List[str] = typer.Argument(..., metavar="FILE", help="Input files, globs or directories (recursive), not stdin: its size must be known first; .gz/.bz2/.xz read transparently.", show_default=False),
    n: int = int_option(..., "--shards", "-n", min=1, help="Number of output files.", show_default=False),
    prefix: str = typer.Option("shard-", "--output-prefix", "-o", metavar="PATH", help="Output files are PREFIX00.txt, PREFIX01.txt, ..."),
    gzip_out: bool = typer.Option(False, "--gzip", help="Compress the shards (PREFIX00.txt.gz, ...)."),
    force_binary: bool = FORCE_BINARY,
    quiet: bool = QUIET,
    json: bool = JSON,
) -> None:
    """Split inputs into N files of about equal size, cut at line ends (or whitespace in one-line files).

    The text is copied byte for byte (compressed inputs are decompressed). Example:
    nlpt corpus shard wiki/ -n 8 -o shards/wiki-
    """
    import os

    from nlpt.common.plan import OutputPlan
    from nlpt.corpus.reader import expand_inputs
    from nlpt.corpus.shard import check_shard_count, shard_files, shard_names

    check_shard_count(n)
    paths = expand_inputs(inputs)
    names = shard_names(prefix, n, gzip_out)
    plan = OutputPlan().read("INPUTS", *inputs, *paths)
    plan.write_folder("--output-prefix", os.path.dirname(prefix), tuple(os.path.basename(p) for p in names))
    for name in names:
        plan.write("--output-prefix", name)
    plan.check()
    written = shard_files(paths, n, prefix, gzip_out, force_binary, quiet)
    if json:
        print(jsontext.dumps([{"path": p, "bytes": b, "lines": l} for p, b, l in written], indent=2))
    elif not quiet:
        import sys

        for p, b, l in written:
            print(f"nlpt: wrote {p} ({b:,} byte{'s' if b != 1 else ''}, {l:,} line{'s' if l != 1 else ''})", file=sys.stderr)


@app.command("download")
def download(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Corpus name (see --list).", show_default=False),
    dest: str = typer.Option(".", "--dest", "-d", metavar="PATH", help="Directory to put the files in (created if missing)."),
    url: Optional[str] = typer.Option(None, "--url", metavar="TEXT", help="Download from this mirror instead of the catalogue URL (single-file corpora, or a base URL ending in /).", show_default=False),
    sha256: Optional[str] = typer.Option(None, "--sha256", metavar="TEXT", help="Expected sha256 (overrides the catalogue; with --url).", show_default=False),
    list_: bool = typer.Option(False, "--list", "-l", help="List the catalogue and exit."),
    force: bool = typer.Option(False, "--force", help="Download again even if the files are already there."),
    keep_archive: bool = typer.Option(False, "--keep-archive", help="Keep zip archives after extracting them."),
    quiet: bool = QUIET,
    json: bool = JSON,
) -> None:
    """Download a standard corpus (text8, ptb, wikitext-2-raw) with sha256 verification.

    Partial downloads (`FILE.part`) resume with HTTP Range requests; finished
    files are verified, then renamed into place, so DEST never holds a
    truncated file under its final name. Example: nlpt corpus download text8 -d data/
    """
    from nlpt.corpus import download as dl

    if list_:
        entries = dl.catalogue()
        if json:
            print(jsontext.dumps({k: v.as_dict() for k, v in entries.items()}, indent=2))
        else:
            print(dl.format_catalogue(entries))
        return
    if name is None:
        from nlpt.common.errors import UsageError

        raise UsageError("name a corpus to download (see `nlpt corpus download --list`)")
    from nlpt.common.plan import OutputPlan

    OutputPlan().write_folder("--dest", dest).check()  # before any transfer: a file or unwritable folder is refused
    files = dl.fetch(name, dest, url=url, sha256=sha256, force=force, quiet=quiet, keep_archive=keep_archive)
    if json:
        print(jsontext.dumps({"name": name, "files": files}, indent=2))
    elif not quiet:
        import sys

        for f in files:
            print(f"nlpt: {f}", file=sys.stderr)
