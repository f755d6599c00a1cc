"""The word vocabulary: words sorted by count, with the file format trainers share.

File format: one `word count` per line, sorted by descending count — the
format of `word2vec -save-vocab` and GloVe's `vocab_count`, so vocabularies
move freely between nlpt, word2vec.c and GloVe. Ties are broken by the word
(codepoint order) so that counts merged from shards give the same file.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from nlpt.common.errors import NlptError
from nlpt.common.output import atomic_output

# word2vec.c keeps its hash table below 0.7 * 30M entries; pruning starts there.
DEFAULT_PRUNE_LIMIT = 21_000_000


@dataclass
class PruneReport:
    """What bounded-memory counting had to drop (word2vec's ReduceVocab)."""

    times: int = 0
    types_dropped: int = 0
    tokens_dropped: int = 0
    threshold: int = 0  # entries with count <= threshold were dropped at the last prune

    def add(self, types: int, tokens: int, threshold: int) -> None:
        """Record one prune that dropped `types` types (`tokens` tokens) with count <= threshold."""
        self.times += 1
        self.types_dropped += types
        self.tokens_dropped += tokens
        self.threshold = threshold

    def merge(self, other: "PruneReport") -> None:
        """Add the prunes of another counter (a worker's)."""
        self.times += other.times
        self.types_dropped += other.types_dropped
        self.tokens_dropped += other.tokens_dropped
        self.threshold = max(self.threshold, other.threshold)


def prune_counter(counts: Counter, threshold: int, report: PruneReport) -> None:
    """Drop every entry with count <= threshold, in place."""
    rare = [w for w, c in counts.items() if c <= threshold]
    report.add(len(rare), sum(counts[w] for w in rare), threshold)
    for w in rare:
        del counts[w]


def count_chunks(chunks: Iterable[list[str]], prune_limit: int = DEFAULT_PRUNE_LIMIT) -> tuple[Counter, PruneReport]:
    """Count tokens from an iterable of token lists, pruning the rarest past `prune_limit` types."""
    counts: Counter = Counter()
    report = PruneReport()
    threshold = 1
    for tokens in chunks:
        counts.update(tokens)
        if len(counts) > prune_limit:
            prune_counter(counts, threshold, report)
            threshold += 1
    return counts, report


@dataclass
class Vocab:
    """Words by descending count; `index[word]` is the word's row in every matrix."""

    words: list[str]
    counts: list[int]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def total(self) -> int:
        return sum(self.counts)

    def counts_array(self):
        import numpy as np

        return np.asarray(self.counts, dtype=np.int64)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_count: int = 1, max_size: int | None = None) -> "Vocab":
        """Keep words with count >= min_count, the `max_size` most frequent at most."""
        items = [(w, c) for w, c in counts.items() if c >= min_count]
        key = lambda wc: (-wc[1], wc[0])  # noqa: E731
        if max_size is not None and 0 < max_size < len(items):
            items = heapq.nsmallest(max_size, items, key=key)
        else:
            items.sort(key=key)
        return cls([w for w, _ in items], [c for _, c in items])

    # -- file format ---------------------------------------------------------
    def save(self, path: str) -> None:
        with atomic_output(path) as fh:
            fh.writelines(f"{w} {c}\n" for w, c in zip(self.words, self.counts))

    @classmethod
    def load(cls, path: str, min_count: int = 1, max_size: int | None = None) -> "Vocab":
        return cls.from_counts(read_counts(path), min_count, max_size)


MAX_COUNT = (1 << 63) - 1  # counts are int64 in every trainer


def read_counts(path: str) -> Counter:
    """Read a `word count` file (nlpt, word2vec -save-vocab, GloVe vocab_count); gzip/bzip2/xz or `-` too."""
    import lzma
    import zlib

    from nlpt.common.inputs import open_input

    counts: Counter = Counter()
    fh = open_input(path, text=True)
    try:
        try:
            for lineno, line in enumerate(fh, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise NlptError(f"{path}:{lineno}: expected 'word count', got {line.strip()[:60]!r}")
                word, count = parts
                try:
                    n = int(count) if len(count) <= 40 else None
                except ValueError:
                    n = None
                if n is None or not count.lstrip("+-").isdigit():
                    raise NlptError(f"{path}:{lineno}: count {count[:20]!r} is not an integer") from None
                if n < 0:
                    raise NlptError(f"{path}:{lineno}: negative count {n}")
                if word in counts:  # a vocabulary lists each word once: a repeat is a damaged or concatenated file
                    raise NlptError(f"{path}:{lineno}: {word[:40]!r} is listed a second time")
                counts[word] = n
                if counts[word] > MAX_COUNT:
                    raise NlptError(f"{path}:{lineno}: count of {word[:40]!r} exceeds {MAX_COUNT:,} (2^63 - 1)")
        except UnicodeDecodeError as exc:
            raise NlptError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except (EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) as exc:  # corrupt compressed data (BadGzipFile, LZMAError...)
            if isinstance(exc, BrokenPipeError):
                raise
            raise NlptError(f"{path}: corrupt or truncated compressed data ({exc})") from None
    finally:
        if path != "-":
            fh.close()
    return counts
