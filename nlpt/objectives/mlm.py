"""Masked language modelling with next-sentence or sentence-order prediction (BERT, RoBERTa, ALBERT).

Sequences are `[CLS] A [SEP] B [SEP]` built from the token files' sentence (line)
and document boundaries, as in BERT's `create_pretraining_data`: starting at a
random sentence, consecutive sentences of one document fill the length budget,
a random cut splits them into A and B, and

* `nsp` (BERT): half the time B is replaced by sentences from another
  document (label 1 = random, 0 = the true continuation, as `BertForPreTraining`);
* `sop` (ALBERT): half the time A and B are swapped (label 1 = swapped);
* `--no-nsp` (RoBERTa's FULL-SENTENCES): `[CLS] window [SEP]`, a contiguous
  window of the token stream starting at a sentence start, no sentence head.

Masking is dynamic (drawn anew for each batch): 15% of the non-special
positions are chosen; of those 80% become `[MASK]`, 10% a random token and
10% stay unchanged. The loss is the cross-entropy at the chosen positions only,
and the model projects only those positions onto the vocabulary.

Documents with a single sentence cannot give an NSP/SOP pair: they are skipped
and counted (`skipped_documents`). A corpus without blank lines (one document)
gives no "other document" for NSP: that is refused with a one-line error that
suggests `--no-nsp` or `--sop`.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F

from nlpt.common.errors import NlptError
from nlpt.tokenizer.specials import MLM_SPECIALS, mlm_ids

EVAL_SEED = 20_190_524  # fixed masks and pairs for validation, so every evaluation scores the same task


def correct(logits: torch.Tensor, target: torch.Tensor) -> float:
    """How many rows have their target among the top logits (argmax's count, but a third of its cost on CPU:
    `amax` is vectorised, `argmax` is not; an exact tie, which argmax breaks by position, counts as correct)."""
    with torch.no_grad():
        return float((logits.gather(-1, target[:, None]).squeeze(-1) >= logits.amax(-1)).sum())


def with_token_ids(config, **ids):
    """`config` with the given special-token id fields set where it has them and they are unset."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(config)}
    changes = {k: v for k, v in ids.items() if k in fields and getattr(config, k) is None and v is not None}
    return dataclasses.replace(config, **changes) if changes else config


def _special(tokenizer, context: int) -> dict:
    """{role ([CLS], [SEP], [MASK], [PAD]): id}: BERT's tokens, or RoBERTa's <s> </s> <mask> <pad>."""
    if context < 8:
        raise NlptError(f"context {context} is too short for [CLS] A [SEP] B [SEP] sequences")
    return mlm_ids(tokenizer)


def check(name, tokenizer, model_config, context: int, options: dict):
    """Before any work: the tokenizer has BERT's (or RoBERTa's) special tokens; the model config gets the pad id
    (and a RoBERTa position table the rows before its first position: context + pad + 1 rows)."""
    import dataclasses

    from nlpt.models import context_length

    config = with_token_ids(model_config, pad_token_id=_special(tokenizer, context)["[PAD]"])
    missing = context - context_length(config)
    if missing > 0 and config.variant == "roberta":
        config = dataclasses.replace(config, max_positions=config.max_positions + missing)
    return config


class Sentences:
    """A token split seen as documents of sentences (lines without their trailing newline token)."""

    def __init__(self, split, newline_id: Optional[int]):
        self.tokens = split.tokens
        self.starts = np.asarray(split.line_starts, dtype=np.int64)
        ends = self.starts[1:].copy()
        if newline_id is not None and len(self.tokens):
            last = np.asarray(self.tokens[np.maximum(ends - 1, 0)])
            ends -= (last == newline_id) & (ends > self.starts[:-1])
        self.ends = ends
        self.n_lines = len(self.starts) - 1
        self.doc_starts = np.asarray(split.doc_starts, dtype=np.int64)
        self.n_docs = len(self.doc_starts) - 1
        self.doc_of_line = np.searchsorted(self.doc_starts, np.arange(self.n_lines), side="right") - 1
        doc_lines = np.diff(self.doc_starts)
        self.pair_docs = np.flatnonzero(doc_lines >= 2)
        self.skipped_documents = int(self.n_docs - len(self.pair_docs))
        # sentences that have a next sentence in their document: where NSP/SOP pairs start
        last_of_doc = self.doc_starts[1:] - 1
        ok = np.ones(self.n_lines, dtype=bool)
        ok[last_of_doc[last_of_doc >= 0]] = False
        self.pair_starts = np.flatnonzero(ok)

    def line(self, i: int) -> np.ndarray:
        return np.asarray(self.tokens[self.starts[i]:self.ends[i]], dtype=np.int64)

    def doc_end(self, line: int) -> int:
        return int(self.doc_starts[self.doc_of_line[line] + 1])


def eval_chunks(n: int, batch_size: int, limit: Optional[int]) -> list:
    """Index ranges of `batch_size` validation items; with `limit`, that many batches spread evenly over all."""
    chunks = [range(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if limit and limit < len(chunks):
        chunks = [chunks[i] for i in np.linspace(0, len(chunks) - 1, limit).round().astype(int)]
    return chunks


def seeded_eval_batches(objective, example, seed: int, batch_size: int, rank: int, world: int,
                        limit: Optional[int]) -> Iterator[dict]:
    """This rank's validation batches: the examples starting at `objective._eval_starts()` (found once), each
    made by `example(split, start, rng)` with its randomness seeded by (`seed`, its index), so that every
    evaluation scores the same task."""
    if not hasattr(objective, "_eval_cache"):
        objective._eval_cache = objective._eval_starts()
    starts = objective._eval_cache
    for chunk in eval_chunks(len(starts), batch_size, limit)[rank::world]:
        yield objective._collate([example(objective.val, starts[k], np.random.default_rng([seed, k])) for k in chunk])


def truncate_pair(a: list, b: list, budget: int) -> None:
    """Drop tokens from the end of the longer segment until len(a) + len(b) <= budget (BERT's truncate_seq_pair)."""
    while len(a) + len(b) > budget:
        (a if len(a) > len(b) else b).pop()


class MaskedLM:
    """The `mlm` objective (see the module docstring)."""

    name = "mlm"

    def __init__(self, tokenizer, train, val, context: int, options: dict):
        opts = dict(options or {})
        self.sentence_task = opts.get("sentence_head", "nsp")
        if self.sentence_task not in (None, "nsp", "sop"):
            raise NlptError(f"sentence task must be nsp, sop or none, not {self.sentence_task!r}")
        self.mask_prob = float(opts.get("mask_prob", 0.15))
        if not 0.0 < self.mask_prob < 1.0:
            raise NlptError(f"mask probability must be between 0 and 1 (got {self.mask_prob})")
        self.ids = _special(tokenizer, context)
        self.cls, self.sep, self.mask, self.pad = (self.ids[n] for n in MLM_SPECIALS)
        self.vocab_size = tokenizer.get_vocab_size()
        self.context = context
        newline = getattr(train, "newline_id", None)
        self.train, self.val = Sentences(train, newline), Sentences(val, newline)
        task = self.sentence_task
        self.metric_names = ("loss", "mlm_accuracy") + ((f"{task}_loss", f"{task}_accuracy") if task else ())
        if task:
            for where, s in (("training", self.train), ("validation", self.val)):
                if len(s.pair_starts) == 0:
                    raise NlptError(f"{task.upper()}: the {where} split has no document with two or more sentences "
                                    f"(lines) to make a pair of; use --no-nsp")
            for where, s in (("training", self.train), ("validation", self.val)):
                if task == "nsp" and s.n_docs < 2:
                    raise NlptError(f"NSP: the {where} split has no document boundaries (blank lines between "
                                    f"documents), so there is no 'other document' for random next sentences; "
                                    f"use --no-nsp (or a config with sentence_head='sop')")
        self.skipped_documents = {"train": self.train.skipped_documents, "val": self.val.skipped_documents}
        self.notes = []
        if task and sum(self.skipped_documents.values()):
            self.notes.append(f"{sum(self.skipped_documents.values())} single-sentence documents skipped "
                              f"(no {task.upper()} pair)")

    # ---- sequences

    def _pair(self, s: Sentences, start: int, rng: np.random.Generator) -> tuple[list, list, int]:
        """(A, B, label) for a pair starting at sentence `start` (which has a successor)."""
        budget = self.context - 3
        end, length, chunk = s.doc_end(start), 0, []
        i = start
        while i < end and (length < budget or len(chunk) < 2):
            chunk.append(s.line(i))
            length += len(chunk[-1])
            i += 1
        cut = int(rng.integers(1, len(chunk))) if len(chunk) > 1 else 1
        a = [t for line in chunk[:cut] for t in line.tolist()]
        b = [t for line in chunk[cut:] for t in line.tolist()]
        label = 0
        if self.sentence_task == "nsp" and rng.random() < 0.5:
            label = 1
            b = self._random_segment(s, s.doc_of_line[start], budget - len(a), rng)
        elif self.sentence_task == "sop" and rng.random() < 0.5:
            label, a, b = 1, b, a
        truncate_pair(a, b, budget)
        return a, b, label

    def _random_segment(self, s: Sentences, not_doc: int, budget: int, rng: np.random.Generator) -> list:
        doc = not_doc
        while doc == not_doc:
            doc = int(rng.integers(s.n_docs))
        line = int(rng.integers(s.doc_starts[doc], s.doc_starts[doc + 1]))
        out: list = []
        end = int(s.doc_starts[doc + 1])
        while line < end and len(out) < max(budget, 1):
            out.extend(s.line(line).tolist())
            line += 1
        return out

    def _window(self, s: Sentences, start: int) -> list:
        """RoBERTa FULL-SENTENCES: context − 2 tokens of the stream from sentence `start` (documents may be crossed)."""
        lo = int(s.starts[start])
        return np.asarray(s.tokens[lo:lo + self.context - 2], dtype=np.int64).tolist()

    def _row(self, s: Sentences, start: int, rng: np.random.Generator) -> dict:
        if self.sentence_task:
            a, b, label = self._pair(s, start, rng)
            ids = [self.cls] + a + [self.sep] + b + [self.sep]
            types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        else:
            ids = [self.cls] + self._window(s, start) + [self.sep]
            types, label = [0] * len(ids), -1
        ids = np.asarray(ids, dtype=np.int64)
        positions, labels, ids = self.mask_tokens(ids, rng)
        return {"ids": ids, "types": types, "positions": positions, "labels": labels, "label": label}

    def mask_tokens(self, ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chosen positions, their original ids, corrupted ids): 15% of the non-special positions, 80/10/10."""
        candidates = np.flatnonzero((ids != self.cls) & (ids != self.sep) & (ids != self.pad))
        n = min(len(candidates), max(1, int(round(len(candidates) * self.mask_prob))))
        chosen = np.sort(rng.choice(candidates, size=n, replace=False)) if n else candidates[:0]
        labels = ids[chosen].copy()
        out = ids.copy()
        u = rng.random(n)
        out[chosen[u < 0.8]] = self.mask
        rand = chosen[(u >= 0.8) & (u < 0.9)]
        out[rand] = rng.integers(0, self.vocab_size, size=len(rand))
        return chosen, labels, out

    def _collate(self, rows: list) -> dict:
        T = max(len(r["ids"]) for r in rows)
        B = len(rows)
        input_ids = torch.full((B, T), self.pad, dtype=torch.long)
        attention = torch.zeros((B, T), dtype=torch.long)
        types = torch.zeros((B, T), dtype=torch.long)
        positions, labels = [], []
        for i, r in enumerate(rows):
            n = len(r["ids"])
            input_ids[i, :n] = torch.from_numpy(r["ids"])
            attention[i, :n] = 1
            types[i, :n] = torch.tensor(r["types"])
            positions.append(torch.from_numpy(r["positions"]) + i * T)
            labels.append(torch.from_numpy(r["labels"]))
        batch = {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": types,
                 "mlm_positions": torch.cat(positions), "mlm_labels": torch.cat(labels)}
        if self.sentence_task:
            batch["sentence_labels"] = torch.tensor([r["label"] for r in rows], dtype=torch.long)
        return batch

    # ---- the Objective protocol

    def batch(self, batch_size: int, generator: torch.Generator, rank: int = 0, world: int = 1) -> dict:
        """Rows of a global batch of `batch_size * world`; every rank draws the same seeds, keeps its rows."""
        s = self.train
        pool = s.pair_starts if self.sentence_task else None
        n_pool = len(pool) if pool is not None else s.n_lines
        draws = torch.randint(0, 2 ** 62, (batch_size * world, 2), generator=generator).tolist()
        rows = []
        for pick, seed in draws[rank * batch_size:(rank + 1) * batch_size]:
            start = int(pool[pick % n_pool]) if pool is not None else pick % n_pool
            rows.append(self._row(s, start, np.random.default_rng(seed)))
        return self._collate(rows)

    def _eval_starts(self) -> list:
        """Start sentences of the validation sequences: the split walked in order, each sequence after the last."""
        s, starts, line = self.val, [], 0
        lengths = s.ends - s.starts[:-1]
        ok = np.zeros(s.n_lines + 1, dtype=bool)
        ok[s.pair_starts] = True
        budget = self.context - 3
        while line < s.n_lines:
            if self.sentence_task and not ok[line]:
                line += 1
                continue
            starts.append(line)
            if self.sentence_task:
                end, j, length = s.doc_end(line), line, 0
                while j < end and (length < budget or j - line < 2):
                    length += int(lengths[j])
                    j += 1
            else:
                j = int(np.searchsorted(s.starts, s.starts[line] + self.context - 2, side="left"))
            line = max(j, line + 1)
        return starts

    def eval_batches(self, batch_size: int, rank: int = 0, world: int = 1, limit: Optional[int] = None) -> Iterator[dict]:
        """The validation split walked in order, with pairs and masks fixed per sequence (seeded by its index)."""
        return seeded_eval_batches(self, self._row, EVAL_SEED, batch_size, rank, world, limit)

    def loss(self, model, batch: dict):
        mlm_logits, sentence_logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                                            batch["mlm_positions"])
        labels = batch["mlm_labels"]
        token_loss = F.cross_entropy(mlm_logits.float(), labels, reduction="sum")
        n = float(labels.numel())
        loss = token_loss / max(n, 1.0)
        with torch.no_grad():
            metrics = {"loss": torch.stack([token_loss.detach(), torch.tensor(n)]),
                       "mlm_accuracy": torch.tensor([correct(mlm_logits, labels), n])}
        if self.sentence_task:
            y = batch["sentence_labels"]
            s_loss = F.cross_entropy(sentence_logits.float(), y, reduction="sum")
            loss = loss + s_loss / y.numel()
            with torch.no_grad():
                task = self.sentence_task
                metrics[f"{task}_loss"] = torch.stack([s_loss.detach(), torch.tensor(float(y.numel()))])
                metrics[f"{task}_accuracy"] = torch.tensor([(sentence_logits.argmax(-1) == y).sum().item(),
                                                            float(y.numel())])
        return loss, metrics


def make(name, tokenizer, train, val, context: int, options: dict) -> MaskedLM:
    return MaskedLM(tokenizer, train, val, context, options)
