"""`nlpt pretrain eval`: loss, perplexity and bits per byte of a pretrained model on a text.

The text is tokenized as the token files are (each line with its newline,
without special tokens) and scored window by window. Every token of the text
is scored exactly once; the figures are sums over the whole text:

* loss = total nats / scored tokens, perplexity = exp(loss);
* bits per byte = total nats / ln 2 / UTF-8 bytes of the text. It does not
  depend on the tokenizer (a character model and a BPE model are compared on
  the same bytes), as in the GPT-2 and The Pile papers.

What "the probability of a token" means depends on the family:

* decoders (GPT, Llama, MoE): the causal LM's, given up to `context` tokens
  before it. Windows of `context` inputs start every `stride` tokens; each
  scores only the tokens no earlier window scored (Hugging Face's
  sliding-window perplexity), so a stride below the context gives every token
  at least `context - stride` tokens of history. The text's first token has no
  history and is not scored.
* encoders (BERT, RoBERTa, ALBERT): masked-token pseudo-likelihood. A window
  `[CLS] w [SEP]` is run in `ENCODER_PASSES` passes; pass k replaces every
  token at a position j ≡ k (mod 7) by [MASK] (1 in 7 ≈ 14 %, close to BERT's
  15 %) and scores those tokens. Deterministic: no random masks, no seed.
* T5: the same with spans, in T5's format: positions are cut into spans of
  `SPAN` = 3 tokens; pass k removes every span g ≡ k (mod 7) (≈ 14 % of the
  tokens, T5's noise density 15 % and mean span 3), each replaced by one
  sentinel; the decoder's target is the sentinels with their spans and EOS, and
  the span tokens are scored (not the sentinels or EOS).
* BART: pass k of 3 masks every span g ≡ k (mod 3) of 3 tokens (≈ 33 %, BART's
  30 %), each span replaced by one `<mask>`; the decoder reconstructs
  `<s> w </s>` and the masked tokens are scored.

Encoder and encoder–decoder windows move by `stride` as decoders' do, and
score only the tokens no earlier window scored. Bits per byte of a masked
model is a pseudo-likelihood (each token sees context on both sides): compare
it with other masked models, not with decoders.

`batches` builds the inputs (the same a transformers model takes) and
`score` sums the nats, so the test can run transformers on the very same
windows.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np
import torch

from nlpt.common.errors import NlptError, UsageError
from nlpt.models import context_length
from nlpt.objectives.batching import pad
from nlpt.objectives.denoising import t5_corrupt, t5_target_index

ENCODER_PASSES = 7  # encoders and T5: every 7th position (span) is masked in a pass
BART_PASSES = 3
SPAN = 3  # T5 and BART: tokens per masked span
IGNORE = -100

DEFINITIONS = {
    "decoder": "causal LM: each token given up to the context before it (sliding window)",
    "encoder": f"masked-token pseudo-likelihood: every token masked once, 1 in {ENCODER_PASSES} positions per pass",
    "t5": f"span-corruption pseudo-likelihood: every token in a removed span once, 1 in {ENCODER_PASSES} spans of "
          f"{SPAN} per pass",
    "bart": f"text-infilling pseudo-likelihood: every token in a masked span once, 1 in {BART_PASSES} spans of "
            f"{SPAN} per pass",
}


def kind_of(family: str) -> str:
    return "decoder" if family in ("gpt", "llama") else family


@dataclass
class TextScore:
    path: str
    bytes: int
    tokens: int
    scored: int = 0
    nats: float = 0.0


@dataclass
class Evaluation:
    family: str
    definition: str
    context: int
    stride: int
    files: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"family": self.family, "definition": self.definition, "context": self.context, "stride": self.stride,
                **_figures(sum(f.bytes for f in self.files), sum(f.tokens for f in self.files),
                           sum(f.scored for f in self.files), sum(f.nats for f in self.files)),
                "files": [{"path": f.path, **_figures(f.bytes, f.tokens, f.scored, f.nats)} for f in self.files]}


def _figures(n_bytes: int, tokens: int, scored: int, nats: float) -> dict:
    """Loss, perplexity (None past e^700, where a float overflows) and bits per byte of summed nats."""
    loss = nats / scored if scored else None
    return {"bytes": n_bytes, "tokens": tokens, "scored_tokens": scored, "nats": nats, "loss": loss,
            "ppl": math.exp(loss) if loss is not None and loss < 700 else None,
            "bits_per_byte": nats / math.log(2) / n_bytes if n_bytes else None}


# ---------------------------------------------------------------------------------------------
# text -> token ids

def read_text(path: str) -> str:
    """The whole text of a file as the corpus reader decodes it (compressed files too)."""
    from nlpt.corpus.reader import ReaderOptions, ReadStats, as_sources, iter_text

    if not os.path.exists(path):
        raise NlptError(f"{path}: no such file")
    if os.path.isdir(path):
        raise NlptError(f"{path}: a folder, not a text file")
    return "".join(iter_text(as_sources([path]), ReaderOptions(), ReadStats()))


def encode_text(tokenizer, text: str) -> np.ndarray:
    """Token ids of `text` as the token files hold them: each non-blank line with its newline, no special tokens."""
    from nlpt.tokenizer.inputs import encode_lines

    lines = [line for line in text.splitlines(keepends=True) if line.strip()]
    ids = encode_lines(tokenizer, lines) if lines else []
    return np.fromiter((i for row in ids for i in row), dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# windows and batches

def decoder_windows(n: int, context: int, stride: int) -> Iterator[tuple[int, int, int]]:
    """(begin, end, first scored target) over n tokens: inputs ids[begin:end] predict ids[begin+1:end+1]; targets
    at positions first..end are scored (each position 1..n-1 exactly once)."""
    done, begin = 0, 0  # done: the last target position scored so far
    while done < n - 1:
        end = min(begin + context, n - 1)
        yield begin, end, done + 1
        done = end
        begin += stride


def masked_windows(n: int, width: int, stride: int) -> Iterator[tuple[int, int, int]]:
    """(begin, end, first scored position) over n tokens: window ids[begin:end] scores positions first..end-1."""
    done, begin = 0, 0
    while done < n:
        end = min(begin + width, n)
        yield begin, end, done
        done = end
        begin += stride


@dataclass
class Specials:
    cls: Optional[int] = None
    sep: Optional[int] = None
    mask: Optional[int] = None
    pad: int = 0
    bos: Optional[int] = None
    eos: Optional[int] = None
    sentinels: tuple = ()


def specials(tokenizer, family: str) -> Specials:
    """The special tokens a family's inputs need; NlptError naming the missing ones."""
    from nlpt.tokenizer.sentinels import sentinel_ids
    from nlpt.tokenizer.specials import mlm_ids, special_id

    if family == "encoder":
        ids = mlm_ids(tokenizer)
        return Specials(cls=ids["[CLS]"], sep=ids["[SEP]"], mask=ids["[MASK]"], pad=ids["[PAD]"])
    if family == "t5":
        pad, eos = tokenizer.token_to_id("<pad>"), tokenizer.token_to_id("</s>")
        sentinels = sentinel_ids(tokenizer)
        if pad is None or eos is None or not sentinels:
            raise NlptError("the tokenizer lacks T5's <pad>, </s> or sentinels <extra_id_N>")
        return Specials(pad=pad, eos=eos, sentinels=tuple(sentinels))
    if family == "bart":
        ids = {t: tokenizer.token_to_id(t) for t in ("<s>", "</s>", "<pad>", "<mask>")}
        missing = [t for t, i in ids.items() if i is None]
        if missing:
            raise NlptError(f"the tokenizer has no {' '.join(missing)} (BART's inputs need <s> </s> <pad> <mask>)")
        return Specials(bos=ids["<s>"], eos=ids["</s>"], pad=ids["<pad>"], mask=ids["<mask>"])
    pad = special_id(tokenizer, "<pad>", "[PAD]", "<|endoftext|>", "</s>")
    return Specials(pad=pad if pad is not None else 0)


def window_width(family: str, context: int) -> int:
    """Text tokens per window: the context less the special tokens the family's inputs add."""
    width = {"encoder": context - 2, "t5": context - 1, "bart": context - 2}.get(family, context)
    if width < SPAN * 2:
        raise UsageError(f"--context {context} is too short to evaluate a {family} model")
    return width


def _masked_passes(length: int, passes: int, span: int) -> list:
    """Per pass, the window positions it masks (every `passes`-th span of `span` tokens)."""
    groups = np.arange(length) // span
    return [np.flatnonzero(groups % passes == k) for k in range(passes)]


def _row(family: str, sp: Specials, w: np.ndarray, masked: np.ndarray):
    """(encoder input ids, decoder input ids or None, {row index of the output: window position} scored)."""
    if family == "encoder":
        ids = np.concatenate([[sp.cls], w, [sp.sep]])
        ids[1 + masked] = sp.mask
        return ids.tolist(), None, {1 + int(j): int(j) for j in masked}
    is_masked = np.zeros(len(w), dtype=bool)
    is_masked[masked] = True
    starts = [j for j in masked.tolist() if j == 0 or not is_masked[j - 1]]
    if family == "t5":
        if len(starts) > len(sp.sentinels):
            raise NlptError(f"the tokenizer has {len(sp.sentinels)} sentinels; this context needs {len(starts)} "
                            f"(lower --context or add sentinels with `nlpt pretrain add-sentinels`)")
        inputs, target = t5_corrupt(w, is_masked, sp.sentinels, sp.eos)
        decoder = [sp.pad] + target[:-1]  # T5 starts decoding from the pad token
        return inputs, (decoder, target), dict(zip(t5_target_index(is_masked).tolist(), masked.tolist()))
    # bart: each masked span -> one <mask>; the decoder rebuilds <s> w </s> (starting from </s>)
    inputs = [sp.bos]
    for j, t in enumerate(w.tolist()):
        if not is_masked[j]:
            inputs.append(t)
        elif j == 0 or not is_masked[j - 1]:
            inputs.append(sp.mask)
    inputs.append(sp.eos)
    target = [sp.bos] + w.tolist() + [sp.eos]
    return inputs, ([sp.eos] + target[:-1], target), {1 + int(j): int(j) for j in masked}


def batches(family: str, tokenizer, ids: np.ndarray, context: int, stride: int, batch_size: int) -> Iterator[dict]:
    """Batches of {"inputs": the model's keyword tensors (transformers' names), "positions": flat indices into the
    B·S output rows to score, "targets": the token ids expected there}."""
    kind = kind_of(family)
    sp = specials(tokenizer, family)
    if kind == "decoder":
        rows, targets, positions = [], [], []
        for begin, end, first in decoder_windows(len(ids), context, stride):
            r = len(rows)
            rows.append(ids[begin:end].tolist())
            for t in range(first, end + 1):  # target position t is predicted at row index t - 1 - begin
                positions.append((r, t - 1 - begin))
                targets.append(int(ids[t]))
            if len(rows) == batch_size:
                yield _decoder_batch(rows, positions, targets, sp)
                rows, targets, positions = [], [], []
        if rows:
            yield _decoder_batch(rows, positions, targets, sp)
        return
    width = window_width(family, context)
    passes, span = {"encoder": (ENCODER_PASSES, 1), "t5": (ENCODER_PASSES, SPAN), "bart": (BART_PASSES, SPAN)}[family]
    pending: list = []
    for begin, end, first in masked_windows(len(ids), width, stride):
        w = ids[begin:end]
        for masked in _masked_passes(len(w), passes, span):
            scored = masked[masked >= first - begin]
            if len(scored) == 0:
                continue
            enc, dec, where = _row(family, sp, w, masked)
            pending.append((enc, dec, {r: int(w[j]) for r, j in where.items() if j >= first - begin}))
            if len(pending) == batch_size:
                yield _masked_batch(family, pending, sp)
                pending = []
    if pending:
        yield _masked_batch(family, pending, sp)


def _decoder_batch(rows, positions, targets, sp) -> dict:
    ids, _ = pad(rows, sp.pad)  # padding only after a row's tokens: causal attention never sees it
    T = ids.shape[1]
    flat = torch.tensor([r * T + c for r, c in positions], dtype=torch.long)
    return {"inputs": {"input_ids": ids}, "positions": flat, "targets": torch.tensor(targets, dtype=torch.long)}


def _masked_batch(family: str, pending: list, sp: Specials) -> dict:
    ids, mask = pad([p[0] for p in pending], sp.pad)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if family == "encoder":
        inputs["token_type_ids"] = torch.zeros_like(ids)
        T = ids.shape[1]
    else:
        dec, dec_mask = pad([p[1][0] for p in pending], sp.pad)
        inputs["decoder_input_ids"], inputs["decoder_attention_mask"] = dec, dec_mask
        T = dec.shape[1]
    flat, targets = [], []
    for i, (_, _, scored) in enumerate(pending):
        for r, t in sorted(scored.items()):
            flat.append(i * T + r)
            targets.append(t)
    return {"inputs": inputs, "positions": torch.tensor(flat, dtype=torch.long),
            "targets": torch.tensor(targets, dtype=torch.long)}


# ---------------------------------------------------------------------------------------------
# scoring

def nlpt_logits(model, batch: dict) -> torch.Tensor:
    """Logits [N, V] of an nlpt model at the batch's positions."""
    x, positions = batch["inputs"], batch["positions"]
    family = model.config.family
    if family in ("gpt", "llama"):
        logits = model(input_ids=x["input_ids"])["logits"]
        return logits.reshape(-1, logits.shape[-1]).index_select(0, positions)
    if family == "encoder":
        return model(x["input_ids"], x["attention_mask"], x["token_type_ids"], positions)[0]
    return model(x["input_ids"], x["decoder_input_ids"], x["attention_mask"], x["decoder_attention_mask"], positions)


def nats_of(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Sum of −log p(target) over the rows."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return float(-logp.gather(1, targets[:, None]).sum())


def evaluate(model, tokenizer, paths: list, context: Optional[int] = None, stride: Optional[int] = None,
             batch_size: int = 8, device: str = "cpu") -> dict:
    """Loss, perplexity and bits per byte of `model` (an nlpt model) on each text file and on all of them."""
    from nlpt.engine.distributed import pick_device

    family = model.config.family
    limit = context_length(model.config)
    context = context or limit
    if family in ("gpt", "encoder", "bart") and context > limit:
        raise UsageError(f"--context {context} exceeds the model's {limit} positions")
    stride = stride or window_width(family, context)
    if stride < 1 or stride > window_width(family, context):
        raise UsageError(f"--stride must be between 1 and the window of {window_width(family, context)} tokens "
                         f"(got {stride})")
    texts = [(p, read_text(p)) for p in paths]  # every file read before any model work
    dev = pick_device(device)
    model.to(dev).eval()
    result = Evaluation(family, DEFINITIONS[kind_of(family)], context, stride)
    with torch.no_grad():
        for path, text in texts:
            ids = encode_text(tokenizer, text)
            score = TextScore(path, len(text.encode("utf-8")), len(ids))
            if len(ids) < 2:
                raise NlptError(f"{path}: fewer than two tokens to evaluate")
            for batch in batches(family, tokenizer, ids, context, stride, batch_size):
                inputs = {k: v.to(dev) for k, v in batch["inputs"].items()}
                logits = nlpt_logits(model, {"inputs": inputs, "positions": batch["positions"].to(dev)})
                score.nats += nats_of(logits, batch["targets"].to(dev))
                score.scored += len(batch["targets"])
            if not math.isfinite(score.nats):
                raise NlptError(f"{path}: the loss is not finite ({score.nats}); the model's weights may be broken")
            result.files.append(score)
    return result.as_dict()

