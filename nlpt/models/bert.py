"""BERT-style bidirectional encoder (Devlin et al. 2019) with its pretraining heads.

Token + position + segment embeddings, LayerNorm, then post-LN blocks
(attention → residual → LayerNorm, GELU feed-forward → residual → LayerNorm),
a tanh pooler over [CLS], and the two pretraining heads: masked-language
modelling (dense + GELU + LayerNorm, then the tied vocabulary projection) and a
two-way sentence head (next-sentence or sentence-order prediction).

The MLM head is applied only at the positions chosen for prediction (~15%),
which is where most of the time of a full-vocabulary projection would go.
RoBERTa's positions start after its padding id (row pad + 1), as in fairseq and transformers.
ALBERT's factorised embeddings (E < H, then a projection E→H) and cross-layer
sharing (one set of layer weights used `num_layers` times) follow the config.

Parameter names map one to one onto `transformers`' `BertForPreTraining`/`BertForMaskedLM`,
`AlbertForPreTraining`/`AlbertForMaskedLM` and `RobertaForMaskedLM` (`hf_state_dict`, `load_hf_state_dict`)
so `--export-hf` folders load there.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nlpt.models import checkpointing, position_offset
from nlpt.models.cpu_matmul import Linear, linear
from nlpt.models.hf import linear_pairs, load_pairs, or_default, pairs_state_dict
from nlpt.models.layers import Attention, activation_fn, normal_init, padding_mask
from nlpt.transformer.configs import EncoderConfig
from nlpt.transformer.hf_config import hf_activation


class Block(nn.Module):
    """Post-LN encoder layer: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        H, eps, p = config.hidden_size, config.layer_norm_eps, config.dropout
        self.attn = Attention(H, config.num_heads, dropout=p)
        self.ln_attn = nn.LayerNorm(H, eps=eps)
        self.fc_in = Linear(H, config.ffn_size)
        self.fc_out = Linear(config.ffn_size, H)
        self.ln_ffn = nn.LayerNorm(H, eps=eps)
        self.drop = nn.Dropout(p)
        self.act = activation_fn(config.activation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.ln_attn(x + self.drop(self.attn(x, mask)))
        return self.ln_ffn(x + self.drop(self.fc_out(self.act(self.fc_in(x)))))


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
        self.emb_proj = Linear(E, H) if E != H else None  # ALBERT
        self.drop = nn.Dropout(config.dropout)
        stored = 1 if config.shared_layers else config.num_layers
        self.layers = nn.ModuleList(Block(config) for _ in range(stored))
        self.pooler = Linear(H, H) if config.pooler else None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        B, T = input_ids.shape
        first = position_offset(self.config)
        if T + first > self.config.max_positions:
            raise ValueError(f"sequence of {T} tokens exceeds max_positions {self.config.max_positions}"
                             + (f" (positions start at {first})" if first else ""))
        x = self.tok_emb(input_ids) + self.pos_emb(torch.arange(first, first + T, device=input_ids.device))
        if self.seg_emb is not None:
            x = x + (self.seg_emb(token_type_ids) if token_type_ids is not None else self.seg_emb.weight[0])
        x = self.drop(self.ln_emb(x))
        if self.emb_proj is not None:
            x = self.emb_proj(x)
        mask = padding_mask(attention_mask, x.dtype)
        for i in range(self.config.num_layers):
            x = checkpointing.call(self.layers[0 if self.config.shared_layers else i], x, mask)
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
        self.mlm_dense = Linear(H, E)
        self.mlm_ln = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.act = activation_fn(config.activation)
        self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.sentence_head = Linear(H, 2) if config.sentence_head else None
        if self.sentence_head is None and self.encoder.pooler is not None:
            self.encoder.pooler = None  # RobertaForMaskedLM-style: no sentence head, no pooler
        self.apply(normal_init)

    def hidden_states(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """Last layer's output [B, T, H] (post-LN, so already normalised)."""
        return self.encoder(input_ids, attention_mask, token_type_ids)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits for the given hidden vectors [..., H] → [..., V]."""
        h = self.mlm_ln(self.act(self.mlm_dense(hidden)))
        return linear(h, self.encoder.tok_emb.weight, self.mlm_bias)

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
# Hugging Face mapping: BertForPreTraining / BertForMaskedLM, AlbertForPreTraining / AlbertForMaskedLM,
# RobertaForMaskedLM — the same layers under three naming schemes, picked from the config

def layout(config: EncoderConfig) -> str | None:
    """"bert", "albert" or "roberta": the transformers family that holds this config's structure, and so the
    input layout its tokenizer template and finetune use; None for DistilBERT's (no segment embeddings)."""
    if not config.type_vocab_size:
        return None
    if config.embed_size != config.hidden_size or config.shared_layers or config.variant == "albert":
        return "albert"
    return "roberta" if config.variant == "roberta" and config.sentence_head is None else "bert"


def _hf_layout(config: EncoderConfig) -> str:
    """`layout`, for an export: NlptError where transformers has no class for it here."""
    from nlpt.common.errors import NlptError

    found = layout(config)
    if found is None:
        raise NlptError(f"--export-hf: a {config.variant} encoder without segment embeddings (DistilBERT's layout) "
                        f"has no transformers class here; only BERT, RoBERTa and ALBERT layouts export")
    if config.sentence_head is not None and not config.pooler:
        raise NlptError("--export-hf: a sentence head needs the pooler (this config has none)")
    return found


def _hf_class(config: EncoderConfig) -> str:
    layout = _hf_layout(config)
    if layout == "roberta":
        return "RobertaForMaskedLM"
    return {"bert": "Bert", "albert": "Albert"}[layout] + ("ForPreTraining" if config.sentence_head else "ForMaskedLM")


def hf_config(config: EncoderConfig) -> dict:
    layout = _hf_layout(config)
    out = {
        "architectures": [_hf_class(config)], "model_type": layout, "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size, "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads, "intermediate_size": config.ffn_size,
        "hidden_act": hf_activation(config.activation),
        "hidden_dropout_prob": config.dropout, "attention_probs_dropout_prob": config.dropout,
        "max_position_embeddings": config.max_positions, "type_vocab_size": config.type_vocab_size,
        "initializer_range": 0.02, "layer_norm_eps": config.layer_norm_eps, "position_embedding_type": "absolute",
        "pad_token_id": or_default(config.pad_token_id, 1 if layout == "roberta" else 0), "tie_word_embeddings": True,
    }
    if layout == "albert":  # one layer group per stored layer: shared layers are one group used num_layers times
        out.update(embedding_size=config.embed_size, num_hidden_groups=1 if config.shared_layers else config.num_layers,
                   inner_group_num=1, classifier_dropout_prob=config.dropout)
    return out


HF_SAVED_AS: dict = {}  # every tensor under its own name (the family protocol, see nlpt.models.hf)


def _hf_pairs(model: BertForPretraining):
    """(transformers name, nlpt tensor or a view of one): the fused Q, K, V split into views."""
    config, enc = model.config, model.encoder
    layout = _hf_layout(config)
    base = {"bert": "bert.", "albert": "albert.", "roberta": "roberta."}[layout]
    e = base + "embeddings."
    yield e + "word_embeddings.weight", enc.tok_emb.weight
    yield e + "position_embeddings.weight", enc.pos_emb.weight
    yield e + "token_type_embeddings.weight", enc.seg_emb.weight
    modules = {e + "LayerNorm": enc.ln_emb}
    if layout == "albert":
        if enc.emb_proj is not None:
            modules["albert.encoder.embedding_hidden_mapping_in"] = enc.emb_proj
        modules.update({"albert.pooler": enc.pooler, "predictions.dense": model.mlm_dense,
                        "predictions.LayerNorm": model.mlm_ln, "sop_classifier.classifier": model.sentence_head})
        head = "predictions."
        for i, blk in enumerate(enc.layers):
            p = f"albert.encoder.albert_layer_groups.{i}.albert_layers.0."
            modules.update({p + "attention.dense": blk.attn.out, p + "attention.LayerNorm": blk.ln_attn,
                            p + "ffn": blk.fc_in, p + "ffn_output": blk.fc_out, p + "full_layer_layer_norm": blk.ln_ffn})
    else:
        head = "cls.predictions." if layout == "bert" else "lm_head."
        modules.update({"bert.pooler.dense": enc.pooler, "cls.seq_relationship": model.sentence_head})
        modules.update({head + "transform.dense": model.mlm_dense, head + "transform.LayerNorm": model.mlm_ln}
                       if layout == "bert" else {head + "dense": model.mlm_dense, head + "layer_norm": model.mlm_ln})
        for i, blk in enumerate(enc.layers):
            p = f"{base}encoder.layer.{i}."
            modules.update({p + "attention.output.dense": blk.attn.out, p + "attention.output.LayerNorm": blk.ln_attn,
                            p + "intermediate.dense": blk.fc_in, p + "output.dense": blk.fc_out,
                            p + "output.LayerNorm": blk.ln_ffn})
    yield from linear_pairs({k: m for k, m in modules.items() if m is not None})
    yield head + "bias", model.mlm_bias
    for i, blk in enumerate(enc.layers):
        p = _hf_qkv_prefix(config, i)
        for n, name in zip("qkv", _QKV):
            weight, bias = blk.attn.projection(n)
            yield f"{p}{name}.weight", weight
            yield f"{p}{name}.bias", bias


_QKV = ("query", "key", "value")


def _hf_qkv_prefix(config: EncoderConfig, i: int) -> str:
    layout = _hf_layout(config)
    if layout == "albert":
        return f"albert.encoder.albert_layer_groups.{i}.albert_layers.0.attention."
    return f"{layout}.encoder.layer.{i}.attention.self."


def hf_state_dict(model: BertForPretraining) -> dict:
    """nlpt weights under the transformers class's names (Q, K, V split apart, the tied decoder written out)."""
    H, config = model.config.hidden_size, model.config
    sd = dict(_hf_pairs(model))
    if _hf_layout(config) == "albert" and model.encoder.emb_proj is None:  # ALBERT always maps E→H: the identity
        sd["albert.encoder.embedding_hidden_mapping_in.weight"] = torch.eye(H)
        sd["albert.encoder.embedding_hidden_mapping_in.bias"] = torch.zeros(H)
    head = {"bert": "cls.predictions.", "albert": "predictions.", "roberta": "lm_head."}[_hf_layout(config)]
    sd[head + "decoder.weight"] = model.encoder.tok_emb.weight
    sd[head + "decoder.bias"] = model.mlm_bias
    return pairs_state_dict(sd.items())


def load_hf_state_dict(model: BertForPretraining, sd: dict) -> None:
    """Copy transformers-named weights into `model` (KeyError naming a missing tensor)."""
    load_pairs(_hf_pairs(model), sd)
