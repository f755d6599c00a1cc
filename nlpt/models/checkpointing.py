"""Activation checkpointing per block: keep only each block's inputs for backward and run the block again there.

Without it, a layer keeps every tensor its backward needs (projections' inputs, attention outputs, norms'
statistics, dropout masks) from the forward pass to the backward pass; with it, a block keeps only its inputs
(the residual stream, plus the masks and position tables every block shares) and recomputes the rest during
backward, at the cost of one more forward pass of the blocks (a step is 3 forward passes' FLOPs: a third more).
`nlpt params --activation-checkpointing` computes what this saves (nlpt.transformer.memory).

Every family's block loop calls its blocks through `call`; `enable(model)` marks the blocks of a model (the
children of its `blocks`/`layers` lists), so the parameter names and the checkpoints on disk do not change.
The recomputation uses `torch.utils.checkpoint` with `use_reentrant=False`, which restores the random state,
so dropout draws the same masks again: loss and gradients are those of the plain run. Under `torch.no_grad()`
(evaluation, generation) blocks run plainly.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

BLOCK_LISTS = ("blocks", "layers")  # the attribute names under which the families keep their layer lists


def blocks(model: nn.Module) -> list:
    """The modules of `model` that run as one block each (every family's layer class), in order."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in BLOCK_LISTS:
            found.extend(module)
    return found


def enable(model: nn.Module, on: bool = True) -> int:
    """Checkpoint every block of `model` (or stop, with `on=False`); returns how many blocks were marked."""
    marked = blocks(model)
    for block in marked:
        block.checkpointed = on
    return len(marked)


def call(block: nn.Module, *args, **kwargs):
    """`block(*args, **kwargs)`, through `torch.utils.checkpoint` when the block is marked and gradients are on."""
    if getattr(block, "checkpointed", False) and torch.is_grad_enabled():
        return checkpoint(block, *args, use_reentrant=False, **kwargs)
    return block(*args, **kwargs)
