"""The training driver shared by the embedding trainers (word2vec, GloVe, subword).

What it provides:

- `Shared`: the counters every worker thread writes and the main thread reads:
  `counters[t, 0]` = work units done by thread t (words for word2vec), `losses[t, 0]`
  / `losses[t, 1]` = loss sum / number of loss terms (float64), and `stop[0]`,
  which the kernels poll so that Ctrl-C/SIGTERM stops every worker within a
  fraction of a second. Rows are 64 bytes apart so threads don't share cache lines.
- `run_threads(n, work, shared, on_poll)`: runs `work(tid)` in n threads (the
  heavy part of `work` being `@njit(nogil=True)` kernels), polls progress from
  the main thread, re-raises a worker's exception, and on KeyboardInterrupt /
  `Interrupted` raises the stop flag, joins the workers and re-raises, so the
  caller writes nothing (or a checkpoint).
- `TrainProgress`: the `Progress` display fed from `Shared`: % done, units/s
  (wall clock), ETA, learning rate, loss average.
- `CorpusStream`: per-thread shards of the input (`plan_shards`) read as
  encoded sentences (int32 ids + sentence starts), through the numba byte
  tokenizer (`bytescan`) when the tokenizer options allow, else through
  `iter_encoded`. Each thread reads only its own part of the input, once per epoch.
  (The vocabulary is counted beforehand by `nlpt.vocab.count.count_words`.)
- `save_checkpoint` / `load_checkpoint`: resumable state as one `.npz` file
  (arrays + a JSON header), written atomically.
- `train_epochs`: the epoch loop of the streamed trainers (word2vec, subword):
  threads, progress, a per-epoch hook for checks on the parameters, and the
  checkpoint after each epoch and on interruption.
- `Checkpoint`: one `--checkpoint` file format for them, which records the
  settings a resume must match (trainer options, reader options, inputs).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from nlpt.common import jsontext
from nlpt.common.errors import NlptError
from nlpt.common.output import atomic_output
from nlpt.common.progress import Progress
from nlpt.common.threads import start_all
from nlpt.corpus.reader import (ReaderOptions, ReadStats, Source, decode, iter_blocks, iter_encoded, plan_shards,
                                range_begin, unterminated_line)
from nlpt.corpus.tokenize import make_normaliser
from nlpt.corpus.bytes import is_utf8

ROW = 8  # int64/float64 slots per thread row: 64 bytes
CHUNK_TOKENS = 1 << 18  # tokens per encoded chunk on the slow path (`iter_encoded`)


class Shared:
    """Counters shared by the worker threads (numpy arrays the kernels write in place)."""

    def __init__(self, n_threads: int, total: float):
        self.n_threads = n_threads
        self.total = float(total)  # work units over the whole run (for % done and the learning rate)
        self.counters = np.zeros((n_threads, ROW), dtype=np.int64)
        self.losses = np.zeros((n_threads, ROW), dtype=np.float64)
        self.stop = np.zeros(1, dtype=np.int64)
        self.offset = 0  # units done before this run (resumed from a checkpoint)

    def done(self) -> int:
        return self.offset + int(self.counters[:, 0].sum())

    def loss(self) -> float:
        n = float(self.losses[:, 1].sum())
        return float(self.losses[:, 0].sum()) / n if n else float("nan")


class TrainProgress:
    """A `Progress` (bar on a TTY, log lines elsewhere) fed from `Shared` by the main thread."""

    def __init__(self, shared: Shared, description: str, unit: str = "words", quiet: bool = False,
                 fields: Callable[[], dict] | None = None):
        self.shared = shared
        self.fields = fields
        self.progress = Progress(description, total=shared.total, unit=unit, quiet=quiet)
        self._base = 0

    def __enter__(self) -> "TrainProgress":
        self.progress.__enter__()
        self._base = self.progress.initial = self.progress.done = self.shared.done()  # a resumed run's rate: this segment
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def poll(self) -> None:
        extra = self.fields() if self.fields else {}
        loss = self.shared.loss()
        if loss == loss:
            extra.setdefault("loss", loss)
        self.progress.update(self.shared.done(), **extra)
        check_finite_loss(self.shared)


def check_finite_loss(shared: Shared) -> None:
    """The NaN guard: a loss that became NaN/inf means the parameters diverged; stop (nothing is written)."""
    total = float(shared.losses[:, 0].sum())
    if shared.losses[:, 1].sum() > 0 and not np.isfinite(total):
        shared.stop[0] = 1
        pct = 100.0 * shared.done() / shared.total if shared.total else 0.0
        raise NlptError(f"training diverged: the loss became NaN or infinite ({pct:.0f}% into the run); "
                        "lower the learning rate (--alpha); nothing was written")


def run_threads(n_threads: int, work: Callable[[int], None], shared: Shared,
                on_poll: Callable[[], None] | None = None, poll_seconds: float = 0.25) -> None:
    """Run `work(tid)` for tid in range(n_threads) in threads; the main thread polls.

    A worker's exception is re-raised here (after stopping the others). On
    KeyboardInterrupt (Ctrl-C, or SIGTERM raised as `Interrupted`) the stop
    flag is set, the workers are joined, and the interrupt propagates.
    """
    errors: list[BaseException] = []

    def target(tid: int) -> None:
        try:
            work(tid)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
            shared.stop[0] = 1

    threads = [threading.Thread(target=target, args=(t,), name=f"nlpt-worker-{t}", daemon=True) for t in range(n_threads)]
    try:
        start_all(threads)
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(poll_seconds / max(1, n_threads))
            if on_poll is not None:
                on_poll()
    except BaseException:
        shared.stop[0] = 1
        for t in threads:
            while t.is_alive():
                try:
                    t.join(0.1)
                except KeyboardInterrupt:  # a second Ctrl-C while stopping: keep stopping
                    pass
        raise
    if errors:
        raise errors[0]
    if on_poll is not None:
        on_poll()


# -- corpus as encoded sentences, per thread ------------------------------------------------


@dataclass
class Chunk:
    ids: np.ndarray  # int32 word ids
    starts: np.ndarray  # int64 sentence starts, len = sentences + 1
    tokens_read: int
    position: tuple | None = None  # (source index, byte offset) after this chunk, when known


class CorpusStream:
    """The input split into `n_threads` parts, read as encoded chunks.

    The numba byte tokenizer (`fast`) is used whenever the tokenizer options
    allow it (no --split-punct/--cjk). `stdin` is spooled to a temporary file
    first so that it can be read once per epoch.
    """

    def __init__(self, paths: list[str], words: list[str], opts: ReaderOptions, n_threads: int,
                 block_bytes: int | None = None):
        self.opts = opts
        # bytes read per block on the fast path (default: opts.chunk_bytes); each thread holds
        # a few blocks' worth of buffers (the block, its copies in the reader, ids 2x its size)
        self.block_bytes = block_bytes or opts.chunk_bytes
        self.words = words
        self._tmpdir = None
        self.given = list(paths)  # as named (`-` for stdin), for `fingerprint`
        paths = [self._spool_stdin() if p == "-" else p for p in paths]
        self.paths = paths
        self.shards: list[list[Source]] = plan_shards(paths, n_threads)
        tok = opts.tokenizer
        self.fast = not tok.split_punct and not tok.cjk
        self._word_ids = None
        self._byte_vocab = None
        self._lock = threading.Lock()
        self.stats = [ReadStats() for _ in range(n_threads)]

    def fingerprint(self) -> list:
        """What a checkpoint records of its inputs: [path, bytes, mtime_ns] per file (stdin: ["-", bytes]).

        A resume on other files, or on files changed since, is refused (`Checkpoint.load`)."""
        out = []
        for given, path in zip(self.given, self.paths):
            st = os.stat(path)
            out.append(["-", st.st_size] if given == "-" else [os.path.abspath(given), st.st_size, st.st_mtime_ns])
        return out

    def _spool_stdin(self) -> str:
        self._tmpdir = tempfile.mkdtemp(prefix="nlpt-stdin-")
        path = os.path.join(self._tmpdir, "stdin")
        try:
            with open(path, "wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        except OSError as exc:  # a full $TMPDIR: name the file (and the operation), not only "no space left"
            self.close()
            raise NlptError(f"{path}: cannot write the copy of standard input ({exc.strerror or exc})") from None
        return path

    def close(self) -> None:
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def set_words(self, words: list[str]) -> None:
        """The vocabulary to encode with (word ids = positions). On the fast path the
        words are kept only as UTF-8 bytes in the encoder's table (`word_list()` gives them back)."""
        with self._lock:
            self._byte_vocab = self._word_ids = None
            self.words = words
        self._prepare()
        if self.fast:
            self.words = None

    def warm_up(self) -> None:
        """Load the encoder's compiled kernel (fast path) on an empty block."""
        if self.fast:
            from nlpt.embeddings.training.bytescan import BlockEncoder

            self._prepare()
            BlockEncoder(self._byte_vocab, self.opts.max_sentence).encode(b"")

    def word_list(self) -> list[str]:
        if self.words is not None:
            return list(self.words)
        return self._byte_vocab.words()

    def _prepare(self) -> None:
        with self._lock:
            if self.fast and self._byte_vocab is None:
                from nlpt.embeddings.training.bytescan import ByteVocab

                self._byte_vocab = ByteVocab(self.words)
            if not self.fast and self._word_ids is None:
                self._word_ids = {w: i for i, w in enumerate(self.words)}

    def chunks(self, tid: int, resume: tuple | None = None, stop: np.ndarray | None = None) -> Iterator[Chunk]:
        """Encoded chunks of part `tid`; `resume` = (source index, byte offset) to start from."""
        self._prepare()
        sources = list(self.shards[tid])
        first = 0
        if resume is not None and self.fast:
            first, offset = resume
            if first < len(sources):
                s = sources[first]
                sources[first] = Source(s.path, max(s.start, offset), s.end)
        stats = self.stats[tid]
        if not self.fast:
            for chunk in iter_encoded(sources, self._word_ids, self.opts, stats, CHUNK_TOKENS):
                if stop is not None and stop[0]:
                    return
                yield Chunk(chunk.ids, chunk.starts, chunk.tokens_read)
            return
        from nlpt.embeddings.training.bytescan import BlockEncoder

        encoder = BlockEncoder(self._byte_vocab, self.opts.max_sentence)
        for block, position in self.blocks(sources, first, stats, stop):
            ids, starts, read = encoder.encode(block)
            yield Chunk(ids, starts, read, position)

    def blocks(self, sources: list[Source], first: int, stats: ReadStats, stop=None) -> Iterator[tuple[bytes, tuple]]:
        """Valid, normalised UTF-8 blocks of `sources[first:]` (fast path), with the position after each."""
        plain = self.opts.tokenizer.is_plain
        normalise = None if plain else make_normaliser(self.opts.tokenizer)
        chunk_bytes = self.block_bytes
        for k in range(first, len(sources)):
            src = sources[k]
            stats.files += 1
            begin = range_begin(src)  # past a token the previous range reads, so positions are file offsets
            pos = src.start if begin is None else begin
            raw = b""
            for raw in iter_blocks(src, chunk_bytes, self.opts.force_binary):
                if stop is not None and stop[0]:
                    return
                block = raw
                size = len(block)
                stats.bytes += size
                stats.lines += block.count(b"\n")
                if normalise is not None:
                    block = normalise(decode(block, src.path, stats)).encode("utf-8")
                elif not block.isascii() and not is_utf8(block):
                    block = decode(block, src.path, stats).encode("utf-8")
                pos += size
                yield block, (k, pos)
            stats.lines += unterminated_line(src, raw)


# -- checkpoints ------------------------------------------------------------------------------


def save_checkpoint(path: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Arrays plus a JSON-able `meta` dict in one .npz, replaced atomically."""
    payload = dict(arrays)
    payload["__meta__"] = np.frombuffer(jsontext.dumps(meta, "checkpoint").encode("utf-8"), dtype=np.uint8)
    with atomic_output(path, "wb") as fh:
        np.savez(fh, **payload)


def checkpoint_meta(path: str) -> dict:
    """Only the JSON header of a checkpoint (cheap: the arrays are not read), to validate options early."""
    return _read_checkpoint(path, arrays=False)[1]


def load_checkpoint(path: str) -> tuple[dict[str, np.ndarray], dict]:
    return _read_checkpoint(path, arrays=True)


def _read_checkpoint(path: str, arrays: bool) -> tuple[dict[str, np.ndarray], dict]:
    try:
        with np.load(path, allow_pickle=False) as data:
            found = {k: data[k] for k in data.files if k != "__meta__"} if arrays else {}
            meta = json.loads(bytes(data["__meta__"]).decode("utf-8"))
    except FileNotFoundError:
        raise NlptError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError, RecursionError) as exc:
        # (an empty or damaged file raises EOFError/BadZipFile; numpy's own advice on pickles is not for users)
        what = "damaged or not an .npz archive" if isinstance(exc, ValueError) else str(exc) or type(exc).__name__
        raise NlptError(f"{path}: not a valid nlpt checkpoint ({what})") from None
    if not isinstance(meta, dict):
        raise NlptError(f"{path}: not a valid nlpt checkpoint (bad header)")
    return found, meta


def reader_settings(opts: ReaderOptions) -> dict:
    """The reader options that change which tokens a trainer sees (recorded in checkpoints)."""
    tok = opts.tokenizer
    return {"lower": tok.lower, "nfkc": tok.nfkc, "split_punct": tok.split_punct, "cjk": tok.cjk,
            "max_sentence_length": opts.max_sentence, "force_binary": opts.force_binary}


class Checkpoint:
    """The resumable state of a streamed trainer (`--checkpoint FILE`), one format for all of them.

    `settings` is everything that must not change between the run that wrote the
    file and the one that resumes it: {"config": trainer options, "reader": reader
    options, ...}; a resume with other settings is refused, naming the options that
    differ. The file holds the trainer's arrays plus, in its JSON header, the
    vocabulary, the epoch and each thread's byte position, so that a run resumes
    mid-epoch where it was interrupted.
    """

    KIND, VERSION = "nlpt-checkpoint", 2

    def __init__(self, path: str, trainer: str, settings: dict):
        self.path = path
        self.trainer = trainer
        self.settings = settings

    def load(self) -> dict | None:
        """The saved state ({arrays, words, epoch, positions, done}), or None when there is no file."""
        if not os.path.exists(self.path):
            return None
        arrays, meta = load_checkpoint(self.path)
        if meta.get("kind") == "nlpt-w2v-checkpoint":  # nlpt <= 0.x: no reader options recorded
            raise NlptError(f"{self.path}: checkpoint from an older nlpt that did not record the reader options; "
                            "remove it to start again")
        if meta.get("kind") != self.KIND or meta.get("trainer") != self.trainer:
            raise NlptError(f"{self.path}: not a {self.trainer} checkpoint")
        if meta.get("version") != self.VERSION:
            raise NlptError(f"{self.path}: checkpoint version {meta.get('version')} is not supported "
                            f"(this nlpt writes {self.VERSION})")
        saved = meta.get("settings", {})
        diff = []
        for group in sorted(set(saved) | set(self.settings)):
            a, b = saved.get(group, {}), self.settings.get(group, {})
            if not isinstance(a, dict) or not isinstance(b, dict):
                if a != b:
                    diff.append(group)
                continue
            diff += [f"{group}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        if "inputs" in diff:
            raise NlptError(f"{self.path}: checkpoint was made on other input files (or they changed since: paths, "
                            "sizes and modification times are recorded); give the same inputs or remove the checkpoint")
        if diff:
            raise NlptError(f"{self.path}: checkpoint was made with different settings ({', '.join(diff)}); "
                            "use the same options or remove the checkpoint")
        positions = meta.get("positions")
        return {
            "arrays": arrays,
            "words": list(meta["words"]),
            "epoch": int(meta["epoch"]),
            "positions": [tuple(p) if p else None for p in positions] if positions else None,
            "done": int(meta["done"]),
        }

    def save(self, arrays: dict[str, np.ndarray], words: list[str], epoch: int, positions: list | None,
             done: int) -> None:
        meta = {
            "kind": self.KIND, "version": self.VERSION, "trainer": self.trainer, "settings": self.settings,
            "words": words, "epoch": epoch,
            "positions": [list(p) if p else None for p in positions] if positions else None,
            "done": done,
        }
        save_checkpoint(self.path, arrays, meta)

    def remove(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)


def _within(chunk: Chunk, budget: float) -> Chunk | None:
    """`chunk` cut after the first sentence that reaches `budget` tokens; None when `budget` <= 0."""
    if budget <= 0:
        return None
    if len(chunk.ids) <= budget:
        return chunk
    k = max(1, int(np.searchsorted(chunk.starts, budget, side="left")))
    return Chunk(chunk.ids[:chunk.starts[k]], chunk.starts[:k + 1], chunk.tokens_read, chunk.position)


def train_epochs(stream: CorpusStream, shared: Shared, epochs: int, step: Callable[[Chunk, int], int],
                 description: str, quiet: bool, fields: Callable[[], dict] | None = None,
                 start_epoch: int = 0, positions: list | None = None,
                 save: Callable[[int, list | None], None] | None = None,
                 after_epoch: Callable[[int], None] | None = None, until_total: bool = False) -> float:
    """The epoch loop every streamed trainer shares (word2vec, subword); returns the training seconds.

    Each epoch, thread t feeds the chunks of its part of `stream` to `step(chunk, t)`
    (a nogil kernel call that returns 1 when it saw the stop flag), with progress
    polled from `shared`. `after_epoch(epoch)` runs after each complete epoch (the
    place for checks on the parameters). `save(epoch, positions)` writes the
    trainer's checkpoint: after each epoch but the last (positions None: the epoch
    starts afresh), and on Ctrl-C/SIGTERM with each thread's position, before the
    interrupt propagates. `start_epoch`/`positions` resume a saved run.

    `until_total`: after the epochs, while fewer than `shared.total` units are done,
    each thread reads its part again from the start, taking from each chunk whole sentences
    up to its share of what is left, until the total is reached (fastText's budget, see
    `W2VConfig.epoch_all_tokens`). An interruption in that final pass is saved as epoch `epochs`.
    """
    n = shared.n_threads
    state = {"epoch": start_epoch, "positions": list(positions) if positions else [None] * n}

    def work(tid: int, until_done: bool = False) -> None:
        for chunk in stream.chunks(tid, resume=state["positions"][tid], stop=shared.stop):
            if until_done:
                chunk = _within(chunk, -(-(shared.total - shared.done()) // n))  # this thread's share of the rest
                if chunk is None:
                    return
            if len(chunk.ids) and step(chunk, tid):
                return  # stopped
            state["positions"][tid] = chunk.position

    seconds = 0.0
    try:
        with TrainProgress(shared, description, "words", quiet, fields) as progress:
            for epoch in range(start_epoch, epochs):
                state["epoch"] = epoch
                t0 = time.perf_counter()
                run_threads(n, work, shared, progress.poll)
                seconds += time.perf_counter() - t0
                state["positions"] = [None] * n
                if after_epoch is not None:
                    after_epoch(epoch)
                if save is not None and epoch + 1 < epochs:
                    save(epoch + 1, None)
            if until_total:
                state["epoch"] = max(epochs, start_epoch)
            while until_total and shared.done() < shared.total:
                before = shared.done()
                t0 = time.perf_counter()
                run_threads(n, lambda tid: work(tid, True), shared, progress.poll)
                seconds += time.perf_counter() - t0
                state["positions"] = [None] * n
                if shared.done() == before:
                    break  # nothing left to read
    except KeyboardInterrupt:
        if save is not None:
            save(state["epoch"], state["positions"])
        raise
    return seconds
