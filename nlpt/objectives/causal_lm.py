"""Causal language modelling (GPT, Llama, Mixtral): predict every next token of a window of the stream.

Training batches are random windows of `context + 1` tokens of the flat token
stream (input = the first `context`, target = the last `context`), as nanoGPT
samples them. Validation covers the whole validation split with consecutive,
non-overlapping windows, so every token but the first is predicted exactly once.
MoE models add their load-balancing loss, weighted by `router_aux_loss_coef`.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch

from nlpt.common.errors import NlptError
from nlpt.models import unwrap


class CausalLM:
    name = "causal_lm"
    metric_names = ("loss",)

    def __init__(self, train, val, context: int):
        self.train, self.val, self.context = train, val, context
        for split in (train, val):
            if len(split.tokens) < context + 1:
                what = "training" if split is train else "validation"
                fix = "" if split is train else " (raise --val-fraction or lower --context)"
                raise NlptError(f"{split.source}: the {what} split has {len(split.tokens):,} tokens, fewer than one "
                                f"sequence of --context {context} + 1{fix}")

    def _windows(self, tokens: np.ndarray, starts: np.ndarray) -> dict:
        rows = np.stack([tokens[s:s + self.context + 1] for s in starts]).astype(np.int64)
        rows = torch.from_numpy(rows)
        return {"input_ids": rows[:, :-1], "labels": rows[:, 1:]}

    def batch(self, batch_size: int, generator: torch.Generator, rank: int = 0, world: int = 1) -> dict:
        n = len(self.train.tokens) - self.context
        starts = torch.randint(0, n, (batch_size * world,), generator=generator).numpy()
        return self._windows(self.train.tokens, starts[rank * batch_size:(rank + 1) * batch_size])

    def eval_batches(self, batch_size: int, rank: int = 0, world: int = 1, limit: Optional[int] = None) -> Iterator[dict]:
        """Consecutive windows over the whole validation split; `limit` batches spread evenly over it."""
        tokens, T = self.val.tokens, self.context
        starts = np.arange(0, len(tokens) - 1, T)
        batches = [starts[i:i + batch_size] for i in range(0, len(starts), batch_size)]
        if limit and limit < len(batches):
            batches = [batches[i] for i in np.linspace(0, len(batches) - 1, limit).round().astype(int)]
        for b in batches[rank::world]:
            rows = np.zeros((len(b), T + 1), dtype=np.int64)
            labels = np.full((len(b), T), -100, dtype=np.int64)
            for j, s in enumerate(b):
                w = tokens[s:s + T + 1]
                rows[j, :len(w)] = w
                labels[j, :len(w) - 1] = w[1:]
            yield {"input_ids": torch.from_numpy(rows[:, :-1]), "labels": torch.from_numpy(labels)}

    def loss(self, model, batch: dict):
        out = model(input_ids=batch["input_ids"], labels=batch["labels"])
        loss = out["loss"]
        n = (batch["labels"] != -100).sum()
        metrics = {"loss": torch.stack([loss.detach().float() * n, n.float()])}
        aux = out.get("aux_loss")
        if aux is not None:
            coef = getattr(unwrap(model).config, "router_aux_loss_coef", 0.0)
            metrics["aux_loss"] = torch.stack([aux.detach().float(), torch.ones((), device=aux.device)])
            loss = loss + coef * aux
        return loss, metrics


def make(name, tokenizer, train, val, context: int, options: dict) -> CausalLM:
    if options:
        raise NlptError(f"the causal_lm objective takes no options (got {', '.join(options)})")
    return CausalLM(train, val, context)
