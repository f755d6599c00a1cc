"""`nlpt pretrain --init SOURCE`: continued pretraining from a Hugging Face folder or an nlpt run/checkpoint.

The architecture, the weights and the tokenizer come from SOURCE; training starts at step 0 with a fresh
optimizer. `resolve_init` reads the source's config and tokenizer (no weights, no torch for an HF folder)
and checks the command's flags against them before any work; `load_init_weights` fills the freshly built
model in `pretrain`. Weights go through the family's one Hugging Face mapping (`nlpt.models.hf`) or the
run's checkpoint reader.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional

from nlpt.common.errors import NlptError, UsageError
from nlpt.models import context_length


@dataclass
class InitSource:
    """What `--init` continues from."""

    path: str  # as given
    kind: str  # "hf", "run" or "checkpoint"
    config: Any  # the registry dataclass
    tokenizer: Any  # tokenizers.Tokenizer
    tokenizer_file: Optional[str]  # the source's tokenizer.json, when it has one
    objective_options: dict

    def record(self) -> dict:
        return {"source": os.path.abspath(self.path), "kind": self.kind}


def read_init_source(path: str) -> InitSource:
    """The source's model config and tokenizer; NlptError naming the folder when it is neither kind."""
    from nlpt.common.runfolder import CONFIG_FILE, STATE_FILE, TOKENIZER_FILE, read_run_config

    if not os.path.isdir(path):
        raise NlptError(f"{path}: --init needs a Hugging Face model folder or an nlpt run/checkpoint folder")
    kind, run_dir = None, path
    if os.path.isfile(os.path.join(path, STATE_FILE)):  # RUN/checkpoints/step-N
        kind, run_dir = "checkpoint", os.path.dirname(os.path.dirname(os.path.abspath(path)))
    else:
        from nlpt.models.sources import source_kind

        kind = source_kind(path)
    if kind in ("run", "checkpoint"):
        from nlpt.tokenizer.files import load_tokenizer
        from nlpt.transformer.config_file import config_from_json

        cfg = read_run_config(run_dir)
        config = config_from_json(cfg, os.path.join(run_dir, CONFIG_FILE))
        tok_file = os.path.join(run_dir, cfg.get("tokenizer", TOKENIZER_FILE))
        options = dict(cfg.get("objective_options") or {})
        return InitSource(path, kind, config, load_tokenizer(tok_file), tok_file, options)
    from nlpt.tokenizer.files import load_hf_tokenizer
    from nlpt.transformer.config_file import config_from_path

    config = config_from_path(path)
    tok_file = os.path.join(path, "tokenizer.json")
    options = {"sentence_head": config.sentence_head} if config.family == "encoder" else {}
    return InitSource(path, "hf", config, load_hf_tokenizer(path), tok_file if os.path.isfile(tok_file) else None,
                      options)


def vocabulary_difference(mine, theirs) -> str:
    """"" when two tokenizers have the same vocabulary (token -> id), else how they differ, in a few words."""
    a, b = mine.get_vocab(with_added_tokens=True), theirs.get_vocab(with_added_tokens=True)
    if a == b:
        return ""
    only_a, only_b = sorted(set(a) - set(b), key=a.get), sorted(set(b) - set(a), key=b.get)
    moved = sorted((t for t in set(a) & set(b) if a[t] != b[t]), key=a.get)
    parts = [f"{len(a):,} entries against {len(b):,}"]
    if only_a:
        parts.append(f"{len(only_a):,} only in --tokenizer (e.g. {only_a[0]!r})")
    if only_b:
        parts.append(f"{len(only_b):,} only in the source (e.g. {only_b[0]!r})")
    if moved:
        parts.append(f"{len(moved):,} with other ids (e.g. {moved[0]!r}: {a[moved[0]]} vs {b[moved[0]]})")
    return "; ".join(parts)


def resolve_init(path: str, flags: dict, tokenizer, context: Optional[int], dropout: Optional[float],
                 arch_given: bool, sentence_head: Optional[str]) -> tuple[InitSource, Any, Optional[int]]:
    """(source, model config to train, context) for `--init PATH`; UsageError for flags that contradict it.

    `flags` are the architecture overrides (--layers, --hidden, ...; None = not given): one that would change
    the source's architecture is refused; `--context` may shrink the training length, never grow it past the
    source's positions; `--tokenizer` (a `nlpt.tokenizer.files.TokenizerFile`) is accepted only with the source's
    exact vocabulary."""
    from nlpt.transformer.flags import apply_flags

    src = read_init_source(path)
    config = src.config
    if src.kind == "hf":  # a layout nlpt's model cannot hold is refused before any work (DistilBERT, Qwen2 + window)
        from nlpt.models import family_module

        try:
            family_module(config.family).hf_config(config)
        except NlptError as exc:
            raise NlptError(f"{path}: --init cannot continue this {config.family} model ({exc})") from None
    if arch_given:
        raise UsageError(f"--arch contradicts --init {path}: the architecture comes from the source")
    for name, value in flags.items():
        if value is None:
            continue
        try:
            changed = apply_flags(config, {name: value}, derive=False) != config
        except UsageError:
            changed = True
        if changed:
            raise UsageError(f"--{name.replace('_', '-')} {value} contradicts --init {path}: the architecture comes "
                             f"from the source")
    wanted = None if sentence_head == "none" else sentence_head
    if sentence_head is not None and config.family == "encoder" and wanted != config.sentence_head:
        raise UsageError(f"--sentence-head {sentence_head or 'none'} contradicts --init {path} (its sentence head is "
                         f"{config.sentence_head or 'none'})")
    limit = context_length(config)
    if context is not None and context > limit:
        raise UsageError(f"--context {context} exceeds what --init {path} was built for ({limit}); --context may "
                         f"only shrink it")
    if tokenizer is not None:
        diff = vocabulary_difference(tokenizer.load(), src.tokenizer)
        if diff:
            raise UsageError(f"--tokenizer {tokenizer.path} is not the vocabulary of --init {path} ({diff}); leave "
                             f"--tokenizer out to continue with the source's")
    if dropout is not None:
        config = dataclasses.replace(config, dropout=dropout)
    return src, config, context or limit


def write_source_tokenizer(src: InitSource, folder: str) -> str:
    """A tokenizer.json path for training: the source's own file, or (vocab.txt / vocab.json folders) one
    written into `folder`."""
    if src.tokenizer_file:
        return src.tokenizer_file
    path = os.path.join(folder, "init-tokenizer.json")
    src.tokenizer.save(path)
    return path


def load_init_weights(model, init: dict) -> list:
    """Fill `model` (built from the source's config) with the source's weights; returns the names of tensors
    the source lacked (pretraining heads of a bare Hugging Face model), which keep their initialisation."""
    path, kind = init["source"], init["kind"]
    if kind == "hf":
        from nlpt.models.hf import load_hf_weights

        return load_hf_weights(model, path)
    from nlpt.engine import checkpoint as ckpt

    ckpt.load_weights(model, ckpt.Reader(ckpt.resolve(path)))
    return []


def describe(init: dict, fresh: list) -> str:
    note = f"; {len(fresh)} head tensor(s) absent from the source start fresh ({fresh[0]}, …)" if fresh else ""
    return f"initialised from {init['source']} ({init['kind']}); training starts at step 0{note}"

