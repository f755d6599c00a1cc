"""fastText's binary model file (`.bin`, format version 12), read and written.

Layout (all little-endian), as fastText's `FastText::saveModel` writes it:

    int32 magic 793712314, int32 version 12
    args: int32 dim, ws, epoch, minCount, neg, wordNgrams, loss (1 hs, 2 ns, 3 softmax, 4 ova),
          model (1 cbow, 2 sg, 3 supervised), bucket, minn, maxn, lrUpdateRate; float64 t
    dictionary: int32 size, nwords, nlabels; int64 ntokens, pruneidx_size (-1: not pruned);
          size x (UTF-8 word, NUL, int64 count, int8 type 0 word / 1 label); pruneidx pairs
    bool quantised input (0), input matrix: int64 rows (nwords + bucket), int64 dim, float32 data
    bool quantised output (0), output matrix: int64 rows (nwords), int64 dim, float32 data

Quantised models (`.ftz`) and supervised classifiers are refused with a message.
Hierarchical softmax: fastText's output row i is inner node i of its Huffman tree
with the branch label taken as the code, word2vec.c's (and nlpt's) as 1 - code,
so the rows are stored negated.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

import numpy as np

from nlpt.common.errors import NlptError
from nlpt.common.output import atomic_output

MAGIC = 793712314
VERSION = 12
LOSS = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
MODEL = {1: "cbow", 2: "sg", 3: "supervised"}
_ARGS = struct.Struct("<12id")
_DICT = struct.Struct("<iiiqq")
_ENTRY = struct.Struct("<qb")
_SHAPE = struct.Struct("<qq")


@dataclass
class FastTextArgs:
    dim: int = 100
    ws: int = 5
    epoch: int = 5
    min_count: int = 5
    neg: int = 5
    word_ngrams: int = 1
    loss: str = "ns"
    model: str = "sg"
    bucket: int = 2_000_000
    minn: int = 3
    maxn: int = 6
    lr_update_rate: int = 100
    t: float = 1e-4


@dataclass
class FastTextFile:
    args: FastTextArgs
    words: list[str]
    counts: list[int]
    ntokens: int
    input: np.ndarray  # (nwords + bucket) x dim, float32
    output: np.ndarray  # nwords x dim, float32


def write_bin(path: str, ft: FastTextFile) -> None:
    """Write `ft` as a fastText .bin (atomically)."""
    a = ft.args
    inv_loss = {v: k for k, v in LOSS.items()}
    inv_model = {v: k for k, v in MODEL.items()}
    n = len(ft.words)
    if ft.input.shape != (n + a.bucket, a.dim) or ft.output.shape != (n, a.dim):
        raise ValueError(f"matrices {ft.input.shape}, {ft.output.shape} do not fit {n} words, "
                         f"bucket {a.bucket}, dim {a.dim}")
    for m in (ft.input, ft.output):
        bad = _rows_not_finite(m)
        if bad:
            raise NlptError(f"{path}: {bad} rows contain NaN or infinity (training diverged: lower the "
                            "learning rate); nothing was written")
    with atomic_output(path, "wb") as fh:
        fh.write(struct.pack("<ii", MAGIC, VERSION))
        fh.write(_ARGS.pack(a.dim, a.ws, a.epoch, a.min_count, a.neg, a.word_ngrams, inv_loss[a.loss],
                            inv_model[a.model], a.bucket, a.minn, a.maxn, a.lr_update_rate, a.t))
        fh.write(_DICT.pack(n, n, 0, int(ft.ntokens), -1))
        entries = bytearray()
        for w, c in zip(ft.words, ft.counts):
            entries += w.encode("utf-8") + b"\0" + _ENTRY.pack(int(c), 0)
            if len(entries) > (1 << 20):
                fh.write(entries)
                entries.clear()
        fh.write(entries)
        for m in (ft.input, ft.output):
            fh.write(b"\0")
            fh.write(_SHAPE.pack(*m.shape))
            _write_matrix(fh, m)


def _row_blocks(m: np.ndarray):
    """`m` in blocks of ~16 MB of rows: temporaries stay small beside a matrix of ~1 GB."""
    rows_per_block = max(1, (16 << 20) // max(1, 4 * m.shape[1]))
    for s in range(0, m.shape[0], rows_per_block):
        yield m[s:s + rows_per_block]


def _rows_not_finite(m: np.ndarray) -> int:
    return sum(int((~np.isfinite(b)).any(axis=1).sum()) for b in _row_blocks(m)) if m.size else 0


def _write_matrix(fh, m: np.ndarray) -> None:
    for block in _row_blocks(m):
        fh.write(np.ascontiguousarray(block, dtype="<f4").tobytes())


def is_fasttext_bin(path: str) -> bool:
    """Whether `path` starts with fastText's magic number (a `.bin` or `.ftz` model)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == struct.pack("<i", MAGIC)
    except OSError:
        return False


def read_bin(path: str, copy: bool = True) -> FastTextFile:
    """Read a fastText .bin (one written by fastText or by nlpt); one-line NlptError on any problem.

    `copy=False` memory-maps the matrices read-only instead of reading them into memory
    (a `cc.*.bin` holds 7 GB of them; a query touches a few rows)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise NlptError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NlptError(f"{path}: is a directory") from None
    except PermissionError:
        raise NlptError(f"{path}: permission denied") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 8:
            raise NlptError(f"{path}: not a fastText model (file too short)")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _parse(path, mm, size, copy)


def _parse(path: str, mm, size: int, copy: bool) -> FastTextFile:
    magic, version = struct.unpack_from("<ii", mm, 0)
    if magic != MAGIC:
        raise NlptError(f"{path}: not a fastText .bin model (wrong magic number {magic})")
    if version not in (11, 12):
        raise NlptError(f"{path}: fastText file format version {version} is not supported (nlpt reads 11 and 12)")
    pos = 8

    def need(n: int, what: str) -> None:
        if pos + n > size:
            raise NlptError(f"{path}: truncated fastText model ({what} needs {n} bytes at offset {pos}, "
                            f"the file has {size})")

    need(_ARGS.size, "the arguments")
    vals = _ARGS.unpack_from(mm, pos)
    pos += _ARGS.size
    loss, model = LOSS.get(vals[6]), MODEL.get(vals[7])
    if loss is None or model is None:
        raise NlptError(f"{path}: damaged fastText model (loss {vals[6]}, model {vals[7]})")
    args = FastTextArgs(*vals[:6], loss, model, *vals[8:12], vals[12])
    if model == "supervised":
        raise NlptError(f"{path}: a supervised fastText classifier, not word vectors: not supported")
    need(_DICT.size, "the dictionary header")
    n_size, nwords, nlabels, ntokens, prune = _DICT.unpack_from(mm, pos)
    pos += _DICT.size
    if n_size < 0 or nwords < 0 or nlabels < 0 or nwords + nlabels != n_size:
        raise NlptError(f"{path}: damaged fastText dictionary ({n_size} entries, {nwords} words, {nlabels} labels)")
    words: list[str] = []
    counts: list[int] = []
    for _ in range(n_size):
        end = mm.find(b"\0", pos)
        if end < 0 or end + 1 + _ENTRY.size > size:
            raise NlptError(f"{path}: truncated fastText model (dictionary entry {len(words)} of {n_size})")
        word = mm[pos:end].decode("utf-8", "replace")
        count, kind = _ENTRY.unpack_from(mm, end + 1)
        pos = end + 1 + _ENTRY.size
        if kind == 0:
            words.append(word)
            counts.append(count)
    if prune > 0:
        raise NlptError(f"{path}: a pruned (quantised) fastText model: not supported, use the full .bin")
    matrices = []
    for name, rows_expected in (("input", nwords + args.bucket), ("output", None)):
        need(1 + _SHAPE.size, f"the {name} matrix header")
        if mm[pos] != 0:
            raise NlptError(f"{path}: a quantised fastText model (.ftz): not supported, use the full .bin")
        m, n = _SHAPE.unpack_from(mm, pos + 1)
        pos += 1 + _SHAPE.size
        if n != args.dim or m < 0:
            raise NlptError(f"{path}: {name} matrix is {m} x {n}, expected dimension {args.dim}")
        if rows_expected is not None and m != rows_expected:
            raise NlptError(f"{path}: input matrix has {m} rows, expected {nwords} words + {args.bucket} buckets "
                            f"= {rows_expected} (bucket count does not match)")
        if rows_expected is None and m != nwords:
            raise NlptError(f"{path}: output matrix has {m} rows, expected {nwords} (one per word)")
        nbytes = m * n * 4
        need(nbytes, f"the {name} matrix ({m} x {n})")
        if copy:
            matrices.append(np.frombuffer(mm, dtype="<f4", count=m * n, offset=pos).reshape(m, n).astype(np.float32))
        else:
            matrices.append(np.memmap(path, dtype="<f4", mode="r", offset=pos, shape=(m, n)))
        pos += nbytes
    if pos != size:
        raise NlptError(f"{path}: {size - pos} unexpected bytes after the output matrix (not a fastText model?)")
    return FastTextFile(args, words, counts, ntokens, matrices[0], matrices[1])
