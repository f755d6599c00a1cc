"""The vocabulary a trainer uses: read from a `--read-vocab` file or counted from the corpus.

One helper for `train-w2v`, `train-glove` and the trainers to come, so that
they select, report and refuse the same way. Counting goes through
`nlpt.vocab.count.count_vocab` (the engine of `nlpt vocab`), so a trainer's
words are exactly `nlpt vocab`'s; only the kept words become Python strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nlpt.common.errors import NlptError
from nlpt.corpus.reader import ReaderOptions, ReadStats
from nlpt.vocab.vocab import Vocab


@dataclass
class TrainerVocab:
    vocab: Vocab
    tokens: int | None  # tokens counted (None when read from a file)
    types: int | None
    stats: ReadStats | None  # what the reader saw while counting
    seconds: float


def load_vocab_in_file_order(path: str) -> Vocab:
    """A vocabulary exactly as listed (ids = line numbers), as co-occurrence files refer to it."""
    from nlpt.vocab.vocab import read_counts

    counts = read_counts(path)
    return Vocab(list(counts.keys()), list(counts.values()))


def trainer_vocab(paths: list[str], opts: ReaderOptions, threads: int, min_count: int, max_size: int | None,
                  read_vocab: str | None = None, *, in_file_order: bool = False, quiet: bool = False,
                  memory_gb: float | None = None, progress_min_bytes: int = 0) -> TrainerVocab:
    """The training vocabulary: `read_vocab` (filtered by min_count/max_size, or as listed with
    `in_file_order`) or counted from `paths`. Raises `NlptError` when it would be empty.
    `memory_gb` bounds the count (see `count_words`); inputs under `progress_min_bytes`
    show no progress line."""
    from nlpt.common.progress import Progress, log, warn

    t0 = time.perf_counter()
    if read_vocab is not None:
        vocab = load_vocab_in_file_order(read_vocab) if in_file_order else Vocab.load(read_vocab, min_count, max_size)
        if len(vocab) == 0:
            raise NlptError(f"{read_vocab}: no word in the vocabulary file has count >= {min_count} (--min-count)")
        return TrainerVocab(vocab, None, None, None, time.perf_counter() - t0)
    from nlpt.corpus.sizes import progress_total
    from nlpt.vocab.count import count_vocab, describe_prune

    total = progress_total(paths)
    with Progress("counting words", total=total, unit="B", quiet=quiet or (total or 0) < progress_min_bytes) as prog:
        counted = count_vocab(paths, opts, threads, min_count, max_size, progress=prog, memory_gb=memory_gb)
    if not counted.tokens:
        raise NlptError(f"{paths[0] if len(paths) == 1 else 'input'}: empty corpus (no tokens)")
    vocab = counted.vocab
    if len(vocab) == 0:
        raise NlptError(
            f"no word occurs at least {min_count} times (--min-count) in {counted.tokens} tokens "
            f"({counted.types} distinct); lower --min-count or give a larger corpus"
        )
    pruned = describe_prune(counted.prune)
    if pruned:  # a warning: shown even with --quiet
        warn(pruned)
    seconds = time.perf_counter() - t0
    log(f"vocabulary: {len(vocab)} words with count >= {min_count} of {counted.types} types, "
        f"{counted.tokens} tokens ({seconds:.1f}s)", quiet)
    return TrainerVocab(vocab, counted.tokens, counted.types, counted.stats, seconds)


def warn_untrained(read_vocab: str, unseen: list[str], total: int, why: str) -> None:
    """Say that words of a vocabulary file are left out of the vectors because the corpus never trained them
    (`why`: "never occur in the corpus"); an error when that is every word."""
    from nlpt.common.progress import warn

    if len(unseen) == total:
        raise NlptError(f"{read_vocab}: no word of the vocabulary file is trained: all {why}")
    first = ", ".join(unseen[:5]) + (", ..." if len(unseen) > 5 else "")
    warn(f"{read_vocab}: {len(unseen):,} of {total:,} words {why} ({first}): left out of the vectors, "
         "which would be untrained")
