"""The named architectures (`nlpt params --list`, `nlpt pretrain --arch NAME`): published models with their
sources, and the small presets for CPU work, each one config dataclass under a name and its aliases.

Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from nlpt.common.errors import NlptError
from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, T5Config
from nlpt.transformer.derive import width_scaled_std


@dataclass(frozen=True)
class Entry:
    name: str
    config: Any
    description: str
    aliases: tuple = ()
    context: Optional[int] = None  # default context for FLOPs/KV figures when it differs from max_positions


def _bert(v, h, layers, heads, ffn, **kw):
    return EncoderConfig(vocab_size=v, hidden_size=h, num_layers=layers, num_heads=heads, ffn_size=ffn, **kw)


def _roberta(h, layers, heads, ffn):
    return _bert(50265, h, layers, heads, ffn, max_positions=514, type_vocab_size=1, sentence_head=None,
                 variant="roberta", layer_norm_eps=1e-5)


def _albert(h, layers, heads, ffn):
    return _bert(30000, h, layers, heads, ffn, embedding_size=128, shared_layers=True, sentence_head="sop", variant="albert",
                 activation="gelu_tanh")  # ALBERT's gelu_new


def _gpt3(h, layers, heads):
    return GPTConfig(vocab_size=50257, hidden_size=h, num_layers=layers, num_heads=heads, ffn_size=4 * h, max_positions=2048)


def _llama(v, h, layers, heads, kv, ffn, ctx, **kw):
    return LlamaConfig(vocab_size=v, hidden_size=h, num_layers=layers, num_heads=heads, num_kv_heads=kv, ffn_size=ffn,
                       max_positions=ctx, **kw)


def _t5(d, d_kv, heads, ffn, layers, **kw):
    return T5Config(d_model=d, d_kv=d_kv, num_heads=heads, ffn_size=ffn, num_layers=layers, num_decoder_layers=layers, **kw)


_ENTRIES = [
    # --- post-LN encoders (Devlin et al. 2019; Liu et al. 2019; Sanh et al. 2019; Lan et al. 2020)
    Entry("bert-base", _bert(30522, 768, 12, 12, 3072), "BERT-Base (uncased vocabulary)", ("bert-base-uncased", "bert")),
    Entry("bert-large", _bert(30522, 1024, 24, 16, 4096), "BERT-Large (uncased vocabulary)", ("bert-large-uncased",)),
    Entry("roberta-base", _roberta(768, 12, 12, 3072), "RoBERTa base", ("roberta",), context=512),
    Entry("roberta-large", _roberta(1024, 24, 16, 4096), "RoBERTa large", context=512),
    Entry("distilbert-base", _bert(30522, 768, 6, 12, 3072, type_vocab_size=0, pooler=False, sentence_head=None,
                                   variant="distilbert"), "DistilBERT (6 layers, BERT vocabulary)",
          ("distilbert", "distilbert-base-uncased")),
    Entry("albert-base-v2", _albert(768, 12, 12, 3072), "ALBERT base: E=128 factorised embeddings, shared layers",
          ("albert-base", "albert")),
    Entry("albert-large-v2", _albert(1024, 24, 16, 4096), "ALBERT large", ("albert-large",)),
    Entry("albert-xxlarge-v2", _albert(4096, 12, 64, 16384), "ALBERT xxlarge", ("albert-xxlarge",)),
    # --- GPT decoders (Radford et al. 2018, 2019; Brown et al. 2020, Table 2.1)
    Entry("gpt", GPTConfig(vocab_size=40478, hidden_size=768, num_layers=12, num_heads=12, ffn_size=3072, max_positions=512,
                           norm="post", variant="openai-gpt"), "GPT-1 (post-LN, no final LayerNorm)",
          ("gpt1", "gpt-1", "openai-gpt")),
    Entry("gpt2", GPTConfig(), "GPT-2 small", ("gpt2-small", "gpt-2")),
    Entry("gpt2-medium", GPTConfig(hidden_size=1024, num_layers=24, num_heads=16, ffn_size=4096), "GPT-2 medium"),
    Entry("gpt2-large", GPTConfig(hidden_size=1280, num_layers=36, num_heads=20, ffn_size=5120), "GPT-2 large"),
    Entry("gpt2-xl", GPTConfig(hidden_size=1600, num_layers=48, num_heads=25, ffn_size=6400), "GPT-2 XL"),
    Entry("gpt3-small", _gpt3(768, 12, 12), "GPT-3 Small (125M)", ("gpt3-125m",)),
    Entry("gpt3-medium", _gpt3(1024, 24, 16), "GPT-3 Medium (350M)", ("gpt3-350m",)),
    Entry("gpt3-large", _gpt3(1536, 24, 16), "GPT-3 Large (760M)", ("gpt3-760m",)),
    # The paper lists n_heads=24 with d_head=128 for XL and d_model=5140, 40 heads for 13B; we keep its
    # d_model and n_heads (the count does not depend on the head split in this architecture).
    Entry("gpt3-xl", _gpt3(2048, 24, 24), "GPT-3 XL (1.3B)", ("gpt3-1.3b",)),
    Entry("gpt3-2.7b", _gpt3(2560, 32, 32), "GPT-3 2.7B"),
    Entry("gpt3-6.7b", _gpt3(4096, 32, 32), "GPT-3 6.7B"),
    Entry("gpt3-13b", _gpt3(5140, 40, 40), "GPT-3 13B (d_model 5140 as in the paper)"),
    Entry("gpt3-175b", _gpt3(12288, 96, 96), "GPT-3 175B", ("gpt3", "gpt-3", "davinci")),
    # --- encoder-decoders (Raffel et al. 2020; Chung et al. 2022; Lewis et al. 2020)
    Entry("t5-small", _t5(512, 64, 8, 2048, 6), "T5 small (v1.0)", ("t5",)),
    Entry("t5-base", _t5(768, 64, 12, 3072, 12), "T5 base (v1.0)"),
    Entry("t5-large", _t5(1024, 64, 16, 4096, 24), "T5 large (v1.0)"),
    Entry("t5-3b", _t5(1024, 128, 32, 16384, 24), "T5 3B (v1.0)"),
    Entry("t5-11b", _t5(1024, 128, 128, 65536, 24), "T5 11B (v1.0)"),
    Entry("flan-t5-base", _t5(768, 64, 12, 2048, 12, gated_ffn=True, activation="gelu", tie_embeddings=False),
          "Flan-T5 base (T5 v1.1: gated GELU, untied head)", ("t5-v1_1-base",)),
    Entry("bart-base", BartConfig(), "BART base", ("bart",)),
    Entry("bart-large", BartConfig(d_model=1024, num_layers=12, num_decoder_layers=12, num_heads=16, ffn_size=4096),
          "BART large"),
    # --- RMSNorm + SwiGLU + GQA (Touvron et al. 2023; Meta 2024; Jiang et al. 2023, 2024; Qwen team 2024)
    Entry("llama2-7b", _llama(32000, 4096, 32, 32, 32, 11008, 4096), "Llama 2 7B", ("llama-2-7b",)),
    Entry("llama2-13b", _llama(32000, 5120, 40, 40, 40, 13824, 4096), "Llama 2 13B", ("llama-2-13b",)),
    Entry("llama2-70b", _llama(32000, 8192, 80, 64, 8, 28672, 4096), "Llama 2 70B (GQA, 8 KV heads)", ("llama-2-70b",)),
    Entry("llama3-8b", _llama(128256, 4096, 32, 32, 8, 14336, 8192, rope_theta=500000.0), "Llama 3 8B",
          ("llama-3-8b", "llama3")),
    Entry("llama3-70b", _llama(128256, 8192, 80, 64, 8, 28672, 8192, rope_theta=500000.0), "Llama 3 70B",
          ("llama-3-70b",)),
    Entry("llama3.1-405b", _llama(128256, 16384, 126, 128, 8, 53248, 131072, rope_theta=500000.0), "Llama 3.1 405B",
          ("llama-3.1-405b",), context=8192),
    Entry("mistral-7b", _llama(32000, 4096, 32, 32, 8, 14336, 32768, sliding_window=4096, variant="mistral"),
          "Mistral 7B v0.1 (sliding window 4096)", ("mistral",),
          context=8192),
    Entry("qwen2.5-7b", _llama(152064, 3584, 28, 28, 4, 18944, 131072, qkv_bias=True, rope_theta=1000000.0,
                               variant="qwen2", norm_eps=1e-6), "Qwen2.5 7B (QKV biases)", ("qwen2.5",),
          context=32768),
    # --- mixture of experts
    Entry("mixtral-8x7b", _llama(32000, 4096, 32, 32, 8, 14336, 32768, num_experts=8, experts_per_token=2,
                                 rope_theta=1000000.0, variant="mixtral"), "Mixtral 8x7B (8 experts, top-2)",
          ("mixtral",)),
    Entry("mixtral-8x22b", _llama(32768, 6144, 56, 48, 8, 16384, 65536, num_experts=8, experts_per_token=2,
                                  rope_theta=1000000.0, variant="mixtral"), "Mixtral 8x22B (8 experts, top-2)"),
    # --- small presets for CPU work and tests (`nlpt pretrain --arch gpt-mini`)
    Entry("bert-mini", _bert(8192, 256, 4, 4, 1024, max_positions=128),
          "small BERT preset for CPU pretraining (4 layers, 256 wide, context 128; MLM + NSP)"),
    Entry("t5-mini", _t5(256, 64, 4, 1024, 4, vocab_size=8192, max_positions=128),
          "small T5 preset for CPU pretraining (4 + 4 layers, 256 wide; span corruption)"),
    Entry("bart-mini", BartConfig(vocab_size=8192, d_model=256, num_layers=4, num_decoder_layers=4, num_heads=4,
                                  ffn_size=1024, max_positions=256),
          "small BART preset for CPU pretraining (4 + 4 layers, 256 wide; infilling + sentence permutation)"),
    # initial std: GPT-2 small's 0.02 at width 768 scaled to width 384 (nlpt.transformer.derive)
    Entry("gpt-mini", GPTConfig(vocab_size=8192, hidden_size=384, num_layers=6, num_heads=6, ffn_size=1536, max_positions=256,
                                init_std=width_scaled_std(0.02, 768, 384)),
          "small GPT-2-style preset for CPU pretraining (6 layers, 384 wide, context 256)"),
    Entry("llama-mini", _llama(8192, 384, 6, 6, 2, 1024, 256), "small Llama-style preset for CPU pretraining (GQA 6/2 heads)"),
    Entry("moe-mini", _llama(8192, 384, 4, 6, 2, 512, 256, num_experts=4, experts_per_token=2, variant="mixtral"),
          "small Mixtral-style preset for CPU pretraining (4 experts, top-2)"),
    Entry("deepseek-v3", DeepSeekConfig(), "DeepSeek-V3 / R1: MLA, 1 shared + 8 of 256 routed experts, 3 dense layers",
          ("deepseek-r1", "deepseek-v3-base", "deepseek"), context=4096),  # pre-trained at 4K (report, sec. 4.2)
]

REGISTRY: dict[str, Entry] = {e.name: e for e in _ENTRIES}
ALIASES: dict[str, str] = {a: e.name for e in _ENTRIES for a in e.aliases}


def norm_name(name: str) -> str:
    """A model name as the registry keys it: lower case, - for _, without an organisation prefix."""
    name = name.strip().lower().replace("_", "-")
    if "/" in name:  # "meta-llama/Llama-2-7b-hf", "google-bert/bert-base-uncased"
        name = name.rsplit("/", 1)[1]
    return name


def resolve(name: str) -> Entry:
    """The registry entry for a name or alias; `NlptError` with the closest names otherwise."""
    key = norm_name(name)
    for candidate in (key, key.removesuffix("-hf")):
        if candidate in REGISTRY:
            return REGISTRY[candidate]
        if candidate in ALIASES:
            return REGISTRY[ALIASES[candidate]]
    import difflib

    names = list(REGISTRY) + list(ALIASES)
    close = difflib.get_close_matches(key, names, n=4, cutoff=0.5)
    close = list(dict.fromkeys(ALIASES.get(c, c) for c in close))
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise NlptError(f"unknown model '{name}'{hint} (see `nlpt params --list`)")

