"""Measure one training step's memory on CPU, to hold `nlpt.transformer.memory`'s arithmetic to account.

`measure(config, batch, context, ...)` builds the model, runs the pretraining objective's loss on a
synthetic batch of the family's shape (causal LM windows; MLM with 15% predicted positions and a sentence
pair head; denoising with a decoder of `decoder_context` tokens), then its backward and one AdamW step, and
reports in bytes:

* parameters, gradients and optimizer state: the sum over unique storages of the model's parameters, of
  their `.grad`, and of the tensors in the optimizer's state (exact);
* saved for backward: every tensor that autograd keeps from the forward pass for the backward pass, caught
  with `torch.autograd.graph.saved_tensors_hooks`, counted once per underlying storage (views of one
  tensor share it) and without the parameters themselves; with activation checkpointing, autograd inside a
  checkpointed block keeps nothing, and what the block keeps instead, its inputs, is caught by a forward
  pre-hook on each block and counted the same way.

The synthetic batch uses the objectives' own `loss` (`nlpt.objectives`), so what is measured is what a
pretraining step computes. Torch is imported here only; the arithmetic being checked stays torch-free.
"""

from __future__ import annotations

import math

import torch

from nlpt.models import build, checkpointing


def _storages(tensors, skip: set, into: dict) -> None:
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            s = t.untyped_storage()
            key = s.data_ptr()
            if key and key not in skip:
                into[key] = max(into.get(key, 0), s.nbytes())


def synthetic_batch(config, batch: int, context: int, decoder_context: int, generator: torch.Generator) -> dict:
    """A batch of the shape the family's pretraining objective makes (random token ids, nothing padded)."""
    V = config.vocab_size

    def ids(*shape):
        return torch.randint(4, V, shape, generator=generator)

    if config.family in ("gpt", "llama"):
        rows = ids(batch, context + 1)
        return {"input_ids": rows[:, :-1], "labels": rows[:, 1:]}
    if config.family == "encoder":
        per_row = max(1, round(0.15 * context))
        positions = torch.cat([torch.randperm(context, generator=generator)[:per_row] + r * context
                               for r in range(batch)])
        out = {"input_ids": ids(batch, context), "attention_mask": torch.ones(batch, context, dtype=torch.long),
               "token_type_ids": torch.zeros(batch, context, dtype=torch.long), "mlm_positions": positions,
               "mlm_labels": ids(len(positions))}
        if config.sentence_head:
            out["sentence_labels"] = torch.randint(0, 2, (batch,), generator=generator)
        return out
    return {"input_ids": ids(batch, context), "attention_mask": torch.ones(batch, context, dtype=torch.long),
            "decoder_input_ids": ids(batch, decoder_context), "labels": ids(batch, decoder_context),
            "decoder_attention_mask": torch.ones(batch, decoder_context, dtype=torch.long)}


def _objective(config):
    """The family's pretraining objective, with only what its `loss` reads set."""
    if config.family in ("gpt", "llama"):
        from nlpt.objectives.causal_lm import CausalLM
        return CausalLM.__new__(CausalLM)
    if config.family == "encoder":
        from nlpt.objectives.mlm import MaskedLM
        obj = MaskedLM.__new__(MaskedLM)
        obj.sentence_task = config.sentence_head
        return obj
    from nlpt.objectives.denoising import Denoising
    return Denoising.__new__(Denoising)


def measure(config, batch: int, context: int, checkpointing_on: bool = False, decoder_context: int | None = None,
            seed: int = 0) -> dict:
    """Bytes of one fp32 CPU training step of `config` (see the module docstring)."""
    from nlpt.engine.optim import make_optimizer

    torch.manual_seed(seed)
    model = build(config)
    model.train()
    if checkpointing_on:
        checkpointing.enable(model)
    params = list({id(p): p for p in model.parameters()}.values())
    param_keys = {p.untyped_storage().data_ptr() for p in params}
    g = torch.Generator().manual_seed(seed)
    dec = decoder_context or context
    data = synthetic_batch(config, batch, context, dec, g)
    saved: dict = {}

    def pack(t):
        _storages([t], param_keys, saved)
        return t

    handles = []
    if checkpointing_on:
        def pre(module, args, kwargs):
            _storages(list(args) + list(kwargs.values()), param_keys, saved)
        handles = [b.register_forward_pre_hook(pre, with_kwargs=True) for b in checkpointing.blocks(model)]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = _objective(config).loss(model, data)
    for h in handles:
        h.remove()
    loss.backward()
    optimizer = make_optimizer(model, 1e-4, 0.1, (0.9, 0.95), 1e-8, torch.device("cpu"))
    optimizer.step()
    state = [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    if not math.isfinite(float(loss.detach())):
        raise ValueError("the measured step's loss is not finite")
    return {"parameters": sum(p.untyped_storage().nbytes() for p in params),
            "parameter_tensors": len(params),
            "gradients": sum(p.grad.untyped_storage().nbytes() for p in params if p.grad is not None),
            "optimizer": sum(t.untyped_storage().nbytes() for t in state),
            "saved_for_backward": sum(saved.values()), "loss": float(loss.detach())}


def family_configs(hidden: int, layers: int, vocab: int, context: int, dropout: float = 0.0) -> dict:
    """One config per family and variant nlpt trains, all of width `hidden` (heads of 16), for measuring."""
    from nlpt.transformer.configs import BartConfig, EncoderConfig, GPTConfig, LlamaConfig, T5Config

    heads, ffn = max(1, hidden // 16), 4 * hidden
    common = {"vocab_size": vocab, "num_layers": layers, "dropout": dropout}
    enc = {**common, "hidden_size": hidden, "num_heads": heads, "ffn_size": ffn, "max_positions": context + 2}
    llama = {**common, "hidden_size": hidden, "num_heads": heads, "num_kv_heads": max(1, heads // 2),
             "ffn_size": 8 * hidden // 3, "max_positions": context}
    seq = {**common, "num_decoder_layers": layers, "num_heads": heads, "ffn_size": ffn}
    return {
        "gpt2": GPTConfig(**enc),
        "gpt1": GPTConfig(**enc, norm="post", variant="openai-gpt", tie_embeddings=False, activation="gelu"),
        "llama": LlamaConfig(**llama),
        "mixtral": LlamaConfig(**llama, num_experts=4, experts_per_token=2, variant="mixtral"),
        "bert": EncoderConfig(**enc),
        "roberta": EncoderConfig(**enc, sentence_head=None, variant="roberta"),
        "albert": EncoderConfig(**enc, embedding_size=max(8, hidden // 4), shared_layers=True, sentence_head="sop",
                                  variant="albert"),
        "t5": T5Config(**seq, d_model=hidden, d_kv=16),
        "t5-v1.1": T5Config(**seq, d_model=hidden, d_kv=16, gated_ffn=True, activation="gelu", tie_embeddings=False),
        "bart": BartConfig(**seq, d_model=hidden, max_positions=context),
    }
