"""Training memory per rank: weights, gradients, optimizer state, activations saved for backward, temporaries.

`training_memory(config, batch, context, precision, ranks, strategy, checkpointing)` answers "will it fit?"
for one optimizer step of nlpt's own models (`nlpt.models`) as `nlpt pretrain` runs them. Pure Python
arithmetic (no torch), so `nlpt params` and `pretrain --dry-run` stay instant. docs/memory.md has the
derivation and the measurements (`benchmarks/bench_memory.py`) that hold it to account.

Model state, per rank (P = parameters of the trained model, Q = those that take part in matrix products):

* weights fp32, 4·P bytes (under bf16/fp16 autocast they stay fp32: they are the master copy), plus under
  autocast the half-precision copies of the weights that autocast casts once per forward and autograd keeps
  for backward, 2·Q bytes;
* gradients fp32, 4·P; AdamW's two fp32 moments, 8·P, plus one 4-byte step counter per parameter tensor;
* DDP on several ranks: its gradient buckets, another 4·P; FSDP2 on several ranks: weights, gradients and
  moments are sharded (÷ ranks), but the units being computed are gathered whole (nlpt shards GPT and
  Llama per block, other families as one unit) and autocast's half copies are of the gathered weights.

Activations: the tensors autograd keeps from the forward pass for the backward pass, itemised per layer from
the layers of nlpt's models (the projections' inputs, scaled-dot-product attention's Q, K, V, output and
log-sum-exp, norms' inputs and statistics, the MLP's or the experts' intermediates, dropout masks) and outside
the layers (embeddings, the LM head and loss). Fused attention (CUDA, and CPU without attention dropout)
keeps no T×T scores; the math path (CPU with attention dropout, T5's learned bias on CPU) keeps the
attention probabilities. With activation checkpointing a block keeps only its inputs and one block's
activations are recomputed at a time during backward (counted with the temporaries).

Temporaries: the largest short-lived allocation of the step beyond what is kept: the logits of the LM loss
(nlpt's chunked loss on CPU keeps one chunk; elsewhere the whole [tokens × vocabulary] block) or, under
checkpointing, a recomputed block, whichever is larger.
"""

from __future__ import annotations

import math
from typing import Optional

from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, ModelConfig, T5Config
from nlpt.transformer.derive import width

PRECISIONS = ("fp32", "bf16", "fp16")
STRATEGIES = ("ddp", "fsdp")
DEVICES = ("cuda", "cpu")
MLM_FRACTION = 0.15  # share of positions the MLM objective predicts (nlpt.objectives.mlm)
LM_LOSS_CHUNK_ELEMENTS = 1 << 21  # logits per chunk of nlpt's chunked LM loss on CPU (nlpt.models.lm_loss)
LM_LOSS_MIN_ROWS = 128


class _Sizes:
    """Bytes per element: `act` activations (the autocast dtype), `f32` what stays fp32, `drop` torch's dropout
    mask (CUDA: bool; CPU: the activation dtype), `keep` nlpt's own dropout mask (the activation dtype)."""

    def __init__(self, precision: str, device: str):
        self.act = 4 if precision == "fp32" else 2
        self.f32 = 4
        self.i64 = 8
        self.drop = 1 if device == "cuda" else self.act
        self.keep = self.act
        # nlpt's float32 CPU kernels: the chunked LM loss (`nlpt.models.lm_loss`), SwiGLU keeping its gate/up
        # output only (`nlpt.models.ops.gated`: 2F, not 3F)
        self.cpu_fp32 = device == "cpu" and precision == "fp32"


class _Tally:
    """Activation items: (part, what, bytes per layer, layers)."""

    def __init__(self):
        self.items: list = []

    def add(self, part: str, what: str, nbytes: float, layers: int = 1) -> None:
        if nbytes and layers:
            self.items.append((part, what, int(math.ceil(nbytes)), layers))

    def total(self) -> int:
        return sum(b * n for _, _, b, n in self.items)

    def part(self, part: str) -> int:
        return sum(b * n for p, _, b, n in self.items if p == part)


def _attention(t: _Tally, part: str, layers: int, n: int, T: int, heads: int, qkv: int, d_v: int, s: _Sizes,
               fused: bool, p: float, drop: Optional[float] = None) -> None:
    """Scaled-dot-product attention over `n` query tokens in sequences of `T` keys: Q, K, V (`qkv` elements per
    token, one storage) and the output; fused kernels add the log-sum-exp, the math path the probabilities
    (and, with dropout, its mask and the dropped probabilities) and copies of Q, K, V."""
    if fused:
        t.add(part, "attention Q, K, V (projection output)", n * qkv * s.act, layers)
        t.add(part, "attention output", n * d_v * s.act, layers)
        t.add(part, "attention log-sum-exp (fp32)", n * heads * s.f32, layers)
        return
    t.add(part, "attention Q, K, V (copies)", n * qkv * s.act, layers)
    t.add(part, "attention probabilities (T×T per head)", n * heads * T * s.act, layers)
    if p:
        t.add(part, "attention dropout mask and dropped probabilities", n * heads * T * (drop or 2 * s.act), layers)
    t.add(part, "attention output (copy, output projection input)", n * d_v * s.act, layers)


def _layer_norm(t: _Tally, part: str, what: str, layers: int, n: int, width: int, s: _Sizes, rms: bool = False) -> None:
    stats = 1 if rms else 2
    t.add(part, f"{what} input and statistics", n * (width + stats) * s.f32, layers)


# ----------------------------------------------------------------------------------------------------------------
# families: what autograd keeps, per layer and outside the layers

def _gpt(c: GPTConfig, B: int, T: int, s: _Sizes, device: str, p: float) -> _Tally:
    """GPT-1/2: LayerNorm, fused QKV, SDPA, GELU MLP, nn.Dropout."""
    H, F, L, h, N = c.hidden_size, c.ffn_size, c.num_layers, c.num_heads, B * T
    t, part = _Tally(), "layers"
    t.add("embeddings", "token ids and positions (int64)", (B * (T + 1) + T) * s.i64)
    if p:
        t.add("embeddings", "embedding dropout mask", N * H * s.drop)
    _layer_norm(t, part, "LayerNorm 1", L, N, H, s)
    t.add(part, "QKV projection input", N * H * s.act, L)
    _attention(t, part, L, N, T, h, 3 * H, H, s, fused=device == "cuda" or not p, p=p, drop=s.drop + s.act)
    _layer_norm(t, part, "LayerNorm 2", L, N, H, s)
    t.add(part, "MLP input", N * H * s.act, L)
    t.add(part, f"MLP {c.activation} input and output", 2 * N * F * s.act, L)
    if p:
        t.add(part, "residual dropout masks (2)", 2 * N * H * s.drop, L)
    if c.norm == "pre":
        _layer_norm(t, "output", "final LayerNorm", 1, N, H, s)
    return t


def _llama(c: LlamaConfig, B: int, T: int, s: _Sizes, device: str, p: float) -> _Tally:
    """Llama/Mistral/Qwen2/Mixtral: RMSNorm, rotary, GQA SDPA, SwiGLU or top-k experts, nn.Dropout."""
    H, F, L, N = c.hidden_size, c.ffn_size, c.num_layers, B * T
    hd, nh, kv = c.attn_head_dim, c.num_heads, c.num_kv_heads
    t, part = _Tally(), "layers"
    t.add("embeddings", "token ids (int64) and rotary tables", B * (T + 1) * s.i64 + 2 * T * hd * s.f32)
    for name in ("attention", "MLP"):
        _layer_norm(t, part, f"RMSNorm ({name})", L, N, H, s, rms=True)
    t.add(part, "QKV projection input", N * H * s.act, L)
    t.add(part, "rotated Q and K", N * (nh + kv) * hd * s.act, L)
    fused = device == "cuda" or not p
    _attention(t, part, L, N, T, nh, (nh + 2 * kv) * hd, nh * hd, s, fused=fused, p=p, drop=s.drop + s.act)
    swiglu = 3 if s.cpu_fp32 else 4  # gate/up output (2F) and product (F), plus silu(gate) unless fused
    if c.num_experts:
        E, k = c.num_experts, c.experts_per_token
        t.add(part, "router input, probabilities, top-k weights and indices",
              N * (H * s.act + (E + k + 1) * s.f32 + 2 * k * s.i64), L)
        t.add(part, f"experts: {k} routed copies of the token, gate/up output, SwiGLU product, weighted output",
              N * k * ((3 * H + swiglu * F) * s.act + s.f32), L)
    else:
        t.add(part, "SwiGLU input, gate/up output, product" + ("" if s.cpu_fp32 else ", activation"),
              N * (H + swiglu * F) * s.act, L)
    if p:
        t.add(part, "residual dropout masks (2)", 2 * N * H * s.drop, L)
    _layer_norm(t, "output", "final RMSNorm", 1, N, H, s, rms=True)
    return t


def _encoder(c: EncoderConfig, B: int, T: int, s: _Sizes, device: str, p: float, fraction: float) -> _Tally:
    """BERT/RoBERTa/ALBERT/DistilBERT: post-LN layers, SDPA, GELU; MLM head at the predicted positions only."""
    H, E, F, L, h, N, V = c.hidden_size, c.embed_size, c.ffn_size, c.num_layers, c.num_heads, B * T, c.vocab_size
    M = B * max(1, round(fraction * T))
    t, part = _Tally(), "layers"
    ids = 2 if c.type_vocab_size else 1
    t.add("embeddings", "token (and segment) ids, positions (int64)", (ids * N + T) * s.i64)
    _layer_norm(t, "embeddings", "embedding LayerNorm", 1, N, E, s)
    if p:
        t.add("embeddings", "embedding dropout mask", N * E * s.drop)
    if E != H:
        t.add("embeddings", "embedding projection input", N * E * s.act)
    t.add(part, "layer input (QKV projection input)", N * H * s.act, L)
    _attention(t, part, L, N, T, h, 3 * H, H, s, fused=device == "cuda" or not p, p=p, drop=s.drop + s.act)
    _layer_norm(t, part, "LayerNorm 1", L, N, H, s)
    _layer_norm(t, part, "LayerNorm 2", L, N, H, s)
    t.add(part, "feed-forward input", N * H * s.act, L)
    t.add(part, "GELU input and output", 2 * N * F * s.act, L)
    if p:
        t.add(part, "residual dropout masks (2)", 2 * N * H * s.drop, L)
    head = "MLM head and loss"
    if c.pooler and c.sentence_head:
        t.add(head, "last layer's output (read by the pooler)", N * H * s.act)
        t.add(head, "pooler output (sentence head input)", B * H * s.act)
    t.add(head, "predicted positions (int64)", M * s.i64)
    t.add(head, "MLM transform input, GELU, LayerNorm, decoder input", M * (H + 3 * E + 2) * s.act)
    t.add(head, "log-softmax over the vocabulary (fp32)", M * V * s.f32)
    return t


def _t5_attention(t, part, layers, n, T, heads, inner, s, device, p, self_attention=True):
    if self_attention:
        # the learned position bias is a mask that needs a gradient: CPU's SDPA takes its math path
        _attention(t, part, layers, n, T, heads, 3 * inner, inner, s, fused=device == "cuda" and not p, p=p,
                   drop=2 * s.keep)
    else:
        _attention(t, part, layers, n, T, heads, inner, inner, s, fused=not p, p=p, drop=2 * s.keep)


def _seq2seq(c, B: int, T: int, S: int, s: _Sizes, device: str, p: float) -> _Tally:
    """T5 (pre-norm RMS, relative bias, ReLU/gated FFN) and BART (post-LN, GELU): encoder T, decoder S tokens."""
    t5 = isinstance(c, T5Config)
    d, V, h = c.d_model, c.vocab_size, c.num_heads
    inner = h * c.d_kv if t5 else d
    Le, Ld = c.num_layers, c.num_decoder_layers
    Ne, Nd = B * T, B * S
    t = _Tally()
    for part, n, Tx, layers, F, decoder in (("encoder layers", Ne, T, Le, c.ffn_size, False),
                                           ("decoder layers", Nd, S, Ld, c.ffn_size if t5 else c.dec_ffn, True)):
        side = "decoder" if decoder else "encoder"
        if t5:
            t.add(f"{side} embeddings", "token ids, relative-position buckets (int64)",
                  (n + Tx * Tx) * s.i64 + (Tx * Tx if decoder else 0))
        else:
            t.add(f"{side} embeddings", "token ids and positions (int64)", (n + Tx) * s.i64)
            _layer_norm(t, f"{side} embeddings", "embedding LayerNorm", 1, n, d, s)
        if p:
            t.add(f"{side} embeddings", "embedding dropout mask", n * d * s.keep)
        blocks = [("self", Tx, True)] + ([("cross", T, False)] if decoder else [])
        for name, keys, self_attn in blocks:
            norm = "RMSNorm" if t5 else "LayerNorm"
            _layer_norm(t, part, f"{name}-attention {norm}", layers, n, d, s, rms=t5)
            t.add(part, f"{name}-attention input", n * d * s.act, layers)
            if t5:
                _t5_attention(t, part, layers, n, keys, h, inner, s, device, p, self_attention=self_attn)
            else:
                _attention(t, part, layers, n, keys, h, 3 * inner if self_attn else inner, inner, s,
                           fused=not p, p=p, drop=2 * s.keep)
            if not self_attn:
                t.add(part, "cross-attention K, V of the encoder output", Ne * 2 * inner * s.act, layers)
            if p:
                t.add(part, f"{name}-attention residual dropout mask", n * d * s.keep, layers)
        _layer_norm(t, part, f"feed-forward {'RMSNorm' if t5 else 'LayerNorm'}", layers, n, d, s, rms=t5)
        t.add(part, "feed-forward input", n * d * s.act, layers)
        if t5 and c.gated_ffn:
            t.add(part, "gated feed-forward: gate input, activation, linear branch, product", 4 * n * F * s.act, layers)
        elif t5:
            t.add(part, f"feed-forward {getattr(c, 'activation', 'relu')} output", n * F * s.act, layers)
        else:
            t.add(part, "GELU input and output", 2 * n * F * s.act, layers)
        if p:  # T5 drops the hidden activation too: its mask and the dropped copy (gated: in place of the product)
            hidden_drop = (F if c.gated_ffn else 2 * F) if t5 else 0
            t.add(part, "feed-forward dropout masks" + (" and dropped activations" if t5 else ""),
                  n * (hidden_drop + d) * s.keep, layers)
        if t5:
            _layer_norm(t, f"{side} output", "final RMSNorm", 1, n, d, s, rms=True)
            if p:
                t.add(f"{side} output", "final dropout mask", n * d * s.keep)
    t.add("encoder output", "encoder output (read by every decoder layer's cross-attention)", Ne * d * s.f32)
    head = "LM head and loss"
    t.add(head, "predicted positions (int64), head input", Nd * (s.i64 + d * s.act))
    t.add(head, "log-softmax over the vocabulary (fp32)", Nd * V * s.f32)
    return t


def _deepseek(c: DeepSeekConfig, B: int, T: int, s: _Sizes, device: str, p: float) -> _Tally:
    """DeepSeek-V3 layers as a reference implementation keeps them (nlpt trains no DeepSeek model: unmeasured)."""
    H, L, nh, N = c.hidden_size, c.num_layers, c.num_heads, B * T
    qk = c.qk_nope_head_dim + c.qk_rope_head_dim
    t, part = _Tally(), "layers"
    t.add("embeddings", "token ids (int64)", B * (T + 1) * s.i64)
    t.add(part, "RMSNorms (2) input, scale, normalised", N * 2 * (2 * H + 1) * s.f32, L)
    q_lat = c.q_lora_rank or 0
    mla = H + (q_lat * 3 if q_lat else 0) + (c.kv_lora_rank + c.qk_rope_head_dim) + 2 * c.kv_lora_rank \
        + nh * (c.qk_nope_head_dim + c.v_head_dim) + 2 * nh * qk
    t.add(part, "MLA: input, latent projections and norms, decompressed K and V, rotated Q and K", N * mla * s.act, L)
    t.add(part, "attention output, log-sum-exp", N * (nh * c.v_head_dim * s.act + nh * s.f32), L)
    Ld, Lm = c.first_dense_layers, L - c.first_dense_layers
    t.add(part, "dense SwiGLU MLP", N * (H + 4 * c.ffn_size) * s.act, Ld)
    Fm, k = c.moe_ffn_size, c.experts_per_token
    t.add(part, "MoE: router, shared experts, routed copies of the token and their SwiGLU",
          N * ((H + c.num_shared_experts * 4 * Fm + k * (3 * H + 4 * Fm)) * s.act
               + (c.num_routed_experts + k + 1) * s.f32 + 2 * k * s.i64), Lm)
    t.add("output", "final RMSNorm input, scale, normalised", N * (2 * H + 1) * s.f32)
    return t


# ----------------------------------------------------------------------------------------------------------------
# model state

def parameter_tensors(config: ModelConfig) -> Optional[int]:
    """How many parameter tensors nlpt's model of `config` has (AdamW keeps one step counter per tensor);
    None for a family nlpt does not train."""
    c = config
    if isinstance(c, GPTConfig):
        return 2 + 12 * c.num_layers + (2 if c.norm == "pre" else 0) + (0 if c.tie_embeddings else 1)
    if isinstance(c, LlamaConfig):
        per = 6 + (1 if c.num_experts else 0) + (1 if c.qkv_bias else 0) + (1 if c.o_bias else 0)
        return 2 + per * c.num_layers + (0 if c.tie_embeddings else 1)
    if isinstance(c, EncoderConfig):
        stored = 1 if c.shared_layers else c.num_layers
        n = 2 + (1 if c.type_vocab_size else 0) + 2 + (2 if c.embed_size != c.hidden_size else 0) + 12 * stored
        n += 5 + (4 if c.sentence_head and c.pooler else 2 if c.sentence_head else 0)
        return n
    if isinstance(c, T5Config):
        ffn = 3 if c.gated_ffn else 2
        return 1 + 4 + (4 + ffn) * c.num_layers + (8 + ffn) * c.num_decoder_layers + (0 if c.tie_embeddings else 1)
    if isinstance(c, BartConfig):
        return 1 + 2 * 3 + 12 * c.num_layers + 20 * c.num_decoder_layers
    return None


def _trained_parameters(cnt) -> int:
    """Parameters of the model `nlpt pretrain` trains: encoders with their pretraining heads."""
    return cnt.pretraining_total if isinstance(cnt.config, EncoderConfig) else cnt.total


def _block_parameters(cnt) -> int:
    """Parameters of the largest block (FSDP2 gathers one at a time, and prefetches the next)."""
    best = 0
    for r in cnt.rows:
        if r.layers:
            best = max(best, sum(x.count // x.layers for x in cnt.rows if x.part == r.part and x.layers))
    return best


def _default_dropout(config: ModelConfig) -> float:
    return float(getattr(config, "dropout", 0.0) or 0.0)


def default_decoder_context(config: ModelConfig, context: int) -> int:
    """Decoder tokens per sequence for encoder–decoders: BART reconstructs the whole input; T5's target is the
    15% of the window it removed, in spans of mean length 3, each behind a sentinel, and EOS."""
    if isinstance(config, T5Config):
        noise = max(1, round(0.15 * context))
        return noise + max(1, round(noise / 3)) + 1
    return context


def _lm_loss_temporary(rows: int, V: int, s: _Sizes, chunked: bool) -> tuple[int, str]:
    """(bytes, what) of the loss's short-lived logits: one chunk of nlpt's chunked LM loss, or all of them."""
    if chunked:
        chunk = min(rows, max(LM_LOSS_MIN_ROWS, LM_LOSS_CHUNK_ELEMENTS // V))
        return 2 * chunk * V * s.f32, f"one chunk of logits and probabilities ({chunk:,} rows × {V:,}, fp32)"
    extra = s.f32 if s.act != s.f32 else 0
    return rows * V * (s.act + extra + s.f32), f"logits ({rows:,} × {V:,}), fp32 copy and gradient"


def training_memory(config: ModelConfig, batch: int, context: int, precision: str = "fp32", ranks: int = 1,
                    strategy: str = "ddp", checkpointing: bool = False, *, device: str = "cuda",
                    decoder_context: Optional[int] = None, dropout: Optional[float] = None) -> dict:
    """Bytes per rank of one training step of `config` at micro-batch `batch` × `context` tokens (see the module
    docstring). `device` "cuda" (the default: what GPUs run) or "cpu" (which attention and loss paths nlpt
    takes there); `decoder_context` the decoder's tokens per sequence for T5/BART [default: see
    `default_decoder_context`]; `dropout` [default: the config's]. ValueError for an option out of range."""
    from nlpt.transformer.params import count

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (got {device!r})")
    for name, value in (("batch", batch), ("context", context), ("ranks", ranks)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer (got {value!r})")
    cnt = count(config)
    p = _default_dropout(config) if dropout is None else float(dropout)
    if not 0.0 <= p <= 1.0:  # 1 drops everything, as the models' dropout does (a mask is still kept)
        raise ValueError(f"dropout must be in [0, 1] (got {p!r})")
    s = _Sizes(precision, device)
    B, T = batch, context
    S = None
    notes = []
    if isinstance(config, GPTConfig):
        t = _gpt(config, B, T, s, device, p)
    elif isinstance(config, LlamaConfig):
        t = _llama(config, B, T, s, device, p)
    elif isinstance(config, EncoderConfig):
        t = _encoder(config, B, T, s, device, p, MLM_FRACTION)
    elif isinstance(config, (T5Config, BartConfig)):
        S = decoder_context or default_decoder_context(config, T)
        t = _seq2seq(config, B, T, S, s, device, p)
    elif isinstance(config, DeepSeekConfig):
        t = _deepseek(config, B, T, s, device, p)
        notes.append("nlpt trains no DeepSeek model: its activations follow a reference implementation, unmeasured")
    else:
        raise TypeError(f"not a model config: {config!r}")

    # the LM loss of decoders: nlpt's chunked loss on CPU in fp32 keeps the gradients it computes in the forward
    V = config.vocab_size
    H = width(config)
    decoder_only = isinstance(config, (GPTConfig, LlamaConfig, DeepSeekConfig))
    if decoder_only:
        rows = B * T
        if s.cpu_fp32:  # the chunked loss
            t.add("LM head and loss", "chunked loss: gradients of the hidden states and of the head (fp32)",
                  (rows * H + V * H) * s.f32)
        else:
            t.add("LM head and loss", "head input and log-softmax over the vocabulary (fp32)",
                  rows * (H * s.act + V * s.f32))
    else:
        rows = B * (S if S else max(1, round(MLM_FRACTION * T)))
    chunked = decoder_only and s.cpu_fp32  # nlpt.models.lm_loss's CPU path
    loss_tmp, loss_what = _lm_loss_temporary(rows, V, s, chunked)

    layer_parts = [part for part in dict.fromkeys(i[0] for i in t.items) if "layers" in part]
    per_layer = {}
    for part in layer_parts:
        layers = max(i[3] for i in t.items if i[0] == part)
        per_layer[part] = {"layers": layers, "bytes": t.part(part) // layers}
    activations_full = t.total()
    if checkpointing:
        kept = _Tally()
        for i in t.items:
            if "layers" not in i[0]:
                kept.items.append(i)
        for part, info in per_layer.items():
            n = B * (S if part.startswith("decoder") else T)
            kept.add(part, "block input (residual stream)", n * H * s.f32, info["layers"])
            if isinstance(config, T5Config):  # the stack's position bias, an input of every block
                keys = S if part.startswith("decoder") else T
                kept.add(part.replace("layers", "embeddings"), "relative position bias (every block's input)",
                         config.num_heads * keys * keys * s.act)
        recompute = max(info["bytes"] for info in per_layer.values())
        activations = kept.total()
        items = kept.items
    else:
        recompute, activations, items = 0, activations_full, t.items
    temporary = max(loss_tmp, recompute)
    temporary_what = loss_what if loss_tmp >= recompute else "one block's activations, recomputed during backward"

    # model state
    P = _trained_parameters(cnt)
    Q = cnt.multiplied(every_expert=True, heads=True)  # what autocast casts to half precision
    tensors = parameter_tensors(config)
    sharded = strategy == "fsdp" and ranks > 1
    share = ranks if sharded else 1
    weights = math.ceil(4 * P / share)
    gradients = math.ceil(4 * P / share)
    optimizer = math.ceil(8 * P / share) + 4 * (tensors or 0)  # every rank has a step counter per tensor
    if checkpointing:  # copies made inside a checkpointed block are not kept: only the recomputed block's
        Q -= sum(r.count for r in cnt.rows if r.layers and r.kind not in ("norm", "bias")) - _block_parameters(cnt)
    half_copies = 2 * Q if precision != "fp32" else 0
    buckets = 4 * P if (ranks > 1 and strategy == "ddp") else 0
    gathered = 0
    if sharded:
        per_block = isinstance(config, (GPTConfig, LlamaConfig))
        unit = (P - sum(r.count for r in cnt.rows if r.layers)) + 2 * _block_parameters(cnt) if per_block else P
        gathered = 2 * 4 * unit  # gathered weights and their unsharded gradients before reduce-scatter
        notes.append("FSDP2: " + ("one block gathered at a time (and the next prefetched) plus the unsharded "
                                  "embeddings and head" if per_block else "nlpt shards this family as one unit: "
                                  "all weights are gathered during forward and backward"))
    if tensors is None:
        notes.append("AdamW step counters not counted (no nlpt model for this family)")
    state = {"weights": weights, "gradients": gradients, "optimizer": optimizer, "half_weight_copies": half_copies,
             "ddp_buckets": buckets, "fsdp_gathered": gathered}
    total = sum(state.values()) + activations + temporary
    if precision != "fp32":
        notes.append("weights stay fp32 under autocast (they are the master copy); autocast keeps half-precision "
                     "copies of the matrices for backward")
    return {
        "batch": B, "context": T, "decoder_context": S, "precision": precision, "ranks": ranks,
        "strategy": strategy, "checkpointing": checkpointing, "device": device, "dropout": p,
        "parameters": P, "parameter_tensors": tensors,
        "bytes": {**state, "activations": activations, "temporary": temporary, "total": total},
        "activations_without_checkpointing": activations_full,
        "activations_per_layer": per_layer,
        "activation_items": [{"part": a, "item": b, "bytes_per_layer": c, "layers": n, "bytes": c * n}
                             for a, b, c, n in items],
        "temporary_item": temporary_what,
        "notes": notes,
    }
