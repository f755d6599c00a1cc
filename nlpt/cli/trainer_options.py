"""The options the streamed trainers (`train-w2v`, `train-subword`) end with, declared once.

`with_corpus_options` appends them to a command's parameters: typer reads a command's parameters from
`inspect.signature`, which honours `__signature__`, and their types from `__annotations__`; the command
receives them as `**corpus`;
`corpus_kwargs` turns them into the keywords of the library's trainer jobs.
"""

from __future__ import annotations

import inspect
from typing import Optional

from nlpt.cli import options as o

_CORPUS_OPTIONS = (  # name, type, typer option: in the order `--help` lists them
    ("read_vocab", Optional[str], o.READ_VOCAB),
    ("save_vocab", Optional[str], o.SAVE_VOCAB),
    ("checkpoint", Optional[str], o.CHECKPOINT),
    ("lower", bool, o.LOWER),
    ("nfkc", bool, o.NFKC),
    ("split_punct", bool, o.SPLIT_PUNCT),
    ("cjk", bool, o.CJK),
    ("max_sentence_length", int, o.MAX_SENTENCE),
    ("force_binary", bool, o.FORCE_BINARY),
    ("threads", Optional[int], o.THREADS),
    ("quiet", bool, o.QUIET),
)


def with_corpus_options(command):
    """`command` (which ends with `**corpus`) with the shared trainer options as its last parameters."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    shared = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option, annotation=kind)
              for name, kind, option in _CORPUS_OPTIONS]
    command.__signature__ = inspect.Signature(own + shared)
    own_types = {k: v for k, v in command.__annotations__.items() if k not in ("corpus", "return")}
    command.__annotations__ = {**own_types, **{name: kind for name, kind, _ in _CORPUS_OPTIONS},
                               "return": command.__annotations__.get("return")}
    return command


def corpus_kwargs(corpus: dict) -> dict:
    """The shared options as the trainer jobs take them: the reader options built, sentences checked."""
    o.check_trainable_sentences(corpus["max_sentence_length"])
    ropts = o.reader_options(corpus["lower"], corpus["nfkc"], corpus["split_punct"], corpus["cjk"],
                             corpus["max_sentence_length"], corpus["force_binary"])
    return {"read_vocab": corpus["read_vocab"], "save_vocab": corpus["save_vocab"], "checkpoint": corpus["checkpoint"],
            "ropts": ropts, "threads": corpus["threads"], "quiet": corpus["quiet"]}
