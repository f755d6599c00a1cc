"""Queries of a trained model: `sample` (decoders), `fill-mask` (encoders) and `infill` (T5, BART).

* `generate` samples text from a decoder: temperature, top-k, a fixed seed; the window slides past the context.
* `fill_mask` ranks the vocabulary at each [MASK] (RoBERTa: <mask>) of a text.
* `infill` fills the gaps of a text with an encoder–decoder, decoding greedily (`greedy`): T5 answers
  each sentinel's span, BART the whole reconstructed text.
"""


from __future__ import annotations

from typing import Optional

import torch

from nlpt.common.errors import NlptError, UsageError
from nlpt.tokenizer.sentinels import is_sentinel, sentinel
from nlpt.tokenizer.specials import mlm_ids, special_ids


@torch.no_grad()
def generate(model, tokenizer, prompt: str, max_new_tokens: int = 200, temperature: float = 1.0,
             top_k: Optional[int] = None, seed: Optional[int] = None, stop_ids: tuple = ()) -> str:
    """The prompt followed by up to `max_new_tokens` sampled tokens (temperature 0 = greedy), decoded."""
    if temperature < 0:
        raise UsageError(f"--temperature must not be negative (got {temperature})")
    if not hasattr(model, "lm_head"):
        raise UsageError(f"the {model.config.family} family does not generate text with `sample` (decoders only)")
    device = next(model.parameters()).device
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids if prompt else []
    if not ids:
        start = next((i for i in (model.config.bos_token_id, model.config.eos_token_id) if i is not None), None)
        if start is None:
            nl = tokenizer.encode("\n", add_special_tokens=False).ids
            start = nl[0] if nl else 0
        ids = [start]
    prompt_len = len(ids) if prompt else 0
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()
    x = torch.tensor([ids], dtype=torch.long, device=device)
    context = model.config.max_positions
    for _ in range(max_new_tokens):
        logits = model(x[:, -context:])["logits"][0, -1].float().cpu()
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))
        x = torch.cat([x, torch.tensor([[nxt]], device=device)], dim=1)
        if nxt in stop_ids:
            break
    out = x[0].tolist()
    return prompt + tokenizer.decode(out[prompt_len:], skip_special_tokens=True) if prompt else tokenizer.decode(out[1:], skip_special_tokens=True)


def fill_mask(model, tokenizer, texts: list, top_k: int = 5) -> list:
    """For each text, [(position, [(token, probability), ...]), ...] at every [MASK] (RoBERTa: <mask>) in it.

    A [MASK] that lies past the model's context (the text is cut there) gets None instead of predictions."""
    from nlpt.models import context_length

    ids = mlm_ids(tokenizer)
    mask_id = ids["[MASK]"]
    out = []
    model.eval()
    with torch.no_grad():
        for text in texts:
            enc = tokenizer.encode(text).ids
            if not enc or enc[0] != ids["[CLS]"]:  # tokenizers without BERT's template (byte-level BPE)
                enc = [ids["[CLS]"]] + enc + [ids["[SEP]"]]
            limit = context_length(model.config)
            everywhere = [i for i, t in enumerate(enc) if t == mask_id]
            if not everywhere:
                name = tokenizer.id_to_token(mask_id)
                raise NlptError(f"no {name} in {text!r}: write {name} where a word should be predicted")
            input_ids = torch.tensor([enc[:limit]])
            where = (input_ids[0] == mask_id).nonzero().flatten()
            answers = []
            if len(where):
                logits, _ = model(input_ids, None, torch.zeros_like(input_ids), where)
                probs = logits.float().softmax(-1)
                top = probs.topk(min(top_k, probs.shape[-1]))
                answers = [(int(p), [(tokenizer.id_to_token(int(i)), float(v)) for v, i in zip(vals, idx)])
                           for p, vals, idx in zip(where, top.values, top.indices)]
            out.append(answers + [(p, None) for p in everywhere if p >= limit])
    return out


@torch.no_grad()
def greedy(model, input_ids: torch.Tensor, start_id: int, eos_id: int, max_new_tokens: int = 64) -> list:
    """Greedy decoding (no cache: the decoder reruns on the prefix; fine for the short outputs of a query)."""
    model.eval()
    memory = model.hidden_states(input_ids)
    out = torch.full((input_ids.shape[0], 1), start_id, dtype=torch.long)
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        nxt = model.lm_logits(model.decode(out, memory)[:, -1]).argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if bool(done.all()):
            break
    return [row[1:].tolist() for row in out]


def infill(model, tokenizer, family: str, texts: list, max_new_tokens: int = 64) -> list:
    """For each text, what the model fills in: T5 → {sentinel: span text}; BART → the reconstructed text.

    T5 texts mark gaps with `<extra_id_0>`, `<extra_id_1>`, … (or `<mask>`, numbered in order);
    BART texts with `<mask>`."""
    results = []
    for text in texts:
        if family == "t5":
            k = 0
            while "<mask>" in text:
                text = text.replace("<mask>", sentinel(k), 1)
                k += 1
            ids = special_ids(tokenizer, ("<pad>", "</s>"))
            enc = tokenizer.encode(text, add_special_tokens=False).ids + [ids["</s>"]]
            if not any(is_sentinel(tokenizer.id_to_token(i)) for i in enc):
                raise NlptError(f"no gap in {text!r}: mark gaps with <extra_id_0>, <extra_id_1>, … or <mask>")
            out = greedy(model, torch.tensor([enc[-model.config.max_positions:]]), ids["<pad>"], ids["</s>"],
                         max_new_tokens)[0]
            spans, current = {}, None
            for t in out:
                if t == ids["</s>"]:
                    break
                name = tokenizer.id_to_token(t)
                if is_sentinel(name):
                    current = name
                    spans[current] = []
                elif current is not None:
                    spans[current].append(t)
            results.append({name: tokenizer.decode(span).strip() for name, span in spans.items()})
        else:
            ids = special_ids(tokenizer, ("<s>", "</s>", "<mask>"))
            enc = tokenizer.encode(text, add_special_tokens=False).ids
            if ids["<mask>"] not in enc:
                raise NlptError(f"no <mask> in {text!r}: mark the gaps with <mask>")
            enc = [ids["<s>"]] + enc[:model.config.max_positions - 2] + [ids["</s>"]]
            longest = min(max(max_new_tokens, 2 * len(enc)), model.config.max_positions - 1)  # learned positions
            out = greedy(model, torch.tensor([enc]), ids["</s>"], ids["</s>"], longest)[0]
            out = [t for t in out if t not in (ids["<s>"], ids["</s>"])]
            results.append(tokenizer.decode(out))
    return results
