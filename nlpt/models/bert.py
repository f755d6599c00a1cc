"""BERT-style bidirectional encoder (Devlin et al. 2019) with its pretraining heads.

Token + position + segment embeddings, LayerNorm, then post-LN blocks
(attention → residual → LayerNorm, GELU feed-forward → residual → LayerNorm),
a tanh pooler over [CLS], and the two pretraining heads: masked-language
modelling (dense + GELU + LayerNorm, then the tied vocabulary projection) and a
two-way sentence head (next-sentence or sentence-order prediction).

The MLM head is applied only at the positions chosen for prediction (~15%),
which is where most of the time of a full-vocabulary projection would go.
ALBERT's factorised embeddings (E < H, then a projection E→H) and cross-layer
sharing (one set of layer weights used `num_layers` times) follow the config.

Parameter names map one to one onto `transformers`' `BertForPreTraining`
(`hf_state_dict`, `load_hf_state_dict`) so `--export-hf` folders load there.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.transformer.config import EncoderConfig


def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """[B, T] 1/0 mask → additive [B, 1, 1, T] mask for SDPA; None when nothing is padded (fast path)."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    mask = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
    mask.masked_fill_(attention_mask == 0, torch.finfo(dtype).min)
    return mask[:, None, None, :]


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused Q, K, V projection (biases), SDPA."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"num_heads {heads} does not divide hidden size {hidden}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, T, H = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, H // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, T, H))


class Block(nn.Module):
    """Post-LN encoder layer: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        H, eps, p = config.hidden_size, config.layer_norm_eps, config.dropout
        self.attn = SelfAttention(H, config.num_heads, p)
        self.ln_attn = nn.LayerNorm(H, eps=eps)
        self.fc_in = nn.Linear(H, config.ffn_size)
        self.fc_out = nn.Linear(config.ffn_size, H)
        self.ln_ffn = nn.LayerNorm(H, eps=eps)
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.ln_attn(x + self.drop(self.attn(x, mask)))
        return self.ln_ffn(x + self.drop(self.fc_out(F.gelu(self.fc_in(x)))))


class Encoder(nn.Module):
    """The bare encoder (what `nlpt params` counts as the total): embeddings, layers, pooler."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        E, H = config.embed_size, config.hidden_size
        self.tok_emb = nn.Embedding(config.vocab_size, E)
        self.pos_emb = nn.Embedding(config.max_positions, E)
        self.seg_emb = nn.Embedding(config.type_vocab_size, E) if config.type_vocab_size else None
        self.ln_emb = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.emb_proj = nn.Linear(E, H) if E != H else None  # ALBERT
        self.drop = nn.Dropout(config.dropout)
        stored = 1 if config.shared_layers else config.num_layers
        self.layers = nn.ModuleList(Block(config) for _ in range(stored))
        self.pooler = nn.Linear(H, H) if config.pooler else None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        B, T = input_ids.shape
        if T > self.config.max_positions:
            raise ValueError(f"sequence of {T} tokens exceeds max_positions {self.config.max_positions}")
        x = self.tok_emb(input_ids) + self.pos_emb(torch.arange(T, device=input_ids.device))
        if self.seg_emb is not None:
            x = x + (self.seg_emb(token_type_ids) if token_type_ids is not None else self.seg_emb.weight[0])
        x = self.drop(self.ln_emb(x))
        if self.emb_proj is not None:
            x = self.emb_proj(x)
        mask = padding_mask(attention_mask, x.dtype)
        for i in range(self.config.num_layers):
            x = self.layers[0 if self.config.shared_layers else i](x, mask)
        return x

    def pooled(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.pooler(hidden[:, 0]))


class BertForPretraining(nn.Module):
    """Encoder + MLM head (tied to the token embeddings) + optional sentence-pair head."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        E, H = config.embed_size, config.hidden_size
        self.encoder = Encoder(config)
        self.mlm_dense = nn.Linear(H, E)
        self.mlm_ln = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.sentence_head = nn.Linear(H, 2) if config.sentence_head else None
        if self.sentence_head is None and self.encoder.pooler is not None:
            self.encoder.pooler = None  # RobertaForMaskedLM-style: no sentence head, no pooler
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        """BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorms."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def hidden_states(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """Last layer's output [B, T, H] (post-LN, so already normalised)."""
        return self.encoder(input_ids, attention_mask, token_type_ids)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits for the given hidden vectors [..., H] → [..., V]."""
        h = self.mlm_ln(F.gelu(self.mlm_dense(hidden)))
        return F.linear(h, self.encoder.tok_emb.weight, self.mlm_bias)

    def sentence_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.sentence_head(self.encoder.pooled(hidden))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, mlm_positions=None):
        """(MLM logits [N, V] at the flat positions `mlm_positions` into B·T — all positions when None —,
        sentence-pair logits [B, 2] or None)."""
        hidden = self.hidden_states(input_ids, attention_mask, token_type_ids)
        flat = hidden.reshape(-1, hidden.shape[-1])
        chosen = flat if mlm_positions is None else flat.index_select(0, mlm_positions)
        sentence = self.sentence_logits(hidden) if self.sentence_head is not None else None
        return self.mlm_logits(chosen), sentence


def build(config: EncoderConfig) -> BertForPretraining:
    return BertForPretraining(config)


# ---------------------------------------------------------------------------------------------
# Hugging Face mapping (BertForPreTraining); ALBERT/RoBERTa variants are not exported

def _check_exportable(config: EncoderConfig) -> None:
    from nlpt.common.errors import NlptError

    if config.embed_size != config.hidden_size or config.shared_layers or not config.type_vocab_size:
        raise NlptError(f"--export-hf: only BERT-layout encoders export to BertForPreTraining "
                        f"(this config is {config.variant}: factorised embeddings, shared layers or no segments)")
    if config.sentence_head is None or not config.pooler:
        raise NlptError("--export-hf: BertForPreTraining needs the pooler and a sentence head (config has none)")


def _or(value, default):
    return default if value is None else value


def hf_config(config: EncoderConfig) -> dict:
    _check_exportable(config)
    return {
        "architectures": ["BertForPreTraining"], "model_type": "bert", "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size, "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads, "intermediate_size": config.ffn_size, "hidden_act": "gelu",
        "hidden_dropout_prob": config.dropout, "attention_probs_dropout_prob": config.dropout,
        "max_position_embeddings": config.max_positions, "type_vocab_size": config.type_vocab_size,
        "initializer_range": 0.02, "layer_norm_eps": config.layer_norm_eps, "position_embedding_type": "absolute",
        "pad_token_id": _or(config.pad_token_id, 0), "tie_word_embeddings": True,
    }


def _hf_pairs(model: BertForPretraining):
    """(BertForPreTraining name, nlpt tensor) for every tensor except the fused Q, K, V."""
    enc = model.encoder
    e, t = "bert.embeddings.", "cls.predictions."
    yield e + "word_embeddings.weight", enc.tok_emb.weight
    yield e + "position_embeddings.weight", enc.pos_emb.weight
    yield e + "token_type_embeddings.weight", enc.seg_emb.weight
    modules = {e + "LayerNorm": enc.ln_emb, "bert.pooler.dense": enc.pooler, t + "transform.dense": model.mlm_dense,
               t + "transform.LayerNorm": model.mlm_ln, "cls.seq_relationship": model.sentence_head}
    for i, blk in enumerate(enc.layers):
        p = f"bert.encoder.layer.{i}."
        modules.update({p + "attention.output.dense": blk.attn.out, p + "attention.output.LayerNorm": blk.ln_attn,
                        p + "intermediate.dense": blk.fc_in, p + "output.dense": blk.fc_out,
                        p + "output.LayerNorm": blk.ln_ffn})
    for name, mod in modules.items():
        yield name + ".weight", mod.weight
        yield name + ".bias", mod.bias
    yield t + "bias", model.mlm_bias


_QKV = ("query", "key", "value")


def hf_state_dict(model: BertForPretraining) -> dict:
    """nlpt weights under BertForPreTraining's names (Q, K, V split apart, the tied decoder written out)."""
    _check_exportable(model.config)
    H = model.config.hidden_size
    sd = dict(_hf_pairs(model))
    for i, blk in enumerate(model.encoder.layers):
        for j, name in enumerate(_QKV):
            sd[f"bert.encoder.layer.{i}.attention.self.{name}.weight"] = blk.attn.qkv.weight[j * H:(j + 1) * H]
            sd[f"bert.encoder.layer.{i}.attention.self.{name}.bias"] = blk.attn.qkv.bias[j * H:(j + 1) * H]
    sd["cls.predictions.decoder.weight"] = model.encoder.tok_emb.weight
    sd["cls.predictions.decoder.bias"] = model.mlm_bias
    return {k: v.detach().contiguous().clone() for k, v in sd.items()}


def load_hf_state_dict(model: BertForPretraining, sd: dict) -> None:
    """Copy BertForPreTraining-named weights into `model` (KeyError naming a missing tensor)."""
    _check_exportable(model.config)
    with torch.no_grad():
        for name, param in _hf_pairs(model):
            param.copy_(sd[name])
        for i, blk in enumerate(model.encoder.layers):
            p = f"bert.encoder.layer.{i}.attention.self."
            blk.attn.qkv.weight.copy_(torch.cat([sd[f"{p}{n}.weight"] for n in _QKV]))
            blk.attn.qkv.bias.copy_(torch.cat([sd[f"{p}{n}.bias"] for n in _QKV]))


to_hf_state_dict = hf_state_dict  # the name nlpt.models.hf.export_hf calls
