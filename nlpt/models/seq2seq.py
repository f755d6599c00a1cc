"""What the encoder–decoders (T5, BART) share: the calls that run them.

`EncoderDecoder` holds the calls every encoder–decoder answers
(`hidden_states`, `decode`, and the teacher-forced `forward`); a model sets
`shared` (the token embedding), `encoder` and `decoder` (stacks called as
`stack(x, mask, memory, memory_mask, rows=...)`) and `lm_logits`.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nlpt.models.layers import padding_mask
from nlpt.models.ops import Unpadded


class EncoderDecoder(nn.Module):
    """The encoder, the decoder, and both with teacher forcing, over the subclass's `shared`, `encoder`,
    `decoder` and `lm_logits`."""

    def hidden_states(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """The encoder's output [B, T, d] (after its final norm, if it has one; zeros at padding)."""
        mask = padding_mask(attention_mask, self.shared.weight.dtype)
        rows = Unpadded(attention_mask) if mask is not None else None
        return self.encoder(self.shared(input_ids), mask, rows=rows)

    def decode(self, decoder_input_ids, memory, attention_mask=None, decoder_attention_mask=None) -> torch.Tensor:
        """Decoder output [B, S, d] (before the LM head) attending to the encoder output `memory`."""
        dtype = memory.dtype
        return self.decoder(self.shared(decoder_input_ids), padding_mask(decoder_attention_mask, dtype), memory,
                            padding_mask(attention_mask, dtype))

    def forward(self, input_ids, decoder_input_ids, attention_mask=None, decoder_attention_mask=None, positions=None):
        """Teacher-forced decoder logits [B, S, V]; with `positions` (flat indices into B·S) only those rows [N, V],
        so padding is never projected onto the vocabulary."""
        memory = self.hidden_states(input_ids, attention_mask)
        hidden = self.decode(decoder_input_ids, memory, attention_mask, decoder_attention_mask)
        if positions is not None:
            hidden = hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions)
        return self.lm_logits(hidden)
