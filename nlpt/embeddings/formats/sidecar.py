"""The JSON sidecar written beside every vectors file: how the vectors were made.

`vectors.txt` gets `vectors.txt.json` with the reader/tokenizer options, the
vocabulary size, the training command and its arguments, and the nlpt version,
so that `compare`, `finetune` and people can tokenize new text the way the
vectors were trained (`sidecar_reader_options`). Vectors written to stdout
get no sidecar; vectors from other tools simply have none (`read_sidecar`
returns None).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from nlpt.common import jsontext
from nlpt.common.errors import NlptError

KIND, VERSION = "nlpt-vectors", 1


def sidecar_path(vectors_path: str) -> str:
    return vectors_path + ".json"


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def write_sidecar(vectors_path: str, *, command: str, reader_options, vocab_size: int, dim: int | None = None,
                  args: dict | None = None, extra: dict | None = None) -> str | None:
    """Write `vectors_path`.json atomically; returns its path (None for stdout)."""
    from nlpt.common.output import is_direct

    if vectors_path == "-" or is_direct(vectors_path):  # no `/dev/null.json` beside a device, FIFO or fd alias
        return None
    import nlpt
    from nlpt.common.output import atomic_output

    tok = asdict(reader_options.tokenizer)
    meta = {
        "kind": KIND,
        "version": VERSION,
        "nlpt_version": nlpt.__version__,
        "vectors": os.path.basename(vectors_path),
        "command": command,
        "vocab_size": int(vocab_size),
        "dim": None if dim is None else int(dim),
        "reader": {**tok, "max_sentence_length": reader_options.max_sentence, "force_binary": reader_options.force_binary},
        "args": _jsonable(dict(args or {})),
    }
    if extra:
        meta.update(_jsonable(extra))
    path = sidecar_path(vectors_path)
    with atomic_output(path) as fh:
        fh.write(jsontext.dumps(meta, path, indent=2))
        fh.write("\n")
    return path


def read_sidecar(vectors_path: str) -> dict | None:
    """The sidecar of `vectors_path` as a dict, or None if it has none; a damaged one is an error."""
    path = sidecar_path(vectors_path)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NlptError(f"{path}: not a readable vectors sidecar ({exc})") from None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise NlptError(f"{path}: not an nlpt vectors sidecar (no \"kind\": \"{KIND}\")")
    return meta


def sidecar_reader_options(meta: dict):
    """`ReaderOptions` that tokenize text as the vectors' training corpus was."""
    from nlpt.corpus.reader import ReaderOptions
    from nlpt.corpus.tokenize import TokenizerOptions

    r = meta.get("reader") or {}
    tok = TokenizerOptions(**{k: bool(r.get(k, False)) for k in ("lower", "nfkc", "split_punct", "cjk")})
    return ReaderOptions(tokenizer=tok, max_sentence=int(r.get("max_sentence_length", 10_000)),
                         force_binary=bool(r.get("force_binary", False)))


def save_vectors(path: str, words: list[str], matrix, fmt: str, *, command: str, reader_options, args: dict,
                 dim: int | None, extra: dict | None = None) -> None:
    """Write vectors and, beside them, their sidecar: how every trainer writes its vectors."""
    from nlpt.embeddings.formats.vectors import Vectors

    Vectors(words, matrix).save(path, fmt)
    write_sidecar(path, command=command, reader_options=reader_options, vocab_size=len(words), dim=dim, args=args,
                  extra=extra)
