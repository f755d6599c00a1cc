"""Token files: text becomes token ids once, on disk, memory-mapped by every later run.

`prepare_tokens` streams the corpus through the reader in blocks, cuts them
into lines, encodes each batch of lines with the `tokenizers` library (its
Rust threads do the work in parallel) and appends the ids to a uint16/uint32
file, so a 100 MB corpus never sits in Python lists. Beside the ids it writes
the index of line starts and of document starts (blank lines separate
documents). A `meta.json` written last records what the files were made from
(input sizes and mtimes, tokenizer hash, reader options, validation fraction);
the next run with the same inputs reuses them. The layout is described by
`nlpt.engine.objective.TokenSplit`.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from nlpt.common import jsontext
from nlpt.common.errors import NlptError, UsageError
from nlpt.common.output import os_reason, remove_dead_temporaries, temp_prefix
from nlpt.corpus.reader import ReaderOptions, ReadStats, as_sources, expand_inputs, iter_text
from nlpt.tokenizer.files import load_tokenizer, tokenizer_sha256
from nlpt.tokenizer.inputs import encode_lines
from nlpt.tokenizer.specials import newline_id

TOKENS_FORMAT = "nlpt-tokens/1"


# ---------------------------------------------------------------------------------------------
# token files

@dataclass
class TokenSplit:
    """One split of the token files (see nlpt.engine.objective.TokenSplit for the contract)."""

    name: str
    tokens: np.ndarray
    line_starts: np.ndarray
    doc_starts: np.ndarray
    newline_id: Optional[int]
    vocab_size: int
    source: str  # for error messages: the corpus


@dataclass
class TokenData:
    directory: str
    meta: dict
    train: TokenSplit
    val: TokenSplit
    reused: bool = False


def _fingerprint(paths: list[str], tokenizer_path: str, opts: ReaderOptions, val_fraction: float) -> dict:
    inputs = []
    for p in paths:
        if p == "-":
            raise UsageError("pretraining reads its corpus twice at most and caches it; give files, not stdin (-)")
        st = os.stat(p)
        inputs.append({"path": os.path.abspath(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return {"format": TOKENS_FORMAT, "inputs": inputs, "tokenizer_sha256": tokenizer_sha256(tokenizer_path),
            "reader": json.loads(json.dumps(asdict(opts), default=str)), "val_fraction": val_fraction}


def _write_stream(paths, tokenizer, dtype, out_dir, opts, stats, progress=None, batch_lines: int = 4096) -> dict:
    """Encode every file to out_dir/tokens.bin, lines.bin, docs.bin; returns counts."""
    n_tokens = 0
    line_starts: list[np.ndarray] = []
    doc_starts: list[int] = []
    n_lines = 0
    new_doc = True
    with open(os.path.join(out_dir, "tokens.bin"), "wb") as out:
        def flush(lines: list[str]) -> None:
            nonlocal n_tokens, n_lines, new_doc
            if not lines:
                return
            ids = encode_lines(tokenizer, lines)
            lens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
            offsets = n_tokens + np.concatenate(([0], np.cumsum(lens)[:-1]))
            nonblank = [bool(s.strip()) for s in lines]
            keep = np.array(nonblank, dtype=bool) & (lens > 0)
            for is_line, is_text in zip(keep.tolist(), nonblank):
                if is_line:
                    if new_doc:  # the first line after a blank one (or of a file) opens a document
                        doc_starts.append(n_lines)
                        new_doc = False
                    n_lines += 1
                elif not is_text:
                    new_doc = True
            line_starts.append(offsets[keep])
            flat = np.array(list(itertools.chain.from_iterable(ids)), dtype=dtype)
            out.write(flat.tobytes())
            n_tokens += len(flat)

        for path in paths:
            carry = ""
            new_doc = True  # each file starts a document
            pending: list[str] = []
            for text in iter_text(as_sources([path]), opts, stats):
                parts = (carry + text).split("\n")
                carry = parts.pop()
                pending.extend(p + "\n" for p in parts)
                if len(pending) >= batch_lines:
                    flush(pending)
                    pending = []
                if progress is not None:
                    progress.update(stats.bytes, tokens=n_tokens)
            if carry:
                pending.append(carry)
            flush(pending)
    lines = np.concatenate(line_starts + [np.array([n_tokens], dtype=np.int64)]) if line_starts else np.array([n_tokens], np.int64)
    lines.astype(np.int64).tofile(os.path.join(out_dir, "lines.bin"))
    docs = np.array(doc_starts + [n_lines], dtype=np.int64)
    docs.tofile(os.path.join(out_dir, "docs.bin"))
    return {"n_tokens": int(n_tokens), "n_lines": int(n_lines), "n_docs": int(len(docs) - 1)}


def _open(directory: str, meta: dict, source: str, reused: bool) -> TokenData:
    dtype = np.dtype(meta["dtype"])
    n = meta["n_tokens"]
    tokens = np.memmap(os.path.join(directory, "tokens.bin"), dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
    lines = np.fromfile(os.path.join(directory, "lines.bin"), dtype=np.int64)
    docs = np.fromfile(os.path.join(directory, "docs.bin"), dtype=np.int64)
    s_tok, s_line = meta["split_token"], meta["split_line"]
    train_lines = np.append(lines[:s_line], s_tok)
    val_lines = lines[s_line:] - s_tok
    train_docs = np.append(docs[docs < s_line], s_line)
    val_docs = docs[docs >= s_line] - s_line
    if len(val_docs) == 0 or val_docs[0] != 0:
        val_docs = np.concatenate(([0], val_docs))
    common = dict(newline_id=meta["newline_id"], vocab_size=meta["vocab_size"], source=source)
    train = TokenSplit("train", tokens[:s_tok], train_lines, train_docs, **common)
    val = TokenSplit("val", tokens[s_tok:], val_lines, val_docs, **common)
    return TokenData(directory, meta, train, val, reused)


def prepare_tokens(inputs: list[str], tokenizer_path: str, out_dir: str, val_fraction: float = 0.1,
                   opts: ReaderOptions = ReaderOptions(), quiet: bool = True, tokenizer=None) -> TokenData:
    """Token files for `inputs` under `out_dir` (made once; reused while inputs and tokenizer are unchanged).

    The validation split is the last `val_fraction` of the tokens, moved forward to the next line start.
    `tokenizer`: the tokenizer of `tokenizer_path` when the caller has loaded it already (else it is loaded here).
    """

    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be between 0 and 1 (got {val_fraction})")
    paths = expand_inputs(inputs)
    source = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
    if tokenizer is None:
        tokenizer = load_tokenizer(tokenizer_path)
    key = _fingerprint(paths, tokenizer_path, opts, val_fraction)
    meta_path = os.path.join(out_dir, "meta.json")
    if os.path.isfile(meta_path):
        try:
            with open(meta_path, encoding="utf-8") as fh:
                meta = json.load(fh)
            if meta.get("key") == key:
                return _open(out_dir, meta, source, reused=True)
        except (OSError, ValueError, KeyError):
            pass
    vocab_size = tokenizer.get_vocab_size()
    dtype = np.uint16 if vocab_size <= 1 << 16 else np.uint32
    from nlpt.engine.signals import StopSignals

    # a signal while the temporary folder is made is noted, and raised once its removal is certain: it is never
    # left behind
    with StopSignals() as stop:
        try:
            os.makedirs(out_dir, exist_ok=True)
            # a dead builder's leftovers go (a shared --token-dir: a live one's stay), an older layout's unnamed
            # ones once clearly abandoned
            remove_dead_temporaries(out_dir, _TEMP, suffix="", unnamed_after=3600)
            tmp = tempfile.mkdtemp(prefix=temp_prefix(_TEMP), dir=out_dir)
        except OSError as exc:
            raise NlptError(f"{out_dir}: cannot create the token folder ({os_reason(exc)})") from None
        try:
            stop.raise_from_now(f"the token files were not finished and their temporary folder {tmp} was removed "
                                f"(rerun the command to build them)")
            return _build(paths, source, tokenizer, key, dtype, vocab_size, out_dir, tmp, meta_path, val_fraction,
                          opts, quiet)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


_TEMP = ".tokens."  # temporary token folders: `.tokens.HOST.PID.XXXX` (`nlpt.common.output.temp_prefix`)


def _build(paths, source, tokenizer, key, dtype, vocab_size, out_dir, tmp, meta_path, val_fraction, opts,
           quiet) -> TokenData:
    """Encode the corpus into `tmp`, then move the finished files into `out_dir` (meta.json last)."""
    from nlpt.common.progress import Progress

    stats = ReadStats()
    total = sum(os.path.getsize(p) for p in paths)
    start = time.perf_counter()
    with Progress("tokenizing", total=total, unit="B", quiet=quiet) as progress:
        counts = _write_stream(paths, tokenizer, dtype, tmp, opts, stats, progress)
        progress.update(stats.bytes, tokens=counts["n_tokens"])
    n = counts["n_tokens"]
    if n == 0:
        raise NlptError(f"{source}: no tokens found")
    lines = np.fromfile(os.path.join(tmp, "lines.bin"), dtype=np.int64)
    split_line = int(np.searchsorted(lines[:-1], int(n * (1.0 - val_fraction)), side="left"))
    split_token = int(lines[split_line]) if split_line < len(lines) - 1 else n
    meta = {"key": key, "dtype": np.dtype(dtype).name, "vocab_size": vocab_size, "newline_id": newline_id(tokenizer),
            **counts, "split_token": split_token, "split_line": split_line, "bytes": stats.bytes,
            "seconds": round(time.perf_counter() - start, 3), "invalid_utf8": stats.total_invalid}
    # meta.json goes first and comes back last: a crash between the moves leaves no meta.json, so the files are
    # rebuilt, never an earlier meta.json describing (and reusing) files of another corpus
    if os.path.lexists(meta_path):
        os.remove(meta_path)
    for name in ("tokens.bin", "lines.bin", "docs.bin"):
        os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
    with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as fh:
        fh.write(jsontext.dumps(meta, meta_path, indent=1))
    os.replace(os.path.join(tmp, "meta.json"), meta_path)
    stats.report(quiet)
    return _open(out_dir, meta, source, reused=False)
