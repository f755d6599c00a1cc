"""Sampling text from a trained decoder: temperature, top-k, a fixed seed; the window slides past the context."""

from __future__ import annotations

from typing import Optional

import torch

from nlpt.common.errors import UsageError


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
