"""The counting engine behind `nlpt vocab` and `nlpt corpus stats`.

How it is fast:

* Blocks from the reader (`iter_blocks`) are counted as raw bytes, split on
  ASCII whitespace, by a numba hash table (`ByteCounter`) that compares keys
  byte for byte (exact counts) and needs ~30 bytes per type plus the key bytes.
* `threads` threads count disjoint byte-offset shards of the input
  (`plan_shards`, as word2vec.c, fastText and gensim's `corpus_file` do); the
  kernels release the GIL, so threads run in parallel in one process and the
  per-thread tables are merged in place, without pickling.
* Normalisation and tokenization (`--lower`, `--nfkc`, `--split-punct`,
  `--cjk`, invalid UTF-8 replaced by U+FFFD, and `str.split`'s extra Unicode
  whitespace such as U+00A0) are applied afterwards to each distinct *type*,
  and the counts re-summed. This gives exactly the counts of tokenizing the
  text first, because every tokenizer option acts within whitespace-separated
  pieces (none of its patterns matches across whitespace), while touching ~1M
  types instead of ~16M tokens. With the default (plain) tokenizer only types
  with non-ASCII bytes are looked at.
* Memory stays bounded: when a table holds more than its share of
  `prune_limit` types, the rarest are pruned as word2vec's ReduceVocab does
  (count <= 1, then <= 2, ...) and the pruning is reported.

The trainers (`train-w2v`, via `count_vocab`) use this same engine, so their
vocabulary is exactly `nlpt vocab`'s.

`engine="python"` is a plain-Python reference (`Counter` over the reader's
token chunks) used by the tests to cross-check the fast engine.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from nlpt.common.errors import NlptError
from nlpt.corpus.reader import ReaderOptions, ReadStats, as_sources, compression_of, decode, iter_blocks, iter_token_chunks, plan_shards
from nlpt.corpus.tokenize import make_splitter
from nlpt.vocab.vocab import DEFAULT_PRUNE_LIMIT, PruneReport


@dataclass
class CountResult:
    """Word counts of a corpus and what the reader and the pruning saw.

    Backed either by a numba `ByteCounter` (`table`) or by a `Counter` (`_counter`).
    """

    stats: ReadStats
    prune: PruneReport = field(default_factory=PruneReport)
    seconds: float = 0.0
    table: object = None
    _counter: Counter | None = None

    @property
    def types(self) -> int:
        return len(self.table) if self.table is not None else len(self._counter)

    @property
    def tokens(self) -> int:
        """Tokens read, including those of pruned types."""
        if self.table is not None:
            kept = int(self.table.counts().sum())
        else:
            kept = sum(self._counter.values())
        return kept + self.prune.tokens_dropped

    @property
    def counts(self) -> Counter:
        """All counts as a `Counter` of str (built on first use from the table)."""
        if self._counter is None:
            t = self.table
            keys = t.keys(range(len(t)))
            words = b"\n".join(keys).decode("utf-8").split("\n") if keys else []
            self._counter = Counter(dict(zip(words, t.counts().tolist())))
        return self._counter

    def hapax(self) -> int:
        if self.table is not None:
            return int((self.table.counts() == 1).sum())
        return sum(1 for c in self._counter.values() if c == 1)

    def sorted_items(self, min_count: int = 1, max_size: int | None = None) -> list[tuple[str, int]]:
        """(word, count) by descending count, then word, as in the vocabulary file."""
        if self.table is not None:
            order = self.table.sorted_entries(min_count, max_size)
            keys = self.table.keys(order)
            counts = self.table.counts()[order].tolist()
            return [(k.decode("utf-8"), c) for k, c in zip(keys, counts)]
        from nlpt.vocab.vocab import Vocab

        v = Vocab.from_counts(self._counter, min_count, max_size)
        return list(zip(v.words, v.counts))

    def to_vocab(self, min_count: int = 1, max_size: int | None = None):
        """A `Vocab` (words by descending count) of the words with count >= min_count."""
        from nlpt.vocab.vocab import Vocab

        items = self.sorted_items(min_count, max_size)
        return Vocab([w for w, _ in items], [c for _, c in items])

    def vocab_bytes(self, min_count: int = 1, max_size: int | None = None) -> tuple[bytes, int]:
        """The vocabulary file's content (`word count` lines) and its number of words."""
        if self.table is not None:
            order = self.table.sorted_entries(min_count, max_size)
            return self.table.format(order), len(order)
        items = self.sorted_items(min_count, max_size)
        return "".join(f"{w} {c}\n" for w, c in items).encode("utf-8"), len(items)

    def write_vocab(self, path: str, min_count: int = 1, max_size: int | None = None) -> int:
        """Write the vocabulary atomically (`-` = stdout); returns the number of words written."""
        from nlpt.common.output import atomic_output

        data, n = self.vocab_bytes(min_count, max_size)
        with atomic_output(path, "wb") as fh:
            fh.write(data)
        return n


# -- the fast engine ---------------------------------------------------------------------


def is_utf8(block: bytes) -> bool:
    """Whether `block` is valid UTF-8, checked in numba without decoding it (decoding a
    1 MB block would make a str of up to 4 MB per thread just to find out)."""
    import numpy as np

    from nlpt.vocab._fastcount import utf8_valid

    return bool(utf8_valid(np.frombuffer(block, dtype=np.uint8)))


def _check_utf8(block: bytes, path: str, stats: ReadStats) -> None:
    if not block.isascii() and not is_utf8(block):
        decode(block, path, stats)  # counts this file's invalid sequences


def _count_shard(sources, opts: ReaderOptions, prune_limit: int, stats: ReadStats, report: PruneReport, done: list, slot: int, stop: threading.Event):
    from nlpt.vocab._fastcount import ByteCounter

    # Reserve (virtually) room for every entry the table may hold before pruning:
    # the limit plus one block's worth of new types.
    table = ByteCounter(reserve=prune_limit + opts.chunk_bytes // 2 + 1)
    threshold = 1
    for source in sources:
        for block in iter_blocks(source, opts.chunk_bytes, opts.force_binary):
            if stop.is_set():
                return table
            n = len(block)
            stats.bytes += n
            stats.lines += block.count(b"\n")
            _check_utf8(block, source.path, stats)
            table.add_block(block)
            if len(table) > prune_limit:
                report.add(*table.prune(threshold), threshold)
                threshold += 1
            done[slot] += n
    return table


def normalise_table(table, opts: ReaderOptions) -> None:
    """Apply the tokenizer to every raw type of `table` in place (see the module docstring)."""
    import numpy as np

    from nlpt.vocab._fastcount import ByteCounter

    n = len(table)
    if n == 0:
        return
    plain = opts.tokenizer.is_plain
    if plain:
        sel = table.unusual()
    else:
        sel = np.arange(n)
    if len(sel) == 0:
        return
    split = make_splitter(opts.tokenizer)
    fresh = ByteCounter()
    changed = []
    step = 1 << 13  # small batches: the transient Python objects stay small
    for b in range(0, len(sel), step):
        batch = sel[b : b + step]
        keys = table.keys(batch)
        counts = table.ent[batch, 3].tolist()
        new_keys: list[bytes] = []
        new_counts: list[int] = []
        for e, key, c in zip(batch.tolist(), keys, counts):
            word = key.decode("utf-8", "replace")
            bad = "\ufffd" in word and word.encode("utf-8") != key
            if plain:
                if not bad and word.isprintable():
                    continue
                toks = word.split()
            else:
                toks = split(word)
                if not bad and len(toks) == 1 and toks[0] == word:
                    continue
            changed.append(e)
            for t in toks:
                new_keys.append(t.encode("utf-8", "surrogatepass"))
                new_counts.append(c)
        fresh.add_keys(new_keys, new_counts)
    if changed:
        tokens = table.tokens
        table.zero(changed)
        table.merge(fresh)
        table.state[2] = tokens


def _count_fast(paths, opts, threads, prune_limit, progress) -> CountResult:
    stats, report = ReadStats(), PruneReport()
    shards = [s for s in plan_shards(paths, threads) if s] if threads > 1 else [as_sources(paths)]
    limit = max(1000, prune_limit // max(1, len(shards)))
    done = [0] * len(shards)
    results: list = [None] * len(shards)
    errors: list = []
    stop = threading.Event()
    shard_stats = [ReadStats() for _ in shards]
    shard_reports = [PruneReport() for _ in shards]

    def run(i: int) -> None:
        try:
            table = _count_shard(shards[i], opts, limit, shard_stats[i], shard_reports[i], done, i, stop)
            normalise_table(table, opts)
            results[i] = table
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            stop.set()

    workers = [threading.Thread(target=run, args=(i,), daemon=True, name=f"nlpt-count-{i}") for i in range(len(shards))]
    from nlpt.vocab._fastcount import ByteCounter  # noqa: F401 - load the kernels once, before the threads start

    try:
        for w in workers:
            w.start()
        for w in workers:
            while w.is_alive():
                w.join(0.2)
                if progress is not None:
                    progress.update(sum(done))
    except BaseException:
        stop.set()
        raise
    if errors:
        raise errors[0]
    if progress is not None:
        progress.update(sum(done))
    table = results[0]
    for i in range(1, len(results)):
        table.merge(results[i])
        results[i] = None
    for s, r in zip(shard_stats, shard_reports):
        stats.merge(s)
        report.merge(r)
    if len(table) > prune_limit:  # merged shards can exceed the global bound
        threshold = report.threshold + 1 if report.times else 1
        report.add(*table.prune(threshold), threshold)
    stats.files = len(paths)
    return CountResult(stats, report, table=table)


def _count_python(paths, opts, prune_limit, progress) -> CountResult:
    from nlpt.vocab.vocab import count_chunks

    stats = ReadStats()

    def chunks():
        for c in iter_token_chunks(as_sources(paths), opts, stats):
            yield c
            if progress is not None:
                progress.update(stats.bytes)

    counts, report = count_chunks(chunks(), prune_limit)
    stats.files = len(paths)
    return CountResult(stats, report, _counter=counts)


def count_words(
    paths: list[str],
    opts: ReaderOptions = ReaderOptions(),
    threads: int = 1,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    progress=None,
    engine: str = "fast",
) -> CountResult:
    """Count the words of `paths` (as returned by `expand_inputs`) with `threads` workers.

    `prune_limit` bounds the distinct types held in memory (all workers together).
    `progress`, if given, is a `Progress` in bytes. `engine`: "fast" or "python"
    (the reference the tests check the fast engine against).
    """
    start = time.perf_counter()
    threads = max(1, int(threads))
    plain_bytes = sum(os.path.getsize(p) for p in paths if p != "-")
    if threads > 1 and plain_bytes < (2 << 20):
        threads = 1  # not worth the threads
    if engine == "python":
        result = _count_python(paths, opts, prune_limit, progress)
    elif engine == "fast":
        result = _count_fast(paths, opts, threads, prune_limit, progress)
    else:
        raise NlptError(f"unknown counting engine {engine!r} (fast or python)")
    result.seconds = time.perf_counter() - start
    return result


@dataclass
class VocabCount:
    """A training vocabulary counted from a corpus, and the totals of the count (the table itself is gone)."""

    vocab: object  # nlpt.vocab.vocab.Vocab
    tokens: int
    types: int
    stats: ReadStats
    prune: PruneReport
    seconds: float


def count_vocab(
    paths: list[str],
    opts: ReaderOptions = ReaderOptions(),
    threads: int = 1,
    min_count: int = 1,
    max_size: int | None = None,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    progress=None,
) -> VocabCount:
    """`count_words`, then only the words with count >= min_count (the first max_size) as a `Vocab`.

    What the trainers use: the selection and the sort run inside the count
    table, so only the kept words ever become Python strings, and the table
    is dropped before returning (its memory goes back to the system).
    Its words are the tokens of `str.split()` on the normalised text, the
    tokens the trainers' encoders (`iter_encoded`, `embeddings.bytescan`) produce.
    """
    result = count_words(paths, opts, threads, prune_limit, progress)
    try:
        vocab = result.to_vocab(min_count, max_size)
        return VocabCount(vocab, result.tokens, result.types, result.stats, result.prune, result.seconds)
    finally:
        result.table = None
        result._counter = None


def describe_prune(report: PruneReport) -> str | None:
    if not report.times:
        return None
    return (
        f"the count table reached its limit and was pruned {report.times} time{'s' if report.times != 1 else ''}: "
        f"{report.types_dropped} rare types ({report.tokens_dropped} tokens, counts <= {report.threshold}) were dropped"
    )


def progress_total(paths: list[str]) -> int | None:
    """The bytes a count of `paths` will read, for a progress bar; None when unknown (stdin, compressed files)."""
    if all(p != "-" and compression_of(p) is None for p in paths):
        return sum(os.path.getsize(p) for p in paths)
    return None


__all__ = ["CountResult", "VocabCount", "count_words", "count_vocab", "is_utf8", "normalise_table", "describe_prune", "progress_total", "run_count", "run_merge"]


# -- the commands ---------------------------------------------------------------------


def _summary_line(result: CountResult, kept: int, min_count: int) -> str:
    st = result.stats
    mb = st.bytes / 1e6
    rate = mb / result.seconds if result.seconds > 0 else 0.0
    return (
        f"{result.tokens} tokens, {result.types} types in {st.files} file{'s' if st.files != 1 else ''} "
        f"({mb:.1f} MB, {result.seconds:.1f} s, {rate:.1f} MB/s); kept {kept} words with count >= {min_count}"
    )


def run_count(inputs, output, min_count, max_size, prune_limit, opts, threads, quiet, as_json) -> None:
    """`nlpt vocab count`."""
    import json

    from nlpt.common.process import load_numba_without_scipy_linalg, release_freed_memory_eagerly

    release_freed_memory_eagerly()
    load_numba_without_scipy_linalg()
    from nlpt.common.progress import Progress, log
    from nlpt.common.threads import resolve_threads
    from nlpt.corpus.reader import expand_inputs

    paths = expand_inputs(inputs)
    with Progress("counting", total=progress_total(paths), unit="B", quiet=quiet) as bar:
        result = count_words(paths, opts, resolve_threads(threads), prune_limit, progress=bar)
    result.stats.report(quiet)
    if not result.types:
        raise NlptError(f"{paths[0] if len(paths) == 1 else 'input'}: no tokens found")
    kept = result.write_vocab(output, min_count, max_size)
    pruned = describe_prune(result.prune)
    if pruned:
        print(f"nlpt: warning: {pruned}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps(_summary_dict(result, kept, min_count, max_size, output), indent=2))
    else:
        log(_summary_line(result, kept, min_count), quiet)


def _summary_dict(result: CountResult, kept: int, min_count: int, max_size, output: str) -> dict:
    st = result.stats
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
        "seconds": round(result.seconds, 3),
    }


def run_merge(inputs, output, min_count, max_size, quiet, as_json) -> None:
    """`nlpt vocab merge`: sum `word count` files."""
    import json

    from nlpt.common.progress import log
    from nlpt.corpus.reader import expand_inputs
    from nlpt.vocab.vocab import Vocab, read_counts

    paths = expand_inputs(inputs)
    if "-" in paths:
        raise NlptError("-: vocab merge reads count files, not stdin")
    total: Counter = Counter()
    for p in paths:
        total.update(read_counts(p))
    if not total:
        raise NlptError(f"{paths[0] if len(paths) == 1 else 'inputs'}: no counts found")
    vocab = Vocab.from_counts(total, min_count, max_size)
    vocab.save(output)
    summary = {
        "output": output,
        "files": len(paths),
        "tokens": sum(total.values()),
        "types": len(total),
        "kept": len(vocab),
        "min_count": min_count,
        "max_size": max_size,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        log(f"merged {len(paths)} count files: {summary['tokens']} tokens, {summary['types']} types; kept {len(vocab)} words", quiet)
