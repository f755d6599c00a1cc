"""Padding a batch of id lists: what the finetune tasks and the pretrained models' evaluation both need."""

from __future__ import annotations

import torch


def pad(sequences: list[list[int]], pad_id: int, min_length: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [B, T] ids and the [B, T] 0/1 attention mask."""
    length = max(min_length, max((len(s) for s in sequences), default=0))
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask
