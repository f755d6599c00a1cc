"""AdamW with weight-decay groups, and the learning-rate schedule (linear warmup, then cosine or linear decay)."""

from __future__ import annotations

import math

import torch


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Matrices and embeddings decay; biases and norm gains do not (GPT-2/nanoGPT, Llama)."""
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def import_in_background() -> None:
    """Start importing `torch._dynamo` on a daemon thread. `torch.optim`'s optimizers import it at their first
    method call (they are wrapped by `torch._disable_dynamo`): ~1 s of Python that would otherwise stand between
    the command and its first step. Started as the session opens, it overlaps the work before the optimizer is
    made (token files, whose encoder runs outside the GIL, the model, a checkpoint); Python's per-module import
    lock makes the optimizer's own import wait for it, so nothing sees a half-made module."""
    import sys
    import threading

    if "torch._dynamo" in sys.modules:
        return

    def run():
        try:
            import torch._dynamo  # noqa: F401
        except Exception:  # the optimizer's own import will raise it where it belongs
            pass

    threading.Thread(target=run, name="nlpt-import-dynamo", daemon=True).start()


def make_optimizer(model, lr: float, weight_decay: float, betas: tuple, eps: float, device: torch.device):
    """AdamW, fused where torch has a fused kernel for the device (CUDA, CPU), else foreach."""
    groups = param_groups(model, weight_decay)
    fused = device.type in ("cuda", "cpu")
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def lr_at(step: int, base: float, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total`."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return base
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:  # linear
        factor = 1.0 - progress
    return base * (min_ratio + (1.0 - min_ratio) * factor)
