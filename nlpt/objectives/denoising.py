"""Denoising objectives for encoder–decoders: T5 span corruption and BART text infilling + sentence permutation.

* `span_corruption` (T5, Raffel et al. 2020, sec. 3.1.4): a window of the token
  stream; 15% of its tokens (noise density) in spans of mean length 3 are
  removed; each span is replaced in the input by one sentinel `<extra_id_i>`,
  and the target is the sentinels each followed by the span it stands for,
  then EOS. Input + target reconstruct the window exactly (`t5_reconstruct`).
* `bart_denoising` (BART, Lewis et al. 2020, sec. 2.2): the sentences of a
  document segment are shuffled (sentence permutation), then spans with
  Poisson(λ=3) lengths covering 30% of the tokens are each replaced by one
  `<mask>` (a length-0 span inserts one); the decoder reconstructs the original
  `<s> … </s>`.

Training is teacher-forced (decoder input = target shifted right, starting with
the decoder start token: T5's pad, BART's `</s>`). Metrics: target-token loss and
accuracy. `t5_corrupt` is also the rule of the T5 evaluation (`nlpt.engine.evaluate`);
the infilling query is `nlpt.engine.inference.infill`.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F

from nlpt.common.errors import NlptError
from nlpt.objectives.mlm import Sentences, correct, seeded_eval_batches, with_token_ids
from nlpt.tokenizer.sentinels import is_sentinel, sentinel
from nlpt.tokenizer.specials import special_ids

EVAL_SEED = 20_191_029
IGNORE = -100


# ---------------------------------------------------------------------------------------------
# T5 span corruption

def random_spans_mask(length: int, density: float, mean_span: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean noise mask of `length` with round(length·density) noise tokens in about n/mean_span spans.

    Noise and non-noise lengths are each split into the same number of random
    positive segments and interleaved, starting with non-noise (T5's
    `random_spans_noise_mask`)."""
    n_noise = min(max(int(round(length * density)), 1), length - 1)
    n_spans = max(int(round(n_noise / mean_span)), 1)

    def segments(total: int) -> np.ndarray:
        cuts = np.sort(rng.choice(np.arange(1, total), size=n_spans - 1, replace=False)) if n_spans > 1 else []
        return np.diff(np.concatenate([[0], cuts, [total]])).astype(np.int64)

    noise, keep = segments(n_noise), segments(length - n_noise)
    mask = np.zeros(length, dtype=bool)
    pos = 0
    for k, n in zip(keep, noise):
        pos += k
        mask[pos:pos + n] = True
        pos += n
    return mask


def t5_corrupt(tokens: np.ndarray, mask: np.ndarray, sentinels: list, eos: int) -> tuple[list, list]:
    """(input ids, target ids): each noise span → one sentinel in the input; target = sentinel + span, …, EOS."""
    inputs, targets, span = [], [], -1
    for i, (t, noisy) in enumerate(zip(tokens.tolist(), mask.tolist())):
        if noisy:
            if i == 0 or not mask[i - 1]:
                span += 1
                inputs.append(sentinels[span])
                targets.append(sentinels[span])
            targets.append(t)
        else:
            inputs.append(t)
    return inputs + [eos], targets + [eos]


def t5_target_index(mask: np.ndarray) -> np.ndarray:
    """For each noise position of `mask` (in order), its index in `t5_corrupt`'s target: the noise tokens before
    it plus one sentinel per span begun so far."""
    noise = np.flatnonzero(mask)
    starts = noise[(noise == 0) | ~mask[np.maximum(noise - 1, 0)]]
    return np.arange(len(noise)) + np.searchsorted(starts, noise, side="right")


def t5_reconstruct(inputs: list, targets: list, sentinels: list, eos: int) -> list:
    """The original tokens from a corrupted input and its target (inverse of `t5_corrupt`)."""
    index = {s: i for i, s in enumerate(sentinels)}
    spans, current = {}, None
    for t in targets:
        if t == eos:
            break
        if t in index:
            current = index[t]
            spans[current] = []
        else:
            spans[current].append(t)
    out = []
    for t in inputs:
        if t == eos:
            break
        out.extend(spans[index[t]] if t in index else [t])
    return out


def t5_raw_length(context: int, density: float, mean_span: float) -> int:
    """Longest window whose corrupted input (non-noise + one sentinel per span + EOS) fits `context`."""
    length = context
    while True:
        n_noise = max(int(round((length + 1) * density)), 1)
        n_spans = max(int(round(n_noise / mean_span)), 1)
        if length + 1 - n_noise + n_spans + 1 > context:
            return length
        length += 1


# ---------------------------------------------------------------------------------------------
# BART text infilling

def bart_infill(tokens: list, ratio: float, mask_id: int, rng: np.random.Generator, lam: float = 3.0) -> tuple[list, list]:
    """(corrupted tokens, removed spans): spans of Poisson(λ) lengths covering ~`ratio` of the tokens are each
    replaced by one `mask_id`; a length-0 span inserts a mask. `removed[i]` is what the i-th mask hides."""
    n = len(tokens)
    target = int(round(n * ratio))
    lengths = []
    while sum(lengths) < target:
        lengths.append(int(rng.poisson(lam)))
    if not lengths:
        return list(tokens), []
    starts = sorted(zip(rng.integers(0, n + 1, size=len(lengths)).tolist(), lengths))
    out, removed, pos = [], [], 0
    for start, length in starts:
        start = max(start, pos)  # spans after an overlap start where the previous one ended
        if start > n:
            break
        out.extend(tokens[pos:start])
        end = min(start + length, n)
        out.append(mask_id)
        removed.append(list(tokens[start:end]))
        pos = end
    out.extend(tokens[pos:])
    return out, removed


def bart_reconstruct(corrupted: list, removed: list, mask_id: int) -> list:
    """The permuted document from a corrupted one and the spans its masks hide (inverse of `bart_infill`)."""
    out, k = [], 0
    for t in corrupted:
        if t == mask_id:
            out.extend(removed[k])
            k += 1
        else:
            out.append(t)
    return out


# ---------------------------------------------------------------------------------------------
# the objective

def _t5_options(opts: dict) -> tuple[float, float]:
    return float(opts.get("noise_density", 0.15)), float(opts.get("mean_span", 3.0))


def _special(name: str, tokenizer, context: int, opts: dict) -> dict:
    """{token: id} of the special tokens the objective uses; NlptError naming the missing ones."""
    if context < 8:
        raise NlptError(f"context {context} is too short for denoising")
    if name == "span_corruption":
        density, mean_span = _t5_options(opts)
        n_spans = max(int(round(round(t5_raw_length(context, density, mean_span) * density) / mean_span)), 1)
        names = ["<pad>", "</s>"] + [sentinel(i) for i in range(n_spans)]
        return special_ids(tokenizer, names, hint=f" (T5 span corruption at context {context} needs <pad>, </s> and "
                                                  f"{n_spans} sentinels <extra_id_0>…<extra_id_{n_spans - 1}>; "
                                                  f"add them with `nlpt pretrain add-sentinels`)")
    if name == "bart_denoising":
        return special_ids(tokenizer, ("<s>", "</s>", "<pad>", "<mask>"),
                           hint=" (BART denoising needs <s> </s> <pad> <mask>, as `nlpt vocab --tokenizer bpe` writes)")
    raise NlptError(f"unknown denoising objective {name!r}")


def check(name, tokenizer, model_config, context: int, options: dict):
    """Before any work: the tokenizer has the special tokens; the model config gets their ids."""
    ids = _special(name, tokenizer, context, dict(options or {}))
    return with_token_ids(model_config, pad_token_id=ids["<pad>"], eos_token_id=ids["</s>"], bos_token_id=ids.get("<s>"))


class Denoising:
    """`span_corruption` (T5) or `bart_denoising` (BART); see the module docstring."""

    def __init__(self, name: str, tokenizer, train, val, context: int, options: dict):
        opts = dict(options or {})
        self.name, self.context = name, context
        self.metric_names = ("loss", "accuracy")
        newline = getattr(train, "newline_id", None)
        self.train, self.val = Sentences(train, newline), Sentences(val, newline)
        self.notes: list = []
        ids = _special(name, tokenizer, context, opts)
        self.pad, self.eos = ids["<pad>"], ids["</s>"]
        if name == "span_corruption":
            self.density, self.mean_span = _t5_options(opts)
            self.raw_length = t5_raw_length(context, self.density, self.mean_span)
            self.sentinels = [i for n, i in ids.items() if is_sentinel(n)]
            self.start = self.pad
        else:
            self.ratio = float(opts.get("mask_ratio", 0.3))
            self.permute = bool(opts.get("permute_sentences", True))
            self.bos, self.mask = ids["<s>"], ids["<mask>"]
            self.start = self.eos

    # ---- examples

    def _t5_example(self, s: Sentences, start: int, rng) -> tuple[list, list]:
        lo = int(s.starts[start])
        window = np.asarray(s.tokens[lo:lo + self.raw_length], dtype=np.int64)
        if len(window) < 2:
            window = np.concatenate([window, [self.eos]])
        mask = random_spans_mask(len(window), self.density, self.mean_span, rng)
        inputs, targets = t5_corrupt(window, mask, self.sentinels, self.eos)
        return inputs, targets

    def _bart_sentences(self, s: Sentences, start: int) -> tuple[list, int]:
        """Consecutive sentences of one document from `start`, at most context − 2 tokens in all."""
        budget, end, sentences, length, i = self.context - 2, s.doc_end(start), [], 0, start
        while i < end and length < budget:
            line = s.line(i).tolist()[:budget - length]
            sentences.append(line)
            length += len(line)
            i += 1
        return sentences, i

    def _bart_example(self, s: Sentences, start: int, rng) -> tuple[list, list]:
        sentences, _ = self._bart_sentences(s, start)
        original = [t for line in sentences for t in line]
        order = rng.permutation(len(sentences)) if self.permute else range(len(sentences))
        permuted = [t for k in order for t in sentences[k]]
        corrupted, _ = bart_infill(permuted, self.ratio, self.mask, rng)
        inputs = [self.bos] + corrupted[:self.context - 2] + [self.eos]
        return inputs, [self.bos] + original + [self.eos]

    def _example(self, s, start, rng):
        return (self._t5_example if self.name == "span_corruption" else self._bart_example)(s, start, rng)

    def _collate(self, pairs: list) -> dict:
        B = len(pairs)
        T, S = max(len(p[0]) for p in pairs), max(len(p[1]) for p in pairs)
        input_ids = torch.full((B, T), self.pad, dtype=torch.long)
        attention = torch.zeros((B, T), dtype=torch.long)
        dec = torch.full((B, S), self.pad, dtype=torch.long)
        dec_mask = torch.zeros((B, S), dtype=torch.long)
        labels = torch.full((B, S), IGNORE, dtype=torch.long)
        for i, (inp, tgt) in enumerate(pairs):
            input_ids[i, :len(inp)] = torch.tensor(inp)
            attention[i, :len(inp)] = 1
            labels[i, :len(tgt)] = torch.tensor(tgt)
            dec[i, 0] = self.start
            dec[i, 1:len(tgt)] = torch.tensor(tgt[:-1])
            dec_mask[i, :len(tgt)] = 1
        return {"input_ids": input_ids, "attention_mask": attention, "decoder_input_ids": dec,
                "decoder_attention_mask": dec_mask, "labels": labels}

    # ---- the Objective protocol

    def batch(self, batch_size: int, generator: torch.Generator, rank: int = 0, world: int = 1) -> dict:
        s = self.train
        draws = torch.randint(0, 2 ** 62, (batch_size * world, 2), generator=generator).tolist()
        pairs = []
        for pick, seed in draws[rank * batch_size:(rank + 1) * batch_size]:
            pairs.append(self._example(s, pick % s.n_lines, np.random.default_rng(seed)))
        return self._collate(pairs)

    def _eval_starts(self) -> list:
        """Start sentences of the validation examples: the split walked in order, each example after the last."""
        s, starts, line = self.val, [], 0
        while line < s.n_lines:
            starts.append(line)
            if self.name == "span_corruption":
                nxt = int(np.searchsorted(s.starts, s.starts[line] + self.raw_length, side="left"))
            else:
                nxt = self._bart_sentences(s, line)[1]
            line = max(nxt, line + 1)
        return starts

    def eval_batches(self, batch_size: int, rank: int = 0, world: int = 1, limit: Optional[int] = None) -> Iterator[dict]:
        """The validation split walked in order, with the noise fixed per example (seeded by its index)."""
        return seeded_eval_batches(self, self._example, EVAL_SEED, batch_size, rank, world, limit)

    def loss(self, model, batch: dict):
        labels = batch["labels"]
        flat = labels.reshape(-1)
        positions = (flat != IGNORE).nonzero().flatten()
        logits = model(batch["input_ids"], batch["decoder_input_ids"], batch["attention_mask"],
                       batch["decoder_attention_mask"], positions)
        target = flat.index_select(0, positions)
        token_loss = F.cross_entropy(logits.float(), target, reduction="sum")
        n = float(target.numel())
        with torch.no_grad():
            metrics = {"loss": torch.stack([token_loss.detach(), torch.tensor(n)]),
                       "accuracy": torch.tensor([correct(logits, target), n])}
        return token_loss / max(n, 1.0), metrics


def make(name, tokenizer, train, val, context: int, options: dict) -> Denoising:
    return Denoising(name, tokenizer, train, val, context, options)
