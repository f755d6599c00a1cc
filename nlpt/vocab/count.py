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
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from nlpt.common.errors import NlptError
from nlpt.common.threads import start_all
from nlpt.corpus.reader import (ReaderOptions, ReadStats, as_sources, decode, iter_blocks, iter_token_chunks, plan_shards,
                                unterminated_line)
from nlpt.corpus.tokenize import make_splitter
from nlpt.vocab.vocab import DEFAULT_PRUNE_LIMIT, PruneReport


def is_utf8(block: bytes) -> bool:
    """`nlpt.corpus.bytes.is_utf8`, imported at first use: the python engine (`corpus stats` on small
    inputs) must not load numba."""
    from nlpt.corpus.bytes import is_utf8 as check

    return check(block)

DEFAULT_MEMORY_GB = 4.0  # count tables beyond this spill to disk as sorted runs


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
    # When the counts spilled to disk (`nlpt.vocab.runs`): the table holds only the words with
    # count >= kept_min (more in `ranked` runs if they outgrew memory), and the totals are kept here.
    kept_min: int = 1
    ranked: object = None  # RankedRuns or None
    totals: tuple | None = None  # (types, tokens, hapax) over all words
    spill: dict | None = None  # runs, bytes written, peak disk, merge passes

    @property
    def types(self) -> int:
        if self.totals is not None:
            return self.totals[0]
        return len(self.table) if self.table is not None else len(self._counter)

    @property
    def tokens(self) -> int:
        """Tokens read, including those of pruned types."""
        if self.totals is not None:
            return self.totals[1] + self.prune.tokens_dropped
        if self.table is not None:
            kept = int(self.table.counts().sum())
        else:
            kept = sum(self._counter.values())
        return kept + self.prune.tokens_dropped

    def _need(self, min_count: int) -> None:
        if min_count < self.kept_min or self.ranked is not None:
            raise NlptError("the counts spilled to disk keep only the words with count >= "
                            f"{self.kept_min} (and do not fit in memory): raise --memory")

    def close(self) -> None:
        """Remove the temporary runs, if any."""
        if self.ranked is not None:
            self.ranked.cleanup()
            self.ranked = None

    @property
    def counts(self) -> Counter:
        """All counts as a `Counter` of str (built on first use from the table)."""
        if self._counter is None:
            self._need(1)
            t = self.table
            keys = t.keys(range(len(t)))
            words = b"\n".join(keys).decode("utf-8").split("\n") if keys else []
            self._counter = Counter(dict(zip(words, t.counts().tolist())))
        return self._counter

    def hapax(self) -> int:
        if self.totals is not None:
            return self.totals[2]
        if self.table is not None:
            return int((self.table.counts() == 1).sum())
        return sum(1 for c in self._counter.values() if c == 1)

    def sorted_items(self, min_count: int = 1, max_size: int | None = None) -> list[tuple[str, int]]:
        """(word, count) by descending count, then word, as in the vocabulary file."""
        self._need(min_count)
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
        self._need(min_count)
        if self.table is not None:
            order = self.table.sorted_entries(min_count, max_size)
            return self.table.format(order), len(order)
        items = self.sorted_items(min_count, max_size)
        return "".join(f"{w} {c}\n" for w, c in items).encode("utf-8"), len(items)

    def write_vocab(self, path: str, min_count: int = 1, max_size: int | None = None) -> int:
        """Write the vocabulary atomically (`-` = stdout); returns the number of words written."""
        from nlpt.common.output import atomic_output

        if self.ranked is not None:
            if min_count < self.kept_min:
                self._need(min_count)
            with atomic_output(path, "wb") as fh:
                return self.ranked.write_merged(fh, self.table, min_count, max_size)
        data, n = self.vocab_bytes(min_count, max_size)
        with atomic_output(path, "wb") as fh:
            fh.write(data)
        return n


# -- the fast engine ---------------------------------------------------------------------


def _check_utf8(block: bytes, path: str, stats: ReadStats) -> None:
    if not block.isascii() and not is_utf8(block):
        decode(block, path, stats)  # counts this file's invalid sequences


def _count_shard(sources, opts: ReaderOptions, limits: "_Limits", runs, stats: ReadStats, report: PruneReport,
                 done: list, slot: int, stop: threading.Event):
    from nlpt.vocab._fastcount import ByteCounter

    # Reserve (virtually) room for every entry the table may hold before it is pruned or
    # spilled: the limit plus one block's worth of new types.
    reserve = limits.entries + opts.chunk_bytes // 2 + 1
    table = ByteCounter(reserve=reserve)
    threshold = 1
    for source in sources:
        block = b""
        for block in iter_blocks(source, opts.chunk_bytes, opts.force_binary):
            if stop.is_set():
                return table
            n = len(block)
            stats.bytes += n
            stats.lines += block.count(b"\n")
            _check_utf8(block, source.path, stats)
            table.add_block(block)
            if limits.prune is not None and len(table) > limits.prune:
                report.add(*table.prune(threshold), threshold)
                threshold += 1
            elif limits.table_bytes is not None and table.nbytes > limits.table_bytes:
                normalise_table(table, opts)  # per type, so a run's counts are already the tokenizer's
                runs.spill(table)
                table = ByteCounter(reserve=reserve)
            done[slot] += n
        stats.lines += unterminated_line(source, block)
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
        # summed per distinct token: a CJK line is one raw type but hundreds of tokens
        # (a batch of lines would otherwise be millions of transient objects)
        new: dict[bytes, int] = {}
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
                k = t.encode("utf-8", "surrogatepass")
                new[k] = new.get(k, 0) + c
        fresh.add_keys(list(new), list(new.values()))
    if changed:
        tokens = table.tokens
        table.zero(changed)
        table.merge(fresh)
        table.state[2] = tokens


@dataclass
class _Limits:
    """What bounds a counting thread's table: `prune` types (ReduceVocab, only when asked) or
    `table_bytes` (spill a sorted run beyond it); `entries` is the room reserved up front."""

    prune: int | None
    table_bytes: int | None
    entries: int


def _count_fast(paths, opts, threads, prune_limit, progress, memory_gb, min_count, tmp_dir, fan_in) -> CountResult:
    from nlpt.vocab.runs import CountRuns

    stats, report = ReadStats(), PruneReport()
    shards = [s for s in plan_shards(paths, threads) if s] if threads > 1 else [as_sources(paths)]
    nshards = max(1, len(shards))
    budget = None
    if memory_gb is not None:
        from nlpt.common.process import rss_bytes

        # the tables' share of what --memory leaves beside the process (interpreter, numba)
        budget = max(1 << 20, int(0.6 * (memory_gb * (1 << 30) - rss_bytes())))
    if prune_limit is not None:
        limits = _Limits(max(1000, prune_limit // nshards), None, max(1000, prune_limit // nshards))
    elif budget is not None:
        limits = _Limits(None, budget // nshards, max(1 << 16, budget // nshards // 48))
    else:
        limits = _Limits(None, None, DEFAULT_PRUNE_LIMIT // nshards)
    runs = CountRuns(tmp_dir, fan_in)
    done = [0] * len(shards)
    results: list = [None] * len(shards)
    errors: list = []
    stop = threading.Event()
    shard_stats = [ReadStats() for _ in shards]
    shard_reports = [PruneReport() for _ in shards]

    def run(i: int) -> None:
        try:
            table = _count_shard(shards[i], opts, limits, runs, shard_stats[i], shard_reports[i], done, i, stop)
            normalise_table(table, opts)
            results[i] = table
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            stop.set()

    workers = [threading.Thread(target=run, args=(i,), daemon=True, name=f"nlpt-count-{i}") for i in range(len(shards))]
    from nlpt.vocab._fastcount import ByteCounter  # noqa: F401 - load the kernels once, before the threads start

    try:
        try:
            start_all(workers)
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
        for s, r in zip(shard_stats, shard_reports):
            stats.merge(s)
            report.merge(r)
        stats.files = len(paths)
        if len(runs):  # some table spilled: spill the others too and merge the runs
            for i in range(len(results)):
                runs.spill(results[i])
                results[i] = None
            return _merge_spilled(runs, budget, min_count, tmp_dir, stats, report)
        table = results[0]
        for i in range(1, len(results)):
            table.merge(results[i])
            results[i] = None
        if prune_limit is not None and len(table) > prune_limit:  # merged shards can exceed the global bound
            threshold = report.threshold + 1 if report.times else 1
            report.add(*table.prune(threshold), threshold)
        return CountResult(stats, report, table=table)
    finally:
        runs.cleanup()


def _merge_spilled(runs, budget: int, min_count: int, tmp_dir, stats: ReadStats, report: PruneReport) -> CountResult:
    """Merge sorted runs into the words with count >= min_count (in memory, or in `RankedRuns`)."""
    import numpy as np

    from nlpt.vocab._fastcount import ByteCounter
    from nlpt.vocab.runs import RankedRuns

    kept = ByteCounter()
    ranked = RankedRuns(tmp_dir)
    types = tokens = hapax = 0
    try:
        for table in runs.ranges(budget // 2):
            cnt = table.ent[: len(table), 3]
            types += len(table)
            tokens += int(cnt.sum())
            hapax += int((cnt == 1).sum())
            if min_count > 1:
                cnt[cnt < np.uint64(min_count)] = 0  # dropped by `merge`
            kept.merge(table)
            if kept.nbytes > budget // 2:
                ranked.spill(kept)
                kept = ByteCounter()
    except BaseException:
        ranked.cleanup()
        raise
    spill = {"runs": runs.spills, "bytes_written": runs.written, "peak_disk": runs.peak, "passes": runs.passes}
    return CountResult(stats, report, table=kept, kept_min=max(1, min_count), totals=(types, tokens, hapax),
                       ranked=ranked if ranked.paths else None, spill=spill)


def _count_python(paths, opts, prune_limit, progress) -> CountResult:
    from nlpt.vocab.vocab import count_chunks

    stats = ReadStats()

    def chunks():
        for c in iter_token_chunks(as_sources(paths), opts, stats):
            yield c
            if progress is not None:
                progress.update(stats.bytes)

    counts, report = count_chunks(chunks(), prune_limit if prune_limit is not None else 1 << 62)
    stats.files = len(paths)
    return CountResult(stats, report, _counter=counts)


def count_words(
    paths: list[str],
    opts: ReaderOptions = ReaderOptions(),
    threads: int = 1,
    prune_limit: int | None = None,
    progress=None,
    engine: str = "fast",
    memory_gb: float | None = DEFAULT_MEMORY_GB,
    min_count: int = 1,
    tmp_dir: str | None = None,
    fan_in: int | None = None,
) -> CountResult:
    """Count the words of `paths` (as returned by `expand_inputs`) with `threads` workers.

    Exact within `memory_gb`: count tables that outgrow it are spilled as sorted
    runs to `tmp_dir` (default $TMPDIR) and merged (`nlpt.vocab.runs`), so the
    counts are the same for any `threads` and any budget; `memory_gb=None`
    keeps everything in memory. When the counts spill, only the words with
    count >= `min_count` are kept (the totals still cover all). `prune_limit`,
    only if given, bounds the distinct types held in memory instead, pruning the
    rarest as word2vec's ReduceVocab does (approximate counts).
    `progress`, if given, is a `Progress` in bytes. `engine`: "fast" or "python"
    (the reference the tests check the fast engine against).
    """
    from nlpt.vocab.runs import DEFAULT_FAN_IN

    start = time.perf_counter()
    threads = max(1, int(threads))
    plain_bytes = sum(os.path.getsize(p) for p in paths if p != "-")
    if threads > 1 and plain_bytes < (2 << 20):
        threads = 1  # not worth the threads
    if engine == "python":
        result = _count_python(paths, opts, prune_limit, progress)
    elif engine == "fast":
        result = _count_fast(paths, opts, threads, prune_limit, progress, memory_gb, min_count, tmp_dir,
                             fan_in or DEFAULT_FAN_IN)
    else:
        raise NlptError(f"unknown counting engine {engine!r} (fast or python)")
    result.seconds = time.perf_counter() - start
    return result


def _add_count_file(path: str, current, spill, block_bytes: int = 1 << 20) -> None:
    """Add the `word count` lines of one file (any of the reader's compressions, or `-`) to the table
    `current()`, calling `spill()` after each block (it replaces a full table). Lines the numba parser does not take (tabs, several spaces)
    are read as `read_counts` reads them; bad ones are reported with their line number."""
    import numpy as np

    from nlpt.common.inputs import open_input
    from nlpt.corpus.bytes import utf8_valid
    from nlpt.vocab.vocab import MAX_COUNT

    fh = open_input(path)
    lineno = 0
    rest = b""
    try:
        while True:
            try:
                data = fh.read(block_bytes)
            except (EOFError, OSError, ValueError) as exc:
                if isinstance(exc, BrokenPipeError):
                    raise
                raise NlptError(f"{path}: corrupt or truncated compressed data ({exc})") from None
            except Exception as exc:  # noqa: BLE001 - lzma.LZMAError, zlib.error
                raise NlptError(f"{path}: corrupt or truncated compressed data ({exc})") from None
            if not data:
                block, rest = rest, b""
                if block and not block.endswith(b"\n"):
                    block += b"\n"
            else:
                buf = rest + data
                cut = buf.rfind(b"\n") + 1
                block, rest = buf[:cut], buf[cut:]
            if block:
                table = current()
                arr = np.frombuffer(block, dtype=np.uint8)
                if not block.isascii() and not utf8_valid(arr):
                    try:
                        block.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        line = lineno + block.count(b"\n", 0, exc.start) + 1
                        raise NlptError(f"{path}:{line}: not UTF-8 text ({exc.reason})") from None
                start = 0
                while start < len(block):
                    bad = table.add_lines(arr[start:])
                    if bad < 0:
                        break
                    pos = start + bad
                    end = block.index(b"\n", pos)
                    line_no = lineno + block.count(b"\n", 0, pos) + 1
                    parts = block[pos:end].split()
                    if parts:
                        if len(parts) != 2:
                            text = block[pos:end].decode("utf-8").strip()[:60]
                            raise NlptError(f"{path}:{line_no}: expected 'word count', got {text!r}")
                        c = parts[1]
                        if not c.lstrip(b"+").isdigit() or len(c) > 40:
                            raise NlptError(f"{path}:{line_no}: count {c[:20].decode('utf-8')!r} is not an integer")
                        n = int(c)
                        if n > MAX_COUNT:
                            raise NlptError(f"{path}:{line_no}: count of {parts[0][:40].decode('utf-8')!r} exceeds {MAX_COUNT:,} (2^63 - 1)")
                        table.add_keys([parts[0]], [n])
                    start = end + 1
                lineno += block.count(b"\n")
                spill()
            if not data:
                return
    finally:
        if path != "-":
            fh.close()


def merge_count_files(paths: list[str], min_count: int = 1, memory_gb: float | None = DEFAULT_MEMORY_GB,
                      tmp_dir: str | None = None, fan_in: int | None = None, progress=None) -> CountResult:
    """Sum `word count` files (one per shard, say) exactly within `memory_gb`: the `nlpt vocab merge` engine.

    Counts are gathered in a numba table that is spilled as a sorted run when
    full; the runs are merged in bounded memory (`nlpt.vocab.runs`), so 100
    files of 20 M words each merge in a small budget. `progress`: files done.
    """
    from nlpt.common.process import rss_bytes
    from nlpt.vocab._fastcount import ByteCounter
    from nlpt.vocab.runs import DEFAULT_FAN_IN, CountRuns

    start = time.perf_counter()
    budget = None
    if memory_gb is not None:
        budget = max(1 << 20, int(0.6 * (memory_gb * (1 << 30) - rss_bytes())))
    runs = CountRuns(tmp_dir, fan_in or DEFAULT_FAN_IN)
    state = {"table": ByteCounter()}
    stats = ReadStats()

    def spill() -> None:
        if budget is not None and state["table"].nbytes > budget:
            runs.spill(state["table"])
            state["table"] = ByteCounter()

    try:
        for i, p in enumerate(paths):
            _add_count_file(p, lambda: state["table"], spill)
            stats.files += 1
            if progress is not None:
                progress.update(i + 1)
        if len(runs):
            runs.spill(state["table"])
            state["table"] = None
            result = _merge_spilled(runs, budget, min_count, tmp_dir, stats, PruneReport())
        else:
            result = CountResult(stats, PruneReport(), table=state["table"])
    finally:
        runs.cleanup()
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
    prune_limit: int | None = None,
    progress=None,
    memory_gb: float | None = None,
) -> VocabCount:
    """`count_words`, then only the words with count >= min_count (the first max_size) as a `Vocab`.

    What the trainers use: the selection and the sort run inside the count
    table, so only the kept words ever become Python strings, and the table
    is dropped before returning (its memory goes back to the system).
    Its words are the tokens of `str.split()` on the normalised text, the
    tokens the trainers' encoders (`iter_encoded`, `embeddings.training.bytescan`) produce.
    """
    result = count_words(paths, opts, threads, prune_limit, progress,
                         memory_gb=DEFAULT_MEMORY_GB if memory_gb is None else memory_gb, min_count=min_count)
    try:
        if result.ranked is not None:
            raise NlptError(f"the {result.types} words with count >= {min_count} do not fit in the memory budget: "
                            "raise --min-count or --memory")
        vocab = result.to_vocab(min_count, max_size)
        return VocabCount(vocab, result.tokens, result.types, result.stats, result.prune, result.seconds)
    finally:
        result.close()
        result.table = None
        result._counter = None


def describe_prune(report: PruneReport) -> str | None:
    if not report.times:
        return None
    return (
        f"the count table reached its limit and was pruned {report.times} time{'s' if report.times != 1 else ''}: "
        f"{report.types_dropped} rare types ({report.tokens_dropped} tokens, counts <= {report.threshold}) were dropped"
    )


__all__ = [
    "CountResult", "VocabCount", "count_words", "count_vocab", "merge_count_files", "is_utf8", "normalise_table",
    "describe_prune", "DEFAULT_MEMORY_GB",
]
