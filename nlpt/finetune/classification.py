"""Sequence classification and regression for `nlpt finetune`: pooling, the output head, and the loss.

A `SequenceClassifier` is an *encoder* (anything whose `forward(batch)` gives one feature vector
per example: a pretrained Transformer with pooling, a bag of word vectors, a TextCNN, or cached
frozen features) followed by a new head: a linear layer, or a small MLP. The objective's `loss`
follows `nlpt.engine.objective.Objective`: metrics are [sum, count] tensors.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from nlpt.finetune.choices import HEADS
from nlpt.objectives.batching import pad

# What each family's representation of a whole sequence is, unless --pooling says otherwise:
# BERT-style encoders their [CLS] position, decoders the last token (it has seen all the others),
# encoder-decoders the mean of the encoder output.
DEFAULT_POOLING = {"encoder": "cls", "gpt": "last", "llama": "last", "t5": "mean", "bart": "mean"}


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """[B, T, H] hidden states -> [B, H]. Sequences are right-padded; `attention_mask` is 1 on tokens."""
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        last = attention_mask.long().sum(dim=1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
    if how == "mean":
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {how!r}")


class Head(nn.Module):
    """The new output layer: dropout + linear, or dropout + dense + tanh + dropout + linear (as
    BERT's pooler followed by its classifier)."""

    def __init__(self, in_dim: int, num_outputs: int, kind: str = "linear", dropout: float = 0.1):
        super().__init__()
        if kind not in HEADS:
            raise ValueError(f"unknown head {kind!r}")
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if kind == "mlp":
            layers += [nn.Linear(in_dim, in_dim), nn.Tanh(), nn.Dropout(dropout)]
        layers.append(nn.Linear(in_dim, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class SequenceClassifier(nn.Module):
    """`encoder` (batch -> [B, D]) + `head` ([B, D] -> [B, C]; C = 1 for regression)."""

    def __init__(self, encoder: nn.Module, num_outputs: int, head: str = "linear", dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.head = Head(encoder.output_dim, num_outputs, head, dropout)
        self.num_outputs = num_outputs

    def forward(self, batch: dict) -> torch.Tensor:
        out = self.head(self.encoder(batch))
        return out.squeeze(-1) if self.num_outputs == 1 else out


class CachedFeatures(nn.Module):
    """The encoder of a frozen model whose features were computed once: the batch carries them."""

    def __init__(self, output_dim: int):
        super().__init__()
        self.output_dim = output_dim

    def forward(self, batch: dict) -> torch.Tensor:
        return batch["features"]


class EncodedSplit:
    """A split ready for batching: per-example input fields (lists of id lists, or a feature
    tensor) and the targets; `collate` pads the examples of one batch."""

    def __init__(self, name: str, fields: dict, targets: torch.Tensor, pad_ids: dict | None = None, min_length: int = 1):
        self.name = name
        self.fields = fields
        self.targets = targets
        self.pad_ids = pad_ids or {}
        self.min_length = min_length

    def __len__(self) -> int:
        return len(self.targets)

    def tokens(self, indices=None) -> int:
        """Token count (for throughput and compute figures); 0 for cached features."""
        total = 0
        for key, values in self.fields.items():
            if isinstance(values, list) and "token_type" not in key:  # ids, not their segment labels
                rows = values if indices is None else (values[i] for i in indices)
                total += sum(len(v) for v in rows)
        return total

    def collate(self, indices) -> dict:
        batch: dict[str, torch.Tensor] = {}
        for key, values in self.fields.items():
            if isinstance(values, torch.Tensor):
                batch[key] = values[indices]
            elif key.endswith("token_type_ids"):
                batch[key] = pad([values[i] for i in indices], 0, self.min_length)[0]
            else:
                ids, mask = pad([values[i] for i in indices], self.pad_ids.get(key, 0), self.min_length)
                batch[key] = ids
                batch[key.replace("input_ids", "attention_mask") if "input_ids" in key else key + "_mask"] = mask
        batch["labels"] = self.targets[indices]
        return batch

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[dict]:
        """The whole split in batches: shuffled with `generator`, else in order."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
        for start in range(0, n, batch_size):
            yield self.collate(order[start : start + batch_size])


class ClassificationObjective:
    """Cross-entropy over classes, or mean squared error for a regression target, over a labelled task read
    in epochs by the engine's loop (`nlpt.engine.objective.Objective`, plus `step_batch` and `evaluate`).

    `splits` maps "train", "val" and optionally "test" to `EncodedSplit`s. Epoch e visits the training
    examples in a permutation drawn from `seed` and e; step s takes rows [i·G, (i+1)·G) of it (i = s mod
    steps per epoch, G the global batch), the last step of an epoch topping up from the epoch's start, so
    every micro-batch is full and accumulation or ranks change nothing. `score(targets, outputs)` gives
    the task metrics of a whole split (accuracy, macro-F1, ROC-AUC / Pearson, Spearman)."""

    name = "classification"

    def __init__(self, regression: bool, splits: dict | None = None, seed: int = 0, global_batch: int = 1,
                 score=None):
        self.regression = regression
        self.metric_names = ("loss",) if regression else ("loss", "accuracy")
        self.splits = splits or {}
        self.seed = seed
        self.global_batch = global_batch
        self.score = score
        self._order: tuple[int, torch.Tensor] | None = None

    @property
    def steps_per_epoch(self) -> int:
        return max(1, -(-len(self.splits["train"]) // self.global_batch))

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._order = (epoch, torch.randperm(len(self.splits["train"]), generator=g))
        return self._order[1]

    def step_batch(self, step: int, batch_size: int, rank: int = 0, world: int = 1) -> dict:
        """Rows [rank·batch_size, (rank+1)·batch_size) of step `step`'s global batch (batch_size · world rows)."""
        if batch_size * world != self.global_batch:
            raise ValueError(f"global batch {batch_size} x {world} != {self.global_batch}")
        train = self.splits["train"]
        order = self._epoch_order(step // self.steps_per_epoch)
        first = (step % self.steps_per_epoch) * self.global_batch + rank * batch_size
        positions = torch.arange(first, first + batch_size) % len(train)
        return train.collate(order[positions])

    def batch(self, batch_size: int, generator: torch.Generator, rank: int = 0, world: int = 1) -> dict:
        """A random global batch (the Objective protocol's sampler; the loop uses `step_batch`)."""
        train = self.splits["train"]
        rows = torch.randint(len(train), (batch_size * world,), generator=generator)
        return train.collate(rows[rank * batch_size : (rank + 1) * batch_size])

    def eval_batches(self, batch_size: int, rank: int = 0, world: int = 1, limit=None) -> Iterator[dict]:
        for i, b in enumerate(self.splits["val"].batches(batch_size)):
            if limit is not None and i >= limit:
                break
            if i % world == rank:
                yield b

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        output = model(batch)
        labels = batch["labels"]
        n = float(labels.numel())
        if self.regression:
            loss = F.mse_loss(output.float(), labels.float())
            return loss, {"loss": torch.stack([loss.detach().float() * n, torch.tensor(n)])}
        loss = F.cross_entropy(output.float(), labels)
        correct = (output.detach().argmax(-1) == labels).sum().float()
        return loss, {"loss": torch.stack([loss.detach().float() * n, torch.tensor(n)]),
                      "accuracy": torch.stack([correct, torch.tensor(n)])}

    def evaluate(self, model, batch_size: int, device, split: str = "val") -> dict:
        """Loss and task metrics of a whole split (every rank computes all of it: the same figures everywhere)."""
        from nlpt.models import unwrap

        if split not in self.splits:  # no dev set: nothing to select on
            return {}
        data = self.splits[split]
        out = outputs(unwrap(model), data, 2 * batch_size, device)
        targets = data.targets
        if not len(targets):
            return {"loss": 0.0}
        if self.regression:
            loss = float(torch.mean((out - targets) ** 2))
        else:
            loss = float(-torch.log(out.clamp(min=1e-12)[torch.arange(len(targets)), targets]).mean())
        return {"loss": loss, **(self.score(targets.numpy(), out.numpy()) if self.score else {})}


def outputs(model: nn.Module, split: EncodedSplit, batch_size: int, device: torch.device) -> torch.Tensor:
    """Model outputs for a whole split, in order, under the caller's no_grad/autocast: [N, C] probabilities,
    or [N] scores for regression."""
    result = []
    was_training = model.training
    model.eval()
    for batch in split.batches(batch_size):
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(batch).float()
        result.append(out.softmax(-1) if out.dim() == 2 else out)
    model.train(was_training)
    return torch.cat(result).cpu() if result else torch.zeros(0)


def predict(model: nn.Module, split: EncodedSplit, batch_size: int, device: torch.device, autocast) -> torch.Tensor:
    """`outputs` under no_grad and `autocast()` (a context factory)."""
    with torch.no_grad(), autocast():
        return outputs(model, split, batch_size, device)


def extract_features(encoder: nn.Module, split: EncodedSplit, batch_size: int, device: torch.device, autocast) -> torch.Tensor:
    """[N, D] encoder features of a whole split, in order, on the CPU in float32 (frozen bodies)."""
    outputs = []
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        for batch in split.batches(batch_size):
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast():
                outputs.append(encoder(batch).float().cpu())
    encoder.train(was_training)
    return torch.cat(outputs)
