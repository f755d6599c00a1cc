"""Contracts between the engine, the objectives and the models: read this before writing an objective.

Data flow: text -> `tokenizer.json` -> token files (`engine/tokens.py`) ->
`TokenSplit`s -> an `Objective` makes batches -> `objective.loss(model, batch)`
-> the loop (`engine/loop.py`) backpropagates, logs, checkpoints.

Everything here is cheap to import (typing only; torch only under TYPE_CHECKING).
Change it only compatibly: every objective, finetune and compare code against it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Iterator, Optional, Protocol, runtime_checkable

from nlpt.models import unwrap  # noqa: F401  (the engine's modules import it from here)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

# ---------------------------------------------------------------------------------------------
# Token data


@runtime_checkable
class TokenSplit(Protocol):
    """One split ("train" or "val") of the token files, memory-mapped (never loaded whole).

    * `tokens`: 1-D numpy memmap, uint16 when the vocabulary has < 65,536 entries, else uint32:
      the token ids of every non-empty line, in corpus order, without special tokens
      (`add_special_tokens=False`). Each line is encoded *with* its trailing newline, so for a
      tokenizer that keeps "\\n" (byte-level BPE, char) the stream is exactly the text's
      tokenization and GPT reads it as one flat stream; `newline_id` names that token (None when
      the tokenizer drops whitespace, e.g. WordPiece). MLM/denoising objectives that want a line
      without its newline drop a final `newline_id` token.
    * `line_starts`: int64 array, offsets into `tokens` of each line's first token, plus a final
      sentinel `len(tokens)`: line i is `tokens[line_starts[i]:line_starts[i + 1]]` (a line = a
      sentence, as in BERT's data).
    * `doc_starts`: int64 array, indices into the lines where a document starts (a blank line in
      the corpus separates documents, as in BERT's pretraining data), plus a final sentinel =
      number of lines: document d is lines `doc_starts[d]:doc_starts[d + 1]`.
    * `vocab_size`: entries of the tokenizer (ids are < vocab_size).

    The validation split is the last `--val-fraction` of the tokens, moved to the next line start.
    """

    tokens: "np.ndarray"
    line_starts: "np.ndarray"
    doc_starts: "np.ndarray"
    newline_id: Optional[int]
    vocab_size: int


# ---------------------------------------------------------------------------------------------
# Objectives

Batch = dict  # str -> torch.Tensor (on CPU; the loop moves it to the device)


@runtime_checkable
class Objective(Protocol):
    """How a family is trained. The loop calls only these members.

    An objective is created by a factory `make(tokenizer, train: TokenSplit, val: TokenSplit,
    context: int, options: dict) -> Objective` in its module (see OBJECTIVES); it looks up the
    special tokens it needs in the tokenizer and raises `NlptError` naming the missing one.

    Optional members the loop uses when present (finetune's `ClassificationObjective` has both):
    `step_batch(step, batch_size, rank, world) -> Batch` instead of `batch`, for a finite data set read
    in epochs (step `step`'s global batch is a function of the step alone, so the step is the data
    position); `evaluate(model, batch_size, device) -> dict` instead of summing `eval_batches`, for
    validation metrics that are not sums (macro-F1, ROC-AUC), the same on every rank.
    """

    name: str  # "causal_lm", "mlm", "span_corruption", "bart_denoising", "classification"
    metric_names: tuple  # what `loss` returns and validation reports, "loss" first, e.g. ("loss", "nsp_accuracy")

    def batch(self, batch_size: int, generator: "torch.Generator", rank: int = 0, world: int = 1) -> Batch:
        """A random training batch: rows [rank*batch_size, (rank+1)*batch_size) of a global batch of
        `batch_size * world` rows drawn with `generator`.

        Every rank holds a generator in the same state and must consume it identically whatever
        its rank, so that a run gives the same batches on 1 or N processes (and the generator's
        state, saved in checkpoints, is the data position)."""
        ...

    def eval_batches(self, batch_size: int, rank: int = 0, world: int = 1, limit: Optional[int] = None) -> Iterator[Batch]:
        """Deterministic batches covering the whole validation split (this rank's share:
        batches rank, rank+world, ...); the loop sums the metrics over them. With `limit`, at most
        that many batches (before sharing out among ranks), spread evenly over the split: a fixed
        validation set cheaper than the whole split."""
        ...

    def loss(self, model: Any, batch: Batch) -> tuple["torch.Tensor", dict]:
        """(scalar loss to backpropagate, metrics).

        `model` may be wrapped (DDP/FSDP/compiled): call it, don't reach into it; use
        `unwrap(model)` only for attributes. Metrics map each name in `metric_names` to a
        float tensor [sum, count] (detached) so they aggregate exactly over micro-batches,
        validation batches and ranks (all_reduce): the reported value is sum / count.
        "loss" is the mean token cross-entropy (sum of token losses, number of tokens); the
        loop reports its exp() as perplexity for validation. Auxiliary terms (MoE load
        balancing) are added to the returned loss, and reported as their own metric."""
        ...


# name -> module defining `make(...)`; the engine imports lazily.
OBJECTIVES = {
    "causal_lm": "nlpt.objectives.causal_lm",
    "mlm": "nlpt.objectives.mlm",
    "span_corruption": "nlpt.objectives.denoising",
    "bart_denoising": "nlpt.objectives.denoising",
}

# the objective used when --objective is not given
DEFAULT_OBJECTIVE = {"gpt": "causal_lm", "llama": "causal_lm", "encoder": "mlm", "t5": "span_corruption",
                     "bart": "bart_denoising"}


def make_objective(name: str, tokenizer, train: TokenSplit, val: TokenSplit, context: int, options: dict) -> Objective:
    """The objective `name` built by its module's `make` (options: objective-specific, e.g. mask rate)."""
    from nlpt.common.errors import UsageError

    if name not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {name!r}")
    module = importlib.import_module(OBJECTIVES[name])
    return module.make(name, tokenizer, train, val, context, options)


# the families each objective trains (the seq2seq objectives suit either encoder-decoder)
OBJECTIVE_FAMILIES = {"causal_lm": ("gpt", "llama"), "mlm": ("encoder",), "span_corruption": ("t5", "bart"),
                      "bart_denoising": ("t5", "bart")}


def check_objective(name: str, tokenizer, model_config, context: int, options: dict):
    """Before any work: the objective's module checks the tokenizer (one-line NlptError naming the missing
    special tokens) and returns the model config with the special-token ids it uses filled in (pad, bos, eos:
    exported configs need them). Modules without a `check(name, tokenizer, model_config, context, options)`
    function leave the config unchanged."""
    from nlpt.common.errors import UsageError

    if name not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {name!r}")
    family = model_config.family
    if family not in OBJECTIVE_FAMILIES.get(name, (family,)):
        fits = [n for n, families in OBJECTIVE_FAMILIES.items() if family in families]
        raise UsageError(f"--objective {name} does not fit the {family} family (it takes {' or '.join(fits)})")
    check = getattr(importlib.import_module(OBJECTIVES[name]), "check", None)
    return model_config if check is None else check(name, tokenizer, model_config, context, options)
