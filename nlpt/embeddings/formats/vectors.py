"""Word vectors and their file formats, handled in one place.

Formats:
- `text`: word2vec text, a header `count dim` then `word v1 ... vd` per line;
- `binary`: word2vec binary, the header then `word ` + dim little-endian
  float32 + `\\n` per word (what word2vec.c's `-binary 1` and gensim write);
- `glove`: GloVe text, like `text` without the header.
Reading detects the format unless told.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from nlpt.common.errors import NlptError
from nlpt.common.output import atomic_output

FORMATS = ("text", "binary", "glove")


@dataclass
class Vectors:
    """`matrix[i]` is the vector of `words[i]` (float32, one row per word)."""

    words: list[str]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(self.words):
            raise ValueError(f"matrix shape {self.matrix.shape} does not match {len(self.words)} words")
        self._index: dict[str, int] | None = None

    @property
    def index(self) -> dict[str, int]:
        """word → row, built on first use: a trainer that only writes its vectors never pays for it
        (1.4 M words take ~100 MiB: at 10 GB it was what took GloVe past its --memory, after training)."""
        if self._index is None:
            self._index = {w: i for i, w in enumerate(self.words)}
        return self._index

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.matrix[self.index[word]]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def normalized(self) -> np.ndarray:
        """Unit-length rows (zero rows stay zero)."""
        return unit_rows(self.matrix)

    def without_non_finite(self) -> tuple["Vectors", int]:
        """These vectors without the rows holding NaN or inf, and how many were left out: evaluation and
        neighbours treat those words as having no vector, rather than letting one NaN row poison every score."""
        import copy

        keep = np.isfinite(self.matrix).all(axis=1)
        dropped = int(len(keep) - int(keep.sum()))
        if not dropped:
            return self, 0
        out = copy.copy(self)
        out.words = [w for w, k in zip(self.words, keep.tolist()) if k]
        out.matrix = np.ascontiguousarray(self.matrix[keep])
        out._index = None
        return out, dropped

    # -- writing ---------------------------------------------------------------
    def save(self, path: str, fmt: str = "text") -> None:
        if fmt not in FORMATS:
            raise NlptError(f"unknown vector format {fmt!r} (choose from {', '.join(FORMATS)})")
        for w in self.words:
            if not w or any(ch.isspace() for ch in w):
                raise NlptError(f"{path}: word {w!r} is empty or contains whitespace; cannot be written")
        bad = int((~np.isfinite(self.matrix).all(axis=1)).sum())
        if bad:  # non-finite numbers never end up in an output silently
            raise NlptError(f"{path}: {bad} of {len(self.words)} vectors contain NaN or infinity (training "
                            "diverged: lower the learning rate); nothing was written")
        with atomic_output(path, "wb") as fh:
            if fmt in ("text", "binary"):
                fh.write(f"{len(self.words)} {self.dim}\n".encode())
            if fmt == "binary":
                rows = self.matrix.astype("<f4", copy=False)
                for w, row in zip(self.words, rows):
                    fh.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                from nlpt.embeddings.formats.textfloat import format_blocks  # '%.9g' per number, numba threads

                for data in format_blocks(self.words, self.matrix):
                    fh.write(data)

    # -- reading ---------------------------------------------------------------
    @classmethod
    def load(cls, path: str, fmt: str | None = None, limit: int | None = None) -> "Vectors":
        """Read any of the three formats; `limit` keeps only the first rows (a fastText `.bin` too:
        `nlpt.embeddings.loading.load_vectors`)."""
        from nlpt.common.inputs import compression_of, read_all

        if path != "-" and not os.path.exists(path):
            raise NlptError(f"{path}: no such vectors file")
        opener = None
        if path == "-" or not os.path.isfile(path) or compression_of(path):
            data = read_all(path)  # stdin, a FIFO or a compressed file: read once, parse from memory
            opener = lambda: io.BytesIO(data)  # noqa: E731
            empty = not data
        else:
            empty = os.path.getsize(path) == 0
        if empty:
            raise NlptError(f"{path}: empty vectors file")
        opener = opener or (lambda: _open_plain(path))
        fmt = fmt or detect_format(path, opener)
        if fmt == "binary":
            return _load_binary(path, limit, opener)
        return _load_text(path, header=(fmt == "text"), limit=limit, opener=opener)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """`matrix` with every row scaled to unit length (zero rows stay zero), float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


def _open_plain(path: str):
    from nlpt.common.inputs import open_input

    return open_input(path)


def detect_format(path: str, opener=None) -> str:
    with (opener or (lambda: _open_plain(path)))() as fh:
        first = fh.readline(1 << 20)
        sample = fh.read(4096)
    fields = first.split()
    is_header = len(fields) == 2 and all(f.isdigit() for f in fields)
    if not is_header:
        return "glove"
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A UTF-8 sequence cut at the end of the sample is still text.
        if exc.start < len(sample) - 4:
            return "binary"
        text = sample[: exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        return "binary"
    return "text"


def _parse_header(path: str, line: bytes) -> tuple[int, int]:
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise NlptError(f"{path}: bad header {line[:60]!r}, expected 'count dim'")
    n, dim = int(parts[0]), int(parts[1])
    if dim <= 0:
        raise NlptError(f"{path}: bad header: dimension {dim}")
    return n, dim


def _load_text(path: str, header: bool, limit: int | None, opener=None) -> Vectors:
    words: list[str] = []
    rows: list[np.ndarray] = []
    n = dim = None
    with (opener or (lambda: _open_plain(path)))() as fh:
        if header:
            n, dim = _parse_header(path, fh.readline())
        for lineno, raw in enumerate(fh, 2 if header else 1):
            if limit is not None and len(words) >= limit:
                break
            try:
                line = raw.decode("utf-8").rstrip("\n").rstrip("\r")
            except UnicodeDecodeError:
                raise NlptError(f"{path}:{lineno}: not UTF-8 text (is it a binary vectors file? try --format binary)") from None
            if not line.strip():
                continue
            word, _, rest = line.partition(" ")
            try:
                values = np.array(rest.split(), dtype=np.float32) if rest else np.zeros(0, np.float32)
            except ValueError:
                raise NlptError(f"{path}:{lineno}: vector values are not numbers (bad header, or not a vectors file?)") from None
            if dim is None:
                dim = len(values)
                if dim == 0:
                    raise NlptError(f"{path}:{lineno}: no vector values after the word")
            if len(values) != dim:
                raise NlptError(f"{path}:{lineno}: expected {dim} values, got {len(values)} (truncated row?)")
            words.append(word)
            rows.append(values)
    if n is not None and limit is None and len(words) != n:
        raise NlptError(f"{path}: header says {n} vectors, file has {len(words)} (truncated?)")
    if not words:
        raise NlptError(f"{path}: no vectors in file")
    return Vectors(words, np.vstack(rows))


def _load_binary(path: str, limit: int | None, opener=None) -> Vectors:
    mapped = None
    with (opener or (lambda: _open_plain(path)))() as fh:
        header = fh.readline()
        n, dim = _parse_header(path, header)
        count = n if limit is None else min(n, limit)
        pos = 0
        from nlpt.common.inputs import compression_of

        if path != "-" and os.path.isfile(path) and compression_of(path) is None:
            # a plain file is memory-mapped: only the pages of the rows read (`--limit`) are touched
            import mmap

            fd = os.open(path, os.O_RDONLY)
            try:
                data = mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            finally:
                os.close(fd)
            pos = len(header)
        else:
            data = fh.read()
    try:
        return _parse_binary_rows(path, data, pos, n, count, dim)
    finally:
        if mapped is not None:
            mapped.close()


def _parse_binary_rows(path: str, data, pos: int, n: int, count: int, dim: int) -> Vectors:
    """`count` rows of word2vec binary from `data` (bytes or a memory map) at `pos`."""
    matrix = np.empty((count, dim), dtype=np.float32)
    words: list[str] = []
    width = 4 * dim
    for i in range(count):
        while pos < len(data) and data[pos] in b"\n ":
            pos += 1  # word2vec.c puts '\n' after each row; some writers don't
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + width > len(data):
            raise NlptError(f"{path}: truncated: header says {n} vectors, found {i} complete rows")
        try:
            words.append(data[pos:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise NlptError(f"{path}: row {i + 1}: word is not UTF-8 (wrong format or corrupt file)") from None
        matrix[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    return Vectors(words, matrix)
