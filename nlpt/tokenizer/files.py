"""Reading and writing tokenizers: nlpt's `tokenizer.json` and the tokenizer files of a Hugging Face folder.

Every command that reads a tokenizer goes through `load_tokenizer` (or `load_hf_tokenizer` for a Hugging
Face folder), so a missing or unreadable file gives the same one-line error everywhere.
"""

from __future__ import annotations

import hashlib
import os

from nlpt.common.errors import NlptError


def load_tokenizer(path: str, missing: str | None = None):
    """A `tokenizers.Tokenizer` from a tokenizer.json; `NlptError` naming the file if it does not load
    (`missing`: the message when there is no such file)."""
    from tokenizers import Tokenizer

    if not os.path.isfile(path):
        raise NlptError(missing or f"{path}: no such tokenizer file")
    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # the library raises a bare Exception with a serde message
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NlptError(f"{path}: not a tokenizer.json the tokenizers library loads ({reason})") from None


class TokenizerFile:
    """A tokenizer.json whose tokenizer is read the first time a step needs it, then kept: the checks before a
    run (a registry model's vocabulary, `--init`'s vocabulary, the objective's special tokens) and the run itself
    (token files, objective) share one load."""

    def __init__(self, path: str, tokenizer=None):
        self.path = path
        self.loaded = tokenizer  # the `tokenizers.Tokenizer` once read (None before)

    def load(self):
        if self.loaded is None:
            self.loaded = load_tokenizer(self.path)
        return self.loaded


def save_tokenizer(tok, path: str) -> None:
    """Write tokenizer.json atomically (`-` = stdout)."""
    from nlpt.common.output import atomic_output

    with atomic_output(path) as fh:
        fh.write(tok.to_str(pretty=True))
        fh.write("\n")


def tokenizer_sha256(path: str) -> str:
    """The file's SHA-256: the token files and the resume checks know a tokenizer by it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_hf_tokenizer(path: str):
    """The folder's tokenizer: tokenizer.json, or BERT's vocab.txt, or GPT-2's vocab.json + merges.txt."""
    from nlpt.common.runfolder import read_json

    tokenizer_json = os.path.join(path, "tokenizer.json")
    if os.path.exists(tokenizer_json):
        return load_tokenizer(tokenizer_json)
    vocab_txt = os.path.join(path, "vocab.txt")
    if os.path.exists(vocab_txt):
        from tokenizers.implementations import BertWordPieceTokenizer

        settings = os.path.join(path, "tokenizer_config.json")
        lower = read_json(settings, want_object=True).get("do_lower_case", True) if os.path.exists(settings) else True
        return BertWordPieceTokenizer(vocab_txt, lowercase=lower)._tokenizer
    vocab_json, merges = os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt")
    if os.path.exists(vocab_json) and os.path.exists(merges):
        from tokenizers.implementations import ByteLevelBPETokenizer

        tok = ByteLevelBPETokenizer(vocab_json, merges)._tokenizer
        tok.add_special_tokens([t for t in ("<|endoftext|>",) if tok.token_to_id(t) is not None])  # as GPT-2's own
        return tok
    raise NlptError(f"{path}: no tokenizer (tokenizer.json, vocab.txt, or vocab.json + merges.txt)")
