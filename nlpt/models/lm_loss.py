"""The language-modelling loss of a decoder: LM head and cross-entropy in one pass, chunk by chunk.

`F.cross_entropy(lm_head(h), labels)` materialises the [tokens × vocabulary]
logits, then walks over them again for log-softmax, its backward and the
head's two backward matrix products (at context 256, batch 8, vocabulary 8192:
a 64 MiB tensor read and written about eight times per step). Here each chunk
of rows is projected, reduced to its log-sum-exp and, when gradients are
wanted, turned at once into its gradient (softmax − one-hot) and multiplied
back into the gradients of the hidden states and of the head's weight while
still in cache. The floating-point operations are the same; the memory traffic
and the peak memory are not. The result equals `F.cross_entropy`'s mean over
the labels that are not -100 (to rounding).

This is a CPU measure (cache-sized chunks): on other devices, under autocast
(bf16/fp16) and under torch.compile the plain path is used, so GPU kernels,
autocast's casting rules and compiled graphs are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nlpt.models.cpu_matmul import addmm_, linear, mm

IGNORE = -100
CHUNK_ELEMENTS = 1 << 21  # logits per chunk (8 MiB in fp32): stays in cache, amortises the per-chunk calls
MIN_ROWS = 128  # large vocabularies: keep the matrix products from getting too thin


def _rows_per_chunk(vocab: int) -> int:
    return max(MIN_ROWS, CHUNK_ELEMENTS // vocab)


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of `hidden @ weight.T` against `labels`; gradients computed in the forward pass."""

    @staticmethod
    def forward(ctx, hidden, weight, labels):
        count = (labels != IGNORE).sum().clamp(min=1).to(torch.float32)
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        total = hidden.new_zeros((), dtype=torch.float32)
        rows = _rows_per_chunk(weight.shape[0])
        for start in range(0, hidden.shape[0], rows):
            h, y = hidden[start:start + rows], labels[start:start + rows]
            logits = mm(h, weight.t())
            top = logits.amax(1)
            picked = torch.arange(len(y), device=y.device)
            target = y.clamp(min=0)
            target_logit = logits[picked, target]
            probs = torch.softmax(logits, 1)  # one fused pass; the logits are not needed any more
            del logits
            # log Σ exp(logits) = max − log(max probability): that probability is exp(0) / Σ ≥ 1 / vocabulary
            lse = top - probs.amax(1).log()
            keep = (y != IGNORE).to(probs.dtype)
            total += ((lse - target_logit) * keep).sum()
            # d loss / d logits = (softmax − one-hot) · keep / count; the row scale is applied to the smaller
            # [rows, hidden] operands instead of this [rows, vocabulary] block
            probs[picked, target] -= 1.0
            scale = (keep / count)[:, None]
            if grad_hidden is not None:
                mm(probs, weight, out=grad_hidden[start:start + rows]).mul_(scale)
            if grad_weight is not None:
                addmm_(grad_weight, probs.t(), h * scale)
        ctx.save_for_backward(grad_hidden, grad_weight)
        return total / count

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (grad_hidden * grad_loss if grad_hidden is not None else None,
                grad_weight * grad_loss if grad_weight is not None else None, None)


def _chunked_loss(hidden, weight, labels) -> torch.Tensor:
    """The same mean without gradients (validation): never more than one chunk of logits alive."""
    count = (labels != IGNORE).sum().clamp(min=1).to(torch.float32)
    total = hidden.new_zeros((), dtype=torch.float32)
    rows = _rows_per_chunk(weight.shape[0])
    for start in range(0, hidden.shape[0], rows):
        logits = mm(hidden[start:start + rows], weight.t())
        total += F.cross_entropy(logits.float(), labels[start:start + rows], ignore_index=IGNORE, reduction="sum")
    return total / count


def lm_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of the LM head `weight` [V, H] over `hidden` [..., H] and `labels` [...]
    (-100 = ignored), as `F.cross_entropy(F.linear(hidden, weight), labels)`."""
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    plain = (hidden.device.type != "cpu" or torch.is_autocast_enabled("cpu") or hidden.dtype != weight.dtype
             or torch.compiler.is_compiling())  # --compile: leave the whole graph to the compiler
    if plain:
        logits = linear(hidden, weight)
        return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE)
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, labels)
    return _chunked_loss(hidden, weight, labels)
